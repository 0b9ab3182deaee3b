"""Anomaly detection in series (``task.mode = "anomaly"``, the default) with a dilated TCN.

A TCN learns, self-supervised on the training part of each series, to forecast the next
``task.horizon`` steps (``task.objective = "forecast"``, a causal
:class:`~convkit.models.tcn.TCNForecaster`) or to reconstruct its input
(``"reconstruct"``, a :class:`~convkit.models.tcn.TCNAutoencoder`). The number of levels
is the fewest whose receptive field covers ``task.context`` steps. Each step's error per
channel, and the novelty of the forecaster's features (``task.novelty``: against the rest
of the series by default, against the training part for NAB and streaming;
:mod:`~convkit.tasks.timeseries.scores`), are scaled on the validation part, combined and
smoothed; the threshold comes from the validation part too
(:mod:`~convkit.tasks.timeseries.calibration`). Validation and test are scored as whole
series (chunks of ``task.score_chunk`` steps batched into one convolution call;
:mod:`~convkit.tasks.timeseries.series`).

Metrics (:mod:`~convkit.tasks.timeseries.metrics`): ``roc_auc``, ``pr_auc`` (the headline),
``best_f1``, ``precision``/``recall``/``f1`` at the chosen threshold (all point-wise),
``pa_f1`` (point-adjusted: one flagged step counts its whole labelled segment as found,
which inflates scores; reported because the literature does), ``ucr_hit`` for
single-anomaly series (a folder of UCR archive files: ``ucr_hit_rate``, ``ucr_series`` and
``ucr_series.csv`` in the run folder), NAB's ``nab``/``nab_low_fp``/``nab_low_fn`` at the
validation threshold and ``nab_opt*`` at NAB's corpus-optimised one
(:mod:`~convkit.tasks.timeseries.nab`), ``threshold``, ``flagged`` and ``loss``. Early
stopping follows the validation ``pr_auc`` when the validation parts hold labelled
anomalies, else the validation ``loss`` (``Data.monitor``).

Baselines (:mod:`~convkit.tasks.timeseries.baselines`), scored like the model on each
series' test part: the ``linear`` and ``mlp`` forecasters, and the classical
``rolling_zscore``, ``isolation_forest`` and ``discord``.

Calibration for ``detect`` (the task's name for ``predict``): a run on one series stores
its input normalisation in ``Data.info`` (:class:`DetectionInfo`), and each validation pass
returns that series' error calibration and threshold from ``derive_state``; the engine
keeps it with the weights of the same epoch (``task_state`` of ``best.pt``), and ``detect``
scores new data from that source with them. A run on many series (a folder) normalises
and calibrates each series on its own training and validation parts, and ``detect`` does
the same for each input file. ``detect`` writes per-step scores and flags to CSV and a
plot under ``runs/timeseries/detect/``.
"""

from __future__ import annotations

import csv
import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from convkit.errors import CheckpointError, ConfigError, DataError
from convkit.models.tcn import TCNAutoencoder, TCNForecaster, tcn_autoencoder, tcn_forecaster
from convkit.models.weights import load_weights
from convkit.tasks.timeseries.base import TimeSeriesBase, series_data
from convkit.tasks.timeseries.baselines import classical_baselines, forecaster_baselines
from convkit.tasks.timeseries.calibration import Calibration, calibrate, smoothing_window, step_scores
from convkit.tasks.timeseries.config import DetectionRunConfig, TimeSeriesRunConfig
from convkit.tasks.timeseries.data import SeriesData, load_series
from convkit.tasks.timeseries.likelihood import Likelihood
from convkit.tasks.timeseries.metrics import anomaly_metrics, split_metrics
from convkit.tasks.timeseries.nab import NAB_RESULTS, write_nab_results
from convkit.tasks.timeseries.plots import plot_anomalies
from convkit.tasks.timeseries.scores import novelty_distances, series_errors, series_novelty, step_errors
from convkit.tasks.timeseries.series import (
    ARCHIVE_PROTOCOLS,
    NOVELTY_MODES,
    PreparedSeries,
    ScoreChunks,
    TrainWindows,
    calibration_labels,
    check_channels,
    normalise,
    normaliser,
    prepare_series,
    score_split,
    series_protocol,
    split_parts,
)
from convkit.tasks.timeseries.synthetic import make_sensor_series, min_sensor_length, sensor_channel_names
from convkit.train.task import Data, Trained
from convkit.train.transfer import pretrained_weights

