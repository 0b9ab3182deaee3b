"""Every block exists once and works in 1D, 2D and 3D; shape errors name the block."""

import pytest
import torch

from convkit.errors import ShapeError
from convkit.nn import (BasicBlock, Bottleneck, Conv2Plus1D, ConvNormAct, DepthwiseSeparable,
                        DilatedResidualBlock, MBConv, SqueezeExcitation, StochasticDepth, conv)

DIMS = (1, 2, 3)


def _blocks(d):
    yield ConvNormAct(d, 8, 16, 3, stride=2), 16, 2
    yield BasicBlock(d, 8, 16, stride=2), 16, 2
    yield Bottleneck(d, 8, 4, stride=2, groups=4, base_width=16), 16, 2  # ResNeXt-style
    yield SqueezeExcitation(d, 8, 2), 8, 1
    yield MBConv(d, 8, 8, 5, 1, expand_ratio=6, stochastic_depth=0.2), 8, 1
    yield DepthwiseSeparable(d, 8, 12, stride=2), 12, 2
    yield DilatedResidualBlock(d, 8, 12, dilation=2, causal=d == 1), 12, 1
    if d > 1:
        yield Conv2Plus1D(d, 8, 16, stride=2), 16, 2


@pytest.mark.parametrize("d", DIMS)
def test_blocks_forward_backward_in_every_dimension(d):
    x = torch.randn(2, 8, *([8] * d), requires_grad=True)
    for block, out_channels, stride in _blocks(d):
        y = block(x)
        assert y.shape == (2, out_channels, *([8 // stride] * d)), type(block).__name__
        y.square().mean().backward()
        assert all(p.grad is not None for p in block.parameters() if p.requires_grad), type(block).__name__


@pytest.mark.parametrize("d", DIMS)
def test_shape_errors_name_the_block_and_layout(d):
    for block, _, _ in _blocks(d):
        name = type(block).__name__
        with pytest.raises(ShapeError, match=rf"{name} .*expects input \[N, C=8, .*got a tensor of shape \[2, 3"):
            block(torch.randn(2, 3, *([8] * d)))          # wrong channel count
        with pytest.raises(ShapeError, match=rf"{name} \(spatial_dims={d}\)"):
            block(torch.randn(2, 8, *([8] * (d % 3 + 1))))  # wrong number of spatial axes


def test_residual_widths_match_resnext_and_wide_resnet():
    resnext = Bottleneck(2, 256, 128, groups=32, base_width=4)
    assert resnext.conv2.weight.shape == (256, 8, 3, 3) and resnext.conv2.groups == 32
    wide = Bottleneck(2, 256, 64, base_width=128)
    assert wide.conv2.weight.shape == (128, 128, 3, 3)


def test_stochastic_depth_drops_whole_examples_in_training_only():
    torch.manual_seed(0)
    sd = StochasticDepth(0.3).train()
    y = sd(torch.ones(4000, 3, 5))
    kept = (y.flatten(1) != 0).all(1)
    assert ((y.flatten(1) == 0).all(1) | kept).all()
    assert abs(kept.float().mean().item() - 0.7) < 0.03
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.7))
    x = torch.randn(8, 3)
    assert torch.equal(sd.eval()(x), x)


def test_mbconv_residual_and_squeeze_excitation_gates():
    block = MBConv(2, 16, 16, 3, 1, expand_ratio=4).eval()
    assert block.use_res_connect and not MBConv(2, 16, 24, 3, 1, 4).use_res_connect
    se = SqueezeExcitation(1, 4, 2)
    x = torch.randn(3, 4, 10)
    gates = se(x) / x
    assert torch.all((gates > 0) & (gates < 1))
    torch.testing.assert_close(gates.amin(-1), gates.amax(-1))  # one gate per channel


def test_2plus1d_matches_full_conv_parameter_budget():
    factorised = Conv2Plus1D(3, 64, 64)
    full = conv(3, 64, 64, 3, bias=False)
    n_fact = sum(p.numel() for n, p in factorised.named_parameters() if p.dim() > 1)
    assert abs(n_fact - full.weight.numel()) / full.weight.numel() < 0.01
    assert factorised[0].kernel_size == (1, 3, 3) and factorised[3].kernel_size == (3, 1, 1)


def test_dilated_residual_block_is_causal_with_stated_receptive_field():
    block = DilatedResidualBlock(1, 2, 4, kernel_size=3, dilation=4, dropout_p=0.0).eval()
    assert block.receptive_field == 17
    x = torch.randn(1, 2, 64, requires_grad=True)
    block(x)[0, :, 40].sum().backward()
    touched = torch.nonzero(x.grad[0].abs().sum(0)).flatten()
    assert touched.max().item() == 40 and touched.min().item() == 40 - 16
