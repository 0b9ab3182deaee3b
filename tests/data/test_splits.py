"""Seeded stratified splits and split-folder discovery (convkit.data.splits)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convkit.data.splits import carve_validation, find_split_dirs, split_indices
from convkit.errors import ConfigError, DataError


def test_split_is_an_exact_stratified_80_10_10_partition() -> None:
    labels = np.repeat([0, 1, 2], [100, 50, 30])
    train, val, test = split_indices(labels, seed=0)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(len(labels)))
    for part in (train, val, test):
        assert part.dtype == np.int64 and np.all(np.diff(part) > 0)
    counts = [np.bincount(labels[part], minlength=3).tolist() for part in (train, val, test)]
    assert counts == [[80, 40, 24], [10, 5, 3], [10, 5, 3]]


def test_split_is_deterministic_by_seed() -> None:
    labels = np.arange(200) % 4
    first = split_indices(labels, seed=7)
    again = split_indices(labels, seed=7)
    other = split_indices(labels, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_every_class_with_three_samples_reaches_every_split() -> None:
    labels = np.array(["cat"] * 3 + ["dog"] * 4 + ["eel"] * 13)
    train, val, test = split_indices(labels, seed=3)
    for part in (train, val, test):
        assert set(labels[part]) == {"cat", "dog", "eel"}
    assert (labels[train] == "cat").sum() == 1


def test_tiny_classes_go_to_train_first() -> None:
    labels = np.array([0, 1, 1])
    train, val, test = split_indices(labels, seed=0)
    assert train.tolist() == [0, 1, 2] and val.size == 0 and test.size == 0


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=6),
    seed=st.integers(min_value=0, max_value=2**31),
    first=st.floats(min_value=0.3, max_value=0.9),
)
def test_split_properties(counts: list[int], seed: int, first: float) -> None:
    fractions = (first, (1 - first) / 2, (1 - first) / 2)
    labels = np.repeat(np.arange(len(counts)), counts)
    parts = split_indices(labels, fractions, seed)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(labels)))
    for cls, n in enumerate(counts):
        per_part = [int((labels[p] == cls).sum()) for p in parts]
        assert sum(per_part) == n
        if n >= 3:
            assert min(per_part) >= 1
        if n * min(fractions) >= 1:  # no minimum-one adjustment: rounding error below one sample
            assert all(abs(c - f * n) < 1 for c, f in zip(per_part, fractions))


@pytest.mark.parametrize(
    ("fractions", "message"),
    [((0.8, 0.1), "must sum to 1"), ((0.9, 0.2, -0.1), "must be positive"), ((), "must be positive")],
)
def test_bad_fractions_are_config_errors(fractions: tuple[float, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        split_indices([0, 1, 0, 1], fractions)


def test_labels_must_be_one_dimensional() -> None:
    with pytest.raises(DataError, match=r"one-dimensional \[N\]; got shape \[2, 2\]"):
        split_indices(np.zeros((2, 2)))


def test_carve_validation_takes_a_stratified_tenth() -> None:
    labels = np.repeat([0, 1], [50, 30])
    train, val = carve_validation(labels, 0.1, seed=1)
    assert np.bincount(labels[val]).tolist() == [5, 3]
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(80))
    with pytest.raises(ConfigError, match="between 0 and 1; got 1.5"):
        carve_validation(labels, 1.5)


def test_find_split_dirs(tmp_path) -> None:
    assert find_split_dirs(tmp_path / "missing") is None
    (tmp_path / "cats").mkdir()
    assert find_split_dirs(tmp_path) is None
    (tmp_path / "test").mkdir()
    (tmp_path / "train").mkdir()
    (tmp_path / "val").write_text("a file, not a split folder")
    assert find_split_dirs(tmp_path) == {"train": tmp_path / "train", "test": tmp_path / "test"}
    (tmp_path / "val").unlink()
    (tmp_path / "Validation").mkdir()
    found = find_split_dirs(tmp_path)
    assert list(found) == ["train", "val", "test"] and found["val"] == tmp_path / "Validation"


def test_find_split_dirs_refuses_two_val_folders(tmp_path) -> None:
    for name in ("train", "val", "valid"):
        (tmp_path / name).mkdir()
    with pytest.raises(DataError, match=r"both val/ and valid/ name the val split"):
        find_split_dirs(tmp_path)
