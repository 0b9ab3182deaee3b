"""The files of a run (issue 20, findings 3, 4 and 6): a damaged checkpoint is refused,
a run folder has one training process at a time, two checkpoint writers never collide,
and a full disk is one line that names the file and the last complete checkpoint."""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
import torch
from engine_toy import TOY

from convkit import config as config_io
from convkit.cli import main
from convkit.errors import CheckpointError, ConfigError
from convkit.train import checkpoint as checkpoints
from convkit.train import engine, rundir
from convkit.train.engine import fit

SMALL = ("--set", "train.baselines=false", "task.samples=48")
"""A toy run of a second or two: 48 training examples, 3 steps per epoch."""


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(TOY, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _error_lines(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("error:")]


def _train(capsys, tmp_path: Path, name: str, *extra: str) -> tuple[int, str, str]:
    return _cli(capsys, "train", "--out", str(tmp_path), "--device", "cpu", *SMALL, f"train.name={name}", *extra)


def _tmp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.tmp")) if folder.exists() else []


# --------------------------------------------------------------------------- integrity


def test_a_damaged_checkpoint_is_refused_in_one_line_naming_it(tmp_path, capsys):
    assert _train(capsys, tmp_path, "d", "--epochs", "1")[0] == 0
    best = tmp_path / "runs" / "toy" / "d" / "best.pt"
    code, out, _ = _cli(capsys, "evaluate", "--checkpoint", str(best), "--device", "cpu")
    assert code == 0 and json.loads(out)["accuracy"] >= 0.0  # the intact file evaluates

    data = bytearray(best.read_bytes())
    middle = len(data) // 2
    for i in range(middle - 2048, middle + 2048):  # 4 KB of flipped bytes in the middle
        data[i] ^= 0xFF
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    code, out, err = _cli(capsys, "evaluate", "--checkpoint", str(damaged), "--device", "cpu")
    assert code == 2 and out == ""
    assert err.splitlines() == _error_lines(err) and len(err.splitlines()) == 1, err
    assert str(damaged) in err and "damaged" in err and "sha256" in err

    # one flipped byte in the model's weights is caught too (the old loader reported its numbers)
    info = zipfile.ZipFile(best).getinfo(next(n for n in zipfile.ZipFile(best).namelist() if n.endswith("data/0")))
    one = bytearray(best.read_bytes())
    one[info.header_offset + 200] ^= 0x40
    weights = tmp_path / "weights.pt"
    weights.write_bytes(bytes(one))
    with pytest.raises(CheckpointError, match=r"weights.pt: damaged"):
        checkpoints.load_checkpoint(weights)

    # a checkpoint of this format whose digest was cut off is refused; an older one
    # (format 1, written before checkpoints carried a digest) still loads
    state = checkpoints.load_checkpoint(best, "toy")
    assert state["format"] == checkpoints.FORMAT >= 2
    bare = tmp_path / "bare.pt"
    torch.save(state, bare)
    with pytest.raises(CheckpointError, match=r"bare.pt: damaged: .*no sha256 digest"):
        checkpoints.load_checkpoint(bare)
    old = tmp_path / "old.pt"
    torch.save({**state, "format": 1}, old)
    assert checkpoints.load_checkpoint(old, "toy")["epoch"] == 1
    code, _, _ = _cli(capsys, "evaluate", "--checkpoint", str(old), "--device", "cpu")
    assert code == 0


def test_two_writers_of_one_checkpoint_never_collide(tmp_path, monkeypatch):
    target = tmp_path / "last.pt"
    real_save = torch.save
    a_half_written, b_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def interleaved_save(obj, f):
        buffer = io.BytesIO()
        real_save(obj, buffer)
        payload = buffer.getvalue()
        if obj["who"] == "a":  # a writes half, waits for b to write all of its file, then goes on
            f.write(payload[: len(payload) // 2])
            a_half_written.set()
            b_done.wait(30)
            f.write(payload[len(payload) // 2:])
        else:
            f.write(payload)

    def write(who: str) -> None:
        try:
            checkpoints.save_checkpoint({"format": 1, "model": {"w": torch.full((1000,), float(ord(who)))},
                                         "who": who}, target)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)
        finally:
            if who == "b":
                b_done.set()

    monkeypatch.setattr(torch, "save", interleaved_save)
    a = threading.Thread(target=write, args=("a",))
    a.start()
    assert a_half_written.wait(30)
    write("b")
    a.join(30)
    monkeypatch.undo()
    assert errors == []
    state = checkpoints.load_checkpoint(target)
    assert state["who"] == "a" and torch.equal(state["model"]["w"], torch.full((1000,), float(ord("a"))))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


# --------------------------------------------------------------------------- one process per run folder


def _spawn_long_resume(last: Path) -> subprocess.Popen:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from engine_toy import TOY; from convkit.cli import main; "
            "sys.exit(main(TOY, ['train', '--resume', sys.argv[2], '--device', 'cpu', '--epochs', '1000000', "
            "'--set', 'train.save_every=0', 'train.baselines=false', 'task.samples=48']))")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).parent), str(last)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(proc: subprocess.Popen, needle: str, timeout: float = 120) -> None:
    lines, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return
    proc.kill()
    raise AssertionError(f"never saw {needle!r}; stderr: {''.join(lines)[-2000:]}")


def test_a_run_folder_in_use_is_refused_naming_the_pid_and_kill_9_frees_it(tmp_path, capsys):
    assert _train(capsys, tmp_path, "busy", "--epochs", "1")[0] == 0
    run = tmp_path / "runs" / "toy" / "busy"
    last = run / "last.pt"
    holder = _spawn_long_resume(last)
    try:
        _wait_for(holder, "epoch 3/1000000")  # the first resume is training
        code, out, err = _cli(capsys, "train", "--resume", str(last), "--device", "cpu", "--epochs", "3",
                              *SMALL)
        assert code == 2 and out == "", err
        assert len(_error_lines(err)) == 1 and len(err.splitlines()) == 1, err
        assert f"PID {holder.pid}" in err and str(run) in err and "in use" in err
        # a new run into that folder, or of that name, is refused the same way
        with pytest.raises(ConfigError, match=rf"in use by another training process \(PID {holder.pid}\)"):
            fit(TOY, TOY.config_class(), run_dir=run)
        with pytest.raises(ConfigError, match=rf"busy: the run folder is in use .*\(PID {holder.pid}\)"):
            fit(TOY, config_io.resolve_config(TOY.config_class, sets=["train.name=busy"]), tmp_path)
        assert holder.poll() is None  # the holder was not disturbed
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=60)
    assert holder.returncode == -signal.SIGKILL
    # kill -9 leaves no stale lock: the run resumes and its record is whole
    code, _, err = _cli(capsys, "train", "--resume", str(last), "--device", "cpu", "--epochs", "3", *SMALL)
    assert code == 0, err
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    assert checkpoints.load_checkpoint(last)["epoch"] == 3
    assert {p.name for p in run.iterdir()} == {"config.toml", "metrics.jsonl", "metrics.json", "best.pt",
                                             "last.pt", "curves.png", "confusion_matrix.png",
                                             "steps.csv", "epochs.csv"}  # the csv logger, on by default


