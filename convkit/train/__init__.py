"""One training engine for every task (DESIGN.md "The engine").

* ``task``: the interface a task implements (``Task``, ``ClassificationTask``, ``Data``);
* ``engine``: ``fit``, ``evaluate_checkpoint``, ``predict_checkpoint``, ``load_trained``;
* ``checkpoint``: atomic, code-free checkpoints; ``distributed``: torchrun/DDP helpers;
* ``loaders``: resumable and sharded samplers, device transfer; ``export``: ONNX/TorchScript;
* ``metrics`` and ``plots``: shared metric helpers and run plots.
"""

import importlib

_EXPORTS = {"FitResult": "engine", "evaluate_checkpoint": "engine", "fit": "engine", "load_trained": "engine",
            "predict_checkpoint": "engine", "ClassificationTask": "task", "Data": "task", "Task": "task"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """The engine and task names, imported on first use (``from convkit.train import
    metrics`` then loads no engine, and ``info`` stays fast)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'convkit.train' has no attribute {name!r}")
    return getattr(importlib.import_module(f"convkit.train.{_EXPORTS[name]}"), name)
