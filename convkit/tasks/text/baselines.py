"""The text task's classical baselines, fitted beside every run on the same splits.

* ``linear``: TF-IDF of word 1-2 grams (sublinear tf, scikit-learn's tokens) + logistic
  regression, ``C`` in :data:`TFIDF_C` chosen on the validation split;
* ``nbsvm``: NBSVM (Wang & Manning 2012, "Baselines and bigrams"): binary indicators of
  the word uni- and bigrams of the task's own tokens, scaled by the naive-Bayes
  log-count ratio ``r`` (:func:`log_count_ratio`, smoothing ``alpha`` = 1), an
  L2-regularised squared-hinge linear SVM on them, interpolated with multinomial naive
  Bayes (``w' = (1 - beta) * mean|w| + beta * w``); ``C`` in :data:`NBSVM_C` and ``beta``
  in :data:`NBSVM_BETA` chosen on the validation split (the paper fixes ``C`` = 1 and
  ``beta`` = 0.25, which is in the grid). More than two classes: one-vs-rest, each class
  with its own ratio;
* ``mlp``: the shared parameter-matched MLP on the same TF-IDF.

Not the shared ``baseline_features`` path: these features are sparse (10^4-10^5 columns),
which the shared baselines would densify.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

from convkit.tasks.text.data import tokenize
from convkit.train import baselines as B

TFIDF_C = (1.0, 10.0, 100.0)
"""Inverse regularisation strengths tried for the TF-IDF logistic regression (best on val)."""

NBSVM_C = (0.01, 0.1, 1.0, 10.0)
"""SVM regularisation strengths tried for NBSVM (best on val, with :data:`NBSVM_BETA`)."""

NBSVM_BETA = (0.25, 0.5, 0.75, 1.0)
"""NBSVM's interpolation weights tried (1: the SVM alone; small: close to naive Bayes)."""


