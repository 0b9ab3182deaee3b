"""Pixel features for the shared baselines (logistic regression and a parameter-matched
MLP, ``convkit.train.baselines``). The MLP is also the MLP of the shift-robustness
comparison (``shift.py``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.neural_network import MLPClassifier
from torch import Tensor
from torch.utils.data import TensorDataset

from convkit.data.lazy import LazyFiles, collate_readable, materialize
from convkit.train.baselines import (  # noqa: F401  (re-exported for shift.py and tests)
    BaselineFeatures,
    fit_matched_mlp,
    logistic_regression,
    mlp_hidden_units,
    scores,
    sklearn_mlp_params,
)


def flatten(dataset: TensorDataset | LazyFiles, limit: int | None = None,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(pixels [N, C*H*W] float32, labels [N])`` of an image dataset (in memory, or lazy:
    only the chosen images are decoded); at most ``limit`` examples, a seeded random subset."""
    if isinstance(dataset, LazyFiles):
        keep = np.arange(len(dataset))
        if limit is not None and len(dataset) > limit:
            keep = np.sort(np.random.default_rng(seed).permutation(len(dataset))[:limit])
        images, labels = materialize(dataset, keep, collate_readable).tensors
        return images.reshape(len(images), -1).numpy(), labels.numpy()
    images, labels = dataset.tensors
    if limit is not None and len(labels) > limit:
        keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
        images, labels = images[keep], labels[keep]
    return images.reshape(len(images), -1).numpy(), labels.numpy()


def fit_pixel_mlp(x: np.ndarray, y: np.ndarray, params: int, num_classes: int, seed: int = 0) -> MLPClassifier:
    """The parameter-matched MLP on pixels ``x [N, D]``, ``y [N]``."""
    return fit_matched_mlp(x, y, params, num_classes, seed)


def pixel_features(train: TensorDataset, test: TensorDataset, num_classes: int, max_train: int = 20000,
                   seed: int = 0) -> BaselineFeatures:
    """Flattened pixels ``[N, C*H*W]`` of image datasets for the shared ``linear`` and
    ``mlp`` baselines; the baselines train on at most ``max_train`` examples."""
    x, y = flatten(train, max_train, seed)
    xt, yt = flatten(test)
    return BaselineFeatures(linear=(x, xt), y_train=y, y_test=yt, num_classes=num_classes, standardize=False)


def sklearn_predictor(clf) -> Callable[[Tensor], Tensor]:
    """A function ``images [N, C, H, W] -> predicted labels [N]`` for a pixel classifier."""

    def predict(images: Tensor) -> Tensor:
        return torch.from_numpy(clf.predict(images.reshape(len(images), -1).cpu().numpy()))

    return predict
