"""Text datasets: tokenizer, vocabulary, on-disk sentence-classification formats and
pretrained word vectors (the generated default corpus is ``synthetic.py``).

Pipeline: raw sentences and string labels are read per split; the tokenizer turns each
sentence into tokens (Kim 2014's ``clean_str`` by default: lower-case, contractions and
punctuation split off; ``whitespace``; or ``char`` for character-level models); the
:class:`Vocabulary` is built from the training split only (``min_freq``, ``<pad>`` = 0,
``<unk>`` = 1); every split becomes a :class:`TokenDataset` of int64 id sequences,
truncated at ``max_length`` (the count is reported once). Batches are padded by
:func:`pad_batch` to ``(tokens [N, L] int64, labels [N] int64)`` with ``<pad>``.

On-disk formats (``--data PATH``), detected from the contents:

* a TSV/CSV table with a header naming the text column (``text`` or ``sentence``) and
  ``label`` (GLUE SST-2's layout); labels may be strings or integers, their names are kept;
  rows with a missing label or empty text are skipped and counted;
* the rt-polarity pair ``*.pos`` / ``*.neg`` (one sentence a line, latin-1; Kim's MR);
* the aclImdb layout: ``pos/``, ``neg/`` (any class) folders of one ``.txt`` review each,
  under ``train/`` and ``test/`` (``unsup/`` is ignored, ``<br />`` becomes a space);
* split files ``train.*``, ``val.*`` (or ``dev``/``valid``/``validation``), ``test.*``, or
  ``train/``, ``val/``, ``test/`` folders holding any of the above: used as given; a
  missing val split is carved from train (10%, seeded, stratified); a source with no
  splits gets a seeded stratified 80/10/10 split, or ``cv_folds`` stratified folds.

Word vectors (:func:`vectors_for_vocab`): word2vec text (``count dim`` header) and binary
(``.bin``), and GloVe text (no header); words of the vocabulary missing from the file are
drawn from U[-0.25, 0.25] (Kim 2014).
"""

from __future__ import annotations

import csv
import re
import typing
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from convkit.data.splits import (
    DEFAULT_FRACTIONS,
    SPLIT_NAMES,
    VAL_FRACTION_OF_TRAIN,
    Splits,
    carve_validation,
    check_classes,
    check_split_parts,
    split_indices,
)
from convkit.errors import ConfigError, DataError

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
"""The two reserved vocabulary entries and their ids (every vocabulary starts with them)."""

Tokenizer = Literal["kim", "whitespace", "char"]
"""The tokenizers: ``kim``: Kim 2014's ``clean_str`` then split; ``whitespace``: split on
white space as is; ``char``: the lower-cased characters (Zhang et al. 2015)."""

TOKENIZERS: tuple[str, ...] = typing.get_args(Tokenizer)
"""The names of :data:`Tokenizer`, in order."""

TABLE_SUFFIXES = (".tsv", ".csv")
TEXT_COLUMNS = ("text", "sentence")
LABEL_COLUMN = "label"
SPLIT_FILE_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "dev": "val",
                      "test": "test"}
"""File stems (or folder names) that name a split."""

UNLABELLED_DIRS = frozenset({"unsup"})
"""Class-folder names skipped as unlabelled (aclImdb's ``train/unsup``)."""

DEFAULT_ENCODING = {"table": "utf-8", "rt-polarity": "latin-1", "folders": "utf-8"}
"""The encoding each format is read with when ``encoding="auto"``."""

UNIFORM_INIT = 0.25
"""Words without a pretrained vector are drawn from U[-0.25, 0.25] (Kim 2014)."""

MAX_FIELD_CHARS = 10_000_000
"""The longest field a TSV/CSV table may hold, in characters (Python's csv module stops at
131,072 by default, less than some reviews). Ten million characters is longer than any
book; a longer field is almost always a CSV quote that is never closed, and is refused
naming the file and the line where its row starts."""

_FORMAT_HELP = ("a TSV/CSV with a header naming `text` or `sentence` and `label`, an rt-polarity "
                "*.pos/*.neg pair, <class>/*.txt folders (aclImdb), or train/val/test files or folders of these")


