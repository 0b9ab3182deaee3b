"""The anomaly likelihood (convkit.tasks.timeseries.likelihood): NAB's HTM scores reproduced
from its raw scores, causality, a lasting shift reported once, the range rule; the fixed
threshold rule it brings (task.likelihood*), NAB files scored whole (probation, categories)
and the causal discord."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from convkit.errors import ConfigError
from convkit.tasks.timeseries.likelihood import (
    LIKELIHOOD_THRESHOLD,
    NUMENTA_FLOORS,
    Likelihood,
    anomaly_likelihood,
    log_likelihood,
    range_anomalies,
)
from convkit.tasks.timeseries.nab import ScoredFile, nab_scores, probationary_rows

NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "nab"


@pytest.mark.skipif(not (NAB / "results" / "numenta").is_dir(), reason="../shared/data/nab (NAB's results) is absent")
def test_reproduces_nabs_htm_anomaly_scores_from_its_raw_scores():
    # NAB's numenta detector: Numenta's likelihood of HTM's raw scores (its floors and flat
    # check), then its spatial anomaly; every published anomaly_score of the 7 files
    files = sorted((NAB / "results" / "numenta" / "realKnownCause").glob("numenta_*.csv"))
    assert len(files) == 7
    for path in files:
        with open(path) as f:
            rows = list(csv.DictReader(f))
        raw = np.array([float(r["raw_score"]) for r in rows])
        values = np.array([float(r["value"]) for r in rows])
        published = np.array([float(r["anomaly_score"]) for r in rows])
        ours = anomaly_likelihood(raw, probationary_rows(len(rows)), floors=NUMENTA_FLOORS, values=values)
        ours[range_anomalies(values)] = 1.0
        np.testing.assert_allclose(ours, published, atol=1e-7, err_msg=path.name)


def test_the_likelihood_is_causal_and_its_probation_reports_nothing():
    rng = np.random.default_rng(0)
    raw = np.abs(rng.standard_normal(1200))
    full = anomaly_likelihood(raw, probation=180, short=5, long=400, reestimate=50)
    for t in (181, 250, 699, 700, 1001):
        np.testing.assert_array_equal(anomaly_likelihood(raw[:t], 180, 5, 400, 50), full[:t])
    assert np.all(full[:180] == log_likelihood(0.5))  # likelihood 0.5 while it learns
    assert full.min() >= 0 and full.max() <= 1


def test_a_lasting_shift_is_reported_at_its_start_and_once():
    rng = np.random.default_rng(1)
    raw = rng.standard_normal(3000)
    raw[2000:2300] += 6.0  # a lasting change in the raw score
    scores = anomaly_likelihood(raw, probation=450)
    flagged = np.flatnonzero(scores >= LIKELIHOOD_THRESHOLD)
    assert 2000 <= flagged[0] < 2010  # nothing before the shift, its first red step flagged
    assert flagged[1] >= 2100  # then nothing until the distribution is re-fitted with the shift in it
    assert np.isclose(scores[flagged[0] + 1:2100], log_likelihood(1 - 1e-3)).mean() > 0.5  # the rest: yellow
    # the same score scaled and shifted: the same likelihood (it carries across series)
    np.testing.assert_allclose(anomaly_likelihood(100 * raw + 7, probation=450), scores, atol=1e-9)


def test_a_flat_raw_score_reports_nothing_and_bad_windows_are_one_line():
    assert np.all(anomaly_likelihood(np.ones(500), probation=75) == log_likelihood(0.5))
    with pytest.raises(ConfigError, match="at least 1 step"):
        anomaly_likelihood(np.ones(50), 10, short=0)


def test_the_range_rule_flags_a_value_beyond_everything_seen_by_its_margin():
    v = np.r_[5 + 5 * np.sin(np.arange(50) / 3), 10.4, 11.2, 5.0, -0.6]
    flags = range_anomalies(v)
    assert list(np.flatnonzero(flags[50:]) + 50) == [51, 53]  # 10.4 is within 5 % of the range (10) of the max, 11.2 and -0.6 beyond
    assert not range_anomalies(np.r_[3.0, 3.0, 3.0]).any()  # a single value so far: no range
    s = Likelihood(short=5, long=200, reestimate=20).apply(np.zeros(len(v)), 10, v[:, None])
    assert s[51] == s[53] == 1.0 and s[50] < LIKELIHOOD_THRESHOLD
    assert flags[2] and s[2] < LIKELIHOOD_THRESHOLD  # the range grows at the start: not flagged while learning


def test_nab_files_get_the_likelihood_and_its_fixed_threshold_others_a_validation_threshold():
    from convkit import config as config_io
    from convkit.tasks.timeseries.calibration import Calibration, calibrate
    from convkit.tasks.timeseries.config import TimeSeriesRunConfig

    task = TimeSeriesRunConfig().task
    nab = task.scoring("past", ["nab", "nab"])
    assert nab.likelihood == Likelihood() and nab.likelihood.threshold == LIKELIHOOD_THRESHOLD
    assert not nab.errors  # the online novelty alone under NAB's protocol
    assert task.novelty_mode(["nab"]) == "past" and task.novelty_mode(["", "nab"]) == "series"
    other = task.scoring("series", [""])
    assert other.likelihood is None and other.errors
    cfg = config_io.resolve_config(TimeSeriesRunConfig, sets=["task.likelihood=true", "task.likelihood_short=4",
                                                              "task.range_rule=false",
                                                              "task.likelihood_threshold=0.4"])
    chosen = cfg.task.scoring("series", [""])
    assert chosen.likelihood == Likelihood(short=4, range_rule=False, threshold=0.4) and chosen.errors
    with pytest.raises(ConfigError, match="likelihood_long"):
        config_io.resolve_config(TimeSeriesRunConfig, sets=["task.likelihood_long=0"])
    # no label sets the threshold: the rule is the fixed log-likelihood, labels or not
    errors = np.random.default_rng(0).standard_normal((200, 2))
    labels = np.zeros(200, dtype=np.int64)
    labels[50:60] = 1
    cal, _ = calibrate(errors, labels, "mean", 1, "auto", 0.99, "past", chosen.likelihood)
    assert (cal.rule, cal.threshold) == ("likelihood", 0.4)
    again = Calibration.from_dict(cal.to_dict())
    assert again.likelihood == cal.likelihood and again.rule == "likelihood"
    with pytest.raises(ConfigError, match="task.forecast_errors"):
        calibrate(errors, None, "mean", 1, "auto", 0.99, "", chosen.likelihood, errors=False)


def test_a_nab_file_is_scored_whole_without_its_probation_and_per_category():
    from convkit.tasks.timeseries.metrics import PartScores, split_metrics

    n, prob = 400, 60
    labels = np.zeros(n, dtype=np.int64)
    labels[200:240] = 1
    test = np.zeros(n - prob)
    test[200 - prob] = 1.0  # the window's first row
    a = PartScores("realA/a", prob, n, test, labels[prob:], 0.5, 0.0, [(10, 30), (200, 239)])
    quiet = PartScores("artificialNoAnomaly/b", prob, n, np.zeros(n - prob), np.zeros(n - prob, np.int64), 0.5,
                       0.0, [])
    metrics = split_metrics([a, quiet])
    assert metrics["nab"] == pytest.approx(100.0)  # the window inside the probation counts for nothing
    assert metrics["nab_opt"] == pytest.approx(100.0)
    categories = metrics["nab_categories"]
    assert set(categories) == {"realA", "artificialNoAnomaly"}
    assert categories["realA"]["nab_opt"] == pytest.approx(100.0)
    assert categories["artificialNoAnomaly"]["nab_raw"] == 0.0  # no windows, no false positive
    noisy = np.zeros(n - prob)
    noisy[[100, 300]] = 1.0  # two false positives in a file without windows cost the corpus
    metrics = split_metrics([a, PartScores("artificialNoAnomaly/b", prob, n, noisy, None, 0.5, 0.0, [])])
    assert metrics["nab"] < 100.0 and metrics["nab_categories"]["artificialNoAnomaly"]["nab_raw"] < 0
    # the corpus optimum and the file's own threshold agree with NAB's scorer on one file
    whole = np.r_[np.full(prob, -np.inf), test]
    assert nab_scores([ScoredFile(whole, [(10, 30), (200, 239)], 0.5, prob)])["nab"] == pytest.approx(100.0)


def test_the_causal_discord_looks_only_back():
    from convkit.tasks.timeseries.baselines import discord_scores

    rng = np.random.default_rng(0)
    x = np.sin(np.arange(600) * 2 * math.pi / 40) + 0.05 * rng.standard_normal(600)
    x[450:460] += 1.5
    full = discord_scores(x, 40, causal=True)
    assert np.isnan(full[:39]).all() and len(full) == len(x)
    np.testing.assert_allclose(discord_scores(x[:300], 40, causal=True), full[:300], atol=1e-9, equal_nan=True)
    assert 450 <= int(np.nanargmax(full[100:])) + 100 < 500  # the bump is far from every earlier subsequence


def test_a_nab_run_flags_at_the_likelihood_rule_and_writes_nabs_results_layout(tmp_path):
    # a NAB tree of one file: a noisy wave, a spike far beyond every earlier value inside its
    # window after the probationary period (300 rows); trained from --data alone (tiny)
    import json

    from convkit import config as config_io
    from convkit.tasks.timeseries.config import TimeSeriesRunConfig
    from convkit.tasks.timeseries.detection import SeriesDetectionTask
    from convkit.train.engine import fit

    rows = 2000
    times = np.datetime64("2015-09-01T00:00") + np.arange(rows) * np.timedelta64(5, "m")
    values = np.sin(np.arange(rows) / 6.0) + 0.1 * np.random.default_rng(0).standard_normal(rows)
    values[1500] += 10.0
    (tmp_path / "nab" / "data" / "realX").mkdir(parents=True)
    (tmp_path / "nab" / "labels").mkdir()
    text = "".join(f"{str(t).replace('T', ' ')}:00,{v:.4f}\n" for t, v in zip(times, values))
    (tmp_path / "nab" / "data" / "realX" / "a.csv").write_text("timestamp,value\n" + text)
    stamp = lambda i: str(times[i]).replace("T", " ") + ":00.000000"  # noqa: E731
    (tmp_path / "nab" / "labels" / "combined_windows.json").write_text(json.dumps(
        {"realX/a.csv": [[stamp(1480), stamp(1540)]]}))
    cfg = config_io.resolve_config(TimeSeriesRunConfig, sets=[
        f"data.path={tmp_path / 'nab'}", "task.context=8", "task.window=32", "train.epochs=2", "train.device=cpu",
        "train.baselines=false", "model.options.channels=8", "train.checkpoint_every=0"])
    result = fit(SeriesDetectionTask(), cfg, tmp_path / "runs")
    test = result.metrics["test"]
    assert test["threshold"] == LIKELIHOOD_THRESHOLD  # the fixed rule: no label set it
    assert test["nab"] > 0 and test["nab_categories"]["realX"]["nab"] == pytest.approx(test["nab"])
    written = result.run_dir / "nab_results" / "convkit" / "realX" / "convkit_a.csv"
    with open(written) as f:
        out = list(csv.DictReader(f))
    assert list(out[0]) == ["timestamp", "value", "anomaly_score", "label"] and len(out) == rows
    assert out[0]["timestamp"] == "2015-09-01 00:00:00" and float(out[1500]["value"]) == pytest.approx(values[1500],
                                                                                                        abs=1e-4)
    scores = np.array([float(r["anomaly_score"]) for r in out])
    assert scores[1500] == 1.0 and scores.min() >= 0 and scores.max() <= 1
    assert [int(r["label"]) for r in out[1479:1542]] == [0] + [1] * 61 + [0]


def test_the_scoreboard_puts_a_run_beside_nabs_published_detectors(tmp_path, capsys):
    import json

    from convkit.tasks.timeseries.scoreboard import main, published_scores

    root = tmp_path / "nab"
    (root / "data" / "realX").mkdir(parents=True)
    (root / "data" / "artificialNoAnomaly").mkdir(parents=True)
    for name in ("realX/a.csv", "realX/b.csv", "artificialNoAnomaly/c.csv"):
        (root / "data" / name).write_text("timestamp,value\n")
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(json.dumps(
        {"realX/a.csv": [["t0", "t1"], ["t2", "t3"]], "realX/b.csv": [["t0", "t1"]], "artificialNoAnomaly/c.csv": []}))
    (root / "scoreboard").mkdir()
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        rows = [("realX/a.csv", 1.5), ("realX/b.csv", 0.5), ("artificialNoAnomaly/c.csv", -0.22)]
        (root / "scoreboard" / f"htm_{profile}_scores.csv").write_text(
            "Detector,Profile,File,Threshold,Score\n" + "".join(f"htm,{profile},{f},0.5,{s}\n" for f, s in rows))
        (root / "scoreboard" / f"partial_{profile}_scores.csv").write_text(
            f"Detector,Profile,File,Threshold,Score\npartial,{profile},realX/a.csv,0.5,1.0\n")
    board = published_scores(root, ["artificialNoAnomaly/c.csv", "realX/a.csv", "realX/b.csv"])
    assert set(board) == {"htm"}  # a table without every file is left out
    # 3 windows: null -3, perfect 3; raw 1.78 over all files, 2.0 in realX
    assert board["htm"]["standard"]["all"] == pytest.approx(100 * (1.78 + 3) / 6)
    assert board["htm"]["standard"]["realX"] == pytest.approx(100 * 5 / 6)
    assert board["htm"]["reward_low_FN_rate"]["realX"] == pytest.approx(100 * (2 + 6) / 9)  # A_FN 2
    run = tmp_path / "run"
    run.mkdir()
    cats = {"realX": {k: 70.0 for k in ("nab_opt", "nab", "nab_opt_low_fp", "nab_low_fp", "nab_opt_low_fn",
                                         "nab_low_fn")}}
    test = {"nab_categories": cats, "nab_opt": 71.0, "nab": 60.0, "nab_opt_low_fp": 65.0, "nab_low_fp": 55.0,
            "nab_opt_low_fn": 75.0, "nab_low_fn": 66.0}
    (run / "metrics.json").write_text(json.dumps({"model": "tcn", "test": test, "baselines": {}}))
    assert main([str(run), "--nab", str(root)]) == 0
    out = capsys.readouterr().out
    assert "| **convkit tcn** | 70.0 | 71.0 |" in out and "| htm | 83.3 | 79.7 |" in out
    assert out.index("| htm |") < out.index("convkit tcn**")  # best first
    assert main([str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "metrics.json: not found" in err and err.count("\n") == 1


@pytest.mark.skipif(not (NAB / "scoreboard").is_dir(), reason="../shared/data/nab (NAB's scoreboard) is absent")
def test_the_published_scores_are_the_scoreboard_readmes():
    from convkit.tasks.timeseries.scoreboard import published_scores

    files = sorted(p.relative_to(NAB / "data").as_posix() for p in (NAB / "data").rglob("*.csv"))
    board = published_scores(NAB, files)
    assert round(board["numenta"]["standard"]["all"], 1) == 66.3 and round(board["ARTime"]["standard"]["all"], 1) == 74.8
    assert round(board["numenta"]["standard"]["realKnownCause"], 1) == 55.5
    assert round(board["numenta"]["reward_low_FN_rate"]["all"], 1) == 71.1


def test_streaming_refuses_a_nab_calibration_in_one_line():
    from convkit.models.tcn import tcn_forecaster
    from convkit.tasks.timeseries.calibration import Calibration
    from convkit.tasks.timeseries.streaming import StreamingDetector

    model = tcn_forecaster(in_channels=1, channels=4, levels=2)
    for cal in (Calibration(np.zeros(2), np.ones(2), 0.5, "likelihood", 1, "past", Likelihood(), False),
                Calibration(np.zeros(1), np.ones(1), 0.5, "likelihood", 1, "", Likelihood())):
        with pytest.raises(ConfigError, match="streaming does not compute yet"):
            StreamingDetector(model, np.zeros(1), np.ones(1), cal)


def test_a_validation_threshold_rule_with_the_likelihood_is_one_line():
    from convkit import config as config_io
    from convkit.tasks.timeseries.config import TimeSeriesRunConfig

    cfg = config_io.resolve_config(TimeSeriesRunConfig, sets=["task.threshold=quantile"])
    assert cfg.task.scoring("series", [""]).likelihood is None  # no likelihood: the quantile applies
    with pytest.raises(ConfigError, match="task.threshold=quantile sets a threshold on validation scores"):
        cfg.task.scoring("past", ["nab"])
