"""``python -m convkit.tasks.video train|evaluate|predict|export|info``."""

from convkit.cli import main
from convkit.tasks.video.task import TASK

raise SystemExit(main(TASK))