# --------------------------------------------------------------------------- tokens


KIM_REMOVE = r"[^A-Za-z0-9(),!?'`]"
"""Characters Kim's ``clean_str`` turns into spaces (all but letters, digits and ``(),!?'` ``)."""

KIM_SUFFIXES = ("'s", "'ve", "n't", "'re", "'d", "'ll")
"""Contractions ``clean_str`` splits off as tokens of their own, in this order."""

KIM_MARKS = (",", "!", "(", ")", "?")
"""Punctuation ``clean_str`` makes tokens of their own, in this order."""


def clean_str(text: str) -> str:
    """Kim 2014's sentence clean-up (``clean_str`` of his ``process_data.py``): keep letters,
    digits and ``(),!?'` `` (:data:`KIM_REMOVE`), split contractions (:data:`KIM_SUFFIXES`)
    and punctuation (:data:`KIM_MARKS`) into their own tokens, squeeze spaces, lower-case.
    One change: Kim's code writes ``\\(`` for a parenthesis (a regex-replacement quirk);
    here it stays ``(``."""
    text = re.sub(KIM_REMOVE, " ", text)
    for suffix in KIM_SUFFIXES:
        text = text.replace(suffix, " " + suffix)
    for mark in KIM_MARKS:
        text = text.replace(mark, f" {mark} ")
    return re.sub(r"\s{2,}", " ", text).strip().lower()


def tokenize(text: str, tokenizer: str = "kim") -> list[str]:
    """One sentence -> tokens, by ``tokenizer`` (see :data:`TOKENIZERS`)."""
    if tokenizer == "kim":
        return clean_str(text).split()
    if tokenizer == "whitespace":
        return text.split()
    if tokenizer == "char":
        return list(" ".join(text.lower().split()))
    raise ConfigError(f"data.tokenizer must be one of {', '.join(TOKENIZERS)}; got {tokenizer!r}")


def tokenizer_settings(tokenizer: str) -> dict:
    """What :func:`tokenize` does for ``tokenizer``, as plain values another program can
    follow (exported models carry it): ``tokenizer``, ``lowercase``, and for ``kim`` the
    steps of :func:`clean_str` in order (replace ``remove_regex`` matches by a space, put
    a space before each of ``split_off_suffixes``, spaces around each of
    ``split_off_marks``, lower-case, split on white space)."""
    if tokenizer == "kim":
        return {"tokenizer": "kim", "lowercase": True,
                "kim": {"remove_regex": KIM_REMOVE, "split_off_suffixes": list(KIM_SUFFIXES),
                        "split_off_marks": list(KIM_MARKS)},
                "split": "white space, after the kim steps and lower-casing"}
    if tokenizer == "whitespace":
        return {"tokenizer": "whitespace", "lowercase": False, "split": "white space"}
    if tokenizer == "char":
        return {"tokenizer": "char", "lowercase": True,
                "split": "characters, after lower-casing and squeezing white space runs to one space"}
    raise ConfigError(f"data.tokenizer must be one of {', '.join(TOKENIZERS)}; got {tokenizer!r}")


