"""LeNet-5 (LeCun et al. 1998) in any dimension: 32-wide input, conv 6 → avg-pool →
conv 16 → avg-pool → conv 120 → dense 84 → classes, tanh throughout. In 2D on one channel
with 10 classes it has 61,706 parameters (C3 fully connected, as usual today)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from convkit.models.base import Classifier
from convkit.models.registry import register_model
from convkit.nn import act, conv, global_pool, pool


@dataclass(frozen=True)
class LeNetConfig:
    """Channels of C1, C3, C5; units of F6; kernel width; activation; pooling kind."""

    channels: tuple[int, int, int] = (6, 16, 120)
    hidden: int = 84
    kernel_size: int = 5
    activation: str = "tanh"
    pooling: str = "avg"


class LeNet(Classifier):
    """LeNet-5: ``[N, C, *S]`` with every spatial size ≥ 32 (exactly 32 as in the paper;
    larger inputs are globally averaged after C5) ``-> [N, num_classes]``."""

    min_input_size = 32

    def __init__(self, cfg: LeNetConfig, spatial_dims: int = 2, in_channels: int = 1,
                 num_classes: int = 10) -> None:
        super().__init__()
        self.spatial_dims, self.in_channels = spatial_dims, in_channels
        c1, c3, c5 = cfg.channels
        k = cfg.kernel_size
        self.features = nn.Sequential(
            conv(spatial_dims, in_channels, c1, k, padding="valid"), act(cfg.activation),
            pool(spatial_dims, cfg.pooling, 2),
            conv(spatial_dims, c1, c3, k, padding="valid"), act(cfg.activation),
            pool(spatial_dims, cfg.pooling, 2),
            conv(spatial_dims, c3, c5, k, padding="valid"), act(cfg.activation),
            global_pool("avg"),
            nn.Linear(c5, cfg.hidden), act(cfg.activation),
        )
        self._init_head(cfg.hidden, num_classes)


@register_model(domain="image")
def lenet5(spatial_dims: int = 2, in_channels: int = 1, num_classes: int = 10, **options) -> LeNet:
    """LeNet-5 as LeCun 1998 (options override ``LeNetConfig`` fields)."""
    return LeNet(LeNetConfig(**options), spatial_dims, in_channels, num_classes)