DETECT_DIR = Path("runs") / "timeseries" / "detect"
"""Where ``detect`` writes its CSV files and plots without ``--out`` (relative to the working folder)."""

DEFAULT_MODEL = "tcn"
"""Anomaly mode's model: every step is forecast or reconstructed by a TCN."""


# ----------------------------------------------------------------------------- what a run built


@dataclass
class Geometry:
    """How far the model sees (:func:`geometry`): its ``receptive_field`` and ``horizon``,
    ``first`` (the first step a training loss is taken at), ``min_fit`` (the fewest
    training steps), the scoring halos ``halo_left``/``halo_right`` (steps of context a
    chunk is read with), ``align`` (chunk boundaries are multiples of it), ``warmup``
    (steps with no full receptive field) and the TCN's ``levels``."""

    receptive_field: int = 0
    horizon: int = 0
    first: int = 0
    min_fit: int = 0
    halo_left: int = 0
    halo_right: int = 0
    align: int = 1
    warmup: int = 0
    levels: int = 0


@dataclass
class Normaliser:
    """The input normalisation of a run on one series: per-channel ``mean`` and ``std`` ``[C]``."""

    mean: list[float]
    std: list[float]


@dataclass
class DetectionInfo(Geometry):
    """``Data.info`` of anomaly detection (stored in checkpoints as plain values): the
    model's :class:`Geometry`, ``objective``, ``novelty`` (the novelty column's mode; empty:
    none), the ``channels`` the model takes, the ``source`` and its ``series`` names (at most
    1000), and the ``normaliser`` of a run on one series (None for many: each is normalised
    on its own training part). Built from the config alone (``input_spec``), ``series`` is
    empty and ``normaliser`` None: the data sets them."""

    mode: str = "anomaly"
    objective: str = "forecast"
    novelty: str = ""
    channels: list[str] = field(default_factory=list)
    source: str = ""
    series: list[str] = field(default_factory=list)
    normaliser: Normaliser | None = None

    def __post_init__(self) -> None:
        if isinstance(self.normaliser, dict):  # as a checkpoint stores it
            self.normaliser = Normaliser(**self.normaliser)


@dataclass
class DetectInput:
    """One ``detect`` input (:meth:`SeriesDetectionTask.load_inputs`): the file's ``path``,
    its ``series``, ``x [C, T]`` normalised (with the run's normalisation, or on its own
    training part), the validation part ``val`` that calibrates it (None: the run's
    calibration applies) and its training part ``fit`` (the novelty bank's source)."""

    path: str
    series: SeriesData
    x: Tensor
    val: tuple[int, int] | None
    fit: tuple[int, int]


FAR_OUT_SIGMAS = 3.0
"""``detect`` warns when a channel of a series scored with the run's normalisation has a
mean more than this many training standard deviations away, or a spread this many times
wider or narrower: the model then scores data unlike anything it was trained on."""


def far_out_warning(x: Tensor, flagged: np.ndarray) -> str | None:
    """A warning when ``x [C, T]`` (normalised with the training statistics) lies far from
    the training data (see ``FAR_OUT_SIGMAS``), or None."""
    values = x.double().numpy()
    shift = float(np.abs(np.nanmean(values, axis=1)).max())
    spread = np.nanstd(values, axis=1)
    scale = float(np.max(np.maximum(spread, 1 / np.maximum(spread, 1e-12))))  # wider or narrower
    if shift <= FAR_OUT_SIGMAS and scale <= FAR_OUT_SIGMAS:
        return None
    return (f"this series lies far from the training data (a channel mean {shift:.1f} training standard deviations "
            f"away, spread up to {scale:.1f}x), so the run's calibration may not apply ({flagged.mean():.0%} of "
            f"steps flagged); train on data of this kind")