class Vocabulary:
    """Token <-> id. Id 0 is ``<pad>``, 1 is ``<unk>``; the rest by descending training
    frequency (ties alphabetical), so the same corpus always gives the same ids.

    Stored in checkpoints as the plain list ``itos`` (:meth:`to_list` / :meth:`from_list`).
    """

    def __init__(self, itos: Sequence[str]) -> None:
        itos = [str(t) for t in itos]
        if itos[:2] != [PAD, UNK]:
            raise DataError(f"a vocabulary must start with {PAD!r}, {UNK!r}; got {itos[:2]}")
        if len(set(itos)) != len(itos):
            raise DataError("a vocabulary must not repeat a token")
        self.itos = itos
        self.stoi = {t: i for i, t in enumerate(itos)}

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_freq: int = 1, max_size: int = 0) -> "Vocabulary":
        """From tokenized training sentences: tokens seen at least ``min_freq`` times, the
        ``max_size`` most frequent (0: all) besides ``<pad>``/``<unk>``."""
        if min_freq < 1:
            raise ConfigError(f"data.min_freq must be at least 1; got {min_freq}")
        counts = Counter(t for tokens in token_lists for t in tokens)
        kept = sorted((t for t, c in counts.items() if c >= min_freq and t not in (PAD, UNK)),
                      key=lambda t: (-counts[t], t))
        return cls([PAD, UNK] + (kept[:max_size] if max_size > 0 else kept))

    @classmethod
    def from_list(cls, itos: Sequence[str]) -> "Vocabulary":
        """The vocabulary stored by :meth:`to_list`."""
        return cls(itos)

    def to_list(self) -> list[str]:
        """``itos``: token of each id (what checkpoints store)."""
        return list(self.itos)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Tokens -> ids (unknown tokens -> ``<unk>``)."""
        return [self.stoi.get(t, UNK_ID) for t in tokens]

    def __len__(self) -> int:
        return len(self.itos)


class TokenDataset(Dataset):
    """Encoded sentences: item ``i`` is ``(ids int64 [L_i], label int64 [])``.

    ``texts`` keeps the raw sentences (for the TF-IDF baseline and for reports).
    """

    def __init__(self, ids: list[list[int]], labels: Sequence[int], texts: list[str]) -> None:
        if not (len(ids) == len(labels) == len(texts)):
            raise ValueError("ids, labels and texts must have one entry per sentence")
        self.ids = [torch.tensor(seq, dtype=torch.int64) for seq in ids]
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        self.texts = list(texts)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.ids[i], self.labels[i]


def pad_batch(batch: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Collate ``[(ids [L_i], label)]`` -> ``(tokens int64 [N, max L_i], labels int64 [N])``,
    right-padded with ``<pad>`` (at least one column, so an empty sentence is one pad)."""
    length = max([1] + [len(ids) for ids, _ in batch])
    tokens = torch.full((len(batch), length), PAD_ID, dtype=torch.int64)
    for row, (ids, _) in enumerate(batch):
        tokens[row, :len(ids)] = ids
    return tokens, torch.stack([torch.as_tensor(label, dtype=torch.int64) for _, label in batch])


def encode_sentence(text: str, vocab: Vocabulary, tokenizer: str, max_length: int) -> tuple[list[int], int]:
    """Tokenize and encode one sentence, cut at its first ``max_length`` tokens: ``(ids,
    number of tokens before the cut)``."""
    tokens = tokenize(text, tokenizer)
    return vocab.encode(tokens[:max_length]), len(tokens)


def encode_texts(texts: Sequence[str], vocab: Vocabulary, tokenizer: str,
                 max_length: int) -> tuple[list[list[int]], int]:
    """Tokenize and encode sentences, truncating each at ``max_length`` tokens: ``(ids,
    number truncated)``."""
    if max_length < 1:
        raise ConfigError(f"data.max_length must be at least 1; got {max_length}")
    ids, truncated = [], 0
    for text in texts:
        encoded, length = encode_sentence(text, vocab, tokenizer, max_length)
        truncated += length > max_length
        ids.append(encoded)
    return ids, truncated


def _warn_truncated(source: str, truncated: int, total: int, max_length: int) -> None:
    """Say once how many sentences were cut at ``max_length``."""
    if truncated:
        warnings.warn(f"{source}: truncated {truncated} of {total} sentences to data.max_length={max_length} "
                      "tokens", stacklevel=3)


# --------------------------------------------------------------------------- reading files


@dataclass
class RawSplit:
    """One split as read: sentences and their labels as strings (``[N]`` each), and the
    file or folder they came from (named in errors)."""

    texts: list[str]
    labels: list[str]
    source: str = ""


