"""Anomaly detection in series (``task.mode = "anomaly"``, the default) with a dilated TCN.

A TCN learns, self-supervised on the training part of each series, to forecast the next
``task.horizon`` steps (``task.objective = "forecast"``, a causal
:class:`~convkit.models.tcn.TCNForecaster`) or to reconstruct its input
(``"reconstruct"``, a :class:`~convkit.models.tcn.TCNAutoencoder`). The number of levels
is the fewest whose receptive field covers ``task.context`` steps. Each step's error per
channel, and the novelty of the forecaster's features (``task.novelty``: against the rest
of the series by default, against the training part for NAB and streaming), are scaled on
the validation part, combined and smoothed; the threshold comes from the validation part
too (:mod:`~convkit.tasks.timeseries.scoring`). Validation and test are scored as whole
series (chunks of ``task.score_chunk`` steps batched into one convolution call).

Metrics: ``roc_auc``, ``pr_auc`` (the headline), ``best_f1``, ``precision``/``recall``/
``f1`` at the chosen threshold (all point-wise), ``pa_f1`` (point-adjusted: one flagged
step counts its whole labelled segment as found, which inflates scores; reported because
the literature does), ``ucr_hit`` for single-anomaly series (a folder of UCR archive
files: ``ucr_hit_rate``, ``ucr_series`` and ``ucr_series.csv`` in the run folder), NAB's
``nab``/``nab_low_fp``/``nab_low_fn`` at the validation threshold and ``nab_opt*`` at NAB's
corpus-optimised one, ``threshold``, ``flagged`` and ``loss``. Early stopping follows the validation ``pr_auc`` when the validation parts
hold labelled anomalies, else the validation ``loss`` (``Data.monitor``).

Baselines, scored like the model on each series' test part: ``linear`` (a linear
autoregressive forecaster over the model's receptive field) and ``mlp`` (a one-hidden-layer
MLP forecaster with about the model's parameter count), whose errors go through the same
scaling, threshold and metrics; and the classical ``rolling_zscore``,
``isolation_forest`` and ``discord`` (matrix-profile discords, stumpy).

Calibration for ``detect`` (the task's name for ``predict``): a run on one series stores
its input normalisation in ``Data.info``, and each validation pass returns that series'
error calibration and threshold from ``derive_state``; the engine keeps it with the
weights of the same epoch (``task_state`` of ``best.pt``), and ``detect`` scores new data
from that source with them. A run on many series (a folder) normalises and calibrates
each series on its own training and validation parts, and ``detect`` does the same for
each input file. ``detect`` writes per-step scores and flags to CSV and a plot under
``runs/timeseries/detect/``.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import Tensor, nn
from torch.utils.data import Dataset

from convkit.data.timeseries import UCR_ANOMALY_NAME, SeriesData, load_series
from convkit.data.timeseries_synth import make_sensor_series, min_sensor_length
from convkit.errors import CheckpointError, ConfigError, DataError
from convkit.models.tcn import TCNAutoencoder, TCNForecaster, tcn_autoencoder, tcn_forecaster
from convkit.tasks.timeseries.anomaly import (
    anomaly_metrics,
    discord_scores,
    dominant_period,
    isolation_forest_scores,
    make_windows,
    moving_average,
    rolling_zscore_scores,
    tail_centre_scale,
)
from convkit.tasks.timeseries.base import TimeSeriesFamily, series_data
from convkit.tasks.timeseries.config import TimeSeriesRunConfig
from convkit.tasks.timeseries.plots import plot_anomalies
from convkit.tasks.timeseries.scoring import (
    Calibration,
    SplitScores,
    calibrate,
    choose_threshold,
    errors_to_scores,
    forecast_errors,
    novelty_distances,
    series_errors,
    series_novelty,
    split_metrics,
    step_errors,
)
from convkit.tasks.timeseries.series import (
    PreparedSeries,
    ScoreChunks,
    TrainWindows,
    check_channels,
    normalise,
    normaliser,
    prepare_series,
    smoothing_window,
    split_parts,
)
from convkit.train.baselines import mlp_hidden_units, one_blas_thread, sklearn_mlp_params
from convkit.train.task import Data, Task, Trained

DETECT_DIR = Path("runs") / "timeseries" / "detect"
"""Where ``detect`` writes its CSV files and plots without ``--out`` (relative to the working folder)."""


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


class SeriesDetectionTask(TimeSeriesFamily, Task):
    """Anomaly detection: training batches are dicts of windows ``x [N, C, window]``,
    ``first`` and ``length``; evaluation batches are chunks of whole series (see
    :class:`~convkit.tasks.timeseries.series.ScoreChunks`). See the module docstring."""

    monitor = "pr_auc"
    monitor_mode = "max"

    # ---- data and model

    def build_data(self, cfg: TimeSeriesRunConfig, path: str | None = None, spec: Data | None = None) -> Data:
        """Training windows and the validation and test chunks of ``data.path`` (empty: the
        embedded sensor series); with ``path`` and ``spec`` (``evaluate --data``) the test
        chunks of ``path`` for the trained model. ``Data.monitor`` is ``pr_auc`` when the
        validation parts hold labelled anomalies, else the validation ``loss`` (min)."""
        if cfg.task.novelty in ("train", "series") and cfg.task.objective != "forecast":
            raise ConfigError("task.novelty compares the forecaster's features; it needs task.objective=forecast")
        series, where = _load(cfg, path)
        channels = check_channels(series, spec.info["channels"] if spec is not None else None, where)
        protocols = [series_protocol(cfg, s) for s in series]
        novelty = cfg.task.novelty_mode([p[2] for p in protocols])
        shape = geometry(cfg, len(channels), novelty)
        if spec is None:
            _announce(cfg, shape, novelty)
        stats = None
        if spec is not None and spec.info.get("normaliser") and len(series) == 1:
            stats = (np.asarray(spec.info["normaliser"]["mean"]), np.asarray(spec.info["normaliser"]["std"]))
        for archive, line in ARCHIVE_PROTOCOLS.items():
            chosen = [(p, s) for p, s in zip(protocols, series) if p[2] == archive]
            if chosen and spec is None:
                (_, fraction, _), first = chosen[0]
                print(line.format(count=len(chosen), fraction=fraction, train=first.train_end / first.length),
                      file=sys.stderr, flush=True)
        prepared = [prepare_series(s, split, fraction, shape["min_fit"], stats, w, cfg.task.smooth)
                    for s, w, (split, fraction, _) in zip(series, where, protocols)]
        info = {"mode": "anomaly", "objective": cfg.task.objective, "novelty": novelty, "channels": channels,
                "source": str(path or cfg.data.path or "embedded sensor series"),
                "series": [s.name for s in prepared][:1000], **shape,
                "normaliser": (None if len(prepared) > 1 else {"mean": [float(v) for v in prepared[0].mean],
                                                                "std": [float(v) for v in prepared[0].std]})}
        chunks = dict(chunk=cfg.task.score_chunk, halo_left=shape["halo_left"], halo_right=shape["halo_right"],
                      align=shape["align"], scoring={**cfg.task.scoring(), "novelty": novelty})
        test = ScoreChunks(prepared, "test", **chunks)
        labelled_val = any(calibration_labels(s.source, s.parts.val) is not None
                           and 0 < s.labels[slice(*s.parts.val)].mean() < 1 for s in prepared)
        if cfg.task.threshold == "best_f1" and not labelled_val:
            whose = f"{where[0]} has none there" if len(where) == 1 else "no series has any there"
            raise ConfigError("task.threshold=best_f1 needs labelled anomalies (and normal steps) in the validation "
                              f"part; {whose}; use auto or quantile")
        monitor = ("pr_auc", "max") if labelled_val else ("loss", "min")
        if path is not None:
            length = spec.input_shape[1] if spec is not None and spec.input_shape else cfg.task.window
            return series_data(None, None, test, channels=len(channels), length=length, info=info, monitor=monitor)
        if cfg.task.window < shape["min_fit"]:
            raise ConfigError(f"task.window ({cfg.task.window}) must be at least the receptive field plus horizon "
                              f"({shape['min_fit']} steps); raise task.window or lower task.context")
        train = TrainWindows(prepared, cfg.task.window, cfg.task.stride, shape["first"])
        val = ScoreChunks(prepared, "val", **chunks)
        return series_data(train, val, test, channels=len(channels), length=cfg.task.window, info=info,
                           monitor=monitor)

    def build_model(self, cfg: TimeSeriesRunConfig, data: Data) -> nn.Module:
        """The TCN forecaster or autoencoder (``task.objective``) on ``data.in_channels``."""
        return anomaly_model(cfg, data.in_channels)

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
        if "ref" in batch:
            novelty = novelty_distances(model, x, batch["ref"], batch["ref_len"],
                                        "series" if "ref_start" in batch else "train", batch["in_start"],
                                        batch.get("ref_start"), batch["series"])
            early = (batch["in_start"][:, None] + pos) < model.receptive_field - 1  # no full receptive field
            err = torch.cat([err, novelty.masked_fill(early, float("nan"))[..., None]], dim=2)
        keep = (pos >= batch["keep_from"][:, None]) & (pos < (batch["keep_from"] + batch["keep_len"])[:, None])
        return {"err": err[keep], "sq": sq_err.transpose(1, 2)[keep],
                "series": batch["series"][:, None].expand_as(keep)[keep],
                "step": (batch["in_start"][:, None] + pos)[keep]}

    def compute_metrics(self, collected: dict[str, Tensor], dataset: Dataset | None) -> dict[str, Any]:
        """The split's metrics (:func:`~convkit.tasks.timeseries.scoring.split_metrics`),
        each series calibrated on its own validation part."""
        return split_metrics([span.part(dataset.split) for span in score_spans(collected, dataset)])

    def derive_state(self, collected: dict[str, Tensor], dataset: Dataset | None) -> dict | None:
        """``{"calibration": ...}`` of a single-series run (what ``detect`` scores the run's
        source with); None for a run on many series (each input is calibrated on its own)."""
        if len(dataset.series) != 1:
            return None
        return {"calibration": score_spans(collected, dataset)[0].calibration.to_dict()}

    # ---- baselines

    def extra_baselines(self, cfg: TimeSeriesRunConfig, data: Data, params: int) -> dict:
        """``linear`` and ``mlp`` forecasters (:func:`forecaster_baselines`), then
        ``rolling_zscore`` and ``isolation_forest`` (:func:`classical_baselines`)."""
        return {**forecaster_baselines(cfg, data, params), **classical_baselines(cfg, data)}

    # ---- detect

    def load_inputs(self, cfg: TimeSeriesRunConfig, spec: Data, inputs: list[str]) -> list[dict]:
        """Each input is one series file, checked against the model's channels and receptive
        field and normalised (with the run's normalisation when the run had one series, else
        on its own training part, whose validation part then calibrates it)."""
        info = spec.info
        norm = info.get("normaliser")
        items = []
        for p in inputs:
            loaded = load_series(p, cfg.data.train_fraction, keep_constant=True)  # a stuck sensor is data
            if isinstance(loaded, list):
                raise DataError(f"{p}: holds {len(loaded)} series; detect takes series files (one series each)")
            check_channels([loaded], info["channels"], [str(p)])
            if loaded.length < info["receptive_field"]:
                raise DataError(f"{p}: {loaded.length} steps, shorter than the model's receptive field "
                                f"({info['receptive_field']} steps)")
            mean, std = ((np.asarray(norm["mean"]), np.asarray(norm["std"])) if norm
                         else normaliser(loaded.values[: max(loaded.train_end, 2)]))
            split, fraction, _ = series_protocol(cfg, loaded)
            parts = split_parts(loaded.length, loaded.train_end, split, fraction, str(p))
            items.append({"path": str(p), "series": loaded, "x": normalise(loaded.values, mean, std),
                          "val": None if norm else parts.val, "fit": parts.fit})
        return items

    def predict(self, trained: Trained, inputs: list[dict]) -> list[dict]:
        """Per input: the number of steps and flagged steps, the threshold, the flagged
        segments, metrics after the training part when the file has labels, and the CSV
        (``step[,timestamp],score,flag[,label]``) and plot written under ``trained.out_dir``
        (``detect --out``; default ``runs/timeseries/detect/``), never over an existing file
        (:func:`output_stems`)."""
        cfg, info = trained.cfg, trained.spec.info
        scoring = cfg.task.scoring()
        folder = Path(trained.out_dir) if trained.out_dir is not None else DETECT_DIR
        folder.mkdir(parents=True, exist_ok=True)
        stems = output_stems([item["path"] for item in inputs], folder)
        out = []
        for item, stem in zip(inputs, stems):
            series: SeriesData = item["series"]
            errors = series_errors(trained.model, item["x"], info["halo_left"], info["halo_right"],
                                   cfg.task.score_chunk, cfg.train.batch_size, info["align"], info.get("warmup", 0))
            cal = None
            if item["val"] is None:  # the run's own source: the calibration saved with these weights
                if not trained.task_state or not trained.task_state.get("calibration"):
                    raise CheckpointError("the checkpoint holds no calibration (task_state) for its series; "
                                          "use a best.pt or last.pt written by training")
                cal = Calibration.from_dict(trained.task_state["calibration"])
            novelty = cal.novelty if cal is not None else info.get("novelty", "")
            if novelty:  # the novelty column, as the run scored it
                column = series_novelty(trained.model, item["x"], item["fit"], cfg.task.score_chunk, novelty)
                errors = np.concatenate([errors, column[:, None]], axis=1)
            if cal is None:
                lo, hi = item["val"]
                labels = calibration_labels(series, (lo, hi))
                smooth = smoothing_window(scoring["smooth"], series.values[: series.train_end])
                cal, _ = calibrate(errors[lo:hi], labels, scoring["combine"], smooth,
                                   scoring["threshold"], scoring["quantile"], novelty)
            scores = errors_to_scores(errors, cal.centre, cal.scale, scoring["combine"],
                                      cal.smooth or scoring["smooth"])
            flagged = (scores >= cal.threshold).astype(np.int64)
            csv_path, png_path = folder / f"{stem}.csv", folder / f"{stem}.png"
            write_scores_csv(csv_path, scores, flagged, series)
            plot_anomalies(png_path, series.values, scores, cal.threshold, series.labels,
                           channel_names=series.channel_names, title=f"{series.name}: anomaly scores",
                           marks={"training part ends": series.train_end})
            row = {"steps": series.length, "warmup_steps": info.get("warmup", 0), "flagged": int(flagged.sum()),
                   "threshold": round(cal.threshold, 6), "threshold_rule": cal.rule,
                   "calibration": "this series' own validation part" if item["val"] is not None else "the run's",
                   "segments": _segments(flagged), "csv": str(csv_path), "plot": str(png_path)}
            if item["val"] is None:  # scored with the run's normalisation and calibration
                warning = far_out_warning(item["x"], flagged)
                if warning:
                    row["warning"] = warning
                    print(f"warning: {item['path']}: {warning}", file=sys.stderr, flush=True)
            if series.labels is not None:
                after = slice(series.train_end, series.length)
                metrics = anomaly_metrics(scores[after], series.labels[after], cal.threshold)
                if metrics:
                    row["metrics"] = {k: round(v, 6) for k, v in metrics.items()}
            out.append(row)
        return out

    def plots(self, run_dir: Path, collected: dict[str, Tensor], data: Data) -> None:
        """``anomalies.png``: the first series' validation and test parts with scores,
        threshold, labelled and flagged regions; ``ucr_series.csv`` when the run scored UCR
        anomaly archive series (:func:`write_ucr_series_csv`)."""
        write_ucr_series_csv(Path(run_dir))
        span = score_spans(collected, data.test)[0]
        s = data.test.series[0]
        start, end = span.start, span.end
        plot_anomalies(Path(run_dir) / "anomalies.png", s.source.values[start:end], span.scores,
                       span.calibration.threshold, None if s.labels is None else s.labels[start:end],
                       steps=np.arange(start, end), channel_names=s.source.channel_names,
                       title=f"{s.name}: validation and test parts (threshold from validation)",
                       marks={"test part": s.parts.test[0]})


# ----------------------------------------------------------------------------- data and model


def _load(cfg: TimeSeriesRunConfig, path: str | None) -> tuple[list[SeriesData], list[str]]:
    """The series and how messages name each (its file, or folder and name)."""
    source = path or cfg.data.path
    if not source:
        shortest = min_sensor_length()
        if cfg.data.length < shortest:
            raise ConfigError(f"data.length must be at least {shortest} for the embedded sensor series (every "
                              f"anomaly kind twice after its training half); got {cfg.data.length}")
        return [make_sensor_series(cfg.data.length, cfg.data.channels, seed=cfg.train.seed)], ["embedded series"]
    loaded = load_series(source, cfg.data.train_fraction)
    if isinstance(loaded, list):
        return loaded, [f"{source}: series {s.name}" for s in loaded]
    return [loaded], [str(source)]


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


def series_protocol(cfg: TimeSeriesRunConfig, series: SeriesData) -> tuple[str, float, str]:
    """``(val_split, val_fraction, archive)`` for one series. A series from a benchmark
    archive imposes the archive's protocol whatever the config: a UCR anomaly archive file
    (``NNN_UCR_Anomaly_..._<train end>_<begin>_<end>``) validates on the tail of
    ``[0, train end)`` so that the test part is everything after it and holds the anomaly;
    a NAB file validates on the tail of its probationary period, so that the test part is
    everything NAB scores. ``archive`` names it (empty: any other series, which follows
    ``data.val_split``)."""
    archive = series.archive or ("ucr_anomaly" if UCR_ANOMALY_NAME.match(series.name + ".txt") else "")
    if archive:
        fraction = cfg.data.val_fraction if cfg.data.val_split == "train_tail" else ARCHIVE_VAL_FRACTION
        return "train_tail", fraction, archive
    return cfg.data.val_split, cfg.data.val_fraction, ""


def calibration_labels(series: SeriesData, part: tuple[int, int]) -> np.ndarray | None:
    """The labels of ``series`` over ``part`` that may set its threshold and pick the
    checkpoint; None for a NAB file, whose protocol allows no detector to see a label
    (its probationary period's windows stay unused)."""
    if series.labels is None or series.archive == "nab":
        return None
    return series.labels[part[0]:part[1]]


def anomaly_model(cfg: TimeSeriesRunConfig, channels: int) -> TCNForecaster | TCNAutoencoder:
    """The TCN forecaster (``task.objective = "forecast"``) or autoencoder on ``channels``
    channels, its levels covering ``task.context`` steps (dropout 0 unless set)."""
    name = cfg.model.name or SeriesDetectionTask.default_model
    if name != "tcn":
        raise ConfigError(f"anomaly mode forecasts or reconstructs every step with a TCN: model.name must "
                          f"be tcn; got {name!r} (any 1D zoo model works in task.mode=classify)")
    options = {"context": cfg.task.context, "dropout": 0.0, **cfg.model.options}
    try:
        if cfg.task.objective == "forecast":
            return tcn_forecaster(channels, cfg.task.horizon, **options)
        return tcn_autoencoder(channels, **options)
    except TypeError as err:  # an option the model does not take
        raise ConfigError(f"model 'tcn' ({cfg.task.objective}): {err}") from None


def geometry(cfg: TimeSeriesRunConfig, channels: int, novelty: str = "") -> dict:
    """How far the model sees, from the model itself (built on the meta device: no memory):
    ``receptive_field``, ``horizon``, ``first`` (the first step a training loss is taken
    at), ``min_fit`` (the fewest training steps), the scoring halos (a ``series`` novelty
    reads one more receptive field: its steps are z-normalised over the receptive field
    before them), ``align``, ``warmup`` (steps with no full receptive field) and ``levels``."""
    with torch.device("meta"):
        model = anomaly_model(cfg, channels)
    rf, ahead = model.receptive_field, model.lookahead
    if isinstance(model, TCNForecaster):
        h = cfg.task.horizon
        return {"receptive_field": rf, "horizon": h, "first": rf - 1, "min_fit": rf + h,
                "halo_left": rf - 1 + h + (rf - 1 if novelty == "series" else 0), "halo_right": 0, "align": 1,
                "warmup": rf - 1 + h, "levels": model.backbone.levels}
    return {"receptive_field": rf, "horizon": 0, "first": 0, "min_fit": rf, "halo_left": ahead,
            "halo_right": ahead, "align": model.downsample, "warmup": 0, "levels": model.encoder.levels}


def _announce(cfg: TimeSeriesRunConfig, shape: dict, novelty: str = "") -> None:
    """One stderr line: the TCN's levels, receptive field, what it predicts and the novelty column."""
    rf = shape["receptive_field"]
    what = (f"forecasts {shape['horizon']} step(s) from the last {rf} steps" if cfg.task.objective == "forecast"
            else f"reconstructs each step from {shape['halo_left']} steps on either side")
    nov = {"train": "; novelty against each series' training part",
           "series": "; novelty against the rest of each series (offline)"}.get(novelty, "")
    print(f"tcn ({cfg.task.objective}): {shape['levels']} levels of kernel "
          f"{cfg.model.options.get('kernel_size', 3)}, dilations 1..{2 ** (shape['levels'] - 1)}: "
          f"receptive field {rf} steps (task.context={cfg.task.context}); {what}{nov}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- scoring a split


@dataclass
class SpanScores:
    """A series' scores over the steps ``[start, end)`` one split scores (validation part
    first), with the calibration from the validation part; ``sq`` ``[end - start]`` is the
    squared error per step (mean over channels)."""

    series: PreparedSeries
    start: int
    end: int
    scores: np.ndarray
    sq: np.ndarray
    calibration: Calibration

    def part(self, split: str) -> SplitScores:
        """The scores of the split's own part (``val`` or ``test``)."""
        lo, hi = getattr(self.series.parts, split)
        labels = None if self.series.labels is None else self.series.labels[lo:hi]
        sq = self.sq[lo - self.start:hi - self.start]
        return SplitScores(self.series.name, lo, hi, self.scores[lo - self.start:hi - self.start], labels,
                           self.calibration, float(np.nanmean(sq)) if np.isfinite(sq).any() else float("nan"))


def span_scores(s: PreparedSeries, start: int, errors: np.ndarray, sq: np.ndarray, scoring: dict) -> SpanScores:
    """Calibrate ``errors [L, C]`` of the steps ``[start, start + L)`` of ``s`` on its
    validation part and score them (``sq [L, C]``: the squared errors; ``scoring["novelty"]``:
    the last column of ``errors`` is that novelty)."""
    lo, hi = s.parts.val
    labels = calibration_labels(s.source, s.parts.val)
    cal, _ = calibrate(errors[lo - start:hi - start], labels, scoring["combine"], s.smooth,
                       scoring["threshold"], scoring["quantile"], scoring.get("novelty") or "")
    scores = errors_to_scores(errors, cal.centre, cal.scale, scoring["combine"], s.smooth)
    return SpanScores(s, start, start + len(errors), scores, sq.mean(axis=1), cal)


def score_spans(collected: dict[str, Tensor], dataset: ScoreChunks) -> list[SpanScores]:
    """Reassemble the flattened ``evaluation_step`` outputs of a split into each series'
    errors, calibrate on its validation part and score the whole span."""
    series_of, step = collected["series"].numpy(), collected["step"].numpy()
    err, sq = collected["err"].double().numpy(), collected["sq"].double().numpy()
    order = np.argsort(series_of, kind="stable")
    bounds = np.searchsorted(series_of[order], np.arange(len(dataset.series) + 1))
    spans = []
    for i, s in enumerate(dataset.series):
        start, end = dataset.span(i)
        rows = order[bounds[i]:bounds[i + 1]]
        e = np.full((end - start, err.shape[1]), np.nan)
        q = np.full((end - start, sq.shape[1]), np.nan)
        e[step[rows] - start], q[step[rows] - start] = err[rows], sq[rows]
        spans.append(span_scores(s, start, e, q, dataset.scoring))
    return spans


# ----------------------------------------------------------------------------- baselines


def forecaster_baselines(cfg: TimeSeriesRunConfig, data: Data, params: int) -> dict:
    """``linear`` (ridge regression) and ``mlp`` (scikit-learn's MLPRegressor, one hidden
    layer of :func:`~convkit.train.baselines.mlp_hidden_units` for ``params``) forecasters
    of the next ``task.horizon`` steps of every channel from the last receptive-field steps
    ``[C * receptive field]``, predicting the change from the last step (as the TCN does).
    Trained on the windows of the training parts (at most ``task.baseline_max_train``,
    evenly spaced); their errors are scored like the model's: ``{"test": metrics}``
    (``mlp`` also ``"params"``)."""
    series: list[PreparedSeries] = data.test.series
    horizon = cfg.task.horizon
    shortest = min(s.parts.fit[1] - s.parts.fit[0] for s in series)
    lags = max(1, min(int(data.info["receptive_field"]), shortest - horizon))
    counts = [s.parts.fit[1] - s.parts.fit[0] - lags - horizon + 1 for s in series]
    every = max(1, math.ceil(sum(counts) / cfg.task.baseline_max_train))
    xs, ys = [], []
    for s in series:
        lo, hi = s.parts.fit
        inputs, targets = make_windows(s.values.T.numpy()[lo:hi], lags, horizon)  # [N, C, lags], [N, C, H]
        inputs, targets = inputs[::every], targets[::every]
        xs.append(inputs.reshape(len(inputs), -1))
        ys.append((targets - inputs[..., -1:]).reshape(len(targets), -1))
    channels = series[0].values.shape[0]
    x, y = np.concatenate(xs), np.concatenate(ys)
    y = y[:, 0] if y.shape[1] == 1 else y  # one target: the 1D form scikit-learn expects
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Ridge
    from sklearn.neural_network import MLPRegressor

    hidden = mlp_hidden_units(params, x.shape[1], channels * horizon)
    models = {"linear": Ridge(alpha=1.0),
              "mlp": MLPRegressor(hidden_layer_sizes=(hidden,), max_iter=100, early_stopping=True, n_iter_no_change=10,
                                  random_state=cfg.train.seed)}
    out = {}
    for name, model in models.items():
        with warnings.catch_warnings(), one_blas_thread():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x, y)
            results = []
            for s in series:
                start, end = s.parts.val[0], s.parts.test[1]
                errors, sq = _forecaster_errors(model, s.values.T.numpy(), lags, horizon, channels, start, end)
                results.append(span_scores(s, start, errors, sq, {**cfg.task.scoring(), "novelty": ""}).part("test"))
        out[name] = {"test": split_metrics(results)}
    out["mlp"]["params"] = sklearn_mlp_params(models["mlp"])
    return out


def _forecaster_errors(model: Any, values: np.ndarray, lags: int, horizon: int, channels: int, start: int,
                       end: int, rows: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """``(abs, sq)`` errors ``[end - start, C]`` of a fitted scikit-learn forecaster on the
    steps ``[start, end)`` of ``values [T, C]``, defined as the TCN forecaster's (NaN where
    a prediction lacks a full window)."""
    first = max(start - horizon - lags, 0)  # the first window whose predictions reach [start, end)
    windows = sliding_window_view(values[first:end], lags, axis=0)  # [W, C, lags], window j ends at first+j+lags-1
    length = end - first
    predictions = np.full((length, channels, horizon), np.nan, dtype=np.float32)
    for lo in range(0, len(windows), rows):
        part = windows[lo:lo + rows]
        change = model.predict(part.reshape(len(part), -1)).reshape(len(part), channels, horizon)
        predictions[lo + lags - 1:lo + lags - 1 + len(part)] = change + part[..., -1:]
    x = torch.from_numpy(np.ascontiguousarray(values[first:end].T, dtype=np.float32))[None]  # [1, C, L]
    abs_err, sq_err = forecast_errors(x, torch.from_numpy(predictions.transpose(1, 2, 0))[None])
    keep = slice(start - first, end - first)
    return abs_err[0].T.double().numpy()[keep], sq_err[0].T.double().numpy()[keep]


def discord_length(cfg: TimeSeriesRunConfig, s: PreparedSeries) -> int:
    """The discord baseline's subsequence length for ``s``: ``task.discord_length``, or (0)
    the dominant period of the series' training part
    (:func:`~convkit.tasks.timeseries.anomaly.dominant_period`), at most a quarter of the
    series."""
    m = cfg.task.discord_length or dominant_period(s.source.values[: s.source.train_end])
    return max(3, min(m, s.source.length // 4))


def classical_baselines(cfg: TimeSeriesRunConfig, data: Data) -> dict:
    """Rolling z-score, IsolationForest and matrix-profile discords
    (:func:`~convkit.tasks.timeseries.anomaly.discord_scores`, subsequences of
    :func:`discord_length`) scored (smoothed like the model's score, scaled on the
    validation part like the model's errors), thresholded on the validation part and measured like the model on each series' test part (no ``loss``:
    they forecast nothing)."""
    t = cfg.task
    scorers = {"rolling_zscore": lambda v, s: rolling_zscore_scores(v, t.zscore_window),
               "isolation_forest": lambda v, s: isolation_forest_scores(v, t.iforest_window, s.parts.fit[1],
                                                                        seed=cfg.train.seed),
               "discord": lambda v, s: discord_scores(v, discord_length(cfg, s))}
    out = {}
    for name, scorer in scorers.items():
        results = []
        for s in data.test.series:
            scores = moving_average(scorer(s.values.T.numpy(), s), s.smooth)  # as the model's
            val, test = slice(*s.parts.val), slice(*s.parts.test)
            centre, scale = tail_centre_scale(scores[val])  # on the validation part, as the model's errors
            scores = (scores - centre[0]) / scale[0]
            labels = s.labels
            threshold, rule = choose_threshold(scores[val], calibration_labels(s.source, s.parts.val),
                                               t.threshold, t.quantile)
            zero = np.zeros(s.values.shape[0])
            results.append(SplitScores(s.name, *s.parts.test, scores[test], None if labels is None else labels[test],
                                       Calibration(zero, zero + 1, threshold, rule), float("nan")))
        metrics = split_metrics(results)
        metrics.pop("loss")
        out[name] = {"test": metrics}
    return out


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


def write_ucr_series_csv(run_dir: Path) -> Path | None:
    """``ucr_series.csv`` in ``run_dir`` from its ``metrics.json`` (written just before): per
    UCR anomaly archive series, ``series, length, anomaly_begin, anomaly_end`` (0-based,
    inclusive), the model's ``tcn_argmax``/``tcn_hit``, then each baseline's
    ``<name>_argmax``/``<name>_hit``. None (nothing written) when the test block has no
    ``ucr_series``."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text(encoding="utf-8"))
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
