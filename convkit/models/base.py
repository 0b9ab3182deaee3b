"""The classifier interface every zoo model has (timm's): ``forward_features`` gives one
feature vector per example, ``forward_head`` turns it into logits, and
``reset_classifier`` swaps the head, so any model serves as a feature extractor."""

from __future__ import annotations

import torch
from torch import nn

from convkit.nn.layers import check_input


class Classifier(nn.Module):
    """Base class: subclasses build ``self.features`` (``[N, C, *S] -> [N, F]``, pooling
    included) and call ``self._init_head(num_features, num_classes, dropout)``.

    Attributes: ``spatial_dims``, ``in_channels``, ``num_classes``, ``num_features`` and
    ``min_input_size`` (the smallest size per spatial axis the network accepts).
    """

    spatial_dims: int
    in_channels: int
    num_classes: int
    num_features: int
    min_input_size: int = 1

    def _init_head(self, num_features: int, num_classes: int, dropout: float = 0.0) -> None:
        self.num_features, self.num_classes, self.head_dropout = num_features, num_classes, dropout
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(num_features, num_classes)) \
            if num_classes > 0 else nn.Identity()

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ShapeError unless ``x`` is ``[N, in_channels, *S]`` with
        ``spatial_dims`` axes each at least ``min_input_size``."""
        name = getattr(self, "build_args", {}).get("name", type(self).__name__)
        check_input(x, self.spatial_dims, self.in_channels, name, self.min_input_size)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, *S] -> [N, num_features]``: everything up to the final linear layer."""
        self.check_input(x)
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """``[N, num_features] -> [N, num_classes]`` (dropout, then the final linear layer)."""
        return self.head(features)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final layer with a fresh one for ``num_classes`` (0: no head, the
        model then returns features)."""
        self._init_head(self.num_features, num_classes, self.head_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, *S] -> [N, num_classes]``."""
        return self.forward_head(self.forward_features(x))

    def torchvision_prefixes(self) -> list[tuple[str, str]] | None:
        """This model's key map to torchvision's layout of the same network, as
        ``(convkit prefix, torchvision prefix)`` pairs (the longest matching prefix
        renames a key: ``("head.1.", "fc.")``), or None when torchvision has no such
        network. ``convkit.models.weights`` loads torchvision's files through it."""
        return None


def init_weights(module: nn.Module) -> None:
    """The usual CNN initialisation (torchvision's ResNet/VGG): Kaiming-normal (fan-out,
    ReLU) convs with zero bias, norms at weight 1 / bias 0, linear layers N(0, 0.01); nothing
    on the meta device (no values to set)."""
    if any(p.is_meta for p in module.parameters()):
        return
    for m in module.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