def read_lines(path: str | Path, encoding: str = "utf-8") -> list[str]:
    """The lines of a text file, decoded. Raises DataError for a missing or empty file, or
    one that is not valid ``encoding`` (naming the first bad line and the way out)."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such file; expected {_FORMAT_HELP}")
    raw = file.read_bytes()
    if not raw.strip():
        raise DataError(f"{file}: empty file; expected {_FORMAT_HELP}")
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        text = raw.decode(codec)
    except LookupError:
        raise ConfigError(f"data.encoding: unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise DataError(f"{file}: line {line} is not valid {encoding} (byte 0x{raw[err.start]:02x}); "
                        "re-encode the file or set the encoding, e.g. --set data.encoding=latin-1") from None
    return text.splitlines()


def read_table(path: str | Path, encoding: str = "utf-8") -> RawSplit:
    """A TSV (tab-separated, unquoted, as GLUE) or CSV (quoted) table with a header naming
    the text column (``text`` or ``sentence``) and ``label``. Rows with a missing label or
    empty text are skipped and counted (one warning)."""
    file = Path(path)
    lines = read_lines(file, encoding)
    tab = file.suffix.lower() == ".tsv" or (file.suffix.lower() != ".csv" and "\t" in lines[0])
    rows = _table_rows(file, lines, tab)
    header = [h.strip().lower() for h in rows[0]]
    text_col = next((header.index(c) for c in TEXT_COLUMNS if c in header), None)
    if text_col is None or LABEL_COLUMN not in header:
        raise DataError(f"{file}: header {rows[0]} must name a text column ({' or '.join(TEXT_COLUMNS)}) "
                        f"and {LABEL_COLUMN!r}")
    label_col = header.index(LABEL_COLUMN)
    texts, labels, skipped, first_skipped = [], [], 0, None
    for number, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue  # blank line
        text = row[text_col].strip() if text_col < len(row) else ""
        label = row[label_col].strip() if label_col < len(row) else ""
        if not text or not label:
            skipped += 1
            first_skipped = first_skipped or number
            continue
        texts.append(text)
        labels.append(label)
    if skipped:
        warnings.warn(f"{file}: skipped {skipped} rows with a missing label or empty text "
                      f"(first: line {first_skipped})", stacklevel=2)
    if not texts:
        raise DataError(f"{file}: no rows with both text and a label")
    return RawSplit(texts, labels, str(file))


def _table_rows(file: Path, lines: list[str], tab: bool) -> list[list[str]]:
    """The rows of a table's lines: tab-separated and unquoted (``tab``) or CSV. Fields
    may hold up to :data:`MAX_FIELD_CHARS` characters; a longer one, or a line the csv
    module cannot parse, is a DataError naming the file and the line its row starts on."""
    reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE) if tab else csv.reader(lines)
    rows: list[list[str]] = []
    start = 1  # the line the next row starts on
    saved = csv.field_size_limit(MAX_FIELD_CHARS)  # the limit is the csv module's, process-wide
    try:
        for row in reader:
            rows.append(row)
            start = reader.line_num + 1
    except csv.Error as err:
        if "field limit" in str(err):
            cause = "" if tab else ("; is there an unclosed quote on that line? (the field then runs on through "
                                    "the file)")
            raise DataError(f"{file}: line {start} has a field longer than {MAX_FIELD_CHARS:,} characters, the most "
                            f"a text may hold{cause}") from None
        raise DataError(f"{file}: line {start} is not a valid {'TSV' if tab else 'CSV'} row ({err})") from None
    finally:
        csv.field_size_limit(saved)
    return rows


def read_polarity_pair(pos: str | Path, neg: str | Path, encoding: str = "latin-1") -> RawSplit:
    """The rt-polarity pair: one sentence a line in ``*.pos`` (label ``pos``) and ``*.neg``
    (label ``neg``); blank lines skipped."""
    texts, labels = [], []
    for path, label in ((neg, "neg"), (pos, "pos")):
        lines = [line.strip() for line in read_lines(path, encoding)]
        kept = [line for line in lines if line]
        texts += kept
        labels += [label] * len(kept)
    return RawSplit(texts, labels, str(Path(pos).parent))


def read_class_folders(root: str | Path, encoding: str = "utf-8") -> RawSplit:
    """``<class>/<doc>.txt`` (aclImdb's ``pos/``, ``neg/``): one document per file, the
    folder name its label; ``<br />`` tags become spaces; ``unsup/`` is skipped."""
    root = Path(root)
    texts, labels = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in UNLABELLED_DIRS):
        for file in sorted(folder.glob("*.txt")):
            text = " ".join(read_lines(file, encoding)).replace("<br />", " ").strip()
            if text:
                texts.append(text)
                labels.append(folder.name)
    if not texts:
        raise DataError(f"{root}: no <class>/*.txt documents found; expected {_FORMAT_HELP}")
    return RawSplit(texts, labels, str(root))


def read_source(path: str | Path, encoding: str = "auto") -> RawSplit:
    """Read one split source: a table file, or a folder holding an rt-polarity pair, one
    table file, or class folders of ``.txt`` documents. ``encoding="auto"``: each format's
    own (:data:`DEFAULT_ENCODING`)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; expected {_FORMAT_HELP}")

    def enc(kind: str) -> str:
        return DEFAULT_ENCODING[kind] if encoding == "auto" else encoding

    if path.is_file():
        return read_table(path, enc("table"))
    pos, neg = sorted(path.glob("*.pos")), sorted(path.glob("*.neg"))
    if pos or neg:
        if len(pos) != 1 or len(neg) != 1:
            raise DataError(f"{path}: expected exactly one *.pos and one *.neg file (rt-polarity); "
                            f"found {len(pos)} and {len(neg)}")
        return read_polarity_pair(pos[0], neg[0], enc("rt-polarity"))
    tables = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES)
    if len(tables) == 1:
        return read_table(tables[0], enc("table"))
    if len(tables) > 1:
        raise DataError(f"{path}: several tables ({', '.join(p.name for p in tables)}); name the splits "
                        "train/val/test or pass one file")
    if any(p.is_dir() for p in path.iterdir()):
        return read_class_folders(path, enc("folders"))
    raise DataError(f"{path}: no text data found; expected {_FORMAT_HELP}")


