"""``python -m convkit.tasks.graph train|evaluate|predict|export|info``."""

from convkit.cli import main
from convkit.tasks.graph.task import TASK

raise SystemExit(main(TASK))
