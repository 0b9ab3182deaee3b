"""Inflation (Carreira & Zisserman 2017, I3D): build the 3D (or 1D) twin of a 2D model and
carry its weights over, so image-trained weights start a video (or sequence) model.

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

import torch
import torch.nn.functional as F
from torch import nn

from convkit.errors import ConfigError
from convkit.models.registry import create_model


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
    source = model_2d.state_dict()
    target = twin.state_dict()
    for key, value in target.items():
        w = source[key]
        if w.shape == value.shape:
            target[key] = w.clone()
        elif w.dim() == 4 and value.dim() == 5:  # [O, I, kh, kw] -> [O, I, t, kh, kw]
            t = value.shape[2]
            target[key] = w.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
        elif w.dim() == 4 and value.dim() == 3:  # [O, I, kh, kw] -> [O, I, kw]
            target[key] = w.sum(dim=2)
        elif w.dim() == 2 and value.dim() == 2:  # a dense layer after flattening a pooled grid
            target[key] = _inflate_flattened(w, value.shape, spatial_dims)
        else:
            raise ConfigError(f"cannot inflate {key}: {tuple(w.shape)} -> {tuple(value.shape)}")
    twin.load_state_dict(target)
    if spatial_dims == 3 and time_padding == "replicate":
        for m in twin.modules():
            if isinstance(m, nn.Conv3d) and m.padding[0] > 0:
                m.register_forward_pre_hook(_ReplicateTimePad(m.padding[0]))
                m.padding = (0, *m.padding[1:])
    return twin.train(model_2d.training)


def _inflate_flattened(w: torch.Tensor, shape: torch.Size, spatial_dims: int) -> torch.Tensor:
    """Carry a linear layer that reads a flattened ``[C, P, P]`` grid (AlexNet/VGG) over to
    a flattened ``[C, P, P, P]`` (3D: spread over time, divided by P) or ``[C, P]`` (1D:
    summed over height) grid."""
    out_f, in_f = w.shape
    for c in range(1, in_f + 1):  # find C and P with C * P * P == in_f and C * P**d == new
        p2 = in_f // c
        p = int(round(p2 ** 0.5))
        if c * p * p == in_f and c * p ** spatial_dims == shape[1]:
            grid = w.reshape(out_f, c, p, p)
            if spatial_dims == 3:
                return (grid.unsqueeze(2).repeat(1, 1, p, 1, 1) / p).reshape(shape)
            return grid.sum(dim=2).reshape(shape)
    raise ConfigError(f"cannot inflate a dense layer of shape {tuple(w.shape)} to {tuple(shape)}")
