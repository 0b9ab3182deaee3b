"""The image task: classify images ``[N, C, H, W]`` with any 2D zoo model.

Default, offline: LeNet-5 on scikit-learn's bundled 8x8 digits upsampled to 32x32
(one channel, seeded stratified 80/10/10 split). ``--data PATH`` reads ``<class>/<image>``
folders, MNIST IDX files or CIFAR-10 binary batches (``convkit.tasks.image.data``).
Augmentation: random shift (zero-padded crop) and optional horizontal flip.
Baselines: logistic regression on pixels and a parameter-matched MLP.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from convkit.config import AtLeastOne, FileDataConfig, ModelConfig, Range, RunConfig, TaskConfig, TrainConfig
from convkit.data.lazy import LazyFiles, collate_readable
from convkit.data.manifest import check_listing_options, write_split_groups
from convkit.data.skipped import SKIPPED_FILE
from convkit.data.splits import Splits
from convkit.models.sizes import require_min_size
from convkit.models.weights import IMAGENET
from convkit.tasks.image.augment import augment_batch
from convkit.tasks.image.data import (
    DIGITS_LABEL_NAMES,
    DIGITS_SOURCE,
    convert_channels,
    load_digits_dataset,
    load_image_dataset,
    load_image_eval_set,
    load_image_files,
)
from convkit.train.baselines import BaselineFeatures
from convkit.train.distributed import log
from convkit.train.task import ClassificationTask, Data
from convkit.train.transfer import channel_stats, pretrained_preprocessing


@dataclass
class ImageDataConfig(FileDataConfig):
    """``path``: a dataset folder (empty: the bundled digits); ``image_size``: every image
    is resized to this square size (none: the data's own size); ``channels``: 1 or 3
    (none: the data's own); ``augment``: random shift by up to ``shift`` pixels and, if
    ``flip``, horizontal flips (off for digits, whose mirror images are other symbols).
    ``path`` may be a manifest ``.csv`` (``path,label``, optional ``split``, ``group``) or a
    folder whose file names give the labels by ``label_pattern`` (e.g.
    ``{label}_{patient}_{index}``); ``group_by`` names the field whose groups stay on one
    side of every split (empty: ``group`` if present; ``none``: off);
    ``allow_outside_paths``: manifest rows may name files outside the manifest's folder.
    See ``convkit.data.manifest``. ``normalize``: per-channel ``(x - mean) / std`` of the
    [0, 1] pixels: ``auto`` with the mean and std ``model.pretrained``'s weights were
    trained with (torchvision's ImageNet values for its files; a convkit run's own), none
    without weights; ``imagenet`` always ImageNet's; ``none`` never. A class folder or
    listing is read lazily (``FileDataConfig``: headers indexed once, images decoded in
    ``train.num_workers`` workers) unless ``in_memory``; IDX files and CIFAR batches are in
    memory either way."""

    image_size: Annotated[int | None, Range(ge=1, note="or none")] = 32
    channels: Literal[1, 3] | None = None
    augment: bool = True
    shift: Annotated[int, Range(ge=0, note="pixels")] = 2
    flip: bool = False
    label_pattern: str = ""
    group_by: str = ""
    allow_outside_paths: bool = False
    normalize: Literal["auto", "imagenet", "none"] = "auto"

    def validate(self) -> None:
        """Raise ConfigError for a bad ``label_pattern`` or a ``group_by`` it lacks."""
        check_listing_options(self.label_pattern, self.group_by)


@dataclass
class ImageTaskConfig(TaskConfig):
    """``baseline_max_train``: the pixel baselines train on at most this many images."""

    baseline_max_train: AtLeastOne = 20000


def _default_train() -> TrainConfig:
    return TrainConfig(epochs=20, batch_size=32, lr=0.05, optimizer="sgd", momentum=0.9,
                       weight_decay=5e-4, schedule="cosine")


@dataclass
class ImageRunConfig(RunConfig):
    """The image task's run config (``train``, ``model``, ``data``, ``task``)."""

    train: TrainConfig = field(default_factory=_default_train)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name="lenet5"))
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    task: ImageTaskConfig = field(default_factory=ImageTaskConfig)