class SeriesDetectionTask(TimeSeriesBase):
    """Anomaly detection: training batches are dicts of windows ``x [N, C, window]``,
    ``first`` and ``length``; evaluation batches are chunks of whole series (see
    :class:`~convkit.tasks.timeseries.series.ScoreChunks`). See the module docstring."""

    mode = "anomaly"
    config_class = DetectionRunConfig
    info_class = DetectionInfo
    default_model = DEFAULT_MODEL
    monitor = "pr_auc"
    monitor_mode = "max"

    # ---- data and model

    def build_data(self, cfg: TimeSeriesRunConfig) -> Data:
        """Training windows and the validation and test chunks of ``data.path`` (empty: the
        embedded sensor series). ``Data.monitor`` is ``pr_auc`` when the validation parts
        hold labelled anomalies, else the validation ``loss`` (min)."""
        _check_novelty(cfg)
        series, where = _load(cfg)
        return self.series_run_data(cfg, series, where, str(cfg.data.path or "embedded sensor series"))

    def series_run_data(self, cfg: TimeSeriesRunConfig, series: list[SeriesData], where: list[str],
                        source: str) -> Data:
        """The run's ``Data`` of ``series`` (``build_data``'s, or a series in memory of the
        scikit-learn detector, :mod:`~convkit.tasks.timeseries.estimators`): each prepared
        by its protocol, training windows, validation and test chunks; ``where`` names each
        series in messages and ``source`` all of them in the info."""
        _check_novelty(cfg)
        prepared, info, chunks = _prepare(cfg, series, where, source, announce=True)
        monitor = _monitor(cfg, prepared, where)
        if cfg.task.window < info.min_fit:
            raise ConfigError(f"task.window ({cfg.task.window}) must be at least the receptive field plus horizon "
                              f"({info.min_fit} steps); raise task.window or lower task.context")
        train = TrainWindows(prepared, cfg.task.window, cfg.task.stride, info.first)
        return series_data(train, ScoreChunks(prepared, "val", **chunks), ScoreChunks(prepared, "test", **chunks),
                           channels=len(info.channels), length=cfg.task.window, info=info, monitor=monitor)

    def build_eval_data(self, cfg: TimeSeriesRunConfig, path: str, spec: Data) -> Data:
        """The test chunks of the series at ``path`` for the trained model ``spec`` describes
        (its channels; one series is normalised with the run's normalisation when the run
        had one, else each on its own training part), each calibrated on its own validation
        part."""
        _check_novelty(cfg)
        trained: DetectionInfo = spec.info
        series, where = _read(path, cfg.data.train_fraction)
        norm = trained.normaliser if len(series) == 1 else None
        stats = None if norm is None else (np.asarray(norm.mean), np.asarray(norm.std))
        prepared, info, chunks = _prepare(cfg, series, where, str(path), expected=trained.channels, stats=stats)
        monitor = _monitor(cfg, prepared, where)
        length = spec.input_shape[1] if spec.input_shape else cfg.task.window
        return series_data(None, None, ScoreChunks(prepared, "test", **chunks), channels=len(info.channels),
                           length=length, info=info, monitor=monitor)

    def input_spec(self, cfg: TimeSeriesRunConfig) -> Data:
        """The input from the config alone, without generating the embedded series: windows
        ``[N, data.channels, task.window]`` (a ``data.path`` is read: ``build_data``). The
        info names the channels, objective and novelty; the model's geometry, the series and
        the normaliser are left to ``build_data`` (building even a meta model here would load
        torch's compiler for ``info``)."""
        if cfg.data.path:
            return super().input_spec(cfg)
        channels = sensor_channel_names(cfg.data.channels)
        info = DetectionInfo(objective=cfg.task.objective, novelty=cfg.task.novelty_mode([]), channels=channels,
                             source="embedded sensor series")
        return series_data(None, None, None, channels=len(channels), length=cfg.task.window, info=info)

    def build_model(self, cfg: TimeSeriesRunConfig, data: Data) -> nn.Module:
        """The TCN forecaster or autoencoder (``task.objective``) on ``data.in_channels``,
        starting from ``model.pretrained``'s weights when set."""
        model = anomaly_model(cfg, data.in_channels)
        weights = pretrained_weights(cfg)
        if weights is not None:
            load_weights(model, weights)
        return model

    # ---- steps

    def training_step(self, model: nn.Module, batch: dict) -> Tensor:
        """Mean squared error of the forecasts of the steps after ``first`` (a full
        receptive field) inside each window's ``length``, or of the reconstruction."""
        x, first, length = batch["x"], int(batch["first"][0]), batch["length"]
        out = model(x)
        steps = torch.arange(x.shape[-1], device=x.device)
        if out.dim() == 3:  # reconstruction
            valid = (steps[None, :] < length[:, None]).to(x.dtype)
            return ((out - x) ** 2 * valid[:, None]).sum() / (valid.sum() * x.shape[1])
        losses = []
        for k in range(out.shape[2]):
            t = steps[: x.shape[-1] - 1 - k]
            valid = ((t[None, :] >= first) & (t[None, :] + 1 + k < length[:, None])).to(x.dtype)
            diff = out[:, :, k, : x.shape[-1] - 1 - k] - x[..., 1 + k:]
            losses.append((diff ** 2 * valid[:, None]).sum() / (valid.sum() * x.shape[1]))
        return torch.stack(losses).mean()

    def evaluation_step(self, model: nn.Module, batch: dict) -> dict[str, Tensor]:
        """The kept steps of each chunk, flattened: ``err`` ``[S, C]`` (absolute error; with
        a novelty column ``[S, C + 1]``, the novelty last), ``sq`` ``[S, C]`` (squared
        error), ``series`` and ``step`` ``[S]``."""
        x = batch["x"]
        abs_err, sq_err = step_errors(model, x)
        pos = torch.arange(x.shape[-1], device=x.device)[None, :]
        err = abs_err.transpose(1, 2)
        if "ref" in batch:  # in float32 whatever the run's precision: bf16 features blur near-zero distances
            with torch.autocast(device_type=x.device.type, enabled=False):
                novelty = novelty_distances(model, x.float(), batch["ref"].float(), batch["ref_len"],
                                            NOVELTY_MODES[int(batch["novelty"][0])], batch["in_start"],
                                            batch.get("ref_start"), batch["series"])
            early = (batch["in_start"][:, None] + pos) < model.receptive_field - 1  # no full receptive field
            err = torch.cat([err, novelty.masked_fill(early, float("nan"))[..., None]], dim=2)
        keep = (pos >= batch["keep_from"][:, None]) & (pos < (batch["keep_from"] + batch["keep_len"])[:, None])
        return {"err": err[keep], "sq": sq_err.transpose(1, 2)[keep],
                "series": batch["series"][:, None].expand_as(keep)[keep],
                "step": (batch["in_start"][:, None] + pos)[keep]}

    def compute_metrics(self, collected: dict[str, Tensor], dataset: Dataset | None) -> dict[str, Any]:
        """The split's metrics (:func:`~convkit.tasks.timeseries.metrics.split_metrics`),
        each series calibrated on its own validation part."""
        return split_metrics([scored.part(dataset.split) for scored in score_split(collected, dataset)])

    def derive_state(self, collected: dict[str, Tensor], dataset: Dataset | None) -> dict | None:
        """``{"calibration": ...}`` of a single-series run (what ``detect`` scores the run's
        source with); None for a run on many series (each input is calibrated on its own)."""
        if len(dataset.series) != 1:
            return None
        return {"calibration": score_split(collected, dataset)[0].calibration.to_dict()}

    # ---- baselines

    def extra_baselines(self, cfg: TimeSeriesRunConfig, data: Data, params: int) -> dict:
        """``linear`` and ``mlp`` forecasters, then ``rolling_zscore``, ``isolation_forest``
        and ``discord`` (:mod:`~convkit.tasks.timeseries.baselines`)."""
        return {**forecaster_baselines(cfg, data, params), **classical_baselines(cfg, data)}

    # ---- detect

    def load_inputs(self, cfg: TimeSeriesRunConfig, spec: Data, inputs: list[str]) -> list[DetectInput]:
        """Each input is one series file, checked against the model's channels and receptive
        field and normalised (with the run's normalisation when the run had one series, else
        on its own training part, whose validation part then calibrates it)."""
        items = []
        for p in inputs:
            loaded = load_series(p, cfg.data.train_fraction, keep_constant=True)  # a stuck sensor is data
            if isinstance(loaded, list):
                raise DataError(f"{p}: holds {len(loaded)} series; detect takes series files (one series each)")
            items.append(self.detect_input(cfg, spec, loaded, str(p)))
        return items

    def detect_input(self, cfg: TimeSeriesRunConfig, spec: Data, series: SeriesData, where: str) -> DetectInput:
        """One series to score (a file's, or an array of the scikit-learn detector), checked
        against the model's channels and receptive field and normalised (see
        ``load_inputs``); ``where`` names it in messages."""
        info: DetectionInfo = spec.info
        norm = info.normaliser
        check_channels([series], info.channels, [where])
        if series.length < info.receptive_field:
            raise DataError(f"{where}: {series.length} steps, shorter than the model's receptive field "
                            f"({info.receptive_field} steps)")
        mean, std = ((np.asarray(norm.mean), np.asarray(norm.std)) if norm
                     else normaliser(series.values[: max(series.train_end, 2)]))
        protocol = series_protocol(series, cfg.data.val_split, cfg.data.val_fraction)
        parts = split_parts(series.length, series.train_end, protocol.val_split, protocol.val_fraction, where)
        return DetectInput(where, series, normalise(series.values, mean, std), None if norm else parts.val, parts.fit)

    def predict(self, trained: Trained, inputs: list[DetectInput]) -> list[dict]:
        """Per input: the number of steps and flagged steps, the threshold, the flagged
        segments, metrics after the training part when the file has labels, and the CSV
        (``step[,timestamp],score,flag[,label]``) and plot written under ``trained.out_dir``
        (``detect --out``; default ``runs/timeseries/detect/``), never over an existing file
        (:func:`output_stems`)."""
        info = trained.spec.info
        folder = Path(trained.out_dir) if trained.out_dir is not None else DETECT_DIR
        folder.mkdir(parents=True, exist_ok=True)
        stems = output_stems([item.path for item in inputs], folder)
        out = []
        for item, stem in zip(inputs, stems):
            series = item.series
            scores, flagged, cal = self.score_input(trained, item)
            csv_path, png_path = folder / f"{stem}.csv", folder / f"{stem}.png"
            write_scores_csv(csv_path, scores, flagged, series)
            plot_anomalies(png_path, series.values, scores, cal.threshold, series.labels,
                           channel_names=series.channel_names, title=f"{series.name}: anomaly scores",
                           marks={"training part ends": series.train_end})
            row = {"steps": series.length, "warmup_steps": info.warmup, "flagged": int(flagged.sum()),
                   "threshold": round(cal.threshold, 6), "threshold_rule": cal.rule,
                   "calibration": "this series' own validation part" if item.val is not None else "the run's",
                   "segments": _segments(flagged), "csv": str(csv_path), "plot": str(png_path)}
            if item.val is None:  # scored with the run's normalisation and calibration
                warning = far_out_warning(item.x, flagged)
                if warning:
                    row["warning"] = warning
                    print(f"warning: {item.path}: {warning}", file=sys.stderr, flush=True)
            if series.labels is not None:
                after = slice(series.train_end, series.length)
                metrics = anomaly_metrics(scores[after], series.labels[after], cal.threshold)
                if metrics:
                    row["metrics"] = {k: round(v, 6) for k, v in metrics.items()}
            out.append(row)
        return out

    def score_input(self, trained: Trained, item: DetectInput) -> tuple[np.ndarray, np.ndarray, Calibration]:
        """``(scores [T], flags [T], calibration)`` of one input, as ``predict`` writes them:
        the model's per-step errors (and novelty column), calibrated with the run's
        calibration (the run's own source) or on the input's own validation part; a step is
        flagged when its score is at least the threshold."""
        cfg, info = trained.cfg, trained.spec.info
        series = item.series
        scoring = cfg.task.scoring(archives=[series.archive])
        errors = series_errors(trained.model, item.x, info.halo_left, info.halo_right,
                               cfg.task.score_chunk, cfg.train.batch_size, info.align, info.warmup)
        cal = None
        if item.val is None:  # the run's own source: the calibration saved with these weights
            if not trained.task_state or not trained.task_state.get("calibration"):
                raise CheckpointError("the checkpoint holds no calibration (task_state) for its series; "
                                      "use a best.pt or last.pt written by training")
            cal = Calibration.from_dict(trained.task_state["calibration"])
        novelty = cal.novelty if cal is not None else info.novelty
        if novelty:  # the novelty column, as the run scored it
            column = series_novelty(trained.model, item.x, item.fit, cfg.task.score_chunk, novelty)
            errors = np.concatenate([errors, column[:, None]], axis=1)
        if cal is None:
            lo, hi = item.val
            labels = calibration_labels(series, (lo, hi))
            smooth = smoothing_window(scoring.smooth, series.values[: series.train_end])
            cal, _ = calibrate(errors[lo:hi], labels, scoring.combine, smooth, scoring.threshold,
                               scoring.quantile, novelty, scoring.likelihood, scoring.errors)
        scores = step_scores(errors, cal, scoring.combine, cal.smooth or scoring.smooth, series.train_end,
                             item.x.T.double().numpy())
        return scores, (scores >= cal.threshold).astype(np.int64), cal

    def write_run_files(self, run_dir: Path, metrics: dict) -> None:
        """``ucr_series.csv`` when the run scored UCR anomaly archive series
        (:func:`write_ucr_series_csv`)."""
        write_ucr_series_csv(Path(run_dir), metrics)

    def plots(self, run_dir: Path, collected: dict[str, Tensor], data: Data) -> None:
        """``anomalies.png``: the first series' validation and test parts with scores,
        threshold, labelled and flagged regions; for NAB files, every file's detections in
        NAB's results layout under ``nab_results/convkit/`` (:func:`write_nab_results`:
        each row's score, 0 before the rows the split scores)."""
        every = score_split(collected, data.test)
        for sc in every:
            src = sc.series.source
            if src.archive == "nab" and src.timestamps is not None and sc.end == src.length:
                scores = np.zeros(src.length)
                scores[sc.start:sc.end] = sc.scores
                write_nab_results(Path(run_dir) / NAB_RESULTS, "convkit", sc.series.name, src.timestamps,
                                  src.values[:, 0], scores, src.labels)
        scored = every[0]
        s = data.test.series[0]
        start, end = scored.start, scored.end
        plot_anomalies(Path(run_dir) / "anomalies.png", s.source.values[start:end], scored.scores,
                       scored.calibration.threshold, None if s.labels is None else s.labels[start:end],
                       steps=np.arange(start, end), channel_names=s.source.channel_names,
                       title=f"{s.name}: validation and test parts (threshold from validation)",
                       marks={"test part": s.parts.test[0]})


