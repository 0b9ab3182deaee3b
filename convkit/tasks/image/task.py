"""The image task: classify images ``[N, C, H, W]`` with any 2D zoo model.

Default, offline: LeNet-5 on scikit-learn's bundled 8x8 digits upsampled to 32x32
(one channel, seeded stratified 80/10/10 split). ``--data PATH`` reads ``<class>/<image>``
folders, MNIST IDX files or CIFAR-10 binary batches (``convkit.data.image``).
Augmentation: random shift (zero-padded crop) and optional horizontal flip.
Baselines: logistic regression on pixels and a parameter-matched MLP.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from convkit.config import DataConfig, ModelConfig, RunConfig, TaskConfig, TrainConfig
from convkit.data.image import (
    DIGITS_LABEL_NAMES,
    convert_channels,
    load_digits_dataset,
    load_image_dataset,
    load_image_eval_set,
    load_image_files,
)
from convkit.data.skipped import SKIPPED_FILE
from convkit.data.splits import Splits
from convkit.errors import ConfigError
from convkit.tasks.image.augment import augment_batch
from convkit.tasks.sizes import require_min_size
from convkit.train.baselines import BaselineFeatures
from convkit.train.task import ClassificationTask, Data


@dataclass
class ImageDataConfig(DataConfig):
    """``path``: a dataset folder (empty: the bundled digits); ``image_size``: every image
    is resized to this square size (none: the data's own size); ``channels``: 1 or 3
    (none: the data's own); ``augment``: random shift by up to ``shift`` pixels and, if
    ``flip``, horizontal flips (off for digits, whose mirror images are other symbols)."""

    image_size: int | None = 32
    channels: int | None = None
    augment: bool = True
    shift: int = 2
    flip: bool = False

    def validate(self) -> None:
        """Raise ConfigError naming a value out of range."""
        if self.image_size is not None and self.image_size < 1:
            raise ConfigError(f"data.image_size must be at least 1 (or none); got {self.image_size}")
        if self.channels not in (None, 1, 3):
            raise ConfigError(f"data.channels must be 1, 3 or none; got {self.channels}")
        if self.shift < 0:
            raise ConfigError(f"data.shift must be >= 0 pixels; got {self.shift}")


@dataclass
class ImageTaskConfig(TaskConfig):
    """``baseline_max_train``: the pixel baselines train on at most this many images."""

    baseline_max_train: int = 20000

    def validate(self) -> None:
        """Raise ConfigError naming a value out of range."""
        if self.baseline_max_train < 1:
            raise ConfigError(f"task.baseline_max_train must be at least 1; got {self.baseline_max_train}")


def _default_train() -> TrainConfig:
    # Measured on two CPU cores: LeNet-5 on the digits reaches >= 97% test accuracy.
    return TrainConfig(epochs=20, batch_size=32, lr=0.05, optimizer="sgd", momentum=0.9,
                       weight_decay=5e-4, schedule="cosine")


@dataclass
class ImageRunConfig(RunConfig):
    """The image task's run config (``train``, ``model``, ``data``, ``task``)."""

    train: TrainConfig = field(default_factory=_default_train)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name="lenet5"))
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    task: ImageTaskConfig = field(default_factory=ImageTaskConfig)