@dataclass
class ImageInfo:
    """What the image task records of the data it built (``Data.info``; stored in
    checkpoints): ``source``, the dataset folder (or ``DIGITS_SOURCE``),
    ``skipped_files``, every training file left out as ``"<path>: <reason>"``, and for a
    manifest or pattern split by ``group_by``, ``split_groups``: the groups each split
    holds (``{"train": [...], "val": [...], "test": [...]}``); ``mean``/``std``: the
    per-channel normalisation of the [0, 1] pixels (``data.normalize``; empty: none), which
    evaluation and ``predict`` apply too."""

    source: str = ""
    skipped_files: list[str] = field(default_factory=list)
    group_by: str = ""
    split_groups: dict[str, list[str]] = field(default_factory=dict)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)


class ImageTask(ClassificationTask):
    """Image classification (batches ``(images [N, C, H, W] in [0, 1], labels [N])``)."""

    name = "image"
    config_class = ImageRunConfig
    info_class = ImageInfo
    default_model = "lenet5"
    profiles = {"default": [], "smoke": ["train.epochs=2", "task.baseline_max_train=500"]}
    data_formats = ("<class>/<image> folders (PNG/JPEG/float TIFF...; corrupt files and NaN/Inf pixels skipped with one "
                    "summary warning, all listed in the run folder's skipped_files.txt, or an error with "
                    "data.strict=true; a class with no usable file is an error; mixed sizes resized to data.image_size); MNIST IDX files "
                    "(train-images-idx3-ubyte ...); CIFAR-10 binary batches (data_batch_N.bin, test_batch.bin). "
                    "A manifest .csv (path,label[,split][,group]) or a folder with data.label_pattern; "
                    "data.group_by keeps a group on one side of every split. "
                    "train/ val/ test/ subfolders are the splits; otherwise a seeded stratified 80/10/10 split.")

    def build_data(self, cfg: ImageRunConfig) -> Data:
        """The bundled digits (no ``data.path``) or an on-disk dataset, split in three."""
        dc = cfg.data
        name = cfg.model.name or self.default_model
        size = dc.image_size if dc.path else dc.image_size or 32
        if size is not None:  # known before decoding: refuse a size the model cannot take now
            require_min_size(name, 2, cfg.model.options, {"data.image_size": size}, "raise data.image_size")
        if dc.path:
            splits = load_image_dataset(dc.path, dc.image_size, dc.channels, dc.strict, cfg.train.seed,
                                        dc.label_pattern, dc.group_by, dc.allow_outside_paths, lazy=not dc.in_memory)
            _log_reading(splits.train, dc.path, cfg.train.num_workers)
            info = ImageInfo(source=dc.path, skipped_files=list(splits.extras.get("skipped") or []),
                             group_by=splits.extras.get("group_by", ""),
                             split_groups=splits.extras.get("split_groups", {}))
        else:
            splits = load_digits_dataset(size, cfg.train.seed)
            info = ImageInfo(source=DIGITS_SOURCE)
            if dc.channels is not None:
                splits = _with_channels(splits, dc.channels)
        info.mean, info.std = _normalisation(cfg, _item_shape(splits.train or splits.test)[0])
        splits = _normalised(splits, info)
        data = self._data(splits.train, splits.val, splits.test, splits.label_names, info)
        if size is None:  # the data's own size
            _, h, w = data.input_shape
            require_min_size(name, 2, cfg.model.options, {"the images' height": h, "width": w},
                             "set data.image_size")
        return data

    def build_eval_data(self, cfg: ImageRunConfig, path: str, spec: Data) -> Data:
        """The test split (or all) of ``path``, resized to the trained model's input
        ``[C, H, W]`` (``spec.input_shape``) and labelled by its classes."""
        channels, size = spec.input_shape[0], spec.input_shape[1]
        test = load_image_eval_set(path, spec.label_names, size, channels, cfg.data.strict,
                                   cfg.data.label_pattern, cfg.data.allow_outside_paths, lazy=not cfg.data.in_memory)
        info = ImageInfo(source=str(path), mean=list(spec.info.mean), std=list(spec.info.std))
        return self._data(None, None, _normalised_set(test, info), spec.label_names, info)

    def input_spec(self, cfg: ImageRunConfig) -> Data:
        """The digits' input ``[1 (or data.channels), S, S]`` with ``S = data.image_size``
        (32 when none) and classes 0-9, without loading them; a dataset folder is read."""
        dc = cfg.data
        if dc.path:
            return super().input_spec(cfg)
        size, channels = dc.image_size or 32, dc.channels or 1
        return Data(None, None, None, label_names=list(DIGITS_LABEL_NAMES), spatial_dims=2, in_channels=channels,
                    input_shape=(channels, size, size), info=ImageInfo(source=DIGITS_SOURCE))

    @staticmethod
    def _data(train: Any, val: Any, test: Any, label_names: list[str], info: ImageInfo) -> Data:
        c, h, w = _item_shape(train or test)
        lazy = isinstance(train or test, LazyFiles)
        return Data(train, val, test, label_names=list(label_names), spatial_dims=2, in_channels=int(c),
                    input_shape=(int(c), int(h), int(w)), info=info, collate_fn=collate_readable if lazy else None)

    def augmentation(self, cfg: ImageRunConfig, data: Data) -> Callable[[Any], Any] | None:
        """Random shift (``data.shift`` pixels) and flip (``data.flip``) when ``data.augment``."""
        if not cfg.data.augment or (cfg.data.shift == 0 and not cfg.data.flip):
            return None
        return functools.partial(augment_batch, max_shift=cfg.data.shift, flip=cfg.data.flip)

    def baseline_features(self, cfg: ImageRunConfig, data: Data) -> BaselineFeatures:
        """Raw pixels for logistic regression and the parameter-matched MLP."""
        from convkit.tasks.image.baselines import pixel_features  # scikit-learn: not at start-up

        return pixel_features(data.train, data.test, len(data.label_names), cfg.task.baseline_max_train,
                              cfg.train.seed)

    def load_inputs(self, cfg: ImageRunConfig, spec: Data, inputs: list[str]) -> Any:
        """Image files -> ``[N, C, H, W]`` at the model's input size and channels."""
        channels, size = spec.input_shape[0], spec.input_shape[1]
        return _normalise(load_image_files(inputs, size, channels), spec.info)

    def export_preprocessing(self, spec: Data) -> dict:
        """How ``predict`` turns an image file into one ``[C, H, W]`` float32 input: the
        channels, the size, the resize, the value scale and the per-channel ``mean``/``std``
        normalisation (when the run had one)."""
        channels, height, width = spec.input_shape
        mean, std = list(spec.info.mean), list(spec.info.std)
        norm = "then (x - mean) / std per channel" if mean else "no mean or std normalisation"
        return {"channels": "grayscale" if channels == 1 else "rgb",
                "channel_conversion": "RGB to grayscale by the ITU-R 601-2 luma weights (Pillow's 'L'); grayscale "
                                      "to RGB repeats the plane",
                "size": [int(height), int(width)], "resize": "bilinear",
                "antialias": "when shrinking", "scale": [0.0, 1.0],
                "scaling": f"8-bit pixels / 255, 16-bit / 65535; {norm}", "layout": "NCHW",
                **({"mean": mean, "std": std} if mean else {})}

    def plots(self, run_dir: Path, collected: dict, data: Data) -> None:
        """The shared plots, ``skipped_files.txt`` (every training file that was skipped)
        and ``split_groups.json`` (a run split by group)."""
        super().plots(run_dir, collected, data)
        if data.info.skipped_files:
            (Path(run_dir) / SKIPPED_FILE).write_text("\n".join(data.info.skipped_files) + "\n")
        write_split_groups(run_dir, data.info.group_by, data.info.split_groups)


