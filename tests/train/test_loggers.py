"""Run loggers (issue 22): ``train.loggers = ["csv", "tensorboard"]`` and the callback
interface they share with other trackers. TensorBoard's own reader lists a finished run's
scalars; the CSV has one row per logged step, also after a crash or ``kill -9`` and a
resume; a full disk while logging is one line; plug-ins come in by entry point or as
``fit(..., callbacks=...)``."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from engine_toy import TOY, Crash, ToyTask
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # the test extra has it
from tensorboard.plugins.hparams import plugin_data_pb2
from test_run_files import _FullDisk, _fill_disk, _wait_for

from convkit import config as config_io
from convkit.cli import main
from convkit.errors import ConfigError
from convkit.train import checkpoint as checkpoints
from convkit.train import engine, loggers
from convkit.train.engine import fit
from convkit.train.loggers import Logger, RunStart

BOTH = 'train.loggers=["csv", "tensorboard"]'
STEP_TAGS = {"train/loss", "train/lr"}
EPOCH_TAGS = {"epoch/train_loss", "epoch/lr", "val/accuracy", "val/macro_f1", "val/loss"}
TEST_TAGS = {"test/accuracy", "test/macro_f1", "test/loss"}


def _cfg(*sets: str) -> config_io.RunConfig:
    return config_io.resolve_config(ToyTask.config_class, sets=list(sets))


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(TOY, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _steps_csv(run: Path) -> list[dict]:
    with open(run / "steps.csv", newline="") as f:
        return [{"step": int(r["step"]), "epoch": int(r["epoch"]), "loss": float(r["loss"]), "lr": float(r["lr"])}
                for r in csv.DictReader(f)]


def _epochs_csv(run: Path) -> list[dict]:
    with open(run / "epochs.csv", newline="") as f:
        return list(csv.DictReader(f))


def _events(run: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run))
    acc.Reload()
    return acc


def _scalar_steps(acc: EventAccumulator, tag: str) -> list[int]:
    return [e.step for e in acc.Scalars(tag)]


class Recorder(Logger):
    """A tracker of the kind MLflow or W&B would be: it keeps what it is told."""

    name = "recorder"
    seen: list[tuple] = []

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        Recorder.seen = self.calls

    def on_start(self, start: RunStart) -> None:
        self.calls.append(("start", start.step, start.resumed, tuple(start.example_input.shape)))

    def on_step(self, step: int, epoch: int, values: dict[str, float]) -> None:
        self.calls.append(("step", step, epoch, values["loss"], values["lr"]))

    def on_epoch(self, epoch: int, step: int, record: dict) -> None:
        self.calls.append(("epoch", epoch, step, record["val"]["accuracy"]))

    def on_checkpoint(self, step: int) -> None:
        self.calls.append(("checkpoint", step))

    def on_end(self, step: int, metrics: dict) -> None:
        self.calls.append(("end", step, metrics["test"]["accuracy"]))

    def close(self) -> None:
        self.calls.append(("close",))


# --------------------------------------------------------------------------- a finished run


def test_tensorboard_reads_back_every_scalar_and_the_csv_has_one_row_per_logged_step(tmp_path):
    # 200 samples / 16 = 12 steps per epoch, 3 epochs: the loss is read every 4 steps
    # (log_every), at each checkpoint (every 5 steps in an epoch) and at each epoch end.
    recorder = Recorder()
    result = fit(TOY, _cfg("train.name=run", BOTH, "train.log_every=4", "train.checkpoint_every=5"), tmp_path,
                 callbacks=[recorder])
    run = result.run_dir
    logged = [s + 12 * e for e in range(3) for s in (4, 5, 8, 10, 12)]

    rows = _steps_csv(run)
    assert [r["step"] for r in rows] == logged
    assert [r["epoch"] for r in rows] == [(s - 1) // 12 + 1 for s in logged]
    # lr: the cosine rate step s trained with; loss: the mean over the steps since the last row,
    # so the rows of an epoch weighted by their steps give the epoch's training loss
    assert all(math.isclose(r["lr"], 0.05 * (1 + math.cos(math.pi * (r["step"] - 1) / 36)), rel_tol=1e-9)
               for r in rows)
    history = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    for record in history:
        epoch_rows = [r for r in rows if r["epoch"] == record["epoch"]]
        widths = [b["step"] - a["step"] for a, b in zip([{"step": 12 * (record["epoch"] - 1)}] + epoch_rows,
                                                        epoch_rows)]
        assert math.isclose(sum(w * r["loss"] for w, r in zip(widths, epoch_rows)) / 12,
                            record["train"]["loss"], rel_tol=1e-9)
    epochs = _epochs_csv(run)
    assert [(int(r["epoch"]), int(r["step"])) for r in epochs] == [(1, 12), (2, 24), (3, 36)]
    assert [float(r["val_accuracy"]) for r in epochs] == [h["val"]["accuracy"] for h in history]

    acc = _events(run)
    tags = acc.Tags()
    assert set(tags["scalars"]) == STEP_TAGS | EPOCH_TAGS | TEST_TAGS
    for tag in STEP_TAGS:
        assert _scalar_steps(acc, tag) == logged
    assert [e.value for e in acc.Scalars("train/loss")] == pytest.approx([r["loss"] for r in rows], rel=1e-6)
    for tag in EPOCH_TAGS:
        assert _scalar_steps(acc, tag) == [12, 24, 36]
    assert [e.value for e in acc.Scalars("test/accuracy")] == pytest.approx([result.metrics["test"]["accuracy"]])
    assert tags["graph"]  # the MLP traces
    [text] = acc.Tensors("config/text_summary")
    assert "lr = 0.1" in text.tensor_proto.string_val[0].decode()
    hparams = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(hparams["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["train.lr"].number_value == 0.1 and start.hparams["model.name"].string_value == "toy_mlp"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(hparams["_hparams_/experiment"]).experiment
    assert {m.name.tag for m in experiment.metric_infos} == TEST_TAGS

    # a Python callback saw the same steps, epochs, checkpoints and end
    calls = Recorder.seen
    assert calls[0] == ("start", 0, False, (2, 8)) and calls[-1] == ("close",)
    assert [c[1] for c in calls if c[0] == "step"] == logged
    assert [c[3] for c in calls if c[0] == "step"] == [r["loss"] for r in rows]
    assert [c[1:3] for c in calls if c[0] == "epoch"] == [(1, 12), (2, 24), (3, 36)]
    assert [c[1] for c in calls if c[0] == "checkpoint"] == [5, 10, 12, 17, 22, 24, 29, 34, 36]
    assert calls[-2] == ("end", 36, result.metrics["test"]["accuracy"])


def test_tracing_the_graph_changes_nothing_in_training(tmp_path):
    plain = fit(TOY, _cfg("train.name=plain", "train.loggers=[]"), tmp_path)
    logged = fit(TOY, _cfg("train.name=logged", BOTH), tmp_path)
    assert {p.name for p in plain.run_dir.iterdir()} == {p.name for p in logged.run_dir.iterdir()} - {
        "steps.csv", "epochs.csv", next(p.name for p in logged.run_dir.glob("events.out.tfevents.*"))}
    a, b = plain.model.state_dict(), logged.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert plain.metrics["test"] == logged.metrics["test"]


def test_epochs_csv_gains_the_validation_columns_when_the_first_validation_comes(tmp_path):
    result = fit(TOY, _cfg("train.name=e", "train.eval_every=2", "task.samples=48"), tmp_path)
    rows = _epochs_csv(result.run_dir)
    assert list(rows[0]) == ["epoch", "step", "lr", "train_loss", "seconds", "val_accuracy", "val_macro_f1",
                             "val_loss"]
    assert [(r["epoch"], r["step"], r["val_accuracy"] != "") for r in rows] == [("1", "3", False), ("2", "6", True),
                                                                                ("3", "9", True)]


class Refuses(torch.nn.Module):
    """A model ``torch.jit.trace`` cannot trace."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        if torch.jit.is_tracing():
            raise RuntimeError("no tracing here")
        return self.net(x)


