"""ResNet-18/34/50/101/152 (He et al. 2015), ResNeXt-50 32x4d and Wide ResNet-50-2 in any
dimension, laid out as torchvision's ``resnet.py``: a stem, four stages made by
``_make_layer``, global average pooling, one linear layer. In 2D with 3 channels and 1000
classes the parameter counts equal torchvision's (resnet50: 25,557,032)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Type, Union

from torch import nn

from convkit.models.base import Classifier, init_weights
from convkit.models.registry import register_model
from convkit.nn import BasicBlock, Bottleneck, conv, global_pool, norm, pool

Block = Type[Union[BasicBlock, Bottleneck]]


@dataclass(frozen=True)
class ResNetConfig:
    """Block type, blocks per stage, groups and width per group (ResNeXt / Wide ResNet),
    the stage widths, and ``small_input``: a 3-wide stride-1 stem with no max-pool for
    32-sized inputs (CIFAR-style) instead of the 7-wide stride-2 stem + max-pool."""

    block: Block
    layers: tuple[int, int, int, int]
    groups: int = 1
    width_per_group: int = 64
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)
    small_input: bool = False
    zero_init_residual: bool = False
    dropout: float = 0.0
    norm: str = "batch"


class ResNet(Classifier):
    """ResNet: ``[N, C, *S] -> [N, num_classes]``; any spatial size ≥ 1 runs (the stride-2
    convs are padded), 224 is the published size, 32 with ``small_input=True``."""

    def __init__(self, cfg: ResNetConfig, spatial_dims: int = 2, in_channels: int = 3,
                 num_classes: int = 1000) -> None:
        super().__init__()
        d = self.spatial_dims = spatial_dims
        self.in_channels, self.cfg = in_channels, cfg
        self.inplanes = cfg.widths[0]
        if cfg.small_input:
            stem = [conv(d, in_channels, self.inplanes, 3, 1, bias=False), norm(d, cfg.norm, self.inplanes),
                    nn.ReLU(inplace=True)]
        else:
            stem = [conv(d, in_channels, self.inplanes, 7, 2, padding=3, bias=False),
                    norm(d, cfg.norm, self.inplanes), nn.ReLU(inplace=True), pool(d, "max", 3, 2, 1)]
        stages = [self._make_layer(w, n, 1 if i == 0 else 2) for i, (w, n) in enumerate(zip(cfg.widths, cfg.layers))]
        self.features = nn.Sequential(*stem, *stages, global_pool("avg"))
        self._init_head(cfg.widths[-1] * cfg.block.expansion, num_classes, cfg.dropout)
        init_weights(self)
        self.reset_classifier(num_classes)  # torchvision keeps torch's default init for fc
        for m in self.modules():
            if cfg.zero_init_residual and isinstance(m, (BasicBlock, Bottleneck)):
                last_bn = m.bn3 if isinstance(m, Bottleneck) else m.bn2
                nn.init.zeros_(last_bn.weight)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        cfg = self.cfg
        kw = dict(groups=cfg.groups, base_width=cfg.width_per_group, norm=cfg.norm)
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
