"""Series prepared for the anomaly detector: parts, normalisation, the datasets the engine
reads, and each series' scores reassembled from a split's outputs.

Each series is cut into three consecutive parts (:func:`split_parts`):

* ``fit``: training windows are drawn from it (normal data);
* ``val``: validation; its errors set the robust z-score of each channel and the threshold;
* ``test``: scored for the test metrics.

``data.val_split = "after_train"`` (default; the embedded data and CSVs, whose labelled
anomalies lie after the training part) takes ``val`` as the first ``val_fraction`` of
what follows the training part; ``"train_tail"`` (UCR archive, NAB: anomalies only after
the training part) takes it as the last ``val_fraction`` of the training part and tests
on everything after it. A series from a benchmark archive follows the archive's protocol
whatever the config (:func:`series_protocol`).

Values are z-normalised per channel with the mean and standard deviation of the
series' training part. The datasets hand the engine tensors ``[C, L]`` (time last).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from convkit.errors import ConfigError, DataError
from convkit.tasks.timeseries.calibration import Calibration, Scoring, calibrate, smoothing_window, step_scores
from convkit.tasks.timeseries.data import UCR_ANOMALY_NAME, SeriesData
from convkit.tasks.timeseries.metrics import PartScores

VAL_SPLITS: tuple[str, ...] = ("after_train", "train_tail")
"""Where the validation part of a series lies (see the module docstring)."""

NOVELTY_REF_STEPS = 16384
"""A ``train`` novelty bank comes from the last this many steps of the training part (a long one is cut)."""

NOVELTY_SERIES_STEPS = 65536
"""A ``series`` or ``past`` novelty bank comes from the last this many steps of the series (all of most series)."""

NOVELTY_MODES: tuple[str, ...] = ("train", "series", "past")
"""Where a step's features are compared (:func:`~convkit.tasks.timeseries.scores.series_novelty`):
``train``, the series' training part (causal: what streaming and NAB allow); ``series``, the
rest of the series itself (a self-join, like the matrix profile's discords; offline);
``past``, every earlier step of the series outside an exclusion zone (causal and online:
the bank grows)."""

ARCHIVE_VAL_FRACTION = 0.25
"""The share of an archive series' training part (a UCR anomaly archive file's, NAB's
probationary period) that validates, unless the config already asks for a training-tail
validation (then its ``data.val_fraction``)."""

ARCHIVE_PROTOCOLS: dict[str, str] = {
    "ucr_anomaly": "UCR anomaly archive protocol ({count} series): train on [0, train end), validate on the last "
                   "{fraction:g} of it, test on everything after the training end (ucr_hit in the test block)",
    "nab": "NAB protocol ({count} series): train on each file's probationary period (its first {train:.0%}), "
           "validate on the last {fraction:g} of it, test on everything after it (NAB scores all of it)",
}
"""The log line of each archive's protocol (:func:`series_protocol`)."""


@dataclass(frozen=True)
class SeriesProtocol:
    """Where one series' validation part lies (``val_split``, ``val_fraction``: see the
    module docstring) and the benchmark ``archive`` whose protocol set them (``nab``,
    ``ucr_anomaly``; empty: any other series, which follows the config)."""

    val_split: str
    val_fraction: float
    archive: str = ""


def series_protocol(series: SeriesData, val_split: str, val_fraction: float) -> SeriesProtocol:
    """The protocol of one series under the config's ``data.val_split``/``data.val_fraction``.
    A series from a benchmark archive imposes the archive's protocol whatever the config: a
    UCR anomaly archive file (``NNN_UCR_Anomaly_..._<train end>_<begin>_<end>``) validates
    on the tail of ``[0, train end)`` so that the test part is everything after it and holds
    the anomaly; a NAB file validates on the tail of its probationary period, so that the
    test part is everything NAB scores (the last :data:`ARCHIVE_VAL_FRACTION` of it, or
    ``val_fraction`` when the config already asks for ``train_tail``)."""
    archive = series.archive or ("ucr_anomaly" if UCR_ANOMALY_NAME.match(series.name + ".txt") else "")
    if archive:
        return SeriesProtocol("train_tail", val_fraction if val_split == "train_tail" else ARCHIVE_VAL_FRACTION,
                              archive)
    return SeriesProtocol(val_split, val_fraction)


