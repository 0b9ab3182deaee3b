"""The baselines every time-series run is measured against.

Anomaly mode, scored like the model on each series' test part: ``linear`` (a ridge
autoregressive forecaster over the model's receptive field) and ``mlp`` (a one-hidden-layer
MLP forecaster with about the model's parameter count), whose errors go through the same
scaling, threshold and metrics (:func:`forecaster_baselines`); and the classical
``rolling_zscore``, ``isolation_forest`` and ``discord`` (matrix-profile discords, stumpy)
(:func:`classical_baselines`). Classify mode: 1-nearest-neighbour with Euclidean distance,
the classic UCR baseline (:func:`nn1_euclidean`), beside the shared ``linear`` and ``mlp``
on the flattened series (:func:`flatten_series`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math
import warnings
from typing import Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from convkit.errors import ConfigError, DataError
from convkit.tasks.timeseries.calibration import Scoring, combine_channels, dominant_period
from convkit.tasks.timeseries.config import TimeSeriesRunConfig
from convkit.tasks.timeseries.data import znormalise
from convkit.tasks.timeseries.metrics import split_metrics
from convkit.tasks.timeseries.scores import forecast_errors
from convkit.tasks.timeseries.series import PreparedSeries, score_series
from convkit.train.baselines import mlp_hidden_units, one_blas_thread, sklearn_mlp_params
from convkit.train.baselines import scores as baseline_scores
from convkit.train.task import Data


# ----------------------------------------------------------------------------- anomaly mode: windows, classical scores


def make_windows(
    values: np.ndarray | torch.Tensor, context: int, horizon: int = 1
) -> tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]:
    """Sliding forecasting windows over ``values [T, C]``, without copying.

    Returns:
        ``(inputs [N, C, context], targets [N, C, horizon])`` with ``N = T - context - horizon + 1``:
        window ``i`` sees steps ``[i, i + context)`` and predicts ``[i + context, i + context + horizon)``.
        Numpy input gives read-only strided views (``sliding_window_view``); a tensor gives
        ``Tensor.unfold`` views.
    """
    context, horizon = int(context), int(horizon)
    if context < 1 or horizon < 1:
        raise ConfigError(f"context and horizon must be at least 1; got context={context}, horizon={horizon}")
    if values.ndim != 2:
        raise DataError(f"make_windows expects values [T, C]; got shape {tuple(values.shape)}")
    span = context + horizon
    if values.shape[0] < span:
        raise DataError(
            f"the series has {values.shape[0]} steps, fewer than context ({context}) + horizon ({horizon})"
        )
    if isinstance(values, torch.Tensor):
        windows = values.unfold(0, span, 1)  # [N, C, span]
    else:
        windows = sliding_window_view(values, span, axis=0)  # [N, C, span]
    return windows[..., :context], windows[..., context:]


def rolling_zscore_scores(values: np.ndarray, window: int, combine: str = "max") -> np.ndarray:
    """Classical baseline: how far each step lies from the mean of the ``window`` steps before it.

    Per channel, ``|x_t - mean(x[t-window:t])| / std(x[t-window:t])`` (fewer steps at the
    start; step 0 scores 0), from running sums, so one vectorised pass; channels are then
    combined by ``max`` (default) or ``mean``. A standard deviation below 1e-3 of the
    channel's overall one is raised to it, so a flat stretch does not divide by zero.

    Args:
        values: ``[T, C]``.

    Returns:
        float64 ``[T]``.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    window = int(window)
    if window < 2:
        raise ConfigError(f"rolling z-score window must be at least 2; got {window}")
    x = x - x.mean(axis=0)  # centring keeps the running sums of squares accurate
    zero = np.zeros((1, x.shape[1]))
    s1 = np.concatenate([zero, np.cumsum(x, axis=0)])  # s1[t] = sum of x[:t]
    s2 = np.concatenate([zero, np.cumsum(x * x, axis=0)])
    t = np.arange(x.shape[0])
    lo = np.maximum(t - window, 0)
    count = (t - lo)[:, None].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (s1[t] - s1[lo]) / count
        var = np.maximum((s2[t] - s2[lo]) / count - mean**2, 0.0)
    floor = 1e-3 * x.std(axis=0)
    floor = np.where(floor > 0, floor, 1e-12)
    z = np.abs(x - mean) / np.maximum(np.sqrt(var), floor)
    z[0] = 0.0
    return combine_channels(z, combine)


