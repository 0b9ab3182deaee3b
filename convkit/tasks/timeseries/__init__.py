"""The time-series task (``python -m convkit.tasks.timeseries``): anomaly detection with a
dilated causal TCN (``train``, ``detect``), or whole-series classification
(``--set task.mode=classify``); see ``task.py``. Scores, thresholds, metrics and the
classical baselines are in ``anomaly.py``, the scoring pass and streaming in ``scoring.py``."""
