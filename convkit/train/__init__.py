"""One training engine for every task (DESIGN.md "The engine").

* ``task``: the interface a task implements (``Task``, ``ClassificationTask``, ``Data``);
* ``engine``: the training loop, ``fit`` (and ``train_step``, the one optimizer step);
* ``runtime``: device, seeds, threads, precision, memory layout, ``torch.compile``;
* ``rundir``: the run folder, its lock and its files; ``resume``: continuing a run;
* ``repeats``: seeds and folds (``fit_seeds``, ``fit_repeats``);
* ``inference``: ``evaluate_split``, ``load_trained``, ``evaluate_checkpoint``, ``predict_checkpoint``;
* ``loggers``: what a run logs (``train.loggers``: csv, tensorboard) and the ``Logger`` callbacks;
* ``checkpoint``: atomic, code-free checkpoints; ``distributed``: torchrun/DDP helpers;
* ``loaders``: resumable and sharded samplers, device transfer; ``export``: ONNX/TorchScript;
* ``metrics`` and ``plots``: shared metric helpers and run plots.
"""

import importlib

_EXPORTS = {"FitResult": "engine", "fit": "engine", "evaluate_checkpoint": "inference",
            "load_trained": "inference", "predict_checkpoint": "inference", "ClassificationTask": "task",
            "Data": "task", "Task": "task", "Logger": "loggers"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """The engine and task names, imported on first use (``from convkit.train import
    metrics`` then loads no engine, and ``info`` stays fast)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'convkit.train' has no attribute {name!r}")
    return getattr(importlib.import_module(f"convkit.train.{_EXPORTS[name]}"), name)
