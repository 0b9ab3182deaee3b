"""Dimension-generic blocks, each built only from the factories in ``layers`` and so
written once for 1D, 2D and 3D. Inputs are ``[N, C, *spatial]``.

Module and attribute names follow torchvision (``conv1``/``bn1``/``downsample``,
``Conv2dNormActivation`` as a Sequential of conv-norm-act), so parameter counts and
state-dict layouts line up with the reference implementations in 2D.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from convkit.errors import ConfigError
from convkit.nn import layers
from convkit.nn.layers import Size, check_input, check_spatial_dims, conv, dropout


class ConvNormAct(nn.Sequential):
    """conv → norm → activation, ``[N, C_in, *S] -> [N, C_out, *S']``.

    The conv has no bias when a norm follows (``bias=None`` picks that). ``norm=None`` or
    ``act=None`` drop that layer. Children are named ``0``, ``1``, ``2`` as in
    torchvision's ``Conv2dNormActivation``.
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int,
                 kernel_size: Size = 3, stride: Size = 1, padding="same", dilation: Size = 1,
                 groups: int = 1, norm: str | None = "batch", act: str | None = "relu",
                 bias: bool | None = None, causal: bool = False, norm_eps: float = 1e-5,
                 norm_momentum: float = 0.1) -> None:
        check_spatial_dims(spatial_dims)
        if bias is None:
            bias = norm in (None, "none", "identity")
        modules: list[nn.Module] = [conv(spatial_dims, in_channels, out_channels, kernel_size,
                                         stride, padding, dilation, groups, bias, causal)]
        if norm not in (None, "none", "identity"):
            modules.append(layers.norm(spatial_dims, norm, out_channels, eps=norm_eps, momentum=norm_momentum))
        if act not in (None, "none", "identity"):
            modules.append(layers.act(act))
        super().__init__(*modules)
        self.spatial_dims, self.in_channels, self.out_channels = spatial_dims, in_channels, out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.spatial_dims, self.in_channels, type(self).__name__)
        return super().forward(x)


def matched_mid_channels(spatial_dims: int, in_channels: int, out_channels: int, kernel_size: int = 3) -> int:
    """Mid channels of a factorised "(2+1)D" conv with about the parameters of a full
    ``k^d`` conv (Tran et al. 2018): ``C_in C_out k^d // (C_in k^(d-1) + k C_out)``."""
    k, d = kernel_size, spatial_dims
    return (in_channels * out_channels * k ** d) // (in_channels * k ** (d - 1) + k * out_channels)


@dataclass(frozen=True)
class FullConv:
    """Conv-type strategy of the residual blocks: a full ``k^d`` conv (3×3×3 in 3D, as in
    R3D; ``k×k`` in 2D). Strides every axis, shortcut included. torchvision's
    ``Conv3DSimple``, written once for every dimension."""

    kernel_size: int = 3

    def build(self, spatial_dims: int, in_channels: int, out_channels: int, stride: int = 1,
              dilation: int = 1, groups: int = 1, mid_channels: int | None = None,
              norm: str | None = "batch", act: str | None = "relu") -> nn.Module:
        """The conv ``[N, C_in, *S] -> [N, C_out, *S/stride]`` (no bias; ``mid_channels``,
        ``norm`` and ``act`` are for factorised types and unused here)."""
        return conv(spatial_dims, in_channels, out_channels, self.kernel_size, stride, "same",
                    dilation, groups, bias=False)

    def shortcut_stride(self, spatial_dims: int, stride: int) -> tuple[int, ...]:
        """The stride of the 1-wide projection shortcut that matches ``build``'s output."""
        return (stride,) * spatial_dims