class Untraceable(ToyTask):
    def build_model(self, cfg, data):
        return Refuses(super().build_model(cfg, data))


def test_a_model_that_cannot_be_traced_is_logged_without_its_graph_and_one_debug_line(tmp_path, caplog, capsys):
    with caplog.at_level(logging.DEBUG, logger="convkit.train.loggers"):
        result = fit(Untraceable(), _cfg("train.name=g", BOTH, "train.epochs=1", "task.samples=48"), tmp_path)
    acc = _events(result.run_dir)
    assert not acc.Tags()["graph"] and "train/loss" in acc.Tags()["scalars"]
    [record] = [r for r in caplog.records if r.name == "convkit.train.loggers"]
    assert record.levelno == logging.DEBUG and "no model graph (Refuses cannot be traced: no tracing here)" in \
        record.getMessage()
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------- resume


def test_a_crash_and_resume_leave_one_row_and_one_point_per_step(tmp_path):
    # every step is logged; checkpoints every 5 steps; the crash is at step 20 (8 of epoch 2):
    # steps 18 and 19 were logged after the checkpoint at 17 and are logged again on resume
    sets = ("train.log_every=1", "train.checkpoint_every=5", BOTH)
    ref = fit(TOY, _cfg("train.name=ref", *sets), tmp_path)
    with pytest.raises(Crash):
        fit(TOY, _cfg("train.name=cut", *sets, "task.crash_at=20"), tmp_path)
    cut = tmp_path / "runs" / "toy" / "cut"
    assert [r["step"] for r in _steps_csv(cut)] == list(range(1, 20))
    fit(TOY, _cfg("train.name=cut", *sets), tmp_path, resume=cut / "last.pt")
    assert _steps_csv(cut) == _steps_csv(ref.run_dir)  # one row per step, the same numbers
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(_epochs_csv(cut)) == drop(_epochs_csv(ref.run_dir))
    acc, ref_acc = _events(cut), _events(ref.run_dir)
    assert len(list(cut.glob("events.out.tfevents.*"))) == 2
    assert _scalar_steps(acc, "train/loss") == list(range(1, 37))
    assert [e.value for e in acc.Scalars("train/loss")] == [e.value for e in ref_acc.Scalars("train/loss")]
    for tag in EPOCH_TAGS | TEST_TAGS:
        assert _scalar_steps(acc, tag) == _scalar_steps(ref_acc, tag)


