"""The video task (``python -m convkit.tasks.video``): 3D CNNs (C3D, R3D, MC3, R(2+1)D,
inflated I3D, separable 3D) for action recognition on clips ``[N, 3, T, H, W]``; see
``task.py``."""
