"""Plug-ins and import paths: how convkit finds models and tasks that live outside it.

Two entry point groups, declared by other installed packages (``pyproject.toml``)::

    [project.entry-points."convkit.models"]
    mymodels = "mypackage.models"          # a module; importing it registers models
                                           # with convkit.models.register_model
    [project.entry-points."convkit.tasks"]
    mytask = "mypackage.task:TASK"         # a Task instance; the name is the task's name

Each group is discovered once per process, lazily (``importlib.metadata``), the first
time a list of all models or tasks is asked for or a name is not found among convkit's
own. A plug-in that fails to load is one warning line naming it (:class:`PluginWarning`)
and is left out; convkit goes on without it.

An import path ``module:qualname`` (``mypackage.nets:TinyNet``) names an object the same
way an entry point does; runs trained with a model or task from outside convkit record
one, so another process can rebuild them (:func:`resolve_reference`). Resolving one
imports the module by name from ``sys.path`` (which runs its top-level code, as any
import does; a standard-library module not yet imported is refused, since none holds a
model or task and some act on import) and reads the attribute; it never calls anything,
and the callers check what they got (an ``nn.Module`` subclass, a ``Task``).
"""

from __future__ import annotations

import importlib
import re
import sys
import warnings
from importlib import metadata
from typing import Any

from convkit.errors import ConfigError

MODELS_GROUP = "convkit.models"
"""The entry point group of model plug-ins (a module or builder that registers models)."""

TASKS_GROUP = "convkit.tasks"
"""The entry point group of task plug-ins (a ``Task`` instance)."""

_REFERENCE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

_LOADED: dict[str, dict[str, Any]] = {}
_VALUES: dict[str, dict[str, str]] = {}  # group -> entry point name -> its value ("module:attr")


class PluginWarning(UserWarning):
    """A plug-in that could not be loaded (it is left out)."""


def plugin_warning(group: str, name: str, value: str, why: str) -> None:
    """Warn, in one line, that entry point ``name`` (``value``) of ``group`` is left out and why."""
    warnings.warn_explicit(f"convkit plug-in {name!r} ({group} = {value}) left out: {' '.join(why.split())}",
                           PluginWarning, filename=f"plug-in {name}", lineno=0, module="convkit.plugins")


def load_group(group: str) -> dict[str, Any]:
    """``{entry point name: loaded object}`` of every entry point in ``group``, loaded once
    per process (later calls return the same dict). An entry point whose import fails is
    left out with a :class:`PluginWarning`; of two with one name, the first (by
    distribution order on ``sys.path``) is kept."""
    if group in _LOADED:
        return _LOADED[group]
    loaded: dict[str, Any] = {}
    _LOADED[group] = loaded  # before importing: a plug-in that asks for the list while loading sees it, no recursion
    values = _VALUES.setdefault(group, {})
    for entry in metadata.entry_points(group=group):
        if entry.name in values:
            continue  # the same distribution found twice on sys.path, or a name taken by an earlier one
        values[entry.name] = entry.value
        try:
            loaded[entry.name] = entry.load()
        except Exception as err:  # noqa: BLE001 - a broken plug-in must not break convkit
            plugin_warning(group, entry.name, entry.value, f"{type(err).__name__}: {err}")
    return loaded


def entry_value(group: str, name: str) -> str:
    """What entry point ``name`` of ``group`` points at (``mypackage.task:TASK``), once loaded."""
    return _VALUES.get(group, {}).get(name, "?")


def reference_of(obj: Any) -> str | None:
    """The import path ``module:qualname`` of a class, or of an instance that the module
    of its class holds as a module-level name (``mypackage.task:TASK``); None when there
    is none. The path may still not import in another process: see :func:`importable`."""
    if isinstance(obj, type):
        return f"{obj.__module__}:{obj.__qualname__}"
    module = sys.modules.get(type(obj).__module__)
    for name, value in vars(module).items() if module is not None else ():
        if value is obj and not name.startswith("_"):
            return f"{module.__name__}:{name}"
    return None


def importable(reference: str) -> str | None:
    """Why another process could not import ``reference`` (``module:qualname``), or None:
    it is defined in ``__main__`` (a script or a notebook) or inside a function."""
    module, _, qualname = reference.partition(":")
    if module == "__main__":
        return ("it is defined in __main__ (a script or notebook), which another process cannot import; "
                "move it to a module of its own (e.g. a .py file beside the script) and import it from there")
    if "<locals>" in qualname:
        return "it is defined inside a function, which another process cannot import; define it at module level"
    return None


def resolve_reference(reference: str, what: str) -> Any:
    """The object that ``module:qualname`` names: the module imported by name (from
    ``sys.path``), then the attribute path read. Nothing is called.

    Raises:
        ConfigError: one line naming ``what`` (e.g. ``"model 'x:Y'"``): not an import path,
            a module that is not there, a name the module lacks, or one defined where
            another process cannot import it (``__main__``, a function's locals).
    """
    module_name, sep, qualname = reference.partition(":")
    if sep and "<locals>" in qualname:
        raise ConfigError(f"{what}: {importable(reference)}")
    if not sep or not _REFERENCE.fullmatch(module_name) or not _REFERENCE.fullmatch(qualname):
        raise ConfigError(f"{what}: expected an import path module:name (e.g. mypackage.nets:TinyNet); "
                          f"got {reference!r}")
    top = module_name.split(".")[0]
    if top in sys.stdlib_module_names and top not in sys.modules:
        # no model or task lives there, and some of its modules act on import (antigravity, this)
        raise ConfigError(f"{what}: refused: {top} is a standard library module not yet imported")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is None or not module_name.startswith(err.name):
            raise
        raise ConfigError(f"{what}: no module named {err.name!r} on the import path; run from the folder that "
                          f"holds it or install its package") from None
    obj: Any = module
    for part in qualname.split("."):
        if not hasattr(obj, part):
            why = importable(reference) if module_name == "__main__" else None
            raise ConfigError(f"{what}: module {module_name!r} has no {qualname!r}"
                              + (f" ({why})" if why else ""))
        obj = getattr(obj, part)
    return obj
