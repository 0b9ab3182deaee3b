"""``detect`` on a series far from the training data says so (issue "Runs that never lose
work or lie", item 12): a model of the embedded series flagging most steps of a user's
series must not do it without a word."""

from __future__ import annotations

import csv
import json

from convkit import config as config_io
from convkit.cli import main
from convkit.tasks.timeseries.synthetic import make_sensor_series
from convkit.tasks.timeseries.task import TASK
from convkit.train.engine import fit


def _write(path, values, names) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        writer.writerows(values.tolist())


def test_detect_warns_when_the_input_is_far_from_the_training_data(tmp_path, capsys):
    sets = TASK.profiles["smoke"] + ["train.name=far", "train.baselines=false"]
    fit(TASK, config_io.resolve_config(TASK.config_class, sets=sets), tmp_path)
    best = tmp_path / "runs" / "timeseries" / "far" / "best.pt"
    series = make_sensor_series(6400, 2, seed=0)  # the series the run trained on
    near, far = tmp_path / "near.csv", tmp_path / "far.csv"
    _write(near, series.values, series.channel_names)
    _write(far, series.values * 3 + 40 * series.values.std(axis=0), series.channel_names)
    capsys.readouterr()
    assert main(TASK, ["detect", "--checkpoint", str(best), "--out", str(tmp_path / "d"), str(near), str(far)]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert "warning" not in rows[0]
    assert "lies far from the training data" in rows[1]["warning"]
    assert err.count("warning:") == 1 and "far.csv" in err
