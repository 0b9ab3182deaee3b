"""Whole-series classification (``task.mode = "classify"``): any 1D zoo model (``tcn``,
``resnet18``, ...) maps series ``[N, C, L]`` to class logits.

Data (:mod:`~convkit.tasks.timeseries.classify`): the embedded noisy waveforms, or a
UCR/UEA ``.ts``/``.tsv`` archive, each series z-normalised (``data.znorm``). Metrics:
accuracy, macro F1, loss, the confusion matrix. Baselines: logistic regression (``linear``)
and the parameter-matched MLP (``mlp``) on the flattened z-normalised series, and the
classic UCR baseline, 1-nearest-neighbour with Euclidean distance (``nn1_euclidean``).
``predict`` labels every series of each ``.ts``/``.tsv`` file.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch
from torch import nn

from convkit.errors import DataError
from convkit.models import create_model
from convkit.tasks.timeseries.base import TimeSeriesFamily, series_data
from convkit.tasks.timeseries.classify import (
    load_classification_data,
    load_classification_eval,
    load_classification_eval_unlabelled,
)
from convkit.tasks.timeseries.config import TimeSeriesRunConfig
from convkit.train.baselines import BaselineFeatures, one_blas_thread
from convkit.train.baselines import scores as baseline_scores
from convkit.train.task import ClassificationTask, Data, Trained


class SeriesClassificationTask(TimeSeriesFamily, ClassificationTask):
    """Whole-series classification: batches ``(x [N, C, L], y [N])``, cross-entropy;
    see the module docstring."""

    monitor = "accuracy"
    monitor_mode = "max"
    default_model = "fcn"

    def build_data(self, cfg: TimeSeriesRunConfig, path: str | None = None, spec: Data | None = None) -> Data:
        """The splits of ``data.path`` (empty: the embedded waveforms); with ``path`` and
        ``spec`` (``evaluate --data``) all of ``path`` labelled in the model's class order."""
        if path is not None:
            if spec is None:
                raise ValueError("build_data(path=...) needs the trained model's spec")
            test = load_classification_eval(path, spec.label_names, cfg.data.znorm)
            length = spec.input_shape[1] if spec.input_shape else None
            return series_data(None, None, test, channels=spec.in_channels, length=length, info=dict(spec.info),
                               label_names=spec.label_names)
        splits = load_classification_data(cfg.data.path, cfg.data.znorm, cfg.train.seed, cfg.task.holdout)
        _, channels, length = splits.train.tensors[0].shape
        print(f"classification: {splits.extras['protocol']}", file=sys.stderr, flush=True)
        _floor_steps(cfg, len(splits.train), splits.extras.get("train_file", len(splits.train) + len(splits.val)))
        # The best checkpoint follows the validation loss (on TRAIN itself for an official
        # pair, as the papers keep the lowest training loss): a part held out of a tiny TRAIN
        # file (2 of UnitTest's 20 series) reaches accuracy 1.0 within a few epochs and would
        # keep that barely trained model; the loss keeps improving after.
        return series_data(splits.train, splits.val, splits.test, channels=channels, length=length,
                           label_names=list(splits.label_names), monitor=("loss", "min"),
                           info={"mode": "classify", "source": cfg.data.path or "embedded shapes",
                                 "name": splits.extras["name"]})

    def build_model(self, cfg: TimeSeriesRunConfig, data: Data) -> nn.Module:
        """The zoo model ``model.name`` (a TCN's levels cover ``task.context`` steps)."""
        name = cfg.model.name or self.default_model
        options = dict(cfg.model.options)
        if name == "tcn":
            options.setdefault("context", cfg.task.context)
        return create_model(name, spatial_dims=1, in_channels=data.in_channels,
                            num_classes=len(data.label_names), **options)

    # ---- baselines

    def baseline_features(self, cfg: TimeSeriesRunConfig, data: Data) -> BaselineFeatures:
        """The flattened series ``[N, C * L]`` (as the model sees them) for both shared baselines."""
        (x, y), (xt, yt) = data.train.tensors, data.test.tensors
        return BaselineFeatures(linear=(_flat(x), _flat(xt)), y_train=y, y_test=yt,
                                num_classes=len(data.label_names), standardize=False)

    def extra_baselines(self, cfg: TimeSeriesRunConfig, data: Data, params: int) -> dict:
        """``nn1_euclidean``: 1-nearest-neighbour (Euclidean) on the flattened series (each
        z-normalised over its own length, zero-padded), the classic UCR baseline, with the
        whole TRAIN file (once, whether or not part of it validates) as the archive computes it."""
        from sklearn.neighbors import KNeighborsClassifier

        (x, y), (xv, yv), (xt, yt) = data.train.tensors, data.val.tensors, data.test.tensors
        if not (x.shape == xv.shape and torch.equal(x, xv)):  # a held-out part: TRAIN is both
            x, y = torch.cat([x, xv]), torch.cat([y, yv])
        with one_blas_thread():
            predictions = KNeighborsClassifier(n_neighbors=1).fit(_flat(x), y.numpy()).predict(_flat(xt))
        return {"nn1_euclidean": {"test": baseline_scores(predictions, yt)}}

    # ---- predict

    def load_inputs(self, cfg: TimeSeriesRunConfig, spec: Data, inputs: list[str]) -> list[dict]:
        """Each input is a ``.ts``/``.tsv`` file: ``{"x": [N, C, L], "true": the label written
        for each series}`` (labels the model does not know are allowed)."""
        files = []
        for path in inputs:
            x, true = load_classification_eval_unlabelled(path, cfg.data.znorm)
            if x.shape[1] != spec.in_channels:
                raise DataError(f"{path}: series of {x.shape[1]} dimensions, but the model takes {spec.in_channels}")
            files.append({"x": x, "true": true})
        return files

    def predict(self, trained: Trained, inputs: list[dict]) -> list[dict]:
        """Per file: ``series`` (how many), their ``labels`` and ``confidence`` (the top
        probability), and ``accuracy`` over the series whose written label the model knows."""
        names = trained.spec.label_names
        size = trained.cfg.train.batch_size
        rows = []
        for item in inputs:
            probs = torch.cat([torch.softmax(self.logits(trained.model, item["x"][i:i + size].to(trained.device))
                                             .float(), dim=1).cpu() for i in range(0, len(item["x"]), size)])
            labels = [names[int(i)] for i in probs.argmax(1)]
            row: dict = {"series": len(labels), "labels": labels,
                         "confidence": [round(float(p), 6) for p in probs.max(1).values]}
            known = [(p, t) for p, t in zip(labels, item["true"]) if t in names]
            if known:
                row["accuracy"] = round(sum(p == t for p, t in known) / len(known), 6)
            rows.append(row)
        return rows


def _floor_steps(cfg: TimeSeriesRunConfig, train_size: int, train_file_size: int) -> None:
    """The papers' training length for a small training set, with a log line for each
    change: ``train.batch_size`` at most a tenth of the TRAIN file's ``train_file_size``
    series (Ismail Fawaz et al.'s ``min(N / 10, batch_size)``), and ``train.epochs`` raised so that training makes
    at least ``task.min_steps`` optimizer steps (the engine's batches: whole batches only
    once the set holds one)."""
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


def _flat(x: torch.Tensor) -> np.ndarray:
    """Series ``[N, C, L]`` as the model sees them (z-normalised over each series' own
    length when ``data.znorm``, then zero-padded), flattened ``[N, C * L]``."""
    return x.numpy().reshape(len(x), -1)