def read_splits(path: str | Path, encoding: str = "auto") -> dict[str, RawSplit]:
    """The splits a path gives as they are: ``{"train": ..., "val": ..., "test": ...}`` for
    split files (``train.tsv``, ``dev.tsv``, ...) or split folders (``train/``, ``test/``,
    ...); ``{"all": ...}`` for a single source."""
    root = Path(path)
    if root.is_dir():
        found: dict[str, Path] = {}
        for child in sorted(root.iterdir()):
            is_table = child.is_file() and child.suffix.lower() in TABLE_SUFFIXES
            split = SPLIT_FILE_ALIASES.get((child.stem if is_table else child.name).lower())
            if split is None or not (is_table or child.is_dir()):
                continue
            if split in found:
                raise DataError(f"{root}: both {found[split].name} and {child.name} name the {split} split; keep one")
            found[split] = child
        if found:
            if "train" not in found:
                raise DataError(f"{root}: has {', '.join(p.name for p in found.values())} but no train split")
            return {name: read_source(p, encoding) for name, p in found.items()}
    return {"all": read_source(root, encoding)}


def read_unlabeled(path: str | Path, encoding: str = "auto") -> list[str]:
    """Unlabeled text for training word vectors (``data.unlabeled``): a ``.txt`` file (one
    sentence or document a line), a folder of them (searched below), or a TSV/CSV table
    with a text column (``text`` or ``sentence``; a label column is not needed). Blank lines
    are skipped; UTF-8 unless ``encoding`` names another codec."""
    path = Path(path)
    codec = "utf-8" if encoding == "auto" else encoding
    if path.is_dir():
        files = sorted(f for f in path.rglob("*.txt") if f.is_file())
        if not files:
            raise DataError(f"{path}: no .txt files found (data.unlabeled: a .txt file, a folder of them, or a "
                            "TSV/CSV with a text column)")
        return [line.strip() for f in files for line in read_lines(f, codec) if line.strip()]
    if path.suffix.lower() in TABLE_SUFFIXES:
        lines = read_lines(path, codec)
        rows = _table_rows(path, lines, path.suffix.lower() == ".tsv")
        header = [h.strip().lower() for h in rows[0]]
        column = next((header.index(c) for c in TEXT_COLUMNS if c in header), None)
        if column is None:
            raise DataError(f"{path}: header {rows[0]} must name a text column ({' or '.join(TEXT_COLUMNS)})")
        return [row[column].strip() for row in rows[1:] if column < len(row) and row[column].strip()]
    return [line.strip() for line in read_lines(path, codec) if line.strip()]


