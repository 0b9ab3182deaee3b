"""Exact resume: a real `python -m convkit.tasks.image train` process is SIGKILLed
mid-epoch, resumed with --resume, and must end with the same weights and metrics as an
uninterrupted run (CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import torch

from convkit.train.checkpoint import load_checkpoint


def _train(out, *extra: str) -> list[str]:
    # 1437 digits / 64 = 22 steps per epoch, a checkpoint after every step.
    return [sys.executable, "-m", "convkit.tasks.image", "train", "--out", str(out), "--epochs", "2",
            "--batch-size", "64", "--device", "cpu", "--set", "train.baselines=false", "train.checkpoint_every=1",
            "train.name=run", *extra]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}  # same kernels in every process


def _jsonl(path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in path.read_text().splitlines()]


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path):
    ref = subprocess.run(_train(tmp_path / "ref"), capture_output=True, text=True, timeout=600, env=_env())
    assert ref.returncode == 0, ref.stderr

    run = tmp_path / "cut" / "runs" / "image" / "run"
    proc = subprocess.Popen(_train(tmp_path / "cut"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=_env())
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:  # kill once a checkpoint inside epoch 2 exists
            assert proc.poll() is None, "training finished before it could be killed"
            if (run / "last.pt").exists():
                state = torch.load(run / "last.pt", weights_only=True)  # renamed into place: always whole
                if state["epoch"] == 1 and state["step"] >= 1:
                    proc.send_signal(signal.SIGKILL)
                    break
            time.sleep(0.005)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(run / "last.pt", "image")
    assert killed_at["epoch"] == 1 and 1 <= killed_at["step"] < killed_at["steps_per_epoch"]  # mid-epoch
    assert not (run / "metrics.json").exists()

    resumed = subprocess.run(_train(tmp_path / "cut", "--resume", str(run / "last.pt")), capture_output=True,
                             text=True, timeout=600, env=_env())
    assert resumed.returncode == 0, resumed.stderr

    ref_run = tmp_path / "ref" / "runs" / "image" / "run"
    for name in ("last.pt", "best.pt"):
        a, b = load_checkpoint(ref_run / name)["model"], load_checkpoint(run / name)["model"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    ref_metrics, cut_metrics = (json.loads((r / "metrics.json").read_text()) for r in (ref_run, run))
    for block in ("val", "test", "params", "baselines"):
        assert cut_metrics[block] == ref_metrics[block]
    assert _jsonl(run / "metrics.jsonl") == _jsonl(ref_run / "metrics.jsonl")
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
