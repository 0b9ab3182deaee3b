"""Word vectors convkit trains itself, for TextCNN's ``static``, ``non-static`` and
``multichannel`` variants when no pretrained vectors exist (no ``data.vectors`` file).

Skip-gram with negative sampling (Mikolov et al. 2013) whose input vector of a word is the
mean of its own vector and the vectors of its character n-grams (Bojanowski et al. 2017,
fastText: ``<word>`` cut into 3- to 6-grams), so rare words and inflections share what
their pieces learned. Trained in torch on the training split's sentences, tokenized as
the model reads them, plus any unlabeled text the user points to (``data.unlabeled``);
words seen at least twice in that extra text join the training vocabulary's words while
they train (they give context), and the vectors returned are the vocabulary's.

The corpus is small (thousands of sentences), so the settings are fastText's for small
data: window 5, 5 negatives drawn from the unigram distribution to the 3/4, frequent words
subsampled at 1e-3, :data:`SKIPGRAM_EPOCHS` passes; SparseAdam on the mean loss of batches
of 1,024 pairs (plain SGD with word2vec's summed updates diverges when a batch repeats a
frequent word many times). Deterministic for a seed on one thread. The vectors are cached
under ``convkit.data.cache.cache_dir("text", "vectors")``, keyed by the corpus, the
vocabulary, the settings and the seed, so a second run does not train them again.

The returned matrix is centred and scaled to the spread of Kim's random vectors
(U[-0.25, 0.25], standard deviation 0.144) so that the variants start at the scale the
rand variant starts at; ``<pad>`` is zero.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from convkit.data import cache

SKIPGRAM_EPOCHS = 5
"""Passes over the corpus (fastText's default)."""

TARGET_STD = 0.5 / np.sqrt(12)
"""The standard deviation of U[-0.25, 0.25], Kim's random vectors: what the trained
vectors are scaled to."""

_CACHE_VERSION = 2  # bump when training or scaling changes


@dataclass(frozen=True)
class SkipGramSettings:
    """Skip-gram settings: vector ``dim``; ``window`` (each centre word draws its window
    from 1..window, as word2vec); ``negatives`` per pair; ``epochs``; character n-grams
    from ``min_n`` to ``max_n`` (0: none); ``subsample`` (word2vec's ``t``); ``lr``
    (SparseAdam); ``batch`` pairs; ``min_count`` for words of the extra text."""

    dim: int = 300
    window: int = 5
    negatives: int = 5
    epochs: int = SKIPGRAM_EPOCHS
    min_n: int = 3
    max_n: int = 6
    subsample: float = 1e-3
    lr: float = 0.01
    batch: int = 1024
    min_count: int = 2


def char_ngrams(word: str, min_n: int = 3, max_n: int = 6) -> list[str]:
    """fastText's character n-grams of ``word``: the ``min_n``..``max_n``-grams of
    ``<word>`` (the whole ``<word>`` left out; it has a vector of its own)."""
    marked = f"<{word}>"
    return [marked[i:i + n] for n in range(min_n, max_n + 1) for i in range(len(marked) - n + 1)
            if n < len(marked)]


def train_skipgram(sentences: Sequence[Sequence[str]], words: Sequence[str],
                   settings: SkipGramSettings = SkipGramSettings(), seed: int = 0) -> np.ndarray:
    """Vectors ``[len(words), dim]`` float32 for ``words`` from ``sentences`` (token
    lists), raw (not centred or scaled; see :func:`self_trained_vectors`). A word of
    ``words`` the sentences never hold keeps its n-grams' mean (its own vector stays at
    its small random start)."""
    s = settings
    counts = Counter(t for sentence in sentences for t in sentence)
    index = {w: i for i, w in enumerate(words)}
    for word, count in sorted(counts.items()):
        if word not in index and count >= s.min_count:
            index[word] = len(index)
    names = [""] * len(index)
    for word, i in index.items():
        names[i] = word
    freq = np.zeros(len(index))
    for word, count in counts.items():
        if word in index:
            freq[index[word]] = count
    ids = [np.array([index[t] for t in sentence if t in index], dtype=np.int64) for sentence in sentences]

    # Each word's character n-grams as one bag (CSR: offsets into a flat index list).
    grams: dict[str, int] = {}
    flat, offsets = [], [0]
    for word in names:
        flat += [grams.setdefault(g, len(grams)) for g in (char_ngrams(word, s.min_n, s.max_n) if s.min_n else [])]
        offsets.append(len(flat))
    flat_t, offsets_t = torch.tensor(flat, dtype=torch.int64), torch.tensor(offsets, dtype=torch.int64)
    bag_size = (offsets_t[1:] - offsets_t[:-1]).float()

    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    total = max(freq.sum(), 1.0)
    threshold = s.subsample * total
    keep = np.minimum(1.0, (np.sqrt(freq / threshold) + 1) * threshold / np.maximum(freq, 1))
    noise = torch.from_numpy(freq ** 0.75 / max((freq ** 0.75).sum(), 1e-12)).float()

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        word_in = nn.Embedding(len(index), s.dim, sparse=True)
        gram_in = nn.EmbeddingBag(max(len(grams), 1), s.dim, mode="sum", sparse=True)
        word_out = nn.Embedding(len(index), s.dim, sparse=True)
        for table in (word_in, gram_in):
            nn.init.uniform_(table.weight, -0.5 / s.dim, 0.5 / s.dim)
        nn.init.zeros_(word_out.weight)
    optimizer = torch.optim.SparseAdam([*word_in.parameters(), *gram_in.parameters(), *word_out.parameters()],
                                       lr=s.lr)

    def centre(c: torch.Tensor) -> torch.Tensor:
        """Input vectors ``[B, dim]``: the mean of each word's vector and its n-grams'."""
        starts, ends = offsets_t[c], offsets_t[c + 1]
        lengths = ends - starts
        if int(lengths.sum()) == 0:
            return word_in(c)
        position = torch.arange(int(lengths.sum())) - torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths,
                                                                              lengths)
        bag = flat_t[torch.repeat_interleave(starts, lengths) + position]
        summed = gram_in(bag, torch.cumsum(lengths, 0) - lengths)
        return (word_in(c) + summed) / (1 + bag_size[c]).unsqueeze(1)

    def pairs() -> tuple[torch.Tensor, torch.Tensor]:
        """One epoch's (centre, context) pairs, subsampled, in a random order."""
        centres, contexts = [], []
        for sentence in ids:
            sentence = sentence[rng.random(len(sentence)) < keep[sentence]]
            n = len(sentence)
            if n < 2:
                continue
            reach = rng.integers(1, s.window + 1, n)
            for d in range(1, min(s.window, n - 1) + 1):
                left = np.nonzero(reach[: n - d] >= d)[0]
                right = np.nonzero(reach[d:] >= d)[0] + d
                centres += [sentence[left], sentence[right]]
                contexts += [sentence[left + d], sentence[right - d]]
        if not centres:
            return torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)
        c, x = np.concatenate(centres), np.concatenate(contexts)
        order = rng.permutation(len(c))
        return torch.from_numpy(c[order]), torch.from_numpy(x[order])

    for _ in range(s.epochs):
        c, x = pairs()
        for start in range(0, len(c), s.batch):
            cc, xx = c[start:start + s.batch], x[start:start + s.batch]
            h = centre(cc)
            negative = torch.multinomial(noise, len(cc) * s.negatives, replacement=True, generator=generator)
            positive = (h * word_out(xx)).sum(1)
            negatives = torch.bmm(word_out(negative.view(len(cc), s.negatives)), h.unsqueeze(2)).squeeze(2)
            loss = -(F.logsigmoid(positive).sum() + F.logsigmoid(-negatives).sum()) / len(cc)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return centre(torch.arange(len(words))).numpy().astype(np.float32)


