"""From a trained model to anomaly scores: per-step errors, calibration, thresholds, streaming.

Errors: a forecaster's output ``[N, C, H, L]`` predicts, at step ``t``, steps
``t + 1 .. t + H``; the error of step ``s`` is the mean over ``k`` of
``|x[s] - prediction k made at s - 1 - k|`` (so it only uses the past). An autoencoder's
output ``[N, C, L]`` is a reconstruction; the error is ``|x - reconstruction|``. Steps
with no prediction from a full receptive field (the forecaster's warm-up: the first
``receptive field + H - 1`` steps of a series) have NaN errors and score 0.

Scores: each channel's errors are robust-z-scored with the median and MAD of its errors
on the validation part (:func:`convkit.tasks.timeseries.anomaly.robust_centre_scale`),
NaN set to 0, channels combined (mean or max), then optionally smoothed by a causal
moving average. The threshold comes from the validation scores: best F1 when the
validation part holds labelled anomalies, else a quantile.

Novelty (``task.novelty``, a forecaster only): a further error column, each step's
distance from the forecaster's per-step features (the TCN backbone's output, which sums up
the receptive field ending there) to the nearest features of the series' training part,
a memory bank as in nearest-neighbour detection on learned features (Bergman, Cohen &
Hoshen 2020; PatchCore, Roth et al. 2022). Forecast errors see what the next step should
have been; the novelty sees a stretch unlike any in training (a missing beat, a stuck
sensor, a changed cycle) even where each step is predictable. It is robust-z-scored on the
validation part like the errors and added to the combined error score.

A whole series is scored in chunks of thousands of steps, batched into one convolution
call (:func:`series_errors`), never window by window; :class:`StreamingDetector` gives
the same scores one step or chunk at a time with the model's cached state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from convkit.data.timeseries import UCR_ANOMALY_NAME
from convkit.errors import ConfigError
from convkit.models.tcn import TCNForecaster, TCNStream
from convkit.tasks.timeseries.anomaly import (
    anomaly_metrics,
    best_f1_threshold,
    combine_channels,
    label_segments,
    moving_average,
    quantile_threshold,
    robust_centre_scale,
    ucr_hit,
)
from convkit.tasks.timeseries.nab import PROFILES, normalised_score, null_and_perfect, row_weights, score_file
from convkit.tasks.timeseries.series import plan_chunks

THRESHOLD_RULES: tuple[str, ...] = ("auto", "best_f1", "quantile")
"""``auto``: best F1 when the validation part holds both labels, else the quantile."""


# ----------------------------------------------------------------------------- errors


def forecast_errors(x: Tensor, predictions: Tensor) -> tuple[Tensor, Tensor]:
    """Errors of a forecaster's ``predictions [N, C, H, L]`` on ``x [N, C, L]``.

    Returns:
        ``(abs [N, C, L], sq [N, C, L])``: the mean over the ``H`` predictions of each step
        of the absolute and the squared error; NaN for the first ``H`` steps.
    """
    n, c, horizon, length = predictions.shape
    abs_err = x.new_zeros(n, c, length)
    sq_err = x.new_zeros(n, c, length)
    for k in range(horizon):  # H is a handful: one vectorised pass per forecast distance
        diff = x[..., 1 + k:] - predictions[:, :, k, :length - 1 - k]
        abs_err[..., 1 + k:] += diff.abs()
        sq_err[..., 1 + k:] += diff * diff
    abs_err, sq_err = abs_err / horizon, sq_err / horizon
    abs_err[..., :horizon] = float("nan")
    sq_err[..., :horizon] = float("nan")
    return abs_err, sq_err


def step_errors(model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(abs, sq)`` errors ``[N, C, L]`` of ``model`` on ``x [N, C, L]``: a forecaster
    (4D output) or an autoencoder (3D output)."""
    out = model(x)
    if out.dim() == 4:
        return forecast_errors(x, out.float())
    diff = x - out.float()
    return diff.abs(), diff * diff


