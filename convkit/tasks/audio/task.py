"""The audio task: classify sound clips with a CNN on log-mel spectrograms (default) or a
1D CNN on the raw waveform.

Default, offline: ``audio_cnn`` on the embedded synthetic sound events (ten classes that
differ in time-frequency structure; ``synthetic.py``), 1 s at 16 kHz. ``--data PATH``
reads ``<class>/<file>`` folders of WAV/FLAC/OGG at any rate, Speech Commands v1/v2
(official lists; ``--set data.words=12`` for the 12-class setting) and ESC-50
(``meta/esc50.csv`` folds), manifests and label patterns, through ``data.py``.

A run on recordings (``data.path`` set) starts from ``AudioFilesRunConfig``'s defaults
(``for_config`` picks ``FILES_TASK``): speaker-robust training on, and the clip length,
batch and epochs read from the data (the rule in ``AudioTask._size_training``, logged in
one line); the recipes give their papers' settings instead. ``data.cv=logo`` runs
leave-one-group-out cross-validation (e.g. one fold per speaker; ``repeats``).

Batches are waveforms ``[N, T]``; the model is ``AudioModel``: the front end
(``LogMelSpectrogram`` with VTLP or pitch shift while training, per-clip or per-band
normalisation, SpecAugment while training) runs on the batch on the model's device, then
any zoo model (``audio_cnn``, ``resnet18``, ``efficientnet_b0`` with one input channel;
``m5`` on the raw waveform). Waveform augmentation (gain, time shift, speed perturbation,
background noise, mixup) is the task's batch augmentation. Baselines: MFCC statistics +
logistic regression, the same statistics + an RBF SVM (``mfcc_svm``, on recordings), and a
parameter-matched MLP on the log-mel spectrogram.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from convkit.config import AtLeastOne, DataConfig, ModelConfig, Range, RunConfig, TaskConfig, TrainConfig
from convkit.data.manifest import NO_GROUPS, check_listing_options, is_manifest, write_split_groups
from convkit.data.skipped import SKIPPED_FILE
from convkit.errors import ConfigError
from convkit.models import create_model, get_entry
from convkit.models.sizes import require_min_size
from convkit.nn import BackgroundNoise, LogMelSpectrogram, RandomGain, RandomTimeShift, SpecAugment
from convkit.nn.audio import CMVN, VTLP, SpectralPitchShift, SpeedPerturb, dct_matrix
from convkit.nn.mixup import mixup
from convkit.tasks.audio.data import (
    SizedDuration,
    dataset_duration,
    dataset_groups,
    load_audio_dataset,
    load_audio_eval_set,
    load_audio_files,
)
from convkit.tasks.audio.plots import plot_examples
from convkit.tasks.audio.synthetic import CLASS_NAMES as SOUND_EVENT_CLASSES
from convkit.tasks.audio.synthetic import SECONDS as SOUND_EVENTS_SECONDS
from convkit.tasks.audio.synthetic import SOURCE as SOUND_EVENTS_SOURCE
from convkit.tasks.audio.synthetic import load_sound_events_dataset
from convkit.train.baselines import BaselineFeatures, one_blas_thread, scores, shared_baselines
from convkit.train.distributed import DistEnv, log, rank_from_env
from convkit.train.inference import PYTHON_DATA_PREFIX
from convkit.train.task import ClassificationTask, Data, Trained
from convkit.train.transfer import pretrained_weights


@dataclass
class AudioDataConfig(DataConfig):
    """``path``: a dataset folder (empty: the synthetic sound events, ``n_per_class`` clips
    per class); every clip is resampled to ``sample_rate`` and padded/cropped (centred) to
    ``duration`` seconds (0: read from the files, ``data.auto_duration``: the longest file,
    rounded up to 0.1 s, at most 10 s). Speech Commands: ``words`` ("all" or "12"); ESC-50:
    ``test_fold``, ``val_fold``; ``allow_outside_paths``: ESC-50 table rows and manifest
    rows may name files outside their folder. ``layout``: auto | folder | speech_commands
    | esc50. ``path`` may be a manifest ``.csv`` (``path,label``, optional ``split``,
    ``group``) or a flat folder whose file names give the labels by ``label_pattern``
    (e.g. ``{label}_{speaker}_{index}``); ``group_by`` names the field whose groups (a
    speaker) stay on one side of every split (empty: ``group`` if present; ``none``: off).
    See ``convkit.data.manifest``. Leave one group out: ``test_group`` holds that group
    (a speaker) out as the test split, the other groups train (validation: 10% of their
    clips); ``cv`` "logo" runs every group in turn and reports the mean ± std over the
    folds (``Task.repeats``)."""

    sample_rate: Annotated[int, Range(ge=1000, note="Hz")] = 16000
    duration: Annotated[float, Range(ge=0, note="seconds; 0: from the files")] = 1.0
    n_per_class: Annotated[int, Range(ge=3)] = 300
    layout: str = "auto"
    words: Literal["all", "12"] = "all"
    test_fold: int = 5
    val_fold: int = 4
    allow_outside_paths: bool = False
    label_pattern: str = ""
    group_by: str = ""
    cv: Literal["none", "logo"] = "none"
    test_group: str = ""

    def validate(self) -> None:
        """Raise ConfigError for a bad ``label_pattern``, a ``group_by`` it lacks, or
        ``cv``/``test_group`` without groups (a manifest or a pattern, grouping on)."""
        check_listing_options(self.label_pattern, self.group_by)
        wanted = "data.cv=logo" if self.cv == "logo" else f"data.test_group={self.test_group!r}"
        if (self.cv == "logo" or self.test_group) and (
                self.group_by == NO_GROUPS or not (self.label_pattern or is_manifest(self.path))):
            raise ConfigError(f"{wanted} needs groups: a manifest (--data FILE.csv with a group column) or "
                              "data.label_pattern naming the field, with data.group_by (e.g. "
                              "data.label_pattern='{label}_{speaker}_{index}' data.group_by=speaker)")

    def mode(self) -> dict:
        """The loader's format options."""
        return dict(layout=self.layout, words=self.words, test_fold=self.test_fold, val_fold=self.val_fold,
                    allow_outside_paths=self.allow_outside_paths, label_pattern=self.label_pattern,
                    group_by=self.group_by, test_group=self.test_group)


