"""The shared core: dimension-generic layers and blocks (``spatial_dims`` 1, 2 or 3).

>>> from convkit.nn import ConvNormAct
>>> block = ConvNormAct(spatial_dims=3, in_channels=1, out_channels=8)  # [N, 1, D, H, W] -> [N, 8, D, H, W]

The audio front end (``LogMelSpectrogram``, ``MFCC``, SpecAugment, waveform augmentation)
is exported here too but imported on first use: it needs librosa and SciPy, which a user
of images or graphs should not pay for at import time.
"""

from importlib import import_module

from convkit.nn.blocks import (
    BasicBlock,
    Bottleneck,
    Conv2Plus1D,
    ConvNormAct,
    DepthwiseSeparable,
    DilatedResidualBlock,
    Factorised2Plus1D,
    FullConv,
    MBConv,
    SpatialConv,
    SqueezeExcitation,
    StochasticDepth,
    make_divisible,
)
from convkit.nn.layers import (
    CausalConv1d,
    ChannelLayerNorm,
    GlobalPool,
    act,
    adaptive_pool,
    check_input,
    check_spatial_dims,
    conv,
    conv_transpose,
    dropout,
    global_pool,
    norm,
    pool,
    same_padding,
)
from convkit.nn.points import EdgeConv, TNet, ball_query, farthest_point_sample, knn, orthogonality_loss  # noqa: F401

__all__ = [
    "MFCC", "BackgroundNoise", "LogMelSpectrogram", "RandomGain", "RandomTimeShift", "SpecAugment",
    "pad_or_crop", "resample", "to_mono",
    "BasicBlock", "Bottleneck", "CausalConv1d", "ChannelLayerNorm", "Conv2Plus1D", "ConvNormAct",
    "DepthwiseSeparable", "DilatedResidualBlock", "Factorised2Plus1D", "FullConv", "SpatialConv", "GlobalPool", "MBConv", "SqueezeExcitation",
    "StochasticDepth", "act", "adaptive_pool", "check_input", "check_spatial_dims", "conv",
    "conv_transpose", "dropout", "global_pool", "make_divisible", "norm", "pool", "same_padding",
]


_AUDIO = ("MFCC", "BackgroundNoise", "LogMelSpectrogram", "RandomGain", "RandomTimeShift", "SpecAugment",
          "pad_or_crop", "resample", "to_mono")


def __getattr__(name: str):
    """The audio front end's names, imported from ``convkit.nn.audio`` on first use."""
    if name in _AUDIO:
        return getattr(import_module("convkit.nn.audio"), name)
    raise AttributeError(f"module 'convkit.nn' has no attribute {name!r}")