def _normalisation(cfg: ImageRunConfig, channels: int) -> tuple[list[float], list[float]]:
    """The per-channel ``(mean, std)`` ``data.normalize`` asks for (``([], [])``: none): for
    ``auto``, what ``model.pretrained``'s weights were trained with, when they say."""
    if cfg.data.normalize == "none":
        return [], []
    preprocessing = IMAGENET if cfg.data.normalize == "imagenet" else pretrained_preprocessing(cfg)
    stats = channel_stats(preprocessing, channels)
    if cfg.data.normalize == "auto" and preprocessing.get("input_size") and cfg.data.image_size is not None \
            and list(preprocessing["input_size"]) != [cfg.data.image_size] * 2:
        log(f"model.pretrained was trained on {'x'.join(map(str, preprocessing['input_size']))} inputs; "
            f"data.image_size is {cfg.data.image_size}")
    return ([], []) if stats is None else (stats[0], stats[1])


def _normalise(images: Tensor, info: ImageInfo) -> Tensor:
    """``[N, C, H, W]`` in [0, 1] normalised per channel by ``info.mean``/``info.std`` (none
    when empty)."""
    if not info.mean:
        return images
    mean = torch.tensor(info.mean, dtype=images.dtype).view(1, -1, 1, 1)
    std = torch.tensor(info.std, dtype=images.dtype).view(1, -1, 1, 1)
    return (images - mean) / std


