"""ResNet-18/34/50/101/152 (He et al. 2015), ResNeXt-50 32x4d and Wide ResNet-50-2 in any
dimension, laid out as torchvision's ``resnet.py``: a stem, four stages made by
``_make_layer``, global average pooling, one linear layer. In 2D with 3 channels and 1000
classes the parameter counts equal torchvision's (resnet50: 25,557,032).

The same class builds the video ResNets of torchvision's ``video/resnet.py`` (R3D, MC3,
R(2+1)D; ``convkit.models.video``): the conv type of each stage is a strategy passed into
the blocks (``FullConv``, ``SpatialConv``, ``Factorised2Plus1D``) and the stem is a
``StemConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Type, Union

from torch import nn

from convkit.errors import ConfigError
from convkit.models.base import Classifier, init_weights
from convkit.models.registry import register_model
from convkit.nn import BasicBlock, Bottleneck, conv, global_pool, norm, pool
from convkit.nn.blocks import ConvType, FullConv, conv_type_from
from convkit.nn.layers import Size

Block = Type[Union[BasicBlock, Bottleneck]]


@dataclass(frozen=True)
class StemConfig:
    """The stem: a conv of ``kernel_size``/``stride`` (padding ``(k-1)//2`` per axis) from
    the input to the first stage's width, norm, ReLU, then a 3-wide stride-2 max-pool if
    ``max_pool``. With ``mid_channels`` the conv is factorised as in R(2+1)D's stem: a conv
    over the non-leading axes to ``mid_channels`` (norm, ReLU), then one over the leading
    (time) axis. Per-axis sizes are tuples ``(t, h, w)`` in 3D."""

    kernel_size: Size = 7
    stride: Size = 2
    max_pool: bool = True
    mid_channels: int | None = None


IMAGE_STEM = StemConfig(7, 2, max_pool=True)
"""torchvision's image stem: 7-wide stride-2 conv, then a stride-2 max-pool (224 inputs)."""
SMALL_INPUT_STEM = StemConfig(3, 1, max_pool=False)
"""A 3-wide stride-1 stem without max-pool, for 32-sized inputs (CIFAR-style)."""
VIDEO_STEM = StemConfig((3, 7, 7), (1, 2, 2), max_pool=False)
"""torchvision's R3D/MC3 stem (``BasicStem``): 3×7×7, stride 1×2×2, no max-pool."""
R2PLUS1D_STEM = StemConfig((3, 7, 7), (1, 2, 2), max_pool=False, mid_channels=45)
"""torchvision's R(2+1)D stem: 1×7×7 to 45 channels, then 3×1×1 (stride 1×2×2 overall)."""


@dataclass(frozen=True)
class ResNetConfig:
    """Block type, blocks per stage, groups and width per group (ResNeXt / Wide ResNet),
    the stage widths, and the stem: ``stem`` (a ``StemConfig``) or, when None,
    ``small_input`` picks ``SMALL_INPUT_STEM`` over ``IMAGE_STEM``. ``conv_type``: the
    blocks' conv strategy, one for every stage or a 4-tuple (MC3: 3D then 2D), or its
    name ("full" | "spatial" | "2plus1d")."""

    block: Block
    layers: tuple[int, int, int, int]
    groups: int = 1
    width_per_group: int = 64
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    small_input: bool = False
    zero_init_residual: bool = False
    dropout: float = 0.0
    norm: str = "batch"
    stem: StemConfig | None = None
    conv_type: ConvType | str | tuple = FullConv()

    def stage_conv_types(self) -> tuple[ConvType, ...]:
        """One conv-type strategy per stage."""
        types = self.conv_type if isinstance(self.conv_type, (tuple, list)) else (self.conv_type,) * len(self.layers)
        if len(types) != len(self.layers):
            raise ConfigError(f"conv_type needs one entry per stage ({len(self.layers)}); got {len(types)}")
        return tuple(conv_type_from(t) for t in types)


def make_stem(spatial_dims: int, in_channels: int, out_channels: int, stem: StemConfig,
              norm_kind: str = "batch") -> list[nn.Module]:
    """The layers of ``stem``: ``[N, C_in, *S] -> [N, out_channels, *S/stride]`` (and /2
    again with the max-pool)."""
    d = spatial_dims
    if stem.mid_channels is None:
        layers = [conv(d, in_channels, out_channels, stem.kernel_size, stem.stride, bias=False),
                  norm(d, norm_kind, out_channels), nn.ReLU(inplace=True)]
    else:
        ks = (stem.kernel_size,) * d if isinstance(stem.kernel_size, int) else tuple(stem.kernel_size)
        ss = (stem.stride,) * d if isinstance(stem.stride, int) else tuple(stem.stride)
        mid = stem.mid_channels
        layers = [conv(d, in_channels, mid, (1, *ks[1:]), (1, *ss[1:]), bias=False), norm(d, norm_kind, mid),
                  nn.ReLU(inplace=True),
                  conv(d, mid, out_channels, (ks[0],) + (1,) * (d - 1), (ss[0],) + (1,) * (d - 1), bias=False),
                  norm(d, norm_kind, out_channels), nn.ReLU(inplace=True)]
    if stem.max_pool:
        layers.append(pool(d, "max", 3, 2, 1))
    return layers


class ResNet(Classifier):
    """ResNet: ``[N, C, *S] -> [N, num_classes]``; any spatial size ≥ 1 runs (the stride-2
    convs are padded), 224 is the published size, 32 with ``small_input=True``."""

    def __init__(self, cfg: ResNetConfig, spatial_dims: int = 2, in_channels: int = 3,
                 num_classes: int = 1000) -> None:
        super().__init__()
        d = self.spatial_dims = spatial_dims
        self.in_channels, self.cfg = in_channels, cfg
        self.inplanes = cfg.widths[0]
        stem_cfg = cfg.stem or (SMALL_INPUT_STEM if cfg.small_input else IMAGE_STEM)
        stem = make_stem(d, in_channels, self.inplanes, stem_cfg, cfg.norm)
        conv_types = cfg.stage_conv_types()
        stages = [self._make_layer(w, n, 1 if i == 0 else 2, conv_types[i])
                  for i, (w, n) in enumerate(zip(cfg.widths, cfg.layers))]
        self.features = nn.Sequential(*stem, *stages, global_pool("avg"))
        self._init_head(cfg.widths[-1] * cfg.block.expansion, num_classes, cfg.dropout)
        init_weights(self)
        self.reset_classifier(num_classes)  # torchvision keeps torch's default init for fc
        for m in self.modules():
            if cfg.zero_init_residual and isinstance(m, (BasicBlock, Bottleneck)):
                last_bn = m.bn3 if isinstance(m, Bottleneck) else m.bn2
                nn.init.zeros_(last_bn.weight)

    def torchvision_prefixes(self) -> list[tuple[str, str]] | None:
        """torchvision's ``resnet.py`` layout (``conv1``, ``bn1``, ``layer1``-``layer4``,
        ``fc``) for the image stem, or its ``video/resnet.py`` layout for the video stems of
        ``r3d_18``/``mc3_18``/``r2plus1d_18`` (``stem.N``, blocks whose ``conv1`` is
        ``Sequential(conv, bn, relu)``: ``conv1.0``/``conv1.1``, ``fc``)."""
        first = len(self.features) - len(self.cfg.layers) - 1  # the index of layer1 in features
        if self.cfg.stem is None or self.cfg.stem == IMAGE_STEM:
            pairs = [("features.0.", "conv1."), ("features.1.", "bn1.")]
            return pairs + [(f"features.{first + i}.", f"layer{i + 1}.") for i in range(len(self.cfg.layers))] \
                + [("head.1.", "fc.")]
        if self.cfg.stem not in (VIDEO_STEM, R2PLUS1D_STEM):
            return None
        pairs = [(f"features.{j}.", f"stem.{j}.") for j in range(first)]
        for i, blocks in enumerate(self.cfg.layers):
            stage = f"features.{first + i}."
            pairs.append((stage, f"layer{i + 1}."))
            for b in range(blocks):
                for n in (1, 2):
                    pairs += [(f"{stage}{b}.conv{n}.", f"layer{i + 1}.{b}.conv{n}.0."),
                              (f"{stage}{b}.bn{n}.", f"layer{i + 1}.{b}.conv{n}.1.")]
        return pairs + [("head.1.", "fc.")]

    def _make_layer(self, planes: int, blocks: int, stride: int, conv_type: ConvType) -> nn.Sequential:
        cfg = self.cfg
        kw = dict(groups=cfg.groups, base_width=cfg.width_per_group, norm=cfg.norm, conv_type=conv_type)
        layers = [cfg.block(self.spatial_dims, self.inplanes, planes, stride, **kw)]
        self.inplanes = planes * cfg.block.expansion
        layers += [cfg.block(self.spatial_dims, self.inplanes, planes, 1, **kw) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


def _resnet(block: Block, layers, spatial_dims, in_channels, num_classes, options, **arch) -> ResNet:
    return ResNet(ResNetConfig(block, layers, **arch, **options), spatial_dims, in_channels, num_classes)


@register_model(domain="image")
def resnet18(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> ResNet:
    """ResNet-18: basic blocks [2, 2, 2, 2]."""
    return _resnet(BasicBlock, (2, 2, 2, 2), spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def resnet34(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> ResNet:
    """ResNet-34: basic blocks [3, 4, 6, 3]."""
    return _resnet(BasicBlock, (3, 4, 6, 3), spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def resnet50(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> ResNet:
    """ResNet-50: bottlenecks [3, 4, 6, 3]."""
    return _resnet(Bottleneck, (3, 4, 6, 3), spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def resnet101(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> ResNet:
    """ResNet-101: bottlenecks [3, 4, 23, 3]."""
    return _resnet(Bottleneck, (3, 4, 23, 3), spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def resnet152(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> ResNet:
    """ResNet-152: bottlenecks [3, 8, 36, 3]."""
    return _resnet(Bottleneck, (3, 8, 36, 3), spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def resnext50_32x4d(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> ResNet:
    """ResNeXt-50 32x4d: ResNet-50 with 32 groups of width 4 in each bottleneck."""
    return _resnet(Bottleneck, (3, 4, 6, 3), spatial_dims, in_channels, num_classes, options,
                   groups=32, width_per_group=4)


@register_model(domain="image")
def wide_resnet50_2(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> ResNet:
    """Wide ResNet-50-2: ResNet-50 with bottlenecks twice as wide."""
    return _resnet(Bottleneck, (3, 4, 6, 3), spatial_dims, in_channels, num_classes, options,
                   width_per_group=128)
