"""Whole-series classification data (``task.mode = "classify"``).

Embedded default, offline and deterministic: :func:`make_shape_series`, four classes of
noisy waveforms (sine, square, sawtooth, a Gaussian bump on noise) with random frequency,
phase, amplitude and offset. From disk: UCR/UEA classification archives read by
:mod:`convkit.data.timeseries` (``.ts`` or ``.tsv``): a folder with
``<Problem>_TRAIN`` and ``<Problem>_TEST`` files, or one of them next to the other (the
official split: TEST is the test split, validation is carved off TRAIN, stratified), or one
file alone (a stratified 80/10/10 split). Unequal-length series are z-normalised over their
own length and zero-padded (never truncated).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from convkit.data.splits import (
    Splits,
    carve_validation,
    check_classes,
    check_split_parts,
    remap_labels,
    split_indices,
)
from convkit.data.timeseries import ClassificationData, load_classification, load_classification_splits
from convkit.errors import ConfigError, DataError

SHAPES: tuple[str, ...] = ("sine", "square", "sawtooth", "bump")
"""The classes of the embedded default, in label order."""


def make_shape_series(n: int = 600, length: int = 128, seed: int = 0, noise: float = 0.3) -> ClassificationData:
    """``n`` univariate series ``[n, 1, length]`` of the four :data:`SHAPES` (balanced, shuffled).

    Waveforms have 2-6 periods per series, a random phase, amplitude 0.5-2 and offset
    in [-1, 1]; the bump class is Gaussian noise plus one bump (width 3-8% of the series)
    at a random place. ``noise`` is the standard deviation of the added white noise.
    """
    if n < len(SHAPES) or length < 16:
        raise ConfigError(f"shape series need n >= {len(SHAPES)} and length >= 16; got n={n}, length={length}")
    from scipy import signal

    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(SHAPES))
    t = np.linspace(0.0, 1.0, length, endpoint=False)[None, :]
    periods = rng.uniform(2.0, 6.0, (n, 1))
    phase = 2 * np.pi * (periods * t + rng.uniform(0, 1, (n, 1)))
    amplitude = rng.uniform(0.5, 2.0, (n, 1))
    wave = np.select([y[:, None] == 0, y[:, None] == 1, y[:, None] == 2],
                     [np.sin(phase), signal.square(phase), signal.sawtooth(phase)], default=0.0)
    centre, width = rng.uniform(0.1, 0.9, (n, 1)), rng.uniform(0.03, 0.08, (n, 1))
    bump = 2.5 * np.exp(-0.5 * ((t - centre) / width) ** 2)
    wave = np.where(y[:, None] == 3, bump, wave)
    x = amplitude * wave + rng.uniform(-1, 1, (n, 1)) + noise * rng.standard_normal((n, length))
    return ClassificationData(X=x[:, None, :].astype(np.float32), y=y.astype(np.int64),
                              class_names=list(SHAPES), name="shapes")


def znormalise(x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """Z-normalise each series of ``x [N, C, L]`` per channel over its own ``lengths [N]``
    steps (all ``L`` when None); a constant one becomes 0, and padding after a series'
    length stays 0.0 (the mean of the normalised series)."""
    x = np.asarray(x, dtype=np.float64)
    if lengths is None:
        std = x.std(axis=2, keepdims=True)
        return ((x - x.mean(axis=2, keepdims=True)) / np.where(std > 0, std, 1.0)).astype(np.float32)
    valid = (np.arange(x.shape[2])[None, :] < np.asarray(lengths)[:, None])[:, None, :]
    count = valid.sum(axis=2, keepdims=True)
    mean = np.where(valid, x, 0.0).sum(axis=2, keepdims=True) / count
    std = np.sqrt(np.where(valid, (x - mean) ** 2, 0.0).sum(axis=2, keepdims=True) / count)
    return np.where(valid, (x - mean) / np.where(std > 0, std, 1.0), 0.0).astype(np.float32)


def _dataset(data: ClassificationData, index: np.ndarray, znorm: bool) -> TensorDataset:
    x = data.X[index]
    lengths = None if data.lengths is None else data.lengths[index]
    return TensorDataset(torch.from_numpy(znormalise(x, lengths) if znorm else np.ascontiguousarray(x)),
                         torch.from_numpy(data.y[index]))


def describe_lengths(*datas: ClassificationData) -> str:
    """``"length 1460"`` or ``"lengths 29..361, zero-padded to 361 after z-normalisation
    (never truncated)"`` over ``datas``."""
    longest = max(d.X.shape[2] for d in datas)
    lengths = np.concatenate([d.lengths if d.lengths is not None else np.full(len(d.y), d.X.shape[2])
                              for d in datas])
    if (lengths == longest).all():
        return f"length {longest}"
    return f"lengths {lengths.min()}..{longest}, zero-padded to {longest} after z-normalisation (never truncated)"


