"""From per-step errors to flagged steps: robust scaling, channel combination, smoothing,
thresholds, and the :class:`Calibration` that holds one series' choices.

Each error column (each channel's errors, and the novelty) is centred on the median of
its errors on the validation part and scaled by the distance from that median to their
99th percentile (:func:`tail_centre_scale`: columns with differently shaped tails then
weigh alike), NaN set to 0, the columns combined (mean or max), then optionally smoothed
by a causal moving average (:func:`smoothing_window`: by default an eighth of the
series' dominant period). The threshold comes from the validation scores: best F1 when
the validation part holds labelled anomalies, else a quantile (:func:`choose_threshold`).

With the anomaly likelihood (``task.likelihood``; NAB's online protocol by default), the
combined score of every step from the series' start is not smoothed but turned into its
anomaly likelihood (:mod:`~convkit.tasks.timeseries.likelihood`), and the threshold is a
fixed log-likelihood (:func:`step_scores`): one rule for every series, no label needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convkit.errors import ConfigError, DataError
from convkit.tasks.timeseries.likelihood import Likelihood
from convkit.tasks.timeseries.metrics import best_f1_point

MAD_TO_STD = 1.4826
"""Scales the median absolute deviation to the standard deviation of a normal distribution."""

TAIL_QUANTILE = 0.99
""":func:`tail_centre_scale` scales by the distance from the median to this quantile."""

COMBINE: tuple[str, ...] = ("mean", "max")
"""How the channels' scores become one score per step (:func:`combine_channels`)."""

THRESHOLD_RULES: tuple[str, ...] = ("auto", "best_f1", "quantile")
"""``auto``: best F1 when the validation part holds both labels, else the quantile (with the
anomaly likelihood: its fixed threshold, rule ``likelihood``)."""


# ----------------------------------------------------------------------------- scaling and combining


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


# ----------------------------------------------------------------------------- smoothing


PERIOD_MAX_LAG = 400
"""The longest lag :func:`dominant_period` looks at (TSB-UAD's ``find_length``)."""

PERIOD_RANGE: tuple[int, int] = (3, 300)
"""Periods outside this range fall back to :data:`PERIOD_FALLBACK` (TSB-UAD's ``find_length``)."""

PERIOD_FALLBACK = 125
"""The subsequence length used when a series shows no period in :data:`PERIOD_RANGE`."""

PERIOD_SAMPLE = 20000
"""At most this many steps (from the start) go into the autocorrelation."""

SMOOTH_PER_PERIOD = 8
"""``task.smooth = 0`` smooths each series' score over this fraction of its dominant period."""


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


def dominant_period(values: np.ndarray) -> int:
    """The dominant period of a series ``[T]`` or ``[T, C]`` from its autocorrelation, as the
    TSB-UAD benchmark chooses a subsequence length (Paparrizos et al., VLDB 2022,
    ``find_length``): the lag of the highest local maximum of the autocorrelation over lags
    3..400 (the first 20,000 steps), or 125 when that lag lies outside 3..300 or there is no
    local maximum. Several channels: the median of their periods. Pass the training part,
    so the choice never sees the test part. It sets the smoothing window
    (:func:`smoothing_window`) and the discord baseline's subsequence length."""
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


def smoothing_window(smooth: int, train_values: np.ndarray) -> int:
    """The causal moving-average window of a series' score: ``smooth`` when positive, else
    (0, auto) an eighth of the dominant period of its training part ``[T, C]``
    (:func:`dominant_period`; at least 1 step): 12 steps for a 96-step daily cycle, 2 for a
    20-step beat. A short anomaly then stays visible against a window much shorter than a
    cycle, while the per-step noise of the errors is averaged over a fixed share of the
    cycle, whatever the sampling rate."""
    if smooth > 0:
        return int(smooth)
    return max(1, int(round(dominant_period(train_values) / SMOOTH_PER_PERIOD)))


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
    threshold, _ = best_f1_point(scores, labels)
    return threshold


