"""Anomaly scores, thresholds, metrics and classical baselines for time series.

Scores are per time step: higher means more anomalous. Labels are 0/1 per step.

Metrics (names as written to ``metrics.json``):

- ``roc_auc``: area under the ROC curve, point-wise; threshold-free.
- ``pr_auc``: average precision (sklearn's step-wise area under the precision-recall
  curve, no interpolation), point-wise; threshold-free. The main metric: it is not
  flattered by the many normal steps, unlike ROC-AUC.
- ``best_f1``: the best point-wise F1 over all thresholds (an upper bound on what a
  threshold chosen without test labels reaches).
- ``pa_f1``: the best F1 after *point adjustment*: one flagged step inside a labelled
  segment counts the whole segment as found. This protocol is common in papers and
  INFLATES scores (random scores reach a high pa_f1 on long segments); it is reported
  for comparison with that literature, never as the headline.
- ``ucr_hit``: 1.0 if the top-scoring step lies within the (single) labelled segment
  extended by 100 steps on each side, else 0.0 (the UCR anomaly archive's rule).
"""

from __future__ import annotations

import functools
import importlib
import warnings

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from convkit.errors import ConfigError, DataError

METRIC_NAMES: tuple[str, ...] = ("roc_auc", "pr_auc", "best_f1", "pa_f1", "ucr_hit")
"""The label-based metrics :func:`anomaly_metrics` reports (``ucr_hit`` only for a single anomaly)."""

UCR_TOLERANCE = 100
"""Steps on each side of the labelled region that still count as a UCR hit."""

MAD_TO_STD = 1.4826
"""Scales the median absolute deviation to the standard deviation of a normal distribution."""


# ----------------------------------------------------------------------------- scores


