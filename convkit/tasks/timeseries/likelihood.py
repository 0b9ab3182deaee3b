"""Scores that carry across series: the anomaly likelihood of Ahmad et al. (2017) applied to
any raw per-step score, and the range rule NAB's HTM detector adds to it.

**Anomaly likelihood** (Ahmad, Lavin, Purdy & Agha, "Unsupervised real-time anomaly
detection for streaming data", Neurocomputing 2017; the code NAB's ``numenta`` detector
runs, nupic's ``anomaly_likelihood.py``). A raw score's level means little across series
(one series' forecast errors are another's noise), and it spikes on every noisy step.
The likelihood asks instead how unusual the *recent average* of the raw score is under
its *longer-run* distribution:

* the short-term mean ``m_t`` of the last ``short`` raw scores (10);
* a normal distribution fitted (mean, variance) to ``m`` over the last ``long`` steps
  (8640), re-fitted every ``reestimate`` steps (100) from the steps before the current one;
* the tail probability ``q_t = Q((m_t - mean) / std)``, the likelihood ``1 - q_t``;
* of a run of steps in the red zone (``q <= 1e-5``) only the first keeps its value; the
  others are set to the yellow zone (``q = 1e-3``): a lasting change is reported once;
* the score reported is NAB's log-likelihood ``log(1.0000000001 - likelihood) / log(1e-10)``
  in [0, 1] (0.5 at the red zone's edge, 0.3 at the yellow one's).

The first ``probation`` steps score likelihood 0.5 (a log-likelihood of 0.0301): the
distribution is first fitted at step ``probation`` on the steps from ``probation // 2``
on (Numenta's ``learningPeriod`` and ``estimationSamples``, which NAB's detector sets to
the halves of NAB's probationary period). Everything is causal: step ``t``'s score uses
raw scores up to ``t`` only, and the distribution keeps adapting as the series goes on
(online, as NAB's detectors run). :func:`anomaly_likelihood` with ``floors`` and
``values`` is exactly Numenta's (a test reproduces NAB's published HTM scores from its raw
scores); convkit's raw scores are unbounded, so by default no floor applies and a
distribution of zero spread reports nothing (likelihood 0.5).

**Range rule** (NAB's ``numenta`` detector's "spatial anomaly"): a value beyond the range
of every earlier value by more than ``tolerance`` (5 %) of that range scores 1.0
(:func:`range_anomalies`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from convkit.errors import ConfigError, DataError

LIKELIHOOD_SHORT = 10
"""Steps averaged into the short-term mean of the raw score (Numenta's ``averagingWindow``)."""

LIKELIHOOD_LONG = 8640
"""Steps of the long-run history the distribution is fitted on (Numenta's ``historicWindowSize``)."""

LIKELIHOOD_REESTIMATE = 100
"""The distribution is re-fitted every this many steps (Numenta's ``reestimationPeriod``)."""

RED_ZONE = 1e-5
"""Tail probability at or below which a step is in the red zone (Numenta's ``redThreshold`` 0.99999)."""

YELLOW_ZONE = 1e-3
"""The tail probability a red-zone step gets when the step before it was red too (``yellowThreshold`` 0.999)."""

NUMENTA_FLOORS: tuple[float, float] = (0.03, 0.0003)
"""Numenta's lower bounds on the fitted mean and variance, for raw scores in [0, 1] such as
HTM's (``estimateNormal``'s ``performLowerBoundCheck``)."""

FLAT_VARIANCE = 1.5e-5
"""Numenta's check for a flat metric (HTM's quirk): values of less variance report nothing."""

LOG_LIKELIHOOD_RED = math.log(1.0000000001 - (1.0 - RED_ZONE)) / math.log(1e-10)
"""The log-likelihood at the red zone's edge (about 0.5): NAB's HTM flags steps at or above about this."""

RANGE_TOLERANCE = 0.05
""":func:`range_anomalies`' margin, a share of the range seen so far (NAB's numenta ``SPATIAL_TOLERANCE``)."""


def log_likelihood(likelihood: np.ndarray) -> np.ndarray:
    """NAB's ``computeLogLikelihood``: ``log(1.0000000001 - likelihood) / log(1e-10)``, in [0, 1]."""
    return np.log(1.0000000001 - np.asarray(likelihood, dtype=np.float64)) / math.log(1e-10)


def _moving_means(x: np.ndarray, window: int) -> np.ndarray:
    """The mean of the last ``window`` values at each step (fewer at the start)."""
    c = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(len(x))
    lo = np.maximum(i + 1 - window, 0)
    return (c[i + 1] - c[lo]) / (i + 1 - lo)


def anomaly_likelihood(raw: np.ndarray, probation: int, short: int = LIKELIHOOD_SHORT, long: int = LIKELIHOOD_LONG,
                       reestimate: int = LIKELIHOOD_REESTIMATE, floors: tuple[float, float] | None = None,
                       values: np.ndarray | None = None) -> np.ndarray:
    """The anomaly likelihood of raw scores ``raw [T]`` as NAB's log-likelihood, float64 ``[T]``
    in [0, 1] (see the module docstring); NaN raw scores count as 0.

    Args:
        probation: steps that score likelihood 0.5 while the distribution is first learned
            (NAB's probationary period); the first fit skips the first ``probation // 2``.
        short, long, reestimate: the short-term mean's window, the history's length and
            how often the distribution is re-fitted, in steps.
        floors: lower bounds ``(mean, variance)`` of the fitted distribution
            (:data:`NUMENTA_FLOORS` for raw scores in [0, 1]); None: none, and a
            distribution of zero spread reports nothing.
        values: ``[T]`` the series itself: a stretch whose values vary less than
            :data:`FLAT_VARIANCE` reports nothing (Numenta's check; None: no check).

    Raises:
        ConfigError: a window or period below 1.
    """
    if min(short, long, reestimate) < 1:
        raise ConfigError(f"the anomaly likelihood's windows must be at least 1 step; got short={short}, "
                          f"long={long}, reestimate={reestimate}")
    raw = np.nan_to_num(np.asarray(raw, dtype=np.float64), nan=0.0)
    if raw.ndim != 1:
        raise DataError(f"anomaly_likelihood expects raw scores [T]; got shape {tuple(raw.shape)}")
    length = len(raw)
    values = None if values is None else np.asarray(values, dtype=np.float64)
    probation = max(0, min(int(probation), length))
    learning = probation // 2
    recent = _moving_means(raw, short)
    tail = np.full(length, 0.5)
    before = np.full(length, 0.5)  # the step before's tail under the same distribution (the red filter's)
    starts = [probation] + list(range((probation // reestimate + 1) * reestimate, length, reestimate))
    for i, t in enumerate(starts):
        if t >= length:
            break
        end = starts[i + 1] if i + 1 < len(starts) else length
        first = max(0, t - long)
        skip = min(t, max(0, learning - first))  # Numenta's _calcSkipRecords
        history = _moving_means(raw[first:t], short)[skip:]  # the history's own moving means, as Numenta's
        if len(history) == 0:
            continue  # nothing to fit yet: likelihood 0.5
        mean, var = float(history.mean()), float(history.var())
        if floors is not None:
            mean, var = max(mean, floors[0]), max(var, floors[1])
        flat = values is not None and float(np.var(values[first:t][skip:])) < FLAT_VARIANCE
        if var <= 0 or flat:
            continue  # no spread, or a flat metric: Numenta's null distribution, likelihood 0.5
        z = (recent[t - 1:end] - mean) / math.sqrt(var) if t > 0 else np.r_[0.0, (recent[:end] - mean) / math.sqrt(var)]
        q = 0.5 * _erfc(z / 1.4142)
        tail[t:end], before[t:end] = q[1:], q[:-1]
    filtered = np.where((tail <= RED_ZONE) & (before <= RED_ZONE), YELLOW_ZONE, tail)  # Numenta's _filterLikelihoods:
    return log_likelihood(1.0 - filtered)  # a run of red steps is reported at its first


def _erfc(x: np.ndarray) -> np.ndarray:
    from scipy.special import erfc  # SciPy loads on use (fast `info`)

    return erfc(x)


def range_anomalies(values: np.ndarray, tolerance: float = RANGE_TOLERANCE) -> np.ndarray:
    """Bool ``[T]``: steps where a channel of ``values [T]`` or ``[T, C]`` lies beyond the
    range of all its earlier values by more than ``tolerance`` times that range (NAB's
    numenta detector's spatial anomaly; nothing while the range is still a single value)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[:, None] if v.ndim == 1 else v
    if len(v) < 2:
        return np.zeros(len(v), dtype=bool)
    hi = np.maximum.accumulate(v, axis=0)[:-1]  # the range before each step
    lo = np.minimum.accumulate(v, axis=0)[:-1]
    margin = (hi - lo) * tolerance
    out = ((v[1:] > hi + margin) | (v[1:] < lo - margin)) & (hi > lo)
    return np.concatenate([[False], out.any(axis=1)])


LIKELIHOOD_THRESHOLD = 0.5
"""The deployable threshold on the log-likelihood (``task.likelihood_threshold``): flag the
first step of a run in the red zone (tail probability 1e-5 or less), as NAB's HTM reports
anomalies; chosen on the shared NAB files only (docs/timeseries.md)."""


@dataclass(frozen=True)
class Likelihood:
    """How per-step scores become anomaly likelihoods (``task.likelihood``): the windows
    ``short``, ``long`` and ``reestimate`` (steps) of :func:`anomaly_likelihood`, whether
    the ``range_rule`` (:func:`range_anomalies`) scores 1.0, and the ``threshold`` on the
    log-likelihood that flags a step."""

    short: int = LIKELIHOOD_SHORT
    long: int = LIKELIHOOD_LONG
    reestimate: int = LIKELIHOOD_REESTIMATE
    range_rule: bool = True
    threshold: float = LIKELIHOOD_THRESHOLD

    def apply(self, raw: np.ndarray, probation: int, values: np.ndarray) -> np.ndarray:
        """Log-likelihood scores ``[T]`` of the raw scores ``raw [T]`` of a series of
        ``values [T, C]`` whose first ``probation`` steps are its training part (the range
        rule flags nothing there: the range is still being learned)."""
        scores = anomaly_likelihood(raw, probation, self.short, self.long, self.reestimate)
        if self.range_rule:
            beyond = range_anomalies(values)
            beyond[:probation] = False
            scores[beyond] = 1.0
        return scores

    def to_dict(self) -> dict:
        """Plain values (for checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "Likelihood | None":
        """Inverse of ``to_dict`` (None stays None)."""
        return None if d is None else cls(**d)
