"""``python -m convkit.tasks.image train|evaluate|predict|export|info``."""

from convkit.cli import main
from convkit.tasks.image.task import TASK

raise SystemExit(main(TASK))
