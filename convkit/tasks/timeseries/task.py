"""The time-series task: anomaly detection with a dilated causal TCN, or whole-series classification.

``task.mode = "anomaly"`` (default): a TCN learns, self-supervised on the training part
of each series, to forecast the next ``task.horizon`` steps (``task.objective =
"forecast"``, a causal :class:`~convkit.models.tcn.TCNForecaster`) or to reconstruct its
input (``"reconstruct"``, a :class:`~convkit.models.tcn.TCNAutoencoder`). The number of
levels is the fewest whose receptive field covers ``task.context`` steps. Each step's
error is robust-z-scored per channel on the validation part, channels are combined and
optionally smoothed; the threshold comes from the validation part too
(:mod:`~convkit.tasks.timeseries.scoring`). Validation and test are scored as whole
series (chunks of ``task.score_chunk`` steps batched into one convolution call).
Metrics: ``roc_auc``, ``pr_auc`` (the headline), ``best_f1`` (all point-wise),
``pa_f1`` (point-adjusted: inflated), ``ucr_hit`` for single-anomaly series, and
``precision``/``recall``/``f1`` at the chosen threshold; baselines: rolling z-score and
IsolationForest on the same parts. ``detect`` (the task's name for ``predict``) writes
per-step scores and flags to CSV and a plot under ``runs/timeseries/detect/``.

``task.mode = "classify"``: any 1D zoo model (``tcn``, ``resnet18``, ...) classifies whole
series: embedded noisy waveforms, or UCR/UEA ``.ts``/``.tsv`` archives.

Calibration for ``detect``: a run on one series stores its input normalisation and, after
each validation pass, its error calibration and threshold in ``Data.info`` (the engine
writes ``Data.spec()`` into every checkpoint right after validation, so ``best.pt`` holds
the calibration of its own weights); ``detect`` scores new data from that source with
them. A run on many series (a folder) normalises and calibrates each series on its own
training and validation parts, and ``detect`` does the same for each input file.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.neighbors import KNeighborsClassifier
from torch import Tensor, nn
from torch.utils.data import Dataset

from convkit.config import DataConfig, ModelConfig, RunConfig, TaskConfig, TrainConfig
from convkit.data.timeseries import SeriesData, load_series
from convkit.data.timeseries_synth import make_sensor_series
from convkit.errors import ConfigError, DataError
from convkit.models import create_model
from convkit.models.tcn import TCNAutoencoder, TCNForecaster, tcn_autoencoder, tcn_forecaster
from convkit.tasks.timeseries import classify as CL
from convkit.tasks.timeseries.anomaly import (
    anomaly_metrics,
    isolation_forest_scores,
    moving_average,
    rolling_zscore_scores,
)
from convkit.tasks.timeseries.plots import plot_anomalies
from convkit.tasks.timeseries.scoring import (
    THRESHOLD_RULES,
    Calibration,
    SplitScores,
    calibrate,
    choose_threshold,
    errors_to_scores,
    series_errors,
    split_metrics,
    step_errors,
)
from convkit.tasks.timeseries.series import (
    VAL_SPLITS,
    PreparedSeries,
    ScoreChunks,
    TrainWindows,
    check_channels,
    normalise,
    normaliser,
    prepare_series,
    split_parts,
)
from convkit.train.baselines import one_blas_thread
from convkit.train.baselines import scores as baseline_scores
from convkit.train.task import ClassificationTask, Data

MODES = ("anomaly", "classify")
OBJECTIVES = ("forecast", "reconstruct")
COMBINE = ("mean", "max")
NOTES = ("pa_f1 is point-adjusted (one flagged step counts its whole labelled segment as found) and inflates "
         "scores; roc_auc, pr_auc, best_f1, precision, recall and f1 are point-wise; pr_auc is the headline")
DETECT_DIR = Path("runs") / "timeseries" / "detect"
"""Where ``detect`` writes its CSV files and plots (relative to the working folder)."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


