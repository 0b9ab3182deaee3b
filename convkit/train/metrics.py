"""Metric helpers shared by the tasks (scikit-learn does the counting).

Metric names are lower-case (DESIGN.md): ``accuracy``, ``macro_f1``, ``roc_auc``,
``pr_auc``, ``best_f1``, ``loss``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def accuracy(predictions: Tensor, targets: Tensor) -> float:
    """Share of ``predictions [N]`` equal to ``targets [N]`` (0.0 when N = 0)."""
    if targets.numel() == 0:
        return 0.0
    return float((predictions == targets).double().mean())


def macro_f1(predictions: Tensor, targets: Tensor) -> float:
    """F1 averaged over the classes present in ``targets [N]`` (equal to scikit-learn's
    ``f1_score(labels=present, average="macro", zero_division=0)``; a prediction of an
    absent class counts against the true class only; 0.0 when N = 0). Averaging over
    classes the data lacks would add zeros for them: evaluating on a subset of the
    trained classes would look far worse than it is.
    Counted with ``torch.bincount`` rather than scikit-learn, which costs milliseconds per
    call: too much for full-batch tasks that evaluate every epoch."""
    if targets.numel() == 0:
        return 0.0
    t, p = targets.long().cpu().flatten(), predictions.long().cpu().flatten()
    classes = torch.unique(torch.cat([t, p]))
    t, p = torch.searchsorted(classes, t), torch.searchsorted(classes, p)
    counts = torch.bincount(t * len(classes) + p, minlength=len(classes) ** 2).reshape(len(classes), -1).double()
    tp = counts.diagonal()
    denominator = counts.sum(0) + counts.sum(1)
    f1 = torch.where(denominator > 0, 2 * tp / denominator.clamp_min(1), torch.zeros_like(tp))
    present = counts.sum(1) > 0
    return float(f1[present].mean())


def confusion_matrix(predictions: Tensor, targets: Tensor, num_classes: int) -> np.ndarray:
    """``[num_classes, num_classes]`` int64 counts: row = true class, column = predicted."""
    t, p = targets.long().cpu().flatten(), predictions.long().cpu().flatten()
    keep = (t >= 0) & (t < num_classes) & (p >= 0) & (p < num_classes)
    counts = torch.bincount(t[keep] * num_classes + p[keep], minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).numpy().astype(np.int64)


def classification_metrics(logits: Tensor, targets: Tensor) -> dict[str, float]:
    """``accuracy``, ``macro_f1`` and mean
    cross-entropy ``loss`` of ``logits [N, classes]`` against ``targets [N]``."""
    predictions = logits.argmax(dim=1)
    return {"accuracy": accuracy(predictions, targets),
            "macro_f1": macro_f1(predictions, targets),
            "loss": float(F.cross_entropy(logits.float(), targets)) if targets.numel() else 0.0}


def binary_scores_metrics(scores: Tensor, labels: Tensor) -> dict[str, float]:
    """Threshold-free metrics of anomaly/positive ``scores [N]`` against 0/1 ``labels [N]``:
    ``roc_auc``, ``pr_auc`` (average precision) and ``best_f1`` (best F1 over thresholds);
    NaN where only one class is present."""
    y, s = labels.cpu().numpy().astype(np.int64), scores.cpu().double().numpy()
    if y.min(initial=0) == y.max(initial=0):
        return {"roc_auc": float("nan"), "pr_auc": float("nan"), "best_f1": float("nan")}
    from sklearn import metrics as skm  # imported on use: `info` and `import convkit` stay light

    precision, recall, _ = skm.precision_recall_curve(y, s)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return {"roc_auc": float(skm.roc_auc_score(y, s)), "pr_auc": float(skm.average_precision_score(y, s)),
            "best_f1": float(f1.max())}


def to_float_dict(metrics: dict) -> dict[str, float]:
    """The scalar entries of a metrics dict (per-epoch logs and early stopping use these)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
