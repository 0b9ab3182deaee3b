"""Video models: the video ResNets of torchvision's ``video/resnet.py`` (R3D-18, MC3-18,
R(2+1)D-18) as short builders over the ONE ``ResNet`` class, C3D (Tran et al. 2015), and a
separable 3D CNN (depthwise + pointwise convs from the core). Inputs are clips
``[N, C, T, H, W]``. I3D-style models come from inflating any 2D zoo model
(``convkit.models.inflate``).

With 3 channels and 400 classes the video ResNets have torchvision's parameter counts:
r3d_18 33,371,472; mc3_18 11,695,440; r2plus1d_18 31,505,325.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from convkit.models.base import Classifier, init_weights
from convkit.models.registry import register_model
from convkit.models.resnet import R2PLUS1D_STEM, VIDEO_STEM, ResNet, ResNetConfig
from convkit.nn import BasicBlock, ConvNormAct, DepthwiseSeparable, adaptive_pool, global_pool, pool
from convkit.nn.blocks import Factorised2Plus1D, FullConv, SpatialConv
from convkit.nn.layers import Size


def _video_resnet(conv_type, stem, in_channels: int, num_classes: int, options: dict) -> ResNet:
    cfg = ResNetConfig(BasicBlock, (2, 2, 2, 2), **{"stem": stem, "conv_type": conv_type, **options})
    return ResNet(cfg, 3, in_channels, num_classes)


@register_model(spatial_dims=(3,), domain="video")
def r3d_18(spatial_dims: int = 3, in_channels: int = 3, num_classes: int = 400, **options) -> ResNet:
    """R3D-18 (Tran et al. 2018): ResNet-18 with full 3×3×3 convs and the 3×7×7 stem."""
    return _video_resnet(FullConv(), VIDEO_STEM, in_channels, num_classes, options)


@register_model(spatial_dims=(3,), domain="video")
def mc3_18(spatial_dims: int = 3, in_channels: int = 3, num_classes: int = 400, **options) -> ResNet:
    """MC3-18: 3×3×3 convs in the first stage, 1×3×3 ("mixed convolutions") in the rest."""
    spatial = SpatialConv()
    return _video_resnet((FullConv(), spatial, spatial, spatial), VIDEO_STEM, in_channels, num_classes, options)


@register_model(spatial_dims=(3,), domain="video")
def r2plus1d_18(spatial_dims: int = 3, in_channels: int = 3, num_classes: int = 400, **options) -> ResNet:
    """R(2+1)D-18: every 3×3×3 conv factorised into 1×3×3 then 3×1×1, with the paper's
    mid-channel rule, and the factorised stem."""
    return _video_resnet(Factorised2Plus1D(), R2PLUS1D_STEM, in_channels, num_classes, options)


# --------------------------------------------------------------------------- C3D

C3D_CHANNELS = (64, 128, 256, 256, 512, 512, 512, 512)
"""The eight 3×3×3 convs of C3D (conv1a, conv2a, conv3a/b, conv4a/b, conv5a/b)."""

_C3D_POOL_AFTER = (0, 1, 3, 5, 7)
"""Indices of the convs each max-pool follows (pool1 1×2×2, pool2-5 2×2×2)."""


@dataclass(frozen=True)
class C3DConfig:
    """C3D (Tran et al. 2015, "Learning spatiotemporal features with 3D convolutional
    networks"): conv widths (times ``width_mult``), ``batch_norm`` after each conv (not in
    the paper; it makes small from-scratch runs train fast), the adaptive average pool
    before the dense layers (``pool_size``: (1, 4, 4) is exactly pool5's output on the
    published 16×112×112 clips, so fc6 reads 8192 values; 1 for small clips), ``hidden``
    units of fc6/fc7 and their ``dropout``."""

    channels: tuple[int, ...] = C3D_CHANNELS
    width_mult: float = 1.0
    batch_norm: bool = False
    pool_size: Size = (1, 4, 4)
    hidden: int = 4096
    dropout: float = 0.5


class C3D(Classifier):
    """C3D: eight 3×3×3 convs, five max-pools (the first 1×2×2, the rest 2×2×2; ceil mode,
    so any clip size ≥ 1 runs), adaptive pooling, fc6/fc7 with dropout, then the head.
    ``[N, C, T, H, W] -> [N, num_classes]``; features are fc7's ``[N, hidden]``."""

    def __init__(self, cfg: C3DConfig, spatial_dims: int = 3, in_channels: int = 3,
                 num_classes: int = 487) -> None:
        super().__init__()
        self.spatial_dims, self.in_channels, self.cfg = 3, in_channels, cfg
        layers, cin = [], in_channels
        for i, width in enumerate(cfg.channels):
            width = max(1, int(round(width * cfg.width_mult)))
            layers.append(ConvNormAct(3, cin, width, 3, norm="batch" if cfg.batch_norm else None))
            cin = width
            if i in _C3D_POOL_AFTER:
                size = (1, 2, 2) if i == 0 else 2
                layers.append(pool(3, "max", size, size, ceil_mode=True))
        cells = math.prod(cfg.pool_size) if not isinstance(cfg.pool_size, int) else cfg.pool_size ** 3
        self.features = nn.Sequential(
            *layers, adaptive_pool(3, "avg", cfg.pool_size), nn.Flatten(),
            nn.Linear(cin * cells, cfg.hidden), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout))
        self._init_head(cfg.hidden, num_classes)
        init_weights(self)