@dataclass
class AudioTaskConfig(TaskConfig):
    """Front end: ``features`` "logmel" or "waveform" ("auto": waveform for 1D-only models
    such as ``m5``, log-mel otherwise), STFT ``n_fft``/``hop_length``, ``n_mels``.
    Augmentation while training: SpecAugment masks (``freq_mask``/``time_mask`` widths,
    0 = off), random ``gain_db`` (±), ``time_shift`` (fraction of the clip) and background
    noise mixed in with probability ``noise_p`` when the data has a noise bank.
    Speaker-robust training (the speech literature's; each 0 = off): ``speed``
    perturbation (each clip played at a speed in ``1 ± speed``, Ko et al. 2015), ``vtlp``
    (vocal tract length perturbation: the frequency axis warped by a factor in
    ``1 ± vtlp``, Jaitly & Hinton 2013), ``pitch_shift`` (± semitones, on the spectrum),
    ``mixup`` (the Beta parameter, Zhang et al. 2018). ``normalize``: the log-mel per clip
    (``clip``: one mean and std), or per mel band over time (``cmvn``; ``cmn``: the mean
    only), which removes a microphone's fixed response. ``min_steps``: ``train.epochs`` 0
    (a run on recordings) trains at least this many optimizer steps (and at least 10 epochs).
    ``baseline_max_train``: the classical baselines train on at most this many clips."""

    features: Literal["auto", "logmel", "waveform"] = "auto"
    n_fft: Annotated[int, Range(ge=16)] = 512
    hop_length: AtLeastOne = 160
    n_mels: Annotated[int, Range(ge=4)] = 40
    freq_mask: int = 6
    time_mask: int = 12
    gain_db: Annotated[float, Range(ge=0)] = 6.0
    time_shift: Annotated[float, Range(ge=0, lt=1)] = 0.1
    noise_p: Annotated[float, Range(ge=0, le=1)] = 0.8
    speed: Annotated[float, Range(ge=0, lt=1, note="0: off")] = 0.0
    vtlp: Annotated[float, Range(ge=0, lt=1, note="0: off")] = 0.0
    pitch_shift: Annotated[float, Range(ge=0, le=12, note="semitones; 0: off")] = 0.0
    mixup: Annotated[float, Range(ge=0, note="Beta(alpha, alpha); 0: off")] = 0.0
    normalize: Literal["clip", "cmvn", "cmn"] = "clip"
    min_steps: Annotated[int, Range(ge=0, note="0: train as given")] = 0
    baseline_max_train: int = 5000

    def validate(self) -> None:
        """Raise ConfigError when ``n_mels`` exceeds the ``n_fft // 2 + 1`` frequency bins
        (the field types state the other constraints)."""
        if self.n_mels > self.n_fft // 2 + 1:
            raise ConfigError(f"task.n_mels ({self.n_mels}) is more than the {self.n_fft // 2 + 1} frequency "
                              f"bins of task.n_fft={self.n_fft}; lower task.n_mels or raise task.n_fft")