# ----------------------------------------------------------------------------- data and model


def _load(cfg: TimeSeriesRunConfig) -> tuple[list[SeriesData], list[str]]:
    """The run's series (``data.path``, else the embedded sensor series) and how messages
    name each."""
    if cfg.data.path:
        return _read(cfg.data.path, cfg.data.train_fraction)
    shortest = min_sensor_length()
    if cfg.data.length < shortest:
        raise ConfigError(f"data.length must be at least {shortest} for the embedded sensor series (every "
                          f"anomaly kind twice after its training half); got {cfg.data.length}")
    return [make_sensor_series(cfg.data.length, cfg.data.channels, seed=cfg.train.seed)], ["embedded series"]


def _check_novelty(cfg: TimeSeriesRunConfig) -> None:
    """A ConfigError for a novelty column without a forecaster (before any data is read)."""
    if cfg.task.novelty in ("train", "series") and cfg.task.objective != "forecast":
        raise ConfigError("task.novelty compares the forecaster's features; it needs task.objective=forecast")


def _read(source: str, train_fraction: float | None) -> tuple[list[SeriesData], list[str]]:
    """The series at ``source`` and how messages name each (its file, or folder and name)."""
    loaded = load_series(source, train_fraction)
    if isinstance(loaded, list):
        return loaded, [f"{source}: series {s.name}" for s in loaded]
    return [loaded], [str(source)]