def isolation_forest_scores(
    values: np.ndarray, window: int, train_end: int, seed: int = 0, n_estimators: int = 100
) -> np.ndarray:
    """Classical baseline: scikit-learn's IsolationForest on flattened sliding windows.

    Each window of ``window`` steps (all channels, ``C * window`` features, taken as a
    strided view) is scored; the forest is fitted on the windows that end inside the
    training part ``[0, train_end)``. A window's score goes to its last step, so the score
    is causal; the first ``window - 1`` steps take the first window's score. Keep windows
    short: an anomaly in one step of one channel is one feature among ``C * window``, and
    the random splits of the forest rarely pick it when there are many.

    Args:
        values: ``[T, C]``.

    Returns:
        float64 ``[T]``, higher = more anomalous (the negated ``score_samples``).
    """
    x = np.asarray(values, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    window = int(window)
    if window < 1:
        raise ConfigError(f"isolation forest window must be at least 1; got {window}")
    if train_end - window + 1 < 2:
        raise DataError(
            f"isolation forest needs at least 2 training windows: train part of {train_end} steps, window {window}"
        )
    windows = sliding_window_view(x, window, axis=0).reshape(x.shape[0] - window + 1, -1)  # [N, C * window]
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=n_estimators, random_state=seed)
    forest.fit(windows[: train_end - window + 1])
    scores = -forest.score_samples(windows).astype(np.float64)
    return np.concatenate([np.full(window - 1, scores[0]), scores])


def discord_scores(values: np.ndarray, m: int, causal: bool = False) -> np.ndarray:
    """Matrix-profile discord baseline: each step's score is the z-normalised Euclidean
    distance from the length-``m`` subsequence centred on it to its nearest non-trivial
    neighbour anywhere in the series (stumpy's self-join, exclusion zone ``m/4``), as the
    UCR anomaly archive's paper scores discords (Wu & Keogh, TKDE 2021). The top discord is
    the argmax. ``causal`` (an online protocol such as NAB's): the left matrix profile
    instead, the distance from the subsequence *ending* at each step to its nearest
    neighbour among the earlier ones (stumpy's left indices; NaN before the first
    subsequence with an earlier neighbour). Several channels: each channel's profile
    divided by ``2 sqrt(m)`` (the largest z-normalised distance), then averaged. Steps
    within ``m/2`` of either end take the nearest subsequence's distance. O(T^2) time;
    stumpy is imported here so the rest of convkit never loads numba, and its compiled
    functions are cached on disk (:func:`_stumpy`).

    Args:
        values: ``[T, C]`` (or ``[T]``).
        m: the subsequence length, e.g.
            :func:`~convkit.tasks.timeseries.calibration.dominant_period` of the training part.

    Returns:
        float64 ``[T]``.
    """
    stumpy = _stumpy()
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    m = int(m)
    if m < 3:
        raise ConfigError(f"discord subsequence length must be at least 3; got {m}")
    if x.shape[0] < 2 * m:
        raise DataError(f"the discord baseline needs at least 2 subsequences of {m} steps; the series has "
                        f"{x.shape[0]} steps")
    profile = np.zeros(x.shape[0] - m + 1)
    # numba's OpenMP threads, started by the first stump of a process, reset the OpenMP
    # thread count torch shares: keep train.threads for the training that follows
    threads = torch.get_num_threads()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # stumpy warns about constant subsequences (they are scored)
            for c in range(x.shape[1]):
                mp = stumpy.stump(x[:, c], m)
                p = (_left_distances(x[:, c], m, np.asarray(mp[:, 2], dtype=np.int64)) if causal
                     else np.asarray(mp[:, 0], dtype=np.float64))
                profile += (p if causal else np.nan_to_num(p, nan=0.0, posinf=0.0)) / (2 * np.sqrt(m))
    finally:
        torch.set_num_threads(threads)
    profile /= x.shape[1]
    if causal:  # the subsequence [i, i + m) is known at its last step
        return np.concatenate([np.full(m - 1, np.nan), profile])
    half = m // 2
    return np.concatenate([np.full(half, profile[0]), profile, np.full(x.shape[0] - len(profile) - half,
                                                                         profile[-1])])