@torch.no_grad()
def series_errors(model: nn.Module, values: Tensor, halo_left: int, halo_right: int, chunk: int = 8192,
                  batch_size: int = 16, align: int = 1, warmup: int = 0) -> np.ndarray:
    """Absolute errors of a whole series ``values [C, T]``, float64 ``[T, C]`` (NaN for
    the first ``warmup`` steps).

    The series is cut into chunks of ``chunk`` steps read with their context halos
    (:func:`~convkit.tasks.timeseries.series.plan_chunks`) and ``batch_size`` chunks go
    through the model in one call, so the result equals one pass over the whole series.
    """
    model.eval()
    device = next(model.parameters()).device
    length = values.shape[1]
    plan = plan_chunks(0, length, length, chunk, halo_left, halo_right, align)
    width = max(c.in_end - c.in_start for c in plan)
    out = np.empty((length, values.shape[0]), dtype=np.float64)
    for b in range(0, len(plan), batch_size):
        part = plan[b:b + batch_size]
        x = torch.stack([nn.functional.pad(values[:, c.in_start:c.in_end], (0, width - (c.in_end - c.in_start)))
                         for c in part]).to(device)
        abs_err, _ = step_errors(model, x)
        abs_err = abs_err.cpu().double().numpy()
        for row, c in zip(abs_err, part):
            lo = c.keep_start - c.in_start
            out[c.keep_start:c.keep_end] = row[:, lo:lo + c.keep_end - c.keep_start].T
    out[:warmup] = np.nan
    return out


NOVELTY_BANK = 2048
"""At most this many feature vectors (evenly spaced over the training part) form a series' memory bank."""

NOVELTY_REF_STEPS = 16384
"""The memory bank comes from the last this many steps of the training part (a long one is cut)."""


