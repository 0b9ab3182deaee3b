"""The standard deep baselines of time-series classification, on convkit's blocks (1D by
default, any ``spatial_dims`` the factories take):

* ``fcn``: the fully convolutional network of Wang, Yan & Oates (2017): three conv-BN-ReLU
  blocks (128/256/128 filters, kernels 8/5/3, stride 1, no pooling), global average pooling.
* ``tsc_resnet``: their ResNet: three residual blocks of three conv-BN(-ReLU) layers
  (kernels 8/5/3; 64, 128, 128 filters), a 1x1 conv + BN shortcut where the width changes
  (BN alone otherwise), no downsampling, global average pooling.
* ``inceptiontime``: one InceptionTime network (Ismail Fawaz et al. 2020): ``depth`` (6)
  Inception modules (a 1x1 bottleneck to 32 channels, then convs of kernels 40/20/10 and a
  3-wide max-pool followed by a 1x1 conv, 32 filters each, concatenated, BN, ReLU), a
  residual shortcut every 3 modules, global average pooling. ``ensemble=5`` averages the
  class probabilities of five such networks (the paper's InceptionTime); trained through
  the mixture's cross-entropy they are trained jointly, not independently as in the paper
  (:meth:`InceptionTime.member_logits` gives each member's logits for a loss per member).

Every model maps ``[N, C, L] -> [N, num_classes]`` for any length ``L``; ``channels`` is
each one's base width (FCN 128: 128/256/128; ResNet 64: 64/128/128; InceptionTime 32 filters).

**Series of unequal lengths** (``forward(x, lengths)``, ``lengths [N]``; ``takes_lengths``):
a batch zero-pads its series to a common ``L``; each model zeroes every layer's output after
each series' length and averages over the series' own steps (masked global pooling), and
its max-pool sees the series' end as its own padding, so in evaluation a series' logits
are those it has alone, whatever its padding and batch-mates. (In training, batch norm's
batch statistics include the padded steps.) For 1D series only (``lengths`` needs
``spatial_dims = 1``).
"""

from __future__ import annotations

import torch
from torch import nn

from convkit.errors import ConfigError, ShapeError
from convkit.models.base import Classifier
from convkit.models.registry import register_model
from convkit.nn import ConvNormAct, conv, global_pool, norm, pool


def step_mask(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor | None:
    """``[N, 1, L]`` float mask of the steps within each series' ``lengths [N]`` (None: every
    step of every series counts)."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths, device=x.device)
    if x.dim() != 3 or lengths.shape != (x.shape[0],):
        raise ShapeError(f"lengths [N] go with series [N, C, L]; got lengths {list(lengths.shape)} for input "
                         f"{list(x.shape)}")
    return (torch.arange(x.shape[-1], device=x.device)[None, None, :] < lengths[:, None, None]).to(x.dtype)


def _masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else x * mask


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Global average pooling ``[N, C, *S] -> [N, C]``, over each series' own steps when
    ``mask`` (:func:`step_mask`) is given."""
    if mask is None:
        return x.flatten(2).mean(-1)
    return (x * mask).sum(-1) / mask.sum(-1)


class _SeriesClassifier(Classifier):
    """What the three share: ``forward(x, lengths=None)`` with masked layers and pooling."""

    takes_lengths = True

    def forward_features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, C, L]`` (each series over its ``lengths``) -> ``[N, F]``."""
        self.check_input(x)
        mask = step_mask(x, lengths)
        return masked_mean(self._steps(_masked(x, mask), mask), mask)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, C, L]`` (each series over its ``lengths``) -> ``[N, num_classes]``."""
        return self.forward_head(self.forward_features(x, lengths))