def word_ngrams(tokenizer: str, n: int = 2) -> Callable[[str], list[str]]:
    """A scikit-learn analyzer: a sentence -> its word 1..``n`` grams of ``tokenizer``'s
    tokens (``"a b"`` for a bigram)."""

    def analyze(text: str) -> list[str]:
        words = tokenize(text, tokenizer)
        return [" ".join(words[i:i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1)]

    return analyze


def log_count_ratio(x, positive: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Naive Bayes' log-count ratio of each feature (Wang & Manning 2012):
    ``r = log((p / |p|_1) / (q / |q|_1))`` with ``p = alpha +`` the feature counts of the
    rows where ``positive [N]`` holds and ``q`` those of the others, from ``x [N, F]``
    (binary indicators, sparse or dense) -> ``[F]``."""
    positive = np.asarray(positive, dtype=bool)
    p = alpha + np.asarray(x[positive].sum(0)).ravel()
    q = alpha + np.asarray(x[~positive].sum(0)).ravel()
    return np.log(p / p.sum()) - np.log(q / q.sum())


class NBSVM:
    """Wang & Manning's NBSVM, fitted one-vs-rest (one classifier for two classes):
    ``fit(x, y)`` on binary features ``x [N, F]``; ``decision(x) -> [N, K]``
    (``[N, 1]`` for two classes) for each ``beta``; ``predict(x, beta) -> [N]``."""

    def __init__(self, C: float = 1.0, alpha: float = 1.0) -> None:
        self.C, self.alpha = C, alpha

    def fit(self, x, y: np.ndarray, num_classes: int) -> "NBSVM":
        """Fit on ``x [N, F]`` (binary) and labels ``y [N]`` in ``0..num_classes-1``."""
        from scipy import sparse
        from sklearn.svm import LinearSVC

        self.num_classes = num_classes
        targets = [1] if num_classes == 2 else list(range(num_classes))
        self.ratios, self.weights, self.bias = [], [], []
        for c in targets:
            is_c = np.asarray(y) == c
            r = log_count_ratio(x, is_c, self.alpha)
            if is_c.all() or not is_c.any():  # a class alone in train (or absent): no classifier
                w, b = np.zeros_like(r), (1.0 if is_c.all() else -1.0)
            else:
                svm = LinearSVC(C=self.C, max_iter=20000).fit(x @ sparse.diags(r), is_c.astype(int))
                w, b = svm.coef_.ravel(), float(svm.intercept_[0])
            self.ratios.append(r)
            self.weights.append(w)
            self.bias.append(b)
        return self

    def decision(self, x, beta: float) -> np.ndarray:
        """The interpolated decision values ``[N, K]`` (``[N, 1]`` for two classes)."""
        from scipy import sparse

        cols = []
        for r, w, b in zip(self.ratios, self.weights, self.bias):
            interpolated = (1 - beta) * np.abs(w).mean() + beta * w
            cols.append(np.asarray((x @ sparse.diags(r)) @ interpolated).ravel() + b)
        return np.stack(cols, axis=1)

    def predict(self, x, beta: float) -> np.ndarray:
        """Labels ``[N]``."""
        scores = self.decision(x, beta)
        return (scores[:, 0] > 0).astype(np.int64) if self.num_classes == 2 else scores.argmax(1)


def fit_nbsvm(train: Sequence[str], y: np.ndarray, val: Sequence[str], yv: np.ndarray, num_classes: int,
              tokenizer: str) -> tuple[NBSVM, float, Callable]:
    """NBSVM on word 1-2 grams of ``tokenizer``'s tokens, ``C`` and ``beta`` chosen on the
    validation sentences: ``(model, beta, vectorize)`` where ``vectorize(texts)`` gives the
    binary features the model takes."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(analyzer=word_ngrams(tokenizer), binary=True, dtype=np.float64)
    x, xv = vectorizer.fit_transform(train), vectorizer.transform(val)
    best = None
    with warnings.catch_warnings(), B.one_blas_thread():
        warnings.simplefilter("ignore")  # liblinear's convergence notes on tiny splits
        for c in NBSVM_C:
            model = NBSVM(c).fit(x, y, num_classes)
            for beta in NBSVM_BETA:
                accuracy = float((model.predict(xv, beta) == yv).mean()) if len(yv) else 0.0
                if best is None or accuracy > best[0]:
                    best = (accuracy, model, beta)
    return best[1], best[2], vectorizer.transform


def text_baselines(train, val, test, num_classes: int, tokenizer: str, params: int, seed: int) -> dict:
    """``linear`` (TF-IDF + logistic regression), ``nbsvm`` and ``mlp`` (see the module
    docstring) fitted on ``train`` and scored on ``test``: datasets with ``.texts`` and
    ``.labels`` ``[N]``."""
    from sklearn.exceptions import ConvergenceWarning  # scikit-learn: not at start-up
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    y, yv, yt = train.labels.numpy(), val.labels.numpy(), test.labels.numpy()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    x = vectorizer.fit_transform(train.texts)
    xv, xt = vectorizer.transform(val.texts), vectorizer.transform(test.texts)
    with warnings.catch_warnings(), B.one_blas_thread():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits = [LogisticRegression(C=c, max_iter=1000).fit(x, y) for c in TFIDF_C]
        best = max(fits, key=lambda clf: (clf.predict(xv) == yv).mean())
    nbsvm, beta, vectorize = fit_nbsvm(train.texts, y, val.texts, yv, num_classes, tokenizer)
    mlp = B.fit_matched_mlp(x, y, params, num_classes, seed)
    return {"linear": {"test": B.scores(best.predict(xt), yt), "C": best.C, "features": x.shape[1]},
            "nbsvm": {"test": B.scores(nbsvm.predict(vectorize(test.texts), beta), yt), "C": nbsvm.C,
                      "beta": beta, "features": len(nbsvm.ratios[0])},
            "mlp": {"test": B.scores(mlp.predict(xt), yt), "params": B.sklearn_mlp_params(mlp)}}