def calibration_labels(series: SeriesData, part: tuple[int, int]) -> np.ndarray | None:
    """The labels of ``series`` over ``part`` that may set its threshold and pick the
    checkpoint; None for a NAB file, whose protocol allows no detector to see a label
    (its probationary period's windows stay unused)."""
    if series.labels is None or series.archive == "nab":
        return None
    return series.labels[part[0]:part[1]]


@dataclass(frozen=True)
class Parts:
    """Step ranges ``[start, end)`` of one series: ``fit`` (training windows), ``val``, ``test``."""

    fit: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]


def split_parts(length: int, train_end: int, val_split: str, val_fraction: float, name: str) -> Parts:
    """The fit/val/test parts of a series of ``length`` steps whose training part is ``[0, train_end)``.

    Raises:
        ConfigError: unknown ``val_split`` or ``val_fraction`` outside (0, 1).
        DataError: a part would be empty (the message names the series and the sizes).
    """
    if val_split not in VAL_SPLITS:
        raise ConfigError(f"data.val_split must be one of {', '.join(VAL_SPLITS)}; got {val_split!r}")
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"data.val_fraction must lie strictly between 0 and 1; got {val_fraction}")
    if val_split == "after_train":
        val_end = train_end + int(round(val_fraction * (length - train_end)))
        parts = Parts((0, train_end), (train_end, val_end), (val_end, length))
    else:
        val_start = train_end - int(round(val_fraction * train_end))
        parts = Parts((0, val_start), (val_start, train_end), (train_end, length))
    for what, (start, end) in (("training", parts.fit), ("validation", parts.val), ("test", parts.test)):
        if end <= start:
            raise DataError(f"{name}: the {what} part is empty ({length} steps, training part {train_end}, "
                            f"data.val_split={val_split}, data.val_fraction={val_fraction}); "
                            f"use a longer series or other fractions")
    return parts


@dataclass
class PreparedSeries:
    """One series ready for the model.

    Attributes:
        source: the series as loaded (timestamps, channel names, raw values ``[T, C]``).
        values: float32 ``[C, T]``, z-normalised per channel.
        labels: int64 ``[T]`` or None.
        parts: the fit/val/test step ranges.
        mean, std: float64 ``[C]``, the normalisation (from the training part).
        smooth: the score's causal moving-average window
            (:func:`~convkit.tasks.timeseries.calibration.smoothing_window`).
    """

    source: SeriesData
    values: torch.Tensor
    labels: np.ndarray | None
    parts: Parts
    mean: np.ndarray
    std: np.ndarray
    smooth: int = 1

    @property
    def name(self) -> str:
        """The series' name."""
        return self.source.name


