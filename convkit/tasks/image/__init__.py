"""The image task (``python -m convkit.tasks.image``): see ``task.py``; the
shift-robustness comparison of a CNN and a parameter-matched MLP is ``shift.py``."""
