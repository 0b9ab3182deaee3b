"""Whole-series classification (``task.mode = "classify"``): any 1D zoo model (``fcn``,
``tcn``, ``resnet18``, ...) maps series ``[N, C, L]`` to class logits.

Data: the embedded noisy waveforms (:func:`~convkit.tasks.timeseries.synthetic.make_shape_series`),
or a UCR/UEA ``.ts``/``.tsv`` archive, each series z-normalised (``data.znorm``;
:func:`~convkit.tasks.timeseries.data.classification_splits`). Metrics: accuracy, macro
F1, loss, the confusion matrix. Baselines: logistic regression (``linear``) and the
parameter-matched MLP (``mlp``) on the flattened z-normalised series, and the classic UCR
baseline, 1-nearest-neighbour with Euclidean distance (``nn1_euclidean``;
:mod:`~convkit.tasks.timeseries.baselines`). ``predict`` labels every series of each
``.ts``/``.tsv`` file.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass

import torch
from torch import nn

from convkit.data.splits import Splits
from convkit.errors import DataError
from convkit.models import create_model
from convkit.tasks.timeseries.base import TimeSeriesBase, series_data
from convkit.tasks.timeseries.baselines import flatten_series, nn1_euclidean
from convkit.tasks.timeseries.config import ClassificationRunConfig, TimeSeriesRunConfig
from convkit.tasks.timeseries.data import classification_eval_set, classification_inputs, classification_splits
from convkit.tasks.timeseries.synthetic import SHAPE_LENGTH, SHAPES, make_shape_series
from convkit.train.baselines import BaselineFeatures
from convkit.train.task import ClassificationTask, Data, Trained
from convkit.train.transfer import pretrained_weights

EMBEDDED = "embedded shapes"
"""How the info names the embedded waveforms as a source."""


@dataclass
class ClassificationInfo:
    """``Data.info`` of classification (stored in checkpoints as plain values): the data's
    ``source`` (a path, or the embedded shapes) and the problem's ``name``."""

    mode: str = "classify"
    source: str = ""
    name: str = ""


@dataclass
class SeriesFile:
    """One ``predict`` input: its series ``x [N, C, L]`` (as the model sees them) and the
    label written for each (the model may not know them)."""

    x: torch.Tensor
    labels: list[str]


