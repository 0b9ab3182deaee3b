"""The Numenta Anomaly Benchmark's scoring (Lavin & Ahmad 2015; NAB's ``sweeper.py``), as code,
and the ``nab``/``nab_opt`` metrics a split of series reports with it.

For one file: the rows of the probationary period (:func:`probationary_rows`: the first
``min(floor(0.15 T), 750)``; it is also the training part of a NAB file) are never scored.
Every other row is a detection when its score reaches the threshold.
Each labelled window earns the weighted scaled sigmoid of its *earliest* detection
(``tp_weight`` at the window's start, falling towards 0 at its end), or ``-fn_weight`` when
nothing in it is detected; every detection outside the windows costs ``fp_weight`` times
the scaled sigmoid of its distance past the previous window (``-fp_weight`` before any
window or far after one). The file's raw score is the sum; NAB's normalised score of a set
of files is ``100 (raw - null) / (perfect - null)``, the null detector flagging nothing
(``-fn_weight`` per window) and the perfect one each window's first row (``tp_weight``).

The three profiles are NAB's cost matrices (``config/profiles.json``). Timestamps may
repeat or step back (NAB ships files across daylight-saving changes): windows are entered
at the first row equal to their start and left at the first row equal to their end, as
NAB does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PROBATIONARY_FRACTION = 0.15
"""NAB's probationary share of each file (``probationPercent``; capped at that share of 5000 rows)."""

PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tp": 1.0, "fn": 1.0, "fp": 0.11, "tn": 1.0},
    "reward_low_FP_rate": {"tp": 1.0, "fn": 1.0, "fp": 0.22, "tn": 1.0},
    "reward_low_FN_rate": {"tp": 1.0, "fn": 2.0, "fp": 0.11, "tn": 1.0},
}
"""NAB's application profiles: the weights of true positives, misses, false positives."""


def probationary_rows(length: int, fraction: float = PROBATIONARY_FRACTION) -> int:
    """NAB's probationary period of a file of ``length`` rows, as NAB's own
    ``getProbationPeriod(probationPercent, fileLength)`` computes it: ``min(floor(fraction *
    T), fraction * 5000)`` (``min(floor(0.15 T), 750)`` at NAB's share)."""
    return int(min(math.floor(fraction * length), fraction * 5000))


def scaled_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid: ``2 sigmoid(-5 y) - 1`` (1 far before, -1 for ``y > 3``)."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def window_rows(timestamps: np.ndarray, windows: np.ndarray) -> list[tuple[int, int]]:
    """Each window ``[start, end]`` (timestamps, inclusive) as rows ``(first, last)``: the
    first row equal to its start and the first equal to its end (NAB's rule). ``timestamps
    [T]``, ``windows [W, 2]`` of one dtype (datetime64 or numbers). A bound that is no row's
    timestamp snaps to the first row at or after it (start) and the last row at or before
    it (end)."""
    rows = []
    for start, end in windows:
        hit = np.flatnonzero(timestamps == start)
        first = int(hit[0]) if hit.size else int(np.argmax(timestamps >= start))
        hit = np.flatnonzero(timestamps == end)
        last = int(hit[0]) if hit.size else int(np.flatnonzero(timestamps <= end)[-1])
        rows.append((first, last))
    return rows


def row_weights(length: int, windows: list[tuple[int, int]], profile: str = "standard") -> tuple[np.ndarray, np.ndarray]:
    """NAB's sweep over one file: ``(weight [T], window [T])``: the score a detection at each
    row would earn (its window's weighted sigmoid, or the false-positive cost) and the index
    of the window holding the row (-1 outside)."""
    w = PROFILES[profile]
    max_tp = scaled_sigmoid(-1.0)
    weight = np.empty(length)
    inside = np.full(length, -1, dtype=np.int64)
    pending = sorted(windows)
    current = previous = None  # (index, first, last, width)
    for i in range(length):
        if current is None and pending and i == pending[0][0]:
            first, last = pending.pop(0)
            current = (len(windows) - len(pending) - 1, first, last, float(last - first + 1))
        if current is not None:
            _, _, last, width = current
            weight[i] = scaled_sigmoid(-(last - i + 1) / width) * w["tp"] / max_tp
            inside[i] = current[0]
        elif previous is None:
            weight[i] = -1.0 * w["fp"]
        else:
            _, _, last, width = previous
            weight[i] = scaled_sigmoid(abs(last - i) / (width - 1) if width > 1 else 4.0) * w["fp"]
        if current is not None and i == current[2]:
            previous, current = current, None
    return weight, inside


