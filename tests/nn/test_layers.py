"""The dimension-generic factories build the right torch layer for 1, 2 and 3 spatial dims."""

import pytest
import torch
from torch import nn

from convkit.errors import ConfigError
from convkit.nn import act, adaptive_pool, conv, conv_transpose, dropout, global_pool, norm, pool

DIMS = (1, 2, 3)


def _x(d, c=4, n=9, batch=2):
    return torch.randn(batch, c, *([n] * d))


@pytest.mark.parametrize("d", DIMS)
def test_conv_padding_modes(d):
    x = _x(d)
    assert conv(d, 4, 6, 3)(x).shape == (2, 6, *([9] * d))              # "same"
    assert conv(d, 4, 6, 4)(x).shape == (2, 6, *([9] * d))              # "same", even kernel
    assert conv(d, 4, 6, 3, dilation=2)(x).shape == (2, 6, *([9] * d))  # "same", dilated
    assert conv(d, 4, 6, 3, padding="valid")(x).shape == (2, 6, *([7] * d))
    assert conv(d, 4, 6, 3, stride=2, padding=1)(x).shape == (2, 6, *([5] * d))
    assert conv(d, 4, 6, 3, stride=2)(x).shape == (2, 6, *([5] * d))     # "same" at stride 2
    grouped = conv(d, 4, 8, 3, groups=4)
    assert grouped.weight.shape == (8, 1, *([3] * d))
    assert conv_transpose(d, 4, 2, 2, stride=2)(x).shape == (2, 2, *([18] * d))


def test_causal_conv_never_sees_the_future():
    layer = conv(1, 1, 1, 3, dilation=2, causal=True)
    x = torch.randn(1, 1, 20, requires_grad=True)
    y = layer(x)
    assert y.shape == x.shape
    y[0, 0, 10].backward()
    touched = torch.nonzero(x.grad[0, 0]).flatten().tolist()
    assert touched == [6, 8, 10]
    with pytest.raises(ConfigError, match="causal padding is for 1D"):
        conv(2, 1, 1, 3, causal=True)


@pytest.mark.parametrize("d", DIMS)
def test_pooling_norm_dropout(d):
    x = _x(d, n=8)
    assert pool(d, "max", 2)(x).shape == (2, 4, *([4] * d))
    assert pool(d, "avg", 3, 1, 1)(x).shape == x.shape
    assert adaptive_pool(d, "avg", 2)(x).shape == (2, 4, *([2] * d))
    assert global_pool("avg")(x).shape == (2, 4)
    torch.testing.assert_close(global_pool("max")(x), x.flatten(2).amax(-1))
    assert global_pool("avgmax")(x).shape == (2, 8)
    for kind in ("batch", "group", "layer", "instance", None):
        out = norm(d, kind, 4, num_groups=2)(x)
        assert out.shape == x.shape
    ln = norm(d, "layer", 4)(x)  # channel LayerNorm: zero mean over channels at every position
    assert ln.mean(1).abs().max() < 1e-5
    drop = dropout(d, 0.5, "channel").train()
    y = drop(torch.ones(64, 4, *([3] * d)))
    per_map = y.flatten(2)
    assert torch.all((per_map.amin(-1) == per_map.amax(-1)))  # whole feature maps dropped or kept


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ConfigError, match="spatial_dims must be 1, 2 or 3; got 4"):
        conv(4, 1, 1, 3)
    with pytest.raises(ConfigError, match="padding must be"):
        conv(2, 1, 1, 3, padding="full")
    with pytest.raises(ConfigError, match="norm must be one of"):
        norm(2, "weird", 4)
    with pytest.raises(ConfigError, match="unknown activation 'reluu'"):
        act("reluu")
    with pytest.raises(ConfigError, match="dropout probability"):
        dropout(1, 1.5)
    assert isinstance(act("silu"), nn.SiLU)
