"""The time-series run configs and the choice of mode.

``task.mode`` picks anomaly detection (``anomaly``, :mod:`~convkit.tasks.timeseries.detection`)
or whole-series classification (``classify``, :mod:`~convkit.tasks.timeseries.classification`);
``auto`` (the default) picks from ``data.path`` (:func:`chosen_mode`). The task family
resolves a config with :class:`TimeSeriesRunConfig`, learns the mode, then resolves it again
from the mode's own class (:class:`DetectionRunConfig`, :class:`ClassificationRunConfig`:
their defaults, the user's files, flags and ``--set`` on top;
:func:`~convkit.train.task.resolve_task_config`), so a value given always wins over a
mode's default, and the config a run records names its mode.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from convkit.config import AtLeastOne, DataConfig, Fraction, ModelConfig, Range, RunConfig, TaskConfig, TrainConfig
from convkit.errors import ConfigError
from convkit.tasks.timeseries.calibration import COMBINE, THRESHOLD_RULES, Scoring
from convkit.tasks.timeseries.likelihood import (
    LIKELIHOOD_LONG,
    LIKELIHOOD_REESTIMATE,
    LIKELIHOOD_SHORT,
    LIKELIHOOD_THRESHOLD,
    Likelihood,
)
from convkit.tasks.timeseries.series import NOVELTY_MODES, VAL_SPLITS

MODES: tuple[str, ...] = ("auto", "anomaly", "classify")
"""``task.mode``: anomaly detection, whole-series classification, or ``auto``: chosen from
``data.path`` (a ``.ts``/``.tsv`` file or a folder of ``<Problem>_TRAIN`` files is
classification, anything else detection; see :func:`chosen_mode`)."""

OBJECTIVES: tuple[str, ...] = ("forecast", "reconstruct")
"""``task.objective`` of anomaly detection: a causal TCN forecaster or a TCN autoencoder."""

NOVELTY: tuple[str, ...] = ("auto", *NOVELTY_MODES, "none")
"""``task.novelty``: where each step's features are compared (see :class:`SeriesTaskConfig`)."""


@dataclass
class SeriesDataConfig(DataConfig):
    """``path``: a series file or folder (empty: the embedded sensor series, or the
    embedded waveforms in classify mode). ``train_fraction``: share of a CSV series used
    for training (none: the loader's default, CSV 0.5; a NAB file trains on its
    probationary period, NAB's share 0.15 or this one, at most that share of 5000 rows; UCR
    names carry their own). ``val_split``/``val_fraction``: where the validation part lies
    (``after_train``: the first ``val_fraction`` after the training part; ``train_tail``:
    the last ``val_fraction`` of the training part). ``length``/``channels``: the embedded
    sensor series (``length`` at least
    :func:`~convkit.tasks.timeseries.synthetic.min_sensor_length`, checked when it is made).
    ``znorm``: classify mode z-normalises each series over its own length (true), leaves
    them as they are (false), or by model (none, the default): not for the ROCKET family,
    whose papers transform series as they are, yes for the deep models, whose papers
    z-normalise (:func:`~convkit.tasks.timeseries.classification.series_znorm`)."""

    train_fraction: Annotated[float | None, Range(gt=0, lt=1, note="or none")] = None
    val_split: Literal[VAL_SPLITS] = "after_train"
    val_fraction: Fraction = 0.5
    length: Annotated[int, Range(ge=2)] = 20000
    channels: AtLeastOne = 4
    znorm: bool | None = None


