"""One package per task (DESIGN.md "Tasks"); each has a ``task.py`` defining ``TASK`` and
a two-line ``__main__.py`` handing it to the shared CLI (``convkit.cli``).

Tasks from other installed packages join through the ``convkit.tasks`` entry point group
(``convkit.plugins``): an entry point names a ``Task`` instance, and its name is the
task's name. :func:`task_names` lists all tasks, :func:`load_task` finds one by name or
by import path ``module:attr``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from convkit import plugins
from convkit.errors import ConfigError

if TYPE_CHECKING:
    from convkit.train.task import Task

TASK_NAMES: tuple[str, ...] = ("image", "text", "timeseries", "audio", "video", "pointcloud", "graph")
"""The seven built-in tasks, in DESIGN.md's order (:func:`task_names` adds the plug-ins)."""

_PLUGIN_TASKS: dict[str, "Task"] | None = None


def plugin_tasks() -> dict[str, "Task"]:
    """``{name: Task}`` of the task plug-ins (entry point group ``convkit.tasks``), loaded
    once. One that is not a ``Task``, whose name differs from its entry point's, or that
    takes a built-in task's name is one warning line and is left out."""
    global _PLUGIN_TASKS
    if _PLUGIN_TASKS is None:
        from convkit.train.task import Task

        found: dict[str, Task] = {}
        for name, task in plugins.load_group(plugins.TASKS_GROUP).items():
            value = plugins.entry_value(plugins.TASKS_GROUP, name)
            if not isinstance(task, Task):
                plugins.plugin_warning(plugins.TASKS_GROUP, name, value,
                                       f"it is a {type(task).__name__}, not a convkit Task instance")
            elif name in TASK_NAMES:
                plugins.plugin_warning(plugins.TASKS_GROUP, name, value, "a built-in task has that name")
            elif task.name != name:
                plugins.plugin_warning(plugins.TASKS_GROUP, name, value,
                                       f"the task's name is {task.name!r}; the entry point must be named so too")
            else:
                found[name] = task
        _PLUGIN_TASKS = found
    return _PLUGIN_TASKS


def task_names() -> list[str]:
    """Every task's name: the built-in ones (:data:`TASK_NAMES`), then the plug-ins', sorted."""
    return list(TASK_NAMES) + sorted(plugin_tasks())


def load_task(name: str) -> "Task":
    """The task called ``name``: a built-in one (the ``TASK`` of ``convkit.tasks.<name>.task``),
    a plug-in, or the ``Task`` instance an import path ``module:attr`` names.

    Raises:
        ConfigError: an unknown name (listing the valid ones), or an import path that does
            not name a ``Task`` instance.
    """
    if name in TASK_NAMES:
        return importlib.import_module(f"convkit.tasks.{name}.task").TASK
    if ":" in name:
        from convkit.train.task import Task

        task = plugins.resolve_reference(name, f"task {name!r}")
        if not isinstance(task, Task):
            raise ConfigError(f"task {name!r}: refused: it names {type(task).__name__}, not a convkit Task instance")
        return task
    found = plugin_tasks()
    if name not in found:
        raise ConfigError(f"unknown task {name!r}; valid: {', '.join(task_names())} (or module:attr of a Task)")
    return found[name]
