"""Audio models: a compact CNN for log-mel spectrograms (the audio task's default) and M5,
a 1D CNN on the raw waveform whose wide strided first layer learns its own filterbank
(Dai et al. 2017, "Very deep convolutional neural networks for raw waveforms")."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from convkit.models.base import Classifier
from convkit.models.registry import register_model
from convkit.nn import ConvNormAct, global_pool, pool


@dataclass(frozen=True)
class AudioCNNConfig:
    """Widths of the conv-bn-relu stages (each closed by a 2-wide max-pool, the last by
    global average pooling), convs per stage, and the classifier dropout."""

    channels: tuple[int, ...] = (24, 48, 96, 192)
    convs_per_stage: int = 1
    dropout: float = 0.3


class AudioCNN(Classifier):
    """Compact CNN on spectrograms ``[N, C, F, T]`` (or any ``spatial_dims``) ``-> [N, classes]``:
    conv-bn-relu stages with max-pooling and global average pooling (about 220k
    parameters by default). Needs every spatial size ≥ ``2 ** (stages - 1)``."""

    def __init__(self, cfg: AudioCNNConfig, spatial_dims: int = 2, in_channels: int = 1,
                 num_classes: int = 10) -> None:
        super().__init__()
        self.spatial_dims, self.in_channels = spatial_dims, in_channels
        self.min_input_size = 2 ** (len(cfg.channels) - 1)
        layers, cin = [], in_channels
        for i, width in enumerate(cfg.channels):
            for _ in range(cfg.convs_per_stage):
                layers.append(ConvNormAct(spatial_dims, cin, width, 3))
                cin = width
            if i < len(cfg.channels) - 1:
                layers.append(pool(spatial_dims, "max", 2))
        self.features = nn.Sequential(*layers, global_pool("avg"))
        self._init_head(cin, num_classes, cfg.dropout)


@register_model(domain="audio")
def audio_cnn(spatial_dims: int = 2, in_channels: int = 1, num_classes: int = 10, **options) -> AudioCNN:
    """The compact log-mel CNN (options override ``AudioCNNConfig`` fields)."""
    return AudioCNN(AudioCNNConfig(**options), spatial_dims, in_channels, num_classes)


@dataclass(frozen=True)
class M5Config:
    """M5: a wide strided first conv (80 taps, stride 4 ≈ 5 ms at 16 kHz) then 3-wide convs,
    each stage closed by a 4-wide max-pool; widths per stage."""

    channels: tuple[int, ...] = (128, 128, 256, 512)
    first_kernel: int = 80
    first_stride: int = 4
    pool_size: int = 4


class M5(Classifier):
    """M5 on raw waveforms ``[N, 1, T]`` ``-> [N, classes]`` (needs ``T ≥ min_input_size``,
    about 1k samples with the default config; 16k = 1 s at 16 kHz is the usual input)."""

    def __init__(self, cfg: M5Config, spatial_dims: int = 1, in_channels: int = 1,
                 num_classes: int = 10) -> None:
        super().__init__()
        self.spatial_dims, self.in_channels = spatial_dims, in_channels
        layers, cin = [], in_channels
        for i, width in enumerate(cfg.channels):
            k, s = (cfg.first_kernel, cfg.first_stride) if i == 0 else (3, 1)
            layers += [ConvNormAct(spatial_dims, cin, width, k, s, padding="valid" if i == 0 else "same"),
                       pool(spatial_dims, "max", cfg.pool_size)]
            cin = width
        self.features = nn.Sequential(*layers, global_pool("avg"))
        # smallest input leaving one position after the first conv and every pool
        n = cfg.pool_size ** len(cfg.channels)
        self.min_input_size = (n - 1) * cfg.first_stride + cfg.first_kernel
        self._init_head(cin, num_classes)


@register_model(spatial_dims=(1,), domain="audio")
def m5(spatial_dims: int = 1, in_channels: int = 1, num_classes: int = 10, **options) -> M5:
    """M5 raw-waveform CNN (options override ``M5Config`` fields)."""
    return M5(M5Config(**options), spatial_dims, in_channels, num_classes)
