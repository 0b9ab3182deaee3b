"""EfficientNet-B0…B7 (Tan & Le 2019) in any dimension, as torchvision's ``efficientnet.py``:
the B0 stages of MBConv blocks scaled in width and depth by each variant's published
coefficients. In 2D with 3 channels and 1000 classes the parameter counts equal
torchvision's (B0: 5,288,548; B7: 66,347,960).

Compound scaling: ``compound_coefficients(phi)`` gives depth α^φ, width β^φ and
resolution γ^φ (α=1.2, β=1.1, γ=1.15); the released B1–B7 use rounded values from a table
(``VARIANTS``), not exactly α^φ, so both are here: the table for B0–B7 and the rule for a
custom φ (``create_model("efficientnet", phi=1.5)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from torch import nn

from convkit.models.base import Classifier
from convkit.models.registry import register_model
from convkit.nn import ConvNormAct, MBConv, global_pool, make_divisible


@dataclass(frozen=True)
class StageConfig:
    """One stage of MBConv blocks: expansion ratio, kernel, stride of its first block,
    input and output channels, number of blocks (all before scaling)."""

    expand_ratio: float
    kernel_size: int
    stride: int
    in_channels: int
    out_channels: int
    num_layers: int

    def scaled(self, width_mult: float, depth_mult: float) -> "StageConfig":
        """This stage with channels scaled by ``width_mult`` (rounded to multiples of 8)
        and blocks by ``depth_mult`` (rounded up)."""
        return replace(self, in_channels=make_divisible(self.in_channels * width_mult, 8),
                       out_channels=make_divisible(self.out_channels * width_mult, 8),
                       num_layers=int(math.ceil(self.num_layers * depth_mult)))


B0_STAGES = (
    StageConfig(1, 3, 1, 32, 16, 1),
    StageConfig(6, 3, 2, 16, 24, 2),
    StageConfig(6, 5, 2, 24, 40, 2),
    StageConfig(6, 3, 2, 40, 80, 3),
    StageConfig(6, 5, 1, 80, 112, 3),
    StageConfig(6, 5, 2, 112, 192, 4),
    StageConfig(6, 3, 1, 192, 320, 1),
)


@dataclass(frozen=True)
class EfficientNetConfig:
    """Width and depth multipliers, classifier dropout, the nominal input resolution,
    stochastic-depth rate (linearly increasing over blocks) and batch-norm settings."""

    width_mult: float = 1.0
    depth_mult: float = 1.0
    dropout: float = 0.2
    resolution: int = 224
    stochastic_depth: float = 0.2
    norm_eps: float = 1e-5
    norm_momentum: float = 0.1
    stages: tuple[StageConfig, ...] = B0_STAGES


# (width, depth, dropout, resolution) as released; B5–B7 use BN eps 1e-3, momentum 0.01.
VARIANTS = {
    "b0": (1.0, 1.0, 0.2, 224), "b1": (1.0, 1.1, 0.2, 240), "b2": (1.1, 1.2, 0.3, 260),
    "b3": (1.2, 1.4, 0.3, 300), "b4": (1.4, 1.8, 0.4, 380), "b5": (1.6, 2.2, 0.4, 456),
    "b6": (1.8, 2.6, 0.5, 528), "b7": (2.0, 3.1, 0.5, 600),
}


def compound_coefficients(phi: float, alpha: float = 1.2, beta: float = 1.1,
                          gamma: float = 1.15) -> tuple[float, float, float]:
    """The compound scaling rule: ``(depth α^φ, width β^φ, resolution γ^φ)``, with α·β²·γ² ≈ 2
    so each unit of φ about doubles the FLOPs."""
    return alpha ** phi, beta ** phi, gamma ** phi


def compound_config(phi: float, base_resolution: int = 224, dropout: float = 0.2) -> EfficientNetConfig:
    """An EfficientNet config for a custom φ by the compound rule (B0 is φ = 0)."""
    depth, width, res = compound_coefficients(phi)
    return EfficientNetConfig(width_mult=width, depth_mult=depth, dropout=dropout,
                              resolution=int(round(base_resolution * res)))


class EfficientNet(Classifier):
    """EfficientNet: ``[N, C, *S] -> [N, num_classes]``; any spatial size ≥ 1 runs,
    ``cfg.resolution`` is the size it was scaled for."""

    def __init__(self, cfg: EfficientNetConfig, spatial_dims: int = 2, in_channels: int = 3,
                 num_classes: int = 1000) -> None:
        super().__init__()
        d = self.spatial_dims = spatial_dims
        self.in_channels, self.cfg = in_channels, cfg
        stages = [s.scaled(cfg.width_mult, cfg.depth_mult) for s in cfg.stages]
        bn = dict(norm_eps=cfg.norm_eps, norm_momentum=cfg.norm_momentum)
        layers: list[nn.Module] = [ConvNormAct(d, in_channels, stages[0].in_channels, 3, 2, act="silu", **bn)]
        total, block_id = sum(s.num_layers for s in stages), 0
        for s in stages:
            blocks = []
            for i in range(s.num_layers):
                blocks.append(MBConv(d, s.in_channels if i == 0 else s.out_channels, s.out_channels,
                                     s.kernel_size, s.stride if i == 0 else 1, s.expand_ratio,
                                     stochastic_depth=cfg.stochastic_depth * block_id / total, **bn))
                block_id += 1
            layers.append(nn.Sequential(*blocks))
        last_in = stages[-1].out_channels
        layers.append(ConvNormAct(d, last_in, 4 * last_in, 1, act="silu", **bn))
        self.features = nn.Sequential(*layers, global_pool("avg"))
        self._init_head(4 * last_in, num_classes, cfg.dropout)
        self._init_weights()

    def torchvision_prefixes(self) -> list[tuple[str, str]]:
        """torchvision's ``efficientnet.py`` layout: ``features`` as here (stem, the seven
        stages of ``MBConv.block``, the last 1-wide conv), ``classifier.1`` the head."""
        return [("features.", "features."), ("head.1.", "classifier.1.")]

    def _init_weights(self) -> None:
        """torchvision's EfficientNet initialisation (nothing on the meta device: no values)."""
        if any(p.is_meta for p in self.parameters()):
            return
        for m in self.modules():
            if isinstance(m, nn.modules.conv._ConvNd):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                r = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -r, r)
                nn.init.zeros_(m.bias)


