"""Issue 20 for the time-series task: classification refuses a TRAIN it cannot learn from
(one class, a split part left empty) before any model or baseline is fitted; a ``.ts``/``.tsv``
file with a non-UTF-8 byte, an infinite value or a line beyond the size limit ends in one
line naming the file and line; the embedded sensor series is made at any ``data.length``
from its documented minimum and refused below it. Each case: exit status 2, one ``error:``
line, no traceback, no run folder left behind."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from convkit import config as config_io
from convkit.cli import main
from convkit.errors import ConfigError, DataError
from convkit.tasks.timeseries import data as ts_data
from convkit.tasks.timeseries.config import TimeSeriesRunConfig
from convkit.tasks.timeseries.data import load_classification
from convkit.tasks.timeseries.synthetic import ANOMALY_KINDS, make_sensor_series
from convkit.tasks.timeseries.task import TASK

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

HEADER = "@problemName P\n@classLabel true a b\n@data\n"
"""A .ts header: lines 1-3, so the first series is on line 4."""


def rows(labels: list[str], length: int = 12, seed: int = 0) -> list[str]:
    """One ``v1,...,vL:label`` row per label (random values, three decimals)."""
    rng = np.random.default_rng(seed)
    return [",".join(f"{v:.3f}" for v in rng.standard_normal(length)) + f":{label}" for label in labels]


def write_ts(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "\n".join(lines) + "\n")
    return path


def write_pair(folder: Path, train_labels: list[str], test_labels: list[str] | None = None) -> Path:
    """``folder/P_TRAIN.ts`` and ``folder/P_TEST.ts``; returns the TRAIN file."""
    train = write_ts(folder / "P_TRAIN.ts", rows(train_labels))
    write_ts(folder / "P_TEST.ts", rows(test_labels or ["a", "b"] * 4, seed=1))
    return train


def train_cli(data: Path | None, out: Path, capsys, *sets: str) -> tuple[int, list[str], str]:
    """``train --data data`` (no data: the embedded series) in process: exit status, the
    ``error:`` lines, all of stderr."""
    status = main(TASK, ["train", *(["--data", str(data)] if data else []), "--out", str(out), "--set",
                         "train.device=cpu", "train.epochs=1", "task.min_steps=1", "train.checkpoint_every=0",
                         *sets])
    _, err = capsys.readouterr()
    return status, [line for line in err.splitlines() if line.startswith("error:")], err


def assert_refused(status: int, errors: list[str], err: str, out: Path, message: str) -> None:
    """Exit 2, exactly ``error: message``, no traceback, no run folder."""
    assert status == 2, err
    assert errors == [f"error: {message}"]
    assert "Traceback" not in err
    assert not list(out.glob("runs/*/*")), "a run folder was left behind"


# --------------------------------------------------------------------------- finding 2: one class in TRAIN


@pytest.mark.parametrize("baselines", ["false", "true"])
def test_a_train_file_with_one_class_is_refused_before_anything_is_fitted(tmp_path, capsys, baselines):
    train = write_pair(tmp_path / "P", ["a"] * 10)
    status, errors, err = train_cli(tmp_path / "P", tmp_path / "out", capsys, f"train.baselines={baselines}")
    assert_refused(status, errors, err, tmp_path / "out",
                   f"{train}: only one class ('a') in the training data; expected at least two")


def test_a_single_ts_file_with_one_class_is_refused(tmp_path, capsys):
    path = write_ts(tmp_path / "alone.ts", rows(["b"] * 20))
    status, errors, err = train_cli(path, tmp_path / "out", capsys)
    assert_refused(status, errors, err, tmp_path / "out",
                   f"{path}: only one class ('b') in the training data; expected at least two")


def test_a_split_that_would_leave_a_part_empty_is_refused_naming_the_classes(tmp_path, capsys):
    # one file alone, two series per class: a stratified 80/10/10 split has no validation series
    path = write_ts(tmp_path / "two_each.ts", rows(["a", "b", "a", "b"]))
    status, errors, err = train_cli(path, tmp_path / "out", capsys)
    assert_refused(status, errors, err, tmp_path / "out",
                   f"{path}: the val split would be empty: a stratified train/val/test split needs a class "
                   "with at least 3 examples, and every class has fewer: 'a' (2), 'b' (2)")
    # an official pair held out (task.holdout): one series per class in TRAIN leaves nothing to validate
    train = write_pair(tmp_path / "P", ["a", "b"])
    status, errors, err = train_cli(tmp_path / "P", tmp_path / "out", capsys, "task.holdout=true")
    assert_refused(status, errors, err, tmp_path / "out",
                   f"{train}: the val split would be empty: a stratified train/val split needs a class "
                   "with at least 2 examples, and every class has fewer: 'a' (1), 'b' (1)")


# --------------------------------------------------------------------------- findings 6 and 7: .ts contents


def test_a_non_utf8_byte_names_the_file_the_line_and_the_byte_offset(tmp_path, capsys):
    train = write_pair(tmp_path / "P", ["a", "b"] * 5)
    text = train.read_bytes()
    at = text.index(b"\n", text.index(b"@data")) + 1  # line 4, the first series
    at = text.index(b"\n", at) + 1 + 5  # line 5, its sixth byte
    train.write_bytes(text[:at] + b"\xff" + text[at:])
    status, errors, err = train_cli(tmp_path / "P", tmp_path / "out", capsys)
    assert_refused(status, errors, err, tmp_path / "out",
                   f"{train}, line 5: byte 0xff at offset {at} of the file is not UTF-8; "
                   "expected a UTF-8 text file")


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e39"])
def test_an_infinite_value_names_the_file_and_line_and_is_not_blamed_on_the_learning_rate(tmp_path, capsys,
                                                                                          value):
    train = write_pair(tmp_path / "P", ["a", "b"] * 5)
    lines = train.read_text().splitlines()
    values = lines[5].split(",")  # line 6, the third series
    values[2] = value
    lines[5] = ",".join(values)
    train.write_text("\n".join(lines) + "\n")
    status, errors, err = train_cli(tmp_path / "P", tmp_path / "out", capsys, "train.baselines=false")
    assert_refused(status, errors, err, tmp_path / "out",
                   f"{train}, line 6: {value!r} (dimension 1, value 3) is not a finite number within float32's "
                   "range; '?' or NaN marks a missing value")
    assert "loss is nan" not in err and "try a lower train.lr" not in err


def test_an_infinite_value_in_a_tsv_file_names_the_line(tmp_path):
    path = tmp_path / "T_TRAIN.tsv"
    path.write_text("1\t0.5\t1.5\t2.5\n2\t1.0\t-inf\t3.0\n")
    with pytest.raises(DataError, match="^" + re.escape(f"{path}, line 2: '-inf' (value 2) is not a finite number "
                                                        "within float32's range; NaN marks a missing value") + "$"):
        load_classification(path)


def test_nan_still_marks_a_missing_value_in_ts_files(tmp_path):
    # UEA archives write missing values as '?' or NaN: interpolated and reported, not refused
    path = write_ts(tmp_path / "gaps.ts", ["1,NaN,3,4:a", "4,3,?,1:b"])
    with pytest.warns(UserWarning, match="interpolated 2 missing values"):
        data = load_classification(path)
    np.testing.assert_array_equal(data.X[:, 0], [[1, 2, 3, 4], [4, 3, 2, 1]])


@pytest.mark.parametrize("suffix", [".ts", ".tsv"])
def test_a_line_beyond_the_size_limit_is_refused_before_it_is_parsed(tmp_path, capsys, monkeypatch, suffix):
    monkeypatch.setattr(ts_data, "MAX_LINE_CHARS", 60)
    folder = tmp_path / "P"
    if suffix == ".ts":
        fits = ",".join(["1.5"] * 14) + ":a"  # 44 characters
        assert len(fits) <= 60
        write_ts(folder / "P_TEST.ts", [fits, fits.replace(":a", ":b")])
        train = write_ts(folder / "P_TRAIN.ts", [fits, fits.replace(":a", ":b"), "x" * 61 + ":a"])
        number = 6
    else:
        folder.mkdir()
        fits = "1\t" + "\t".join(["1.5"] * 14)
        (folder / "P_TEST.tsv").write_text(f"{fits}\n2\t{fits[2:]}\n")
        train = folder / "P_TRAIN.tsv"
        train.write_text(f"{fits}\n2\t{fits[2:]}\n1\t" + "x" * 61 + "\n")
        number = 3
    # the junk on the long line would fail to parse; the limit is met first, while reading
    status, errors, err = train_cli(folder, tmp_path / "out", capsys)
    assert_refused(status, errors, err, tmp_path / "out",
                   f"{train}, line {number}: longer than 60 characters, the most one series line may hold "
                   "(convkit.tasks.timeseries.data.MAX_LINE_CHARS)")
    # lines within the limit still read
    assert load_classification(folder / f"P_TEST{suffix}").X.shape == (2, 1, 14)


def test_the_line_limit_is_far_above_the_real_archives():
    assert ts_data.MAX_LINE_CHARS >= 10_000_000


# --------------------------------------------------------------------------- finding 6: data.length


@pytest.mark.parametrize("length", [3840, 3900, 4000, 4100, 4500, 5000, 6000])
def test_the_embedded_series_is_made_at_any_length_from_its_minimum(length):
    for seed in range(12):
        s = make_sensor_series(length=length, channels=2, seed=seed)
        middle = (s.train_end + s.length) // 2
        assert {k for start, _, k in s.kinds if start < middle} == set(ANOMALY_KINDS)
        assert {k for start, _, k in s.kinds if start >= middle} == set(ANOMALY_KINDS)
        for start, end, kind in s.kinds:
            assert s.train_end <= start < end <= s.length
            if kind == "contextual":  # the missing evening peak and the early one: each labelled
                assert end - start < 48


def test_data_length_4000_builds_the_embedded_series_and_a_shorter_one_is_refused(tmp_path, capsys):
    from convkit.tasks.timeseries.synthetic import min_sensor_length

    assert min_sensor_length() == 3840
    cfg = config_io.resolve_config(TimeSeriesRunConfig, sets=["data.length=4000", "task.context=16",
                                                              "task.window=64"])
    data = TASK.for_config(cfg).build_data(cfg)
    assert data.test.series[0].source.length == 4000
    status, errors, err = train_cli(None, tmp_path / "out", capsys, "data.length=3839")
    assert_refused(status, errors, err, tmp_path / "out",
                   "data.length must be at least 3840 for the embedded sensor series (every anomaly kind "
                   "twice after its training half); got 3839")
    with pytest.raises(ConfigError, match=re.escape("length=3000 leaves 1500 steps after training for 12 "
                                                    "anomalies of at least 160 steps each; use length >= 3840")):
        make_sensor_series(length=3000)
