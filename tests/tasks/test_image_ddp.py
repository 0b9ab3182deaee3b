"""Two-process DDP on CPU (gloo) through torchrun: one run folder written by rank 0
alone, evaluation gathered across ranks without the sampler's padding duplicates."""

from __future__ import annotations

import json
import subprocess
import sys

from convkit.train.checkpoint import load_checkpoint


def test_torchrun_two_cpu_processes(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "convkit.tasks.image", "train", "--out", str(tmp_path), "--epochs", "3", "--device", "cpu",
           "--set", "train.baselines=false"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]

    runs = list((tmp_path / "runs" / "image").iterdir())
    assert len(runs) == 1  # rank 1 made no folder of its own
    run = runs[0]
    assert {p.name for p in run.iterdir()} == {"config.toml", "metrics.jsonl", "metrics.json", "best.pt", "last.pt",
                                             "curves.png", "confusion_matrix.png",
                                             "steps.csv", "epochs.csv"}  # the csv logger, on by default
    assert [json.loads(line)["run_dir"] for line in proc.stdout.splitlines()] == [str(run)]  # rank 0 alone printed

    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["world_size"] for r in history] == [2, 2, 2]
    assert [r["steps"] for r in history] == [719 // 32] * 3  # 1437 train digits split over two ranks
    metrics = json.loads((run / "metrics.json").read_text())
    assert sum(map(sum, metrics["test"]["confusion_matrix"])) == 180  # every test digit once: no padding duplicates
    assert sum(map(sum, metrics["val"]["confusion_matrix"])) == 179
    assert metrics["test"]["accuracy"] >= 0.8
    assert history[-1]["train"]["loss"] < history[0]["train"]["loss"]
    state = load_checkpoint(run / "last.pt", "image")
    assert state["world_size"] == 2 and len(state["rng"]) == 2  # each rank's RNG state kept
