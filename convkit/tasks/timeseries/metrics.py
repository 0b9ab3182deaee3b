"""Anomaly-detection metrics: per-step scores against 0/1 labels, per series and per split.

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
- ``precision``/``recall``/``f1`` at a threshold; a split adds NAB's scores
  (:mod:`~convkit.tasks.timeseries.nab`), ``threshold``, ``flagged`` and the per-series
  UCR table (:func:`split_metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convkit.errors import DataError
from convkit.tasks.timeseries.data import UCR_ANOMALY_NAME
from convkit.tasks.timeseries.nab import ScoredFile, category_of, nab_scores

METRIC_NAMES: tuple[str, ...] = ("roc_auc", "pr_auc", "best_f1", "pa_f1", "ucr_hit")
"""The label-based metrics :func:`anomaly_metrics` reports (``ucr_hit`` only for a single anomaly)."""

UCR_TOLERANCE = 100
"""Steps on each side of the labelled region that still count as a UCR hit."""


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
    _, f1 = best_f1_point(scores, labels)
    return f1


def best_f1_point(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """``(threshold, F1)`` of the best point-wise F1 of ``scores [T]`` against ``labels [T]``
    (flag ``score >= threshold``)."""
    from sklearn.metrics import precision_recall_curve

    scores, labels = _check_scores_labels(scores, labels, "best_f1")
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point (P=1, R=0) has no threshold
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


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


def _f1_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    flagged = scores >= threshold
    tp = int(np.sum(flagged & (labels == 1)))
    fp = int(np.sum(flagged & (labels == 0)))
    fn = int(np.sum(~flagged & (labels == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


# ----------------------------------------------------------------------------- a split of series


@dataclass
class PartScores:
    """One series' scores over the part a split measures (its ``val`` or ``test`` part):
    ``scores [end - start]`` and ``labels [end - start]`` (or None) of the steps ``[start,
    end)`` of the series ``name``, the ``threshold`` its calibration chose (flag ``score >=
    threshold``) and ``loss``, the mean squared error over the part (NaN when the detector
    forecasts nothing). ``windows``: a NAB file's labelled windows as rows of the whole
    series (None for any other series): its part is then scored as NAB scores the whole
    file, the ``start`` rows before it the probationary period."""

    name: str
    start: int
    end: int
    scores: np.ndarray
    labels: np.ndarray | None
    threshold: float
    loss: float
    windows: list[tuple[int, int]] | None = None


def split_metrics(results: list[PartScores]) -> dict:
    """The split's metrics: ``loss`` (mean squared error, step-weighted), the label-based
    metrics of :func:`anomaly_metrics` at each series' threshold (averaged over the
    series that have both labels in the split), NAB's scores of the series with a labelled
    segment and of every NAB file (:func:`nab_file`, :func:`~convkit.tasks.timeseries.nab.nab_scores`:
    per NAB category too), the ``threshold`` (mean over
    series), ``flagged`` (share of steps flagged) and ``series``: how many were scored and
    how many of them had both labels (a table: it appears in the final blocks, not per
    epoch). UCR anomaly archive series (:func:`ucr_series`) add ``ucr_series`` (a table)
    and, when there are several, ``ucr_hit_rate``: the share of them whose top score is a hit."""
    steps = sum(r.end - r.start for r in results)
    out: dict = {"loss": sum(r.loss * (r.end - r.start) for r in results) / max(steps, 1)}
    per_series = [anomaly_metrics(r.scores, r.labels, r.threshold) for r in results if r.labels is not None]
    per_series = [m for m in per_series if m]
    for key in ("roc_auc", "pr_auc", "best_f1", "pa_f1", "ucr_hit", "precision", "recall", "f1"):
        values = [m[key] for m in per_series if key in m]
        if values:
            out[key] = float(np.mean(values))
    out.update(nab_scores([nab_file(r) for r in results
                           if r.windows is not None or (r.labels is not None and r.labels.any())]))
    archive = ucr_series(results)
    if len(archive) > 1:
        out["ucr_hit_rate"] = float(np.mean([row["hit"] for row in archive.values()]))
    if archive:
        out["ucr_series"] = archive
    out["series"] = {"scored": len(results), "with_labels": len(per_series)}
    out["threshold"] = float(np.mean([r.threshold for r in results]))
    out["flagged"] = float(sum(int((r.scores >= r.threshold).sum()) for r in results) / max(steps, 1))
    return out


def nab_file(r: PartScores) -> ScoredFile:
    """``r`` as NAB scores it: a NAB file (``r.windows``) as the whole file, its ``start``
    rows unscored (the probationary period) and its windows as NAB's labels give them,
    counted whether or not it has any (a file without windows adds its false positives);
    any other labelled part as a file of its own, its labelled segments the windows."""
    if r.windows is not None:
        scores = np.concatenate([np.full(r.start, -np.inf), r.scores])
        return ScoredFile(scores, list(r.windows), r.threshold, r.start, category_of(r.name))
    return ScoredFile(r.scores, [(int(a), int(b) - 1) for a, b in label_segments(r.labels)], r.threshold)


def ucr_series(results: list[PartScores]) -> dict[str, dict]:
    """Per UCR anomaly archive series (named ``NNN_UCR_Anomaly_...``) with its one labelled
    anomaly in the split: ``{name: {"length", "begin", "end", "argmax", "hit"}}``, steps
    0-based in the whole series (``begin``/``end`` the first and last labelled step,
    ``argmax`` the top-scoring step, ``hit`` 1.0 when it lies within the anomaly +-100)."""
    out = {}
    for r in results:
        if r.labels is None or not UCR_ANOMALY_NAME.match(r.name + ".txt"):
            continue
        segments = label_segments(r.labels)
        if len(segments) != 1:
            continue
        out[r.name] = {"length": int(r.end), "begin": int(r.start + segments[0, 0]),
                       "end": int(r.start + segments[0, 1] - 1), "argmax": int(r.start + np.argmax(r.scores)),
                       "hit": ucr_hit(r.scores, r.labels)}
    return out