@register_model(spatial_dims=(3,), domain="video")
def c3d(spatial_dims: int = 3, in_channels: int = 3, num_classes: int = 487, **options) -> C3D:
    """C3D as published (Sports-1M's 487 classes by default; options override
    ``C3DConfig`` fields, e.g. ``width_mult``, ``pool_size``, ``hidden``)."""
    return C3D(C3DConfig(**options), 3, in_channels, num_classes)


@register_model(spatial_dims=(3,), domain="video")
def c3d_small(spatial_dims: int = 3, in_channels: int = 3, num_classes: int = 9, **options) -> C3D:
    """C3D at 1/8 width with batch norm, global pooling and 128-unit dense layers (about
    0.45M parameters): the video task's default for small clips such as 16×32×32."""
    kw = dict(width_mult=0.125, batch_norm=True, pool_size=1, hidden=128, dropout=0.3)
    return C3D(C3DConfig(**{**kw, **options}), 3, in_channels, num_classes)


# --------------------------------------------------------------------------- separable 3D


@dataclass(frozen=True)
class SeparableCNNConfig:
    """A conv-norm-ReLU stem of ``stem_width`` (stride ``stem_stride``; None: 1×2×2 in 3D,
    keeping time, 2 in 1D/2D), then one
    depthwise-separable block per entry of ``widths`` (stride 2 each, the first
    ``first_stride``), global average pooling and ``dropout`` before the head."""

    stem_width: int = 32
    stem_stride: Size | None = None
    widths: tuple[int, ...] = (64, 128, 256, 256)
    first_stride: Size = 1
    dropout: float = 0.2


class SeparableCNN(Classifier):
    """Separable 3D CNN (MobileNet-style: a depthwise ``3×3×3`` conv per channel, then a
    pointwise ``1×1×1`` conv), built from the core's ``DepthwiseSeparable``. Works in any
    dimension (pass per-axis strides of that length). ``[N, C, *S] -> [N, num_classes]``."""

    def __init__(self, cfg: SeparableCNNConfig, spatial_dims: int = 3, in_channels: int = 3,
                 num_classes: int = 400) -> None:
        super().__init__()
        self.spatial_dims, self.in_channels = spatial_dims, in_channels
        d = spatial_dims
        stem_stride = cfg.stem_stride if cfg.stem_stride is not None else ((1, 2, 2) if d == 3 else 2)
        layers: list[nn.Module] = [ConvNormAct(d, in_channels, cfg.stem_width, 3, stem_stride)]
        cin = cfg.stem_width
        for i, width in enumerate(cfg.widths):
            stride = cfg.first_stride if i == 0 else 2
            layers.append(DepthwiseSeparable(d, cin, width, 3, stride))
            cin = width
        self.features = nn.Sequential(*layers, global_pool("avg"))
        self._init_head(cin, num_classes, cfg.dropout)
        init_weights(self)


@register_model(spatial_dims=(1, 2, 3), domain="video")
def separable_cnn(spatial_dims: int = 3, in_channels: int = 3, num_classes: int = 400, **options) -> SeparableCNN:
    """The separable CNN (options override ``SeparableCNNConfig``); 3D by default."""
    return SeparableCNN(SeparableCNNConfig(**options), spatial_dims, in_channels, num_classes)