@dataclass
class SeriesDataConfig(DataConfig):
    """``path``: a series file or folder (empty: the embedded sensor series, or the
    embedded waveforms in classify mode). ``train_fraction``: share of a CSV/NAB series
    used for training (none: the loader's default, CSV 0.5, NAB 0.15; UCR names carry
    their own). ``val_split``/``val_fraction``: where the validation part lies
    (``after_train``: the first ``val_fraction`` after the training part; ``train_tail``:
    the last ``val_fraction`` of the training part). ``length``/``channels``: the embedded
    sensor series. ``znorm``: classify mode z-normalises each series."""

    train_fraction: float | None = None
    val_split: str = "after_train"
    val_fraction: float = 0.5
    length: int = 20000
    channels: int = 4
    znorm: bool = True

    def validate(self) -> None:
        """Raise ConfigError naming a value out of range."""
        _check(self.train_fraction is None or 0 < self.train_fraction < 1,
               f"data.train_fraction must lie strictly between 0 and 1 (or none); got {self.train_fraction}")
        _check(self.val_split in VAL_SPLITS, f"data.val_split must be one of {', '.join(VAL_SPLITS)}; "
                                             f"got {self.val_split!r}")
        _check(0 < self.val_fraction < 1, f"data.val_fraction must lie strictly between 0 and 1; "
                                          f"got {self.val_fraction}")
        _check(self.channels >= 1, f"data.channels must be at least 1; got {self.channels}")
        _check(self.length >= 2, f"data.length must be at least 2; got {self.length}")


@dataclass
class SeriesTaskConfig(TaskConfig):
    """``mode``: anomaly or classify. ``objective``: forecast (causal TCN) or reconstruct
    (TCN autoencoder). ``context``: steps the receptive field must cover (sets the number
    of levels unless ``model.options.levels`` is given). ``horizon``: steps forecast.
    ``window``/``stride``: training windows. ``score_chunk``: steps per chunk of a scoring
    pass. ``combine`` (mean/max over channels), ``smooth`` (causal moving average of the
    score, steps), ``threshold`` (auto, best_f1 or quantile) and ``quantile``.
    ``zscore_window``/``iforest_window``: the baselines' windows.

    The anomaly TCN is built with ``dropout = 0`` unless ``model.options.dropout`` says
    otherwise: forecasting normal data needs no dropout, and it halves training speed."""

    mode: str = "anomaly"
    objective: str = "forecast"
    context: int = 96
    horizon: int = 1
    window: int = 256
    stride: int = 32
    score_chunk: int = 8192
    combine: str = "mean"
    smooth: int = 12
    threshold: str = "auto"
    quantile: float = 0.99
    zscore_window: int = 96
    iforest_window: int = 4

    def validate(self) -> None:
        """Raise ConfigError naming a value out of range."""
        _check(self.mode in MODES, f"task.mode must be one of {', '.join(MODES)}; got {self.mode!r}")
        _check(self.objective in OBJECTIVES, f"task.objective must be one of {', '.join(OBJECTIVES)}; "
                                             f"got {self.objective!r}")
        for key in ("context", "horizon", "stride", "score_chunk", "smooth", "iforest_window"):
            _check(getattr(self, key) >= 1, f"task.{key} must be at least 1; got {getattr(self, key)}")
        _check(self.window >= 2, f"task.window must be at least 2; got {self.window}")
        _check(self.zscore_window >= 2, f"task.zscore_window must be at least 2; got {self.zscore_window}")
        _check(self.combine in COMBINE, f"task.combine must be mean or max; got {self.combine!r}")
        _check(self.threshold in THRESHOLD_RULES, f"task.threshold must be one of {', '.join(THRESHOLD_RULES)}; "
                                                  f"got {self.threshold!r}")
        _check(0 < self.quantile < 1, f"task.quantile must lie strictly between 0 and 1; got {self.quantile}")


def _default_train() -> TrainConfig:
    # Measured on two CPU cores: the default run trains in about a minute (56 s of CPU
    # time); test PR-AUC 0.78 against 0.13 (rolling z-score) and 0.16 (IsolationForest).
    return TrainConfig(epochs=12, batch_size=16, lr=3e-3, optimizer="adamw", weight_decay=1e-4,
                       schedule="cosine", clip_grad_norm=1.0)