def flags(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Per-step 0/1 flags ``[T]`` (int64): 1 where ``score >= threshold``."""
    return (np.asarray(scores) >= threshold).astype(np.int64)


def choose_threshold(scores: np.ndarray, labels: np.ndarray | None, rule: str, quantile: float) -> tuple[float, str]:
    """The threshold on validation ``scores [T]`` and the rule used (``auto`` resolves to
    ``best_f1`` when ``labels [T]`` hold both classes, else ``quantile``)."""
    if rule not in THRESHOLD_RULES:
        raise ConfigError(f"task.threshold must be one of {', '.join(THRESHOLD_RULES)}; got {rule!r}")
    both = labels is not None and 0 < int(np.sum(labels)) < len(labels)
    if rule == "best_f1" and not both:
        raise ConfigError("task.threshold=best_f1 needs labelled anomalies (and normal steps) in the "
                          "validation part; use auto or quantile")
    if rule == "best_f1" or (rule == "auto" and both):
        return best_f1_threshold(scores, labels), "best_f1"
    return quantile_threshold(scores, quantile), "quantile"


# ----------------------------------------------------------------------------- one series' calibration


@dataclass(frozen=True)
class Scoring:
    """The run's settings that turn errors into scores and flags (from ``task``): ``combine``
    (mean/max over columns), ``smooth`` (the score's moving-average window; 0: each series'
    :func:`smoothing_window`), ``threshold`` (a rule of :data:`THRESHOLD_RULES`) and
    ``quantile``, ``novelty``: the novelty mode of the last error column (``train``,
    ``series``, ``past``; empty: no novelty column), ``likelihood``: the anomaly
    likelihood's settings when the scores are likelihoods (None: smoothed scores), and
    ``errors``: the forecast errors' columns count in the score (false: the novelty
    column alone)."""

    combine: str = "mean"
    smooth: int = 0
    threshold: str = "auto"
    quantile: float = 0.99
    novelty: str = ""
    likelihood: Likelihood | None = None
    errors: bool = True


@dataclass
class Calibration:
    """What turns errors into flagged steps: per-column ``centre`` and ``scale`` ``[C]``
    of the validation errors (:func:`tail_centre_scale`), the ``threshold`` on the combined
    score, the ``rule`` that chose it and the ``smooth`` window of the score (0 in
    checkpoints from before it was stored: the config's ``task.smooth`` then); ``novelty``:
    the novelty mode of the last column (``train``, ``series``, ``past``; empty: no novelty
    column); ``likelihood``: the anomaly likelihood's settings when the scores are
    likelihoods (then ``rule`` is ``likelihood`` and ``threshold`` its log-likelihood);
    ``errors``: whether the forecast errors' columns count (false: the novelty alone)."""

    centre: np.ndarray
    scale: np.ndarray
    threshold: float
    rule: str
    smooth: int = 0
    novelty: str = ""
    likelihood: Likelihood | None = None
    errors: bool = True

    def to_dict(self) -> dict:
        """Plain values (for checkpoints)."""
        return {"centre": [float(v) for v in self.centre], "scale": [float(v) for v in self.scale],
                "threshold": float(self.threshold), "rule": self.rule, "smooth": int(self.smooth),
                "novelty": self.novelty, "likelihood": None if self.likelihood is None else self.likelihood.to_dict(),
                "errors": self.errors}

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        """Inverse of ``to_dict``."""
        novelty = d.get("novelty", "")
        return cls(np.asarray(d["centre"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64),
                   float(d["threshold"]), str(d["rule"]), int(d.get("smooth", 0)),
                   "train" if novelty is True else "" if novelty is False else str(novelty),
                   Likelihood.from_dict(d.get("likelihood")), bool(d.get("errors", True)))


def errors_to_scores(errors: np.ndarray, centre: np.ndarray, scale: np.ndarray, combine: str = "mean",
                     smooth: int = 1, use_errors: bool = True) -> np.ndarray:
    """Scores ``[T]`` from errors ``[T, C]`` (the novelty, when there is one, is a column like
    the channels' errors): each column centred and scaled, the columns combined (a step
    with any NaN column, the warm-up, scores 0), a causal moving average over ``smooth``
    steps. ``use_errors`` false: the last column (the novelty) alone."""
    z = (np.asarray(errors, dtype=np.float64) - centre) / scale
    z = z if use_errors else z[:, -1:]
    combined = combine_channels(np.nan_to_num(z, nan=0.0), combine)
    combined[np.isnan(z).any(axis=1)] = 0.0
    return moving_average(combined, smooth)


def calibrate(val_errors: np.ndarray, val_labels: np.ndarray | None, combine: str, smooth: int, rule: str,
              quantile: float, novelty: str = "", likelihood: Likelihood | None = None, errors: bool = True
              ) -> tuple[Calibration, np.ndarray]:
    """Calibration from the validation part's errors ``[T, C]`` (and labels ``[T]``;
    ``novelty``: the last column's novelty mode, empty for none; ``errors`` false: the
    novelty column alone scores). With ``likelihood`` and the rule ``auto``, the threshold
    is its fixed log-likelihood (rule ``likelihood``).

    Returns:
        ``(calibration, validation scores [T])`` (the validation scores combined and smoothed).
    """
    if not errors and not novelty:
        raise ConfigError("the score leaves out the forecast errors but has no novelty column; "
                          "set task.forecast_errors=true or a task.novelty")
    finite = val_errors[np.isfinite(val_errors).all(axis=1)]
    centre, scale = tail_centre_scale(finite if len(finite) else np.zeros((1, val_errors.shape[1])))
    scores = errors_to_scores(val_errors, centre, scale, combine, smooth, errors)
    if likelihood is not None and rule == "auto":
        threshold, used = likelihood.threshold, "likelihood"
    else:
        threshold, used = choose_threshold(scores, val_labels, rule, quantile)
    return Calibration(centre, scale, threshold, used, int(smooth), novelty, likelihood, errors), scores


def step_scores(errors: np.ndarray, cal: Calibration, combine: str, smooth: int, probation: int,
                values: np.ndarray) -> np.ndarray:
    """The scores ``[T]`` of a series' errors ``[T, C]`` from its first step: combined and
    smoothed over ``smooth`` steps (:func:`errors_to_scores`), or with ``cal.likelihood``
    combined and turned into anomaly likelihoods (the first ``probation`` steps learn;
    ``values [T, C]``, the series, for the range rule;
    :meth:`~convkit.tasks.timeseries.likelihood.Likelihood.apply`)."""
    if cal.likelihood is None:
        return errors_to_scores(errors, cal.centre, cal.scale, combine, smooth, cal.errors)
    raw = errors_to_scores(errors, cal.centre, cal.scale, combine, 1, cal.errors)
    return cal.likelihood.apply(raw, probation, values[:len(raw)])
