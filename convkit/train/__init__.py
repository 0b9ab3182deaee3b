"""One training engine for every task (DESIGN.md "The engine").

* ``task``: the interface a task implements (``Task``, ``ClassificationTask``, ``Data``);
* ``engine``: ``fit``, ``evaluate_checkpoint``, ``predict_checkpoint``, ``load_trained``;
* ``checkpoint``: atomic, code-free checkpoints; ``distributed``: torchrun/DDP helpers;
* ``loaders``: resumable and sharded samplers, device transfer; ``export``: ONNX/TorchScript;
* ``metrics`` and ``plots``: shared metric helpers and run plots.
"""

from convkit.train.engine import FitResult, evaluate_checkpoint, fit, load_trained, predict_checkpoint
from convkit.train.task import ClassificationTask, Data, Task

__all__ = ["ClassificationTask", "Data", "FitResult", "Task", "evaluate_checkpoint", "fit", "load_trained",
           "predict_checkpoint"]
