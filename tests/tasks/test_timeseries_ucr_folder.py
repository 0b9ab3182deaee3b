"""A folder of UCR anomaly archive files: one model over all series, ucr_hit_rate in the
test block and a per-series ucr_series.csv (the model's and every baseline's top step and
hit); the archive-like series of data_recipes/make_ucr_like.py."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from convkit.tasks.timeseries.data import UCR_ANOMALY_NAME, load_series
from convkit.tasks.timeseries.task import TASK

REPO = Path(__file__).resolve().parents[2]


def load_recipe():
    spec = importlib.util.spec_from_file_location("make_ucr_like_recipe", REPO / "data_recipes" / "make_ucr_like.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module




def test_make_ucr_like_writes_archive_named_series_with_one_anomaly_after_training(tmp_path: Path) -> None:
    recipe = load_recipe()
    paths = recipe.make_ucr_like(tmp_path, length=1000, seed=3)
    assert len(paths) == len(recipe.BASES) * len(recipe.KINDS) == 15
    assert [p.name[:3] for p in paths] == [f"{i:03d}" for i in range(1, 16)]
    series = load_series(tmp_path)  # the folder: every file read as the archive's
    assert len(series) == 15
    for path, s in zip(paths, series):
        match = UCR_ANOMALY_NAME.match(path.name)
        train_end, begin, end = (int(g) for g in match.group(3, 4, 5))
        assert 750 <= s.length <= 1250 and s.train_end == train_end == round(0.35 * s.length)
        anomalous = np.flatnonzero(s.labels)
        assert anomalous[0] == begin - 1 and anomalous[-1] == end - 1 and len(anomalous) == end - begin + 1
        assert train_end + s.length // 10 <= begin - 1 and end <= s.length - s.length // 20
        assert 1 <= end - begin + 1 <= 40
        if "spike" not in path.name:
            assert end - begin + 1 >= 8
    # the same seed writes the same files
    again = recipe.make_ucr_like(tmp_path / "again", length=1000, seed=3)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]


def test_a_folder_reports_the_hit_rate_and_a_per_series_csv(tmp_path: Path, one_thread, capsys) -> None:
    from convkit import config as config_io
    from convkit.tasks.timeseries.config import TimeSeriesRunConfig
    from convkit.train.engine import fit

    recipe = load_recipe()
    folder = tmp_path / "ucr"
    recipe.make_ucr_like(folder, length=900, seed=1, bases=("sine",), kinds=("spike", "flat", "noise"))
    cfg = config_io.resolve_config(TimeSeriesRunConfig, sets=[
        f"data.path={folder}", "train.device=cpu", "train.epochs=1", "train.checkpoint_every=0", "task.context=16",
        "task.window=64", "task.stride=16", "model.options.channels=8", "task.baseline_max_train=500"])
    result = fit(TASK, cfg, out_dir=tmp_path)
    assert "UCR anomaly archive protocol (3 series)" in capsys.readouterr().err
    test = result.metrics["test"]
    table = test["ucr_series"]
    assert sorted(table) == sorted(p.stem for p in folder.glob("*.txt"))
    for name, row in table.items():
        train_end, begin, end = (int(g) for g in UCR_ANOMALY_NAME.match(name + ".txt").group(3, 4, 5))
        assert (row["begin"], row["end"]) == (begin - 1, end - 1)
        assert train_end <= row["argmax"] < row["length"]
        assert row["hit"] == float(begin - 1 - 100 <= row["argmax"] <= end - 1 + 100)
    assert test["ucr_hit_rate"] == pytest.approx(np.mean([row["hit"] for row in table.values()]))
    baselines = result.metrics["baselines"]
    assert {"linear", "mlp", "rolling_zscore", "isolation_forest", "discord"} <= set(baselines)
    for block in baselines.values():
        assert 0.0 <= block["test"]["ucr_hit_rate"] <= 1.0
    with open(result.run_dir / "ucr_series.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert list(rows[0])[:6] == ["series", "length", "anomaly_begin", "anomaly_end", "tcn_argmax", "tcn_hit"]
    assert "discord_argmax" in rows[0] and "isolation_forest_hit" in rows[0]
    for row in rows:
        assert int(row["tcn_argmax"]) == table[row["series"]]["argmax"]
        assert int(row["discord_hit"]) == baselines["discord"]["test"]["ucr_series"][row["series"]]["hit"]
    written = json.loads((result.run_dir / "metrics.json").read_text())
    assert written["test"]["ucr_hit_rate"] == test["ucr_hit_rate"]
