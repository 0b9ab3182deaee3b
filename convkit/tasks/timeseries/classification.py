"""Whole-series classification (``task.mode = "classify"``): any 1D zoo model (``minirocket``,
``fcn``, ``tcn``, ``resnet18``, ...) maps series ``[N, C, L]`` to class logits.

The default model is ``minirocket`` (:mod:`convkit.models.rocket`): on the four shared
UCR/UEA problems it matches or beats every deep model convkit has, in seconds where they
take minutes (docs/timeseries.md has the figures and the rule). A ROCKET model fits in
closed form from the training split (:meth:`SeriesClassificationTask.fit_model`: its
transform, then a ridge head whose regularisation leave-one-out error picks), so the run
makes no optimizer step; from 10,000 training series its head is logistic regression,
which the engine trains.

Data: the embedded noisy waveforms (:func:`~convkit.tasks.timeseries.synthetic.make_shape_series`),
or a UCR/UEA ``.ts``/``.tsv`` archive (:func:`~convkit.tasks.timeseries.data.classification_splits`),
each series z-normalised for the deep models and left as it is for the ROCKET family, as
their papers do (``data.znorm``; :func:`series_znorm`). Batches are ``(x [N, C, L], y [N],
lengths [N])``: series of unequal lengths are zero-padded to a common ``L``, and every
model that takes ``lengths`` (the ROCKET family, ``fcn``, ``tsc_resnet``,
``inceptiontime``) computes each series over its own steps, so its prediction never
depends on its padding or its batch-mates. Metrics: accuracy, macro F1, loss, the
confusion matrix. Baselines: logistic regression (``linear``) and the parameter-matched
MLP (``mlp``) on the flattened series as the model sees them, and the classic UCR
baseline, 1-nearest-neighbour with Euclidean distance (``nn1_euclidean``;
:mod:`~convkit.tasks.timeseries.baselines`). ``predict`` labels every series of each
``.ts``/``.tsv`` file.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from convkit.data.splits import Splits
from convkit.errors import DataError, ShapeError
from convkit.models import create_model
from convkit.models.rocket import RIDGE_MAX_TRAIN, ROCKET_MODELS, RocketClassifier
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
    """One ``predict`` input: its series ``x [N, C, L]`` (as the model sees them), the
    label written for each (the model may not know them) and their ``lengths [N]``."""

    x: torch.Tensor
    labels: list[str]
    lengths: torch.Tensor | None = None


def series_znorm(cfg: TimeSeriesRunConfig) -> bool:
    """Whether the series are z-normalised: ``data.znorm`` when given, else (None) not for
    the ROCKET family (its papers transform series as they are) and yes for every other
    model (the deep TSC papers z-normalise)."""
    if cfg.data.znorm is not None:
        return cfg.data.znorm
    return (cfg.model.name or SeriesClassificationTask.default_model) not in ROCKET_MODELS


def fitted_in_closed_form(cfg: TimeSeriesRunConfig, train_size: int) -> bool:
    """Whether the model ``cfg`` names fits all it has in closed form for ``train_size``
    training series (a ROCKET model with a ridge head: no optimizer step)."""
    name = cfg.model.name or SeriesClassificationTask.default_model
    head = cfg.model.options.get("head", "auto")
    return name in ROCKET_MODELS and (head == "ridge" or (head == "auto" and train_size < RIDGE_MAX_TRAIN))


class SeriesClassificationTask(TimeSeriesBase, ClassificationTask):
    """Whole-series classification: batches ``(x [N, C, L], y [N], lengths [N])``,
    cross-entropy; see the module docstring."""

    mode = "classify"
    config_class = ClassificationRunConfig
    info_class = ClassificationInfo
    default_model = "minirocket"
    monitor = "accuracy"
    monitor_mode = "max"

    def build_data(self, cfg: TimeSeriesRunConfig) -> Data:
        """The splits of ``data.path`` (empty: the embedded waveforms), after the papers'
        floor on the training length (:func:`_floor_steps`, which changes ``cfg.train``)."""
        source = cfg.data.path or make_shape_series(seed=cfg.train.seed)
        splits = classification_splits(source, series_znorm(cfg), cfg.train.seed, cfg.task.holdout)
        return self.splits_data(cfg, splits, cfg.data.path or EMBEDDED)

    def splits_data(self, cfg: TimeSeriesRunConfig, splits: Splits, source: str) -> Data:
        """The run's ``Data`` of classification splits (``build_data``'s, or the series in
        memory of the scikit-learn classifier, :mod:`~convkit.tasks.timeseries.estimators`),
        ``source`` naming them in the info; the training length's floor changes ``cfg.train``."""
        _, channels, length = splits.train.tensors[0].shape
        print(f"classification: {splits.extras['protocol']}", file=sys.stderr, flush=True)
        if not fitted_in_closed_form(cfg, len(splits.train)):  # (a ridge head makes no step)
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
        test = classification_eval_set(path, spec.label_names, series_znorm(cfg))
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

    def fit_model(self, cfg: TimeSeriesRunConfig, data: Data, model: nn.Module) -> None:
        """A ROCKET model (:class:`~convkit.models.rocket.RocketClassifier`) fits its
        transform and head to the training split (its own seed, ``train.seed``), on the
        model's device; other models fit nothing."""
        if not isinstance(model, RocketClassifier):
            return
        x, y, lengths = _unpack(next(iter(DataLoader(data.train, batch_size=len(data.train),
                                                     collate_fn=data.collate_fn))))  # the whole split, in order
        device = next(model.buffers()).device
        head = model.fit(x.to(device), y.to(device), None if lengths is None else lengths.to(device),
                         seed=cfg.train.seed)
        how = (f"ridge head, alpha {float(model.alpha):.3g} of {len(model.alphas)} by leave-one-out error"
               if head == "ridge" else "logistic-regression head (trained by the engine)")
        print(f"{cfg.model.name or self.default_model}: {model.num_features:,} features fitted to {len(x)} training "
              f"series; {how}", file=sys.stderr, flush=True)

    # ---- steps: each series over its own length (models that take lengths)

    def logits(self, model: nn.Module, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``model(x, lengths)`` for a model that takes lengths (``takes_lengths``), else
        ``model(x)``; checks the result is ``[N, classes]``."""
        if lengths is None or not _takes_lengths(model):
            return super().logits(model, inputs)
        out = model(inputs, lengths)
        if not isinstance(out, torch.Tensor) or out.ndim != 2:
            shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ShapeError(f"{type(self).__name__}: the model must return logits [N, classes]; got {shape}")
        return out

    def training_step(self, model: nn.Module, batch: Any) -> torch.Tensor:
        """Cross-entropy of ``model(x, lengths)`` against ``y``."""
        x, y, lengths = _unpack(batch)
        return F.cross_entropy(self.logits(model, x, lengths), y)

    def evaluation_step(self, model: nn.Module, batch: Any) -> dict[str, torch.Tensor]:
        """``{"logits": [N, classes], "targets": [N]}``."""
        x, y, lengths = _unpack(batch)
        return {"logits": self.logits(model, x, lengths), "targets": y}

    # ---- baselines

    def baseline_features(self, cfg: TimeSeriesRunConfig, data: Data) -> BaselineFeatures:
        """The flattened series ``[N, C * L]`` (as the model sees them) for both shared baselines."""
        (x, y), (xt, yt) = data.train.tensors[:2], data.test.tensors[:2]
        return BaselineFeatures(linear=(flatten_series(x), flatten_series(xt)), y_train=y, y_test=yt,
                                num_classes=len(data.label_names), standardize=False)

    def extra_baselines(self, cfg: TimeSeriesRunConfig, data: Data, params: int) -> dict:
        """``nn1_euclidean`` (:func:`~convkit.tasks.timeseries.baselines.nn1_euclidean`), on
        z-normalised series as the archive computes it, whatever the model takes."""
        return {"nn1_euclidean": nn1_euclidean(data, normalised=series_znorm(cfg))}

    # ---- predict

    def load_inputs(self, cfg: TimeSeriesRunConfig, spec: Data, inputs: list[str]) -> list[SeriesFile]:
        """Each input is a ``.ts``/``.tsv`` file (labels the model does not know are allowed)."""
        files = []
        for path in inputs:
            x, labels, lengths = classification_inputs(path, series_znorm(cfg))
            if x.shape[1] != spec.in_channels:
                raise DataError(f"{path}: series of {x.shape[1]} dimensions, but the model takes {spec.in_channels}")
            files.append(SeriesFile(x, labels, lengths))
        return files

    def predict(self, trained: Trained, inputs: list[SeriesFile]) -> list[dict]:
        """Per file: ``series`` (how many), their ``labels`` and ``confidence`` (the top
        probability), and ``accuracy`` over the series whose written label the model knows."""
        names = trained.spec.label_names
        size = trained.cfg.train.batch_size
        rows = []
        for item in inputs:
            lengths = item.lengths if item.lengths is not None else torch.full((len(item.x),), item.x.shape[2])
            probs = torch.cat([torch.softmax(self.logits(trained.model, item.x[i:i + size].to(trained.device),
                                                         lengths[i:i + size].to(trained.device)).float(), dim=1).cpu()
                               for i in range(0, len(item.x), size)])
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


def _unpack(batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(x, y, lengths)`` of a batch ``(x, y, lengths)`` (or ``(x, y)``: lengths None)."""
    x, y, *rest = batch
    return x, y, rest[0] if rest else None


def _takes_lengths(model: nn.Module) -> bool:
    """Whether ``model`` (unwrapped from DDP and ``torch.compile``) takes ``lengths``."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or getattr(model, "_orig_mod")
    return bool(getattr(model, "takes_lengths", False))