def normaliser(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation (1 where it is 0) of ``values [T, C]``, float64 ``[C]``."""
    values = np.asarray(values, dtype=np.float64)
    std = values.std(axis=0)
    return values.mean(axis=0), np.where(std > 0, std, 1.0)


def normalise(values: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """``(values [T, C] - mean) / std`` as float32 ``[C, T]``."""
    out = (np.asarray(values, dtype=np.float64) - np.asarray(mean)) / np.asarray(std)
    return torch.from_numpy(np.ascontiguousarray(out.T, dtype=np.float32))


def prepare_series(series: SeriesData, val_split: str, val_fraction: float, min_fit: int,
                   stats: tuple[np.ndarray, np.ndarray] | None = None, where: str | None = None,
                   smooth: int = 1) -> PreparedSeries:
    """Split, check and normalise one series (``smooth``: ``task.smooth``, 0 for
    :func:`~convkit.tasks.timeseries.calibration.smoothing_window`'s choice from the
    training part).

    Args:
        min_fit: the fewest steps the training part must hold (one window: the model's
            receptive field plus the horizon).
        stats: ``(mean, std)`` to normalise with; None takes the series' own training part.
        where: how messages name the series (default: its name), e.g. its file.

    Raises:
        DataError: a part is empty, or the training part is shorter than ``min_fit``.
    """
    where = where or series.name
    parts = split_parts(series.length, series.train_end, val_split, val_fraction, where)
    fit_len = parts.fit[1] - parts.fit[0]
    if fit_len < min_fit:
        raise DataError(f"{where}: the training part has {fit_len} steps, shorter than the model's "
                        f"receptive field plus horizon ({min_fit} steps); use a longer series, a larger "
                        f"training part or a smaller task.context")
    mean, std = stats if stats is not None else normaliser(series.values[: series.train_end])
    return PreparedSeries(series, normalise(series.values, mean, std), series.labels, parts,
                          np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64),
                          smoothing_window(smooth, series.values[: series.train_end]))


def check_channels(series: list[SeriesData], expected: list[str] | None = None,
                   where: list[str] | None = None) -> list[str]:
    """The channel names every series shares (or ``expected``); a DataError names the first
    series with a different number of channels (by ``where``, default its name)."""
    names = expected if expected is not None else series[0].channel_names
    for i, s in enumerate(series):
        if s.num_channels != len(names):
            what = "the model takes" if expected is not None else f"{series[0].name} has"
            raise DataError(f"{where[i] if where else s.name}: {s.num_channels} channels {s.channel_names}, "
                            f"but {what} {len(names)} {names}")
    return list(names)


# ----------------------------------------------------------------------------- datasets


class TrainWindows(Dataset):
    """Training windows from the fit parts: item ``i`` is ``{"x": [C, window], "first": int64}``,
    ``first`` being the first step whose prediction sees a full receptive field (the loss
    starts there). Windows start every ``stride`` steps; the last one ends at the part's end."""

    def __init__(self, series: list[PreparedSeries], window: int, stride: int, first: int) -> None:
        if window < 2 or stride < 1:
            raise ConfigError(f"task.window must be >= 2 and task.stride >= 1; got {window} and {stride}")
        self.series, self.window, self.first = series, window, first
        index = []
        for i, s in enumerate(series):
            start, end = s.parts.fit
            w = min(window, end - start)
            starts = list(range(start, end - w + 1, stride))
            if starts[-1] != end - w:
                starts.append(end - w)
            index += [(i, st, w) for st in starts]
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        series, start, w = self.index[i]
        x = self.series[series].values[:, start:start + w]
        if w < self.window:  # a short training part: pad on the right, where no loss is taken
            x = torch.nn.functional.pad(x, (0, self.window - w))
        return {"x": x, "first": torch.tensor(self.first), "length": torch.tensor(w)}


@dataclass(frozen=True)
class Chunk:
    """One piece of a scoring pass: the model reads steps ``[in_start, in_end)`` and the
    errors of ``[keep_start, keep_end)`` are kept (the rest is context)."""

    in_start: int
    in_end: int
    keep_start: int
    keep_end: int


def plan_chunks(start: int, end: int, length: int, chunk: int, halo_left: int, halo_right: int,
                align: int = 1) -> list[Chunk]:
    """Cover ``[start, end)`` of a series of ``length`` steps with chunks of at most ``chunk``
    kept steps, each read with ``halo_left``/``halo_right`` steps of context (clipped to
    the series), so every kept output equals the one of a pass over the whole series.
    Chunk boundaries (and the halos, rounded up) are multiples of ``align`` (a model that
    pools in time by ``align`` then sees the same pooling grid)."""
    if chunk < 1:
        raise ConfigError(f"task.score_chunk must be at least 1; got {chunk}")
    align = max(int(align), 1)
    chunk = max(align, chunk // align * align)
    halo_left = align * math.ceil(halo_left / align)
    halo_right = align * math.ceil(halo_right / align)
    first = start // align * align
    out = []
    for keep_start in range(first, end, chunk):
        keep_end = min(keep_start + chunk, end)
        out.append(Chunk(max(keep_start - halo_left, 0), min(keep_end + halo_right, length),
                         max(keep_start, start), keep_end))
    return out


class ScoreChunks(Dataset):
    """The chunks that score one split (``"val"`` or ``"test"``) of every series.

    Each series is scored over ``[val start, split end)`` (``[0, split end)`` with the
    anomaly likelihood: :meth:`span`): the validation part is the reference that
    normalises the errors and sets the threshold, so the test split scores it too (with
    the same weights as the test part). Item ``i`` is a dict: ``x`` ``[C, L]``
    (zero-padded on the right to the longest chunk), ``series``, ``in_start``,
    ``keep_from`` (offset of the first kept step in ``x``) and ``keep_len``; with
    ``scoring.novelty`` also ``ref`` ``[C, R]``, the series' reference steps (``train``:
    the end of its fit part, at most :data:`NOVELTY_REF_STEPS`; ``series``: the end of the
    series, at most :data:`NOVELTY_SERIES_STEPS`, and then also ``ref_start``, its first
    step; ``past``: the same, up to the split's end), zero-padded to the longest, ``ref_len``
    and ``novelty``, the mode's index in :data:`NOVELTY_MODES`.

    ``scoring`` holds the settings that turn the errors into scores and flags; the dataset
    is never written after it is built.
    """

    def __init__(self, series: list[PreparedSeries], split: str, chunk: int, halo_left: int, halo_right: int,
                 align: int, scoring: Scoring) -> None:
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test'; got {split!r}")
        self.series, self.split, self.scoring = series, split, scoring
        self.chunks: list[tuple[int, Chunk]] = []
        for i in range(len(series)):
            start, end = self.span(i)
            self.chunks += [(i, c) for c in plan_chunks(start, end, series[i].values.shape[1], chunk,
                                                        halo_left, halo_right, align)]
        self.width = max(c.in_end - c.in_start for _, c in self.chunks)
        mode = self.scoring.novelty
        ends = [getattr(s.parts, split)[1] if mode == "past" else s.values.shape[1] for s in series]  # past: causal
        self.refs = ([(max(s.parts.fit[0], s.parts.fit[1] - NOVELTY_REF_STEPS), s.parts.fit[1]) for s in series]
                     if mode == "train" else
                     [(max(0, end - NOVELTY_SERIES_STEPS), end) for end in ends]
                     if mode in ("series", "past") else None)
        self.ref_width = max(b - a for a, b in self.refs) if self.refs else 0

    def __len__(self) -> int:
        return len(self.chunks)

    def span(self, i: int) -> tuple[int, int]:
        """Steps ``[start, end)`` of series ``i`` this split scores: from its validation part
        on, or from its first step when the scores are anomaly likelihoods (they learn from
        the training part on)."""
        s = self.series[i]
        return 0 if self.scoring.likelihood is not None else s.parts.val[0], getattr(s.parts, self.split)[1]

    def __getitem__(self, i: int) -> dict:
        series, c = self.chunks[i]
        x = self.series[series].values[:, c.in_start:c.in_end]
        x = torch.nn.functional.pad(x, (0, self.width - x.shape[1]))
        item = {"x": x, "series": torch.tensor(series), "in_start": torch.tensor(c.in_start),
                "keep_from": torch.tensor(c.keep_start - c.in_start),
                "keep_len": torch.tensor(c.keep_end - c.keep_start)}
        if self.refs is not None:
            lo, hi = self.refs[series]
            ref = self.series[series].values[:, lo:hi]
            item["ref"] = torch.nn.functional.pad(ref, (0, self.ref_width - ref.shape[1]))
            item["ref_len"] = torch.tensor(hi - lo)
            item["novelty"] = torch.tensor(NOVELTY_MODES.index(self.scoring.novelty))
            if self.scoring.novelty in ("series", "past"):
                item["ref_start"] = torch.tensor(lo)
        return item


# ----------------------------------------------------------------------------- a split's scores, per series


@dataclass
class ScoredSeries:
    """A series' scores over the steps ``[start, end)`` one split scores (validation part
    first), with the calibration from its validation part: ``scores [end - start]`` and
    ``sq [end - start]``, the squared error per step (mean over channels)."""

    series: PreparedSeries
    start: int
    end: int
    scores: np.ndarray
    sq: np.ndarray
    calibration: Calibration

    def part(self, split: str) -> PartScores:
        """The scores of the split's own part (``val`` or ``test``), as the metrics take them
        (a NAB file's windows with a part that runs to the file's end: NAB scores it whole)."""
        lo, hi = getattr(self.series.parts, split)
        labels = None if self.series.labels is None else self.series.labels[lo:hi]
        sq = self.sq[lo - self.start:hi - self.start]
        return PartScores(self.series.name, lo, hi, self.scores[lo - self.start:hi - self.start], labels,
                          self.calibration.threshold,
                          float(np.nanmean(sq)) if np.isfinite(sq).any() else float("nan"),
                          nab_windows(self.series.source) if hi == self.series.source.length else None)


def nab_windows(series: SeriesData) -> list[tuple[int, int]] | None:
    """A NAB file's windows as rows (its test part is then scored as NAB scores the whole
    file: :func:`~convkit.tasks.timeseries.metrics.nab_file`); None for any other series."""
    return list(series.windows) if series.archive == "nab" else None


def score_series(s: PreparedSeries, start: int, errors: np.ndarray, sq: np.ndarray,
                 scoring: Scoring) -> ScoredSeries:
    """Calibrate ``errors [L, C]`` of the steps ``[start, start + L)`` of ``s`` on its
    validation part and score them (``sq [L, C]``: the squared errors; ``scoring.novelty``:
    the last column of ``errors`` is that novelty). With ``scoring.likelihood`` the steps
    start at the series' first (``start`` 0): the anomaly likelihood learns from the
    training part on (:func:`~convkit.tasks.timeseries.calibration.step_scores`)."""
    if scoring.likelihood is not None and start != 0:
        raise ValueError(f"the anomaly likelihood scores a series from its first step; got start={start}")
    lo, hi = s.parts.val
    labels = calibration_labels(s.source, s.parts.val)
    cal, _ = calibrate(errors[lo - start:hi - start], labels, scoring.combine, s.smooth,
                       scoring.threshold, scoring.quantile, scoring.novelty, scoring.likelihood, scoring.errors)
    scores = step_scores(errors, cal, scoring.combine, s.smooth, s.source.train_end, s.values.T.numpy())
    return ScoredSeries(s, start, start + len(errors), scores, sq.mean(axis=1), cal)


def score_split(collected: dict[str, Tensor], dataset: ScoreChunks) -> list[ScoredSeries]:
    """Reassemble the flattened evaluation outputs of a split (``err [S, C]``, ``sq [S, C]``,
    ``series [S]``, ``step [S]``) into each series' errors, calibrate on its validation part
    and score what the split scores of it (:meth:`ScoreChunks.span`)."""
    series_of, step = collected["series"].numpy(), collected["step"].numpy()
    err, sq = collected["err"].double().numpy(), collected["sq"].double().numpy()
    order = np.argsort(series_of, kind="stable")
    bounds = np.searchsorted(series_of[order], np.arange(len(dataset.series) + 1))
    out = []
    for i, s in enumerate(dataset.series):
        start, end = dataset.span(i)
        rows = order[bounds[i]:bounds[i + 1]]
        e = np.full((end - start, err.shape[1]), np.nan)
        q = np.full((end - start, sq.shape[1]), np.nan)
        e[step[rows] - start], q[step[rows] - start] = err[rows], sq[rows]
        out.append(score_series(s, start, e, q, dataset.scoring))
    return out
