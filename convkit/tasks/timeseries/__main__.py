"""``python -m convkit.tasks.timeseries train|evaluate|predict|detect|export|info``
(``detect`` is the task's name for ``predict``)."""

from convkit.cli import main
from convkit.tasks.timeseries.task import TASK

raise SystemExit(main(TASK))
