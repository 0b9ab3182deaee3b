"""Classical and MLP baselines shared by every task (scikit-learn): logistic regression on
fixed features (``linear``), and a one-hidden-layer MLP sized to match a model's parameter
count (``mlp``). Each returns the metric block ``metrics.json`` puts under ``baselines``;
every task feeds them its features (``Task.baseline_features``), so every run and every
row of the benchmark has both under the same names."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import numpy as np
import torch
from threadpoolctl import threadpool_limits

if TYPE_CHECKING:  # scikit-learn is imported where a baseline is fitted, not with the engine
    from sklearn.neural_network import MLPClassifier

from convkit.train.metrics import accuracy, macro_f1

Array = Union[np.ndarray, torch.Tensor]  # features or labels, either kind


def one_blas_thread() -> threadpool_limits:
    """Run scikit-learn's BLAS on one thread. Beside torch's OpenMP threads, multi-threaded
    OpenBLAS is many times slower on these small problems (its threads contend with
    torch's for the same busy cores)."""
    return threadpool_limits(limits=1, user_api="blas")


def scores(predictions: Array, targets: Array) -> dict[str, float]:
    """``{"accuracy", "macro_f1"}`` of predicted vs true labels ``[N]``."""
    p, t = torch.as_tensor(np.asarray(predictions)), torch.as_tensor(np.asarray(targets))
    return {"accuracy": accuracy(p, t), "macro_f1": macro_f1(p, t)}


def mlp_hidden_units(params: int, in_features: int, num_classes: int) -> int:
    """Hidden width ``h`` of a one-hidden-layer MLP with about ``params`` parameters:
    ``(in_features + 1) * h + (h + 1) * num_classes`` (at least 1)."""
    return max(1, round((params - num_classes) / (in_features + 1 + num_classes)))


def sklearn_mlp_params(clf: MLPClassifier) -> int:
    """Parameter count of a fitted MLPClassifier (weights and biases)."""
    return int(sum(w.size for w in clf.coefs_) + sum(b.size for b in clf.intercepts_))


def _numpy(x: Array) -> np.ndarray:
    if hasattr(x, "tocsr"):  # a SciPy sparse matrix (TF-IDF): scikit-learn takes it as it is
        return x
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def fit_matched_mlp(x: Array, y: Array, params: int, num_classes: int, seed: int = 0) -> MLPClassifier:
    """Train the parameter-matched MLP (Adam; early stopping on a 10% split when there are
    enough examples, else more iterations) on ``x [N, D]``, ``y [N]``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x, y = _numpy(x), _numpy(y)
    hidden = mlp_hidden_units(params, x.shape[1], num_classes)
    # Early stopping holds out 10%: only with enough examples for that to mean something
    # (scikit-learn refuses a validation part smaller than the number of classes) and when
    # its stratified hold-out can split every class (it refuses a class of one example).
    early = len(y) >= max(200, 20 * num_classes) and np.unique(y, return_counts=True)[1].min() >= 2
    clf = MLPClassifier((hidden,), max_iter=100 if early else 300, early_stopping=early, n_iter_no_change=10,
                        random_state=seed)
    with warnings.catch_warnings(), one_blas_thread():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(x, y)


def matched_mlp(x: Array, y: Array, x_test: Array, y_test: Array, params: int, num_classes: int,
                seed: int = 0) -> dict:
    """``{"test": {accuracy, macro_f1}, "params": n}`` of the parameter-matched MLP on
    features ``x [N, D]``."""
    clf = fit_matched_mlp(x, y, params, num_classes, seed)
    return {"test": scores(clf.predict(_numpy(x_test)), _numpy(y_test)), "params": sklearn_mlp_params(clf)}


def logistic_regression(x: Array, y: Array, x_test: Array, y_test: Array, standardize: bool = False,
                        max_iter: int = 300) -> dict[str, float]:
    """Test ``{accuracy, macro_f1}`` of multinomial logistic regression on features
    ``x [N, D]`` (optionally standardised first)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = LogisticRegression(max_iter=max_iter)
    if standardize:
        clf = make_pipeline(StandardScaler(), clf)
    with warnings.catch_warnings(), one_blas_thread():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(_numpy(x), _numpy(y))
    return scores(clf.predict(_numpy(x_test)), _numpy(y_test))


@dataclass
class BaselineFeatures:
    """A task's fixed features for the shared baselines.

    ``linear``: ``(train [N, D], test [M, D])`` for logistic regression (e.g. MFCC
    statistics, TF-IDF, pixels); ``mlp``: ``(train [N, D'], test [M, D'])``, the flattened
    input for the parameter-matched MLP (None: the ``linear`` features); ``y_train [N]``,
    ``y_test [M]`` class indices; ``standardize`` the linear features first.
    """

    linear: tuple[Array, Array]
    y_train: Array
    y_test: Array
    num_classes: int
    mlp: tuple[Array, Array] | None = None
    standardize: bool = True


def shared_baselines(features: BaselineFeatures, params: int, seed: int = 0) -> dict:
    """``{"linear": {"test": {accuracy, macro_f1}}, "mlp": {"test": {...}, "params": n}}``
    (``params``: the model's parameter count, which the MLP matches)."""
    x, xt = features.linear
    mx, mxt = features.mlp if features.mlp is not None else features.linear
    return {"linear": {"test": logistic_regression(x, features.y_train, xt, features.y_test,
                                                   standardize=features.standardize)},
            "mlp": matched_mlp(mx, features.y_train, mxt, features.y_test, params, features.num_classes, seed)}
