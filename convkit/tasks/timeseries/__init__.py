"""The time-series task (``python -m convkit.tasks.timeseries``), one module per concept:

* ``task.py``: the family (``TASK``) that picks the mode; ``base.py``: what its tasks share;
  ``config.py``: the run configs and the choice of mode;
* ``detection.py``: anomaly detection with a dilated causal TCN (``train``, ``detect``);
  ``classification.py``: whole-series classification (``task.mode=classify``);
* ``data.py``: the readers (CSV, UCR anomaly ``.txt``, NAB, ``.ts``/``.tsv``) and the
  classification splits; ``synthetic.py``: the embedded sensor series and waveforms;
  ``series.py``: the detector's prepared series, training windows and scoring chunks;
* ``scores.py``: the model's per-step errors and feature novelty; ``calibration.py``: from
  errors to flagged steps; ``metrics.py``: the metrics; ``nab.py``: NAB's scorer;
* ``baselines.py``: the classical and learned baselines; ``streaming.py``: scoring a live
  series; ``plots.py``: the anomaly plot; ``recipes/``: configs for real datasets.
"""