# --------------------------------------------------------------------------- datasets


def sorted_label_names(labels: Iterable[str]) -> list[str]:
    """Distinct labels, numerically sorted when all are integers (``"0" < "1" < "10"``),
    else alphabetically."""
    names = set(labels)
    if all(re.fullmatch(r"[+-]?\d+", n) for n in names):
        return sorted(names, key=int)
    return sorted(names)


def assign_splits(raw: dict[str, RawSplit], seed: int = 0, cv_folds: int = 0, fold: int = 0,
                  where: str = "data") -> dict[str, RawSplit]:
    """Train/val/test from the splits a path gives: given splits are kept; a missing val is
    carved from train (10%), a missing test too; a single source gets a stratified
    80/10/10 split, or with ``cv_folds`` > 1 fold ``fold`` of that many stratified folds
    is the test split (all given splits pooled) and 10% of the rest is val.

    Raises:
        DataError: a part that would be empty (every class too small to reach it), naming
            the source (``where`` when the splits do not name theirs) and the classes.
    """
    if cv_folds == 1 or cv_folds < 0:
        raise ConfigError(f"data.cv_folds must be 0 (off) or at least 2; got {cv_folds}")
    if cv_folds and not 0 <= fold < cv_folds:
        raise ConfigError(f"data.fold must be in [0, {cv_folds}); got {fold}")
    if cv_folds or "all" in raw:
        pooled = _concat(list(raw.values()), where)
        if cv_folds:
            folds = split_indices(pooled.labels, [1.0 / cv_folds] * cv_folds, seed)
            _check_parts(folds, pooled.labels, pooled.source, [f"fold{k}" for k in range(cv_folds)])
            rest = np.sort(np.concatenate([f for i, f in enumerate(folds) if i != fold]))
            kept = [pooled.labels[i] for i in rest]
            tr, va = carve_validation(kept, VAL_FRACTION_OF_TRAIN, seed)
            _check_parts((tr, va), kept, pooled.source, ("train", "val"))
            parts = (rest[tr], rest[va], folds[fold])
        else:
            parts = split_indices(pooled.labels, DEFAULT_FRACTIONS, seed)
            _check_parts(parts, pooled.labels, pooled.source, SPLIT_NAMES)
        return {name: _take(pooled, idx) for name, idx in zip(SPLIT_NAMES, parts)}
    out = dict(raw)
    for missing in ("test", "val"):
        if missing not in out:
            train = out["train"]
            tr, held = carve_validation(train.labels, VAL_FRACTION_OF_TRAIN, seed)
            _check_parts((tr, held), train.labels, train.source or where, ("train", missing))
            out[missing], out["train"] = _take(train, held), _take(train, tr)
    return {name: out[name] for name in SPLIT_NAMES}


def _check_parts(parts: Sequence[np.ndarray], labels: Sequence[str], where: str, part_names: Sequence[str]) -> None:
    """``check_split_parts`` for string labels."""
    names = sorted_label_names(labels)
    index = {name: i for i, name in enumerate(names)}
    check_split_parts(parts, [index[label] for label in labels], names, where, part_names)


def build_text_splits(raw: dict[str, RawSplit], tokenizer: str = "kim", min_freq: int = 1,
                      max_length: int = 100, max_vocab: int = 0, source: str = "data") -> Splits:
    """Encode train/val/test raw splits: the vocabulary from train only, label names from
    train (sorted), datasets of ids. ``extras["vocab"]`` is the :class:`Vocabulary`.

    Raises:
        DataError: a single class in train, or a val/test label train lacks.
    """
    names = sorted_label_names(raw["train"].labels)
    index = {n: i for i, n in enumerate(names)}
    check_classes([index[label] for label in raw["train"].labels], names, raw["train"].source or source)
    vocab = Vocabulary.build((tokenize(t, tokenizer) for t in raw["train"].texts), min_freq, max_vocab)
    datasets, truncated = [], 0
    for split in SPLIT_NAMES:
        part = raw[split]
        unknown = sorted(set(part.labels) - set(index))
        if unknown:
            raise DataError(f"{source}: {split} labels {unknown} do not occur in the training data {names}")
        ids, cut = encode_texts(part.texts, vocab, tokenizer, max_length)
        truncated += cut
        datasets.append(TokenDataset(ids, [index[label] for label in part.labels], part.texts))
    _warn_truncated(source, truncated, sum(len(d) for d in datasets), max_length)
    return Splits(*datasets, label_names=names, extras={"vocab": vocab})