def _prepare(cfg: TimeSeriesRunConfig, series: list[SeriesData], where: list[str], source: str,
             expected: list[str] | None = None, stats: tuple[np.ndarray, np.ndarray] | None = None,
             announce: bool = False) -> tuple[list[PreparedSeries], DetectionInfo, dict]:
    """The series prepared for the model (each split by its protocol; normalised with
    ``stats``, else on its own training part), the run's :class:`DetectionInfo` and the
    keyword arguments of its :class:`~convkit.tasks.timeseries.series.ScoreChunks`.
    ``source`` names the data in the info; ``expected``: the channels a trained model takes;
    ``announce``: log the model's reach and each archive's protocol (a training run)."""
    channels = check_channels(series, expected, where)
    protocols = [series_protocol(s, cfg.data.val_split, cfg.data.val_fraction) for s in series]
    archives = [p.archive for p in protocols]
    novelty = cfg.task.novelty_mode(archives)
    scoring = cfg.task.scoring(novelty, archives)
    shape = geometry(cfg, len(channels), novelty)
    if announce:
        _announce(cfg, shape, novelty, scoring.likelihood)
        for archive, line in ARCHIVE_PROTOCOLS.items():
            chosen = [(p, s) for p, s in zip(protocols, series) if p.archive == archive]
            if chosen:
                protocol, first = chosen[0]
                print(line.format(count=len(chosen), fraction=protocol.val_fraction,
                                  train=first.train_end / first.length), file=sys.stderr, flush=True)
    prepared = [prepare_series(s, p.val_split, p.val_fraction, shape.min_fit, stats, w, cfg.task.smooth)
                for s, w, p in zip(series, where, protocols)]
    norm = None if len(prepared) > 1 else Normaliser([float(v) for v in prepared[0].mean],
                                                     [float(v) for v in prepared[0].std])
    info = DetectionInfo(**dataclasses.asdict(shape), objective=cfg.task.objective, novelty=novelty,
                         channels=channels, source=source, series=[s.name for s in prepared][:1000], normaliser=norm)
    chunks = dict(chunk=cfg.task.score_chunk, halo_left=shape.halo_left, halo_right=shape.halo_right,
                  align=shape.align, scoring=scoring)
    return prepared, info, chunks