def _item_shape(dataset: TensorDataset | LazyFiles) -> tuple[int, ...]:
    """``(C, H, W)`` of the images of an in-memory or lazy dataset."""
    if isinstance(dataset, LazyFiles):
        return tuple(dataset.item_shape)
    return tuple(dataset.tensors[0].shape[1:])


def _log_reading(train: TensorDataset | LazyFiles, path: str, workers: int) -> None:
    """Say how the images are read: decoded per batch, or all in memory."""
    if isinstance(train, LazyFiles):
        log(f"{path}: images decoded per batch ({workers} loader worker{'s' if workers != 1 else ''}, "
            "train.num_workers; data.in_memory=true decodes them all first)")
    else:
        log(f"{path}: {len(train)} training images decoded into memory (data.in_memory, or a single-file format)")


class _Normalise:
    """``[C, H, W]`` normalised per channel by ``mean``/``std`` (``_normalise``'s numbers;
    picklable for loader workers)."""

    def __init__(self, mean: list[float], std: list[float]) -> None:
        self.mean, self.std = mean, std

    def __call__(self, image: Tensor) -> Tensor:
        mean = torch.tensor(self.mean, dtype=image.dtype).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=image.dtype).view(-1, 1, 1)
        return (image - mean) / std


def _normalised_set(dataset: TensorDataset | LazyFiles | None,
                    info: ImageInfo) -> TensorDataset | LazyFiles | None:
    if dataset is None or not info.mean:
        return dataset
    if isinstance(dataset, LazyFiles):
        return dataset.with_transform(_Normalise(list(info.mean), list(info.std)))
    return TensorDataset(_normalise(dataset.tensors[0], info), *dataset.tensors[1:])


def _normalised(splits: Splits, info: ImageInfo) -> Splits:
    """``splits`` with every image normalised (``_normalise``), the rest kept."""
    if not info.mean:
        return splits
    return dataclasses.replace(splits, train=_normalised_set(splits.train, info),
                               val=_normalised_set(splits.val, info), test=_normalised_set(splits.test, info))


def _with_channels(splits: Splits, channels: int) -> Splits:
    from torch.utils.data import TensorDataset

    def convert(ds: TensorDataset) -> TensorDataset:
        return TensorDataset(convert_channels(ds.tensors[0], channels), ds.tensors[1])

    return Splits(convert(splits.train), convert(splits.val), convert(splits.test), splits.label_names)


TASK = ImageTask()
"""The image task instance handed to the CLI and the engine."""
