"""Dimension-generic layer factories.

Every factory takes ``spatial_dims`` (1, 2 or 3; the time axis counts as spatial) and
returns the matching plain torch layer, looked up in a small dict keyed by dimension
(the idea of MONAI's ``Conv[Conv.CONV, spatial_dims]``, without its machinery). Inputs
are laid out ``[N, C, *spatial]``: ``[N, C, L]``, ``[N, C, H, W]`` or ``[N, C, D, H, W]``.
"""

from __future__ import annotations

from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from convkit.errors import ConfigError, ShapeError

Size = Union[int, Sequence[int]]
Padding = Union[str, int, Sequence[int]]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_MAX_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
_AVG_POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
_ADAPTIVE_MAX = {1: nn.AdaptiveMaxPool1d, 2: nn.AdaptiveMaxPool2d, 3: nn.AdaptiveMaxPool3d}
_ADAPTIVE_AVG = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
_BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_INSTANCE_NORM = {1: nn.InstanceNorm1d, 2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}
_CHANNEL_DROPOUT = {1: nn.Dropout1d, 2: nn.Dropout2d, 3: nn.Dropout3d}

SPATIAL_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}


def check_spatial_dims(spatial_dims: int) -> int:
    """Return ``spatial_dims`` if it is 1, 2 or 3, else raise a ConfigError saying so."""
    if spatial_dims not in (1, 2, 3):
        raise ConfigError(f"spatial_dims must be 1, 2 or 3; got {spatial_dims!r}")
    return spatial_dims


def layout(spatial_dims: int, channels: int | None = None) -> str:
    """The expected input layout as text, e.g. ``[N, C=3, H, W]``."""
    c = "C" if channels is None else f"C={channels}"
    return f"[N, {c}, {SPATIAL_NAMES[spatial_dims]}]"


def check_input(x: torch.Tensor, spatial_dims: int, channels: int | None, name: str,
                min_size: int = 1) -> None:
    """Raise a ShapeError naming ``name`` unless ``x`` is ``[N, channels, *spatial]`` with
    ``spatial_dims`` spatial axes, each at least ``min_size`` long."""
    if x.dim() != spatial_dims + 2 or (channels is not None and x.shape[1] != channels) or (
            min(x.shape[2:], default=min_size) < min_size):
        need = layout(spatial_dims, channels)
        if min_size > 1:
            need += f" with every spatial size >= {min_size}"
        raise ShapeError(f"{name} (spatial_dims={spatial_dims}) expects input {need}; "
                         f"got a tensor of shape {list(x.shape)}")


