"""``python -m convkit TASK COMMAND ...``: the shared command line (``convkit.cli``) for any
task: a built-in one, a plug-in (entry point group ``convkit.tasks``) or a ``Task`` named
by its import path ``module:attr``::

    python -m convkit image train --epochs 3
    python -m convkit mytask evaluate --checkpoint runs/mytask/run/best.pt
    python -m convkit --help        # lists the tasks

``python -m convkit.tasks.<task> ...`` is the same command for a built-in task. An unknown
task is one ``error: ...`` line and exit status 2.
"""

from __future__ import annotations

import sys

from convkit.cli import guarded
from convkit.cli import main as task_main
from convkit.tasks import load_task, task_names


def usage() -> str:
    """The usage text, with every task's name (plug-ins included)."""
    return ("usage: python -m convkit TASK COMMAND [options]   (COMMAND: train, evaluate, predict, export, info; "
            "python -m convkit TASK --help for its options)\n"
            f"tasks: {', '.join(task_names())} (or a Task's import path module:attr)")


def main(argv: list[str] | None = None) -> int:
    """Run ``TASK COMMAND ...`` from ``argv`` (default: the command line); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    found = []
    status = guarded(lambda: found.append(load_task(name)), "--debug" in rest)
    if status:
        return status
    return task_main(found[0], rest, prog=f"python -m convkit {name}")


if __name__ == "__main__":
    raise SystemExit(main())
