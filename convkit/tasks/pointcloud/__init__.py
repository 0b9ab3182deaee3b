"""The point-cloud task (``python -m convkit.tasks.pointcloud``): PointNet and DGCNN on
clouds ``[N, 3 + F, P]`` (generated solids, ModelNet meshes, point files); see ``task.py``."""
