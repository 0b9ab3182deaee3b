"""Inflation (Carreira & Zisserman 2017, I3D): build the 3D (or 1D) twin of a 2D model and
carry its weights over, so image-trained weights start a video (or sequence) model. The
weights go over by name with ``convkit.models.weights``' rules (the same that load a 2D
weights file into a 3D model: ``create_model(..., spatial_dims=3, pretrained=FILE)``).

2D → 3D: each ``k×k`` kernel is repeated ``t`` times along the new leading (time) axis and
divided by ``t``. On a constant-in-time input every frame then sees exactly what the 2D
model saw. Zero padding in time would break that at the first and last frames, so by
default (``time_padding="replicate"``) the twin's convs pad the time axis by repeating
the edge frames; with that, a constant-in-time clip gives the 2D model's output exactly
(in eval mode). ``time_padding="zeros"`` keeps ``create_model``'s own 3D twin.

2D → 1D: each kernel is summed over its height axis, so a 1D signal gives what the 2D
model gives on an image that repeats that signal on every row (exactly for valid-padded
models such as LeNet-5; away from the top/bottom border otherwise).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from convkit.errors import ConfigError
from convkit.models.registry import create_model
from convkit.models.weights import Weights, load_weights


class _ReplicateTimePad:
    """A forward pre-hook that pads the leading spatial (time) axis by repeating edge
    frames: ``[N, C, T, H, W] -> [N, C, T + 2p, H, W]``."""

    def __init__(self, pad: int) -> None:
        self.pad = pad

    def __call__(self, module: nn.Module, args: tuple) -> tuple:
        (x,) = args
        return (F.pad(x, (0, 0, 0, 0, self.pad, self.pad), mode="replicate"),)


def inflate(model_2d: nn.Module, spatial_dims: int = 3, time_padding: str = "replicate") -> nn.Module:
    """The ``spatial_dims`` twin of a 2D zoo model, with the 2D weights carried over
    (I3D-style for 3D, summed over height for 1D). Returns a model in the same mode
    (train/eval) as ``model_2d``."""
    args = dict(getattr(model_2d, "build_args", {}))
    if not args or args.get("spatial_dims") != 2:
        raise ConfigError("inflate takes a 2D model built by convkit.models.create_model")
    if spatial_dims not in (1, 3):
        raise ConfigError(f"inflate builds a 1D or 3D twin; got spatial_dims={spatial_dims}")
    if time_padding not in ("replicate", "zeros"):
        raise ConfigError(f"time_padding must be 'replicate' or 'zeros'; got {time_padding!r}")
    name = args.pop("name")
    args["spatial_dims"] = spatial_dims
    twin = create_model(name, **args)
    load_weights(twin, Weights(model_2d.state_dict(), f"the 2D {name}"))  # inflate_kernel, inflate_flattened
    if spatial_dims == 3 and time_padding == "replicate":
        for m in twin.modules():
            if isinstance(m, nn.Conv3d) and m.padding[0] > 0:
                m.register_forward_pre_hook(_ReplicateTimePad(m.padding[0]))
                m.padding = (0, *m.padding[1:])
    return twin.train(model_2d.training)