@dataclass
class NabFileScore:
    """One file's NAB score: ``score`` (raw), point counts over the scored rows."""

    score: float
    tp: int
    tn: int
    fp: int
    fn: int
    total: int


def score_file(detections: np.ndarray, windows: list[tuple[int, int]], profile: str = "standard",
               probation: int | None = None) -> NabFileScore:
    """NAB's raw score of one file: ``detections [T]`` booleans (score >= threshold), the
    windows as rows (:func:`window_rows`). Counts are NAB's: rows after the probationary
    period (``probation`` rows; None: NAB's :func:`probationary_rows`), in or out of
    windows, detected or not."""
    length = len(detections)
    weight, inside = row_weights(length, windows, profile)
    scored = np.arange(length) >= (probationary_rows(length) if probation is None else probation)
    hits = np.asarray(detections, dtype=bool) & scored
    total = 0.0
    for k in range(len(windows)):
        in_window = hits & (inside == k)
        if in_window.any():
            total += float(weight[in_window].max())
        elif (scored & (inside == k)).any():
            total -= PROFILES[profile]["fn"]
    total += float(weight[hits & (inside < 0)].sum())
    in_any = inside >= 0
    return NabFileScore(score=total, tp=int((hits & in_any).sum()), fp=int((hits & ~in_any).sum()),
                        fn=int((scored & in_any & ~hits).sum()), tn=int((scored & ~in_any & ~hits).sum()),
                        total=length)


def null_and_perfect(windows: list[tuple[int, int]], length: int, profile: str = "standard",
                     probation: int | None = None) -> tuple[float, float]:
    """The raw scores of NAB's null detector (nothing flagged) and of the perfect one (each
    window's first row) on one file."""
    null = score_file(np.zeros(length, dtype=bool), windows, profile, probation).score
    perfect = np.zeros(length, dtype=bool)
    for first, _ in windows:
        perfect[first] = True
    return null, score_file(perfect, windows, profile, probation).score


def normalised_score(raw: float, null: float, perfect: float) -> float:
    """NAB's reported score: ``100 (raw - null) / (perfect - null)`` (summed over files first)."""
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def best_threshold_score(scores: np.ndarray, windows: list[tuple[int, int]], profile: str = "standard",
                         candidates: int = 64) -> tuple[float, float]:
    """``(threshold, raw score)``: the best raw NAB score of one file over ``candidates``
    thresholds at quantiles of its scored rows (NAB optimises one threshold per detector
    over the corpus; this is for a single file's validation part)."""
    start = probationary_rows(len(scores))
    values = np.unique(np.quantile(scores[start:], np.linspace(0.5, 1.0, candidates)))
    best = (float("inf"), score_file(np.zeros(len(scores), bool), windows, profile).score)
    for t in values:
        s = score_file(scores >= t, windows, profile).score
        if s > best[1]:
            best = (float(t), s)
    return best


# ----------------------------------------------------------------------------- a split's NAB metrics


NAB_METRICS: dict[str, str] = {"nab": "standard", "nab_low_fp": "reward_low_FP_rate",
                               "nab_low_fn": "reward_low_FN_rate"}
"""The NAB scores reported (metric name -> NAB profile)."""

NAB_SWEEP = 1.0 - np.logspace(-5, -0.7, 60)
"""The quantiles of the pooled scores :func:`nab_optimised_scores` tries as thresholds."""


