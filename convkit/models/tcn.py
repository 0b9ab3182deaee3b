"""Temporal convolutional networks (Bai, Kolter & Koltun 2018, "An empirical evaluation of
generic convolutional and recurrent networks for sequence modeling").

A TCN is a stack of :class:`~convkit.nn.DilatedResidualBlock` levels with dilations
1, 2, 4, ...; with kernel ``k`` and ``n`` levels (two convs per block) one output step
sees ``1 + 2 (k - 1) (2^n - 1)`` input steps. Unless ``levels`` is given, the fewest
levels whose receptive field covers ``context`` are used (:func:`levels_for_context`).

Three models share the blocks:

* :class:`TCN` (zoo name ``tcn``): a classifier of whole series ``[N, C, L] -> [N, classes]``
  (global pooling over time); ``forward_sequence`` gives per-step features ``[N, F, L]``.
* :class:`TCNForecaster`: causal TCN plus a 1-wide head, ``[N, C, L] -> [N, C, H, L]``:
  output ``[:, c, k, t]`` predicts ``x[:, c, t + 1 + k]`` from steps ``<= t`` only.
  :class:`TCNStream` runs it on a live series chunk by chunk with cached state.
* :class:`TCNAutoencoder`: TCN-AE (Thill, Konen, Wang & Baeck 2021): a non-causal TCN
  encoder, a narrow 1-wide bottleneck, average-pooling in time, learned upsampling
  (transposed conv), a TCN decoder and a 1-wide output layer, ``[N, C, L] -> [N, C, L]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from convkit.errors import ConfigError
from convkit.models.base import Classifier
from convkit.models.registry import register_model
from convkit.nn import CausalConv1d, DilatedResidualBlock, check_input, conv, conv_transpose, global_pool, pool

DEFAULT_CONTEXT = 64
"""Steps the receptive field covers when neither ``levels`` nor ``context`` is given."""


def tcn_receptive_field(levels: int, kernel_size: int = 3) -> int:
    """Input steps one output step of an ``levels``-level TCN depends on:
    ``1 + 2 (k - 1) (2^levels - 1)`` (two convs per block, dilations 1, 2, ..., 2^(levels-1))."""
    return 1 + 2 * (kernel_size - 1) * (2 ** levels - 1)


def levels_for_context(context: int, kernel_size: int = 3) -> int:
    """The fewest levels (at least 1) whose receptive field is at least ``context`` steps."""
    if context < 1:
        raise ConfigError(f"context must be at least 1 step; got {context}")
    if kernel_size < 2:
        raise ConfigError(f"kernel_size must be at least 2 for a TCN; got {kernel_size}")
    levels = 1
    while tcn_receptive_field(levels, kernel_size) < context:
        levels += 1
    return levels


@dataclass(frozen=True)
class TCNConfig:
    """A TCN: ``channels`` per level, ``levels`` (None: the fewest covering ``context``
    steps), ``kernel_size``, ``dropout`` after each conv, ``norm`` "weight" | "batch" |
    None, ``causal`` (pad on the left only), activation ``act``, and the classifier's
    temporal ``pool``: "avg", "max" or "last" (the final step, as in Bai et al.)."""

    channels: int = 32
    levels: int | None = None
    context: int = DEFAULT_CONTEXT
    kernel_size: int = 3
    dropout: float = 0.1
    norm: str | None = "weight"
    causal: bool = True
    act: str = "relu"
    pool: str = "avg"

    def __post_init__(self) -> None:
        if self.channels < 1:
            raise ConfigError(f"TCN channels must be at least 1; got {self.channels}")
        if self.levels is not None and self.levels < 1:
            raise ConfigError(f"TCN levels must be at least 1 (or None to follow context); got {self.levels}")
        if self.norm not in ("weight", "batch", None, "none"):
            raise ConfigError(f"TCN norm must be 'weight', 'batch' or none; got {self.norm!r}")
        if self.pool not in ("avg", "max", "last"):
            raise ConfigError(f"TCN pool must be 'avg', 'max' or 'last'; got {self.pool!r}")
        levels_for_context(self.context, self.kernel_size)  # validates context and kernel_size

    @property
    def num_levels(self) -> int:
        """``levels``, or the fewest levels whose receptive field covers ``context``."""
        return self.levels if self.levels is not None else levels_for_context(self.context, self.kernel_size)

    @property
    def receptive_field(self) -> int:
        """Input steps one output step depends on."""
        return tcn_receptive_field(self.num_levels, self.kernel_size)


def tcn_blocks(cfg: TCNConfig, in_channels: int) -> nn.Sequential:
    """The TCN levels ``[N, in_channels, L] -> [N, cfg.channels, L]``: one
    DilatedResidualBlock per level, dilation ``2 ** level``."""
    norm = None if cfg.norm == "none" else cfg.norm
    blocks, cin = [], in_channels
    for level in range(cfg.num_levels):
        blocks.append(DilatedResidualBlock(1, cin, cfg.channels, cfg.kernel_size, dilation=2 ** level,
                                           causal=cfg.causal, dropout_p=cfg.dropout, norm=norm, act=cfg.act))
        cin = cfg.channels
    return nn.Sequential(*blocks)


class LastStep(nn.Module):
    """``[N, C, L] -> [N, C]``: the features of the final time step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., -1]