@dataclass(frozen=True)
class SpatialConv:
    """Conv-type strategy: a conv over the non-leading axes only (``1×k×k``, stride
    ``1×s×s``), leaving the leading (time) axis alone: the 2D stages of MC3 ("mixed
    convolutions", torchvision's ``Conv3DNoTemporal``). Needs ``spatial_dims`` ≥ 2."""

    kernel_size: int = 3

    def build(self, spatial_dims: int, in_channels: int, out_channels: int, stride: int = 1,
              dilation: int = 1, groups: int = 1, mid_channels: int | None = None,
              norm: str | None = "batch", act: str | None = "relu") -> nn.Module:
        """The conv ``[N, C_in, T, *S] -> [N, C_out, T, *S/stride]`` (no bias)."""
        _needs_time_axis(spatial_dims, "SpatialConv")
        rest, k = spatial_dims - 1, self.kernel_size
        return conv(spatial_dims, in_channels, out_channels, (1,) + (k,) * rest, (1,) + (stride,) * rest,
                    (0,) + ((k - 1) * dilation // 2,) * rest, (1,) + (dilation,) * rest, groups, bias=False)

    def shortcut_stride(self, spatial_dims: int, stride: int) -> tuple[int, ...]:
        """Time is never strided: ``(1, s, s)``."""
        return (1,) + (stride,) * (spatial_dims - 1)


@dataclass(frozen=True)
class Factorised2Plus1D:
    """Conv-type strategy: the factorised "(2+1)D" conv (``Conv2Plus1D``: ``1×k×k`` conv,
    norm, activation, ``k×1×1`` conv) of R(2+1)D, with ``mid_channels`` from the block
    (the paper's rule, ``matched_mid_channels``). Needs ``spatial_dims`` ≥ 2."""

    kernel_size: int = 3

    def build(self, spatial_dims: int, in_channels: int, out_channels: int, stride: int = 1,
              dilation: int = 1, groups: int = 1, mid_channels: int | None = None,
              norm: str | None = "batch", act: str | None = "relu") -> nn.Module:
        """``Conv2Plus1D`` ``[N, C_in, T, *S] -> [N, C_out, T/stride, *S/stride]``."""
        _needs_time_axis(spatial_dims, "Factorised2Plus1D")
        if dilation != 1 or groups != 1:
            raise ConfigError(f"the (2+1)D conv type takes dilation=1 and groups=1; got {dilation}, {groups}")
        return Conv2Plus1D(spatial_dims, in_channels, out_channels, mid_channels, self.kernel_size, stride,
                           norm or "batch", act or "relu")

    def shortcut_stride(self, spatial_dims: int, stride: int) -> tuple[int, ...]:
        """Both factors stride: ``(s, s, s)``."""
        return (stride,) * spatial_dims


ConvType = Union[FullConv, SpatialConv, Factorised2Plus1D]
"""A conv-type strategy: ``build(spatial_dims, C_in, C_out, stride, dilation, groups,
mid_channels, norm, act)`` and ``shortcut_stride(spatial_dims, stride)``."""

CONV_TYPES: dict[str, type] = {"full": FullConv, "spatial": SpatialConv, "2plus1d": Factorised2Plus1D}
"""Conv types by the name a config file may give (``model.options.conv_type``)."""


def conv_type_from(value: "ConvType | str") -> ConvType:
    """A conv-type strategy from itself or its name (full | spatial | 2plus1d)."""
    if isinstance(value, str):
        if value not in CONV_TYPES:
            raise ConfigError(f"conv_type must be one of {', '.join(CONV_TYPES)}; got {value!r}")
        return CONV_TYPES[value]()
    return value


def _needs_time_axis(spatial_dims: int, name: str) -> None:
    check_spatial_dims(spatial_dims)
    if spatial_dims < 2:
        raise ConfigError(f"{name} separates the leading (time) axis from the rest: spatial_dims must be 2 or 3")


class BasicBlock(nn.Module):
    """ResNet basic block: two 3-wide convs and an identity (or 1-wide projection)
    shortcut. ``[N, C_in, *S] -> [N, planes, *S/stride]``; ``expansion = 1``.
    ``conv_type`` builds the two convs (``FullConv``; ``SpatialConv`` or
    ``Factorised2Plus1D`` for the video ResNets MC3 / R(2+1)D)."""

    expansion = 1

    def __init__(self, spatial_dims: int, in_channels: int, planes: int, stride: int = 1,
                 groups: int = 1, base_width: int = 64, dilation: int = 1,
                 norm: str = "batch", act: str = "relu", conv_type: ConvType = FullConv()) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ConfigError("BasicBlock supports only groups=1 and base_width=64 "
                              "(use Bottleneck for ResNeXt / Wide ResNet)")
        self.spatial_dims, self.in_channels = spatial_dims, in_channels
        # a factorised conv type gets the first conv's mid channels in both convs (torchvision)
        mid = matched_mid_channels(spatial_dims, in_channels, planes)
        self.conv1 = conv_type.build(spatial_dims, in_channels, planes, stride, dilation, mid_channels=mid,
                                     norm=norm, act=act)
        self.bn1 = layers.norm(spatial_dims, norm, planes)
        self.relu = layers.act(act)
        self.conv2 = conv_type.build(spatial_dims, planes, planes, 1, dilation, mid_channels=mid,
                                     norm=norm, act=act)
        self.bn2 = layers.norm(spatial_dims, norm, planes)
        self.downsample = _shortcut(spatial_dims, in_channels, planes * self.expansion,
                                    conv_type.shortcut_stride(spatial_dims, stride), norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.spatial_dims, self.in_channels, "BasicBlock")
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)  # in place, as torchvision: no extra tensor
        return self.relu(out)


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1-wide reduce, 3-wide (grouped) conv, 1-wide expand, with shortcut.

    ``width = int(planes * base_width / 64) * groups``: ``groups=32, base_width=4`` is
    ResNeXt 32x4d, ``base_width=128`` is Wide ResNet-2. The stride sits on the 3-wide conv
    (ResNet v1.5). ``[N, C_in, *S] -> [N, 4 * planes, *S/stride]``. ``conv_type`` builds the
    3-wide conv (see ``BasicBlock``).
    """

    expansion = 4

    def __init__(self, spatial_dims: int, in_channels: int, planes: int, stride: int = 1,
                 groups: int = 1, base_width: int = 64, dilation: int = 1,
                 norm: str = "batch", act: str = "relu", conv_type: ConvType = FullConv()) -> None:
        super().__init__()
        self.spatial_dims, self.in_channels = spatial_dims, in_channels
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv(spatial_dims, in_channels, width, 1, bias=False)
        self.bn1 = layers.norm(spatial_dims, norm, width)
        self.conv2 = conv_type.build(spatial_dims, width, width, stride, dilation, groups,
                                     mid_channels=matched_mid_channels(spatial_dims, in_channels, planes),
                                     norm=norm, act=act)
        self.bn2 = layers.norm(spatial_dims, norm, width)
        self.conv3 = conv(spatial_dims, width, planes * self.expansion, 1, bias=False)
        self.bn3 = layers.norm(spatial_dims, norm, planes * self.expansion)
        self.relu = layers.act(act)
        self.downsample = _shortcut(spatial_dims, in_channels, planes * self.expansion,
                                    conv_type.shortcut_stride(spatial_dims, stride), norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.spatial_dims, self.in_channels, "Bottleneck")
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)  # in place (see BasicBlock)
        return self.relu(out)


def _shortcut(spatial_dims: int, in_channels: int, out_channels: int, stride: Size,
              norm_kind: str) -> nn.Module | None:
    """The 1-wide projection + norm a residual block needs when shape changes, else None."""
    strides = (stride,) if isinstance(stride, int) else tuple(stride)
    if all(s == 1 for s in strides) and in_channels == out_channels:
        return None
    return nn.Sequential(conv(spatial_dims, in_channels, out_channels, 1, stride, bias=False),
                         layers.norm(spatial_dims, norm_kind, out_channels))


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation: channel gates from globally pooled features.
    ``[N, C, *S] -> [N, C, *S]``; ``fc1``/``fc2`` are 1-wide convs as in torchvision."""

    def __init__(self, spatial_dims: int, channels: int, squeeze_channels: int,
                 act: str = "relu", gate: str = "sigmoid") -> None:
        super().__init__()
        self.spatial_dims, self.channels = spatial_dims, channels
        self.fc1 = conv(spatial_dims, channels, squeeze_channels, 1)
        self.fc2 = conv(spatial_dims, squeeze_channels, channels, 1)
        self.activation = layers.act(act)
        self.scale_activation = layers.act(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.spatial_dims, self.channels, "SqueezeExcitation")
        s = layers.spatial_mean(x, keepdim=True)  # no flattening copy of a channels-last x
        s = self.scale_activation(self.fc2(self.activation(self.fc1(s))))
        return x * s


class StochasticDepth(nn.Module):
    """Drops the whole residual branch per example with probability ``p`` while training
    (and rescales survivors by ``1/(1-p)``); identity at eval. ``[N, ...] -> [N, ...]``."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"stochastic depth probability must be in [0, 1); got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty([x.shape[0]] + [1] * (x.dim() - 1)).bernoulli_(keep)
        return x * mask.div_(keep)  # torchvision's order of rounding: its EfficientNet's numbers exactly

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MBConv(nn.Module):
    """EfficientNet's inverted residual: 1-wide expand → depthwise k-wide → SE → 1-wide
    project, with stochastic depth on the residual. ``[N, C_in, *S] -> [N, C_out, *S/stride]``.

    ``se_ratio`` is relative to the block's input channels (as in EfficientNet). Layout
    matches torchvision's ``MBConv`` (``block`` = Sequential of the stages).
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int, expand_ratio: float, se_ratio: float = 0.25,
                 stochastic_depth: float = 0.0, norm: str = "batch", act: str = "silu",
                 norm_eps: float = 1e-5, norm_momentum: float = 0.1) -> None:
        super().__init__()
        self.spatial_dims, self.in_channels = spatial_dims, in_channels
        self.use_res_connect = stride == 1 and in_channels == out_channels
        expanded = make_divisible(in_channels * expand_ratio, 8)
        kw = dict(norm=norm, norm_eps=norm_eps, norm_momentum=norm_momentum)
        modules: list[nn.Module] = []
        if expanded != in_channels:
            modules.append(ConvNormAct(spatial_dims, in_channels, expanded, 1, act=act, **kw))
        modules.append(ConvNormAct(spatial_dims, expanded, expanded, kernel_size, stride,
                                  groups=expanded, act=act, **kw))
        if se_ratio > 0:
            modules.append(SqueezeExcitation(spatial_dims, expanded,
                                            max(1, int(in_channels * se_ratio)), act=act))
        modules.append(ConvNormAct(spatial_dims, expanded, out_channels, 1, act=None, **kw))
        self.block = nn.Sequential(*modules)
        self.stochastic_depth = StochasticDepth(stochastic_depth)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.spatial_dims, self.in_channels, "MBConv")
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out)
            out += x  # in place, as torchvision's MBConv
        return out


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor``, never dropping below 90% of it
    (the rule of the MobileNet/EfficientNet reference code)."""
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


class DepthwiseSeparable(nn.Module):
    """Depthwise k-wide conv-norm-act then pointwise 1-wide conv-norm-act (MobileNet).
    ``[N, C_in, *S] -> [N, C_out, *S/stride]``."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int,
                 kernel_size: int = 3, stride: int = 1, dilation: int = 1,
                 norm: str | None = "batch", act: str | None = "relu", causal: bool = False) -> None:
        super().__init__()
        self.depthwise = ConvNormAct(spatial_dims, in_channels, in_channels, kernel_size, stride,
                                     dilation=dilation, groups=in_channels, norm=norm, act=act,
                                     causal=causal)
        self.pointwise = ConvNormAct(spatial_dims, in_channels, out_channels, 1, norm=norm, act=act)
        self.spatial_dims, self.in_channels = spatial_dims, in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.spatial_dims, self.in_channels, "DepthwiseSeparable")
        return self.pointwise(self.depthwise(x))