@dataclass
class SeriesTaskConfig(TaskConfig):
    """``mode``: anomaly, classify or auto (:func:`chosen_mode`). ``objective``: forecast
    (causal TCN) or reconstruct (TCN autoencoder). ``context``: steps the receptive field
    must cover (sets the number of levels unless ``model.options.levels`` is given).
    ``horizon``: steps forecast. ``window``/``stride``: training windows. ``score_chunk``:
    steps per chunk of a scoring pass. ``combine`` (mean/max over channels), ``smooth``
    (causal moving average of the score, steps; 0: an eighth of each series' dominant
    period, from its training part), ``threshold`` (auto, best_f1 or quantile) and
    ``quantile``. ``novelty``: one more error column, each step's distance from the
    forecaster's features to the nearest elsewhere: ``train`` (the series' training part;
    causal), ``past`` (every earlier step outside half a receptive field: causal and
    online, the bank grows as the series goes on), ``series`` (the rest of the series, its
    steps locally z-normalised: a discord in the forecaster's features; offline), ``none``,
    or ``auto``: ``past`` for NAB files (NAB runs detectors online), ``series`` for any
    other series, ``none`` for the autoencoder (which has no per-step features).
    ``likelihood``: turn each step's combined score into its anomaly likelihood (Ahmad et
    al. 2017; :mod:`~convkit.tasks.timeseries.likelihood`) over the whole series, learned
    from its training part on and adapting online, thresholded at ``likelihood_threshold``
    (a log-likelihood; the ``auto`` threshold rule) in place of smoothing and a validation
    threshold; none (the default): for NAB files. ``likelihood_short``/``likelihood_long``:
    its windows (the recent average's steps, the history's steps);
    ``likelihood_reestimate``: steps between fits of the history's distribution.
    ``range_rule``: with the likelihood, a value beyond the range of all earlier values
    by 5 % of it scores 1.0 (NAB's HTM detector's spatial anomaly); none: with the likelihood.
    ``forecast_errors``: the forecast errors count in the score beside the novelty; none:
    yes, except with the ``past`` novelty under the likelihood (NAB's online protocol),
    where the novelty alone scores (the forecaster learns from the training part only,
    the novelty's bank keeps growing; docs/timeseries.md has the measurements).
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
    otherwise: forecasting normal data needs no dropout, and it slows training."""

    mode: Literal[MODES] = "auto"
    objective: Literal[OBJECTIVES] = "forecast"
    context: AtLeastOne = 96
    horizon: AtLeastOne = 1
    window: Annotated[int, Range(ge=2)] = 256
    stride: AtLeastOne = 32
    score_chunk: AtLeastOne = 8192
    combine: Literal[COMBINE] = "mean"
    smooth: Annotated[int, Range(ge=0, note="0: from each series' period")] = 0
    threshold: Literal[THRESHOLD_RULES] = "auto"
    quantile: Fraction = 0.99
    novelty: Literal[NOVELTY] = "auto"
    likelihood: bool | None = None
    likelihood_short: AtLeastOne = LIKELIHOOD_SHORT
    likelihood_long: AtLeastOne = LIKELIHOOD_LONG
    likelihood_reestimate: AtLeastOne = LIKELIHOOD_REESTIMATE
    likelihood_threshold: Annotated[float, Range(gt=0, lt=1)] = LIKELIHOOD_THRESHOLD
    range_rule: bool | None = None
    forecast_errors: bool | None = None
    zscore_window: Annotated[int, Range(ge=2)] = 96
    iforest_window: AtLeastOne = 4
    discord_length: int = 0
    baseline_max_train: AtLeastOne = 20000
    min_steps: AtLeastOne = 6000
    holdout: bool = False

    def validate(self) -> None:
        """Raise ConfigError for a ``discord_length`` neither 0 nor at least 3 (the field
        types state the other constraints)."""
        if not (self.discord_length == 0 or self.discord_length >= 3):
            raise ConfigError(f"task.discord_length must be 0 (each series' period) or at least 3; "
                              f"got {self.discord_length}")

    def scoring(self, novelty: str = "", archives: list[str] | None = None) -> Scoring:
        """The settings that turn errors into scores and flags, with ``novelty`` the novelty
        mode of the last error column (empty: none; see :meth:`novelty_mode`) and the
        anomaly likelihood for series from ``archives`` (:meth:`likelihood_settings`).

        Raises:
            ConfigError: a validation threshold rule (``best_f1``, ``quantile``) with the
                anomaly likelihood, whose threshold is fixed (``likelihood_threshold``).
        """
        likelihood = self.likelihood_settings(archives or [])
        if likelihood is not None and self.threshold != "auto":
            raise ConfigError(f"task.threshold={self.threshold} sets a threshold on validation scores, but these "
                              f"scores are anomaly likelihoods (task.likelihood; on for NAB files), flagged at the "
                              f"fixed task.likelihood_threshold: set task.threshold=auto or task.likelihood=false")
        errors = (self.forecast_errors if self.forecast_errors is not None
                  else not (novelty == "past" and likelihood is not None))
        return Scoring(self.combine, self.smooth, self.threshold, self.quantile, novelty, likelihood, errors)

    def novelty_mode(self, archives: list[str]) -> str:
        """The novelty column for series from ``archives`` (each series' archive, empty for
        none): ``novelty`` as set, else (auto) ``""`` (none) for the autoencoder, ``past``
        when every series is NAB's (NAB runs detectors online: no step may look ahead, and
        they keep learning), ``series`` otherwise."""
        if self.novelty != "auto":
            return "" if self.novelty == "none" else self.novelty
        if self.objective != "forecast":
            return ""
        return "past" if _all_nab(archives) else "series"

    def likelihood_settings(self, archives: list[str]) -> Likelihood | None:
        """The anomaly likelihood's settings for series from ``archives``, or None (scores
        smoothed, a validation threshold): ``likelihood`` as set, else (none) on when every
        series is NAB's; the range rule as ``range_rule`` says, else with the likelihood."""
        on = self.likelihood if self.likelihood is not None else _all_nab(archives)
        if not on:
            return None
        return Likelihood(self.likelihood_short, self.likelihood_long, self.likelihood_reestimate,
                          True if self.range_rule is None else self.range_rule, self.likelihood_threshold)


