"""The edges of a run (issue "Runs that never lose work or lie"): interrupts with real
signals to a real process, resume overrides, output paths, files that are not
checkpoints, failed runs leaving no unexplained folder, thread settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch


from convkit import config as config_io
from convkit.cli import main
from convkit.errors import ConfigError, ConvkitError
from convkit.tasks.image.task import TASK
from convkit.train import checkpoint as checkpoints
from convkit.train.engine import fit

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "train"))
from engine_toy import TOY, ToyTask  # noqa: E402


def _cfg(*sets: str):
    return config_io.resolve_config(ToyTask.config_class, sets=list(sets))


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(TASK, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _train_image(tmp_path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "convkit.tasks.image", "train", "--out", str(tmp_path), "--epochs", "200",
           "--set", "train.baselines=false", "train.name=sig", "train.checkpoint_every=0", *extra]
    return subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)


def _wait_for(proc: subprocess.Popen, needle: str, timeout: float = 240) -> list[str]:
    lines, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    proc.kill()
    raise AssertionError(f"never saw {needle!r}; stderr: {''.join(lines)[-2000:]}")


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_a_resumable_checkpoint_and_exits_128_plus_signal(tmp_path, sig, status):
    proc = _train_image(tmp_path)
    _wait_for(proc, "epoch 2/200")  # mid-run, inside epoch 3
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    run = tmp_path / "runs" / "image" / "sig"
    assert proc.returncode == status, err
    assert "Traceback" not in err
    assert f"interrupted by {signal.Signals(sig).name}" in err and f"--resume {run / 'last.pt'}" in err
    state = checkpoints.load_checkpoint(run / "last.pt", "image")
    assert (state["epoch"], state["step"]) >= (2, 0)
    assert not list(run.glob(".*.tmp"))
    # and it resumes from there
    resumed = subprocess.run([sys.executable, "-m", "convkit.tasks.image", "train", "--resume", str(run / "last.pt"),
                              "--epochs", str(state["epoch"] + 1), "--set", "train.baselines=false"],
                             capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming with train.epochs 200 -> " in resumed.stderr
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] > 0.5


def test_resume_refuses_an_override_it_cannot_honour_and_logs_those_it_applies(tmp_path, capsys):
    fit(TOY, _cfg("train.name=r", "train.epochs=1"), tmp_path)
    last = tmp_path / "runs" / "toy" / "r" / "last.pt"
    with pytest.raises(ConfigError, match=r"train.lr cannot change when resuming \(0.1 -> 0.5\)"):
        fit(TOY, _cfg("train.name=r", "train.epochs=1", "train.lr=0.5"), tmp_path, resume=last)
    result = fit(TOY, _cfg("train.name=r", "train.epochs=2"), tmp_path, resume=last)
    err = capsys.readouterr().err
    assert "resuming with train.epochs 1 -> 2" in err
    assert len((result.run_dir / "metrics.jsonl").read_text().splitlines()) == 2
    assert checkpoints.load_checkpoint(last)["config"]["train"]["lr"] == 0.1  # the record stays true


def test_a_checkpoint_written_before_a_key_existed_resumes_at_that_key_s_default():
    """A key added to convkit after a checkpoint was written (train.accumulate_steps) is
    no change while the resumed run leaves it at its default; another value is refused."""
    from convkit.train.distributed import DistEnv
    from convkit.train.resume import check_resume_overrides

    stored = config_io.to_dict(_cfg("train.epochs=1"))
    del stored["train"]["accumulate_steps"]
    check_resume_overrides(stored, _cfg("train.epochs=1"), "old.pt", DistEnv())
    with pytest.raises(ConfigError, match=r"train.accumulate_steps cannot change when resuming \(None -> 2\)"):
        check_resume_overrides(stored, _cfg("train.epochs=1", "train.accumulate_steps=2"), "old.pt", DistEnv())


def test_a_run_failing_before_its_first_checkpoint_leaves_no_folder(tmp_path, capsys):
    with pytest.raises(ConvkitError, match=r"loss is nan at epoch 1, step 2; .*none \(no checkpoint"):
        fit(TOY, _cfg("train.name=f", "task.nan_at=2"), tmp_path)
    assert not (tmp_path / "runs" / "toy" / "f").exists()
    assert "removed" in capsys.readouterr().err


def test_output_paths_that_cannot_be_written_are_one_line(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code, out, err = _cli(capsys, "train", "--out", str(blocker), "--epochs", "1", "--set", "train.baselines=false")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot create the run folder" in err
    fit(TASK, config_io.resolve_config(TASK.config_class, sets=["train.epochs=1", "train.baselines=false",
                                                               "train.name=x"]), tmp_path)
    best = tmp_path / "runs" / "image" / "x" / "best.pt"
    capsys.readouterr()
    code, _, err = _cli(capsys, "export", "--checkpoint", str(best), "--format", "onnx", "--output", str(tmp_path))
    assert code == 2 and err.startswith("error: --output") and "a folder" in err
    code, _, err = _cli(capsys, "export", "--checkpoint", str(best), "--format", "onnx",
                        "--output", str(blocker / "m.onnx"))
    assert code == 2 and err.startswith("error: --output") and "cannot write there" in err
    onnx = tmp_path / "m.onnx"
    assert _cli(capsys, "export", "--checkpoint", str(best), "--format", "onnx", "--output", str(onnx))[0] == 0
    # files that are not checkpoints say what they are
    text = tmp_path / "notes.pt"
    text.write_text("hello\n")
    no_config = tmp_path / "weights.pt"
    torch.save({"format": 1, "model": {}, "task": "image"}, no_config)
    for path, words in [(onnx, "an ONNX model"), (text, "a text file"), (no_config, "no config")]:
        code, _, err = _cli(capsys, "evaluate", "--checkpoint", str(path))
        assert code == 2 and len(err.splitlines()) == 1 and words in err and "pickled code" not in err, err


def test_debug_works_before_or_after_the_command(tmp_path):
    for argv in (["--debug", "train"], ["train", "--debug"]):
        cmd = [sys.executable, "-m", "convkit.tasks.image", *argv, "--out", str(tmp_path), "--lr", "-1"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and "Traceback" in proc.stderr, argv


def test_thread_setting_is_applied_and_logged(tmp_path, capsys):
    before = torch.get_num_threads()
    try:
        fit(TOY, _cfg("train.name=t", "train.epochs=1", "train.threads=1"), tmp_path)
        assert torch.get_num_threads() == 1
        assert "using 1 CPU thread(s)" in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ConfigError, match="train.threads must be >= 0"):
        _cfg("train.threads=-1")


def test_metrics_on_a_subset_of_the_classes_average_over_those_present():
    from convkit.train.task import ClassificationTask

    targets = torch.tensor([0, 0, 1, 1, 1])
    logits = torch.nn.functional.one_hot(torch.tensor([0, 0, 1, 1, 0]), 3).float()
    metrics = ClassificationTask().compute_metrics({"logits": logits, "targets": targets}, None)
    # class 0: P 2/3 R 1 -> F1 0.8; class 1: P 1 R 2/3 -> 0.8; absent class 2 is not averaged in
    assert metrics["macro_f1"] == pytest.approx(0.8) and metrics["accuracy"] == pytest.approx(0.8)
    assert metrics["absent_classes"] == [2]
    full = ClassificationTask().compute_metrics({"logits": logits, "targets": torch.tensor([0, 0, 1, 2, 1])}, None)
    assert "absent_classes" not in full


def test_several_seeds_report_mean_and_std_and_each_run_resumes_alone(tmp_path):
    from convkit.train.repeats import fit_seeds

    summary = fit_seeds(TOY, _cfg("train.name=s", "train.epochs=1", "train.seeds=3", "train.seed=5"), tmp_path)
    base = tmp_path / "runs" / "toy" / "s-seeds"
    assert summary["seeds"] == [5, 6, 7] and summary["run_dir"] == str(base)
    accuracy = summary["test"]["accuracy"]
    assert len(accuracy["values"]) == 3 and accuracy["mean"] == pytest.approx(sum(accuracy["values"]) / 3)
    import statistics

    assert accuracy["std"] == pytest.approx(statistics.stdev(accuracy["values"]))
    assert json.loads((base / "summary.json").read_text())["test"]["accuracy"] == accuracy
    stored = checkpoints.load_checkpoint(base / "seed6" / "last.pt")["config"]["train"]
    assert (stored["seed"], stored["seeds"]) == (6, 1)


def test_predict_reads_inputs_from_a_file_one_per_line(tmp_path, capsys):
    from PIL import Image

    fit(TASK, config_io.resolve_config(TASK.config_class, sets=["train.epochs=1", "train.baselines=false",
                                                               "train.name=p"]), tmp_path)
    best = str(tmp_path / "runs" / "image" / "p" / "best.pt")
    names = []
    for i in range(3):
        path = tmp_path / f"digit{i}.png"
        Image.new("L", (32, 32), color=40 * i).save(path)
        names.append(str(path))
    listing = tmp_path / "inputs.txt"
    listing.write_text(f"{names[1]}\n  \n{names[2]}\n\n")  # blank lines keep their rows
    capsys.readouterr()
    code, out, _ = _cli(capsys, "predict", "--checkpoint", best, names[0], "--file", str(listing))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["input"] for r in rows] == [names[0], names[1], "", names[2], ""]
    assert rows[2] == rows[4] == {"input": "", "error": "empty input"} and "label" in rows[3]
    code, _, err = _cli(capsys, "predict", "--checkpoint", best)
    assert code == 2 and "predict needs inputs" in err
    code, _, err = _cli(capsys, "predict", "--checkpoint", best, "--file", str(tmp_path / "none.txt"))
    assert code == 2 and "none.txt: no such file" in err
