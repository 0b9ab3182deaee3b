"""The matrix-profile discord baseline and the series-adaptive subsequence length
(convkit.tasks.timeseries.baselines.discord_scores, calibration.dominant_period)."""

from __future__ import annotations

import numpy as np
import pytest

from convkit.errors import ConfigError, DataError
from convkit.tasks.timeseries.baselines import discord_scores
from convkit.tasks.timeseries.calibration import PERIOD_FALLBACK, dominant_period


def wave(length: int, period: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sin(2 * np.pi * np.arange(length) / period) + 0.05 * rng.standard_normal(length)


@pytest.mark.parametrize("period", [20, 50, 144])
def test_dominant_period_is_the_autocorrelation_peak(period: int) -> None:
    assert dominant_period(wave(3000, period)) == period
    two = np.stack([wave(3000, period, 1), wave(3000, period, 2)], axis=1)
    assert dominant_period(two) == period


def test_dominant_period_falls_back_without_a_period_in_range() -> None:
    assert dominant_period(np.linspace(0, 1, 2000)) == PERIOD_FALLBACK  # a trend: no local maximum
    assert dominant_period(np.zeros(500)) == PERIOD_FALLBACK
    assert dominant_period(wave(4000, 350)) == PERIOD_FALLBACK  # longer than 300


def test_the_top_discord_lies_in_the_implanted_anomaly() -> None:
    x = wave(3000, 50)
    rng = np.random.default_rng(1)
    x[2200:2300] = np.sin(2 * np.pi * np.arange(100) / 20) + 0.05 * rng.standard_normal(100)  # a faster cycle
    scores = discord_scores(x, dominant_period(x[:1500]))
    assert scores.shape == (3000,)
    assert 2200 <= int(np.argmax(scores)) < 2300
    # the same anomaly in one of two channels is still the top discord
    both = discord_scores(np.stack([x, wave(3000, 50, 5)], axis=1), 50)
    assert 2200 <= int(np.argmax(both)) < 2300


def test_discord_rejects_bad_lengths() -> None:
    with pytest.raises(ConfigError, match="discord subsequence length must be at least 3; got 2"):
        discord_scores(np.zeros(100), 2)
    with pytest.raises(DataError, match="needs at least 2 subsequences of 60 steps; the series has 100 steps"):
        discord_scores(np.zeros(100), 60)


def test_auto_smoothing_is_an_eighth_of_the_training_period() -> None:
    from convkit.tasks.timeseries.calibration import Calibration, calibrate, smoothing_window
    from convkit.tasks.timeseries.synthetic import make_sensor_series

    embedded = make_sensor_series(8000, 2, seed=0)  # a 96-step daily cycle: the default's 12 steps
    assert smoothing_window(0, embedded.values[: embedded.train_end]) == 12
    assert smoothing_window(0, wave(2000, 20)[:, None]) == 2  # a short beat: a short window
    assert smoothing_window(0, wave(2000, 4)[:, None]) == 1
    assert smoothing_window(5, wave(2000, 20)[:, None]) == 5  # task.smooth given: kept
    cal, _ = calibrate(np.abs(wave(300, 20))[:, None], None, "mean", 3, "quantile", 0.9)
    assert cal.smooth == 3 and Calibration.from_dict(cal.to_dict()).smooth == 3
    old = {k: v for k, v in cal.to_dict().items() if k != "smooth"}  # a checkpoint from before: the config's
    assert Calibration.from_dict(old).smooth == 0