def _left_distances(x: np.ndarray, m: int, left: np.ndarray) -> np.ndarray:
    """``[T - m + 1]``: the z-normalised distance from each length-``m`` subsequence of
    ``x [T]`` to the subsequence its ``left [T - m + 1]`` index names (NaN where it is -1:
    no earlier neighbour). A constant subsequence is at 0 from another constant one and at
    ``sqrt(m)`` from any other (stumpy's convention)."""
    windows = sliding_window_view(x, m)  # [N, m]
    mean, std = windows.mean(axis=1), windows.std(axis=1)
    has = left >= 0
    j = np.where(has, left, 0)
    flat = std < 1e-12
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = ((windows * windows[j]).sum(axis=1) - m * mean * mean[j]) / (m * std * std[j])
    d = np.sqrt(np.maximum(2 * m * (1 - np.clip(corr, -1, 1)), 0))
    d = np.where(flat & flat[j], 0.0, np.where(flat | flat[j], np.sqrt(m), d))
    return np.where(has, d, np.nan)


@functools.cache
def _stumpy():
    """stumpy, imported on first use with numba's on-disk cache enabled for its compiled
    functions (what ``stumpy.cache.save`` enables): the first process ever compiles them,
    later ones load them from the cache."""
    import stumpy
    import stumpy.cache

    for module, name in stumpy.cache.get_njit_funcs():
        function = getattr(importlib.import_module(f"stumpy.{module}"), name, None)
        if hasattr(function, "enable_caching"):
            function.enable_caching()
    return stumpy


# ----------------------------------------------------------------------------- anomaly mode: scored like the model


def forecaster_baselines(cfg: TimeSeriesRunConfig, data: Data, params: int) -> dict:
    """``linear`` (ridge regression) and ``mlp`` (scikit-learn's MLPRegressor, one hidden
    layer of :func:`~convkit.train.baselines.mlp_hidden_units` for ``params``) forecasters
    of the next ``task.horizon`` steps of every channel from the last receptive-field steps
    ``[C * receptive field]``, predicting the change from the last step (as the TCN does).
    Trained on the windows of the training parts (at most ``task.baseline_max_train``,
    evenly spaced); their errors are scored like the model's: ``{"test": metrics}``
    (``mlp`` also ``"params"``)."""
    series: list[PreparedSeries] = data.test.series
    horizon = cfg.task.horizon
    shortest = min(s.parts.fit[1] - s.parts.fit[0] for s in series)
    lags = max(1, min(int(data.info.receptive_field), shortest - horizon))
    counts = [s.parts.fit[1] - s.parts.fit[0] - lags - horizon + 1 for s in series]
    every = max(1, math.ceil(sum(counts) / cfg.task.baseline_max_train))
    xs, ys = [], []
    for s in series:
        lo, hi = s.parts.fit
        inputs, targets = make_windows(s.values.T.numpy()[lo:hi], lags, horizon)  # [N, C, lags], [N, C, H]
        inputs, targets = inputs[::every], targets[::every]
        xs.append(inputs.reshape(len(inputs), -1))
        ys.append((targets - inputs[..., -1:]).reshape(len(targets), -1))
    channels = series[0].values.shape[0]
    x, y = np.concatenate(xs), np.concatenate(ys)
    y = y[:, 0] if y.shape[1] == 1 else y  # one target: the 1D form scikit-learn expects
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Ridge
    from sklearn.neural_network import MLPRegressor

    hidden = mlp_hidden_units(params, x.shape[1], channels * horizon)
    models = {"linear": Ridge(alpha=1.0),
              "mlp": MLPRegressor(hidden_layer_sizes=(hidden,), max_iter=100, early_stopping=True, n_iter_no_change=10,
                                  random_state=cfg.train.seed)}
    out = {}
    scoring = baseline_scoring(data)
    for name, model in models.items():
        with warnings.catch_warnings(), one_blas_thread():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x, y)
            results = []
            for i, s in enumerate(series):
                start, end = data.test.span(i)
                errors, sq = _forecaster_errors(model, s.values.T.numpy(), lags, horizon, channels, start, end)
                results.append(score_series(s, start, errors, sq, scoring).part("test"))
        out[name] = {"test": split_metrics(results)}
    out["mlp"]["params"] = sklearn_mlp_params(models["mlp"])
    return out


