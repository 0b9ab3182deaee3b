"""The shared parameter-matched MLP baseline (convkit.train.baselines.fit_matched_mlp) on
training data a stratified early-stopping hold-out cannot split, and on sparse TF-IDF."""

from __future__ import annotations

import numpy as np
import pytest

from convkit.train import baselines as B


def test_a_class_with_one_example_fits_without_early_stopping():
    """scikit-learn's early stopping holds out a stratified 10%, which refuses a class of
    one example; with enough data otherwise, the MLP must still fit (without it)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    y = np.zeros(300, dtype=np.int64)
    y[7] = 1
    clf = B.fit_matched_mlp(x, y, params=200, num_classes=2)
    assert not clf.early_stopping and clf.predict(x).shape == (300,)
    y[:150] = 1  # both classes large: early stopping as before
    assert B.fit_matched_mlp(x, y, params=200, num_classes=2).early_stopping


def test_sparse_features_are_taken_as_they_are():
    sparse = pytest.importorskip("scipy.sparse")
    x = sparse.random(40, 1000, density=0.01, format="csr", random_state=0)
    y = np.arange(40) % 2
    clf = B.fit_matched_mlp(x, y, params=2000, num_classes=2)
    assert B.sklearn_mlp_params(clf) == pytest.approx(2000, rel=0.2)
