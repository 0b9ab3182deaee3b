"""NAB's scoring (convkit.tasks.timeseries.nab): hand-computed values on a tiny file, and
NAB's own published per-file scores and counts of its reference detections (numenta, the
HTM, and windowedGaussian; all three profiles) reproduced from ../shared/data/nab."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from convkit.tasks.timeseries.nab import (
    PROFILES,
    normalised_score,
    null_and_perfect,
    probationary_rows,
    scaled_sigmoid,
    score_file,
    window_rows,
)

NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab"


def test_probation_and_the_scaled_sigmoid():
    assert probationary_rows(100) == 15 and probationary_rows(18050) == 750  # capped at 15% of 5000
    assert scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert scaled_sigmoid(0.0) == 0.0 and scaled_sigmoid(3.5) == -1.0


def test_a_tiny_file_by_hand():
    # 40 rows, probation 6; one window at rows 20..29 (width 10); a repeated timestamp
    # (daylight saving) before it
    times = np.r_[np.arange(10), 9, np.arange(10, 39)].astype(float)
    windows = window_rows(times, np.array([[19.0, 28.0]]))
    assert windows == [(20, 29)]  # the first row equal to each bound
    early = np.zeros(40, bool)
    early[[2, 8, 20, 25]] = True  # row 2 is in the probation: never scored
    s = score_file(early, windows, "standard")
    max_tp = scaled_sigmoid(-1.0)
    expected = scaled_sigmoid(-(29 - 20 + 1) / 10) / max_tp - 0.11  # the window's first detection; one FP
    assert s.score == pytest.approx(expected) and (s.tp, s.fp, s.fn, s.tn) == (2, 1, 8, 23)
    late = np.zeros(40, bool)
    late[[29, 31]] = True  # the window's last row, then a false positive 2 rows past it
    s = score_file(late, windows, "reward_low_FP_rate")
    assert s.score == pytest.approx(scaled_sigmoid(-1 / 10) / max_tp + 0.22 * scaled_sigmoid(2 / 9))
    null, perfect = null_and_perfect(windows, 40, "reward_low_FN_rate")
    assert (null, perfect) == (pytest.approx(-2.0), pytest.approx(1.0))
    assert normalised_score(null, null, perfect) == 0 and normalised_score(perfect, null, perfect) == 100


@pytest.mark.skipif(not (NAB / "results").is_dir(), reason="../shared/data/nab (NAB's reference results) is absent")
@pytest.mark.parametrize("detector", ["numenta", "windowedGaussian"])
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_reproduces_nabs_published_per_file_scores(detector, profile):
    windows = json.loads((NAB / "labels" / "combined_windows.json").read_text())
    table = [r for r in csv.DictReader(open(NAB / "results" / detector / f"{detector}_{profile}_scores.csv"))
             if r["File"].endswith(".csv")]
    assert len(table) == 7
    for row in table:
        with open(NAB / "results" / detector / row["File"].replace("/", f"/{detector}_")) as f:
            rows = list(csv.DictReader(f))
        times = np.array([r["timestamp"] for r in rows], dtype="datetime64[ns]")
        scores = np.array([float(r["anomaly_score"]) for r in rows])
        bounds = window_rows(times, np.array(windows[row["File"]], dtype="datetime64[ns]"))
        got = score_file(scores >= float(row["Threshold"]), bounds, profile)
        assert got.score == pytest.approx(float(row["Score"]), abs=1e-6), row["File"]
        assert (got.tp, got.tn, got.fp, got.fn, got.total) == tuple(
            int(row[k]) for k in ("TP", "TN", "FP", "FN", "Total_Count")), row["File"]


def test_split_metrics_report_the_nab_score_beside_pr_auc():
    from convkit.tasks.timeseries.metrics import PartScores, split_metrics

    labels = np.zeros(200, dtype=np.int64)
    labels[100:120] = 1
    early = np.zeros(200)
    early[100] = 5.0  # flags the window's first step only: NAB's perfect detector
    late = np.zeros(200)
    late[119], late[30] = 5.0, 4.0  # the window's last step and a false positive
    threshold = 1.0
    perfect = split_metrics([PartScores("s", 0, 200, early, labels, threshold, 0.0)])
    assert perfect["nab"] == pytest.approx(100.0) and "pr_auc" in perfect
    worse = split_metrics([PartScores("s", 0, 200, late, labels, threshold, 0.0)])
    assert 0 < worse["nab"] < 100 and worse["nab_low_fp"] < worse["nab"]
    nothing = split_metrics([PartScores("s", 0, 200, np.zeros(200), labels, threshold, 0.0)])
    assert nothing["nab"] == 0.0


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_the_threshold_sweep_scores_like_nab_at_every_threshold(profile):
    from convkit.tasks.timeseries.nab import raw_scores_by_threshold

    rng = np.random.default_rng(0)
    for trial in range(10):
        scores = rng.standard_normal(400)
        scores[rng.integers(0, 400, 6)] += 3.0
        windows = [(90, 130), (300, 331)] if trial % 2 else [(0, 19), (380, 399)]
        thresholds = np.r_[np.quantile(scores, [0.5, 0.9, 0.99]), scores.max(), np.inf]
        fast = raw_scores_by_threshold(scores, windows, profile, thresholds)
        slow = [score_file(scores >= t, windows, profile, probation=0).score for t in thresholds]
        np.testing.assert_allclose(fast, slow)


def test_nab_opt_takes_the_best_threshold_over_the_corpus():
    from convkit.tasks.timeseries.metrics import PartScores, split_metrics

    labels = np.zeros(200, dtype=np.int64)
    labels[100:120] = 1
    scores = np.zeros(200)
    scores[[30, 60]] = 5.0  # two false alarms, lower than the window's start
    scores[100] = 9.0
    threshold = 1.0
    metrics = split_metrics([PartScores("a", 0, 200, scores, labels, threshold, 0.0),
                             PartScores("b", 0, 200, scores.copy(), labels.copy(), threshold, 0.0)])
    assert metrics["nab_opt"] == pytest.approx(100.0)  # above 5: only the window's first row, twice
    assert 5.0 < metrics["nab_opt_threshold"] <= 9.0
    assert metrics["nab"] < 100.0  # at the validation threshold (1.0) the false alarms count


def test_a_nab_tree_given_alone_gets_nabs_protocol(tmp_path, capsys):
    # whatever data.val_split says: training on the probationary period, validation on its
    # tail, the test part everything after it; no label of the probationary period sets a
    # threshold or picks the checkpoint (a window lies in it here); the novelty is causal
    from convkit import config as config_io
    from convkit.tasks.timeseries.config import TimeSeriesRunConfig
    from convkit.tasks.timeseries.detection import SeriesDetectionTask

    rows = 800
    times = np.datetime64("2015-09-01T00:00") + np.arange(rows) * np.timedelta64(5, "m")
    values = np.sin(np.arange(rows) / 6.0) + 0.1 * np.random.default_rng(0).standard_normal(rows)
    (tmp_path / "data" / "realX").mkdir(parents=True)
    (tmp_path / "labels").mkdir()
    with open(tmp_path / "data" / "realX" / "a.csv", "w") as f:
        f.write("timestamp,value\n" + "".join(f"{str(t).replace('T', ' ')}:00,{v:.4f}\n" for t, v in zip(times, values)))
    stamp = lambda i: str(times[i]).replace("T", " ") + ":00.000000"  # noqa: E731
    (tmp_path / "labels" / "combined_windows.json").write_text(json.dumps(
        {"realX/a.csv": [[stamp(100), stamp(110)], [stamp(500), stamp(540)]]}))
    cfg = config_io.resolve_config(TimeSeriesRunConfig, sets=[f"data.path={tmp_path}", "task.context=8",
                                                                "task.window=32", "data.val_split=after_train"])
    data = SeriesDetectionTask().build_data(cfg)
    s = data.test.series[0]
    assert s.parts.fit == (0, 90) and s.parts.val == (90, 120) and s.parts.test == (120, rows)
    assert s.labels[slice(*s.parts.val)].any() and (data.monitor, data.monitor_mode) == ("loss", "min")
    assert data.info.novelty == "past"  # causal and online: every earlier step, as NAB runs detectors
    assert "NAB protocol (1 series): train on each file's probationary period (its first 15%)" in capsys.readouterr().err