def _tuple(value: Size, n: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ConfigError(f"expected an int or {n} ints for a {n}D layer; got {value}")
    return value


def same_padding(kernel_size: Size, dilation: Size = 1, spatial_dims: int = 1) -> tuple[int, ...]:
    """Symmetric padding that keeps the size at stride 1 for odd (dilated) kernels:
    ``(k - 1) * d // 2`` per axis (torchvision's convention, also used at stride > 1)."""
    ks, ds = _tuple(kernel_size, spatial_dims), _tuple(dilation, spatial_dims)
    return tuple((k - 1) * d // 2 for k, d in zip(ks, ds))


class CausalConv1d(nn.Conv1d):
    """A 1D convolution padded on the left only, so output step t sees inputs <= t.

    ``[N, C_in, L] -> [N, C_out, L // stride]`` (for stride 1: same length). The left pad
    is ``(kernel_size - 1) * dilation``; the weights are those of a plain ``nn.Conv1d``.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs["padding"] = 0
        super().__init__(*args, **kwargs)
        self.left_pad = (self.kernel_size[0] - 1) * self.dilation[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left_pad, 0)))


def conv(spatial_dims: int, in_channels: int, out_channels: int, kernel_size: Size,
         stride: Size = 1, padding: Padding = "same", dilation: Size = 1, groups: int = 1,
         bias: bool = True, causal: bool = False) -> nn.Module:
    """A convolution ``[N, C_in, *S] -> [N, C_out, *S']`` in 1, 2 or 3 spatial dims.

    ``padding``: ``"same"`` (size kept at stride 1; ``(k-1)*d//2`` per side for odd kernels,
    torch's asymmetric "same" for even ones), ``"valid"`` (none), or int(s).
    ``causal`` (1D only): pad on the left only, so no output sees the future.
    """
    check_spatial_dims(spatial_dims)
    if causal:
        if spatial_dims != 1:
            raise ConfigError(f"causal padding is for 1D sequences; got spatial_dims={spatial_dims}")
        return CausalConv1d(in_channels, out_channels, kernel_size, stride=stride,
                            dilation=dilation, groups=groups, bias=bias)
    if padding == "same":
        ks = _tuple(kernel_size, spatial_dims)
        strides = _tuple(stride, spatial_dims)
        if all(k % 2 == 1 for k in ks) or any(s > 1 for s in strides):
            padding = same_padding(ks, dilation, spatial_dims)
    elif padding == "valid":
        padding = 0
    elif isinstance(padding, str):
        raise ConfigError(f"padding must be 'same', 'valid' or int(s); got {padding!r}")
    return _CONV[spatial_dims](in_channels, out_channels, kernel_size, stride=stride,
                               padding=padding, dilation=dilation, groups=groups, bias=bias)


def conv_transpose(spatial_dims: int, in_channels: int, out_channels: int, kernel_size: Size,
                   stride: Size = 1, padding: Size = 0, output_padding: Size = 0,
                   dilation: Size = 1, groups: int = 1, bias: bool = True) -> nn.Module:
    """A transposed convolution (learned upsampling) ``[N, C_in, *S] -> [N, C_out, *S']``."""
    check_spatial_dims(spatial_dims)
    return _CONV_T[spatial_dims](in_channels, out_channels, kernel_size, stride=stride,
                                 padding=padding, output_padding=output_padding,
                                 dilation=dilation, groups=groups, bias=bias)


def pool(spatial_dims: int, kind: str, kernel_size: Size, stride: Size | None = None,
         padding: Size = 0, ceil_mode: bool = False) -> nn.Module:
    """Max or average pooling (``kind`` "max" | "avg") over the spatial axes."""
    check_spatial_dims(spatial_dims)
    table = {"max": _MAX_POOL, "avg": _AVG_POOL}
    if kind not in table:
        raise ConfigError(f"pool kind must be 'max' or 'avg'; got {kind!r}")
    return table[kind][spatial_dims](kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode)


def adaptive_pool(spatial_dims: int, kind: str, output_size: Size) -> nn.Module:
    """Adaptive max/avg pooling to a fixed ``output_size`` per spatial axis."""
    check_spatial_dims(spatial_dims)
    table = {"max": _ADAPTIVE_MAX, "avg": _ADAPTIVE_AVG}
    if kind not in table:
        raise ConfigError(f"adaptive pool kind must be 'max' or 'avg'; got {kind!r}")
    return table[kind][spatial_dims](output_size)


_ADAPTIVE_AVG_F = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}


def spatial_mean(x: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
    """The mean over every spatial axis: ``[N, C, *S] -> [N, C]`` (``[N, C, 1, ...]`` with
    ``keepdim``). In 1-3 spatial dims it is adaptive average pooling to size 1, the op
    torchvision's models pool with (the same numbers, and no copy of a channels-last
    ``x``, which flattening the spatial axes would make)."""
    pool = _ADAPTIVE_AVG_F.get(x.dim() - 2)
    if pool is None:
        out = x.mean(dim=tuple(range(2, x.dim())), keepdim=True)
    else:
        out = pool(x, 1)
    return out if keepdim else out.flatten(1)


class GlobalPool(nn.Module):
    """Global pooling over every spatial axis: ``[N, C, *S] -> [N, C]`` (``[N, 2C]`` for
    "avgmax", the concatenation of both). Works for any number of spatial dims."""

    def __init__(self, kind: str = "avg") -> None:
        super().__init__()
        if kind not in ("avg", "max", "avgmax"):
            raise ConfigError(f"global pool kind must be 'avg', 'max' or 'avgmax'; got {kind!r}")
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "avg":
            return spatial_mean(x)
        peak = x.amax(dim=tuple(range(2, x.dim())))
        if self.kind == "max":
            return peak
        return torch.cat([spatial_mean(x), peak], dim=1)


def global_pool(kind: str = "avg") -> GlobalPool:
    """Global average/max pooling in any dimension: ``[N, C, *S] -> [N, C]``."""
    return GlobalPool(kind)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis at every position (as in ConvNeXt):
    ``[N, C, *S] -> [N, C, *S]``, any number of spatial dims."""

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.movedim(1, -1)).movedim(-1, 1)


def norm(spatial_dims: int, kind: str | None, num_channels: int, num_groups: int = 32,
         eps: float = 1e-5, momentum: float = 0.1) -> nn.Module:
    """A normalisation layer over ``[N, C, *S]``: ``kind`` "batch" | "group" | "layer"
    (channel LayerNorm) | "instance" | None (identity). ``num_groups`` for "group" is
    capped at the largest divisor of ``num_channels``."""
    check_spatial_dims(spatial_dims)
    if kind in (None, "none", "identity"):
        return nn.Identity()
    if kind == "batch":
        return _BATCH_NORM[spatial_dims](num_channels, eps=eps, momentum=momentum)
    if kind == "instance":
        return _INSTANCE_NORM[spatial_dims](num_channels, eps=eps, affine=True)
    if kind == "group":
        groups = max(g for g in range(1, min(num_groups, num_channels) + 1) if num_channels % g == 0)
        return nn.GroupNorm(groups, num_channels, eps=eps)
    if kind == "layer":
        return ChannelLayerNorm(num_channels, eps=eps)
    raise ConfigError(f"norm must be one of batch, group, layer, instance, none; got {kind!r}")


def dropout(spatial_dims: int, p: float, kind: str = "element") -> nn.Module:
    """Dropout: "element" (``nn.Dropout``) or "channel" (whole feature maps, ``DropoutNd``)."""
    check_spatial_dims(spatial_dims)
    if not 0.0 <= p < 1.0:
        raise ConfigError(f"dropout probability must be in [0, 1); got {p}")
    if kind == "element":
        return nn.Dropout(p)
    if kind == "channel":
        return _CHANNEL_DROPOUT[spatial_dims](p)
    raise ConfigError(f"dropout kind must be 'element' or 'channel'; got {kind!r}")


_ACTIVATIONS = {
    "relu": lambda: nn.ReLU(inplace=True),
    "relu6": lambda: nn.ReLU6(inplace=True),
    "leaky_relu": lambda: nn.LeakyReLU(0.1, inplace=True),
    "elu": lambda: nn.ELU(inplace=True),
    "gelu": nn.GELU,
    "silu": lambda: nn.SiLU(inplace=True),
    "swish": lambda: nn.SiLU(inplace=True),
    "hardswish": lambda: nn.Hardswish(inplace=True),
    "mish": lambda: nn.Mish(inplace=True),
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def act(name: str | None) -> nn.Module:
    """An activation by name (relu, relu6, leaky_relu, elu, gelu, silu/swish, hardswish,
    mish, tanh, sigmoid); None or "identity" gives ``nn.Identity``."""
    if name in (None, "none", "identity"):
        return nn.Identity()
    if name not in _ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; valid: {', '.join(sorted(_ACTIVATIONS))}")
    return _ACTIVATIONS[name]()