def _monitor(cfg: TimeSeriesRunConfig, prepared: list[PreparedSeries], where: list[str]) -> tuple[str, str]:
    """What early stopping follows: ``("pr_auc", "max")`` when the validation parts hold
    labelled anomalies (and normal steps) a detector may see, else ``("loss", "min")``; a
    ConfigError when ``task.threshold = best_f1`` has no such labels to use."""
    labelled_val = any(calibration_labels(s.source, s.parts.val) is not None
                       and 0 < s.labels[slice(*s.parts.val)].mean() < 1 for s in prepared)
    if cfg.task.threshold == "best_f1" and not labelled_val:
        whose = f"{where[0]} has none there" if len(where) == 1 else "no series has any there"
        raise ConfigError("task.threshold=best_f1 needs labelled anomalies (and normal steps) in the validation "
                          f"part; {whose}; use auto or quantile")
    return ("pr_auc", "max") if labelled_val else ("loss", "min")


def anomaly_model(cfg: TimeSeriesRunConfig, channels: int) -> TCNForecaster | TCNAutoencoder:
    """The TCN forecaster (``task.objective = "forecast"``) or autoencoder on ``channels``
    channels, its levels covering ``task.context`` steps (dropout 0 unless set)."""
    name = cfg.model.name or DEFAULT_MODEL
    if name != DEFAULT_MODEL:
        raise ConfigError(f"anomaly mode forecasts or reconstructs every step with a TCN: model.name must "
                          f"be tcn; got {name!r} (any 1D zoo model works in task.mode=classify)")
    options = {"context": cfg.task.context, "dropout": 0.0, **cfg.model.options}
    try:
        if cfg.task.objective == "forecast":
            return tcn_forecaster(channels, cfg.task.horizon, **options)
        return tcn_autoencoder(channels, **options)
    except TypeError as err:  # an option the model does not take
        raise ConfigError(f"model 'tcn' ({cfg.task.objective}): {err}") from None


