"""Files a loader skipped: one summary warning, and a class that lost every file is an error.

A non-strict loader skips a file it cannot use (corrupt, not the expected format, NaN or
infinite values) and collects one message per file (``"<path>: <reason>"``). After
loading it calls :func:`warn_skipped` once: ONE warning line with the count and the first
few messages, never a line per file. The full list goes into ``Splits.extras["skipped"]``;
the task keeps it in the ``skipped_files`` of its ``Data.info`` record and writes it to the run folder as
``skipped_files.txt``. :func:`require_every_class` turns a class whose files were all
skipped into a DataError naming it (instead of a model with an empty class).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from convkit.errors import DataError

SHOWN = 3
"""How many skipped files the summary line names."""

SKIPPED_FILE = "skipped_files.txt"
"""The run-folder file listing every skipped file, one ``<path>: <reason>`` per line."""


def summarize_skipped(skipped: Sequence[str], where: str) -> str:
    """One line: ``"<where>: skipped N files that could not be used: <first SHOWN>; ..."``."""
    count = len(skipped)
    shown = "; ".join(skipped[:SHOWN]) + (f"; and {count - SHOWN} more" if count > SHOWN else "")
    return (f"{where}: skipped {count} file{'s' if count != 1 else ''} that could not be used "
            f"(data.strict=true makes this an error): {shown}")


def warn_skipped(skipped: Sequence[str], where: str, stacklevel: int = 3) -> None:
    """Emit :func:`summarize_skipped` as one UserWarning when anything was skipped."""
    if skipped:
        warnings.warn(summarize_skipped(skipped, where), stacklevel=stacklevel)


def require_every_class(names: Sequence[str], labels: np.ndarray, readable: np.ndarray,
                        files: Sequence[object], where: str) -> None:
    """Raise DataError when a class had files but none could be used.

    Args:
        names: the class names ``labels`` index.
        labels: the class of every listed file ``[M]``.
        readable: whether each listed file loaded ``[M]`` (bool).
        files: the listed files (paths) ``[M]``, for the message.
        where: the dataset folder the message names.
    """
    labels, readable = np.asarray(labels), np.asarray(readable, dtype=bool)
    lost = sorted(set(np.unique(labels).tolist()) - set(np.unique(labels[readable]).tolist()))
    if not lost:
        return
    name = names[lost[0]]
    mine = np.flatnonzero(labels == lost[0])
    others = f" (and classes {[names[i] for i in lost[1:]]})" if len(lost) > 1 else ""
    raise DataError(f"{where}: class {name!r}{others} has {len(mine)} file{'s' if len(mine) != 1 else ''} "
                    f"and none could be used (first: {files[mine[0]]}); fix or remove them")
