"""``python -m convkit.tasks.pointcloud train|evaluate|predict|export|info``."""

from convkit.cli import main
from convkit.tasks.pointcloud.task import TASK

raise SystemExit(main(TASK))