def scaled(vectors: np.ndarray, reserved: int = 2) -> np.ndarray:
    """``vectors [V, dim]`` centred and scaled so that the rows after the ``reserved`` ones
    (``<pad>``, ``<unk>``) have mean 0 and standard deviation :data:`TARGET_STD`; row 0
    (``<pad>``) zero."""
    if len(vectors) <= reserved:
        return vectors.astype(np.float32)
    centred = vectors - vectors[reserved:].mean(0)
    out = centred / max(float(centred[reserved:].std()), 1e-12) * TARGET_STD
    out[0] = 0.0
    return out.astype(np.float32)


def self_trained_vectors(sentences: Sequence[Sequence[str]], vocab: Sequence[str], dim: int, seed: int = 0,
                         cache_folder: str | Path | None = None) -> tuple[np.ndarray, bool]:
    """The vocabulary's vectors ``[len(vocab), dim]`` (:func:`train_skipgram` on
    ``sentences``, then :func:`scaled`), from the cache when the same corpus, vocabulary,
    settings and seed were trained before -> ``(matrix, from_cache)``. An unwritable cache
    folder only means training again next time."""
    settings = SkipGramSettings(dim=dim)
    digest = hashlib.sha256(repr((_CACHE_VERSION, asdict(settings), seed, list(vocab))).encode())
    for sentence in sentences:
        digest.update(("\x1f".join(sentence) + "\n").encode())
    folder = Path(cache_folder) if cache_folder else cache.cache_dir("text", "vectors")
    file = folder / f"skipgram-{dim}-{digest.hexdigest()[:20]}.npy"
    if file.is_file():
        try:
            matrix = np.load(file, allow_pickle=False)
            if matrix.shape == (len(vocab), dim):
                return matrix, True
        except (OSError, ValueError):
            pass  # a damaged entry is trained again
    matrix = scaled(train_skipgram(sentences, vocab, settings, seed))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".tmp", delete=False) as tmp:
            np.save(tmp, matrix)
        os.replace(tmp.name, file)
    except OSError:
        pass
    return matrix, False