class Conv2Plus1D(nn.Sequential):
    """The factorised "(2+1)D" conv of R(2+1)D: a conv over the non-leading spatial axes
    (``1×k×k``), norm + activation, then a conv over the leading (time) axis (``k×1×1``).

    ``[N, C_in, T, *S] -> [N, C_out, T/stride, *S/stride]`` for ``spatial_dims`` 2 or 3.
    ``mid_channels`` defaults to the count that matches a full ``k^d`` conv's parameters
    (Tran et al. 2018), as torchvision's ``Conv2Plus1D`` does.
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int,
                 mid_channels: int | None = None, kernel_size: int = 3, stride: int = 1,
                 norm: str = "batch", act: str = "relu") -> None:
        check_spatial_dims(spatial_dims)
        if spatial_dims < 2:
            raise ConfigError("Conv2Plus1D factorises time from space: spatial_dims must be 2 or 3")
        k, rest = kernel_size, spatial_dims - 1
        if mid_channels is None:
            mid_channels = matched_mid_channels(spatial_dims, in_channels, out_channels, k)
        pad = (k - 1) // 2
        super().__init__(
            conv(spatial_dims, in_channels, mid_channels, (1,) + (k,) * rest, (1,) + (stride,) * rest,
                 (0,) + (pad,) * rest, bias=False),
            layers.norm(spatial_dims, norm, mid_channels),
            layers.act(act),
            conv(spatial_dims, mid_channels, out_channels, (k,) + (1,) * rest, (stride,) + (1,) * rest,
                 (pad,) + (0,) * rest, bias=False),
        )
        self.spatial_dims, self.in_channels = spatial_dims, in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.spatial_dims, self.in_channels, "Conv2Plus1D")
        return super().forward(x)


class DilatedResidualBlock(nn.Module):
    """The residual block of TCN (Bai et al. 2018) / WaveNet: two dilated convs (causal in
    1D by default), each followed by norm, activation and dropout, plus a 1-wide
    projection shortcut when channels change. ``[N, C_in, L] -> [N, C_out, L]``.

    ``norm``: "weight" (weight normalisation of the convs, as in TCN), "batch", or None.
    Receptive field of the block: ``1 + 2 * (kernel_size - 1) * dilation``.
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int,
                 kernel_size: int = 3, dilation: int = 1, causal: bool = True,
                 dropout_p: float = 0.1, norm: str | None = "weight", act: str = "relu") -> None:
        super().__init__()
        self.spatial_dims, self.in_channels = spatial_dims, in_channels
        self.kernel_size, self.dilation = kernel_size, dilation
        modules: list[nn.Module] = []
        for cin in (in_channels, out_channels):
            c = conv(spatial_dims, cin, out_channels, kernel_size, dilation=dilation,
                     causal=causal, bias=norm != "batch")
            if norm == "weight":
                c = weight_norm(c)
            modules += [c, layers.norm(spatial_dims, norm if norm == "batch" else None, out_channels),
                        layers.act(act), dropout(spatial_dims, dropout_p)]
        self.net = nn.Sequential(*modules)
        self.downsample = (None if in_channels == out_channels
                           else conv(spatial_dims, in_channels, out_channels, 1))
        self.relu = layers.act(act)

    @property
    def receptive_field(self) -> int:
        """Input steps one output step depends on: ``1 + 2 (k - 1) d``."""
        return 1 + 2 * (self.kernel_size - 1) * self.dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.spatial_dims, self.in_channels, "DilatedResidualBlock")
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.net(x) + identity)