def _default_train() -> TrainConfig:
    return TrainConfig(epochs=MIN_EPOCHS, batch_size=BATCH_SIZE, lr=3e-3, optimizer="adamw", weight_decay=0.01,
                       schedule="onecycle")


MIN_EPOCHS = 10
"""The embedded data's epochs, and the fewest a run on recordings is sized to (``train.epochs`` 0)."""

BATCH_SIZE = 64
"""The embedded data's batch, and the largest a run on recordings is sized to (``train.batch_size`` 0)."""


@dataclass
class AudioFilesTrainConfig(TrainConfig):
    """``TrainConfig`` of a run on recordings: ``epochs`` and ``batch_size`` 0 are sized
    from the data when it is read (``AudioTask._size_training``); a number given is used as is."""

    epochs: Annotated[int, Range(ge=0, note="0: sized from the data")] = 0
    batch_size: Annotated[int, Range(ge=0, note="0: sized from the data")] = 0


def _files_train() -> AudioFilesTrainConfig:
    return AudioFilesTrainConfig(epochs=0, batch_size=0, lr=3e-3, optimizer="adamw", weight_decay=0.01,
                                 schedule="onecycle")


@dataclass
class AudioRunConfig(RunConfig):
    """The audio task's run config (``train``, ``model``, ``data``, ``task``)."""

    train: TrainConfig = field(default_factory=_default_train)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name="audio_cnn"))
    data: AudioDataConfig = field(default_factory=AudioDataConfig)
    task: AudioTaskConfig = field(default_factory=AudioTaskConfig)

    def validate(self) -> None:
        """Raise ConfigError when the STFT cannot fit the clip: ``task.n_fft`` or
        ``task.hop_length`` longer than ``data.sample_rate * data.duration`` samples
        (``data.duration`` 0: checked once it is read from the files)."""
        if self.data.duration == 0:
            return
        samples = max(1, int(round(self.data.sample_rate * self.data.duration)))
        for key in ("n_fft", "hop_length"):
            value = getattr(self.task, key)
            if value > samples:
                raise ConfigError(f"task.{key} ({value}) is longer than the clip: data.duration "
                                  f"{self.data.duration:g} s at data.sample_rate {self.data.sample_rate} Hz is "
                                  f"{samples} samples; lower task.{key} or raise data.duration")


@dataclass
class AudioFilesDataConfig(AudioDataConfig):
    """``AudioDataConfig`` with the defaults of a run on recordings (``data.path`` set):
    ``duration`` 0, read from the files (``data.auto_duration``)."""

    duration: Annotated[float, Range(ge=0, note="seconds; 0: from the files")] = 0.0


@dataclass
class AudioFilesTaskConfig(AudioTaskConfig):
    """``AudioTaskConfig`` with the defaults of a run on recordings (``data.path`` set):
    speed perturbation and VTLP on (what helped across unheard speakers in leave-one-speaker-out
    folds; per-band normalisation and mixup did not: docs/results.md), and training sized from
    the data (see ``AudioFilesRunConfig``)."""

    speed: Annotated[float, Range(ge=0, lt=1, note="0: off")] = 0.1
    vtlp: Annotated[float, Range(ge=0, lt=1, note="0: off")] = 0.1
    min_steps: Annotated[int, Range(ge=0, note="0: train as given")] = 1000


