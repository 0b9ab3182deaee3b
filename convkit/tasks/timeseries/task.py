"""The time-series task: anomaly detection with a dilated causal TCN, or whole-series classification.

Two tasks share one name (``timeseries``), one run config
(:class:`~convkit.tasks.timeseries.config.TimeSeriesRunConfig`) and the CLI; ``task.mode``
chooses between them (``TimeSeriesTask.for_config``):

* ``anomaly`` (default): :class:`~convkit.tasks.timeseries.detection.SeriesDetectionTask`,
  a TCN forecaster or autoencoder trained on normal data, calibrated scores and
  thresholds, ``detect`` (the task's name for ``predict``);
* ``classify``: :class:`~convkit.tasks.timeseries.classification.SeriesClassificationTask`,
  any 1D zoo model on whole series (embedded waveforms or UCR/UEA archives).
"""

from __future__ import annotations

from convkit.tasks.timeseries.base import TimeSeriesFamily
from convkit.tasks.timeseries.classification import SeriesClassificationTask
from convkit.tasks.timeseries.config import TimeSeriesRunConfig
from convkit.tasks.timeseries.detection import SeriesDetectionTask
from convkit.train.task import Task

__all__ = ["TASK", "SeriesClassificationTask", "SeriesDetectionTask", "TimeSeriesRunConfig", "TimeSeriesTask"]


class TimeSeriesTask(TimeSeriesFamily, Task):
    """The time-series task family the CLI and the engine are handed: ``for_config(cfg)``
    is the detection task (``task.mode = "anomaly"``) or the classification task
    (``"classify"``); it holds no state of its own."""

    monitor = "pr_auc"
    monitor_mode = "max"


TASK = TimeSeriesTask()
"""The time-series task instance handed to the CLI and the engine."""
