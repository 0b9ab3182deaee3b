"""The engine on a tiny in-process task: accuracy, run folder, exact resume, early
stopping, time budget, NaN stop, precision, evaluate/predict/export."""

from __future__ import annotations

import argparse
import json
import math

import pytest
import torch
from engine_toy import TOY, Crash, ToyTask

from convkit import config as config_io
from convkit.errors import CheckpointError, ConvkitError
from convkit.train import checkpoint as ckpt
from convkit.train.engine import fit
from convkit.train.inference import evaluate_checkpoint, load_trained, predict_checkpoint
from convkit.train.export import export_model


def _cfg(*sets: str) -> config_io.RunConfig:
    return config_io.resolve_config(ToyTask.config_class, sets=list(sets))


def _weights(path) -> dict:
    return ckpt.load_checkpoint(path)["model"]


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_fit_learns_and_writes_the_run_folder(tmp_path):
    result = fit(TOY, _cfg("train.name=run"), tmp_path)
    run = tmp_path / "runs" / "toy" / "run"
    assert result.run_dir == run
    assert {p.name for p in run.iterdir()} == {"config.toml", "metrics.jsonl", "metrics.json", "best.pt",
                                             "last.pt", "curves.png", "confusion_matrix.png",
                                             "steps.csv", "epochs.csv"}  # the csv logger, on by default
    metrics = json.loads((run / "metrics.json").read_text())
    assert list(metrics) == ["task", "model", "params", "train_seconds", "val", "test", "baselines"]
    assert metrics["task"] == "toy" and metrics["model"] == "toy_mlp" and metrics["params"] == 8 * 32 + 32 + 32 * 3 + 3
    assert metrics["test"]["accuracy"] >= 0.9  # held-out blobs
    assert set(metrics["test"]) >= {"accuracy", "macro_f1", "loss", "confusion_matrix"}
    assert sum(map(sum, metrics["test"]["confusion_matrix"])) == 100
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    assert metrics["val"]["accuracy"] == max(r["val"]["accuracy"] for r in lines)
    # the resolved config is written as TOML and stored in checkpoints as plain dicts
    assert config_io.resolve_config(ToyTask.config_class, run / "config.toml") == _cfg("train.name=run")
    state = ckpt.load_checkpoint(run / "last.pt", "toy")
    assert state["config"] == config_io.to_dict(_cfg("train.name=run")) and state["data"]["label_names"] == ["a", "b", "c"]
    assert (state["epoch"], state["step"]) == (3, 0)
    # the returned model holds the best weights
    assert _same_weights(result.model.state_dict(), _weights(run / "best.pt"))


def test_resume_after_a_crash_mid_epoch_is_exact(tmp_path):
    # 200 samples / 16 = 12 steps per epoch; checkpoints every 5 steps; crash at step 18 (epoch 2).
    ref = fit(TOY, _cfg("train.name=ref", "train.checkpoint_every=5"), tmp_path)
    with pytest.raises(Crash):
        fit(TOY, _cfg("train.name=cut", "train.checkpoint_every=5", "task.crash_at=18"), tmp_path)
    cut = tmp_path / "runs" / "toy" / "cut"
    state = ckpt.load_checkpoint(cut / "last.pt")
    assert (state["epoch"], state["step"]) == (1, 5)  # mid-epoch 2
    assert not (cut / "metrics.json").exists()
    resumed = fit(TOY, _cfg("train.name=cut", "train.checkpoint_every=5"), tmp_path, resume=cut / "last.pt")
    assert _same_weights(_weights(cut / "last.pt"), _weights(ref.run_dir / "last.pt"))
    assert _same_weights(resumed.model.state_dict(), ref.model.state_dict())
    for block in ("val", "test"):
        assert resumed.metrics[block] == ref.metrics[block]
    strip = lambda path: [{k: v for k, v in json.loads(x).items() if k != "seconds"}  # noqa: E731
                          for x in path.read_text().splitlines()]
    assert strip(cut / "metrics.jsonl") == strip(ref.run_dir / "metrics.jsonl")