# --------------------------------------------------------------------------- a full disk


class _FullDisk:
    """``open`` for convkit's modules: files opened for writing as ``name`` (or as a
    temporary ``.name.*`` beside it) take ``room`` bytes, then their writes fail with ``code`` (ENOSPC), from
    the ``nth`` such file on."""

    def __init__(self, name: str, nth: int = 1, room: int = 100, code: int = errno.ENOSPC) -> None:
        self.name, self.nth, self.room, self.code, self.seen = name, nth, room, code, 0

    def open(self, file, mode="r", *args, **kwargs):
        f = builtins.open(file, mode, *args, **kwargs)
        base = os.path.basename(os.fspath(file))
        if any(c in mode for c in "wax") and (base == self.name or base.startswith(f".{self.name}.")):
            self.seen += 1
            if self.seen >= self.nth:
                return _Filling(f, self.room, self.code)
        return f


class _Filling:
    """A file whose device has ``room`` bytes left."""

    def __init__(self, f, room: int, code: int) -> None:
        self._f, self._room, self._code = f, room, code

    def write(self, data):
        if len(data) > self._room:
            self._f.write(data[: self._room])
            self._room = 0
            raise OSError(self._code, os.strerror(self._code))
        self._room -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def _fill_disk(monkeypatch, disk: _FullDisk) -> None:
    for module in (checkpoints, rundir):
        monkeypatch.setattr(module, "open", disk.open, raising=False)