@dataclass
class AudioFilesRunConfig(AudioRunConfig):
    """The audio task's run config on recordings (``--data PATH``): the defaults of
    ``AudioRunConfig`` except ``data`` (``AudioFilesDataConfig``) and ``task``
    (``AudioFilesTaskConfig``). A value the user gives (a flag, ``--set``, a recipe, a
    config file) wins over these as over any default; the recipes give every one of them."""

    train: AudioFilesTrainConfig = field(default_factory=_files_train)
    data: AudioFilesDataConfig = field(default_factory=AudioFilesDataConfig)
    task: AudioFilesTaskConfig = field(default_factory=AudioFilesTaskConfig)


class Standardize(nn.Module):
    """Per-example standardisation over every axis but the batch: ``[N, ...] -> [N, ...]``
    with zero mean and unit variance per clip (so a clip's level does not matter)."""

    def forward(self, x: Tensor) -> Tensor:
        dims = tuple(range(1, x.dim()))
        return (x - x.mean(dims, keepdim=True)) / (x.std(dims, keepdim=True) + 1e-5)


class AudioModel(nn.Module):
    """Waveforms ``[N, T]`` -> logits ``[N, classes]``: ``frontend`` (log-mel
    ``[N, 1, n_mels, frames]``, standardised, SpecAugment in training; or the waveform
    itself as ``[N, 1, T]``) then ``backbone`` (a zoo classifier)."""

    def __init__(self, frontend: nn.Module, backbone: nn.Module) -> None:
        super().__init__()
        self.frontend, self.backbone = frontend, backbone

    def features(self, waves: Tensor) -> Tensor:
        """What the backbone sees for ``waves [N, T]``."""
        return self.frontend(waves)

    def forward(self, waves: Tensor) -> Tensor:
        return self.backbone(self.frontend(waves))

    def check_input(self, waves: Tensor) -> None:
        """Raise a ShapeError unless the backbone takes what the front end makes of
        ``waves [N, T]``: checked on shapes alone, without running the front end."""
        n, samples = waves.shape[0], waves.shape[-1]
        logmel = self.frontend[0] if isinstance(self.frontend[0], LogMelSpectrogram) else None
        shape = (n, 1, logmel.n_mels, logmel.num_frames(samples)) if logmel is not None else (n, 1, samples)
        check = getattr(self.backbone, "check_input", None)
        if check is not None:
            check(torch.empty(shape, device="meta"))


@dataclass
class AudioInfo:
    """What the audio task records of the data it built (``Data.info``; stored in
    checkpoints): ``source``; ``features``, what the backbone reads (``logmel`` or
    ``waveform``); ``logmel``, the front end's settings (``sample_rate``, ``n_fft``,
    ``hop_length``, ``n_mels``: the keyword arguments of ``LogMelSpectrogram``);
    ``skipped_files``, every training file left out as ``"<path>: <reason>"``; and, for a
    manifest or pattern split by ``group_by`` (e.g. speaker), ``split_groups``: the groups
    each split holds (``{"train": [...], "val": [...], "test": [...]}``)."""

    source: str = ""
    features: str = "logmel"
    logmel: dict = field(default_factory=dict)
    skipped_files: list[str] = field(default_factory=list)
    group_by: str = ""
    split_groups: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class AudioData(Data):
    """``Data`` plus the dataset's background-noise bank ``[M, T]`` (Speech Commands'
    ``_background_noise_``), used by the training augmentation; not stored in checkpoints."""

    noise: Tensor | None = None