def _forecaster_errors(model: Any, values: np.ndarray, lags: int, horizon: int, channels: int, start: int,
                       end: int, rows: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """``(abs, sq)`` errors ``[end - start, C]`` of a fitted scikit-learn forecaster on the
    steps ``[start, end)`` of ``values [T, C]``, defined as the TCN forecaster's (NaN where
    a prediction lacks a full window)."""
    first = max(start - horizon - lags, 0)  # the first window whose predictions reach [start, end)
    windows = sliding_window_view(values[first:end], lags, axis=0)  # [W, C, lags], window j ends at first+j+lags-1
    length = end - first
    predictions = np.full((length, channels, horizon), np.nan, dtype=np.float32)
    for lo in range(0, len(windows), rows):
        part = windows[lo:lo + rows]
        change = model.predict(part.reshape(len(part), -1)).reshape(len(part), channels, horizon)
        predictions[lo + lags - 1:lo + lags - 1 + len(part)] = change + part[..., -1:]
    x = torch.from_numpy(np.ascontiguousarray(values[first:end].T, dtype=np.float32))[None]  # [1, C, L]
    abs_err, sq_err = forecast_errors(x, torch.from_numpy(predictions.transpose(1, 2, 0))[None])
    keep = slice(start - first, end - first)
    return abs_err[0].T.double().numpy()[keep], sq_err[0].T.double().numpy()[keep]


def discord_length(cfg: TimeSeriesRunConfig, s: PreparedSeries) -> int:
    """The discord baseline's subsequence length for ``s``: ``task.discord_length``, or (0)
    the dominant period of the series' training part
    (:func:`~convkit.tasks.timeseries.calibration.dominant_period`), at most a quarter of the
    series."""
    m = cfg.task.discord_length or dominant_period(s.source.values[: s.source.train_end])
    return max(3, min(m, s.source.length // 4))


def baseline_scoring(data: Data) -> Scoring:
    """How a baseline's errors or raw scores become scores, as the model's (the run's test
    split's :class:`~convkit.tasks.timeseries.calibration.Scoring`): one column of the
    baseline's own (no novelty column), smoothed, or turned into anomaly likelihoods with
    the same windows and threshold when the model's are."""
    return dataclasses.replace(data.test.scoring, novelty="", errors=True)


def classical_baselines(cfg: TimeSeriesRunConfig, data: Data) -> dict:
    """Rolling z-score, IsolationForest and matrix-profile discords (:func:`discord_scores`,
    subsequences of :func:`discord_length`; causal, the left matrix profile, under an
    online protocol: when the scores are anomaly likelihoods) scored as the model's errors
    are (:func:`baseline_scoring`: scaled on the validation part, then smoothed or turned
    into anomaly likelihoods), thresholded as the model's and measured like the model on
    each series' test part (no ``loss``: they forecast nothing)."""
    t = cfg.task
    scoring = baseline_scoring(data)
    online = scoring.likelihood is not None
    scorers = {"rolling_zscore": lambda v, s: rolling_zscore_scores(v, t.zscore_window),
               "isolation_forest": lambda v, s: isolation_forest_scores(v, t.iforest_window, s.parts.fit[1],
                                                                        seed=cfg.train.seed),
               "discord": lambda v, s: discord_scores(v, discord_length(cfg, s), causal=online)}
    out = {}
    for name, scorer in scorers.items():
        results = []
        for i, s in enumerate(data.test.series):
            start, end = data.test.span(i)
            raw = scorer(s.values.T.numpy(), s)[start:end, None]
            results.append(score_series(s, start, raw, np.full_like(raw, np.nan), scoring).part("test"))
        metrics = split_metrics(results)
        metrics.pop("loss")
        out[name] = {"test": metrics}
    return out


# ----------------------------------------------------------------------------- classify mode


def flatten_series(x: torch.Tensor) -> np.ndarray:
    """Series ``[N, C, L]`` as the model sees them (z-normalised over each series' own
    length when the run normalises, then zero-padded), flattened ``[N, C * L]``."""
    return x.numpy().reshape(len(x), -1)


def nn1_euclidean(data: Data, normalised: bool = True) -> dict:
    """``{"test": metrics}`` of 1-nearest-neighbour (Euclidean) on the flattened series (each
    z-normalised over its own length, zero-padded), the classic UCR baseline, with the whole
    TRAIN file (once, whether or not part of it validates) as the archive computes it.
    ``normalised``: the datasets' series are z-normalised already (else they are here, over
    each series' length, the third tensor of a batch when it has one)."""
    from sklearn.neighbors import KNeighborsClassifier

    def part(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, *rest = dataset.tensors
        if not normalised:
            x = torch.from_numpy(znormalise(x.numpy(), rest[0].numpy() if rest else None))
        return x, y

    (x, y), (xv, yv), (xt, yt) = part(data.train), part(data.val), part(data.test)
    if not (x.shape == xv.shape and torch.equal(x, xv)):  # a held-out part: TRAIN is both
        x, y = torch.cat([x, xv]), torch.cat([y, yv])
    with one_blas_thread():
        model = KNeighborsClassifier(n_neighbors=1).fit(flatten_series(x), y.numpy())
        predictions = model.predict(flatten_series(xt))
    return {"test": baseline_scores(predictions, yt)}
