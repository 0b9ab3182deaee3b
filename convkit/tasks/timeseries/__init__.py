"""The time-series task (``python -m convkit.tasks.timeseries``): anomaly detection with a
dilated causal TCN (``train``, ``detect``; ``detection.py``), or whole-series
classification (``--set task.mode=classify``; ``classification.py``, data in
``classify.py``), one run config (``config.py``), chosen by ``task.py``. Scores,
thresholds, metrics and the classical baselines are in ``anomaly.py``, the scoring pass
and streaming in ``scoring.py``, the prepared series and datasets in ``series.py``."""