def robust_zscore(errors: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Normalise errors per channel by the median and MAD of reference errors.

    Args:
        errors: ``[T, C]`` (or ``[T]``) errors to normalise, e.g. absolute forecast errors.
        ref: ``[T', C]`` (or ``[T']``) errors on normal data (the validation part) that set
            each channel's centre (median) and scale (1.4826 * MAD).

    Returns:
        float64 ``[T, C]``: ``(errors - median) / scale``. A channel whose reference MAD is 0
        falls back to its standard deviation, and to 1 when that is 0 too, so a constant
        reference never divides by zero.
    """
    errors = np.asarray(errors, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if errors.ndim == 1:
        errors = errors[:, None]
    if ref.ndim == 1:
        ref = ref[:, None]
    if errors.ndim != 2 or ref.ndim != 2 or errors.shape[1] != ref.shape[1]:
        raise DataError(
            f"robust_zscore expects errors [T, C] and ref [T', C] with the same C; "
            f"got {tuple(errors.shape)} and {tuple(ref.shape)}"
        )
    centre, scale = robust_centre_scale(ref)
    return (errors - centre) / scale


def robust_centre_scale(ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel centre (median) and scale (1.4826 * MAD) of reference errors ``[T', C]``.

    A channel whose MAD is 0 falls back to its standard deviation, and to 1 when that is
    0 too. These are what :func:`robust_zscore` divides by; a detector stores them to
    score new data the same way.

    Returns:
        float64 ``([C], [C])``.
    """
    ref = np.asarray(ref, dtype=np.float64)
    if ref.ndim == 1:
        ref = ref[:, None]
    if ref.shape[0] == 0:
        raise DataError("robust_zscore: the reference part is empty; it needs at least one step")
    centre = np.median(ref, axis=0)
    scale = MAD_TO_STD * np.median(np.abs(ref - centre), axis=0)
    scale = np.where(scale > 0, scale, ref.std(axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    return centre, scale


TAIL_QUANTILE = 0.99
""":func:`tail_centre_scale` scales by the distance from the median to this quantile."""


def tail_centre_scale(ref: np.ndarray, q: float = TAIL_QUANTILE) -> tuple[np.ndarray, np.ndarray]:
    """Per-column centre (median) and scale (the ``q`` quantile minus the median) of
    reference errors ``[T', C]``: a score of 1 is as far out as the reference's top 1%.

    Columns of different kinds (each channel's forecast error, the feature novelty) have
    differently shaped tails; scaled by their spread (:func:`robust_centre_scale`) a
    heavy-tailed column's normal extremes outvote the others' anomalies when they are
    combined, scaled by their own normal extremes they weigh alike. A column whose
    quantile equals its median falls back to :func:`robust_centre_scale`'s scale.

    Returns:
        float64 ``([C], [C])``.
    """
    centre, fallback = robust_centre_scale(ref)
    ref = np.asarray(ref, dtype=np.float64)
    ref = ref[:, None] if ref.ndim == 1 else ref
    scale = np.quantile(ref, q, axis=0) - centre
    return centre, np.where(scale > 0, scale, fallback)


def combine_channels(z: np.ndarray, how: str = "mean") -> np.ndarray:
    """Reduce per-channel scores ``[T, C]`` to one score per step ``[T]`` by ``mean`` or ``max``.

    ``mean`` favours anomalies that move several correlated channels; ``max`` keeps an
    anomaly in one channel of many from being diluted.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        return z
    if how == "mean":
        return z.mean(axis=1)
    if how == "max":
        return z.max(axis=1)
    raise ConfigError(f"channel combination must be 'mean' or 'max'; got {how!r}")


def moving_average(x: np.ndarray, window: int, causal: bool = True) -> np.ndarray:
    """Smooth along the first (time) axis of ``x [T, ...]``; every other axis is a batch axis.

    ``causal=True`` averages the ``window`` steps ending at each step (fewer at the start),
    so a streaming detector gets the same value; ``causal=False`` centres the window
    (edges repeat the nearest value). ``window=1`` returns ``x`` unchanged (as float64).
    """
    x = np.asarray(x, dtype=np.float64)
    window = int(window)
    if window < 1:
        raise ConfigError(f"smoothing window must be at least 1; got {window}")
    if window == 1:
        return x
    if not causal:
        from scipy.ndimage import uniform_filter1d  # SciPy and scikit-learn load on use (fast `info`)

        return uniform_filter1d(x, size=window, axis=0, mode="nearest")
    csum = np.cumsum(x, axis=0)
    out = csum.copy()
    out[window:] = csum[window:] - csum[:-window]
    counts = np.minimum(np.arange(1, x.shape[0] + 1), window).reshape((-1,) + (1,) * (x.ndim - 1))
    return out / counts


def anomaly_scores(
    errors: np.ndarray, ref: np.ndarray, combine: str = "mean", smooth: int = 1
) -> np.ndarray:
    """One score per step from per-channel errors: robust z-score, channel combination, smoothing.

    Args:
        errors: ``[T, C]`` errors of the steps to score.
        ref: ``[T', C]`` errors on normal data (validation part) for the normalisation.
        combine: ``mean`` or ``max`` over channels.
        smooth: causal moving-average window (1: none).

    Returns:
        float64 ``[T]``.
    """
    return moving_average(combine_channels(robust_zscore(errors, ref), combine), smooth)


# ----------------------------------------------------------------------------- thresholds


def quantile_threshold(scores: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``scores [T]`` (e.g. validation scores): flag steps with ``score >= threshold``."""
    if not 0.0 < q < 1.0:
        raise ConfigError(f"threshold quantile must lie strictly between 0 and 1; got {q}")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        raise DataError("quantile_threshold: no scores to take a quantile of")
    return float(np.quantile(scores, q))


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold (flag ``score >= threshold``) with the best point-wise F1 on ``scores [T]``, ``labels [T]``."""
    threshold, _ = _best_f1(scores, labels)
    return threshold


def flags(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Per-step 0/1 flags ``[T]`` (int64): 1 where ``score >= threshold``."""
    return (np.asarray(scores) >= threshold).astype(np.int64)


# ----------------------------------------------------------------------------- metrics


def label_segments(labels: np.ndarray) -> np.ndarray:
    """The runs of 1s in ``labels [T]`` as int64 ``[S, 2]`` rows ``(start, end)``, ``end`` exclusive."""
    padded = np.concatenate(([0], np.asarray(labels, dtype=np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return edges.reshape(-1, 2).astype(np.int64)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Point-wise ROC-AUC of ``scores [T]`` against ``labels [T]``; threshold-free."""
    from sklearn.metrics import roc_auc_score

    scores, labels = _check_scores_labels(scores, labels, "roc_auc")
    return float(roc_auc_score(labels, scores))


def pr_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Point-wise average precision (the PR-AUC variant that does not interpolate); threshold-free."""
    from sklearn.metrics import average_precision_score

    scores, labels = _check_scores_labels(scores, labels, "pr_auc")
    return float(average_precision_score(labels, scores))


def best_f1(scores: np.ndarray, labels: np.ndarray) -> float:
    """The best point-wise F1 over all thresholds (each step counted on its own; no adjustment)."""
    _, f1 = _best_f1(scores, labels)
    return f1


def point_adjusted_f1(scores: np.ndarray, labels: np.ndarray, threshold: float | None = None) -> float:
    """F1 under the point-adjust protocol; it INFLATES scores, report it only next to ``best_f1``.

    Point adjustment: if any step inside a labelled segment is flagged, every step of that
    segment counts as flagged. A single lucky step in a 1000-step segment thus scores 1000
    true positives. Computed exactly by giving every step of a segment the segment's
    maximum score (a segment is found at threshold t iff its maximum is >= t).

    Args:
        threshold: flag ``score >= threshold``; ``None`` takes the best threshold (the usual "best PA-F1").
    """
    scores, labels = _check_scores_labels(scores, labels, "pa_f1")
    adjusted = scores.copy()
    segments = label_segments(labels)
    bounds = segments.ravel()  # s0, e0, s1, e1, ...: reduceat's even outputs are max(scores[s:e])
    seg_max = np.maximum.reduceat(np.append(scores, -np.inf), bounds)[::2]
    lengths = segments[:, 1] - segments[:, 0]
    adjusted[labels == 1] = np.repeat(seg_max, lengths)
    if threshold is None:
        return best_f1(adjusted, labels)
    return _f1_at(adjusted, labels, threshold)["f1"]


def ucr_hit(scores: np.ndarray, labels: np.ndarray, tolerance: int = UCR_TOLERANCE) -> float:
    """UCR anomaly archive rule: 1.0 if ``argmax(scores)`` lies in ``[first - tolerance, last + tolerance]``,
    where ``first``/``last`` are the first and last labelled steps of the single anomaly; else 0.0.

    Ties go to the earliest step. A series with other than one labelled segment is a DataError.
    """
    scores, labels = _check_scores_labels(scores, labels, "ucr_hit")
    segments = label_segments(labels)
    if len(segments) != 1:
        raise DataError(f"ucr_hit needs exactly one labelled anomaly; the labels hold {len(segments)} segments")
    first, last = int(segments[0, 0]), int(segments[0, 1]) - 1
    top = int(np.argmax(scores))
    return float(first - tolerance <= top <= last + tolerance)


def anomaly_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float | None = None) -> dict[str, float]:
    """Every label-based metric for ``scores [T]`` and ``labels [T]``.

    Returns:
        ``roc_auc``, ``pr_auc``, ``best_f1``, ``pa_f1``; ``ucr_hit`` when the labels hold exactly
        one segment; and, when ``threshold`` is given, ``precision``, ``recall`` and ``f1`` of the
        flags ``score >= threshold``. Empty when the labels hold only one class (no metric is
        defined then).
    """
    scores, labels = _check_scores_labels(scores, labels, "anomaly_metrics", need_both=False)
    if labels.min() == labels.max():
        return {}
    out = {
        "roc_auc": roc_auc(scores, labels),
        "pr_auc": pr_auc(scores, labels),
        "best_f1": best_f1(scores, labels),
        "pa_f1": point_adjusted_f1(scores, labels),
    }
    if len(label_segments(labels)) == 1:
        out["ucr_hit"] = ucr_hit(scores, labels)
    if threshold is not None:
        out.update(_f1_at(scores, labels, threshold))
    return out


def _check_scores_labels(
    scores: np.ndarray, labels: np.ndarray, metric: str, need_both: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 1 or scores.shape != labels.shape:
        raise DataError(
            f"{metric} expects scores [T] and labels [T] of the same length; "
            f"got {tuple(scores.shape)} and {tuple(labels.shape)}"
        )
    if scores.size == 0:
        raise DataError(f"{metric}: no steps to score")
    if not np.isfinite(scores).all():
        raise DataError(f"{metric}: scores hold {int((~np.isfinite(scores)).sum())} NaN or infinite values")
    if not np.isin(labels, (0, 1)).all():
        raise DataError(f"{metric}: labels must be 0 or 1; found {labels[~np.isin(labels, (0, 1))][0].item()!r}")
    labels = labels.astype(np.int64)
    if need_both and labels.min() == labels.max():
        raise DataError(
            f"{metric} needs both normal (0) and anomalous (1) steps; the labels hold only {int(labels[0])}"
        )
    return scores, labels


def _best_f1(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import precision_recall_curve

    scores, labels = _check_scores_labels(scores, labels, "best_f1")
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point (P=1, R=0) has no threshold
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


def _f1_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    flagged = scores >= threshold
    tp = int(np.sum(flagged & (labels == 1)))
    fp = int(np.sum(flagged & (labels == 0)))
    fn = int(np.sum(~flagged & (labels == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


# ----------------------------------------------------------------------------- windows and baselines


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


# ----------------------------------------------------------------------------- matrix-profile discords

PERIOD_MAX_LAG = 400
"""The longest lag :func:`dominant_period` looks at (TSB-UAD's ``find_length``)."""

PERIOD_RANGE: tuple[int, int] = (3, 300)
"""Periods outside this range fall back to :data:`PERIOD_FALLBACK` (TSB-UAD's ``find_length``)."""

PERIOD_FALLBACK = 125
"""The subsequence length used when a series shows no period in :data:`PERIOD_RANGE`."""

PERIOD_SAMPLE = 20000
"""At most this many steps (from the start) go into the autocorrelation."""


def dominant_period(values: np.ndarray) -> int:
    """The dominant period of a series ``[T]`` or ``[T, C]`` from its autocorrelation, as the
    TSB-UAD benchmark chooses a subsequence length (Paparrizos et al., VLDB 2022,
    ``find_length``): the lag of the highest local maximum of the autocorrelation over lags
    3..400 (the first 20,000 steps), or 125 when that lag lies outside 3..300 or there is no
    local maximum. Several channels: the median of their periods. Pass the training part,
    so the choice never sees the test part."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    periods = [_channel_period(x[:PERIOD_SAMPLE, c]) for c in range(x.shape[1])]
    return int(np.median(periods))


def _channel_period(x: np.ndarray) -> int:
    base, lo, hi = 3, *PERIOD_RANGE
    x = x - x.mean()
    n = len(x)
    if n <= base + 2 or not np.any(x):
        return PERIOD_FALLBACK
    spectrum = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[: min(PERIOD_MAX_LAG, n - 1) + 1]
    acf = acf[base:] / acf[0]
    peaks = np.flatnonzero((acf[1:-1] > acf[:-2]) & (acf[1:-1] > acf[2:])) + 1
    if len(peaks) == 0:
        return PERIOD_FALLBACK
    lag = int(peaks[np.argmax(acf[peaks])]) + base
    return lag if lo <= lag <= hi else PERIOD_FALLBACK


def discord_scores(values: np.ndarray, m: int) -> np.ndarray:
    """Matrix-profile discord baseline: each step's score is the z-normalised Euclidean
    distance from the length-``m`` subsequence centred on it to its nearest non-trivial
    neighbour anywhere in the series (stumpy's self-join, exclusion zone ``m/4``), as the
    UCR anomaly archive's paper scores discords (Wu & Keogh, TKDE 2021). The top discord is
    the argmax. Several channels: each channel's profile divided by ``2 sqrt(m)`` (the
    largest z-normalised distance), then averaged. Steps within ``m/2`` of either end take
    the nearest subsequence's distance. O(T^2) time (seconds for tens of thousands of
    steps); stumpy is imported here so the rest of convkit never loads numba, and its
    compiled functions are cached on disk (:func:`_stumpy`).

    Args:
        values: ``[T, C]`` (or ``[T]``).
        m: the subsequence length, e.g. :func:`dominant_period` of the training part.

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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stumpy warns about constant subsequences (they are scored)
        for c in range(x.shape[1]):
            p = np.asarray(stumpy.stump(x[:, c], m)[:, 0], dtype=np.float64)
            profile += np.nan_to_num(p, nan=0.0, posinf=0.0) / (2 * np.sqrt(m))
    profile /= x.shape[1]
    half = m // 2
    return np.concatenate([np.full(half, profile[0]), profile, np.full(x.shape[0] - len(profile) - half,
                                                                         profile[-1])])


@functools.cache
def _stumpy():
    """stumpy, imported on first use with numba's on-disk cache enabled for its compiled
    functions (what ``stumpy.cache.save`` enables): the first process ever compiles them
    (about a minute), later ones load them in about a second."""
    import stumpy
    import stumpy.cache

    for module, name in stumpy.cache.get_njit_funcs():
        function = getattr(importlib.import_module(f"stumpy.{module}"), name, None)
        if hasattr(function, "enable_caching"):
            function.enable_caching()
    return stumpy