@dataclass
class ScoredFile:
    """One series part scored as a NAB file: its ``scores [T]``, its labelled windows as rows
    ``(first, last)`` (inclusive) and the detector's ``threshold`` (flag ``score >= threshold``)."""

    scores: np.ndarray
    windows: list[tuple[int, int]]
    threshold: float


def nab_scores(files: list[ScoredFile]) -> dict:
    """NAB's normalised score of ``files`` (each a labelled part of a series) for each profile
    (:data:`NAB_METRICS`): each part is scored as a NAB file whose detections are the steps
    at or above its threshold (no probationary period: the part lies after the training
    part), raw scores summed over files, then ``100 (raw - null) / (perfect - null)``; then
    :func:`nab_optimised_scores`. Empty when there are no files."""
    if not files:
        return {}
    out = {}
    for metric, profile in NAB_METRICS.items():
        raw = null = perfect = 0.0
        for f in files:
            flags = f.scores >= f.threshold
            raw += score_file(flags, f.windows, profile, probation=0).score
            n, p = null_and_perfect(f.windows, len(flags), profile, probation=0)
            null, perfect = null + n, perfect + p
        out[metric] = normalised_score(raw, null, perfect)
    out.update(nab_optimised_scores(files))
    return out


def nab_optimised_scores(files: list[ScoredFile]) -> dict:
    """NAB's protocol for its scoreboard: one threshold per detector and profile, the one
    that maximises the normalised score over the whole corpus (here ``files``, the split's
    labelled series), each flagged row a detection. The scores must be comparable across
    series: the model's and every baseline's are robust z-scores calibrated on each series'
    own validation part. The thresholds tried are quantiles :data:`NAB_SWEEP` of the pooled
    scores (and one above them all: the null detector, 0). It selects on the test labels,
    as NAB does for every detector alike, so it compares detectors; ``nab`` (the
    validation threshold) is what a deployed detector gets. Returns ``nab_opt``,
    ``nab_opt_low_fp``, ``nab_opt_low_fn`` and ``nab_opt_threshold`` (standard profile)."""
    pooled = np.concatenate([f.scores for f in files])
    candidates = np.unique(np.concatenate([np.quantile(pooled, NAB_SWEEP), [pooled.max() + 1.0]]))
    out = {}
    for metric, profile in NAB_METRICS.items():
        raw = np.zeros(len(candidates))
        null = perfect = 0.0
        for f in files:
            raw += raw_scores_by_threshold(f.scores, f.windows, profile, candidates)
            n, p = null_and_perfect(f.windows, len(f.scores), profile, probation=0)
            null, perfect = null + n, perfect + p
        best = int(np.argmax(raw))
        name = metric.replace("nab", "nab_opt", 1)
        out[name] = normalised_score(float(raw[best]), null, perfect)
        if profile == "standard":
            out["nab_opt_threshold"] = float(candidates[best])
    return out


def raw_scores_by_threshold(scores: np.ndarray, windows: list[tuple[int, int]], profile: str,
                            thresholds: np.ndarray) -> np.ndarray:
    """NAB's raw score of one file (no probation) for each of ``thresholds [K]`` at once,
    ``[K]``: each window earns the weight of its earliest row at or above the threshold
    (else ``-fn``), every such row outside the windows its false-positive weight."""
    weight, inside = row_weights(len(scores), windows, profile)
    total = np.zeros(len(thresholds))
    for first, last in windows:
        peak = np.maximum.accumulate(scores[first:last + 1])  # the earliest row reaching t: first peak >= t
        hit = np.searchsorted(peak, thresholds, side="left")  # peak is non-decreasing
        found = hit < len(peak)
        total += np.where(found, weight[first:last + 1][np.minimum(hit, len(peak) - 1)], -PROFILES[profile]["fn"])
    outside = inside < 0
    order = np.argsort(-scores[outside], kind="stable")
    sorted_scores, cumulative = scores[outside][order], np.concatenate([[0.0], np.cumsum(weight[outside][order])])
    count = np.searchsorted(-sorted_scores, -thresholds, side="right")  # rows with score >= t
    return total + cumulative[count]