def _all_nab(archives: list[str]) -> bool:
    """Whether every series is a NAB file (there is at least one)."""
    return bool(archives) and all(a == "nab" for a in archives)


def _default_train() -> TrainConfig:
    return TrainConfig(epochs=12, batch_size=16, lr=3e-3, optimizer="adamw", weight_decay=1e-4,
                       schedule="cosine", clip_grad_norm=1.0)


CLASSIFY_TRAIN: dict = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 16,
                         "schedule": "plateau", "clip_grad_norm": 0.0, "max_minutes": 30.0}
"""classify mode's train defaults (in place of anomaly mode's: :class:`ClassificationRunConfig`):
as Wang et al. 2017 and Ismail Fawaz et al. 2019/2020 train FCN/ResNet/InceptionTime, Adam
at 1e-3 without weight decay, batch 16, the learning rate halved after 50 epochs without a
lower training loss down to 1e-4 (``train.schedule = "plateau"``,
``plateau_factor``/``plateau_patience``/``min_lr``); the papers' 1500-2000 epochs
(15,000-20,000 steps on a 100-series problem at their batch of 10) become at least
``task.min_steps`` (6,000) optimizer steps under a 30-minute wall-time budget
(``train.max_minutes``)."""


@dataclass
class TimeSeriesRunConfig(RunConfig):
    """The time-series run config (``train``, ``model``, ``data``, ``task``) the task family
    resolves first, both modes' fields, ``task.mode = "auto"``. ``model.name`` empty: the
    mode's default model (anomaly: ``tcn``, classify: ``minirocket``)."""

    train: TrainConfig = field(default_factory=_default_train)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name=""))
    data: SeriesDataConfig = field(default_factory=SeriesDataConfig)
    task: SeriesTaskConfig = field(default_factory=SeriesTaskConfig)


@dataclass
class DetectionRunConfig(TimeSeriesRunConfig):
    """The run config of anomaly detection: :class:`TimeSeriesRunConfig`'s defaults with
    ``task.mode = "anomaly"`` (what its ``config.toml`` records)."""

    task: SeriesTaskConfig = field(default_factory=lambda: SeriesTaskConfig(mode="anomaly"))


@dataclass
class ClassificationRunConfig(TimeSeriesRunConfig):
    """The run config of classification: classify mode's train defaults
    (:data:`CLASSIFY_TRAIN`) and ``task.mode = "classify"``."""

    train: TrainConfig = field(default_factory=lambda: dataclasses.replace(_default_train(), **CLASSIFY_TRAIN))
    task: SeriesTaskConfig = field(default_factory=lambda: SeriesTaskConfig(mode="classify"))


def chosen_mode(cfg: TimeSeriesRunConfig) -> tuple[str, str]:
    """``(mode, why)``: ``task.mode`` when it is given (``why`` empty), else (``auto``) the
    mode ``data.path`` calls for: ``classify`` for a ``.ts``/``.tsv`` file or a folder of
    ``<Problem>_TRAIN`` files, ``anomaly`` for anything else (the embedded sensor series
    without a path). Reads ``cfg`` (and the folder), never changes it."""
    if cfg.task.mode != "auto":
        return cfg.task.mode, ""
    path = Path(cfg.data.path) if cfg.data.path else None
    classify = path is not None and (path.suffix.lower() in (".ts", ".tsv") or (
        path.is_dir() and (any(path.glob("*_TRAIN.ts")) or any(path.glob("*_TRAIN.tsv")))))
    why = (f"{path} is a classification archive" if classify else f"{path} is a series to scan" if path
           else "the embedded sensor series")
    return ("classify" if classify else "anomaly"), why


def mode_log(cfg: TimeSeriesRunConfig) -> list[str]:
    """The log lines of ``task.mode = "auto"``: the mode it chose and why, and when that is
    classify, the train defaults that take anomaly mode's place (:data:`CLASSIFY_TRAIN`;
    a value given keeps its own). Empty when the mode is given."""
    if cfg.task.mode != "auto":
        return []
    mode, why = chosen_mode(cfg)
    lines = [f"task.mode=auto -> {mode} ({why})"]
    if mode == "classify":
        anomaly = _default_train()
        changed = [f"train.{key}={value}" for key, value in CLASSIFY_TRAIN.items() if getattr(anomaly, key) != value]
        lines.append(f"classify mode's train defaults: {' '.join(changed)} (where not given)")
    return lines
