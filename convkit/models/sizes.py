"""Refuse input sizes a zoo model cannot take before any data is decoded or trained on.

A model declares ``min_input_size`` (the smallest size per spatial axis it accepts, e.g.
32 for LeNet-5, ``2 ** (stages - 1)`` for ``audio_cnn``). It may depend on the model's
options, so the model is built on the meta device (no memory, no compute) to read it.
"""

from __future__ import annotations

import torch

from convkit.errors import ConfigError
from convkit.models.registry import create_model


def min_input_size(name: str, spatial_dims: int, options: dict) -> int:
    """The smallest size per spatial axis model ``name`` accepts (1 when it declares none)."""
    with torch.device("meta"):
        model = create_model(name, spatial_dims=spatial_dims, in_channels=1, num_classes=2, **options)
    return int(getattr(model, "min_input_size", 1))


def require_min_size(name: str, spatial_dims: int, options: dict, sizes: dict[str, int], hint: str) -> None:
    """Raise ConfigError when a spatial size in ``sizes`` ({what: size}) is below the model's
    minimum; ``hint`` says which settings change the sizes."""
    need = min_input_size(name, spatial_dims, options)
    small = [f"{what} is {size}" for what, size in sizes.items() if size < need]
    if small:
        raise ConfigError(f"model {name} needs every spatial size >= {need}, but {' and '.join(small)}; "
                          f"{hint}, or pick another model")