@dataclass
class TimeSeriesRunConfig(RunConfig):
    """The time-series task's run config (``train``, ``model``, ``data``, ``task``)."""

    train: TrainConfig = field(default_factory=_default_train)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name="tcn"))
    data: SeriesDataConfig = field(default_factory=SeriesDataConfig)
    task: SeriesTaskConfig = field(default_factory=SeriesTaskConfig)


class TimeSeriesTask(ClassificationTask):
    """Anomaly detection (batches are dicts of ``x [N, C, L]`` and indices) or whole-series
    classification (batches ``(x [N, C, L], y [N])``); see the module docstring."""

    name = "timeseries"
    config_class = TimeSeriesRunConfig
    default_model = "tcn"
    monitor = "pr_auc"
    monitor_mode = "max"
    command_aliases = {"detect": "predict"}
    data_formats = (
        "anomaly mode: a CSV with a header (numeric columns are channels, optional 'timestamp', optional "
        "'label' or 'is_anomaly' 0/1 per row; missing cells interpolated); a UCR anomaly archive file "
        "NNN_UCR_Anomaly_<name>_<train end>_<begin>_<end>.txt or a folder of them; a NAB root (data/ and "
        "labels/combined_windows.json) or one of its data files; a folder of CSVs. classify mode "
        "(task.mode=classify): a folder with <Problem>_TRAIN.ts and <Problem>_TEST.ts (or .tsv), or one "
        ".ts/.tsv file (stratified 80/10/10).")

    # ------------------------------------------------------------------ data and model

    def build_data(self, cfg: TimeSeriesRunConfig, path: str | None = None, spec: Data | None = None) -> Data:
        """The datasets of ``cfg.task.mode``; with ``path`` and ``spec`` (``evaluate --data``)
        the test split of ``path`` for the trained model. Also sets the monitored metric:
        ``accuracy`` (classify), ``pr_auc`` when validation parts hold labelled anomalies,
        else the validation ``loss`` (min)."""
        if cfg.task.mode == "classify":
            self.monitor, self.monitor_mode = "accuracy", "max"
            return self._classification_data(cfg, path, spec)
        return self._anomaly_data(cfg, path, spec)

    def _classification_data(self, cfg: TimeSeriesRunConfig, path: str | None, spec: Data | None) -> Data:
        if path is not None:
            if spec is None:
                raise ValueError("build_data(path=...) needs the trained model's spec")
            test = CL.load_classification_eval(path, spec.label_names, cfg.data.znorm)
            return Data(None, None, test, label_names=spec.label_names, spatial_dims=1,
                        in_channels=spec.in_channels, input_shape=spec.input_shape, info=dict(spec.info))
        splits = CL.load_classification_data(cfg.data.path, cfg.data.znorm, cfg.train.seed)
        _, channels, length = splits.train.tensors[0].shape
        return Data(splits.train, splits.val, splits.test, label_names=list(splits.class_names), spatial_dims=1,
                    in_channels=int(channels), input_shape=(int(channels), int(length)),
                    info={"mode": "classify", "source": cfg.data.path or "embedded shapes", "name": splits.name})

    def _load(self, cfg: TimeSeriesRunConfig, path: str | None) -> tuple[list[SeriesData], list[str]]:
        """The series and how messages name each (its file, or folder and name)."""
        source = path or cfg.data.path
        if not source:
            return [make_sensor_series(cfg.data.length, cfg.data.channels, seed=cfg.train.seed)], ["embedded series"]
        loaded = load_series(source, cfg.data.train_fraction)
        if isinstance(loaded, list):
            return loaded, [f"{source}: series {s.name}" for s in loaded]
        return [loaded], [str(source)]

    def _anomaly_data(self, cfg: TimeSeriesRunConfig, path: str | None, spec: Data | None) -> Data:
        series, where = self._load(cfg, path)
        channels = check_channels(series, spec.info["channels"] if spec is not None else None, where)
        geometry = self._geometry(cfg, len(channels), announce=spec is None)
        stats = None
        if spec is not None and spec.info.get("normaliser") and len(series) == 1:
            stats = (np.asarray(spec.info["normaliser"]["mean"]), np.asarray(spec.info["normaliser"]["std"]))
        prepared = [prepare_series(s, cfg.data.val_split, cfg.data.val_fraction, geometry["min_fit"], stats, w)
                    for s, w in zip(series, where)]
        info = {"mode": "anomaly", "objective": cfg.task.objective, "channels": channels,
                "source": str(path or cfg.data.path or "embedded sensor series"),
                "series": [s.name for s in prepared][:1000], **geometry,
                "normaliser": (None if len(prepared) > 1 else {"mean": [float(v) for v in prepared[0].mean],
                                                                "std": [float(v) for v in prepared[0].std]}),
                "calibration": None,
                "scoring": {"combine": cfg.task.combine, "smooth": cfg.task.smooth, "threshold": cfg.task.threshold,
                            "quantile": cfg.task.quantile}}
        chunks = dict(chunk=cfg.task.score_chunk, halo_left=geometry["halo_left"],
                      halo_right=geometry["halo_right"], align=geometry["align"], info=info)
        test = ScoreChunks(prepared, "test", **chunks)
        labelled_val = any(s.labels is not None and 0 < s.labels[slice(*s.parts.val)].mean() < 1 for s in prepared)
        self.monitor, self.monitor_mode = ("pr_auc", "max") if labelled_val else ("loss", "min")
        if cfg.task.threshold == "best_f1" and not labelled_val:
            whose = f"{where[0]} has none there" if len(where) == 1 else "no series has any there"
            raise ConfigError("task.threshold=best_f1 needs labelled anomalies (and normal steps) in the validation "
                              f"part; {whose}; use auto or quantile")
        if path is not None:
            return Data(None, None, test, spatial_dims=1, in_channels=len(channels),
                        input_shape=spec.input_shape if spec else None, info=info)
        window = cfg.task.window
        if window < geometry["min_fit"]:
            raise ConfigError(f"task.window ({window}) must be at least the receptive field plus horizon "
                              f"({geometry['min_fit']} steps); raise task.window or lower task.context")
        train = TrainWindows(prepared, window, cfg.task.stride, geometry["first"])
        val = ScoreChunks(prepared, "val", **chunks)
        return Data(train, val, test, spatial_dims=1, in_channels=len(channels),
                    input_shape=(len(channels), window), info=info)

    def _geometry(self, cfg: TimeSeriesRunConfig, channels: int, announce: bool) -> dict:
        """How far the model sees, from the model itself (built on the meta device: no memory)."""
        with torch.device("meta"):
            model = self._anomaly_model(cfg, channels)
        rf, ahead = model.receptive_field, model.lookahead
        if isinstance(model, TCNForecaster):
            h = cfg.task.horizon
            geometry = {"receptive_field": rf, "horizon": h, "first": rf - 1, "min_fit": rf + h,
                        "halo_left": rf - 1 + h, "halo_right": 0, "align": 1, "warmup": rf - 1 + h,
                        "levels": model.backbone.levels}
            what = f"forecasts {h} step(s) from the last {rf} steps"
        else:
            geometry = {"receptive_field": rf, "horizon": 0, "first": 0, "min_fit": rf, "halo_left": ahead,
                        "halo_right": ahead, "align": model.downsample, "warmup": 0,
                        "levels": model.encoder.levels}
            what = f"reconstructs each step from {ahead} steps on either side"
        if announce:
            print(f"tcn ({cfg.task.objective}): {geometry['levels']} levels of kernel "
                  f"{cfg.model.options.get('kernel_size', 3)}, dilations 1..{2 ** (geometry['levels'] - 1)}: "
                  f"receptive field {rf} steps (task.context={cfg.task.context}); {what}",
                  file=sys.stderr, flush=True)
        return geometry

    def _anomaly_model(self, cfg: TimeSeriesRunConfig, channels: int) -> TCNForecaster | TCNAutoencoder:
        name = cfg.model.name or self.default_model
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

    def build_model(self, cfg: TimeSeriesRunConfig, data: Data) -> nn.Module:
        """Anomaly mode: the TCN forecaster or autoencoder; classify mode: the zoo model
        ``model.name`` (the TCN's levels cover ``task.context``)."""
        if data.info.get("mode") == "classify":
            name = cfg.model.name or self.default_model
            options = dict(cfg.model.options)
            if name == "tcn":
                options.setdefault("context", cfg.task.context)
            return create_model(name, spatial_dims=1, in_channels=data.in_channels,
                                num_classes=len(data.label_names), **options)
        return self._anomaly_model(cfg, data.in_channels)

    # ------------------------------------------------------------------ steps

    def training_step(self, model: nn.Module, batch: Any) -> Tensor:
        """Anomaly mode: mean squared error of the forecasts of the steps after ``first``
        (full receptive field) or of the reconstruction; classify: cross-entropy."""
        if not isinstance(batch, dict):
            return super().training_step(model, batch)
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

    def evaluation_step(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        """Anomaly mode: the kept steps of each chunk, flattened: ``err``/``sq`` ``[S, C]``
        (absolute/squared error), ``series`` and ``step`` ``[S]``; classify: logits, targets."""
        if not isinstance(batch, dict):
            return super().evaluation_step(model, batch)
        x = batch["x"]
        abs_err, sq_err = step_errors(model, x)
        pos = torch.arange(x.shape[-1], device=x.device)[None, :]
        keep = (pos >= batch["keep_from"][:, None]) & (pos < (batch["keep_from"] + batch["keep_len"])[:, None])
        return {"err": abs_err.transpose(1, 2)[keep], "sq": sq_err.transpose(1, 2)[keep],
                "series": batch["series"][:, None].expand_as(keep)[keep],
                "step": (batch["in_start"][:, None] + pos)[keep]}

    def compute_metrics(self, collected: dict[str, Tensor], dataset: Dataset | None) -> dict[str, Any]:
        """Anomaly mode: see :func:`~convkit.tasks.timeseries.scoring.split_metrics`; the
        validation split also stores the calibration of a single-series run in
        ``Data.info`` (read by ``detect``). Classify: accuracy, macro F1, loss."""
        if "err" not in collected:
            return super().compute_metrics(collected, dataset)
        spans = score_spans(collected, dataset)
        results = [span.part(dataset.split) for span in spans]
        if dataset.split == "val":
            dataset.info["calibration"] = spans[0].calibration.to_dict() if len(spans) == 1 else None
        return {**split_metrics(results), "notes": NOTES}

    def baselines(self, cfg: TimeSeriesRunConfig, data: Data, params: int) -> dict:
        """Anomaly mode: rolling z-score and IsolationForest scored (smoothed by
        ``task.smooth``), thresholded and measured like the model, on each series' test part.
        Classify: 1-nearest-neighbour (Euclidean) on the z-normalised series, the classic UCR
        baseline."""
        if data.info.get("mode") == "classify":
            return _nearest_neighbour_baseline(data)
        t = cfg.task
        scorers = {"rolling_zscore": lambda v, s: rolling_zscore_scores(v, t.zscore_window),
                   "isolation_forest": lambda v, s: isolation_forest_scores(v, t.iforest_window, s.parts.fit[1],
                                                                            seed=cfg.train.seed)}
        out = {}
        for name, scorer in scorers.items():
            results = []
            for s in data.test.series:
                scores = moving_average(scorer(s.values.T.numpy(), s), t.smooth)  # as the model's
                val, test = slice(*s.parts.val), slice(*s.parts.test)
                labels = s.labels
                threshold, rule = choose_threshold(scores[val], None if labels is None else labels[val],
                                                   t.threshold, t.quantile)
                zero = np.zeros(s.values.shape[0])
                results.append(SplitScores(s.name, *s.parts.test, scores[test],
                                           None if labels is None else labels[test],
                                           Calibration(zero, zero + 1, threshold, rule), float("nan")))
            metrics = split_metrics(results)
            metrics.pop("loss")
            out[name] = {"test": metrics}
        return out

    # ------------------------------------------------------------------ detect / predict

    def load_inputs(self, cfg: TimeSeriesRunConfig, data: Data, inputs: list[str]) -> Any:
        """Anomaly mode: each input is one series file, checked against the model's
        channels and receptive field and normalised; classify: ``.ts``/``.tsv`` files."""
        if data.info.get("mode") == "classify":
            files = [CL.load_classification_eval_unlabelled(p, cfg.data.znorm) for p in inputs]
            return {"mode": "classify", "x": [f[0] for f in files], "true": [f[1] for f in files]}
        info = data.info
        items = []
        for p in inputs:
            loaded = load_series(p, cfg.data.train_fraction)
            if isinstance(loaded, list):
                raise DataError(f"{p}: holds {len(loaded)} series; detect takes series files (one series each)")
            check_channels([loaded], info["channels"], [str(p)])
            if loaded.length < info["receptive_field"]:
                raise DataError(f"{p}: {loaded.length} steps, shorter than the model's receptive field "
                                f"({info['receptive_field']} steps)")
            norm = info.get("normaliser")
            mean, std = ((np.asarray(norm["mean"]), np.asarray(norm["std"])) if norm
                         else _own_stats(loaded))
            val = None
            if info.get("calibration") is None:
                val = split_parts(loaded.length, loaded.train_end, cfg.data.val_split, cfg.data.val_fraction,
                                  str(p)).val
            items.append({"path": str(p), "series": loaded, "x": normalise(loaded.values, mean, std), "val": val})
        return {"mode": "anomaly", "items": items, "info": info, "chunk": cfg.task.score_chunk,
                "batch_size": cfg.train.batch_size}

    def predict(self, model: nn.Module, batch: Any, label_names: list[str] | None) -> list[dict]:
        """Anomaly mode (``detect``): per input, the number of steps and flagged steps, the
        threshold, the flagged segments, metrics after the training part when the file has
        labels, and the CSV (``step[,timestamp],score,flag[,label]``) and plot written under
        ``runs/timeseries/detect/``. Classify: the predicted label of every series."""
        if batch["mode"] == "classify":
            return _classify_files(model, batch, label_names)
        info, out = batch["info"], []
        DETECT_DIR.mkdir(parents=True, exist_ok=True)
        for item in batch["items"]:
            series: SeriesData = item["series"]
            errors = series_errors(model, item["x"], info["halo_left"], info["halo_right"], batch["chunk"],
                                   batch["batch_size"], info["align"], info.get("warmup", 0))
            scoring = info["scoring"]
            if item["val"] is None:  # the run's own series: its stored calibration
                cal = Calibration.from_dict(info["calibration"])
            else:
                lo, hi = item["val"]
                labels = None if series.labels is None else series.labels[lo:hi]
                cal, _ = calibrate(errors[lo:hi], labels, scoring["combine"], scoring["smooth"],
                                   scoring["threshold"], scoring["quantile"])
            scores = errors_to_scores(errors, cal.centre, cal.scale, scoring["combine"], scoring["smooth"])
            flagged = (scores >= cal.threshold).astype(np.int64)
            stem = Path(item["path"]).stem
            csv_path, png_path = DETECT_DIR / f"{stem}.csv", DETECT_DIR / f"{stem}.png"
            write_scores_csv(csv_path, scores, flagged, series)
            plot_anomalies(png_path, series.values, scores, cal.threshold, series.labels,
                           channel_names=series.channel_names, title=f"{series.name}: anomaly scores",
                           marks={"training part ends": series.train_end})
            row = {"steps": series.length, "warmup_steps": info.get("warmup", 0), "flagged": int(flagged.sum()),
                   "threshold": round(cal.threshold, 6),
                   "threshold_rule": cal.rule,
                   "calibration": "this series' own validation part" if item["val"] is not None else "the run's",
                   "segments": _segments(flagged), "csv": str(csv_path), "plot": str(png_path)}
            if series.labels is not None:
                after = slice(series.train_end, series.length)
                metrics = anomaly_metrics(scores[after], series.labels[after], cal.threshold)
                if metrics:
                    row["metrics"] = {k: round(v, 6) for k, v in metrics.items()}
            out.append(row)
        return out

    def plots(self, run_dir: Path, collected: dict[str, Tensor], data: Data) -> None:
        """Anomaly mode: ``anomalies.png``, the first series' validation and test parts
        with scores, threshold, labelled and flagged regions. Classify: the confusion matrix."""
        if "err" not in collected:
            return super().plots(run_dir, collected, data)
        span = score_spans(collected, data.test)[0]
        s = data.test.series[0]
        start, end = span.start, span.end
        plot_anomalies(Path(run_dir) / "anomalies.png", s.source.values[start:end], span.scores,
                       span.calibration.threshold, None if s.labels is None else s.labels[start:end],
                       steps=np.arange(start, end), channel_names=s.source.channel_names,
                       title=f"{s.name}: validation and test parts (threshold from validation)",
                       marks={"test part": s.parts.test[0]})


# ----------------------------------------------------------------------------- helpers


@dataclass
class SpanScores:
    """A series' scores over the steps ``[start, end)`` one split scores (validation part
    first), with the calibration from the validation part."""

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


def score_spans(collected: dict[str, Tensor], dataset: ScoreChunks) -> list[SpanScores]:
    """Reassemble the flattened ``evaluation_step`` outputs of a split into each series'
    errors, calibrate on its validation part and score the whole span."""
    settings = dataset.info["scoring"]
    series_of, step = collected["series"].numpy(), collected["step"].numpy()
    err, sq = collected["err"].double().numpy(), collected["sq"].double().numpy()
    order = np.argsort(series_of, kind="stable")
    bounds = np.searchsorted(series_of[order], np.arange(len(dataset.series) + 1))
    spans = []
    for i, s in enumerate(dataset.series):
        start, end = dataset.span(i)
        rows = order[bounds[i]:bounds[i + 1]]
        e = np.full((end - start, err.shape[1]), np.nan)
        q = np.full((end - start, err.shape[1]), np.nan)
        e[step[rows] - start], q[step[rows] - start] = err[rows], sq[rows]
        lo, hi = s.parts.val
        labels = None if s.labels is None else s.labels[lo:hi]
        cal, _ = calibrate(e[lo - start:hi - start], labels, settings["combine"], settings["smooth"],
                           settings["threshold"], settings["quantile"])
        scores = errors_to_scores(e, cal.centre, cal.scale, settings["combine"], settings["smooth"])
        spans.append(SpanScores(s, start, end, scores, q.mean(axis=1), cal))
    return spans


def _own_stats(series: SeriesData) -> tuple[np.ndarray, np.ndarray]:
    return normaliser(series.values[: max(series.train_end, 2)])


def _segments(flags: np.ndarray, limit: int = 100) -> list[list[int]]:
    """Flagged runs ``[start, end)`` (at most ``limit``)."""
    padded = np.concatenate(([0], flags, [0]))
    edges = np.flatnonzero(np.diff(padded)).reshape(-1, 2)
    return edges[:limit].tolist()


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


def _nearest_neighbour_baseline(data: Data) -> dict:
    """1-NN with Euclidean distance on the flattened series ``[N, C * L]``."""
    x, y = data.train.tensors
    xt, yt = data.test.tensors
    with one_blas_thread():
        clf = KNeighborsClassifier(n_neighbors=1).fit(x.reshape(len(x), -1).numpy(), y.numpy())
        predictions = clf.predict(xt.reshape(len(xt), -1).numpy())
    return {"nn1_euclidean": {"test": baseline_scores(predictions, yt)}}


def _classify_files(model: nn.Module, batch: dict, label_names: list[str] | None) -> list[dict]:
    out = []
    for x, true in zip(batch["x"], batch["true"]):
        probs = F.softmax(model(x).float(), dim=1).cpu()
        names = label_names or [str(i) for i in range(probs.shape[1])]
        labels = [names[int(i)] for i in probs.argmax(1)]
        row: dict = {"series": len(labels), "labels": labels,
                     "confidence": [round(float(p), 6) for p in probs.max(1).values]}
        known = [(p, t) for p, t in zip(labels, true) if t in names]
        if known:
            row["accuracy"] = round(sum(p == t for p, t in known) / len(known), 6)
        out.append(row)
    return out


TASK = TimeSeriesTask()
"""The time-series task instance handed to the CLI and the engine."""
