"""Examples listed rather than laid out: a CSV manifest, or labels read from file names.

Every task that reads one file per example (image, audio, video, point cloud) accepts,
besides its own layouts:

* ``--data manifest.csv`` (or ``.tsv``): a header with at least ``path`` and ``label``,
  one example a row. ``path`` is relative to the manifest's folder (``/`` or ``\\``
  separators) and must stay inside it (:func:`convkit.data.paths.listed_path`;
  ``data.allow_outside_paths=true`` allows others). Optional ``split`` (train, val, test
  or the aliases of :data:`convkit.data.splits.SPLIT_ALIASES`; an empty cell is a
  training row) and ``group``; any other column is kept as a field ``data.group_by``
  may name. Column names are case-insensitive.
* ``--data FOLDER --set data.label_pattern='{label}_{speaker}_{index}'``: every file of
  the task's kind under the folder (recursively; names starting with ``.`` or ``_``
  are passed over) whose name, without its extension, matches the pattern; the fields
  become the example's fields (``{label}`` is required; ``{split}`` reads a split
  name). A pattern with a ``/`` matches the path below the folder instead (e.g.
  ``{label}/{speaker}_{index}``). A field matches the shortest text it can (the last
  one, the rest of the name) and never a ``/``. A file that does not match is skipped
  and counted in the loader's one summary warning (``data.strict=true``: an error).

Splits (:func:`split_listing`): a ``split`` the manifest gives is used as given, a
missing val or test part carved from train (10%); without one, a seeded 80/10/10 split.
Either is stratified by label and, with a group field, by group
(:func:`convkit.data.splits.group_split_indices`): ``data.group_by`` names the field (a
manifest column or a pattern field; empty: ``group`` when the examples have one;
``none``: no grouping), and no group straddles two parts. Leave one group out
(:func:`leave_group_out`, a task's ``data.test_group``): that group is the test part, the
others train with validation carved from their examples; :func:`listing_groups` lists the
groups, one cross-validation fold each.

A task passes a decode function (its own decoder and skipped-file handling) and gets
the decoded examples back with their parts; nothing here knows a task. A bad manifest
(a missing file, an unknown split, an empty label, a path escaping the folder, a file
listed twice) is one :class:`~convkit.errors.DataError` naming the manifest and line.
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convkit.data.paths import listed_path
from convkit.data.skipped import require_every_class, warn_skipped
from convkit.data.splits import (
    DEFAULT_FRACTIONS,
    SPLIT_ALIASES,
    SPLIT_NAMES,
    VAL_FRACTION_OF_TRAIN,
    carve_validation,
    check_classes,
    check_split_parts,
    group_split_indices,
    split_indices,
)
from convkit.errors import ConfigError, DataError

MANIFEST_SUFFIXES: dict[str, str] = {".csv": ",", ".tsv": "\t"}
"""A ``--data`` file with one of these endings is a manifest (-> its delimiter)."""

REQUIRED_COLUMNS: tuple[str, str] = ("path", "label")
"""The columns every manifest has."""

RESERVED_FIELDS: frozenset[str] = frozenset({"path", "label", "split"})
"""Columns with a meaning of their own; every other column (or pattern field) is a field."""

DEFAULT_GROUP = "group"
"""The field examples are grouped by when ``data.group_by`` is empty."""

NO_GROUPS = "none"
"""``data.group_by`` value that turns grouping off (even with a ``group`` field)."""

Decode = Callable[[list[Path], list[str]], tuple[Any, list[int]]]
"""A task's decoder: ``(paths [M], skipped) -> (decoded, kept)``: ``decoded`` holds the
examples that loaded, in order, and ``kept`` their indices into ``paths``; each file it
could not use is appended to ``skipped`` as ``"<path>: <reason>"`` (or it raises
DataError when the task's ``data.strict`` is set)."""

_FIELD = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Entry:
    """One listed example: ``path`` (joined to the manifest's folder), ``label`` (the
    class name), ``split`` (``train``/``val``/``test``, None when not given), ``fields``
    (every other column or pattern field, e.g. ``{"group": "george"}``) and ``where``
    (``"<manifest>, line N"`` or the file, for messages)."""

    path: Path
    label: str
    split: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    where: str = ""


@dataclass
class Listing:
    """The examples of a manifest or a pattern folder: ``source`` (the manifest or the
    folder), ``entries``, ``fields`` (the field names ``data.group_by`` may name) and
    ``skipped`` (files a pattern did not match, as ``"<path>: <reason>"``)."""

    source: Path
    entries: list[Entry]
    fields: tuple[str, ...] = ()
    skipped: list[str] = field(default_factory=list)


@dataclass
class Listed:
    """A listing decoded and split: ``decoded`` (what the task's decoder returned for the
    ``entries`` that loaded), ``labels [K]`` int64 indices into ``label_names`` (sorted
    class names), ``parts`` (``{"train"|"val"|"test": sorted int64 indices into decoded}``),
    ``groups [K]`` (each example's group, or None when not grouped), ``group_by`` (the
    field grouped by), ``skipped`` (every file left out) and ``source``."""

    decoded: Any
    entries: list[Entry]
    labels: np.ndarray
    label_names: list[str]
    parts: dict[str, np.ndarray]
    groups: np.ndarray | None = None
    group_by: str | None = None
    skipped: list[str] = field(default_factory=list)
    source: str = ""


# --------------------------------------------------------------------------- reading


def is_manifest(path: str | Path) -> bool:
    """Whether ``--data path`` names a manifest (a ``.csv``/``.tsv`` file, or such a
    name that is missing: :func:`read_manifest` then says so); a folder is never one."""
    path = Path(path)
    return path.suffix.lower() in MANIFEST_SUFFIXES and not path.is_dir()


def read_manifest(path: str | Path, allow_outside: bool = False) -> Listing:
    """Read a manifest (see the module docstring) into a :class:`Listing`.

    Raises:
        DataError: one line naming the manifest (and the line, from 1): missing,
            unreadable, no header, a header without ``path``/``label`` or with a column twice, a row of
            the wrong width, an empty path or label, an unknown split, a path outside
            the manifest's folder (unless ``allow_outside``), a missing file, a file
            listed twice, or no rows.
    """
    manifest = Path(path)
    base = manifest.parent
    if not manifest.is_file():
        raise DataError(f"{manifest}: no such manifest file; expected a CSV with columns path,label "
                        "(optional split, group)")
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{manifest}: cannot read the manifest ({err})") from None
    reader = csv.reader(text.splitlines(), delimiter=MANIFEST_SUFFIXES.get(manifest.suffix.lower(), ","))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise DataError(f"{manifest}: empty manifest; expected a header with columns path,label "
                        "(optional split, group)") from None
    except csv.Error as err:
        raise DataError(f"{manifest}, line 1: not readable as CSV ({err})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{manifest}: the header {','.join(header)} lacks {' and '.join(missing)}; a manifest "
                        "needs columns path,label (optional split, group)")
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise DataError(f"{manifest}: the header names {', '.join(twice)} more than once")
    fields = tuple(c for c in header if c not in RESERVED_FIELDS and c)
    entries: list[Entry] = []
    seen: dict[Path, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # a blank line
            if len(row) != len(header):
                raise DataError(f"{manifest}, line {line}: {len(row)} values for the {len(header)} columns "
                                f"{','.join(header)}")
            cells = {name: cell.strip() for name, cell in zip(header, row)}
            entries.append(_manifest_entry(manifest, base, line, cells, fields, allow_outside, seen))
    except csv.Error as err:
        raise DataError(f"{manifest}, line {reader.line_num}: not readable as CSV ({err})") from None
    if not entries:
        raise DataError(f"{manifest}: lists no examples (a header and no rows)")
    return Listing(manifest, entries, fields)


def _manifest_entry(manifest: Path, base: Path, line: int, cells: dict[str, str], fields: tuple[str, ...],
                    allow_outside: bool, seen: dict[Path, int]) -> Entry:
    where = f"{manifest}, line {line}"
    entry, label = cells["path"].replace("\\", "/"), cells["label"]
    if not entry:
        raise DataError(f"{where}: empty path")
    if not label:
        raise DataError(f"{where}: empty label for {entry!r}")
    split = _split_name(cells.get("split", ""), where)
    path = listed_path(base, entry, manifest, line, allow_outside)
    if not path.exists():
        raise DataError(f"{where}: {entry!r} does not exist (looked for {path})")
    key = path.resolve()
    if key in seen:
        raise DataError(f"{where}: {entry!r} is listed twice (first on line {seen[key]}); each example once")
    seen[key] = line
    return Entry(path, label, split, {name: cells[name] for name in fields}, where)


def _split_name(value: str, where: str) -> str | None:
    """The split a cell names (None for an empty cell); DataError for an unknown one."""
    if not value:
        return None
    split = SPLIT_ALIASES.get(value.lower())
    if split is None:
        raise DataError(f"{where}: unknown split {value!r}; expected one of {', '.join(SPLIT_ALIASES)} "
                        "(or an empty cell: a training row)")
    return split


def compile_label_pattern(pattern: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """``data.label_pattern`` as an anchored regular expression and its field names.

    Raises:
        ConfigError: no ``{label}`` field, a field name that is not an identifier or is
            ``path``, a field twice, or a stray brace (the message quotes the pattern).
    """
    names: list[str] = []
    parts: list[str] = []
    start = 0
    for match in _FIELD.finditer(pattern):
        parts.append(_literal(pattern[start:match.start()], pattern))
        name = match.group(1).strip()
        if not name.isidentifier() or name == "path":
            raise ConfigError(f"data.label_pattern {pattern!r}: {{{match.group(1)}}} is not a field name; "
                              "fields are identifiers such as {label}, {speaker}, {index} ({path} is reserved)")
        if name in names:
            raise ConfigError(f"data.label_pattern {pattern!r}: the field {{{name}}} appears twice")
        names.append(name)
        parts.append(f"(?P<{name}>[^/]+?)")
        start = match.end()
    parts.append(_literal(pattern[start:], pattern))
    if "label" not in names:
        raise ConfigError(f"data.label_pattern {pattern!r} has no {{label}} field; e.g. '{{label}}_{{speaker}}_"
                          "{index}' reads FSDD's 0_george_12.wav as label 0, speaker george")
    return re.compile("".join(parts) + r"\Z"), tuple(names)


def _literal(text: str, pattern: str) -> str:
    if "{" in text or "}" in text:
        raise ConfigError(f"data.label_pattern {pattern!r}: a brace outside a {{field}}")
    return re.escape(text)


def list_by_pattern(folder: str | Path, pattern: str, is_example: Callable[[Path], bool], what: str,
                    strict: bool = False) -> Listing:
    """The examples under ``folder`` whose names match ``pattern`` (module docstring).

    Args:
        folder: the data folder.
        pattern: ``data.label_pattern``, e.g. ``{label}_{speaker}_{index}``.
        is_example: whether a file (or folder, e.g. a folder of video frames) is one
            example of the task's kind; folders that are not are searched.
        what: the examples' kind for messages, e.g. ``"audio files (.wav, .flac, .ogg)"``.
        strict: a file that does not match is an error instead of a counted skip.

    Raises:
        ConfigError: a bad pattern.
        DataError: no such folder, no examples in it, none matching (or, strict, one
            not matching), or a ``{split}`` field that names no split.
    """
    regex, names = compile_label_pattern(pattern)
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; data.label_pattern reads the names of {what} in a folder")
    candidates = list(_walk(root, is_example))
    if not candidates:
        raise DataError(f"{root}: no {what} in it or its subfolders")
    by_path = "/" in pattern
    entries, skipped = [], []
    for path in candidates:
        name = path.relative_to(root).as_posix() if by_path else path.name
        if path.is_file() and path.suffix:
            name = name[: -len(path.suffix)]
        match = regex.match(name)
        if match is None:
            message = f"{path}: its name does not match data.label_pattern {pattern!r}"
            if strict:
                raise DataError(message)
            skipped.append(message)
            continue
        values = match.groupdict()
        split = _split_name(values.pop("split"), str(path)) if "split" in values else None
        entries.append(Entry(path, values.pop("label"), split, values, str(path)))
    if not entries:
        raise DataError(f"{root}: none of its {len(candidates)} {what} match data.label_pattern {pattern!r} "
                        f"(first: {candidates[0].relative_to(root).as_posix()})")
    return Listing(root, entries, tuple(n for n in names if n not in RESERVED_FIELDS), skipped)


def _walk(folder: Path, is_example: Callable[[Path], bool]) -> Iterator[Path]:
    """Examples under ``folder`` in sorted order; hidden and ``_``-prefixed names, and
    links to folders, are passed over."""
    for child in sorted(folder.iterdir()):
        if child.name.startswith((".", "_")):
            continue
        if is_example(child):
            yield child
        elif child.is_dir() and not child.is_symlink():
            yield from _walk(child, is_example)


def listing_for(path: str | Path, label_pattern: str = "", group_by: str = "",
                is_example: Callable[[Path], bool] = Path.is_file, what: str = "files",
                allow_outside: bool = False, strict: bool = False) -> Listing | None:
    """The listing ``--data path`` and the data settings ask for: the manifest when
    ``path`` is one, the pattern's examples when ``label_pattern`` is set, else None (the
    task reads its own layouts).

    Raises:
        ConfigError: ``label_pattern`` given with a manifest, or ``group_by`` without a
            manifest or a pattern (neither gives groups).
        DataError: as :func:`read_manifest` and :func:`list_by_pattern`.
    """
    if is_manifest(path):
        if label_pattern:
            raise ConfigError(f"data.label_pattern applies to a folder; {path} is a manifest, whose label column "
                              "names the classes: drop data.label_pattern")
        return read_manifest(path, allow_outside)
    if label_pattern:
        return list_by_pattern(path, label_pattern, is_example, what, strict)
    if group_by and group_by != NO_GROUPS:
        raise ConfigError(f"data.group_by={group_by!r} needs fields to group by: a manifest (--data FILE.csv with "
                          "a group column) or data.label_pattern naming the field")
    return None


def check_listing_options(label_pattern: str, group_by: str) -> None:
    """Raise ConfigError for a bad ``data.label_pattern`` or ``data.group_by`` (a task's
    data config calls it from ``validate``)."""
    if group_by in RESERVED_FIELDS:
        raise ConfigError(f"data.group_by={group_by!r}: a group is a field other than path, label and split")
    if label_pattern:
        _, names = compile_label_pattern(label_pattern)
        fields = [n for n in names if n not in RESERVED_FIELDS]
        if group_by and group_by != NO_GROUPS and group_by not in fields:
            raise ConfigError(f"data.group_by={group_by!r} is not a field of data.label_pattern "
                              f"{label_pattern!r}; its fields: {', '.join(fields) or 'none'}")


# --------------------------------------------------------------------------- decoding and splitting


def group_field(listing: Listing, group_by: str = "") -> str | None:
    """The field ``listing`` is grouped by: ``group_by`` (a field it has), ``group`` when
    ``group_by`` is empty and the examples have one, None for ``none`` or no group.

    Raises:
        ConfigError: ``group_by`` names a field the listing lacks (the message lists its fields).
    """
    if group_by == NO_GROUPS:
        return None
    if not group_by:
        return DEFAULT_GROUP if DEFAULT_GROUP in listing.fields else None
    for name in (group_by, group_by.lower()):
        if name in listing.fields:
            return name
    have = ", ".join(listing.fields) or "none"
    raise ConfigError(f"data.group_by={group_by!r}: {listing.source} has no such field; its fields: {have} "
                      "(manifest columns other than path, label, split; or data.label_pattern fields)")


def decode_listing(listing: Listing, decode: Decode, group_by: str = "") -> Listed:
    """Decode every entry with the task's ``decode``; ``parts`` is left empty.

    The skipped files (pattern misses and files the decoder could not use) make ONE
    summary warning; a class whose every file was skipped is an error.

    Raises:
        DataError: nothing could be read, a class lost every file, or an entry with an
            empty group value (naming the manifest line).
        ConfigError: ``group_by`` names no field of the listing.
    """
    key = group_field(listing, group_by)
    entries = listing.entries
    names = sorted({e.label for e in entries})
    index = {name: i for i, name in enumerate(names)}
    labels = np.array([index[e.label] for e in entries], dtype=np.int64)
    groups = None
    if key is not None:
        empty = next((e for e in entries if not e.fields.get(key)), None)
        if empty is not None:
            raise DataError(f"{empty.where}: empty {key!r} (data.group_by groups examples by it)")
        groups = np.array([e.fields[key] for e in entries], dtype=object)
    paths = [e.path for e in entries]
    skipped = list(listing.skipped)
    decoded, kept = decode(paths, skipped)
    source = str(listing.source)
    warn_skipped(skipped, source)
    if not kept:
        raise DataError(f"{source}: none of the {len(paths)} listed files could be used"
                        + (f" (first: {skipped[len(listing.skipped)]})" if len(skipped) > len(listing.skipped) else ""))
    readable = np.zeros(len(paths), dtype=bool)
    readable[kept] = True
    require_every_class(names, labels, readable, paths, source)
    kept = np.asarray(kept, dtype=np.int64)
    return Listed(decoded, [entries[i] for i in kept], labels[kept], names, {},
                  None if groups is None else groups[kept], key, skipped, source)


def split_listing(listing: Listing, decode: Decode, seed: int = 0, group_by: str = "") -> Listed:
    """Decode a listing and split it in train/val/test (module docstring): the
    manifest's ``split`` as given (a missing val or test carved from train), else a
    seeded 80/10/10 split; stratified by label, and by group when grouped.

    Raises:
        DataError: no training rows, fewer than two classes in training, a part that
            would be empty, or fewer groups than parts (as :func:`decode_listing` too).
    """
    listed = decode_listing(listing, decode, group_by)
    labels, groups, names = listed.labels, listed.groups, listed.label_names
    where = listed.source + (f" (data.group_by={listed.group_by})" if listed.group_by else "")
    given = np.array([e.split or "train" for e in listed.entries])
    present = [s for s in SPLIT_NAMES if (given == s).any()]
    if "train" not in present:
        raise DataError(f"{listed.source}: every row is {'/'.join(present)}; mark some rows train "
                        "(or leave their split empty)")
    check_classes(labels[given == "train"], names, listed.source)
    if present == ["train"]:
        if groups is not None:
            split = group_split_indices(labels, groups, DEFAULT_FRACTIONS, seed, where)
        else:
            split = split_indices(labels, DEFAULT_FRACTIONS, seed)
            check_split_parts(split, labels, names, where)
        parts = dict(zip(SPLIT_NAMES, split))
    else:
        parts = {s: np.flatnonzero(given == s) for s in present}
        if groups is not None:
            _warn_straddling(groups, given, listed.source, listed.group_by)
        for missing in [s for s in ("val", "test") if s not in parts]:
            train = parts["train"]
            if groups is not None:
                keep, carved = group_split_indices(labels[train], groups[train],
                                                   (1 - VAL_FRACTION_OF_TRAIN, VAL_FRACTION_OF_TRAIN), seed,
                                                   where, ("train", missing))
            else:
                keep, carved = carve_validation(labels[train], VAL_FRACTION_OF_TRAIN, seed)
                check_split_parts((keep, carved), labels[train], names, where, ("train", missing))
            parts["train"], parts[missing] = train[keep], train[carved]
    check_classes(labels[parts["train"]], names, where)
    listed.parts = {s: np.sort(parts[s]).astype(np.int64) for s in SPLIT_NAMES}
    return listed


def listing_groups(listing: Listing, group_by: str = "") -> list[str]:
    """The groups of a listing's examples, sorted (without decoding a file): what
    leave-one-group-out cross-validation runs a fold for.

    Raises:
        ConfigError: the listing has no group field (``group_by`` names none, or is
            empty without a ``group`` column, or is ``none``).
        DataError: an example with an empty group value.
    """
    key = group_field(listing, group_by)
    if key is None:
        raise ConfigError(f"{listing.source}: leave-one-group-out needs groups: name the field with data.group_by "
                          "(a manifest column, or a data.label_pattern field such as {speaker})")
    empty = next((e for e in listing.entries if not e.fields.get(key)), None)
    if empty is not None:
        raise DataError(f"{empty.where}: empty {key!r} (data.group_by groups examples by it)")
    return sorted({e.fields[key] for e in listing.entries})


def leave_group_out(listing: Listing, decode: Decode, group: str, seed: int = 0, group_by: str = "") -> Listed:
    """Decode a listing and hold one group out: ``group``'s examples are the test part,
    every other group's examples train, with ``VAL_FRACTION_OF_TRAIN`` of them carved for
    validation, stratified by label across those groups (so every other group trains, and
    validation holds the training groups). A split the listing gives is not used.

    Raises:
        ConfigError: the listing has no group field (as :func:`listing_groups`).
        DataError: no example of ``group`` (the message lists the groups), no other
            group, fewer than two classes in training, or a part that would be empty.
    """
    groups = listing_groups(listing, group_by)
    if group not in groups:
        shown = ", ".join(repr(g) for g in groups[:10]) + (", ..." if len(groups) > 10 else "")
        raise DataError(f"{listing.source}: no example of the group {group!r} (data.test_group); its groups: {shown}")
    if len(groups) < 2:
        raise DataError(f"{listing.source}: the only group is {group!r}; holding it out leaves nothing to train on")
    listed = decode_listing(listing, decode, group_by)
    labels, names = listed.labels, listed.label_names
    where = f"{listed.source} (data.test_group={group})"
    test = np.flatnonzero(listed.groups == group)
    train = np.flatnonzero(listed.groups != group)
    if len(test) == 0:
        raise DataError(f"{where}: none of the group's files could be used")
    check_classes(labels[train], names, where)
    keep, carved = carve_validation(labels[train], VAL_FRACTION_OF_TRAIN, seed)
    check_split_parts((keep, carved), labels[train], names, where, ("train", "val"))
    listed.parts = {"train": np.sort(train[keep]), "val": np.sort(train[carved]), "test": test.astype(np.int64)}
    return listed


def group_listing(listing: Listing, group: str, group_by: str = "") -> Listing:
    """The listing's examples of one group only (what a model trained with ``group`` held
    out is scored on), their splits dropped. Raises as :func:`leave_group_out`."""
    key = group_field(listing, group_by)
    groups = listing_groups(listing, group_by)
    if group not in groups:
        raise DataError(f"{listing.source}: no example of the group {group!r} (data.test_group); "
                        f"its groups: {', '.join(repr(g) for g in groups[:10])}")
    entries = [Entry(e.path, e.label, None, e.fields, e.where) for e in listing.entries if e.fields[key] == group]
    return Listing(listing.source, entries, listing.fields, listing.skipped)


def split_groups(listed: Listed) -> dict[str, list[str]]:
    """The groups each part holds, ``{"train": [...], "val": [...], "test": [...]}``
    (sorted), or ``{}`` when the listing was not split by group: what a run records of
    its split (each task's ``Data.info``)."""
    if listed.groups is None:
        return {}
    return {s: sorted({str(g) for g in listed.groups[i].tolist()}) for s, i in listed.parts.items()}


SPLIT_GROUPS_FILE = "split_groups.json"
"""The run-folder file naming the groups each split held (a run split by group)."""


def write_split_groups(run_dir: str | Path, group_by: str, groups: dict[str, list[str]]) -> None:
    """Write :data:`SPLIT_GROUPS_FILE` (``{"group_by": field, "train": [...], "val": [...],
    "test": [...]}``) into ``run_dir`` when the run was split by group; else nothing."""
    if groups:
        text = json.dumps({"group_by": group_by, **groups}, indent=1)
        (Path(run_dir) / SPLIT_GROUPS_FILE).write_text(text + "\n", encoding="utf-8")


def eval_listing(listing: Listing, decode: Decode) -> Listed:
    """Decode what a trained model is scored on: the manifest's test rows when it has
    some, else every entry; ``parts`` is ``{"test": all}``."""
    tests = [e for e in listing.entries if e.split == "test"]
    if tests:
        listing = Listing(listing.source, tests, listing.fields, listing.skipped)
    listed = decode_listing(listing, decode, NO_GROUPS)
    listed.parts = {"test": np.arange(len(listed.labels), dtype=np.int64)}
    return listed



def _warn_straddling(groups: np.ndarray, given: np.ndarray, source: str, key: str | None) -> None:
    """One warning when the manifest's own split puts a group on two sides."""
    sides: dict[Any, set[str]] = {}
    for group, split in zip(groups.tolist(), given.tolist()):
        sides.setdefault(group, set()).add(split)
    both = [g for g, s in sides.items() if len(s) > 1]
    if both:
        first = both[0]
        warnings.warn(f"{source}: the manifest's split puts {len(both)} {key} group{'s' if len(both) != 1 else ''} "
                      f"on more than one side (first: {first!r} in {'/'.join(sorted(sides[first]))}); "
                      "the given split is used as it is", stacklevel=3)
