"""The ROCKET family as scikit-learn estimators, on series in memory (no run folder):

* :class:`RocketTransformer` (``TransformerMixin``): MiniRocket, MultiRocket, Hydra or
  Hydra + MultiRocket features ``[n, F]`` of series ``X``, for any scikit-learn model or
  ``Pipeline``;
* :class:`RocketClassifier` (``ClassifierMixin``): the transform, the papers'
  standardisation and the ridge head whose regularisation exact leave-one-out error picks
  (:class:`convkit.models.rocket.RocketClassifier` fitted in closed form, as the CLI's
  default fits it for fewer than 10,000 training series). For larger sets, the papers'
  logistic-regression head is trained by the engine: ``SeriesClassifier(model="minirocket")``
  (:mod:`~convkit.tasks.timeseries.estimators`) or the CLI.

``X`` is an array ``[n, channels, length]``, ``[n, length]`` (univariate), or a list of
``[channels, L_i]`` arrays of unequal lengths (each series is then transformed over its own
steps, as :mod:`convkit.models.rocket` does; :func:`~convkit.tasks.timeseries.estimators.series_batch`
reads it). Series are taken as they are (the ROCKET papers do not z-normalise them). Bad
input is a ``ValueError`` (scikit-learn's convention; convkit's ``DataError`` is one): a
series shorter than the kernels' span, or a missing or infinite value.

The same ``random_state`` gives the features and predictions of aeon 1.6's estimators of
the same name and seed (``tests/tasks/test_timeseries_rocket.py``, when aeon is installed).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted, column_or_1d

from convkit.models import create_model
from convkit.models.rocket import ALPHAS, ROCKET_MODELS, Hydra, MiniRocket, MultiRocket, MultiRocketHydra
from convkit.tasks.timeseries.estimators import series_batch

__all__ = ["RocketClassifier", "RocketTransformer"]

Kind = Literal["minirocket", "multirocket", "hydra", "multirocket_hydra"]


def _check_kind(kind: str) -> None:
    if kind not in ROCKET_MODELS:
        raise ValueError(f"kind must be one of {', '.join(ROCKET_MODELS)}; got {kind!r}")


def _series(X: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    x, lengths = series_batch(X)
    return torch.from_numpy(x), None if lengths is None else torch.from_numpy(lengths)


def _seed(random_state: int | None) -> int:
    if random_state is None:
        return 0
    if not isinstance(random_state, (int, np.integer)) or isinstance(random_state, bool):
        raise ValueError(f"random_state must be an int or None; got {random_state!r}")
    return int(random_state)


class RocketTransformer(TransformerMixin, BaseEstimator):
    """Features of the ROCKET family: ``fit(X)`` fits the transform (dilations, channel
    combinations, biases or kernels) to the training series, ``transform(X)`` gives
    ``[n, n_features_out_]`` float32.

    Parameters: ``kind`` (``minirocket``, ``multirocket``, ``hydra``,
    ``multirocket_hydra``); ``options``: the transform's options (MiniRocket's
    ``num_features``/``max_dilations_per_kernel``/``padding``, MultiRocket's
    ``num_kernels``, Hydra's ``kernels``/``groups``; None: the papers' defaults);
    ``random_state``: the seed (None: 0)."""

    def __init__(self, kind: Kind = "minirocket", options: dict | None = None, random_state: int | None = None) -> None:
        self.kind = kind
        self.options = options
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> "RocketTransformer":
        """Fit the transform to series ``X``; returns self."""
        _check_kind(self.kind)
        x, lengths = _series(X)
        make = {"minirocket": MiniRocket, "multirocket": MultiRocket, "hydra": Hydra,
                "multirocket_hydra": MultiRocketHydra}[self.kind]
        try:
            transform = make(x.shape[1], **dict(self.options or {}))
        except TypeError as err:
            raise ValueError(f"{self.kind}: {err}") from None
        self.transform_ = transform.fit(x, lengths, _seed(self.random_state))
        self.n_channels_ = int(x.shape[1])
        self.n_features_out_ = int(self.transform_.num_features)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The features ``[n, n_features_out_]`` of series ``X``."""
        check_is_fitted(self, "transform_")
        x, lengths = _series(X)
        with torch.no_grad():
            return self.transform_(x, lengths).numpy()

    def __sklearn_tags__(self) -> Any:  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


class RocketClassifier(ClassifierMixin, BaseEstimator):
    """A ROCKET classifier fitted in closed form: the transform, the papers'
    standardisation and a ridge head with its regularisation chosen among ``alphas`` by
    exact leave-one-out error (scikit-learn's ``RidgeClassifierCV``). ``classes_`` is
    ``np.unique(y)``; ``decision_function`` gives the ridge scores ``[n, classes]``
    (``[n]`` for two classes, as scikit-learn's), ``predict_proba`` their softmax.

    Parameters: ``kind``, ``options`` and ``random_state`` as :class:`RocketTransformer`;
    ``alphas`` (None: ``np.logspace(-3, 3, 10)``, the papers'); ``device`` (``cpu``,
    ``cuda``)."""

    def __init__(self, kind: Kind = "minirocket", options: dict | None = None, alphas: Any = None,
                 random_state: int | None = None, device: str = "cpu") -> None:
        self.kind = kind
        self.options = options
        self.alphas = alphas
        self.random_state = random_state
        self.device = device

    def fit(self, X: Any, y: Any) -> "RocketClassifier":
        """Fit to series ``X`` with labels ``y [n]``; returns self."""
        _check_kind(self.kind)
        x, lengths = _series(X)
        y = column_or_1d(y, warn=True)
        check_consistent_length(x, y)
        check_classification_targets(y)
        classes, index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y holds one class ({classes[0]!r}); a classifier needs at least two")
        try:
            model = create_model(self.kind, 1, int(x.shape[1]), len(classes), head="ridge", **dict(self.options or {}))
        except Exception as err:  # a bad option: one line
            raise ValueError(str(err)) from None
        if self.alphas is not None:
            model.alphas = tuple(float(a) for a in np.atleast_1d(self.alphas))
        else:
            model.alphas = ALPHAS
        device = torch.device(self.device)
        model = model.to(device).eval()
        model.fit(x.to(device), torch.from_numpy(index.astype(np.int64)).to(device),
                  None if lengths is None else lengths.to(device), seed=_seed(self.random_state))
        self.model_, self.classes_ = model, classes
        self.n_channels_ = int(x.shape[1])
        self.alpha_ = float(model.alpha)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Ridge scores ``[n, len(classes_)]`` (``[n]``, the second class's, for two)."""
        check_is_fitted(self, "model_")
        x, lengths = _series(X)
        device = next(self.model_.buffers()).device
        with torch.no_grad():
            scores = self.model_(x.to(device), None if lengths is None else lengths.to(device)).double().cpu().numpy()
        return scores[:, 1] if len(self.classes_) == 2 else scores

    def predict_proba(self, X: Any) -> np.ndarray:
        """The softmax of the ridge scores ``[n, len(classes_)]`` (not calibrated probabilities)."""
        check_is_fitted(self, "model_")
        x, lengths = _series(X)
        device = next(self.model_.buffers()).device
        with torch.no_grad():
            scores = self.model_(x.to(device), None if lengths is None else lengths.to(device))
        return torch.softmax(scores.double(), dim=1).cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The class of each series (from ``classes_``), by the largest ridge score."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self) -> Any:  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags
