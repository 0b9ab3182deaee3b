"""One package per task (DESIGN.md "Tasks"); each has a ``task.py`` defining ``TASK`` and
a two-line ``__main__.py`` handing it to the shared CLI (``convkit.cli``)."""

from __future__ import annotations

import importlib

from convkit.errors import ConfigError

TASK_NAMES: tuple[str, ...] = ("image", "text", "timeseries", "audio", "video", "pointcloud", "graph")
"""The seven tasks, in DESIGN.md's order."""


def load_task(name: str):
    """The ``TASK`` instance of ``convkit.tasks.<name>.task`` (ConfigError if unknown)."""
    if name not in TASK_NAMES:
        raise ConfigError(f"unknown task {name!r}; valid: {', '.join(TASK_NAMES)}")
    return importlib.import_module(f"convkit.tasks.{name}.task").TASK