def load_classification_data(path: str | None, znorm: bool = True, seed: int = 0, holdout: bool = False) -> Splits:
    """The classification splits: the shapes (no ``path``), a ``<Problem>_TRAIN/_TEST``
    folder, or one ``.ts``/``.tsv`` file. TensorDatasets of ``(X [N, C, L] float32,
    y [N] int64)``; ``extras["name"]`` is the problem's name, ``extras["train_file"]`` the
    number of series the training data came from. An official pair trains on all of
    TRAIN and validates on TRAIN itself, as Wang et al. 2017 and Ismail Fawaz et al. keep
    the checkpoint with the lowest training loss; ``holdout``: a tenth of TRAIN is held
    out for validation instead (never the TEST file either way).

    Raises:
        DataError: before any model or baseline is fitted, training data with fewer than
            two classes, or a stratified split that would leave a part empty (the message
            names the file and the classes).
    """
    if not path:
        data = make_shape_series(seed=seed)
        train, val, test = split_indices(data.y, seed=seed)
        splits = _splits(data, data, (train, val, test), znorm)
        splits.extras["protocol"] = (f"the embedded waveforms, a stratified {len(train)}/{len(val)}/{len(test)} "
                                     f"split, {describe_lengths(data)}")
        return splits
    p = Path(path)
    if p.is_dir() or (p.is_file() and p.stem.upper().endswith(("_TRAIN", "_TEST")) and _partner(p).is_file()):
        # a folder or one file of an official pair: the pair, its TEST file the test split
        pair = load_classification_splits(p)
        labels, names, where = pair["train"].y, pair["train"].class_names, pair["train"].source
        check_classes(labels, names, where)
        if holdout:
            train, val = carve_validation(labels, seed=seed)
            check_split_parts((train, val), labels, names, where, ("train", "val"))
            checked = f"validation {len(val)} of TRAIN"
        else:
            train = val = np.arange(len(pair["train"].y))
            checked = "all of TRAIN trains; the best checkpoint has the lowest loss on TRAIN"
        everything = np.arange(len(pair["test"].y))
        splits = _splits(pair["train"], pair["test"], (train, val, everything), znorm)
        splits.extras["train_file"] = len(pair["train"].y)
        splits.extras["protocol"] = (f"{splits.extras['name']}: the official TRAIN/TEST split ({len(pair['train'].y)}"
                                     f"/{len(pair['test'].y)} series; {checked}), "
                                     f"{pair['train'].X.shape[1]} channel(s), {describe_lengths(*pair.values())}")
        return splits
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    data = load_classification(p)
    train, val, test = split_indices(data.y, seed=seed)
    check_classes(data.y[train], data.class_names, data.source)
    check_split_parts((train, val, test), data.y, data.class_names, data.source)
    splits = _splits(data, data, (train, val, test), znorm)
    splits.extras["protocol"] = (f"{splits.extras['name']}: one file, a stratified {len(train)}/{len(val)}/{len(test)} "
                                 f"split, {data.X.shape[1]} channel(s), {describe_lengths(data)}")
    return splits


def _partner(path: Path) -> Path:
    """The ``_TEST`` file of a ``_TRAIN`` file and the other way round."""
    stem = path.stem
    other = stem[:-6] + "_TEST" if stem.upper().endswith("_TRAIN") else stem[:-5] + "_TRAIN"
    return path.with_name(other + path.suffix)


def _splits(data: ClassificationData, test_data: ClassificationData, index: tuple[np.ndarray, ...],
            znorm: bool) -> Splits:
    """Train and val from ``data``, test from ``test_data``, at the given indices."""
    train, val, test = index
    return Splits(_dataset(data, train, znorm), _dataset(data, val, znorm), _dataset(test_data, test, znorm),
                  list(data.class_names), {"name": data.name})


def load_classification_eval(path: str, class_names: list[str], znorm: bool = True) -> TensorDataset:
    """All of ``path`` (the ``_TEST`` file of a folder) labelled in the trained model's class order."""
    p = Path(path)
    if p.is_dir():
        test = load_classification_splits(p)["test"]
        data = ClassificationData(test.X, remap_labels(test.y, test.class_names, class_names, str(p)),
                                  list(class_names), test.name)
    else:
        data = load_classification(p, class_names=class_names)
    return _dataset(data, np.arange(len(data.y)), znorm)


def load_classification_eval_unlabelled(path: str, znorm: bool = True) -> tuple[torch.Tensor, list[str]]:
    """One ``.ts``/``.tsv`` file to classify: ``(X [N, C, L] float32, the label written for
    each series)``; the labels may be classes the model does not know."""
    data = load_classification(path)
    x = znormalise(data.X, data.lengths) if znorm else data.X
    return torch.from_numpy(np.ascontiguousarray(x)), [data.class_names[i] for i in data.y]

