"""The time-series task: anomaly detection with a dilated causal TCN, or whole-series classification.

Two tasks share one name (``timeseries``) and the CLI; ``task.mode`` chooses between them
(:meth:`TimeSeriesTask.for_config`, by :func:`~convkit.tasks.timeseries.config.chosen_mode`):

* ``anomaly`` (default): :class:`~convkit.tasks.timeseries.detection.SeriesDetectionTask`,
  a TCN forecaster or autoencoder trained on normal data, calibrated scores and
  thresholds, ``detect`` (the task's name for ``predict``);
* ``classify``: :class:`~convkit.tasks.timeseries.classification.SeriesClassificationTask`,
  any 1D zoo model on whole series (embedded waveforms or UCR/UEA archives).

Each declares its own run config (its mode's defaults); the family's is
:class:`~convkit.tasks.timeseries.config.TimeSeriesRunConfig`.
"""

from __future__ import annotations

import sys

from convkit.tasks.timeseries.base import TimeSeriesBase
from convkit.tasks.timeseries.classification import SeriesClassificationTask
from convkit.tasks.timeseries.config import TimeSeriesRunConfig, chosen_mode, mode_log
from convkit.tasks.timeseries.detection import SeriesDetectionTask
from convkit.train.task import Task

__all__ = ["TASK", "SeriesClassificationTask", "SeriesDetectionTask", "TimeSeriesRunConfig", "TimeSeriesTask"]


class TimeSeriesTask(TimeSeriesBase):
    """The time-series task family the CLI and the engine are handed: ``for_config(cfg)``
    is the detection task (``task.mode = "anomaly"``) or the classification task
    (``"classify"``); it holds no state of its own."""

    config_class = TimeSeriesRunConfig
    default_model = SeriesDetectionTask.default_model  # the classification task's is minirocket
    monitor = "pr_auc"
    monitor_mode = "max"

    def for_config(self, cfg: TimeSeriesRunConfig) -> Task:
        """The detection or the classification task, by ``task.mode`` (``auto``: by
        ``data.path``, saying why on stderr: :func:`~convkit.tasks.timeseries.config.mode_log`).
        Reads ``cfg``, never changes it."""
        for line in mode_log(cfg):
            print(line, file=sys.stderr, flush=True)
        mode, _ = chosen_mode(cfg)
        return SeriesClassificationTask() if mode == "classify" else SeriesDetectionTask()


TASK = TimeSeriesTask()
"""The time-series task instance handed to the CLI and the engine."""