def load_text_dataset(path: str | Path, tokenizer: str = "kim", min_freq: int = 1, max_length: int = 100,
                      max_vocab: int = 0, encoding: str = "auto", seed: int = 0, cv_folds: int = 0,
                      fold: int = 0) -> Splits:
    """Read an on-disk dataset (see the module docstring) into encoded train/val/test
    :class:`TokenDataset` splits; ``extras["vocab"]`` holds the training vocabulary."""
    raw = assign_splits(read_splits(path, encoding), seed, cv_folds, fold, str(path))
    return build_text_splits(raw, tokenizer, min_freq, max_length, max_vocab, str(path))


def load_text_eval_set(path: str | Path, vocab: Vocabulary, label_names: Sequence[str], tokenizer: str = "kim",
                       max_length: int = 100, encoding: str = "auto") -> TokenDataset:
    """All of ``path`` (its test split when it has one), encoded with a trained model's
    vocabulary and labelled by its ``label_names`` (a label it lacks is a DataError)."""
    raw = read_splits(path, encoding)
    part = raw.get("test") or _concat(list(raw.values()))
    index = {str(n): i for i, n in enumerate(label_names)}
    unknown = sorted(set(part.labels) - set(index))
    if unknown:
        raise DataError(f"{path}: labels {unknown} are not among the model's classes {list(label_names)}")
    ids, truncated = encode_texts(part.texts, vocab, tokenizer, max_length)
    _warn_truncated(str(path), truncated, len(ids), max_length)
    return TokenDataset(ids, [index[label] for label in part.labels], part.texts)


def _concat(parts: list[RawSplit], where: str = "") -> RawSplit:
    """The splits pooled; their source is ``where`` unless there is one part."""
    source = parts[0].source if len(parts) == 1 and parts[0].source else where
    return RawSplit([t for p in parts for t in p.texts], [label for p in parts for label in p.labels], source)


def _take(part: RawSplit, idx: np.ndarray) -> RawSplit:
    return RawSplit([part.texts[i] for i in idx], [part.labels[i] for i in idx], part.source)


# --------------------------------------------------------------------------- word vectors