class AudioTask(ClassificationTask):
    """Sound classification on waveforms ``[N, T]`` with labels ``[N]``."""

    name = "audio"
    config_class = AudioRunConfig
    info_class = AudioInfo
    default_model = "audio_cnn"
    profiles = {"default": [],
                "smoke": ["train.epochs=2", "data.n_per_class=40", "model.options.channels=[8, 16, 16, 32]"]}
    data_formats = ("<class>/<file> folders of .wav/.flac/.ogg at any rate (resampled, mono, padded/cropped "
                    "to data.duration); Speech Commands v1/v2 (validation_list.txt, testing_list.txt, "
                    "_background_noise_; data.words=all|12); ESC-50 (meta/esc50.csv; data.test_fold, "
                    "data.val_fold); a manifest .csv (path,label[,split][,group]) or a flat folder with "
                    "data.label_pattern (e.g. {label}_{speaker}_{index}), data.group_by keeping a speaker on one "
                    "side. train/ val/ test/ subfolders are the splits; otherwise a seeded "
                    "stratified 80/10/10 split. Corrupt files and files with NaN/Inf samples are skipped: one summary "
                    "warning, all listed in the run folder's skipped_files.txt (data.strict=true: an error); a class "
                    "with no usable file is an error.")

    def for_config(self, cfg: AudioRunConfig) -> "AudioTask":
        """The task whose defaults suit ``cfg``'s data: :data:`FILES_TASK`
        (``AudioFilesRunConfig``) when ``data.path`` names files, else :data:`TASK` (the
        embedded sound events, and data given from Python, which is sized as it is given)."""
        on_files = bool(cfg.data.path) and not cfg.data.path.startswith(PYTHON_DATA_PREFIX)
        return FILES_TASK if on_files else TASK

    def repeats(self, cfg: AudioRunConfig) -> tuple[str, list[tuple[str, RunConfig]]] | None:
        """With ``data.cv`` "logo" and no ``data.test_group``: one run per group (e.g.
        speaker), each holding that group out as the test split: leave-one-group-out
        cross-validation, reported as the mean ± std over the folds, the baselines alike."""
        dc = cfg.data
        if dc.cv != "logo" or dc.test_group:
            return None
        groups = dataset_groups(dc.path, dc.strict, **dc.mode())
        labels = [re.sub(r"[^A-Za-z0-9._-]+", "_", g).strip("._") or f"fold{k}" for k, g in enumerate(groups)]
        if len(set(labels)) < len(labels):
            labels = [f"fold{k}-{label}" for k, label in enumerate(labels)]
        runs = []
        for label, group in zip(labels, groups):
            one = copy.deepcopy(cfg)  # each fold sizes its own training (build_data sets train.epochs)
            one.data.test_group = group
            runs.append((label, one))
        return "folds", runs

    def build_data(self, cfg: AudioRunConfig) -> Data:
        """The synthetic sound events (no ``data.path``) or an on-disk dataset, split in
        three; refused before any clip is made when the model cannot take the front end's
        output."""
        dc = cfg.data
        if dc.cv == "logo" and not dc.test_group:  # one run outside ``repeats``: the first fold
            dc.test_group = dataset_groups(dc.path, dc.strict, **dc.mode())[0]
        sized = self._size_clips(cfg)  # data.duration 0: read from the files' headers
        cfg.validate()  # sizes that cannot fit the clip, before any file is decoded
        features = self._features(cfg)
        self._check_model_fits(cfg, features)
        if dc.path:
            splits = load_audio_dataset(dc.path, dc.sample_rate, dc.duration, dc.strict, cfg.train.seed, **dc.mode())
            source = dc.path
            self._size_training(cfg, len(splits.train), sized)
        else:
            splits = load_sound_events_dataset(dc.n_per_class, dc.sample_rate, dc.duration, cfg.train.seed)
            source = SOUND_EVENTS_SOURCE
        info = AudioInfo(source=source, features=features, logmel=self._logmel_settings(cfg),
                         skipped_files=list(splits.extras.get("skipped") or []),
                         group_by=splits.extras.get("group_by", ""), split_groups=splits.extras.get("split_groups", {}))
        return AudioData(splits.train, splits.val, splits.test, label_names=list(splits.label_names),
                         spatial_dims=1 if features == "waveform" else 2, in_channels=1,
                         input_shape=splits.input_shape, noise=splits.extras.get("noise"), info=info)

    def build_eval_data(self, cfg: AudioRunConfig, path: str, spec: Data) -> Data:
        """The test split (or all) of ``path`` (Speech Commands' testing list, ESC-50's test
        fold), clips as the run's ``data`` settings make them, labelled by the trained
        model's classes; ``info`` is the training data's, for the model's front end."""
        dc = cfg.data
        test = load_audio_eval_set(path, spec.label_names, dc.sample_rate, dc.duration, dc.strict, **dc.mode())
        info = dataclasses.replace(spec.info, source=str(path), skipped_files=[])
        return AudioData(None, None, test, label_names=spec.label_names, spatial_dims=spec.spatial_dims,
                         in_channels=1, input_shape=tuple(spec.input_shape), info=info)

    def input_spec(self, cfg: AudioRunConfig) -> Data:
        """``build_data(cfg)``'s declarations without generating a clip: the synthetic events'
        ten classes and ``[T]`` waveforms of ``data.sample_rate * data.duration`` samples (an
        on-disk dataset's classes need its folders: ``build_data``)."""
        if cfg.data.path:
            return super().input_spec(cfg)
        self._size_clips(cfg)
        cfg.validate()
        features = self._features(cfg)
        self._check_model_fits(cfg, features)
        samples = max(1, int(round(cfg.data.sample_rate * cfg.data.duration)))
        info = AudioInfo(source=SOUND_EVENTS_SOURCE, features=features, logmel=self._logmel_settings(cfg))
        return AudioData(None, None, None, label_names=list(SOUND_EVENT_CLASSES),
                         spatial_dims=1 if features == "waveform" else 2, in_channels=1, input_shape=(samples,),
                         info=info)

    @staticmethod
    def _size_clips(cfg: AudioRunConfig) -> SizedDuration | None:
        """Set ``data.duration`` 0 (read it from the data) to the clip length: the files'
        (``data.dataset_duration``: the longest, rounded up to 0.1 s, at most 10 s), or the
        generated events' 1 s. Returns what was read (None for the generated events)."""
        dc = cfg.data
        if not dc.path:
            if dc.duration == 0:
                dc.duration = SOUND_EVENTS_SECONDS
            return None
        sized = dataset_duration(dc.path, dc.duration, dc.strict, **dc.mode())
        dc.duration = sized.seconds
        return sized

    @staticmethod
    def _size_training(cfg: AudioRunConfig, train_size: int, sized: SizedDuration | None) -> None:
        """Size what is left to the data (0) for ``train_size`` training clips, then log ONE
        line with the clip length, the batch and the epochs, each given or sized (and how).
        ``train.batch_size`` 0: :data:`BATCH_SIZE`, at most a tenth of the training clips
        (so an epoch has about ten steps or more); ``train.epochs`` 0: at least
        :data:`MIN_EPOCHS`, and enough for ``task.min_steps`` optimizer steps."""
        tc = cfg.train
        parts = [sized.describe()] if sized is not None else []
        if tc.batch_size == 0:
            tc.batch_size = min(BATCH_SIZE, max(1, train_size // 10))
            parts.append(f"train.batch_size {tc.batch_size} ({BATCH_SIZE}, at most a tenth of the "
                         f"{train_size} training clips)")
        else:
            parts.append(f"train.batch_size {tc.batch_size} (given)")
        per_epoch = train_size // tc.batch_size if train_size >= tc.batch_size else 1  # the engine's whole batches
        if tc.epochs == 0:
            tc.epochs = max(MIN_EPOCHS, math.ceil(cfg.task.min_steps / per_epoch))
            parts.append(f"train.epochs {tc.epochs} ({per_epoch} steps an epoch; at least {MIN_EPOCHS} epochs and "
                         f"task.min_steps {cfg.task.min_steps} steps)")
        else:
            parts.append(f"train.epochs {tc.epochs} (given; {per_epoch} steps an epoch)")
        log("audio sized from the data: " + "; ".join(parts), DistEnv(rank=rank_from_env()))

    @staticmethod
    def _logmel_settings(cfg: AudioRunConfig) -> dict:
        t = cfg.task
        return dict(sample_rate=cfg.data.sample_rate, n_fft=t.n_fft, hop_length=t.hop_length, n_mels=t.n_mels)

    def _check_model_fits(self, cfg: AudioRunConfig, features: str) -> None:
        """ConfigError when the model's minimum spatial size exceeds what the front end gives
        (log-mel ``n_mels x frames``, or the waveform's samples)."""
        dc, t = cfg.data, cfg.task
        samples = max(1, int(round(dc.sample_rate * dc.duration)))
        name = cfg.model.name or self.default_model
        if features == "waveform":
            require_min_size(name, 1, cfg.model.options, {"the clip's samples": samples},
                             "raise data.duration or data.sample_rate")
        else:
            frames = 1 + samples // t.hop_length  # centred STFT frames (LogMelSpectrogram.num_frames)
            require_min_size(name, 2, cfg.model.options,
                             {"task.n_mels": t.n_mels, "the log-mel frames (1 + samples // task.hop_length)": frames},
                             "raise task.n_mels, data.duration, or lower task.hop_length")

    def _features(self, cfg: AudioRunConfig) -> str:
        if cfg.task.features != "auto":
            return cfg.task.features
        dims = get_entry(cfg.model.name or self.default_model).spatial_dims
        return "waveform" if dims == (1,) else "logmel"

    @staticmethod
    def logmel(cfg: AudioRunConfig, warp: nn.Module | None = None) -> LogMelSpectrogram:
        """The log-mel front end of this config: ``[N, T] -> [N, 1, n_mels, frames]``
        (``warp``: its training-time warp of the power spectrum, e.g. VTLP)."""
        t = cfg.task
        return LogMelSpectrogram(cfg.data.sample_rate, n_fft=t.n_fft, hop_length=t.hop_length, n_mels=t.n_mels,
                                 warp=warp)

    def build_model(self, cfg: AudioRunConfig, data: Data) -> nn.Module:
        """``AudioModel(front end, zoo model)``: log-mel → standardise → SpecAugment for 2D
        models; the standardised waveform ``[N, 1, T]`` for 1D models."""
        t = cfg.task
        if data.info.features == "waveform":
            frontend = nn.Sequential(nn.Unflatten(1, (1, -1)), Standardize())
            spatial_dims = 1
        else:
            warps = ([VTLP(cfg.data.sample_rate, t.n_fft, t.vtlp)] if t.vtlp else []) + \
                ([SpectralPitchShift(t.pitch_shift)] if t.pitch_shift else [])
            warp = None if not warps else warps[0] if len(warps) == 1 else nn.Sequential(*warps)
            norm = Standardize() if t.normalize == "clip" else CMVN(variance=t.normalize == "cmvn")
            frontend = nn.Sequential(self.logmel(cfg, warp), norm, SpecAugment(t.freq_mask, t.time_mask))
            spatial_dims = 2
        backbone = create_model(cfg.model.name or self.default_model, spatial_dims=spatial_dims, in_channels=1,
                                num_classes=len(data.label_names), pretrained=pretrained_weights(cfg, data.label_names),
                                **cfg.model.options)
        return AudioModel(frontend, backbone)

    def augmentation(self, cfg: AudioRunConfig, data: Data) -> Callable[[Any], Any] | None:
        """Random gain, time shift and (with a noise bank) background noise on the
        training waveforms, as batched tensor ops drawing from torch's global RNG."""
        t = cfg.task
        steps: list[nn.Module] = []
        if t.gain_db > 0:
            steps.append(RandomGain(-t.gain_db, t.gain_db))
        if t.time_shift > 0:
            steps.append(RandomTimeShift(t.time_shift))
        if t.speed > 0:
            steps.append(SpeedPerturb(t.speed))
        noise = getattr(data, "noise", None)
        if noise is not None and t.noise_p > 0:
            steps.append(BackgroundNoise(noise, p=t.noise_p))
        if not steps and not t.mixup:
            return None
        chain = nn.Sequential(*steps).train()
        classes = len(data.label_names)

        def augment(batch: Any) -> Any:
            waves, labels = batch
            waves = chain.to(waves.device)(waves)
            return mixup(waves, labels, classes, t.mixup) if t.mixup else (waves, labels)

        return augment

    def baseline_features(self, cfg: AudioRunConfig, data: Data) -> BaselineFeatures:
        """``linear``: per-clip MFCC mean and std (logistic regression); ``mlp``: the flattened
        standardised log-mel spectrogram (the parameter-matched MLP). Both come from one
        log-mel pass: the MFCCs are the DCT of that log-mel (as ``MFCC`` computes them)."""
        t = cfg.task
        train_waves, train_y = _subset(data.train, t.baseline_max_train, cfg.train.seed)
        test_waves, test_y = data.test.tensors
        logmel, dct = self.logmel(cfg), dct_matrix(t.n_mels, BASELINE_MFCC).float()

        def features(waves: Tensor) -> Tensor:  # one log-mel pass feeds both baselines
            db = logmel(waves)  # [n, 1, M, frames]
            coeffs = dct @ db[:, 0]  # MFCC(20) of the same log-mel: [n, 20, frames]
            stats = torch.cat([coeffs.mean(-1), coeffs.std(-1, correction=0)], dim=1)
            return torch.cat([stats, Standardize()(db).flatten(1)], dim=1)

        with torch.no_grad():
            train, test = _batched(features, train_waves), _batched(features, test_waves)
        k = 2 * BASELINE_MFCC
        return BaselineFeatures(linear=(train[:, :k], test[:, :k]), mlp=(train[:, k:], test[:, k:]),
                                y_train=train_y, y_test=test_y, num_classes=len(data.label_names), standardize=True)

    def baselines(self, cfg: AudioRunConfig, data: Data, params: int) -> dict:
        """The shared ``linear`` and ``mlp`` (``baseline_features``), and on recordings
        (``data.path`` set) ``mfcc_svm``: an RBF support vector machine (C = 10, gamma
        "scale") on the ``linear`` baseline's standardised MFCC statistics, the classical
        reference of speech data such as the FSDD notes'."""
        features = self.baseline_features(cfg, data)
        out = shared_baselines(features, params, cfg.train.seed)
        if cfg.data.path:
            x, x_test = features.linear
            out["mfcc_svm"] = {"test": rbf_svm(x, features.y_train, x_test, features.y_test, BASELINE_SVM_C)}
        return out

    def load_inputs(self, cfg: AudioRunConfig, spec: Data, inputs: list[str]) -> Any:
        """Audio files -> waveforms ``[N, T]`` at the task's rate and duration (a bad file
        is an error naming it)."""
        waves, _ = load_audio_files(inputs, cfg.data.sample_rate, int(spec.input_shape[0]), strict=True)
        return waves

    def predict(self, trained: Trained, inputs: Any) -> list[dict]:
        """The top classes (up to 5) with probabilities, per clip."""
        out = super().predict(trained, inputs)
        for row in out:
            top = sorted(row["probabilities"].items(), key=lambda kv: -kv[1])[:5]
            row["top"] = [{"label": k, "probability": v} for k, v in top]
        return out

    def plots(self, run_dir: Path, collected: dict[str, Tensor], data: Data) -> None:
        """The confusion matrix, ``examples.png`` (a few test log-mel spectrograms with
        their true and predicted labels), ``skipped_files.txt`` and ``split_groups.json``."""
        super().plots(run_dir, collected, data)
        if data.test is not None and data.info.logmel:
            logmel = LogMelSpectrogram(**data.info.logmel)
            plot_examples(Path(run_dir) / "examples.png", data.test, collected, data.label_names, logmel)
        if data.info.skipped_files:
            (Path(run_dir) / SKIPPED_FILE).write_text("\n".join(data.info.skipped_files) + "\n")
        write_split_groups(run_dir, data.info.group_by, data.info.split_groups)


BASELINE_MFCC = 20
"""MFCC coefficients whose mean and std over time the ``linear`` baseline reads."""

BASELINE_SVM_C = 10.0
"""The ``mfcc_svm`` baseline's C (the FSDD notes' RBF SVM)."""


def rbf_svm(x: Tensor, y: np.ndarray, x_test: Tensor, y_test: np.ndarray, c: float = BASELINE_SVM_C) -> dict:
    """Test ``{accuracy, macro_f1}`` of an RBF SVM (``sklearn.svm.SVC``, gamma "scale") on
    standardised features ``x [N, D]`` with labels ``y [N]``."""
    from sklearn.pipeline import make_pipeline  # scikit-learn: imported where a baseline is fitted
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    clf = make_pipeline(StandardScaler(), SVC(C=c, kernel="rbf", gamma="scale"))
    with one_blas_thread():
        clf.fit(np.asarray(x), np.asarray(y))
        return scores(clf.predict(np.asarray(x_test)), np.asarray(y_test))


def _subset(dataset: TensorDataset, limit: int, seed: int) -> tuple[Tensor, np.ndarray]:
    waves, labels = dataset.tensors
    if len(labels) > limit:
        keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
        waves, labels = waves[keep], labels[keep]
    return waves, labels.numpy()


def _batched(fn: Callable[[Tensor], Tensor], waves: Tensor, batch: int = 256) -> Tensor:
    return torch.cat([fn(waves[i:i + batch]) for i in range(0, len(waves), batch)])


class AudioFilesTask(AudioTask):
    """The audio task on recordings (``data.path`` set): ``AudioTask`` with the defaults of
    ``AudioFilesRunConfig`` (``for_config`` picks it)."""

    config_class = AudioFilesRunConfig


TASK = AudioTask()
"""The audio task instance handed to the CLI and the engine."""

FILES_TASK = AudioFilesTask()
"""The audio task on recordings, which ``TASK.for_config`` returns for a config with ``data.path``."""
