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

NAB_CANDIDATES = 1 << 18
"""At most this many thresholds :func:`nab_optimised_scores` tries: every distinct pooled
score (the exact optimum over the corpus), or this many quantiles of them when there are more."""


@dataclass
class ScoredFile:
    """One series scored as a NAB file: its ``scores [T]``, its labelled windows as rows
    ``(first, last)`` (inclusive), the detector's ``threshold`` (flag ``score >= threshold``),
    the ``probation`` rows at its start that are never scored (a NAB file's probationary
    period; 0 for a part that already lies after it) and its NAB ``category`` (``group``
    of ``group/file``; empty for others)."""

    scores: np.ndarray
    windows: list[tuple[int, int]]
    threshold: float
    probation: int = 0
    category: str = ""


def nab_scores(files: list[ScoredFile]) -> dict:
    """NAB's normalised score of ``files`` for each profile (:data:`NAB_METRICS`): each
    file is scored as NAB scores it, its detections the scored rows (after its
    ``probation``) at or above its threshold, raw scores summed over files, then
    ``100 (raw - null) / (perfect - null)``; then :func:`nab_optimised_scores`. Empty
    when there are no files."""
    if not files:
        return {}
    out = {}
    for metric, profile in NAB_METRICS.items():
        raw = null = perfect = 0.0
        for f in files:
            flags = f.scores >= f.threshold
            raw += score_file(flags, f.windows, profile, probation=f.probation).score
            n, p = null_and_perfect(f.windows, len(flags), profile, probation=f.probation)
            null, perfect = null + n, perfect + p
        out[metric] = normalised_score(raw, null, perfect)
    out.update(nab_optimised_scores(files))
    return out


def nab_optimised_scores(files: list[ScoredFile]) -> dict:
    """NAB's protocol for its scoreboard: one threshold per detector and profile, the one
    that maximises the normalised score over the whole corpus (here ``files``), each
    flagged row a detection. The scores must be comparable across series: the model's and
    every baseline's are calibrated on each series' own validation part (robust z-scores,
    or anomaly likelihoods). Every distinct score of the scored rows is tried (at most
    :data:`NAB_CANDIDATES`), and one above them all (the null detector, 0). It selects on
    the test labels, as NAB does for every detector alike, so it compares detectors;
    ``nab`` (the detector's own threshold) is what a deployed detector gets. Returns
    ``nab_opt``, ``nab_opt_low_fp``, ``nab_opt_low_fn``, ``nab_opt_threshold`` (standard
    profile) and, when the files name their NAB categories, ``nab_categories``: per
    category, each profile's score at the corpus threshold (``nab_opt``, ...) and at the
    detector's own (``nab``, ...), as NAB's scoreboard breaks a corpus score down."""
    pooled = np.concatenate([f.scores[f.probation:] for f in files])
    pooled = pooled[np.isfinite(pooled)]
    candidates = np.unique(pooled)
    if len(candidates) > NAB_CANDIDATES:
        candidates = np.unique(np.quantile(pooled, np.linspace(0.0, 1.0, NAB_CANDIDATES)))
    candidates = np.append(candidates, (candidates[-1] if len(candidates) else 0.0) + 1.0)
    categories = sorted({f.category for f in files if f.category})
    out: dict = {}
    per_category: dict = {c: {} for c in categories}
    for metric, profile in NAB_METRICS.items():
        raw = np.zeros(len(candidates))
        null = perfect = 0.0
        by_category = {c: [np.zeros(len(candidates)), 0.0, 0.0, 0.0] for c in categories}  # raw, null, perfect, own
        for f in files:
            file_raw = raw_scores_by_threshold(f.scores, f.windows, profile, candidates, f.probation)
            n, p = null_and_perfect(f.windows, len(f.scores), profile, probation=f.probation)
            raw, null, perfect = raw + file_raw, null + n, perfect + p
            if f.category:
                entry = by_category[f.category]
                entry[0] += file_raw
                entry[1] += n
                entry[2] += p
                entry[3] += score_file(f.scores >= f.threshold, f.windows, profile, probation=f.probation).score
        best = int(np.argmax(raw))
        name = metric.replace("nab", "nab_opt", 1)
        out[name] = normalised_score(float(raw[best]), null, perfect)
        if profile == "standard":
            out["nab_opt_threshold"] = float(candidates[best])
        for c, (c_raw, c_null, c_perfect, own) in by_category.items():
            per_category[c][name] = normalised_score(float(c_raw[best]), c_null, c_perfect)
            per_category[c][metric] = normalised_score(own, c_null, c_perfect)
            per_category[c][f"{metric}_raw"] = own  # a category without windows (null = perfect = 0): its cost
    if categories:
        out["nab_categories"] = per_category
    return out