def _spawn_training(out: Path) -> subprocess.Popen:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from engine_toy import TOY; from convkit.cli import main; "
            "sys.exit(main(TOY, ['train', '--out', sys.argv[2], '--device', 'cpu', '--epochs', '1000000', '--set', "
            "'train.name=k', 'train.baselines=false', 'task.samples=48', 'train.log_every=1', "
            "'train.checkpoint_every=2', 'train.loggers=[\"csv\", \"tensorboard\"]']))")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).parent), str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def test_kill_9_and_resume_leave_one_row_and_one_point_per_step(tmp_path, capsys):
    # 3 steps per epoch, every step logged; a checkpoint every 2 steps and at epoch ends
    proc = _spawn_training(tmp_path)
    try:
        _wait_for(proc, "epoch 3/1000000")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    run = tmp_path / "runs" / "toy" / "k"
    epochs = checkpoints.load_checkpoint(run / "last.pt")["epoch"] + 2  # two more (and the rest of the one it is in)
    code, _, err = _cli(capsys, "train", "--resume", str(run / "last.pt"), "--device", "cpu", "--epochs", str(epochs),
                        "--set", "train.baselines=false", "task.samples=48")
    assert code == 0, err
    assert [r["step"] for r in _steps_csv(run)] == list(range(1, 3 * epochs + 1))
    assert [int(r["epoch"]) for r in _epochs_csv(run)] == list(range(1, epochs + 1))
    acc = _events(run)
    assert _scalar_steps(acc, "train/loss") == list(range(1, 3 * epochs + 1))
    assert _scalar_steps(acc, "val/accuracy") == list(range(3, 3 * epochs + 1, 3))


# --------------------------------------------------------------------------- errors