class FCN(_SeriesClassifier):
    """Wang et al.'s FCN: ``[N, C, L] -> [N, num_classes]``."""

    def __init__(self, spatial_dims: int = 1, in_channels: int = 1, num_classes: int = 2,
                 widths: tuple[int, ...] | None = None, kernels: tuple[int, ...] = (8, 5, 3),
                 channels: int = 128) -> None:
        super().__init__()
        widths = widths or (channels, 2 * channels, channels)
        self.spatial_dims, self.in_channels = spatial_dims, in_channels
        layers: list[nn.Module] = []
        channels = in_channels
        for width, kernel in zip(widths, kernels):
            layers.append(ConvNormAct(spatial_dims, channels, width, kernel))
            channels = width
        self.features = nn.Sequential(*layers, global_pool("avg"))
        self._init_head(channels, num_classes)

    def _steps(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        for layer in self.features[:-1]:
            x = _masked(layer(x), mask)
        return x


class TSCResidualBlock(nn.Module):
    """Three conv-BN layers (kernels ``kernels``), ReLU after the first two and after the
    sum with the shortcut (1x1 conv + BN when the width changes, BN otherwise):
    ``[N, C_in, *S] -> [N, C_out, *S]``."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int,
                 kernels: tuple[int, ...] = (8, 5, 3)) -> None:
        super().__init__()
        layers = []
        channels = in_channels
        for i, kernel in enumerate(kernels):
            last = i == len(kernels) - 1
            layers.append(ConvNormAct(spatial_dims, channels, out_channels, kernel, act=None if last else "relu"))
            channels = out_channels
        self.body = nn.Sequential(*layers)
        self.shortcut = (ConvNormAct(spatial_dims, in_channels, out_channels, 1, act=None)
                         if in_channels != out_channels else norm(spatial_dims, "batch", out_channels))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        y = x
        for layer in self.body:
            y = _masked(layer(y), mask)
        return _masked(self.act(y + self.shortcut(x)), mask)


class TSCResNet(_SeriesClassifier):
    """Wang et al.'s ResNet for time series: ``[N, C, L] -> [N, num_classes]``."""

    def __init__(self, spatial_dims: int = 1, in_channels: int = 1, num_classes: int = 2,
                 widths: tuple[int, ...] | None = None, kernels: tuple[int, ...] = (8, 5, 3),
                 channels: int = 64) -> None:
        super().__init__()
        widths = widths or (channels, 2 * channels, 2 * channels)
        self.spatial_dims, self.in_channels = spatial_dims, in_channels
        blocks = []
        channels = in_channels
        for width in widths:
            blocks.append(TSCResidualBlock(spatial_dims, channels, width, kernels))
            channels = width
        self.features = nn.Sequential(*blocks, global_pool("avg"))
        self._init_head(channels, num_classes)

    def _steps(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        for block in self.features[:-1]:
            x = block(x, mask)
        return x


class InceptionModule(nn.Module):
    """InceptionTime's module: ``[N, C_in, *S] -> [N, 4 * filters, *S]`` (bottleneck 1x1
    conv when ``C_in > 1``, parallel convs of ``kernels`` and max-pool + 1x1 conv,
    concatenated, BN, ReLU)."""

    def __init__(self, spatial_dims: int, in_channels: int, filters: int = 32, bottleneck: int = 32,
                 kernels: tuple[int, ...] = (40, 20, 10)) -> None:
        super().__init__()
        use_bottleneck = bottleneck > 0 and in_channels > 1
        self.bottleneck = (conv(spatial_dims, in_channels, bottleneck, 1, bias=False) if use_bottleneck
                           else nn.Identity())
        mid = bottleneck if use_bottleneck else in_channels
        self.branches = nn.ModuleList(conv(spatial_dims, mid, filters, k, bias=False) for k in kernels)
        self.pool = pool(spatial_dims, "max", 3, stride=1, padding=1)
        self.pool_conv = conv(spatial_dims, in_channels, filters, 1, bias=False)
        self.out_channels = filters * (len(kernels) + 1)
        self.post = nn.Sequential(norm(spatial_dims, "batch", self.out_channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        z = _masked(self.bottleneck(x), mask)
        if mask is None:
            pooled = self.pool(x)
        else:  # the max-pool sees a series' end as its own padding, then padded steps are zeros
            pooled = self.pool(x.masked_fill(mask == 0, float("-inf"))).masked_fill(mask == 0, 0.0)
        out = [branch(z) for branch in self.branches] + [self.pool_conv(pooled)]
        return _masked(self.post(torch.cat(out, dim=1)), mask)


class InceptionNetwork(nn.Module):
    """``depth`` Inception modules with a residual shortcut (1x1 conv + BN, ReLU after the
    sum) every ``residual_every`` modules, then global average pooling: ``[N, C, *S] -> [N, F]``."""

    def __init__(self, spatial_dims: int, in_channels: int, depth: int = 6, filters: int = 32,
                 bottleneck: int = 32, kernels: tuple[int, ...] = (40, 20, 10), residual_every: int = 3) -> None:
        super().__init__()
        self.modules_ = nn.ModuleList()
        self.shortcuts = nn.ModuleDict()
        channels, block_in = in_channels, in_channels
        for i in range(depth):
            module = InceptionModule(spatial_dims, channels, filters, bottleneck, kernels)
            self.modules_.append(module)
            channels = module.out_channels
            if residual_every and (i + 1) % residual_every == 0:
                self.shortcuts[str(i)] = ConvNormAct(spatial_dims, block_in, channels, 1, act=None)
                block_in = channels
        self.num_features = channels
        self.pool = global_pool("avg")
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        residual = x
        for i, module in enumerate(self.modules_):
            x = module(x, mask)
            if str(i) in self.shortcuts:
                x = _masked(self.act(x + self.shortcuts[str(i)](residual)), mask)
                residual = x
        return masked_mean(x, mask) if mask is not None else self.pool(x)


class InceptionTime(Classifier):
    """InceptionTime: ``[N, C, L] -> [N, num_classes]``. With ``ensemble > 1`` the output is
    the log of the mean class probability of the members (each with its own head);
    :meth:`member_logits` gives ``[ensemble, N, num_classes]`` for training each on its own loss."""

    def __init__(self, spatial_dims: int = 1, in_channels: int = 1, num_classes: int = 2, depth: int = 6,
                 filters: int | None = None, bottleneck: int = 32, kernels: tuple[int, ...] = (40, 20, 10),
                 ensemble: int = 1, channels: int = 32) -> None:
        super().__init__()
        filters = filters or channels
        if ensemble < 1 or depth < 1:
            raise ConfigError(f"inceptiontime needs depth >= 1 and ensemble >= 1; got {depth}, {ensemble}")
        self.spatial_dims, self.in_channels, self.ensemble = spatial_dims, in_channels, ensemble
        self.members = nn.ModuleList(InceptionNetwork(spatial_dims, in_channels, depth, filters, bottleneck,
                                                      tuple(kernels)) for _ in range(ensemble))
        self.member_features = self.members[0].num_features
        self._init_head(self.member_features * ensemble, num_classes)
        self.min_input_size = 1

    takes_lengths = True

    def forward_features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, C, L] -> [N, F * ensemble]``: the members' pooled features side by side
        (each series over its ``lengths``)."""
        self.check_input(x)
        mask = step_mask(x, lengths)
        return torch.cat([member(_masked(x, mask), mask) for member in self.members], dim=1)

    def member_logits(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``[ensemble, N, num_classes]``: each member's logits (its block of the head)."""
        feats = self.forward_features(x, lengths).view(len(x), self.ensemble, self.member_features)
        linear = self.head[-1]
        weight = linear.weight.view(linear.out_features, self.ensemble, self.member_features)
        return torch.einsum("nef,cef->enc", feats, weight) + linear.bias / self.ensemble

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if self.ensemble == 1:
            return self.forward_head(self.forward_features(x, lengths))
        logits = self.member_logits(x, lengths)
        return torch.logsumexp(torch.log_softmax(logits, dim=2), dim=0) - torch.log(
            torch.tensor(float(self.ensemble), device=x.device))


@register_model(spatial_dims=(1, 2, 3), domain="timeseries")
def fcn(spatial_dims: int = 1, in_channels: int = 1, num_classes: int = 2, **kwargs) -> FCN:
    """Wang et al. 2017's FCN (128/256/128 filters, kernels 8/5/3, GAP)."""
    return FCN(spatial_dims, in_channels, num_classes, **kwargs)


@register_model(spatial_dims=(1, 2, 3), domain="timeseries")
def tsc_resnet(spatial_dims: int = 1, in_channels: int = 1, num_classes: int = 2, **kwargs) -> TSCResNet:
    """Wang et al. 2017's ResNet for time series (64/128/128, kernels 8/5/3, no downsampling, GAP)."""
    return TSCResNet(spatial_dims, in_channels, num_classes, **kwargs)


@register_model(spatial_dims=(1,), domain="timeseries")
def inceptiontime(spatial_dims: int = 1, in_channels: int = 1, num_classes: int = 2, **kwargs) -> InceptionTime:
    """InceptionTime (Ismail Fawaz et al. 2020): depth 6, 32 filters, kernels 40/20/10;
    ``ensemble=5`` for the paper's ensemble."""
    return InceptionTime(spatial_dims, in_channels, num_classes, **kwargs)