class TCN(Classifier):
    """TCN classifier ``[N, C, L] -> [N, num_classes]``: the levels, then global pooling
    over time (``cfg.pool``) and a linear head. ``forward_sequence`` gives the per-step
    features ``[N, cfg.channels, L]`` (causal when ``cfg.causal``)."""

    def __init__(self, cfg: TCNConfig, spatial_dims: int = 1, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        if spatial_dims != 1:
            raise ConfigError(f"tcn is a 1D model (sequences [N, C, L]); got spatial_dims={spatial_dims}")
        self.cfg, self.spatial_dims, self.in_channels = cfg, 1, in_channels
        self.blocks = tcn_blocks(cfg, in_channels)
        self.features = nn.Sequential(self.blocks, LastStep() if cfg.pool == "last" else global_pool(cfg.pool))
        self._init_head(cfg.channels, num_classes)

    @property
    def levels(self) -> int:
        """Number of residual levels."""
        return len(self.blocks)

    @property
    def receptive_field(self) -> int:
        """Input steps one output step depends on: ``1 + 2 (k - 1) (2^levels - 1)``."""
        return tcn_receptive_field(self.levels, self.cfg.kernel_size)

    def forward_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, in_channels, L] -> [N, channels, L]``: features of every step."""
        self.check_input(x)
        return self.blocks(x)


@register_model(spatial_dims=(1,), domain="timeseries")
def tcn(spatial_dims: int = 1, in_channels: int = 1, num_classes: int = 10, **options) -> TCN:
    """The TCN classifier (options override ``TCNConfig`` fields, e.g. ``context=200``)."""
    return TCN(TCNConfig(**options), spatial_dims, in_channels, num_classes)


# ----------------------------------------------------------------------------- forecasting


class TCNForecaster(nn.Module):
    """Causal TCN forecaster ``[N, C, L] -> [N, C, horizon, L]``: output ``[:, c, k, t]``
    predicts ``x[:, c, t + 1 + k]`` from the steps up to ``t``. With ``residual`` the head
    predicts the change from ``x[:, c, t]`` (a persistence forecast plus a correction).

    Attributes: ``in_channels``, ``horizon``, ``receptive_field`` (input steps one output
    depends on), ``lookahead`` (0: causal).
    """

    lookahead = 0

    def __init__(self, cfg: TCNConfig, in_channels: int = 1, horizon: int = 1, residual: bool = True) -> None:
        super().__init__()
        if not cfg.causal:
            raise ConfigError("a forecaster must be causal; set causal=true")
        if horizon < 1:
            raise ConfigError(f"horizon must be at least 1 step; got {horizon}")
        self.in_channels, self.horizon, self.residual = in_channels, horizon, residual
        self.backbone = TCN(cfg, 1, in_channels, num_classes=0)
        self.head = conv(1, cfg.channels, in_channels * horizon, 1)

    @property
    def receptive_field(self) -> int:
        """Input steps one prediction depends on."""
        return self.backbone.receptive_field

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, L] -> [N, C, horizon, L]``."""
        return self._predict(x, self.features(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, L] -> [N, channels, L]``: the levels' per-step features (each step's
        summary of its receptive field), what the head predicts from."""
        return self.backbone.forward_sequence(x)

    def _predict(self, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        n, c, length = x.shape
        out = self.head(features).reshape(n, c, self.horizon, length)
        return out + x.unsqueeze(2) if self.residual else out


class TCNStream:
    """Runs a causal :class:`TCNForecaster` on a live series one step or chunk at a time.

    Each causal conv keeps the last ``(k - 1) * dilation`` inputs it saw (zeros at the
    start, exactly the offline pass's left padding), so feeding a series in pieces of any
    size gives the same outputs as one offline pass over the whole series, at a cost per
    step independent of how long the stream has run. The model is put in eval mode.

    >>> stream = TCNStream(model)              # model: TCNForecaster
    >>> out = stream(x[..., :10])              # [N, C, horizon, 10]
    >>> out = stream(x[..., 10:11])            # the next step
    >>> stream.features                        # [N, channels, 1]: that step's features
    """

    def __init__(self, model: TCNForecaster) -> None:
        if not isinstance(model, TCNForecaster):
            raise ConfigError(f"streaming needs a causal TCNForecaster; got {type(model).__name__}")
        self.model = model.eval()
        self.cache: dict[int, torch.Tensor] = {}
        self.features: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the stream so far (the next chunk starts a new series)."""
        self.cache.clear()

    def _conv(self, layer: CausalConv1d, x: torch.Tensor) -> torch.Tensor:
        pad = layer.left_pad
        past = self.cache.get(id(layer))
        if past is None or past.shape[0] != x.shape[0]:
            past = x.new_zeros(x.shape[0], x.shape[1], pad)
        full = torch.cat([past, x], dim=-1)
        self.cache[id(layer)] = full[..., full.shape[-1] - pad:]
        return F.conv1d(full, layer.weight, layer.bias, layer.stride, 0, layer.dilation, layer.groups)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, l] -> [N, C, horizon, l]``: the forecaster's outputs for the next ``l`` steps."""
        check_input(x, 1, self.model.in_channels, "TCNStream")
        h = x
        for block in self.model.backbone.blocks:
            y = h
            for layer in block.net:  # conv, norm, act, dropout (twice): only the convs look back
                y = self._conv(layer, y) if isinstance(layer, CausalConv1d) else layer(y)
            identity = h if block.downsample is None else block.downsample(h)
            h = block.relu(y + identity)
        self.features = h  # [N, channels, l]: the levels' features of these steps (TCNForecaster.features)
        return self.model._predict(x, h)


