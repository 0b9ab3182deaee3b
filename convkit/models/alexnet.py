"""AlexNet (Krizhevsky et al. 2012) as torchvision builds it (the single-GPU variant):
61,100,840 parameters in 2D for 3 channels and 1000 classes."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from convkit.models.base import Classifier
from convkit.models.registry import register_model
from convkit.nn import adaptive_pool, conv, pool


@dataclass(frozen=True)
class AlexNetConfig:
    """Conv widths, the adaptive pool size before the classifier (6 per axis in torchvision),
    the hidden units of the two dense layers, the dropout, and ``width_mult`` scaling every
    conv width (1.0 as published)."""

    channels: tuple[int, ...] = (64, 192, 384, 256, 256)
    pool_size: int = 6
    hidden: int = 4096
    dropout: float = 0.5
    width_mult: float = 1.0


class AlexNet(Classifier):
    """AlexNet: ``[N, C, *S]`` (every spatial size ≥ 63; 224 as published) ``-> [N, classes]``."""

    min_input_size = 63

    def __init__(self, cfg: AlexNetConfig, spatial_dims: int = 2, in_channels: int = 3,
                 num_classes: int = 1000) -> None:
        super().__init__()
        self.spatial_dims, self.in_channels = spatial_dims, in_channels
        c = [max(1, int(w * cfg.width_mult)) for w in cfg.channels]
        d = spatial_dims
        self.features = nn.Sequential(
            conv(d, in_channels, c[0], 11, stride=4, padding=2), nn.ReLU(inplace=True), pool(d, "max", 3, 2),
            conv(d, c[0], c[1], 5, padding=2), nn.ReLU(inplace=True), pool(d, "max", 3, 2),
            conv(d, c[1], c[2], 3, padding=1), nn.ReLU(inplace=True),
            conv(d, c[2], c[3], 3, padding=1), nn.ReLU(inplace=True),
            conv(d, c[3], c[4], 3, padding=1), nn.ReLU(inplace=True), pool(d, "max", 3, 2),
            adaptive_pool(d, "avg", cfg.pool_size), nn.Flatten(),
            nn.Dropout(cfg.dropout), nn.Linear(c[4] * cfg.pool_size ** d, cfg.hidden), nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(inplace=True),
        )
        self._init_head(cfg.hidden, num_classes)

    def torchvision_prefixes(self) -> list[tuple[str, str]]:
        """torchvision's ``alexnet.py`` layout: the convs keep their ``features`` indices;
        its ``classifier.1``/``.4`` are the dense layers here after the pool and flatten
        (``features.16``/``.19``), ``classifier.6`` the head."""
        return [(f"features.{i}.", f"features.{i}.") for i in (0, 3, 6, 8, 10)] + \
            [("features.16.", "classifier.1."), ("features.19.", "classifier.4."), ("head.1.", "classifier.6.")]


@register_model(domain="image")
def alexnet(spatial_dims: int = 2, in_channels: int = 3, num_classes: int = 1000, **options) -> AlexNet:
    """AlexNet (options override ``AlexNetConfig`` fields, e.g. ``pool_size=1`` for 3D)."""
    return AlexNet(AlexNetConfig(**options), spatial_dims, in_channels, num_classes)