def geometry(cfg: TimeSeriesRunConfig, channels: int, novelty: str = "") -> Geometry:
    """How far the model sees, from the model itself (built on the meta device: no memory).
    A ``series`` novelty reads one more receptive field to the left: its steps are
    z-normalised over the receptive field before them."""
    with torch.device("meta"):
        model = anomaly_model(cfg, channels)
    rf, ahead = model.receptive_field, model.lookahead
    if isinstance(model, TCNForecaster):
        h = cfg.task.horizon
        return Geometry(receptive_field=rf, horizon=h, first=rf - 1, min_fit=rf + h,
                        halo_left=rf - 1 + h + (rf - 1 if novelty == "series" else 0), halo_right=0, align=1,
                        warmup=rf - 1 + h, levels=model.backbone.levels)
    return Geometry(receptive_field=rf, horizon=0, first=0, min_fit=rf, halo_left=ahead, halo_right=ahead,
                    align=model.downsample, warmup=0, levels=model.encoder.levels)


def _announce(cfg: TimeSeriesRunConfig, shape: Geometry, novelty: str = "", likelihood: Likelihood | None = None) -> None:
    """One stderr line: the TCN's levels, receptive field, what it predicts and the novelty
    column; one more for the anomaly likelihood when the scores are likelihoods."""
    rf = shape.receptive_field
    what = (f"forecasts {shape.horizon} step(s) from the last {rf} steps" if cfg.task.objective == "forecast"
            else f"reconstructs each step from {shape.halo_left} steps on either side")
    nov = {"train": "; novelty against each series' training part",
           "series": "; novelty against the rest of each series (offline)",
           "past": "; novelty against each series' earlier steps (online)"}.get(novelty, "")
    print(f"tcn ({cfg.task.objective}): {shape.levels} levels of kernel "
          f"{cfg.model.options.get('kernel_size', 3)}, dilations 1..{2 ** (shape.levels - 1)}: "
          f"receptive field {rf} steps (task.context={cfg.task.context}); {what}{nov}", file=sys.stderr, flush=True)
    if likelihood is not None:
        rule = "; a value beyond the range so far scores 1" if likelihood.range_rule else ""
        print(f"scores: the anomaly likelihood of each step's combined score (the mean of its last "
              f"{likelihood.short} steps under the distribution of the last {likelihood.long}, refitted every "
              f"{likelihood.reestimate}), learned from each series' training part on{rule}; flagged at "
              f"log-likelihood {likelihood.threshold:g}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- detect's output


def _segments(flags: np.ndarray, limit: int = 100) -> list[list[int]]:
    """Flagged runs ``[start, end)`` (at most ``limit``)."""
    padded = np.concatenate(([0], flags, [0]))
    edges = np.flatnonzero(np.diff(padded)).reshape(-1, 2)
    return edges[:limit].tolist()


def output_stems(paths: list[str], folder: Path) -> list[str]:
    """A distinct file stem in ``folder`` for each input: its own stem, then ``-2``, ``-3``
    ... when another input of the call or an existing ``.csv``/``.png`` there has it (two
    ``data.csv`` from two sites never overwrite each other or an earlier detect)."""
    taken: set[str] = set()
    stems = []
    for path in paths:
        base = Path(path).stem
        stem, n = base, 1
        while stem in taken or (folder / f"{stem}.csv").exists() or (folder / f"{stem}.png").exists():
            n += 1
            stem = f"{base}-{n}"
        taken.add(stem)
        stems.append(stem)
    return stems


def write_ucr_series_csv(run_dir: Path, metrics: dict) -> Path | None:
    """``ucr_series.csv`` in ``run_dir`` from the run's final ``metrics``: per
    UCR anomaly archive series, ``series, length, anomaly_begin, anomaly_end`` (0-based,
    inclusive), the model's ``tcn_argmax``/``tcn_hit``, then each baseline's
    ``<name>_argmax``/``<name>_hit``. None (nothing written) when the test block has no
    ``ucr_series``."""
    rows = metrics.get("test", {}).get("ucr_series")
    if not rows:
        return None
    detectors = {metrics.get("model") or "model": rows}
    detectors.update({name: block["test"]["ucr_series"] for name, block in (metrics.get("baselines") or {}).items()
                      if isinstance(block, dict) and "ucr_series" in block.get("test", {})})
    out = run_dir / "ucr_series.csv"
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["series", "length", "anomaly_begin", "anomaly_end"]
                        + [f"{name}_{what}" for name in detectors for what in ("argmax", "hit")])
        for series, row in rows.items():
            cells = [series, row["length"], row["begin"], row["end"]]
            for table in detectors.values():
                found = table.get(series, {})
                cells += [found.get("argmax", ""), "" if "hit" not in found else int(found["hit"])]
            writer.writerow(cells)
    return out


def write_scores_csv(path: Path, scores: np.ndarray, flags: np.ndarray, series: SeriesData) -> None:
    """``step[,timestamp],score,flag[,label]``, one row per step."""
    columns = [np.arange(len(scores)).astype(str)]
    header = ["step"]
    if series.timestamps is not None:
        header.append("timestamp")
        columns.append(np.datetime_as_string(series.timestamps) if np.issubdtype(series.timestamps.dtype,
                                                                                   np.datetime64)
                       else series.timestamps.astype(str))
    header += ["score", "flag"]
    columns += [np.char.mod("%.6g", scores), flags.astype(str)]
    if series.labels is not None:
        header.append("label")
        columns.append(series.labels.astype(str))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(zip(*columns))
