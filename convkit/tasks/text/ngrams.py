"""The TextCNN's n-gram member (``model.options.ngrams``), fitted before the CNN trains.

The member (``convkit.models.text.NgramMember``) is a linear model on binary n-gram
features of the token ids: word unigrams, hashed word bigrams and the character 2- to
5-grams of each vocabulary word (:func:`char_ngram_table`, fastText's ``<word>`` marks).
It is fitted as NBSVM's logistic-regression form (Wang & Manning 2012): the features
scaled by their naive-Bayes log-count ratio ``r`` (:func:`~convkit.tasks.text.baselines.
log_count_ratio`), then L2 logistic regression, ``C`` in :data:`MEMBER_C` chosen on the
validation split; one-vs-rest, each class with its own ratio, for more than two classes.
The fitted coefficients times ``r`` are the member's weights, so the network computes it
from token ids alone (predict and export need nothing else).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from convkit.models.text import NgramMember
from convkit.tasks.text.baselines import log_count_ratio
from convkit.tasks.text.data import PAD, UNK, pad_batch
from convkit.tasks.text.embeddings import char_ngrams
from convkit.train import baselines as B

CHAR_NGRAMS = (2, 5)
"""The character n-gram lengths of the member's word features."""

MEMBER_C = (0.1, 1.0, 10.0)
"""Inverse regularisation strengths tried for the member's logistic regression (best on val)."""


def char_ngram_table(vocab: Sequence[str], min_n: int = CHAR_NGRAMS[0], max_n: int = CHAR_NGRAMS[1]) -> Tensor:
    """``[len(vocab), K]`` int64: row ``i`` the ids (1, 2, ...) of the character n-grams of
    vocabulary word ``i`` (:func:`~convkit.tasks.text.embeddings.char_ngrams` of lengths
    ``min_n``..``max_n``, each once), 0-padded; ``<pad>`` and ``<unk>`` have none. The same
    vocabulary always gives the same table."""
    ids: dict[str, int] = {}
    rows = []
    for word in vocab:
        grams = [] if word in (PAD, UNK) else list(dict.fromkeys(char_ngrams(word, min_n, max_n)))
        rows.append([ids.setdefault(g, len(ids) + 1) for g in grams])
    table = torch.zeros(len(vocab), max([1] + [len(r) for r in rows]), dtype=torch.int64)
    for i, row in enumerate(rows):
        table[i, :len(row)] = torch.tensor(row, dtype=torch.int64)
    return table


def member_features(member: NgramMember, dataset, batch_size: int = 256):
    """The member's binary features of a token dataset (items ``(ids [L], label)``) as a
    SciPy CSR matrix ``[N, features]`` (feature 0, "none", left out)."""
    from scipy import sparse

    rows, cols = [], []
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            tokens, _ = pad_batch([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
            ids = member.features(tokens)
            row, position = (ids > 0).nonzero(as_tuple=True)
            rows.append((row + start).numpy())
            cols.append(ids[row, position].numpy())
    rows_np, cols_np = np.concatenate(rows), np.concatenate(cols)
    return sparse.csr_matrix((np.ones(len(rows_np)), (rows_np, cols_np)), shape=(len(dataset), member.num_features))


def fit_member(member: NgramMember, train, val, num_classes: int) -> dict:
    """Fit the member on the training split (see the module docstring) and load its
    weights; ``C`` chosen on ``val``. Returns ``{"C", "val_accuracy", "features"}``."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    x, xv = member_features(member, train), member_features(member, val)
    y, yv = np.asarray(train.labels), np.asarray(val.labels)
    targets = [1] if num_classes == 2 else list(range(num_classes))
    best = None
    with warnings.catch_warnings(), B.one_blas_thread():
        warnings.simplefilter("ignore")  # convergence notes on tiny splits
        for c in MEMBER_C:
            weight, bias = np.zeros((member.num_features, num_classes)), np.zeros(num_classes)
            for k in targets:
                positive = y == k
                if positive.all() or not positive.any():
                    bias[k] = 1.0 if positive.all() else -1.0
                    continue
                r = log_count_ratio(x, positive)
                r[0] = 0.0
                fit = LogisticRegression(C=c, max_iter=2000).fit(x @ sparse.diags(r), positive.astype(int))
                weight[:, k], bias[k] = fit.coef_.ravel() * r, float(fit.intercept_[0])
            scores = np.asarray(xv @ weight) + bias
            predicted = (scores[:, 1] > 0).astype(np.int64) if num_classes == 2 else scores.argmax(1)
            accuracy = float((predicted == yv).mean()) if len(yv) else 0.0
            if best is None or accuracy > best[0]:
                best = (accuracy, c, weight, bias)
    accuracy, c, weight, bias = best
    member.load_weights(weight, bias)
    return {"C": c, "val_accuracy": accuracy, "features": int(x.shape[1])}
