"""The time-series run config, one for both tasks: ``task.mode`` picks anomaly detection
(``anomaly``, :mod:`~convkit.tasks.timeseries.detection`) or whole-series classification
(``classify``, :mod:`~convkit.tasks.timeseries.classification`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from convkit.config import DataConfig, ModelConfig, RunConfig, TaskConfig, TrainConfig
from convkit.errors import ConfigError
from convkit.tasks.timeseries.scoring import THRESHOLD_RULES
from convkit.tasks.timeseries.series import VAL_SPLITS

MODES: tuple[str, ...] = ("auto", "anomaly", "classify")
"""``task.mode``: anomaly detection, whole-series classification, or ``auto``: chosen from
``data.path`` (a ``.ts``/``.tsv`` file or a folder of ``<Problem>_TRAIN`` files is
classification, anything else detection; see :func:`resolve_mode`)."""

OBJECTIVES: tuple[str, ...] = ("forecast", "reconstruct")
"""``task.objective`` of anomaly detection: a causal TCN forecaster or a TCN autoencoder."""

NOVELTY: tuple[str, ...] = ("auto", "train", "series", "none")
"""``task.novelty``: where each step's features are compared (see :class:`SeriesTaskConfig`)."""

COMBINE: tuple[str, ...] = ("mean", "max")
"""``task.combine``: how the channels' robust z-scores become one score per step."""


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
    sensor series (``length`` at least
    :func:`~convkit.data.timeseries_synth.min_sensor_length`, checked when it is made).
    ``znorm``: classify mode z-normalises each series."""

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
    score, steps; 0: an eighth of each series' dominant period, from its training part),
    ``threshold`` (auto, best_f1 or quantile) and ``quantile``. ``novelty``: one more
    error column, each step's distance from the forecaster's features to the nearest
    elsewhere: ``train`` (the series' training part; causal, so streaming and NAB's
    online protocol allow it), ``series`` (the rest of the series, its steps locally
    z-normalised: a discord in the forecaster's features; offline), ``none``, or ``auto``:
    ``train`` for NAB files, ``series`` for any other series, ``none`` for the
    autoencoder (which has no per-step features).
    ``zscore_window``/``iforest_window``: the classical baselines' windows;
    ``discord_length``: the discord baseline's subsequence length (0: each series' dominant
    period, from its training part's autocorrelation);
    ``baseline_max_train``: at most this many training windows for the linear and MLP
    forecaster baselines (evenly spaced). ``min_steps`` (classify mode): train at least
    this many optimizer steps, raising ``train.epochs`` when the training set is small
    (36 series at batch 16 are 3 steps an epoch); ``train.max_minutes`` still caps the run.
    ``holdout`` (classify mode, an official TRAIN/TEST pair): hold a tenth of TRAIN out for
    validation; false (default): train on all of TRAIN and keep the checkpoint with the
    lowest loss on TRAIN, as Wang et al. 2017 and Ismail Fawaz et al. 2019/2020 do.

    The anomaly TCN is built with ``dropout = 0`` unless ``model.options.dropout`` says
    otherwise: forecasting normal data needs no dropout, and it halves training speed."""

    mode: str = "auto"
    objective: str = "forecast"
    context: int = 96
    horizon: int = 1
    window: int = 256
    stride: int = 32
    score_chunk: int = 8192
    combine: str = "mean"
    smooth: int = 0
    threshold: str = "auto"
    quantile: float = 0.99
    novelty: str = "auto"
    zscore_window: int = 96
    iforest_window: int = 4
    discord_length: int = 0
    baseline_max_train: int = 20000
    min_steps: int = 6000
    holdout: bool = False

    def validate(self) -> None:
        """Raise ConfigError naming a value out of range."""
        _check(self.mode in MODES, f"task.mode must be one of {', '.join(MODES)}; got {self.mode!r}")
        _check(self.objective in OBJECTIVES, f"task.objective must be one of {', '.join(OBJECTIVES)}; "
                                             f"got {self.objective!r}")
        _check(self.smooth >= 0, f"task.smooth must be 0 (from each series' period) or more; got {self.smooth}")
        for key in ("context", "horizon", "stride", "score_chunk", "iforest_window",
                    "baseline_max_train", "min_steps"):
            _check(getattr(self, key) >= 1, f"task.{key} must be at least 1; got {getattr(self, key)}")
        _check(self.window >= 2, f"task.window must be at least 2; got {self.window}")
        _check(self.discord_length == 0 or self.discord_length >= 3,
               f"task.discord_length must be 0 (each series' period) or at least 3; got {self.discord_length}")
        _check(self.zscore_window >= 2, f"task.zscore_window must be at least 2; got {self.zscore_window}")
        _check(self.combine in COMBINE, f"task.combine must be mean or max; got {self.combine!r}")
        _check(self.threshold in THRESHOLD_RULES, f"task.threshold must be one of {', '.join(THRESHOLD_RULES)}; "
                                                  f"got {self.threshold!r}")
        _check(0 < self.quantile < 1, f"task.quantile must lie strictly between 0 and 1; got {self.quantile}")
        _check(self.novelty in NOVELTY, f"task.novelty must be one of {', '.join(NOVELTY)}; got {self.novelty!r}")

    def scoring(self) -> dict:
        """The settings that turn errors into scores and flags (``combine``, ``smooth``,
        ``threshold``, ``quantile``, ``novelty``), as plain values."""
        return {"combine": self.combine, "smooth": self.smooth, "threshold": self.threshold,
                "quantile": self.quantile, "novelty": self.novelty}

    def novelty_mode(self, archives: list[str]) -> str:
        """The novelty column for series from ``archives`` (each series' archive, empty for
        none): ``novelty`` as set, else (auto) ``""`` (none) for the autoencoder, ``train``
        when every series is NAB's (NAB scores online detectors: no step may look ahead),
        ``series`` otherwise."""
        if self.novelty != "auto":
            return "" if self.novelty == "none" else self.novelty
        if self.objective != "forecast":
            return ""
        return "train" if archives and all(a == "nab" for a in archives) else "series"


