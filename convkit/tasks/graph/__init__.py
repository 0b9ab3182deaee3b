"""The graph task (``python -m convkit.tasks.graph``): node classification on one graph
(GCN on Cora at the paper's setting) and graph classification (``task.mode=graph``);
see ``task.py``."""
