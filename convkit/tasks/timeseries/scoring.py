"""From a trained model to anomaly scores: per-step errors, calibration, thresholds, streaming.

Errors: a forecaster's output ``[N, C, H, L]`` predicts, at step ``t``, steps
``t + 1 .. t + H``; the error of step ``s`` is the mean over ``k`` of
``|x[s] - prediction k made at s - 1 - k|`` (so it only uses the past). An autoencoder's
output ``[N, C, L]`` is a reconstruction; the error is ``|x - reconstruction|``. Steps
with no prediction from a full receptive field (the forecaster's warm-up: the first
``receptive field + H - 1`` steps of a series) have NaN errors and score 0.

Scores: each error column (each channel's errors, and the novelty) is centred on the
median of its errors on the validation part and scaled by the distance from that median
to their 99th percentile (:func:`convkit.tasks.timeseries.anomaly.tail_centre_scale`:
columns with differently shaped tails then weigh alike), NaN set to 0, the columns
combined (mean or max), then optionally smoothed by a causal moving average. The
threshold comes from the validation scores: best F1 when the validation part holds
labelled anomalies, else a quantile.

Novelty (``task.novelty``, a forecaster only): a further error column, each step's
distance from the forecaster's per-step features (the TCN's output, which sums up the
receptive field ending there) to the nearest features elsewhere, as in nearest-neighbour
detection on learned features (Bergman, Cohen & Hoshen 2020; PatchCore, Roth et al.
2022). Forecast errors see what the next step should have been; the novelty sees a
stretch unlike the others (a missing beat, a stuck sensor, a changed cycle) even where
each step is predictable. ``train``: the bank is the series' training part (causal: for
streaming and NAB's online protocol). ``series``: a self-join, the bank the rest of the
series outside an exclusion zone of half a receptive field, its steps locally z-normalised
over a receptive field (:func:`local_znorm`): a discord (Yeh et al. 2016; Wu & Keogh
2021) in the forecaster's features, blind to a drifting level as the matrix profile is,
offline only. Measured (``python -m convkit.tasks.timeseries train --data DIR`` on 45
series of ``data_recipes/make_ucr_like.py``, seeds 0-2) the ``series`` novelty hits 43
of 45 anomalies, as the matrix-profile discord does, where the ``train`` one hits 34: a
random walk's test part reaches levels its training part never did (seeds 3-4, held
out: 26 of 30, the discord 28).

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
    tail_centre_scale,
    ucr_hit,
)
from convkit.tasks.timeseries.nab import PROFILES, normalised_score, null_and_perfect, row_weights, score_file
from convkit.tasks.timeseries.series import NOVELTY_REF_STEPS, NOVELTY_SERIES_STEPS, plan_chunks

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


NOVELTY_MODES: tuple[str, ...] = ("train", "series")
"""Where a step's features are compared (:func:`series_novelty`): ``train``, the series'
training part (causal: what streaming and NAB allow); ``series``, the rest of the series
itself (a self-join, like the matrix profile's discords; offline)."""

NOVELTY_BANK = 2048
"""At most this many feature vectors (evenly spaced over the training part) form a series' ``train`` bank."""

NOVELTY_SERIES_BANK = 8192
"""At most this many feature vectors (evenly spaced) form a series' ``series`` bank."""

LOCAL_STD_FLOOR = 1e-3
""":func:`local_znorm`'s floor on a window's standard deviation (the series is already
z-normalised on its training part: a stretch this flat is a constant)."""


def feature_bank(model: TCNForecaster, ref: Tensor, length: int, size: int = NOVELTY_BANK) -> Tensor:
    """The ``train`` memory bank ``[M, F]`` of one series: the forecaster's per-step features of its
    reference steps ``ref [C, R]`` (the first ``length`` are real, the rest padding) from
    the first step with a full receptive field, at most ``size`` evenly spaced."""
    first = model.receptive_field - 1
    features = model.features(ref[None, :, :length])[0, :, first:].T  # [R', F]
    if len(features) == 0:
        features = model.features(ref[None, :, :length])[0].T
    every = max(1, -(-len(features) // size))
    return features[::every]


def local_znorm(values: Tensor, window: int) -> Tensor:
    """``values [..., C, T]`` with each step z-normalised by the mean and standard deviation
    of the ``window`` steps ending there (fewer at the start; the standard deviation at
    least :data:`LOCAL_STD_FLOOR`), as the matrix profile z-normalises each subsequence:
    the features of the result see a stretch's shape, not its level or scale."""
    v = values.double()
    c1 = torch.nn.functional.pad(v.cumsum(-1), (1, 0))
    c2 = torch.nn.functional.pad((v * v).cumsum(-1), (1, 0))
    t = torch.arange(1, v.shape[-1] + 1, device=v.device)
    lo = (t - window).clamp(min=0)
    count = (t - lo).to(v.dtype)
    mean = (c1[..., t] - c1[..., lo]) / count
    var = (c2[..., t] - c2[..., lo]) / count - mean * mean
    return ((v - mean) / var.clamp(min=LOCAL_STD_FLOOR ** 2).sqrt()).to(values.dtype)


def nearest_distances(features: Tensor, bank: Tensor, positions: Tensor | None = None,
                      bank_positions: Tensor | None = None, exclusion: int = 0, block: int = 1024) -> Tensor:
    """``[L]`` float64: each of ``features [L, F]``'s Euclidean distance to the nearest row
    of ``bank [M, F]``, ``block`` rows at a time (memory ``block x M``, whatever ``L``).
    With ``exclusion``, only bank rows at least that many steps away count (``positions
    [L]`` and ``bank_positions [M]`` are their steps; the matrix profile's exclusion zone:
    a step's trivial matches are its neighbours); infinity where none does. In float64,
    so that a near-zero distance does not depend on how the steps were batched (float32's
    ``|a|^2 + |b|^2 - 2ab`` loses it to rounding)."""
    out = []
    for a in range(0, len(features), block):
        d = torch.cdist(features[a:a + block].double(), bank.double())
        if exclusion:
            d = d.masked_fill((positions[a:a + block, None] - bank_positions[None, :]).abs() < exclusion,
                              float("inf"))
        out.append(d.min(dim=1).values)
    return torch.cat(out) if out else features.new_zeros(0, dtype=torch.float64)


def series_bank(model: TCNForecaster, ref: Tensor, ref_start: int) -> tuple[Tensor, Tensor, Tensor]:
    """The ``series`` bank of the steps ``ref [C, R]`` (starting at step ``ref_start``):
    ``(features [R, F]`` of the locally z-normalised steps, the bank ``[M, F]`` (at most
    :data:`NOVELTY_SERIES_BANK` evenly spaced steps with a full receptive field) and its
    steps ``[M]``)."""
    rf = model.receptive_field
    features = model.features(local_znorm(ref, rf)[None])[0].T  # [R, F]
    first = min(rf - 1, len(features) - 1)
    every = max(1, -(-(len(features) - first) // NOVELTY_SERIES_BANK))
    rows = torch.arange(first, len(features), every, device=ref.device)
    return features, features[rows], rows + ref_start


def novelty_distances(model: TCNForecaster, x: Tensor, ref: Tensor, ref_len: Tensor, mode: str = "train",
                      in_start: Tensor | None = None, ref_start: Tensor | None = None,
                      series: Tensor | None = None) -> Tensor:
    """``[N, L]`` float64: the novelty of each step of the chunks ``x [N, C, L]``. ``train``:
    the distance from its features to the nearest of its series' ``train`` bank
    (:func:`feature_bank` of ``ref [N, C, R]``, ``ref_len [N]`` real steps). ``series``:
    ``ref`` holds the steps of the chunk's series (index ``series [N]``) from step
    ``ref_start [N]`` on, the chunk starts at step ``in_start [N]``; the distance from the
    features of its locally z-normalised steps to the nearest of the rest of the series'
    (:func:`series_bank`, :func:`nearest_distances`; NaN where the exclusion zone leaves
    none); the chunks of one series in the batch share its bank."""
    if mode == "train":
        features = model.features(x).transpose(1, 2)  # [N, L, F]
        return torch.stack([nearest_distances(features[i], feature_bank(model, ref[i], int(ref_len[i])))
                            for i in range(x.shape[0])])
    rf, length = model.receptive_field, x.shape[-1]
    banks: dict[int, tuple[Tensor, Tensor, Tensor]] = {}  # the batch's chunks of one series share its bank
    out = []
    for i in range(x.shape[0]):
        start, count, first = int(ref_start[i]), int(ref_len[i]), int(in_start[i])
        key = int(series[i])
        if key not in banks:
            banks[key] = series_bank(model, ref[i, :, :count], start)
        features, bank, rows = banks[key]
        steps = torch.arange(first, first + length, device=x.device)
        inside = steps >= start
        query = features[(steps - start).clamp(0, len(features) - 1)]
        if not inside.all():  # steps before the bank's source: their own features (the chunk's halo covers them)
            early = model.features(local_znorm(x[i:i + 1, :, :start - first], rf))[0].T
            query = torch.cat([early, query[len(early):]])
        d = nearest_distances(query, bank, steps, rows, max(1, rf // 2))
        out.append(d.masked_fill(torch.isinf(d), float("nan")))
    return torch.stack(out)


def _features_in_chunks(model: TCNForecaster, values: Tensor, chunk: int) -> Tensor:
    """The features ``[T, F]`` of ``values [C, T]``, chunk by chunk, each read with a
    receptive field of context (equal to one pass)."""
    halo = model.receptive_field - 1
    out = []
    for start in range(0, values.shape[1], chunk):
        end = min(start + chunk, values.shape[1])
        part = values[:, max(start - halo, 0):end]
        out.append(model.features(part[None])[0].T[start - max(start - halo, 0):])
    return torch.cat(out)


@torch.no_grad()
def series_novelty(model: TCNForecaster, values: Tensor, ref: tuple[int, int], chunk: int = 8192,
                   mode: str = "train") -> np.ndarray:
    """The novelty of every step of ``values [C, T]``, float64 ``[T]``; NaN for the first
    receptive field - 1 steps. ``train``: against the bank of its steps ``[ref[0],
    ref[1])`` (the training part), in chunks of ``chunk`` steps (equal to one pass).
    ``series``: against the rest of the series (:func:`novelty_distances`; the bank from
    its last :data:`NOVELTY_SERIES_STEPS` steps). Equal to the training run's scoring."""
    model.eval()
    device = next(model.parameters()).device
    values = values.to(device)
    halo = model.receptive_field - 1
    if mode == "train":
        lo = max(ref[0], ref[1] - NOVELTY_REF_STEPS)
        bank = feature_bank(model, values[:, lo:ref[1]], ref[1] - lo)
        out = nearest_distances(_features_in_chunks(model, values, chunk), bank).cpu().numpy()
    else:
        start = max(0, values.shape[1] - NOVELTY_SERIES_STEPS)
        features, bank, rows = series_bank(model, values[:, start:], start)
        rf = model.receptive_field
        # steps before the bank's source: their own locally z-normalised features, in chunks
        early = (_features_in_chunks(model, local_znorm(values[:, :start], rf), chunk) if start else
                 features[:0])
        steps = torch.arange(values.shape[1], device=device)
        out = nearest_distances(torch.cat([early, features]), bank, steps, rows, max(1, rf // 2)).cpu().numpy()
        out[np.isinf(out)] = np.nan
    out[:halo] = np.nan
    return out


# ----------------------------------------------------------------------------- scores and thresholds


@dataclass
class Calibration:
    """What turns errors into flagged steps: per-column ``centre`` and ``scale`` ``[C]``
    of the validation errors (:func:`~convkit.tasks.timeseries.anomaly.tail_centre_scale`),
    the ``threshold`` on the combined score, the ``rule`` that chose it and the ``smooth``
    window of the score (0 in checkpoints from before it was stored: the config's
    ``task.smooth`` then); ``novelty``: the novelty mode of the last column
    (:data:`NOVELTY_MODES`; empty: no novelty column)."""

    centre: np.ndarray
    scale: np.ndarray
    threshold: float
    rule: str
    smooth: int = 0
    novelty: str = ""

    def to_dict(self) -> dict:
        """Plain values (for checkpoints)."""
        return {"centre": [float(v) for v in self.centre], "scale": [float(v) for v in self.scale],
                "threshold": float(self.threshold), "rule": self.rule, "smooth": int(self.smooth),
                "novelty": self.novelty}

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        """Inverse of ``to_dict``."""
        novelty = d.get("novelty", "")
        return cls(np.asarray(d["centre"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64),
                   float(d["threshold"]), str(d["rule"]), int(d.get("smooth", 0)),
                   "train" if novelty is True else "" if novelty is False else str(novelty))


def errors_to_scores(errors: np.ndarray, centre: np.ndarray, scale: np.ndarray, combine: str = "mean",
                     smooth: int = 1) -> np.ndarray:
    """Scores ``[T]`` from errors ``[T, C]`` (the novelty, when there is one, is a column like
    the channels' errors): each column centred and scaled, the columns combined (a step
    with any NaN column, the warm-up, scores 0), a causal moving average over ``smooth`` steps."""
    z = (np.asarray(errors, dtype=np.float64) - centre) / scale
    combined = combine_channels(np.nan_to_num(z, nan=0.0), combine)
    combined[np.isnan(z).any(axis=1)] = 0.0
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
              quantile: float, novelty: str = "") -> tuple[Calibration, np.ndarray]:
    """Calibration from the validation part's errors ``[T, C]`` (and labels ``[T]``;
    ``novelty``: the last column's novelty mode, empty for none).

    Returns:
        ``(calibration, validation scores [T])``.
    """
    finite = val_errors[np.isfinite(val_errors).all(axis=1)]
    centre, scale = tail_centre_scale(finite if len(finite) else np.zeros((1, val_errors.shape[1])))
    scores = errors_to_scores(val_errors, centre, scale, combine, smooth)
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
        reference: the series' training part ``[R, C]`` (raw units) when the calibration
            adds the novelty (``task.novelty``): its memory bank, as :func:`series_novelty`
            builds it from the same steps, so the streamed novelty equals the offline one.
    """

    def __init__(self, model: TCNForecaster, mean: np.ndarray, std: np.ndarray, calibration: Calibration,
                 combine: str = "mean", smooth: int = 1, reference: np.ndarray | None = None) -> None:
        self.stream = TCNStream(model)
        self.horizon = model.horizon
        self.warmup = model.receptive_field + model.horizon - 1
        self.mean, self.std, self.calibration = np.asarray(mean), np.asarray(std), calibration
        self.combine, self.smooth = combine, int(smooth)
        self.device = next(model.parameters()).device
        self.bank: Tensor | None = None
        if calibration.novelty == "series":
            raise ConfigError("this calibration's novelty compares each step with the whole series "
                              "(task.novelty=series, offline): stream a run trained with task.novelty=train or none")
        if calibration.novelty:
            if reference is None:
                raise ConfigError("this calibration adds the training part's novelty (task.novelty=train): pass "
                                  "reference=, the series' training part [R, C] in raw units, the memory bank's source")
            ref = np.asarray(reference, dtype=np.float64)
            ref = ref[:, None] if ref.ndim == 1 else ref
            ref = ref[max(0, len(ref) - NOVELTY_REF_STEPS):]  # as series_novelty: the last steps of a long part
            if len(ref) < model.receptive_field:
                raise ConfigError(f"reference: {len(ref)} steps, fewer than the model's receptive field "
                                  f"({model.receptive_field})")
            x = torch.from_numpy(((ref - self.mean) / self.std).T.astype(np.float32)).to(self.device)
            with torch.no_grad():
                self.bank = feature_bank(model.eval(), x, x.shape[1])
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
        if self.bank is not None:  # the novelty column: no full receptive field, no novelty (series_novelty)
            novelty = nearest_distances(self.stream.features[0].T, self.bank).cpu().numpy()
            novelty[steps < self.stream.model.receptive_field - 1] = np.nan
            err = np.concatenate([err, novelty[:, None]], axis=1)
        self.predictions = allpred[:, :, -h:]
        self.seen += length
        cal = self.calibration
        combined = errors_to_scores(err, cal.centre, cal.scale, self.combine, 1)
        # the causal moving average, continued across calls: the window's start is the
        # stream's start or smooth - 1 steps back, as in an offline moving_average
        window = np.concatenate([self.recent, combined])
        csum = np.concatenate([[0.0], np.cumsum(window)])
        pos = len(self.recent) + np.arange(length)
        lo = np.maximum(pos + 1 - self.smooth, 0)
        scores = (csum[pos + 1] - csum[lo]) / (pos + 1 - lo)
        self.recent = window[max(len(window) - (self.smooth - 1), 0):] if self.smooth > 1 else np.zeros(0)
        return scores, (scores >= cal.threshold).astype(np.int64)
