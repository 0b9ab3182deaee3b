"""Paths read from inside a data set (split lists, manifests, tables) stay inside it.

A list line such as ``Right/../../../secret/clip.npy`` or ``/etc/passwd`` (or a listed
entry that is a symbolic link to a file elsewhere) would make convkit read a file the
user never pointed it at. :func:`listed_path` joins a listed entry to the folder the list
names its files against and refuses it unless it resolves (symbolic links followed)
inside that folder, also resolved: a dataset folder that is itself a link (e.g.
``UCF-101`` linking to a copy on another disk, as ``data_recipes/ucf101.py`` lays it
out) is fine, a way out of it is not. ``data.allow_outside_paths = true`` opts out.
"""

from __future__ import annotations

from pathlib import Path

from convkit.errors import DataError

OPT_OUT = "data.allow_outside_paths=true"
"""The config setting that lets list lines name files outside the data folder."""


def listed_path(base: Path, entry: str, list_file: Path, line: int, allow_outside: bool = False) -> Path:
    """``base / entry`` for ``entry`` read from line ``line`` (from 1) of ``list_file``.

    Args:
        base: the folder the list names its files against (inside the data folder).
        entry: the path as the list gives it (relative, ``/``-separated).
        list_file: the list or table it came from (for the message).
        line: its line number in ``list_file``.
        allow_outside: skip the check (``data.allow_outside_paths``).

    Raises:
        DataError: one line naming ``list_file``, ``line`` and ``entry`` when the path
            resolves outside ``base`` (``..``, an absolute path, a link out of it).
    """
    path = base / entry
    if allow_outside:
        return path
    try:
        inside = path.resolve().is_relative_to(base.resolve())
    except (OSError, RuntimeError) as err:  # a link loop
        raise DataError(f"{list_file}, line {line}: cannot resolve {entry!r} ({err})") from None
    if not inside:
        raise DataError(f"{list_file}, line {line}: {entry!r} lies outside the data folder {base}; "
                        f"list paths must stay inside it ({OPT_OUT} allows others)")
    return path
