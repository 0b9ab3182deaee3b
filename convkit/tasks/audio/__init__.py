"""The audio task (``python -m convkit.tasks.audio``): log-mel CNNs and raw-waveform 1D
CNNs for sound classification; see ``task.py``."""