class SeriesClassificationTask(TimeSeriesBase, ClassificationTask):
    """Whole-series classification: batches ``(x [N, C, L], y [N])``, cross-entropy;
    see the module docstring."""

    mode = "classify"
    config_class = ClassificationRunConfig
    info_class = ClassificationInfo
    default_model = "fcn"
    monitor = "accuracy"
    monitor_mode = "max"

    def build_data(self, cfg: TimeSeriesRunConfig) -> Data:
        """The splits of ``data.path`` (empty: the embedded waveforms), after the papers'
        floor on the training length (:func:`_floor_steps`, which changes ``cfg.train``)."""
        source = cfg.data.path or make_shape_series(seed=cfg.train.seed)
        splits = classification_splits(source, cfg.data.znorm, cfg.train.seed, cfg.task.holdout)
        return self.splits_data(cfg, splits, cfg.data.path or EMBEDDED)

    def splits_data(self, cfg: TimeSeriesRunConfig, splits: Splits, source: str) -> Data:
        """The run's ``Data`` of classification splits (``build_data``'s, or the series in
        memory of the scikit-learn classifier, :mod:`~convkit.tasks.timeseries.estimators`),
        ``source`` naming them in the info; the training length's floor changes ``cfg.train``."""
        _, channels, length = splits.train.tensors[0].shape
        print(f"classification: {splits.extras['protocol']}", file=sys.stderr, flush=True)
        _floor_steps(cfg, len(splits.train), splits.extras.get("train_file", len(splits.train) + len(splits.val)))
        # The best checkpoint follows the validation loss (on TRAIN itself for an official
        # pair, as the papers keep the lowest training loss): a part held out of a tiny TRAIN
        # file (2 of UnitTest's 20 series) is all classified right by a barely trained model,
        # which the best accuracy would keep; the loss keeps improving after.
        return series_data(splits.train, splits.val, splits.test, channels=channels, length=length,
                           label_names=list(splits.label_names), monitor=("loss", "min"),
                           info=ClassificationInfo(source=source, name=splits.extras["name"]))

    def build_eval_data(self, cfg: TimeSeriesRunConfig, path: str, spec: Data) -> Data:
        """All of ``path`` (the ``_TEST`` file of a folder) labelled in the model's class order."""
        test = classification_eval_set(path, spec.label_names, cfg.data.znorm)
        length = spec.input_shape[1] if spec.input_shape else None
        return series_data(None, None, test, channels=spec.in_channels, length=length,
                           info=dataclasses.replace(spec.info), label_names=spec.label_names)

    def input_spec(self, cfg: TimeSeriesRunConfig) -> Data:
        """The input from the config alone, without making the embedded waveforms: series
        ``[N, 1, SHAPE_LENGTH]`` of the shapes' classes (a ``data.path`` is read: ``build_data``)."""
        if cfg.data.path:
            return super().input_spec(cfg)
        return series_data(None, None, None, channels=1, length=SHAPE_LENGTH, label_names=list(SHAPES),
                           info=ClassificationInfo(source=EMBEDDED, name="shapes"))

    def build_model(self, cfg: TimeSeriesRunConfig, data: Data) -> nn.Module:
        """The zoo model ``model.name`` (a TCN's levels cover ``task.context`` steps)."""
        name = cfg.model.name or self.default_model
        options = dict(cfg.model.options)
        if name == "tcn":
            options.setdefault("context", cfg.task.context)
        return create_model(name, spatial_dims=1, in_channels=data.in_channels,
                            num_classes=len(data.label_names), pretrained=pretrained_weights(cfg, data.label_names),
                            **options)

    # ---- baselines

    def baseline_features(self, cfg: TimeSeriesRunConfig, data: Data) -> BaselineFeatures:
        """The flattened series ``[N, C * L]`` (as the model sees them) for both shared baselines."""
        (x, y), (xt, yt) = data.train.tensors, data.test.tensors
        return BaselineFeatures(linear=(flatten_series(x), flatten_series(xt)), y_train=y, y_test=yt,
                                num_classes=len(data.label_names), standardize=False)

    def extra_baselines(self, cfg: TimeSeriesRunConfig, data: Data, params: int) -> dict:
        """``nn1_euclidean`` (:func:`~convkit.tasks.timeseries.baselines.nn1_euclidean`)."""
        return {"nn1_euclidean": nn1_euclidean(data)}

    # ---- predict

    def load_inputs(self, cfg: TimeSeriesRunConfig, spec: Data, inputs: list[str]) -> list[SeriesFile]:
        """Each input is a ``.ts``/``.tsv`` file (labels the model does not know are allowed)."""
        files = []
        for path in inputs:
            x, labels = classification_inputs(path, cfg.data.znorm)
            if x.shape[1] != spec.in_channels:
                raise DataError(f"{path}: series of {x.shape[1]} dimensions, but the model takes {spec.in_channels}")
            files.append(SeriesFile(x, labels))
        return files

    def predict(self, trained: Trained, inputs: list[SeriesFile]) -> list[dict]:
        """Per file: ``series`` (how many), their ``labels`` and ``confidence`` (the top
        probability), and ``accuracy`` over the series whose written label the model knows."""
        names = trained.spec.label_names
        size = trained.cfg.train.batch_size
        rows = []
        for item in inputs:
            probs = torch.cat([torch.softmax(self.logits(trained.model, item.x[i:i + size].to(trained.device))
                                             .float(), dim=1).cpu() for i in range(0, len(item.x), size)])
            labels = [names[int(i)] for i in probs.argmax(1)]
            row: dict = {"series": len(labels), "labels": labels,
                         "confidence": [round(float(p), 6) for p in probs.max(1).values]}
            known = [(p, t) for p, t in zip(labels, item.labels) if t in names]
            if known:
                row["accuracy"] = round(sum(p == t for p, t in known) / len(known), 6)
            rows.append(row)
        return rows


def _floor_steps(cfg: TimeSeriesRunConfig, train_size: int, train_file_size: int) -> None:
    """The papers' training length for a small training set, with a log line for each
    change: ``train.batch_size`` at most a tenth of the TRAIN file's ``train_file_size``
    series (Ismail Fawaz et al.'s ``min(N / 10, batch_size)``), and ``train.epochs`` raised
    so that training makes at least ``task.min_steps`` optimizer steps (the engine's
    batches: whole batches only once the set holds one)."""
    batch = min(cfg.train.batch_size, max(1, train_file_size // 10))
    if batch != cfg.train.batch_size:
        print(f"train.batch_size {cfg.train.batch_size} -> {batch}: at most a tenth of the {train_file_size} "
              f"series in TRAIN (the TSC papers' rule)", file=sys.stderr, flush=True)
        cfg.train.batch_size = batch
    per_epoch = train_size // batch if train_size >= batch else 1
    epochs = max(cfg.train.epochs, math.ceil(cfg.task.min_steps / per_epoch))
    if epochs != cfg.train.epochs:
        print(f"train.epochs {cfg.train.epochs} -> {epochs}: {train_size} training series make {per_epoch} "
              f"step(s) of {batch} an epoch, and task.min_steps={cfg.task.min_steps}"
              + (f" (train.max_minutes={cfg.train.max_minutes:g} caps the run)" if cfg.train.max_minutes else ""),
              file=sys.stderr, flush=True)
        cfg.train.epochs = epochs
