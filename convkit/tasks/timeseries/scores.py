"""The trained model's raw per-step scores, before calibration: its errors and the novelty
of its features (:mod:`~convkit.tasks.timeseries.calibration` turns them into scores).

Errors: a forecaster's output ``[N, C, H, L]`` predicts, at step ``t``, steps
``t + 1 .. t + H``; the error of step ``s`` is the mean over ``k`` of
``|x[s] - prediction k made at s - 1 - k|`` (so it only uses the past). An autoencoder's
output ``[N, C, L]`` is a reconstruction; the error is ``|x - reconstruction|``. Steps
with no prediction from a full receptive field (the forecaster's warm-up: the first
``receptive field + H - 1`` steps of a series) have NaN errors and score 0.

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
offline only. It finds anomalies the ``train`` bank misses where a series wanders: a
random walk's test part reaches levels its training part never did. ``past``: the bank
is every earlier step of the series outside the same exclusion zone, growing as the
series goes on (causal and online, as nearest-neighbour detectors on NAB such as KNN-CAD
keep their memory: a new normal stops being novel once it has been seen; for NAB's
protocol and streaming).

A whole series is scored in chunks of thousands of steps, batched into one convolution
call (:func:`series_errors`), never window by window;
:class:`~convkit.tasks.timeseries.streaming.StreamingDetector` gives the same scores one
step or chunk at a time with the model's cached state.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from convkit.models.tcn import TCNForecaster
from convkit.tasks.timeseries.series import NOVELTY_REF_STEPS, NOVELTY_SERIES_STEPS, plan_chunks

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


NOVELTY_PAST_BANK = 32768
"""At most this many earlier steps (evenly spaced) form a ``past`` bank (all of most series)."""

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
                      bank_positions: Tensor | None = None, exclusion: int = 0, block: int = 1024,
                      causal: bool = False) -> Tensor:
    """``[L]`` float64: each of ``features [L, F]``'s Euclidean distance to the nearest row
    of ``bank [M, F]``, in blocks of rows (memory at most ``block x max(M, 1024)``, whatever
    ``L``). With ``exclusion``, only bank rows at least that many steps away count
    (``positions [L]`` and ``bank_positions [M]`` are their steps; the matrix profile's
    exclusion zone: a step's trivial matches are its neighbours); ``causal``: only rows at
    least that many steps *earlier*. Infinity where no row counts. In float64, so that a
    near-zero distance does not depend on how the steps were batched (float32's
    ``|a|^2 + |b|^2 - 2ab`` loses it to rounding)."""
    out = []
    rows = max(1, block * 1024 // max(len(bank), 1024))
    for a in range(0, len(features), rows):
        d = torch.cdist(features[a:a + rows].double(), bank.double())
        if causal:
            d = d.masked_fill(bank_positions[None, :] > positions[a:a + rows, None] - exclusion, float("inf"))
        elif exclusion:
            d = d.masked_fill((positions[a:a + rows, None] - bank_positions[None, :]).abs() < exclusion,
                              float("inf"))
        out.append(d.min(dim=1).values if d.shape[1] else d.new_full((d.shape[0],), float("inf")))
    return torch.cat(out) if out else features.new_zeros(0, dtype=torch.float64)


def past_bank(model: TCNForecaster, ref: Tensor, ref_start: int) -> tuple[Tensor, Tensor, Tensor]:
    """The ``past`` bank of the steps ``ref [C, R]`` (starting at step ``ref_start``):
    ``(features [R, F]``, the bank ``[M, F]`` (at most :data:`NOVELTY_PAST_BANK` evenly
    spaced steps with a full receptive field) and its steps ``[M]``)."""
    features = model.features(ref[None])[0].T  # [R, F]
    first = min(model.receptive_field - 1, len(features) - 1)
    every = max(1, -(-(len(features) - first) // NOVELTY_PAST_BANK))
    rows = torch.arange(first, len(features), every, device=ref.device)
    return features, features[rows], rows + ref_start


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
    none); the chunks of one series in the batch share its bank. ``past``: ``ref`` as for
    ``series`` but not z-normalised, and only the bank's steps at least half a receptive
    field *before* a step count (:func:`past_bank`; NaN where none does)."""
    if mode == "train":
        features = model.features(x).transpose(1, 2)  # [N, L, F]
        return torch.stack([nearest_distances(features[i], feature_bank(model, ref[i], int(ref_len[i])))
                            for i in range(x.shape[0])])
    rf, length = model.receptive_field, x.shape[-1]
    past = mode == "past"
    banks: dict[int, tuple[Tensor, Tensor, Tensor]] = {}  # the batch's chunks of one series share its bank
    out = []
    for i in range(x.shape[0]):
        start, count, first = int(ref_start[i]), int(ref_len[i]), int(in_start[i])
        key = int(series[i])
        if key not in banks:
            banks[key] = (past_bank if past else series_bank)(model, ref[i, :, :count], start)
        features, bank, rows = banks[key]
        steps = torch.arange(first, first + length, device=x.device)
        if past:  # the chunk's own features (its halo gives each kept step a full receptive field)
            query = model.features(x[i:i + 1])[0].T
        else:
            query = features[(steps - start).clamp(0, len(features) - 1)]
            if first < start:  # steps before the bank's source: their own features (the chunk's halo covers them)
                early = model.features(local_znorm(x[i:i + 1, :, :start - first], rf))[0].T
                query = torch.cat([early, query[len(early):]])
        d = nearest_distances(query, bank, steps, rows, max(1, rf // 2), causal=past)
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
    its last :data:`NOVELTY_SERIES_STEPS` steps). ``past``: against the earlier steps among
    its last :data:`NOVELTY_SERIES_STEPS` (causal). Equal to the training run's scoring."""
    model.eval()
    device = next(model.parameters()).device
    values = values.to(device)
    halo = model.receptive_field - 1
    if mode == "train":
        lo = max(ref[0], ref[1] - NOVELTY_REF_STEPS)
        bank = feature_bank(model, values[:, lo:ref[1]], ref[1] - lo)
        out = nearest_distances(_features_in_chunks(model, values, chunk), bank).cpu().numpy()
    elif mode == "past":
        start = max(0, values.shape[1] - NOVELTY_SERIES_STEPS)
        features = _features_in_chunks(model, values, chunk)  # [T, F]: causal, so equal to the bank's own
        first = min(start + model.receptive_field - 1, values.shape[1] - 1)
        every = max(1, -(-(values.shape[1] - first) // NOVELTY_PAST_BANK))
        rows = torch.arange(first, values.shape[1], every, device=device)
        steps = torch.arange(values.shape[1], device=device)
        out = nearest_distances(features, features[rows], steps, rows, max(1, model.receptive_field // 2),
                                causal=True).cpu().numpy()
        out[np.isinf(out)] = np.nan
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