class ImageTask(ClassificationTask):
    """Image classification (batches ``(images [N, C, H, W] in [0, 1], labels [N])``)."""

    name = "image"
    config_class = ImageRunConfig
    default_model = "lenet5"
    profiles = {"default": [], "smoke": ["train.epochs=2", "task.baseline_max_train=500"]}
    data_formats = ("<class>/<image> folders (PNG/JPEG/float TIFF...; corrupt files and NaN/Inf pixels skipped with one "
                    "summary warning, all listed in the run folder's skipped_files.txt, or an error with "
                    "data.strict=true; a class with no usable file is an error; mixed sizes resized to data.image_size); MNIST IDX files "
                    "(train-images-idx3-ubyte ...); CIFAR-10 binary batches (data_batch_N.bin, test_batch.bin). "
                    "train/ val/ test/ subfolders are the splits; otherwise a seeded stratified 80/10/10 split.")

    def build_data(self, cfg: ImageRunConfig, path: str | None = None, spec: Data | None = None) -> Data:
        """Digits (no ``data.path``) or an on-disk dataset; with ``path`` and ``spec``, the
        test split (or all) of ``path`` resized and labelled for the trained model."""
        dc = cfg.data
        if path is not None:
            if spec is None or spec.input_shape is None:
                raise ValueError("build_data(path=...) needs the trained model's spec")
            channels, size = spec.input_shape[0], spec.input_shape[1]
            test = load_image_eval_set(path, spec.label_names, size, channels, dc.strict)
            return self._data(None, None, test, spec.label_names, {"source": str(path)})
        name = cfg.model.name or self.default_model
        size = dc.image_size if dc.path else dc.image_size or 32
        if size is not None:  # known before decoding: refuse a size the model cannot take now
            require_min_size(name, 2, cfg.model.options, {"data.image_size": size}, "raise data.image_size")
        if dc.path:
            splits = load_image_dataset(dc.path, dc.image_size, dc.channels, dc.strict, cfg.train.seed)
            source = dc.path
        else:
            splits = load_digits_dataset(size, cfg.train.seed)
            source = "sklearn digits"
            if dc.channels is not None:
                splits = _with_channels(splits, dc.channels)
        info: dict[str, Any] = {"source": source}
        if splits.extras.get("skipped"):
            info["skipped_files"] = list(splits.extras["skipped"])
        data = self._data(splits.train, splits.val, splits.test, splits.label_names, info)
        if size is None:  # the data's own size
            _, h, w = data.input_shape
            require_min_size(name, 2, cfg.model.options, {"the images' height": h, "width": w},
                             "set data.image_size")
        return data

    def input_spec(self, cfg: ImageRunConfig) -> Data:
        """The digits' input ``[1 (or data.channels), S, S]`` with ``S = data.image_size``
        (32 when none) and classes 0-9, without loading them; a dataset folder is read."""
        dc = cfg.data
        if dc.path:
            return super().input_spec(cfg)
        size, channels = dc.image_size or 32, dc.channels or 1
        return Data(None, None, None, label_names=list(DIGITS_LABEL_NAMES), spatial_dims=2, in_channels=channels,
                    input_shape=(channels, size, size), info={"source": "sklearn digits"})

    @staticmethod
    def _data(train: Any, val: Any, test: Any, label_names: list[str], info: dict) -> Data:
        c, h, w = (train or test).tensors[0].shape[1:]
        return Data(train, val, test, label_names=list(label_names), spatial_dims=2, in_channels=int(c),
                    input_shape=(int(c), int(h), int(w)), info=info)

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
        return load_image_files(inputs, size, channels)

    def export_preprocessing(self, spec: Data) -> dict:
        """How ``predict`` turns an image file into one ``[C, H, W]`` float32 input: the
        channels, the size, the resize and the value scale."""
        channels, height, width = spec.input_shape
        return {"channels": "grayscale" if channels == 1 else "rgb",
                "channel_conversion": "RGB to grayscale by the ITU-R 601-2 luma weights (Pillow's 'L'); grayscale "
                                      "to RGB repeats the plane",
                "size": [int(height), int(width)], "resize": "bilinear",
                "antialias": "when shrinking", "scale": [0.0, 1.0],
                "scaling": "8-bit pixels / 255, 16-bit / 65535; no mean or std normalisation", "layout": "NCHW"}

    def plots(self, run_dir: Path, collected: dict, data: Data) -> None:
        """The shared plots, and ``skipped_files.txt``: every training file that was skipped."""
        super().plots(run_dir, collected, data)
        if data.info.get("skipped_files"):
            (Path(run_dir) / SKIPPED_FILE).write_text("\n".join(data.info["skipped_files"]) + "\n")


def _with_channels(splits: Splits, channels: int) -> Splits:
    from torch.utils.data import TensorDataset

    def convert(ds: TensorDataset) -> TensorDataset:
        return TensorDataset(convert_channels(ds.tensors[0], channels), ds.tensors[1])

    return Splits(convert(splits.train), convert(splits.val), convert(splits.test), splits.label_names)


TASK = ImageTask()
"""The image task instance handed to the CLI and the engine."""