@pytest.mark.parametrize("name, code, words", [("best.pt", errno.ENOSPC, "no space left on device"),
                                               ("config.toml", errno.EDQUOT, "disk quota exceeded")])
def test_a_full_disk_before_the_first_checkpoint_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch,
                                                                               name, code, words):
    _fill_disk(monkeypatch, _FullDisk(name, code=code))
    status, out, err = _train(capsys, tmp_path, "full", "--epochs", "2")
    run = tmp_path / "runs" / "toy" / "full"
    assert status == 2 and out == ""
    [line] = _error_lines(err)
    assert line.startswith(f"error: {words} while writing {run / name}; nothing was saved"), line
    assert not run.exists() and _tmp_files(tmp_path) == []


@pytest.mark.parametrize("name, nth, saved, logged", [
    ("last.pt", 2, 1, 1), ("best.pt", 2, 1, 1), ("metrics.jsonl", 2, 2, 1), ("curves.png", 1, 2, 2),
    ("metrics.json", 1, 2, 2)])
def test_a_full_disk_mid_run_is_one_line_naming_the_last_complete_checkpoint(tmp_path, capsys, monkeypatch,
                                                                             name, nth, saved, logged):
    # Each epoch writes best.pt (when val improved: in both epochs here), last.pt, then a
    # metrics.jsonl line; after the last one, the plots and metrics.json. The disk fills
    # while writing the nth `name`: `saved` is then the last complete checkpoint's epoch
    # and `logged` the epochs in metrics.jsonl.
    run = tmp_path / "runs" / "toy" / "mid"
    disk = _FullDisk(name, nth)
    _fill_disk(monkeypatch, disk)
    if name == "curves.png":  # matplotlib opens its own files: the plot is what fills the disk
        def plot_curves(history, path, monitor):
            Path(path).write_bytes(b"\x89PNG half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(engine, "plot_curves", plot_curves)
    status, out, err = _train(capsys, tmp_path, "mid", "--epochs", "2")
    assert disk.seen >= nth or name == "curves.png"
    assert status == 2 and out == ""
    [line] = _error_lines(err)
    last = run / "last.pt"
    assert line.startswith(f"error: no space left on device while writing {run / name}"), line
    assert (f"the last complete checkpoint is {last} (end of epoch {saved}); free some space and continue with: "
            f"python -m convkit toy train --resume {last}") in line
    assert _tmp_files(tmp_path) == []
    assert checkpoints.load_checkpoint(last, "toy")["epoch"] == saved
    assert checkpoints.load_checkpoint(run / "best.pt", "toy")["epoch"] == (1 if name == "best.pt" else 2)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == list(range(1, logged + 1))  # whole lines only
    assert not (run / "metrics.json").exists()  # the run is not complete
    assert not (run / "curves.png").exists() or name != "curves.png"  # no half-written plot
    # space freed: the run continues from there and completes
    monkeypatch.undo()
    status, _, err = _cli(capsys, "train", "--resume", str(last), "--device", "cpu", *SMALL)
    assert status == 0, err
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] >= 0.0
    assert (run / "curves.png").read_bytes().startswith(b"\x89PNG\r\n")
