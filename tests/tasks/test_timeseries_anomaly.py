"""Anomaly scoring, thresholds, metrics, windows and classical baselines
(convkit.tasks.timeseries.calibration, .metrics, .baselines), on hand-computed cases and
small synthetic series."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from convkit.tasks.timeseries.synthetic import make_sensor_series
from convkit.errors import ConfigError, DataError
from convkit.tasks.timeseries.baselines import isolation_forest_scores, make_windows, rolling_zscore_scores
from convkit.tasks.timeseries.calibration import (
    anomaly_scores,
    best_f1_threshold,
    combine_channels,
    flags,
    moving_average,
    quantile_threshold,
    robust_zscore,
)
from convkit.tasks.timeseries.metrics import (
    METRIC_NAMES,
    anomaly_metrics,
    best_f1,
    label_segments,
    point_adjusted_f1,
    pr_auc,
    roc_auc,
    ucr_hit,
)


def exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


def f1_of(flagged: np.ndarray, labels: np.ndarray) -> float:
    tp = np.sum(flagged & (labels == 1))
    fp = np.sum(flagged & (labels == 0))
    fn = np.sum(~flagged & (labels == 1))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


# --------------------------------------------------------------------------- scores


def test_robust_zscore_uses_median_and_mad_of_the_reference() -> None:
    ref = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 5.0], [100.0, 1.0]])
    # channel 0: median 3, MAD median(|-2,-1,0,1,97|) = 1 -> scale 1.4826 (the outlier 100 does not matter)
    # channel 1: median 1, MAD 0 -> falls back to the std of [1,1,1,5,1] = 1.6
    errors = np.array([[3.0, 1.0], [3.0 + 2 * 1.4826, 1.0 + 3 * 1.6]])
    np.testing.assert_allclose(robust_zscore(errors, ref), [[0.0, 0.0], [2.0, 3.0]])
    constant = robust_zscore(np.array([[7.0]]), np.ones((4, 1)))  # no spread at all: scale 1
    np.testing.assert_allclose(constant, [[6.0]])
    with pytest.raises(DataError, match=r"same C; got \(2, 2\) and \(5, 3\)"):
        robust_zscore(errors, np.ones((5, 3)))


def test_combine_channels_and_smoothing() -> None:
    z = np.array([[0.0, 4.0], [2.0, 2.0]])
    np.testing.assert_array_equal(combine_channels(z, "mean"), [2.0, 2.0])
    np.testing.assert_array_equal(combine_channels(z, "max"), [4.0, 2.0])
    with pytest.raises(ConfigError, match=exact("channel combination must be 'mean' or 'max'; got 'sum'")):
        combine_channels(z, "sum")

    np.testing.assert_allclose(moving_average(np.array([1.0, 2, 3, 4]), 2), [1, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(moving_average(np.array([1.0, 2, 3, 4]), 3), [1, 1.5, 2, 3])
    np.testing.assert_allclose(moving_average(np.array([0.0, 0, 3, 0, 0]), 3, causal=False), [0, 1, 1, 1, 0])
    batch = np.random.default_rng(0).normal(size=(50, 3, 2))  # [T, ...]: every other axis is a batch axis
    smoothed = moving_average(batch, 5)
    for i in range(3):
        for j in range(2):
            np.testing.assert_allclose(smoothed[:, i, j], moving_average(batch[:, i, j], 5))
    with pytest.raises(ConfigError, match=exact("smoothing window must be at least 1; got 0")):
        moving_average(batch, 0)


def test_anomaly_scores_normalise_each_channel_before_combining() -> None:
    rng = np.random.default_rng(1)
    ref = np.abs(rng.normal(size=(500, 2))) * [1.0, 100.0]  # channel 1 errors are 100x larger
    errors = np.abs(rng.normal(size=(100, 2))) * [1.0, 100.0]
    errors[40, 0] = 8.0  # large for channel 0, yet tiny next to channel 1's raw errors
    scores = anomaly_scores(errors, ref, combine="max")
    assert int(np.argmax(scores)) == 40
    assert scores.shape == (100,)


# --------------------------------------------------------------------------- thresholds and metrics


SCORES = np.array([0.1, 0.4, 0.35, 0.8])
LABELS = np.array([0, 0, 1, 1])


def test_threshold_free_metrics_on_a_hand_computed_case() -> None:
    assert roc_auc(SCORES, LABELS) == pytest.approx(0.75)  # 3 of the 4 (positive, negative) pairs ordered
    assert pr_auc(SCORES, LABELS) == pytest.approx((1.0 * 0.5) + (2 / 3) * 0.5)  # AP = sum (R_n - R_n-1) P_n
    # thresholds 0.8: F1 2/3; 0.4: 1/2; 0.35: P 2/3, R 1 -> 0.8; 0.1: 2/3
    assert best_f1(SCORES, LABELS) == pytest.approx(0.8)
    assert best_f1_threshold(SCORES, LABELS) == pytest.approx(0.35)
    assert flags(SCORES, 0.35).tolist() == [0, 1, 1, 1]


def test_quantile_threshold() -> None:
    scores = np.arange(101.0)
    assert quantile_threshold(scores, 0.9) == pytest.approx(90.0)
    assert flags(scores, quantile_threshold(scores, 0.9)).sum() == 11
    with pytest.raises(ConfigError, match=exact("threshold quantile must lie strictly between 0 and 1; got 1.0")):
        quantile_threshold(scores, 1.0)


def test_point_adjustment_inflates_f1() -> None:
    labels = np.zeros(200, dtype=int)
    labels[10:20] = 1  # one 10-step anomaly
    scores = np.full(200, 0.1)
    scores[15] = 0.9  # one step inside it scores high
    scores[50] = 0.5  # one false alarm
    # point-wise: at 0.9, P = 1 and R = 1/10 -> F1 = 2/11; no threshold does better
    assert best_f1(scores, labels) == pytest.approx(2 / 11)
    # point-adjusted: the one hit marks all 10 steps found -> P = R = 1
    assert point_adjusted_f1(scores, labels) == pytest.approx(1.0)
    # at 0.5: 10 adjusted true positives and the false alarm -> P = 10/11, R = 1
    assert point_adjusted_f1(scores, labels, threshold=0.5) == pytest.approx(20 / 21)
    assert point_adjusted_f1(scores, labels, threshold=0.95) == 0.0


@pytest.mark.parametrize(("top", "hit"), [(899, 0.0), (900, 1.0), (1050, 1.0), (1199, 1.0), (1200, 0.0)])
def test_ucr_hit_counts_100_steps_either_side(top: int, hit: float) -> None:
    labels = np.zeros(3000, dtype=int)
    labels[1000:1100] = 1  # labelled steps 1000..1099
    scores = np.zeros(3000)
    scores[top] = 1.0
    assert ucr_hit(scores, labels) == hit


def test_ucr_hit_needs_a_single_anomaly() -> None:
    labels = np.array([0, 1, 0, 1, 0])
    message = "ucr_hit needs exactly one labelled anomaly; the labels hold 2 segments"
    with pytest.raises(DataError, match=exact(message)):
        ucr_hit(np.arange(5.0), labels)


def test_anomaly_metrics_names_and_undefined_cases() -> None:
    metrics = anomaly_metrics(SCORES, LABELS, threshold=0.5)
    assert set(metrics) == set(METRIC_NAMES) | {"precision", "recall", "f1"}
    assert metrics["ucr_hit"] == 1.0 and metrics["precision"] == 1.0 and metrics["recall"] == 0.5
    two_segments = anomaly_metrics(np.arange(5.0), np.array([1, 0, 0, 1, 0]))
    assert set(two_segments) == {"roc_auc", "pr_auc", "best_f1", "pa_f1"}
    assert anomaly_metrics(SCORES, np.zeros(4, dtype=int)) == {}
    message = "roc_auc needs both normal (0) and anomalous (1) steps; the labels hold only 0"
    with pytest.raises(DataError, match=exact(message)):
        roc_auc(SCORES, np.zeros(4, dtype=int))


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        (SCORES, LABELS[:3], "pr_auc expects scores [T] and labels [T] of the same length; got (4,) and (3,)"),
        (SCORES, np.array([0, 2, 1, 0]), "pr_auc: labels must be 0 or 1; found 2"),
        (np.array([0.1, np.nan, 0.2, 0.3]), LABELS, "pr_auc: scores hold 1 NaN or infinite values"),
    ],
)
def test_metrics_reject_bad_input(scores: np.ndarray, labels: np.ndarray, message: str) -> None:
    with pytest.raises(DataError, match=exact(message)):
        pr_auc(scores, labels)


@settings(max_examples=80, deadline=None)
@given(arrays(np.int8, st.integers(1, 60), elements=st.integers(0, 1)))
def test_label_segments_rebuild_the_labels(labels: np.ndarray) -> None:
    rebuilt = np.zeros_like(labels)
    segments = label_segments(labels)
    for start, end in segments:
        assert end > start
        rebuilt[start:end] = 1
    np.testing.assert_array_equal(rebuilt, labels)
    assert (segments[1:, 0] > segments[:-1, 1]).all()  # maximal runs: a gap between segments


@settings(max_examples=80, deadline=None)
@given(
    arrays(np.int8, 40, elements=st.integers(0, 1)).filter(lambda a: 0 < a.sum() < 40),
    arrays(np.float64, 40, elements=st.floats(0, 1)),
    st.floats(0, 1),
)
def test_point_adjusted_and_best_f1_match_brute_force(labels: np.ndarray, scores: np.ndarray, threshold: float) -> None:
    flagged = scores >= threshold
    adjusted = flagged.copy()
    for start, end in label_segments(labels):
        if flagged[start:end].any():
            adjusted[start:end] = True
    assert point_adjusted_f1(scores, labels, threshold) == pytest.approx(f1_of(adjusted, labels))
    brute = max(f1_of(scores >= t, labels) for t in np.unique(scores))
    assert best_f1(scores, labels) == pytest.approx(brute)
    assert f1_of(scores >= best_f1_threshold(scores, labels), labels) == pytest.approx(brute)
    assert point_adjusted_f1(scores, labels) >= best_f1(scores, labels) - 1e-12  # adjustment never lowers F1


# --------------------------------------------------------------------------- windows


def test_make_windows_are_strided_views_in_ncl_layout() -> None:
    values = np.arange(20.0).reshape(10, 2)
    inputs, targets = make_windows(values, context=3, horizon=2)
    assert inputs.shape == (6, 2, 3) and targets.shape == (6, 2, 2)
    np.testing.assert_array_equal(inputs[1], values[1:4].T)
    np.testing.assert_array_equal(targets[1], values[4:6].T)
    assert np.shares_memory(inputs, values) and np.shares_memory(targets, values)

    tensor = torch.from_numpy(values)
    t_inputs, t_targets = make_windows(tensor, context=3, horizon=2)
    np.testing.assert_array_equal(t_inputs.numpy(), inputs)
    np.testing.assert_array_equal(t_targets.numpy(), targets)
    assert t_inputs.data_ptr() == tensor.data_ptr()  # a view, not a copy
    with pytest.raises(DataError, match=exact("the series has 10 steps, fewer than context (9) + horizon (2)")):
        make_windows(values, context=9, horizon=2)


# --------------------------------------------------------------------------- baselines


def test_rolling_zscore_matches_the_direct_definition() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(60, 2)) * [1.0, 50.0] + [0.0, 1000.0]
    window = 7
    scores = rolling_zscore_scores(values, window, combine="max")
    expected = np.zeros(60)
    for t in range(1, 60):
        past = values[max(0, t - window) : t]
        std = np.maximum(past.std(axis=0), 1e-3 * values.std(axis=0))
        expected[t] = np.max(np.abs(values[t] - past.mean(axis=0)) / std)
    np.testing.assert_allclose(scores, expected, rtol=1e-6)


def test_baselines_find_obvious_spikes() -> None:
    series = make_sensor_series(channels=1, anomaly_kinds=("spike",), seed=0)
    test = slice(series.train_end, None)
    assert series.labels[test].sum() >= 2
    rolling = rolling_zscore_scores(series.values, window=32)
    forest = isolation_forest_scores(series.values, window=4, train_end=series.train_end, seed=0)
    assert roc_auc(rolling[test], series.labels[test]) > 0.9
    assert roc_auc(forest[test], series.labels[test]) > 0.9


def test_isolation_forest_fits_on_the_training_part_only_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(600, 2))
    scores = isolation_forest_scores(values, window=5, train_end=300, seed=1, n_estimators=30)
    assert scores.shape == (600,)
    np.testing.assert_array_equal(scores, isolation_forest_scores(values, 5, 300, seed=1, n_estimators=30))
    changed = values.copy()
    changed[300:] += 100.0  # steps the forest never trains on
    again = isolation_forest_scores(changed, window=5, train_end=300, seed=1, n_estimators=30)
    np.testing.assert_array_equal(again[:300], scores[:300])
    assert again[320:].min() > scores[:300].max()  # far outside what it learnt: every later window stands out
    with pytest.raises(DataError, match=exact(
        "isolation forest needs at least 2 training windows: train part of 5 steps, window 5"
    )):
        isolation_forest_scores(values, window=5, train_end=5)


def test_a_ucr_archive_file_imposes_the_protocol_and_reports_ucr_hit(tmp_path, capsys):
    from convkit import config as config_io
    from convkit.tasks.timeseries.config import TimeSeriesRunConfig
    from convkit.tasks.timeseries.detection import SeriesDetectionTask

    rng = np.random.default_rng(0)
    values = np.sin(np.arange(1600) * 2 * np.pi / 25) + 0.05 * rng.standard_normal(1600)
    values[1200:1212] += 2.0
    path = tmp_path / "001_UCR_Anomaly_wave_800_1201_1212.txt"
    path.write_text("\n".join(f"{v:.5f}" for v in values))
    # the default config validates after the training end: the archive's protocol overrides it
    cfg = config_io.resolve_config(TimeSeriesRunConfig, sets=[f"data.path={path}", "task.context=30",
                                                              "task.window=128", "model.options.channels=8"])
    data = SeriesDetectionTask().build_data(cfg)
    assert "UCR anomaly archive protocol (1 series)" in capsys.readouterr().err
    parts = data.test.series[0].parts
    assert parts.fit == (0, 600) and parts.val == (600, 800) and parts.test == (800, 1600)
