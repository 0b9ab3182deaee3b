"""Seeded stratified splits and discovery of `train/`, `val/`, `test/` subfolders.

Shared by every task's data loaders: a folder with split subfolders is split
exactly as its subfolders say; anything else gets a seeded, stratified
80/10/10 split from :func:`split_indices`, or, when examples come in groups (a
speaker, a patient, a video's clips), from :func:`group_split_indices`, which keeps
each group on one side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convkit.errors import ConfigError, DataError

SPLIT_NAMES: tuple[str, str, str] = ("train", "val", "test")
"""The three split names, in order; every loader returns its data under these keys."""

DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)
"""Train/val/test fractions used when a dataset brings no split of its own."""

VAL_FRACTION_OF_TRAIN: float = 0.1
"""The share of a given train split that is carved off as validation when no val split exists."""

@dataclass
class Splits:
    """The one split container every task's loaders return: three map-style datasets
    (``train``/``val``/``test``; ``train``/``val`` may be None for evaluation-only
    loads), the ``label_names`` their integer labels index (None for unlabelled data),
    and ``extras``: loader-specific values a task may use (e.g. a background-noise bank
    ``[M, T]``, a vocabulary, a dataset name)."""

    train: Any
    val: Any
    test: Any
    label_names: list[str] | None = None
    extras: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of classes (``len(label_names)``)."""
        return len(self.label_names or [])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input (the first example of the first non-empty split), e.g.
        ``(C, H, W)`` for images or ``(T,)`` for waveforms."""
        dataset = next(d for d in (self.train, self.val, self.test) if d is not None and len(d))
        return tuple(int(n) for n in dataset[0][0].shape)


def remap_labels(labels: Sequence[int] | np.ndarray, names: Sequence[str], target_names: Sequence[str],
                 where: str) -> np.ndarray:
    """Re-index ``labels [N]`` (indices into ``names``) onto ``target_names`` by name: the
    one place that maps the classes of data being evaluated onto a trained model's classes.

    Raises:
        DataError: a class present in ``labels`` that ``target_names`` lacks (the message
            names ``where``, e.g. the file or folder, and the model's classes).
    """
    labels = np.asarray(labels, dtype=np.int64)
    index = {name: i for i, name in enumerate(target_names)}
    present = [str(names[i]) for i in np.unique(labels)] if labels.size else []
    unknown = [name for name in present if name not in index]
    if unknown:
        raise DataError(f"{where}: classes {unknown} are not among the model's classes {list(target_names)}")
    mapping = np.array([index.get(str(name), -1) for name in names], dtype=np.int64)
    return mapping[labels] if labels.size else labels


def check_classes(labels: Sequence[int] | np.ndarray, names: Sequence[str], where: str) -> None:
    """Refuse training labels a classifier cannot learn from, before any model or baseline
    is fitted: fewer than two classes present in ``labels [N]`` (indices into ``names``).
    The one place every classification task checks its training data.

    Raises:
        DataError: one line naming ``where`` (the file or folder) and the one class found.
    """
    present = np.unique(np.asarray(labels, dtype=np.int64))
    if present.size == 0:
        raise DataError(f"{where}: no labelled examples in the training data; expected at least two classes")
    if present.size < 2:
        raise DataError(f"{where}: only one class ({str(names[int(present[0])])!r}) in the training data; "
                        "expected at least two")


def check_split_parts(parts: Sequence[np.ndarray], labels: Sequence[int] | np.ndarray, names: Sequence[str],
                      where: str, part_names: Sequence[str] = SPLIT_NAMES) -> None:
    """Refuse a stratified split (``split_indices``' result) with an empty part, naming
    ``where``, the empty part and why: every class has fewer examples than there are parts
    (the classes are listed, with their counts)."""
    labels = np.asarray(labels)
    for part, name in zip(parts, part_names):
        if len(part) == 0:
            classes, counts = np.unique(labels, return_counts=True)
            small = [f"{str(names[int(c)])!r} ({int(n)})" for c, n in zip(classes, counts) if n < len(parts)]
            shown = ", ".join(small[:5]) + (f" and {len(small) - 5} more" if len(small) > 5 else "")
            raise DataError(f"{where}: the {name} split would be empty: a stratified "
                            f"{'/'.join(part_names)} split needs a class with at least {len(parts)} examples, "
                            f"and every class has fewer: {shown}")


SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}
"""Split names as folders and manifests may spell them (lower case) -> the split."""
_SPLIT_DIR_ALIASES = SPLIT_ALIASES


def split_indices(
    labels: Sequence[int] | np.ndarray,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> tuple[np.ndarray, ...]:
    """Split sample indices into stratified, seeded parts.

    Args:
        labels: class label of each sample, shape ``[N]`` (any hashable ints/strings).
        fractions: the share of each part (e.g. ``(0.8, 0.1, 0.1)``); positive, summing to 1.
        seed: the same labels, fractions and seed always give the same split.

    Returns:
        One sorted ``int64`` index array per fraction; together they are a partition
        of ``range(N)``. Each class is split on its own (largest-remainder rounding,
        ties broken by the seeded generator), so class proportions are kept, and a
        class with at least ``len(fractions)`` samples has at least one in every part.

    Written by hand rather than with sklearn's ``train_test_split`` because that
    refuses tiny classes and splits smaller than the number of classes, which
    small user folders routinely have.
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) < 1 or any(not np.isfinite(f) or f <= 0 for f in fractions):
        raise ConfigError(f"split fractions must be positive numbers; got {fractions}")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(f"split fractions must sum to 1; got {fractions} (sum {sum(fractions):g})")
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise DataError(f"labels must be one-dimensional [N]; got shape {list(labels.shape)}")

    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for cls in np.unique(labels):  # sorted, so the draw order is fixed for a seed
        members = np.flatnonzero(labels == cls)
        members = members[rng.permutation(len(members))]
        counts = _class_counts(len(members), fractions, rng)
        start = 0
        for part, count in zip(parts, counts):
            part.append(members[start:start + count])
            start += count
    return tuple(
        np.sort(np.concatenate(part)).astype(np.int64) if part else np.zeros(0, dtype=np.int64)
        for part in parts
    )


def _class_counts(n: int, fractions: tuple[float, ...], rng: np.random.Generator) -> list[int]:
    """How many of one class's ``n`` samples go to each part (sums to ``n``)."""
    exact = np.array(fractions) * n
    counts = np.floor(exact).astype(int)
    remainder = exact - counts
    # Largest remainder first; a random key breaks ties so no part is favoured on average.
    order = np.lexsort((rng.random(len(fractions)), -remainder))
    for i in order[: n - counts.sum()]:
        counts[i] += 1
    if n >= len(fractions):  # every part gets at least one sample of this class
        for i in np.flatnonzero(counts == 0):
            counts[int(np.argmax(counts))] -= 1
            counts[i] = 1
    return counts.tolist()


def carve_validation(
    labels: Sequence[int] | np.ndarray,
    fraction: float = VAL_FRACTION_OF_TRAIN,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Carve a stratified validation part off a train split.

    Args:
        labels: labels of the train split, shape ``[N]``.
        fraction: share of the train split that becomes validation, in ``(0, 1)``.
        seed: fixes the draw.

    Returns:
        ``(train_indices, val_indices)``, sorted ``int64`` arrays partitioning ``range(N)``.
    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"validation fraction must be between 0 and 1; got {fraction}")
    train, val = split_indices(labels, (1.0 - fraction, fraction), seed)
    return train, val


def group_split_indices(
    labels: Sequence[int] | np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    where: str = "data",
    part_names: Sequence[str] = SPLIT_NAMES,
) -> tuple[np.ndarray, ...]:
    """Split sample indices into seeded parts that never split a group.

    Every sample of a group (a speaker, a patient, a video's clips, a recording session)
    lands in the same part. Groups are placed one at a time, largest first (equal sizes
    in a seeded random order), each into the part where it brings the per-class counts
    closest to their targets (``fraction * class total``; the sum of squared
    differences), so the parts are stratified by label as far as whole groups allow;
    the last groups go to parts that would otherwise stay empty, so every part gets at
    least one group.

    Args:
        labels: class of each sample ``[N]``.
        groups: group of each sample ``[N]`` (any hashable values).
        fractions: the share of each part (positive, summing to 1).
        seed: the same labels, groups, fractions and seed always give the same split.
        where: names the data in errors (a file or folder, and the grouping field).
        part_names: the parts' names, for the error (``("train", "val", "test")``).

    Returns:
        One sorted ``int64`` index array per fraction, together a partition of ``range(N)``.

    Raises:
        ConfigError: bad fractions.
        DataError: fewer groups than parts (one line naming ``where``, the groups and
            how many are needed), or ``labels`` and ``groups`` of different lengths.
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) < 1 or any(not np.isfinite(f) or f <= 0 for f in fractions):
        raise ConfigError(f"split fractions must be positive numbers; got {fractions}")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(f"split fractions must sum to 1; got {fractions} (sum {sum(fractions):g})")
    labels, groups = np.asarray(labels), np.asarray(groups)
    if labels.ndim != 1 or groups.shape != labels.shape:
        raise DataError(f"{where}: labels and groups must both be [N]; got shapes {list(labels.shape)} "
                        f"and {list(groups.shape)}")
    names, group_of = np.unique(groups, return_inverse=True)
    parts = len(fractions)
    if len(names) < parts:
        shown = ", ".join(repr(str(n)) for n in names[:5])
        raise DataError(f"{where}: {len(names)} group{'s' if len(names) != 1 else ''} ({shown}) cannot fill a "
                        f"{'/'.join(part_names)} split that keeps each group on one side; need at least {parts}")
    _, label_of = np.unique(labels, return_inverse=True)
    counts = np.zeros((len(names), int(label_of.max()) + 1 if labels.size else 0))
    np.add.at(counts, (group_of, label_of), 1)  # [groups, classes]
    target = np.outer(fractions, counts.sum(0))  # [parts, classes]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    order = order[np.argsort(-counts[order].sum(1), kind="stable")]  # largest first, ties seeded
    have = np.zeros_like(target)
    filled = np.zeros(parts, dtype=np.int64)
    part_of = np.empty(len(names), dtype=np.int64)
    for placed, g in enumerate(order):
        empty = np.flatnonzero(filled == 0)
        choices = empty if len(names) - placed <= len(empty) else np.arange(parts)
        cost = ((have[choices] + counts[g] - target[choices]) ** 2).sum(1) - \
            ((have[choices] - target[choices]) ** 2).sum(1)
        best = int(choices[int(np.argmin(cost))])
        part_of[g] = best
        have[best] += counts[g]
        filled[best] += 1
    sample_part = part_of[group_of]
    return tuple(np.flatnonzero(sample_part == p).astype(np.int64) for p in range(parts))


def find_split_dirs(path: str | Path) -> dict[str, Path] | None:
    """Find split subfolders of a dataset folder.

    Args:
        path: a dataset folder.

    Returns:
        ``{"train": Path, "val": Path, "test": Path}`` restricted to the subfolders
        that exist (``valid/`` and ``validation/`` count as ``val``; names are
        matched case-insensitively), or ``None`` when the folder has none of them
        (or ``path`` is not a folder).

    Raises:
        DataError: two subfolders name the same split (e.g. ``val/`` and ``validation/``).
    """
    root = Path(path)
    if not root.is_dir():
        return None
    found: dict[str, Path] = {}
    for child in sorted(root.iterdir()):
        split = _SPLIT_DIR_ALIASES.get(child.name.lower())
        if split is None or not child.is_dir():
            continue
        if split in found:
            raise DataError(
                f"{root}: both {found[split].name}/ and {child.name}/ name the {split} split; keep one"
            )
        found[split] = child
    if not found:
        return None
    return {name: found[name] for name in SPLIT_NAMES if name in found}


def existing_dir(path: str | Path, expected: str, allow_empty: bool = True) -> Path:
    """``path`` as a Path if it is an existing folder (non-empty unless ``allow_empty``);
    else a DataError naming it and saying what was ``expected``."""
    root = Path(path)
    if not root.exists():
        raise DataError(f"{root}: no such folder; expected {expected}")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; expected {expected}")
    if not allow_empty and not any(root.iterdir()):
        raise DataError(f"{root}: empty folder; expected {expected}")
    return root
