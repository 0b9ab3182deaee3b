"""Leave one group out of a manifest or pattern listing (convkit.data.manifest:
listing_groups, leave_group_out, group_listing): the held-out group is the whole test
part, every other group trains, validation is carved from the training groups, seeded."""

from __future__ import annotations

from pathlib import Path

import pytest

from convkit.data.manifest import group_listing, leave_group_out, listing_groups, read_manifest
from convkit.errors import ConfigError, DataError


def _manifest(tmp_path: Path, column: str = "group") -> Path:
    """Groups p, q, r; labels a, b; five files each; a split column naming index 0 test."""
    rows = [f"path,label,{column},split"]
    for g in ("p", "q", "r"):
        for label in ("a", "b"):
            for i in range(5):
                (tmp_path / f"{label}{g}{i}.x").write_text("")
                rows.append(f"{label}{g}{i}.x,{label},{g},{'test' if i == 0 else ''}")
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "list.csv"


def _decode(paths, skipped):
    return list(paths), list(range(len(paths)))


def test_leave_group_out_of_a_manifest(tmp_path):
    listing = read_manifest(_manifest(tmp_path))
    assert listing_groups(listing) == ["p", "q", "r"]
    listed = leave_group_out(listing, _decode, "q", seed=0)
    group_of = {s: sorted({listed.groups[i] for i in part}) for s, part in listed.parts.items()}
    assert group_of == {"train": ["p", "r"], "val": ["p", "r"], "test": ["q"]}  # the manifest's split is not used
    assert len(listed.parts["test"]) == 10 and len(listed.parts["val"]) == 2 and len(listed.parts["train"]) == 18
    assert sorted(listed.labels[listed.parts["val"]].tolist()) == [0, 1]  # stratified by label
    assert leave_group_out(listing, _decode, "q", seed=0).parts["val"].tolist() == listed.parts["val"].tolist()
    with pytest.raises(DataError, match="no example of the group 's'.*'p', 'q', 'r'"):
        leave_group_out(listing, _decode, "s")


def test_group_listing_keeps_one_group_without_its_splits(tmp_path):
    listing = read_manifest(_manifest(tmp_path))
    held = group_listing(listing, "r")
    assert len(held.entries) == 10 and {e.fields["group"] for e in held.entries} == {"r"}
    assert all(e.split is None for e in held.entries)
    with pytest.raises(DataError, match="no example of the group 'z'"):
        group_listing(listing, "z")


def test_without_a_group_field_leave_one_out_says_how_to_name_one(tmp_path):
    listing = read_manifest(_manifest(tmp_path, column="speaker"))
    with pytest.raises(ConfigError, match="data.group_by"):
        listing_groups(listing)
    assert listing_groups(listing, "speaker") == ["p", "q", "r"]
