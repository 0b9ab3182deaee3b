"""The folders are the architecture (docs/design.md): ``nn`` knows nothing of tasks,
``models`` builds only on ``nn``, ``data`` and ``train`` know no task, no task imports
another, nothing imports upward and there is no import cycle. Read from the source, every
import (module level or inside a function) counts."""

from __future__ import annotations

import ast
from pathlib import Path

import convkit

PACKAGE = Path(convkit.__file__).parent

LAYERS: dict[str, int] = {"errors": 0, "plugins": 0, "config": 1, "nn": 1, "models": 2, "data": 2, "train": 3,
                          "analysis": 3, "cli": 4, "tasks": 5, "api": 6, "__main__": 6, "bench": 7}
"""Each top-level part of the package and its layer: a module may import its own part and
parts of a lower layer only (``config`` and ``nn`` sit beside each other, as do ``models``
and ``data``; neither pair imports the other)."""

SIBLINGS_APART = {frozenset({"config", "nn"}), frozenset({"models", "data"})}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The convkit modules ``path`` imports (``from a.b import c`` counts as ``a.b.c`` when
    that is a module, else ``a.b``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "convkit"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "convkit":
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {m for m in found if m in MODULES and m != here}


MODULES: dict[str, Path] = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def part(module: str) -> str:
    """``convkit.tasks.audio.data`` -> ``tasks``; ``convkit.cli`` -> ``cli``."""
    return module.split(".")[1] if module.count(".") else "convkit"


def task_of(module: str) -> str | None:
    bits = module.split(".")
    return bits[2] if len(bits) > 2 and bits[1] == "tasks" and (PACKAGE / "tasks" / bits[2]).is_dir() else None


GRAPH: dict[str, set[str]] = {m: imports_of(p) for m, p in MODULES.items()}


def test_every_part_has_a_layer():
    assert {part(m) for m in MODULES} - {"convkit"} <= set(LAYERS)


def test_no_module_imports_upward_or_across_tasks():
    wrong = []
    for module, targets in GRAPH.items():
        if module == "convkit":
            continue
        src = part(module)
        for target in targets:
            dst = part(target)
            if target == "convkit":
                continue
            if frozenset({src, dst}) in SIBLINGS_APART or LAYERS[dst] > LAYERS[src]:
                wrong.append(f"{module} -> {target}")
            elif task_of(module) and task_of(target) and task_of(module) != task_of(target):
                wrong.append(f"{module} -> {target} (another task)")
    assert not wrong, "imports that run up or across:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    """No cycle among modules (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)
