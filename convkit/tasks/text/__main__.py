"""``python -m convkit.tasks.text train|evaluate|predict|export|info``."""

from convkit.cli import main
from convkit.tasks.text.task import TASK

raise SystemExit(main(TASK))
