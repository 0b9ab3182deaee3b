"""Classical baselines on raw pixels: logistic regression and a parameter-matched MLP
(scikit-learn). The MLP has one hidden layer sized so its parameter count matches the
CNN's; it is also the MLP of the shift-robustness comparison (``shift.py``)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits
from torch import Tensor
from torch.utils.data import TensorDataset

from convkit.train.metrics import accuracy, macro_f1


def mlp_hidden_units(params: int, in_features: int, num_classes: int) -> int:
    """Hidden width ``h`` of a one-hidden-layer MLP with about ``params`` parameters:
    ``(in_features + 1) * h + (h + 1) * num_classes`` (at least 1)."""
    return max(1, round((params - num_classes) / (in_features + 1 + num_classes)))


def flatten(dataset: TensorDataset, limit: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(pixels [N, C*H*W] float32, labels [N])`` of an image TensorDataset; at most
    ``limit`` examples, a seeded random subset."""
    images, labels = dataset.tensors
    if limit is not None and len(labels) > limit:
        keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
        images, labels = images[keep], labels[keep]
    return images.reshape(len(images), -1).numpy(), labels.numpy()


def fit_pixel_mlp(x: np.ndarray, y: np.ndarray, params: int, num_classes: int, seed: int = 0) -> MLPClassifier:
    """Train the parameter-matched MLP (Adam, early stopping on a 10% split) on
    ``x [N, D]``, ``y [N]``."""
    hidden = mlp_hidden_units(params, x.shape[1], num_classes)
    clf = MLPClassifier((hidden,), max_iter=100, early_stopping=True, n_iter_no_change=10, random_state=seed)
    with warnings.catch_warnings(), one_blas_thread():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(x, y)


def one_blas_thread() -> threadpool_limits:
    """Run scikit-learn's BLAS on one thread. Beside torch's OpenMP threads, multi-threaded
    OpenBLAS can be 40x slower on these small problems (measured on two busy cores:
    logistic regression on 1437 x 1024 digits, 0.4 s on one thread, 17 s on two)."""
    return threadpool_limits(limits=1, user_api="blas")


def _scores(predictions: np.ndarray, y: np.ndarray) -> dict[str, float]:
    p, t = torch.from_numpy(np.asarray(predictions)), torch.from_numpy(np.asarray(y))
    return {"accuracy": accuracy(p, t), "macro_f1": macro_f1(p, t)}


def pixel_baselines(train: TensorDataset, test: TensorDataset, params: int, num_classes: int,
                    max_train: int = 20000, seed: int = 0) -> dict:
    """``{"pixel_logreg": {"test": {...}}, "mlp": {"test": {...}, "params": n}}`` for
    image datasets ``[N, C, H, W]``; trained on at most ``max_train`` examples."""
    x, y = flatten(train, max_train, seed)
    xt, yt = flatten(test)
    with warnings.catch_warnings(), one_blas_thread():
        warnings.simplefilter("ignore", ConvergenceWarning)
        logreg = LogisticRegression(max_iter=300).fit(x, y)
    mlp = fit_pixel_mlp(x, y, params, num_classes, seed)
    return {"pixel_logreg": {"test": _scores(logreg.predict(xt), yt)},
            "mlp": {"test": _scores(mlp.predict(xt), yt), "params": sklearn_mlp_params(mlp)}}


def sklearn_mlp_params(clf: MLPClassifier) -> int:
    """Parameter count of a fitted MLPClassifier (weights and biases)."""
    return int(sum(w.size for w in clf.coefs_) + sum(b.size for b in clf.intercepts_))


def sklearn_predictor(clf) -> Callable[[Tensor], Tensor]:
    """A function ``images [N, C, H, W] -> predicted labels [N]`` for a pixel classifier."""

    def predict(images: Tensor) -> Tensor:
        return torch.from_numpy(clf.predict(images.reshape(len(images), -1).cpu().numpy()))

    return predict