def feature_bank(model: TCNForecaster, ref: Tensor, length: int, size: int = NOVELTY_BANK) -> Tensor:
    """The memory bank ``[M, F]`` of one series: the forecaster's per-step features of its
    reference steps ``ref [C, R]`` (the first ``length`` are real, the rest padding) from
    the first step with a full receptive field, at most ``size`` evenly spaced."""
    first = model.receptive_field - 1
    features = model.backbone.forward_sequence(ref[None, :, :length])[0, :, first:].T  # [R', F]
    if len(features) == 0:
        features = model.backbone.forward_sequence(ref[None, :, :length])[0].T
    every = max(1, -(-len(features) // size))
    return features[::every]


def novelty_distances(model: TCNForecaster, x: Tensor, ref: Tensor, ref_len: Tensor) -> Tensor:
    """``[N, L]``: each step's Euclidean distance from the forecaster's features of ``x [N,
    C, L]`` to the nearest of its own series' memory bank (:func:`feature_bank` of ``ref [N,
    C, R]`` with ``ref_len [N]`` real steps)."""
    features = model.backbone.forward_sequence(x).transpose(1, 2)  # [N, L, F]
    out = []
    for i in range(x.shape[0]):
        bank = feature_bank(model, ref[i], int(ref_len[i]))
        out.append(torch.cdist(features[i], bank).min(dim=1).values)
    return torch.stack(out)


@torch.no_grad()
def series_novelty(model: TCNForecaster, values: Tensor, ref: tuple[int, int], chunk: int = 8192) -> np.ndarray:
    """The novelty of every step of ``values [C, T]`` against the memory bank of its steps
    ``[ref[0], ref[1])`` (the training part), float64 ``[T]``; NaN for the first receptive
    field - 1 steps. One pass of chunks of ``chunk`` steps, each read with a receptive
    field of context, so it equals a pass over the whole series."""
    model.eval()
    device = next(model.parameters()).device
    lo = max(ref[0], ref[1] - NOVELTY_REF_STEPS)
    bank = feature_bank(model, values[:, lo:ref[1]].to(device), ref[1] - lo)
    halo = model.receptive_field - 1
    out = np.empty(values.shape[1])
    for start in range(0, values.shape[1], chunk):
        end = min(start + chunk, values.shape[1])
        part = values[:, max(start - halo, 0):end].to(device)
        features = model.backbone.forward_sequence(part[None])[0].T[start - max(start - halo, 0):]
        out[start:end] = torch.cdist(features, bank).min(dim=1).values.cpu().double().numpy()
    out[:halo] = np.nan
    return out


# ----------------------------------------------------------------------------- scores and thresholds


@dataclass
class Calibration:
    """What turns errors into flagged steps: per-channel ``centre`` and ``scale`` ``[C]``
    of the validation errors, the ``threshold`` on the combined score, the ``rule`` that
    chose it and the ``smooth`` window of the score (0 in checkpoints from before it was
    stored: the config's ``task.smooth`` then); ``novelty``: the last column of the errors
    is the novelty (:func:`errors_to_scores`)."""

    centre: np.ndarray
    scale: np.ndarray
    threshold: float
    rule: str
    smooth: int = 0
    novelty: bool = False

    def to_dict(self) -> dict:
        """Plain values (for checkpoints)."""
        return {"centre": [float(v) for v in self.centre], "scale": [float(v) for v in self.scale],
                "threshold": float(self.threshold), "rule": self.rule, "smooth": int(self.smooth),
                "novelty": bool(self.novelty)}

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        """Inverse of ``to_dict``."""
        return cls(np.asarray(d["centre"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64),
                   float(d["threshold"]), str(d["rule"]), int(d.get("smooth", 0)), bool(d.get("novelty", False)))


def errors_to_scores(errors: np.ndarray, centre: np.ndarray, scale: np.ndarray, combine: str = "mean",
                     smooth: int = 1, novelty: bool = False) -> np.ndarray:
    """Scores ``[T]`` from errors ``[T, C]``: robust z per channel (NaN -> 0), channels
    combined, causal moving average over ``smooth`` steps. ``novelty``: the last column is
    the novelty, whose z is added to the combination of the others."""
    z = (np.asarray(errors, dtype=np.float64) - centre) / scale
    z = np.nan_to_num(z, nan=0.0)
    combined = combine_channels(z[:, :-1], combine) + z[:, -1] if novelty else combine_channels(z, combine)
    return moving_average(combined, smooth)


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


def calibrate(val_errors: np.ndarray, val_labels: np.ndarray | None, combine: str, smooth: int, rule: str,
              quantile: float, novelty: bool = False) -> tuple[Calibration, np.ndarray]:
    """Calibration from the validation part's errors ``[T, C]`` (and labels ``[T]``;
    ``novelty``: the last column is the novelty).

    Returns:
        ``(calibration, validation scores [T])``.
    """
    finite = val_errors[np.isfinite(val_errors).all(axis=1)]
    centre, scale = robust_centre_scale(finite if len(finite) else np.zeros((1, val_errors.shape[1])))
    scores = errors_to_scores(val_errors, centre, scale, combine, smooth, novelty)
    threshold, used = choose_threshold(scores, val_labels, rule, quantile)
    return Calibration(centre, scale, threshold, used, int(smooth), novelty), scores


@dataclass
class SplitScores:
    """One series' scores over a split: ``scores``/``labels``/``errors`` of the steps
    ``[start, end)`` of the split's own part and the calibration from the validation part."""

    name: str
    start: int
    end: int
    scores: np.ndarray
    labels: np.ndarray | None
    calibration: Calibration
    loss: float


def split_metrics(results: list[SplitScores]) -> dict:
    """The split's metrics: ``loss`` (mean squared error, step-weighted), the label-based
    metrics of :func:`anomaly_metrics` at each series' threshold (averaged over the
    series that have both labels in the split), the ``threshold`` (mean over series),
    ``flagged`` (share of steps flagged) and ``series``: how many were scored and how many
    of them had both labels (a table: it appears in the final blocks, not per epoch).
    UCR anomaly archive series (:func:`ucr_series`) add ``ucr_series`` (a table) and, when
    there are several, ``ucr_hit_rate``: the share of them whose top score is a hit."""
    steps = sum(r.end - r.start for r in results)
    out: dict = {"loss": sum(r.loss * (r.end - r.start) for r in results) / max(steps, 1)}
    per_series = [anomaly_metrics(r.scores, r.labels, r.calibration.threshold)
                  for r in results if r.labels is not None]
    per_series = [m for m in per_series if m]
    for key in ("roc_auc", "pr_auc", "best_f1", "pa_f1", "ucr_hit", "precision", "recall", "f1"):
        values = [m[key] for m in per_series if key in m]
        if values:
            out[key] = float(np.mean(values))
    out.update(nab_split_scores(results))
    archive = ucr_series(results)
    if len(archive) > 1:
        out["ucr_hit_rate"] = float(np.mean([row["hit"] for row in archive.values()]))
    if archive:
        out["ucr_series"] = archive
    out["series"] = {"scored": len(results), "with_labels": len(per_series)}
    out["threshold"] = float(np.mean([r.calibration.threshold for r in results]))
    out["flagged"] = float(sum(int((r.scores >= r.calibration.threshold).sum()) for r in results) / max(steps, 1))
    return out


def ucr_series(results: list[SplitScores]) -> dict[str, dict]:
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


NAB_METRICS: dict[str, str] = {"nab": "standard", "nab_low_fp": "reward_low_FP_rate",
                               "nab_low_fn": "reward_low_FN_rate"}
"""The NAB scores reported (metric name -> NAB profile)."""


def nab_split_scores(results: list[SplitScores]) -> dict:
    """NAB's normalised score of the split for each profile (:data:`NAB_METRICS`): each
    series' part is scored as a NAB file whose windows are its labelled segments and whose
    detections are the steps at or above its threshold (no probationary period: the part
    lies after the training part), raw scores summed over series, then ``100 (raw - null) /
    (perfect - null)``. Empty when no series has a labelled segment in the split."""
    labelled = [r for r in results if r.labels is not None and r.labels.any()]
    if not labelled:
        return {}
    out = {}
    for metric, profile in NAB_METRICS.items():
        raw = null = perfect = 0.0
        for r in labelled:
            windows = [(int(a), int(b) - 1) for a, b in label_segments(r.labels)]
            flags = r.scores >= r.calibration.threshold
            raw += score_file(flags, windows, profile, probation=0).score
            n, p = null_and_perfect(windows, len(flags), profile, probation=0)
            null, perfect = null + n, perfect + p
        out[metric] = normalised_score(raw, null, perfect)
    out.update(nab_optimised_scores(labelled))
    return out


NAB_SWEEP = 1.0 - np.logspace(-5, -0.7, 60)
"""The quantiles of the pooled scores :func:`nab_optimised_scores` tries as thresholds."""


def nab_optimised_scores(labelled: list[SplitScores]) -> dict:
    """NAB's protocol for its scoreboard: one threshold per detector and profile, the one
    that maximises the normalised score over the whole corpus (here the split's labelled
    series), each flagged row a detection. The scores must be comparable across series:
    the model's and every baseline's are robust z-scores calibrated on each series' own
    validation part. The thresholds tried are quantiles :data:`NAB_SWEEP` of the pooled
    scores (and one above them all: the null detector, 0). It selects on the test labels,
    as NAB does for every detector alike, so it compares detectors; ``nab`` (the
    validation threshold) is what a deployed detector gets. Returns ``nab_opt``,
    ``nab_opt_low_fp``, ``nab_opt_low_fn`` and ``nab_opt_threshold`` (standard profile)."""
    pooled = np.concatenate([r.scores for r in labelled])
    candidates = np.unique(np.concatenate([np.quantile(pooled, NAB_SWEEP), [pooled.max() + 1.0]]))
    out = {}
    for metric, profile in NAB_METRICS.items():
        raw = np.zeros(len(candidates))
        null = perfect = 0.0
        for r in labelled:
            windows = [(int(a), int(b) - 1) for a, b in label_segments(r.labels)]
            raw += _nab_raw_by_threshold(r.scores, windows, profile, candidates)
            n, p = null_and_perfect(windows, len(r.scores), profile, probation=0)
            null, perfect = null + n, perfect + p
        best = int(np.argmax(raw))
        name = metric.replace("nab", "nab_opt", 1)
        out[name] = normalised_score(float(raw[best]), null, perfect)
        if profile == "standard":
            out["nab_opt_threshold"] = float(candidates[best])
    return out


def _nab_raw_by_threshold(scores: np.ndarray, windows: list[tuple[int, int]], profile: str,
                          thresholds: np.ndarray) -> np.ndarray:
    """NAB's raw score of one file (no probation) for each of ``thresholds [K]`` at once:
    each window earns the weight of its earliest row at or above the threshold (else
    ``-fn``), every such row outside the windows its false-positive weight."""
    weight, inside = row_weights(len(scores), windows, profile)
    total = np.zeros(len(thresholds))
    for k, (first, last) in enumerate(windows):
        peak = np.maximum.accumulate(scores[first:last + 1])  # the earliest row reaching t: first peak >= t
        hit = np.searchsorted(peak, thresholds, side="left")  # peak is non-decreasing
        found = hit < len(peak)
        total += np.where(found, weight[first:last + 1][np.minimum(hit, len(peak) - 1)], -PROFILES[profile]["fn"])
    outside = inside < 0
    order = np.argsort(-scores[outside], kind="stable")
    sorted_scores, cumulative = scores[outside][order], np.concatenate([[0.0], np.cumsum(weight[outside][order])])
    count = np.searchsorted(-sorted_scores, -thresholds, side="right")  # rows with score >= t
    return total + cumulative[count]


# ----------------------------------------------------------------------------- streaming


class StreamingDetector:
    """Scores a live series one step or chunk at a time with a causal forecaster.

    Holds the forecaster's cached state (:class:`~convkit.models.tcn.TCNStream`), its last
    ``H`` predictions and the last ``smooth - 1`` combined scores, so ``update`` returns for
    each new step exactly the score an offline pass over the whole series gives it
    (:func:`series_errors` with ``warmup = receptive field + H - 1``, then
    :func:`errors_to_scores`): the warm-up steps score 0.

    Args:
        model: a trained :class:`~convkit.models.tcn.TCNForecaster`.
        mean, std: ``[C]`` input normalisation.
        calibration: centre/scale of the errors and the threshold.
        combine, smooth: as in :func:`errors_to_scores`.
    """

    def __init__(self, model: TCNForecaster, mean: np.ndarray, std: np.ndarray, calibration: Calibration,
                 combine: str = "mean", smooth: int = 1) -> None:
        if calibration.novelty:
            raise ConfigError("streaming scores forecast errors only; this calibration adds the novelty "
                              "(task.novelty=true): score with detect, or train with task.novelty=false")
        self.stream = TCNStream(model)
        self.horizon = model.horizon
        self.warmup = model.receptive_field + model.horizon - 1
        self.mean, self.std, self.calibration = np.asarray(mean), np.asarray(std), calibration
        self.combine, self.smooth = combine, int(smooth)
        self.device = next(model.parameters()).device
        self.reset()

    def reset(self) -> None:
        """Start a new series."""
        self.stream.reset()
        self.seen = 0
        self.predictions: Tensor | None = None  # [C, H, H]: the last H steps' predictions
        self.recent = np.zeros(0)  # the last smooth - 1 combined scores

    def update(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score the next steps ``values [l, C]`` (raw units). Returns ``(scores [l],
        flags [l])`` with flags 1 where ``score >= threshold``."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            values = values[None, :]
        x = torch.from_numpy(((values - self.mean) / self.std).T.astype(np.float32)).to(self.device)  # [C, l]
        pred = self.stream(x[None])[0]  # [C, H, l]
        h, length = self.horizon, x.shape[1]
        past = self.predictions if self.predictions is not None else pred.new_full((x.shape[0], h, h), float("nan"))
        allpred = torch.cat([past, pred], dim=2)  # predictions made at steps seen - H .. seen + l - 1
        err = x.new_zeros(x.shape)
        for k in range(h):  # step s uses the prediction k made at s - 1 - k: column (s - seen) + H - 1 - k
            err += (x - allpred[:, k, h - 1 - k:h - 1 - k + length]).abs()
        err = (err / h).T.cpu().double().numpy()  # [l, C]
        steps = self.seen + np.arange(length)
        err[steps < self.warmup] = np.nan
        self.predictions = allpred[:, :, -h:]
        self.seen += length
        cal = self.calibration
        z = np.nan_to_num((err - cal.centre) / cal.scale, nan=0.0)
        combined = combine_channels(z, self.combine)
        # the causal moving average, continued across calls: the window's start is the
        # stream's start or smooth - 1 steps back, as in an offline moving_average
        window = np.concatenate([self.recent, combined])
        csum = np.concatenate([[0.0], np.cumsum(window)])
        pos = len(self.recent) + np.arange(length)
        lo = np.maximum(pos + 1 - self.smooth, 0)
        scores = (csum[pos + 1] - csum[lo]) / (pos + 1 - lo)
        self.recent = window[max(len(window) - (self.smooth - 1), 0):] if self.smooth > 1 else np.zeros(0)
        return scores, (scores >= cal.threshold).astype(np.int64)
