"""VGG-11/13/16/19 (Simonyan & Zisserman 2014), with and without batch norm, as torchvision
builds them: 3-wide convs in five stages, each closed by a 2-wide max-pool, then a
two-layer 4096-unit classifier (vgg16: 138,357,544 parameters in 2D)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from convkit.models.base import Classifier, init_weights
from convkit.models.registry import register_model
from convkit.nn import ConvNormAct, adaptive_pool, pool


@dataclass(frozen=True)
class VGGConfig:
    """Stages as ``(channels, number of convs)``; batch norm or not; the adaptive pool size
    before the classifier (7 per axis in torchvision; lower it for 3D, where 7³ positions
    make the first dense layer 719M weights); hidden units; dropout; ``width_mult`` scales
    every conv width (1.0 as published)."""

    stages: tuple[tuple[int, int], ...]
    batch_norm: bool = False
    pool_size: int = 7
    hidden: int = 4096
    dropout: float = 0.5
    width_mult: float = 1.0


VGG11 = ((64, 1), (128, 1), (256, 2), (512, 2), (512, 2))
VGG13 = ((64, 2), (128, 2), (256, 2), (512, 2), (512, 2))
VGG16 = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
VGG19 = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))


class VGG(Classifier):
    """VGG: ``[N, C, *S]`` (every spatial size ≥ 32; 224 as published) ``-> [N, classes]``."""

    min_input_size = 32

    def __init__(self, cfg: VGGConfig, spatial_dims: int = 2, in_channels: int = 3,
                 num_classes: int = 1000) -> None:
        super().__init__()
        self.spatial_dims, self.in_channels, self.cfg = spatial_dims, in_channels, cfg
        d, layers, cin = spatial_dims, [], in_channels
        for channels, repeats in cfg.stages:
            channels = max(1, int(channels * cfg.width_mult))
            for _ in range(repeats):
                # torchvision keeps the conv bias even before batch norm: so do we (same counts)
                layers.append(ConvNormAct(d, cin, channels, 3, norm="batch" if cfg.batch_norm else None,
                                          bias=True))
                cin = channels
            layers.append(pool(d, "max", 2, 2))
        self.features = nn.Sequential(
            *layers, adaptive_pool(d, "avg", cfg.pool_size), nn.Flatten(),
            nn.Linear(cin * cfg.pool_size ** d, cfg.hidden), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout),
        )
        self._init_head(cfg.hidden, num_classes)
        init_weights(self)

    def torchvision_prefixes(self) -> list[tuple[str, str]]:
        """torchvision's ``vgg.py`` layout: its ``features`` is a flat list (conv, [bn,]
        ReLU per conv, a max-pool per stage) where each conv here is one ``ConvNormAct``;
        its ``classifier.0``/``.3`` are the dense layers after the flattened pool, and
        ``classifier.6`` the head."""
        pairs, tv, ck = [], 0, 0
        for _, repeats in self.cfg.stages:
            for _ in range(repeats):
                pairs.append((f"features.{ck}.0.", f"features.{tv}."))
                if self.cfg.batch_norm:
                    pairs.append((f"features.{ck}.1.", f"features.{tv + 1}."))
                tv, ck = tv + (3 if self.cfg.batch_norm else 2), ck + 1
            tv, ck = tv + 1, ck + 1  # the stage's max-pool
        # then: adaptive pool (ck), Flatten, Linear, ReLU, Dropout, Linear, ReLU, Dropout
        return pairs + [(f"features.{ck + 2}.", "classifier.0."), (f"features.{ck + 5}.", "classifier.3."),
                        ("head.1.", "classifier.6.")]


def _vgg(stages, batch_norm, spatial_dims, in_channels, num_classes, options) -> VGG:
    return VGG(VGGConfig(stages, batch_norm, **options), spatial_dims, in_channels, num_classes)


@register_model(domain="image")
def vgg11(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> VGG:
    """VGG-11 (configuration A)."""
    return _vgg(VGG11, False, spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def vgg11_bn(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> VGG:
    """VGG-11 with batch norm."""
    return _vgg(VGG11, True, spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def vgg13(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> VGG:
    """VGG-13 (configuration B)."""
    return _vgg(VGG13, False, spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def vgg13_bn(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> VGG:
    """VGG-13 with batch norm."""
    return _vgg(VGG13, True, spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def vgg16(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> VGG:
    """VGG-16 (configuration D)."""
    return _vgg(VGG16, False, spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def vgg16_bn(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> VGG:
    """VGG-16 with batch norm."""
    return _vgg(VGG16, True, spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def vgg19(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> VGG:
    """VGG-19 (configuration E)."""
    return _vgg(VGG19, False, spatial_dims, in_channels, num_classes, options)


@register_model(domain="image")
def vgg19_bn(spatial_dims=2, in_channels=3, num_classes=1000, **options) -> VGG:
    """VGG-19 with batch norm."""
    return _vgg(VGG19, True, spatial_dims, in_channels, num_classes, options)