def raw_scores_by_threshold(scores: np.ndarray, windows: list[tuple[int, int]], profile: str,
                            thresholds: np.ndarray, probation: int = 0) -> np.ndarray:
    """NAB's raw score of one file for each of ``thresholds [K]`` at once, ``[K]``: each
    window earns the weight of its earliest scored row at or above the threshold (else
    ``-fn``; a window wholly inside the first ``probation`` rows counts for nothing), every
    such row outside the windows its false-positive weight (:func:`score_file` at each)."""
    weight, inside = row_weights(len(scores), windows, profile)
    total = np.zeros(len(thresholds))
    for first, last in windows:
        if last < probation:
            continue
        lo = max(first, probation)
        peak = np.maximum.accumulate(scores[lo:last + 1])  # the earliest row reaching t: first peak >= t
        hit = np.searchsorted(peak, thresholds, side="left")  # peak is non-decreasing
        found = hit < len(peak)
        total += np.where(found, weight[lo:last + 1][np.minimum(hit, len(peak) - 1)], -PROFILES[profile]["fn"])
    outside = (inside < 0) & (np.arange(len(scores)) >= probation)
    order = np.argsort(-scores[outside], kind="stable")
    sorted_scores, cumulative = scores[outside][order], np.concatenate([[0.0], np.cumsum(weight[outside][order])])
    count = np.searchsorted(-sorted_scores, -thresholds, side="right")  # rows with score >= t
    return total + cumulative[count]


def category_of(name: str) -> str:
    """The NAB category of a file named ``group/file`` (its ``group``)."""
    return name.split("/", 1)[0] if "/" in name else ""


NAB_RESULTS = "nab_results"
"""The folder of a run that holds its detections in NAB's results layout (:func:`write_nab_results`)."""


def write_nab_results(folder, detector: str, name: str, timestamps: np.ndarray, values: np.ndarray,
                      scores: np.ndarray, labels: np.ndarray) -> None:
    """Write one NAB file's detections as NAB's results layout holds them, so that NAB's own
    scorer could rescore them: ``folder/<detector>/<category>/<detector>_<file>.csv`` with
    the columns ``timestamp,value,anomaly_score,label`` (one row per row of the file).

    Args:
        folder: the results root (a ``pathlib.Path``).
        detector: the detector's name (the folder and the files' prefix).
        name: the file as ``<category>/<file>`` (without ``.csv``).
        timestamps: ``[T]`` datetime64; values ``[T]``; scores ``[T]`` in [0, 1] (NAB sweeps
            thresholds there); labels ``[T]`` 0/1 (NAB's windows).
    """
    from pathlib import Path

    category, file = name.split("/", 1) if "/" in name else ("", name)
    path = Path(folder) / detector / category / f"{detector}_{file}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    stamps = np.datetime_as_string(np.asarray(timestamps, dtype="datetime64[s]"), unit="s")
    lines = ["timestamp,value,anomaly_score,label"]
    lines += [f"{t.replace('T', ' ')},{v:.10g},{s:.10g},{int(b)}"
              for t, v, s, b in zip(stamps, np.asarray(values, dtype=np.float64), np.nan_to_num(scores), labels)]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