def _default_train() -> TrainConfig:
    # Measured on two CPU cores: the default run (forecast errors plus the series novelty)
    # takes 78 s (70 s of CPU time); test PR-AUC 0.80 (ROC-AUC 0.95) against the linear
    # forecaster 0.67, the parameter-matched MLP forecaster 0.64, the matrix-profile
    # discord 0.59, IsolationForest 0.16 and rolling z-score 0.13.
    return TrainConfig(epochs=12, batch_size=16, lr=3e-3, optimizer="adamw", weight_decay=1e-4,
                       schedule="cosine", clip_grad_norm=1.0)


CLASSIFY_TRAIN: dict = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 16,
                         "schedule": "plateau", "clip_grad_norm": 0.0, "max_minutes": 30.0}
"""classify mode's train defaults (taking the place of anomaly mode's where the config
leaves those): as Wang et al. 2017 and Ismail Fawaz et al. 2019/2020 train
FCN/ResNet/InceptionTime, Adam at 1e-3 without weight decay, batch 16, the learning rate
halved after 50 epochs without a lower training loss down to 1e-4 (``train.schedule =
"plateau"``, ``plateau_factor``/``plateau_patience``/``min_lr``); the papers' 1500-2000
epochs (15,000-20,000 steps on a 100-series problem at their batch of 10) become at
least ``task.min_steps`` (6,000) optimizer steps under a 30-minute wall-time budget
(``train.max_minutes``)."""


def resolve_mode(cfg: "TimeSeriesRunConfig") -> list[str]:
    """Settle ``task.mode = "auto"`` from ``data.path``; when that picks classify, the train
    keys still at anomaly mode's defaults take classify mode's (:data:`CLASSIFY_TRAIN`,
    logged). Changes ``cfg`` in place (so ``config.toml`` records what ran); returns the
    log lines (empty when the mode was given: an explicit ``task.mode`` keeps the train
    settings exactly as configured, e.g. the ``ucr_classification`` recipe)."""
    if cfg.task.mode != "auto":
        return []
    lines = [_settle_auto(cfg)]
    if cfg.task.mode == "classify":
        anomaly = _default_train()
        changed = [f"train.{key}={value}" for key, value in CLASSIFY_TRAIN.items()
                   if getattr(cfg.train, key) == getattr(anomaly, key) and getattr(cfg.train, key) != value]
        for key, value in CLASSIFY_TRAIN.items():
            if getattr(cfg.train, key) == getattr(anomaly, key):
                setattr(cfg.train, key, value)
        if changed:
            lines.append("classify mode's train defaults: " + " ".join(changed))
    return lines


def _settle_auto(cfg: "TimeSeriesRunConfig") -> str:
    """Set ``task.mode`` from ``data.path``; the log line saying why."""
    from pathlib import Path

    path = Path(cfg.data.path) if cfg.data.path else None
    classify = path is not None and (path.suffix.lower() in (".ts", ".tsv") or (
        path.is_dir() and (any(path.glob("*_TRAIN.ts")) or any(path.glob("*_TRAIN.tsv")))))
    cfg.task.mode = "classify" if classify else "anomaly"
    why = (f"{path} is a classification archive" if classify else f"{path} is a series to scan" if path
           else "the embedded sensor series")
    return f"task.mode=auto -> {cfg.task.mode} ({why})"


@dataclass
class TimeSeriesRunConfig(RunConfig):
    """The time-series run config (``train``, ``model``, ``data``, ``task``), both modes.
    ``model.name`` empty: the mode's default model (anomaly: ``tcn``, classify: ``fcn``)."""

    train: TrainConfig = field(default_factory=_default_train)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name=""))
    data: SeriesDataConfig = field(default_factory=SeriesDataConfig)
    task: SeriesTaskConfig = field(default_factory=SeriesTaskConfig)