def _variant(key: str, spatial_dims, in_channels, num_classes, options) -> EfficientNet:
    width, depth, drop, res = VARIANTS[key]
    bn = dict(norm_eps=1e-3, norm_momentum=0.01) if key in ("b5", "b6", "b7") else {}
    cfg = EfficientNetConfig(width_mult=width, depth_mult=depth, dropout=drop, resolution=res, **bn)
    return EfficientNet(replace(cfg, **options), spatial_dims, in_channels, num_classes)


@register_model(domain="image")
def efficientnet(spatial_dims=2, in_channels=3, num_classes=1000, phi: float = 0.0, **options) -> EfficientNet:
    """EfficientNet for a custom compound coefficient ``phi`` (α=1.2, β=1.1, γ=1.15)."""
    return EfficientNet(replace(compound_config(phi), **options), spatial_dims, in_channels, num_classes)


@register_model(domain="image")
def efficientnet_b0(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> EfficientNet:
    """EfficientNet-B0 (width 1.0, depth 1.0, dropout 0.2, 224)."""
    return _variant("b0", spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def efficientnet_b1(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> EfficientNet:
    """EfficientNet-B1 (1.0, 1.1, 0.2, 240)."""
    return _variant("b1", spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def efficientnet_b2(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> EfficientNet:
    """EfficientNet-B2 (1.1, 1.2, 0.3, 260)."""
    return _variant("b2", spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def efficientnet_b3(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> EfficientNet:
    """EfficientNet-B3 (1.2, 1.4, 0.3, 300)."""
    return _variant("b3", spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def efficientnet_b4(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> EfficientNet:
    """EfficientNet-B4 (1.4, 1.8, 0.4, 380)."""
    return _variant("b4", spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def efficientnet_b5(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> EfficientNet:
    """EfficientNet-B5 (1.6, 2.2, 0.4, 456)."""
    return _variant("b5", spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def efficientnet_b6(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> EfficientNet:
    """EfficientNet-B6 (1.8, 2.6, 0.5, 528)."""
    return _variant("b6", spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def efficientnet_b7(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> EfficientNet:
    """EfficientNet-B7 (2.0, 3.1, 0.5, 600)."""
    return _variant("b7", spatial_dims, in_channels, num_classes, options)