def tcn_forecaster(in_channels: int = 1, horizon: int = 1, residual: bool = True, **options) -> TCNForecaster:
    """A causal TCN forecaster (options override ``TCNConfig`` fields; ``causal`` stays true)."""
    return TCNForecaster(TCNConfig(**options), in_channels, horizon, residual)


# ----------------------------------------------------------------------------- reconstruction


class TCNAutoencoder(nn.Module):
    """TCN-AE ``[N, C, L] -> [N, C, L]``: reconstructs each window through a bottleneck.

    Encoder: a non-causal TCN (``cfg``) to ``cfg.channels``, a 1-wide conv down to
    ``latent`` channels, average-pooling by ``downsample`` in time. Decoder: a transposed
    conv back to full length, a TCN and a 1-wide conv to ``C``. Any length works (it is
    padded to a multiple of ``downsample`` and cropped back).

    Attributes: ``in_channels``, ``receptive_field`` (a bound on the input steps one
    output depends on) and ``lookahead`` (how many of them lie after it; the model is
    symmetric, so also before it), both multiples of ``downsample`` plus one.
    """

    def __init__(self, cfg: TCNConfig, in_channels: int = 1, latent: int = 8, downsample: int = 4) -> None:
        super().__init__()
        if latent < 1 or downsample < 1:
            raise ConfigError(f"latent and downsample must be at least 1; got latent={latent}, "
                              f"downsample={downsample}")
        cfg = replace(cfg, causal=False)
        self.in_channels, self.downsample = in_channels, downsample
        self.encoder = TCN(cfg, 1, in_channels, num_classes=0)
        self.to_latent = conv(1, cfg.channels, latent, 1)
        self.pool = pool(1, "avg", downsample)
        self.upsample = conv_transpose(1, latent, latent, downsample, stride=downsample)
        self.decoder = TCN(cfg, 1, latent, num_classes=0)
        self.out = conv(1, cfg.channels, in_channels, 1)
        half_enc = (self.encoder.receptive_field - 1) // 2
        half_dec = (self.decoder.receptive_field - 1) // 2
        reach = half_enc + downsample * (math.ceil(half_dec / downsample) + 1)
        self.lookahead = downsample * math.ceil(reach / downsample)
        self.receptive_field = 2 * self.lookahead + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, L] -> [N, C, L]``: the reconstruction."""
        check_input(x, 1, self.in_channels, "TCNAutoencoder")
        length = x.shape[-1]
        pad = (-length) % self.downsample
        h = F.pad(x, (0, pad)) if pad else x
        z = self.pool(self.to_latent(self.encoder.forward_sequence(h)))
        y = self.out(self.decoder.forward_sequence(self.upsample(z)))
        return y[..., :length]


def tcn_autoencoder(in_channels: int = 1, latent: int = 8, downsample: int = 4, **options) -> TCNAutoencoder:
    """A TCN autoencoder (options override ``TCNConfig`` fields; ``causal`` is set false)."""
    options.pop("causal", None)
    return TCNAutoencoder(TCNConfig(**options), in_channels, latent, downsample)