def test_early_stopping_and_min_mode(tmp_path):
    # lr so small that nothing changes: accuracy never improves after epoch 1.
    result = fit(TOY, _cfg("train.name=a", "train.epochs=10", "train.patience=2", "train.lr=1e-12"), tmp_path)
    history = (result.run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(history) == 3

    class LossTask(ToyTask):
        monitor, monitor_mode = "loss", "min"

    result = fit(LossTask(), _cfg("train.name=b", "train.epochs=4", "train.lr=0.5"), tmp_path)
    losses = [json.loads(x)["val"]["loss"] for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert result.metrics["val"]["loss"] == min(losses)


def test_time_budget_stops_and_still_reports(tmp_path):
    result = fit(TOY, _cfg("train.name=t", "train.max_minutes=1e-9"), tmp_path)
    state = ckpt.load_checkpoint(result.run_dir / "last.pt")
    assert (state["epoch"], state["step"]) == (0, 1)  # stopped after the first step, resumable
    assert not (result.run_dir / "metrics.jsonl").exists()
    assert json.loads((result.run_dir / "metrics.json").read_text())["test"]["accuracy"] >= 0.0


def test_nan_loss_stops_with_epoch_and_step_and_keeps_last_good_checkpoint(tmp_path):
    # 12 steps per epoch: NaN at global step 17 = epoch 2, step 5; checkpoints every 4 steps.
    with pytest.raises(ConvkitError, match=r"loss is nan at epoch 2, step 5; .*last good checkpoint: "
                                           r".*last.pt \(epoch 2, step 4\)"):
        fit(TOY, _cfg("train.name=n", "train.checkpoint_every=4", "task.nan_at=17"), tmp_path)
    run = tmp_path / "runs" / "toy" / "n"
    state = ckpt.load_checkpoint(run / "last.pt")
    assert (state["epoch"], state["step"]) == (1, 4)
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert not (run / "metrics.json").exists()
    # that checkpoint is exactly the run's state after 16 steps: resuming finishes the run.
    fit(TOY, _cfg("train.name=n"), tmp_path, resume=run / "last.pt")
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] >= 0.9


@pytest.mark.parametrize("sets", [("train.precision=bf16",), ("train.precision=fp16", "train.clip_grad_norm=1.0"),
                                  ("train.optimizer=adamw", "train.lr=0.01", "train.schedule=onecycle"),
                                  ("train.schedule=step", "train.step_size=1", "train.gamma=0.5"),
                                  ("train.schedule=none", "train.deterministic=true")])
def test_precisions_optimizers_and_schedules_learn(tmp_path, sets):
    result = fit(TOY, _cfg("train.name=p", *sets), tmp_path)
    assert result.metrics["test"]["accuracy"] >= 0.85


def test_step_schedule_decays_per_epoch(tmp_path):
    result = fit(TOY, _cfg("train.name=s", "train.schedule=step", "train.step_size=1", "train.gamma=0.5"), tmp_path)
    lrs = [json.loads(x)["lr"] for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert lrs == pytest.approx([0.05, 0.025, 0.0125])


def test_plateau_schedule_halves_the_rate_when_the_training_loss_stalls(tmp_path):
    # A rate so small that the training loss barely moves: with patience 0, every epoch whose
    # loss is not below the best by torch's relative threshold (1e-4) halves the rate the
    # next epoch trains at.
    sets = ("train.schedule=plateau", "train.plateau_patience=0", "train.min_lr=0", "train.lr=1e-7",
            "train.epochs=5", "train.batch_size=20")  # 10 whole batches: every epoch sees every sample
    result = fit(TOY, _cfg("train.name=pl", *sets), tmp_path)
    history = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    expected, best, lr = [], math.inf, 1e-7
    for row in history:
        expected.append(lr)
        if row["train"]["loss"] < best * (1 - 1e-4):
            best = row["train"]["loss"]
        else:
            lr /= 2
    assert [row["lr"] for row in history] == pytest.approx(expected)
    assert expected[-1] < 1e-7  # the rule fired
    # resumed from mid-epoch 3, the schedule's state continues exactly
    with pytest.raises(Crash):
        fit(TOY, _cfg("train.name=cut", "train.checkpoint_every=5", "task.crash_at=29", *sets), tmp_path)
    cut = tmp_path / "runs" / "toy" / "cut"
    resumed = fit(TOY, _cfg("train.name=cut", "train.checkpoint_every=5", *sets), tmp_path, resume=cut / "last.pt")
    assert [json.loads(x)["lr"] for x in (cut / "metrics.jsonl").read_text().splitlines()] == [r["lr"] for r in history]
    assert _same_weights(resumed.model.state_dict(), result.model.state_dict())


def test_plateau_schedule_learns(tmp_path):
    result = fit(TOY, _cfg("train.name=pl", "train.schedule=plateau", "train.plateau_patience=1"), tmp_path)
    assert result.metrics["test"]["accuracy"] >= 0.85


def test_existing_named_run_folder_is_refused(tmp_path):
    fit(TOY, _cfg("train.name=x", "train.epochs=1"), tmp_path)
    with pytest.raises(ConvkitError, match=r"run folder already exists; .*--resume"):
        fit(TOY, _cfg("train.name=x", "train.epochs=1"), tmp_path)


def test_evaluate_predict_export(tmp_path):
    result = fit(TOY, _cfg("train.name=e"), tmp_path)
    best = result.run_dir / "best.pt"
    scored = evaluate_checkpoint(TOY, best, device="cpu")
    assert scored == result.metrics["test"]
    rows = predict_checkpoint(TOY, best, ["0,0,0,0,0,0,0,0", "1,2,3,4,5,6,7,8"], device="cpu")
    assert [r["input"] for r in rows] == ["0,0,0,0,0,0,0,0", "1,2,3,4,5,6,7,8"]
    assert all(r["label"] in "abc" and math.isclose(sum(r["probabilities"].values()), 1, abs_tol=1e-4) for r in rows)
    trained = load_trained(TOY, best)
    for fmt in ("onnx", "torchscript"):
        out = export_model(trained.model, trained.spec, fmt, tmp_path / f"m.{fmt}")
        assert out["max_abs_diff"] is not None and out["max_abs_diff"] <= 1e-4


def test_checkpoint_refusals(tmp_path):
    fit(TOY, _cfg("train.name=c", "train.epochs=1"), tmp_path)
    good = tmp_path / "runs" / "toy" / "c" / "last.pt"
    with pytest.raises(CheckpointError, match=r"a checkpoint of the 'toy' task, not 'image'"):
        ckpt.load_checkpoint(good, "image")
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"format": 1, "model": {}, "payload": argparse.Namespace(run="code")}, unsafe)
    with pytest.raises(CheckpointError, match=r"unsafe.pt: refused: loading it would run pickled code"):
        ckpt.load_checkpoint(unsafe)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"corrupt.pt: not a readable checkpoint"):
        ckpt.load_checkpoint(corrupt)
    with pytest.raises(CheckpointError, match=r"nothing.pt: no such checkpoint file"):
        ckpt.load_checkpoint(tmp_path / "nothing.pt")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match=r"not a convkit checkpoint"):
        ckpt.load_checkpoint(other)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "last.pt"
    ckpt.save_checkpoint({"format": 1, "model": {"w": torch.ones(3)}}, target)

    def dying_save(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # the process dies mid-write

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint({"format": 1, "model": {"w": torch.zeros(3)}}, target)
    monkeypatch.undo()
    assert torch.equal(ckpt.load_checkpoint(target)["model"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_rng_state_round_trip():
    import random

    import numpy as np

    state = ckpt.rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    ckpt.set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


@pytest.mark.slow
def test_compile_trains_and_saves_the_uncompiled_module(tmp_path):
    result = fit(TOY, _cfg("train.name=k", "train.compile=true", "train.epochs=2"), tmp_path)
    assert result.metrics["test"]["accuracy"] >= 0.9
    keys = list(_weights(result.run_dir / "last.pt"))
    assert keys == list(TOY.build_model(_cfg(), None).state_dict())  # no "_orig_mod." prefixes
