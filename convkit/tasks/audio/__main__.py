"""``python -m convkit.tasks.audio train|evaluate|predict|export|info``."""

from convkit.cli import main
from convkit.tasks.audio.task import TASK

raise SystemExit(main(TASK))