def vectors_for_vocab(path: str | Path, vocab: Vocabulary, dim: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """The embedding matrix ``[len(vocab), dim]`` float32 for ``vocab`` from a word-vector
    file: word2vec binary (``.bin``), word2vec text (first line ``count dim``) or GloVe
    text (no header). A word found exactly takes its vector, else one found by
    lower-case match; the rest are drawn from U[-0.25, 0.25] (seeded); ``<pad>`` is zero.

    Returns:
        ``(matrix, found)``: the matrix and how many vocabulary words had a vector.

    Raises:
        DataError: the file is missing or empty, its dimension is not ``dim``, or a line
            (entry) is malformed; the message names the file and the line.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: word-vector file not found (data.vectors); expected word2vec (.bin or text) "
                        "or GloVe text")
    if file.stat().st_size == 0:
        raise DataError(f"{file}: empty word-vector file")
    wanted = {w: i for i, w in enumerate(vocab.itos) if i >= 2}
    lower = {w.lower(): i for w, i in reversed(list(wanted.items()))}
    reader = _read_word2vec_binary if file.suffix.lower() == ".bin" else _read_text_vectors
    exact: dict[int, np.ndarray] = {}
    folded: dict[int, np.ndarray] = {}
    for word, vector_fn in reader(file, dim):
        if word in wanted:
            exact[wanted[word]] = vector_fn()
        elif (i := lower.get(word.lower())) is not None and i not in folded:
            folded[i] = vector_fn()
    rng = np.random.default_rng(seed)
    matrix = rng.uniform(-UNIFORM_INIT, UNIFORM_INIT, (len(vocab), dim)).astype(np.float32)
    matrix[PAD_ID] = 0.0
    found = {**folded, **exact}
    for i, vector in found.items():
        matrix[i] = vector
    return matrix, len(found)


def _read_text_vectors(file: Path, dim: int):
    """Yield ``(word, get_vector)`` from word2vec text or GloVe text; checks every line's
    value count (the last ``dim`` fields are values, so words with spaces work)."""
    first = True
    with file.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise DataError(f"{file}: line {number} is not valid UTF-8") from None
            parts = line.rstrip().split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                if int(parts[1]) != dim:
                    raise DataError(f"{file}: line 1 declares {parts[1]}-dimensional vectors; the model's "
                                    f"embed_dim is {dim}")
                continue
            if not line.strip():
                continue
            if len(parts) - 1 != dim:
                if first and len(parts) > 2 and _all_floats(parts[1:]):
                    raise DataError(f"{file}: line {number} has {len(parts) - 1}-dimensional vectors; the "
                                    f"model's embed_dim is {dim}")
                if len(parts) - 1 < dim or not _all_floats(parts[-dim:]):
                    raise DataError(f"{file}: line {number} is malformed: expected a word and {dim} numbers, "
                                    f"got {len(parts)} fields")
            first = False
            word, values = " ".join(parts[:-dim]), parts[-dim:]
            yield word, _parser(values, file, number)


def _all_floats(values: list[str]) -> bool:
    try:
        [float(v) for v in values]
    except ValueError:
        return False
    return True


def _parser(values: list[str], file: Path, number: int):
    def parse() -> np.ndarray:
        try:
            return np.array([float(v) for v in values], dtype=np.float32)
        except ValueError:
            raise DataError(f"{file}: line {number} is malformed: a value is not a number") from None
    return parse


def _read_word2vec_binary(file: Path, dim: int):
    """Yield ``(word, get_vector)`` from word2vec's binary format: a ``count dim`` text
    line, then per word its UTF-8 bytes, a space and ``dim`` little-endian float32."""
    with file.open("rb") as stream:
        header = stream.readline().split()
        if len(header) != 2 or not all(h.isdigit() for h in header):
            raise DataError(f"{file}: line 1 must be '<count> <dim>' (word2vec binary); got {header[:3]}")
        count, file_dim = int(header[0]), int(header[1])
        if file_dim != dim:
            raise DataError(f"{file}: line 1 declares {file_dim}-dimensional vectors; the model's embed_dim is {dim}")
        size = 4 * dim
        for entry in range(1, count + 1):
            word = bytearray()
            while (ch := stream.read(1)) != b" ":
                if not ch:
                    raise DataError(f"{file}: entry {entry} of {count} is truncated (file ends in a word)")
                if ch != b"\n":
                    word += ch
            blob = stream.read(size)
            if len(blob) != size:
                raise DataError(f"{file}: entry {entry} of {count} is truncated ({len(blob)} of {size} bytes)")
            yield word.decode("utf-8", errors="replace"), (lambda b=blob: np.frombuffer(b, "<f4").astype(np.float32))


def write_word2vec_binary(path: str | Path, words: Sequence[str], vectors: np.ndarray) -> None:
    """Write ``vectors [len(words), dim]`` in word2vec's binary format (for tests and
    for converting a text file once)."""
    vectors = np.asarray(vectors, dtype="<f4")
    with Path(path).open("wb") as stream:
        stream.write(f"{len(words)} {vectors.shape[1]}\n".encode())
        for word, vector in zip(words, vectors):
            stream.write(word.encode("utf-8") + b" " + vector.tobytes() + b"\n")


# --------------------------------------------------------------------------- writing


def write_tsv(path: str | Path, texts: Sequence[str], labels: Sequence[str]) -> Path:
    """Write ``sentence<TAB>label`` rows under that header (GLUE's layout), atomically;
    tabs and line breaks inside a text become spaces."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    rows = "".join(f"{' '.join(t.split())}\t{label}\n" for t, label in zip(texts, labels))
    tmp.write_text("sentence\tlabel\n" + rows, encoding="utf-8")
    tmp.replace(path)
    return path