def test_a_full_disk_while_logging_is_one_line_and_the_run_resumes(tmp_path, capsys, monkeypatch):
    # 3 steps per epoch, every step logged: the 5th append to steps.csv (step 5, in epoch 2)
    # hits the full disk; the last complete checkpoint is the end of epoch 1.
    run = tmp_path / "runs" / "toy" / "full"
    last = run / "last.pt"
    _fill_disk(monkeypatch, _FullDisk("steps.csv", nth=6, room=10))
    small = ("--device", "cpu", "--set", "train.baselines=false", "task.samples=48", "train.log_every=1")
    code, out, err = _cli(capsys, "train", "--out", str(tmp_path), "--epochs", "2", *small, "train.name=full")
    assert code == 2 and out == ""
    [line] = [x for x in err.splitlines() if x.startswith("error:")]
    assert line == (f"error: no space left on device while writing {run / 'steps.csv'}; the last complete checkpoint "
                    f"is {last} (end of epoch 1); free some space and continue with: python -m convkit toy "
                    f"train --resume {last}")
    assert [r["step"] for r in _steps_csv(run)] == [1, 2, 3, 4]  # whole rows only
    monkeypatch.undo()
    code, _, err = _cli(capsys, "train", "--resume", str(last), *small)
    assert code == 0, err
    assert [r["step"] for r in _steps_csv(run)] == [1, 2, 3, 4, 5, 6]


def test_unknown_or_unavailable_loggers_are_one_line_before_anything_is_written(tmp_path, capsys, monkeypatch):
    code, out, err = _cli(capsys, "train", "--out", str(tmp_path), "--device", "cpu", "--set", 'train.loggers=["nope"]')
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.strip() == ("error: train.loggers: unknown logger 'nope'; valid: csv, tensorboard (other packages add "
                           "loggers under the 'convkit.loggers' entry point group)")
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ConfigError, match=r"^train.loggers names 'csv' more than once"):
        _cfg('train.loggers=["csv", "csv"]')
    with pytest.raises(ConfigError, match=r"^callbacks: .* is not a convkit.train.loggers.Logger"):
        fit(TOY, _cfg(), tmp_path, callbacks=[print])
    monkeypatch.setattr(loggers.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"^train.loggers: the tensorboard logger needs the tensorboard package; "
                                          r"install it with: pip install 'convkit\[tensorboard\]'"):
        fit(TOY, _cfg(BOTH), tmp_path)
    assert not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------- plug-ins and progress bars


def test_a_logger_from_an_installed_package_is_named_in_train_loggers(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "recorder_plugin").mkdir(parents=True)
    (site / "recorder_plugin" / "__init__.py").write_text("from test_loggers import Recorder\n")
    info = site / "recorder_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: recorder-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[convkit.loggers]\nrecorder = recorder_plugin:Recorder\n"
                                           "broken = recorder_plugin:Missing\n")
    monkeypatch.syspath_prepend(str(site))
    Recorder.seen = []
    result = fit(TOY, _cfg("train.name=p", 'train.loggers=["recorder"]', "train.epochs=2", "task.samples=48"),
                 tmp_path)
    assert [c[1] for c in Recorder.seen if c[0] == "step"] == [3, 6]  # an epoch end is always a logged step
    assert Recorder.seen[-2] == ("end", 6, result.metrics["test"]["accuracy"])
    assert not (result.run_dir / "steps.csv").exists()  # only the loggers named
    with pytest.raises(ConfigError, match=r"^train.loggers: unknown logger 'nope'; valid: csv, tensorboard, broken, "
                                          r"recorder"):
        fit(TOY, _cfg('train.loggers=["nope"]'), tmp_path)
    with pytest.raises(ConfigError, match=r"^train.loggers: the 'broken' logger \(recorder_plugin:Missing\) failed "
                                          r"to load: AttributeError"):
        fit(TOY, _cfg('train.loggers=["broken"]'), tmp_path)


def test_progress_bars_adapt_to_notebooks_and_stay_quiet_off_a_terminal(tmp_path, capsys):
    import tqdm.auto

    from convkit.train import inference

    assert engine.tqdm is tqdm.auto.tqdm and inference.tqdm is tqdm.auto.tqdm  # a widget under Jupyter
    code, _, err = _cli(capsys, "train", "--out", str(tmp_path), "--device", "cpu", "--epochs", "2",
                        "--set", "train.baselines=false", "task.samples=48")
    assert code == 0, err
    assert "\r" not in err and "it/s" not in err and "s/it" not in err  # stderr is not a terminal here
