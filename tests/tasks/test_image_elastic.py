"""Two nodes on one machine (issue 26): ``torchrun --nnodes 2 --nproc-per-node 1`` with a
c10d rendezvous on localhost (gloo); one node's training process is SIGKILLed mid-epoch,
torchrun restarts the workers (``--max-restarts``), ``--resume auto`` finds the run folder
and its last.pt again, and the run ends with the uninterrupted run's weights."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch

from convkit.train.checkpoint import load_checkpoint


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _nodes(out: Path, run_id: str) -> list[subprocess.Popen]:
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = []
    for node in (0, 1):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"localhost:{port}", "--rdzv-id", run_id,
               "--rdzv-conf", f"is_host={1 - node}", "--max-restarts", "2", "--monitor-interval", "0.2",
               "-m", "convkit.tasks.image", "train", "--resume", "auto", "--out", str(out), "--epochs", "2",
               "--batch-size", "64", "--device", "cpu", "--set", "train.baselines=false", "train.loggers=[]",
               "train.checkpoint_every=1", "train.threads=1"]
        log = open(out.parent / f"{run_id}-node{node}.log", "w")  # a file: a full pipe would stop the process
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env))
        log.close()
    return procs


def _finish(procs: list[subprocess.Popen], out: Path, run_id: str) -> list[str]:
    logs = []
    for node, proc in enumerate(procs):
        try:
            proc.wait(timeout=600)
        finally:
            proc.kill()
        logs.append((out.parent / f"{run_id}-node{node}.log").read_text())
        assert proc.returncode == 0, logs[-1][-3000:]
    return logs


def _run_dir(out: Path, run_id: str) -> Path:
    return out / "runs" / "image" / f"lenet5-{run_id}"  # named by the rendezvous id: found again on restart


@pytest.mark.skipif(sys.platform != "linux", reason="the worker is found through /proc (psutil)")
def test_a_node_killed_mid_epoch_is_restarted_and_ends_with_the_uninterrupted_weights(tmp_path):
    _finish(_nodes(tmp_path / "ref", "ref"), tmp_path / "ref", "ref")
    reference = load_checkpoint(_run_dir(tmp_path / "ref", "ref") / "last.pt", "image")

    procs = _nodes(tmp_path / "cut", "cut")
    run = _run_dir(tmp_path / "cut", "cut")
    killed = None
    try:
        deadline = time.monotonic() + 600
        while killed is None and time.monotonic() < deadline:
            assert all(p.poll() is None for p in procs), "training finished before it could be killed"
            if (run / "last.pt").exists():
                state = torch.load(run / "last.pt", weights_only=True)  # renamed into place: always whole
                if state["epoch"] == 1 and state["step"] >= 1:
                    workers = psutil.Process(procs[1].pid).children()  # node 1's training process
                    if workers:
                        killed = workers[0].pid
                        os.kill(killed, signal.SIGKILL)
            time.sleep(0.005)
        assert killed is not None
        errs = _finish(procs, tmp_path / "cut", "cut")
    finally:
        for proc in procs:
            proc.kill()
    assert any("--resume auto: continuing" in err for err in errs), errs[0][-3000:]  # found last.pt again
    assert [p.name for p in (tmp_path / "cut" / "runs" / "image").iterdir()] == [run.name]  # no second folder
    final = load_checkpoint(run / "last.pt", "image")
    assert final["epoch"] == 2 and final["world_size"] == 2
    assert final["model"].keys() == reference["model"].keys()
    assert all(torch.equal(final["model"][k], reference["model"][k]) for k in reference["model"])
    losses = [r["train"]["loss"] for r in final["history"]]  # every rank's losses, summed in another order
    assert losses == pytest.approx([r["train"]["loss"] for r in reference["history"]], rel=1e-12)
