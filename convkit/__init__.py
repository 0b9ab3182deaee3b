"""convkit: convolutional networks as one coherent toolkit across domains.

From Python (``convkit.api``; imported on first use, so ``import convkit`` stays cheap)::

    run = convkit.fit("image", TinyNet, TensorDataset(x, y), model_options={"classes": 2})
    run = convkit.load_run("runs/image/<run>")      # a run folder or a checkpoint
    run.evaluate(test_set), run.predict(images), run.export("model.onnx")
"""

import importlib

__version__ = "0.1.0"

__all__ = ["Run", "fit", "load_run", "__version__"]

_API = ("Run", "fit", "load_run")


def __getattr__(name: str) -> object:  # PEP 562: the API module (torch and the engine) loads on first use
    if name in _API:
        return getattr(importlib.import_module("convkit.api"), name)
    raise AttributeError(f"module 'convkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_API))
