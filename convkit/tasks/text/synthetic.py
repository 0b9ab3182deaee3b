"""The embedded default text data: a generated sentiment corpus, offline and deterministic.

Review sentences built from a small lexicon and templates whose sentiment needs word
order, not single words (negation, intensifiers, "X, but Y" contrasts, neutral filler):
:func:`make_sentiment_corpus`; :func:`load_generated_dataset` splits and encodes it like
on-disk data (``data.py``).
"""

from __future__ import annotations

import numpy as np

from convkit.data.splits import Splits
from convkit.errors import ConfigError
from convkit.tasks.text.data import RawSplit, assign_splits, build_text_splits, tokenize

_POSITIVE = ("good", "great", "excellent", "wonderful", "brilliant", "delightful", "moving", "charming",
             "funny", "gripping", "superb", "enjoyable", "clever", "beautiful", "fresh", "touching")
_NEGATIVE = ("bad", "awful", "terrible", "boring", "dull", "weak", "tedious", "lifeless", "clumsy", "bland",
             "predictable", "painful", "messy", "flat", "forgettable", "silly")
_SUBJECTS = ("the film", "the movie", "the plot", "the acting", "the script", "the story", "the ending",
             "the cast", "the direction", "the dialogue", "the soundtrack", "this picture", "the humor",
             "the pacing", "the lead", "the score")
_VERBS = ("is", "was", "feels", "felt", "seems", "looked")
_NEGATED = ("is not", "was not", "isn't", "wasn't", "is never", "was never", "never feels", "never felt",
            "doesn't feel", "didn't seem")
_INTENSIFIERS = ("very", "really", "truly", "extremely", "incredibly", "remarkably", "quite", "so",
                 "particularly", "genuinely", "deeply", "rather")
_PREFIXES = ("honestly", "to be fair", "in my opinion", "all things considered", "overall", "frankly",
             "i saw it last week and", "as i expected", "for what it is worth", "after the first hour")
_SUFFIXES = ("to be honest", "if you ask me", "at least for me", "from start to finish", "i think",
             "as far as i can tell", "on a rainy sunday", "with my friends", "in the cinema", "this year")
_CONTRASTS = (("but", 2), ("yet", 2), ("although", 1), ("even though", 1), ("though", 1))
"""Connectives of contrast and the clause (1st or 2nd) that decides the sentiment."""

GENERATED_LABELS = ["negative", "positive"]
"""The generated corpus' label names (label 0 is negative, 1 positive)."""

GENERATED_SOURCE = "generated sentiment corpus"
"""How the generated corpus is named as a data source (in messages and ``Data.info``)."""


def _clause(rng: np.random.Generator, positive: bool, negate: bool, p_intensifier: float) -> str:
    """``subject verb [intensifier] adjective``; with ``negate`` the adjective has the
    opposite polarity and the verb is negated, so the clause still says ``positive``."""
    adjectives = _NEGATIVE if positive == negate else _POSITIVE
    words = [rng.choice(_SUBJECTS), rng.choice(_NEGATED if negate else _VERBS)]
    if rng.random() < p_intensifier:
        words.append(rng.choice(_INTENSIFIERS))
    words.append(rng.choice(adjectives))
    return " ".join(words)


def make_sentiment_corpus(n: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """``n`` generated review sentences and labels (0 negative, 1 positive), balanced.

    Built from a lexicon of 16 positive and 16 negative adjectives and templates whose
    sentiment needs word order, not single words: a quarter plain clauses ("the plot was
    very clever"), a quarter negated ones ("the acting isn't really bad" is positive;
    intensifiers between negation and adjective hide it from bigrams), half contrasts of
    two opposite clauses where the connective decides which one counts ("X, but Y" and
    "X, yet Y": Y; "X, although Y" and "X, even though Y": X). Neutral filler before or
    after (also with a comma, so "adjective ," is no cue). The same ``n`` and ``seed``
    give the same corpus.
    """
    if n < 10:
        raise ConfigError(f"data.n_sentences must be at least 10; got {n}")
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        positive = bool(i % 2)
        kind = rng.random()
        if kind < 0.5:
            sentence = _clause(rng, positive, negate=kind >= 0.25, p_intensifier=0.7)
        else:
            connective, decider = _CONTRASTS[rng.integers(len(_CONTRASTS))]
            deciding = _clause(rng, positive, negate=rng.random() < 0.2, p_intensifier=0.3)
            other = _clause(rng, not positive, negate=rng.random() < 0.2, p_intensifier=0.3)
            first, second = (deciding, other) if decider == 1 else (other, deciding)
            sentence = f"{first}, {connective} {second}"
        filler = rng.random()
        if filler < 0.3:
            sentence = f"{rng.choice(_PREFIXES)}, {sentence}"
        elif filler < 0.6:
            sentence = f"{sentence}, {rng.choice(_SUFFIXES)}"
        texts.append(sentence + rng.choice([".", ".", "!"]))
        labels.append(int(positive))
    return texts, labels


def generated_vocab_bound(tokenizer: str = "kim") -> int:
    """An upper bound on the vocabulary size (``<pad>``, ``<unk>`` included) of
    :func:`load_generated_dataset` with ``tokenizer``, for any ``n`` and seed: every token
    its lexicon and templates can make (words, with the template's punctuation attached for
    the whitespace tokenizer), computed without generating sentences."""
    phrases = {p for group in (_POSITIVE, _NEGATIVE, _SUBJECTS, _VERBS, _NEGATED, _INTENSIFIERS, _PREFIXES,
                               _SUFFIXES, tuple(c for c, _ in _CONTRASTS)) for p in group}
    tokens = {t for p in phrases for mark in ("", ",", ".", "!") for t in tokenize(p + mark, tokenizer)}
    return 2 + len(tokens)


def load_generated_dataset(n: int = 6000, seed: int = 0, tokenizer: str = "kim", min_freq: int = 1,
                           max_length: int = 100) -> Splits:
    """The embedded default: :func:`make_sentiment_corpus` in a seeded stratified 80/10/10
    split, encoded like on-disk data (label names ``negative``, ``positive``)."""
    texts, labels = make_sentiment_corpus(n, seed)
    raw = RawSplit(texts, [GENERATED_LABELS[y] for y in labels])
    parts = assign_splits({"all": raw}, seed, where=GENERATED_SOURCE)
    return build_text_splits(parts, tokenizer, min_freq, max_length, source=GENERATED_SOURCE)
