"""convkit.analysis: output sizes, receptive fields (analytic vs gradient), params/FLOPs,
the MLP-vs-conv figure and the command line."""

from __future__ import annotations

import copy
import math
import os
import re
import subprocess
import sys
import textwrap
from typing import Any, Callable, Sequence

import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.overrides import TorchFunctionMode

from convkit.analysis import (
    _arg,
    _ints,
    _tensors,
    conv_output_shape,
    conv_output_size,
    conv_transpose_output_size,
    flops_per_sample,
    format_summary,
    main,
    mlp_vs_conv,
    receptive_field,
    summary,
)
from convkit.errors import ConfigError, ShapeError

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
MAX_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
AVG_POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}


# --------------------------------------------------------------------------- output sizes


def test_vertical_edge_filter_on_ramp_gives_a_map_of_sixes():
    ramp = torch.arange(1, 26, dtype=torch.float32).reshape(1, 1, 5, 5)
    edge = torch.tensor([[-1.0, 0.0, 1.0]] * 3).reshape(1, 1, 3, 3)
    valid = F.conv2d(ramp, edge)
    assert valid.shape[-2:] == (3, 3) == conv_output_shape((5, 5), 3)
    assert torch.equal(valid[0, 0], torch.full((3, 3), 6.0))
    padded = F.conv2d(ramp, edge, padding=1)
    assert padded.shape[-2:] == (5, 5) == conv_output_shape((5, 5), 3, padding=1)
    # the padded map is scipy's zero-filled cross-correlation
    reference = scipy.signal.correlate2d(ramp[0, 0].numpy(), edge[0, 0].numpy(), mode="same")
    assert torch.equal(padded[0, 0], torch.from_numpy(reference).float())


geometry = st.tuples(st.integers(1, 14), st.integers(1, 5), st.integers(1, 3), st.integers(0, 3),
                     st.integers(1, 3))  # n, k, s, p, d per axis


@settings(max_examples=60, deadline=None)
@given(dims=st.integers(1, 3), data=st.data())
def test_conv_formula_equals_torch_output_shape(dims, data):
    axes = [data.draw(geometry) for _ in range(dims)]
    n, k, s, p, d = (tuple(a[i] for a in axes) for i in range(5))
    layer = CONV[dims](1, 1, k, stride=s, padding=p, dilation=d)
    try:
        expected = conv_output_shape(n, k, s, p, d)
    except ShapeError:
        with pytest.raises(RuntimeError):
            layer(torch.zeros(1, 1, *n))
        return
    assert tuple(layer(torch.zeros(1, 1, *n)).shape[2:]) == expected
    assert expected == tuple(conv_output_size(*a) for a in axes)


@st.composite
def pool_axis(draw):
    """n, k, s, p, d for one axis, with torch's rule for pooling: p <= k // 2."""
    k = draw(st.integers(1, 5))
    return (draw(st.integers(1, 14)), k, draw(st.integers(1, 3)), draw(st.integers(0, k // 2)),
            draw(st.integers(1, 3)))


@settings(max_examples=60, deadline=None)
@given(dims=st.integers(1, 3), kind=st.sampled_from(["max", "avg"]), ceil_mode=st.booleans(),
       data=st.data())
def test_pool_formula_equals_torch_output_shape(dims, kind, ceil_mode, data):
    axes = [data.draw(pool_axis()) for _ in range(dims)]
    n, k, s, p, d = (tuple(a[i] for a in axes) for i in range(5))
    if kind == "max":
        layer = MAX_POOL[dims](k, s, p, d, ceil_mode=ceil_mode)
    else:
        d = (1,) * dims
        # torch's avg_pool3d alone also wants the unpadded input at least as large as the kernel
        assume(dims < 3 or all(ni >= ki for ni, ki in zip(n, k)))
        layer = AVG_POOL[dims](k, s, p, ceil_mode=ceil_mode)
    try:
        expected = conv_output_shape(n, k, s, p, d, ceil_mode=ceil_mode)
    except ShapeError:
        with pytest.raises(RuntimeError):
            layer(torch.zeros(1, 1, *n))
        return
    assert tuple(layer(torch.zeros(1, 1, *n)).shape[2:]) == expected


@settings(max_examples=40, deadline=None)
@given(dims=st.integers(1, 3), n=st.integers(1, 8), k=st.integers(1, 4), s=st.integers(1, 3),
       p=st.integers(0, 2), d=st.integers(1, 2), op=st.integers(0, 2))
def test_transposed_conv_formula_equals_torch_output_shape(dims, n, k, s, p, d, op):
    assume(op < max(s, d))  # torch's rule for output_padding
    layer = CONV_T[dims](1, 1, k, stride=s, padding=p, output_padding=op, dilation=d)
    try:
        expected = conv_transpose_output_size(n, k, s, p, op, d)
    except ShapeError:  # no output: torch raises in 1D, and in 2D/3D returns an empty tensor
        try:
            out = layer(torch.zeros(1, 1, *(n,) * dims))
        except RuntimeError:
            return
        assert 0 in out.shape[2:]
        return
    assert layer(torch.zeros(1, 1, *(n,) * dims)).shape[2:] == (expected,) * dims


@pytest.mark.parametrize("n,k,d", [(10, 3, 1), (11, 5, 2), (7, 4, 1)])
def test_same_and_valid_padding_strings(n, k, d):
    same = nn.Conv1d(1, 1, k, padding="same", dilation=d)(torch.zeros(1, 1, n)).shape[-1]
    valid = nn.Conv1d(1, 1, k, padding="valid", dilation=d)(torch.zeros(1, 1, n)).shape[-1]
    assert conv_output_size(n, k, padding="same", dilation=d) == same == n
    assert conv_output_size(n, k, padding="valid", dilation=d) == valid == n - d * (k - 1)
    assert conv_output_size(9, 3, stride=2, padding="same") == 5  # TensorFlow's ceil(n / s)


def test_output_size_errors_are_clear():
    with pytest.raises(ShapeError, match=r"input size 2 .* too small for a kernel of size 5"):
        conv_output_size(2, 5)
    with pytest.raises(ConfigError, match="kernel_size must be an integer >= 1; got 0"):
        conv_output_size(8, 0)
    with pytest.raises(ConfigError, match="padding must be an int, 'same' or 'valid'; got 'full'"):
        conv_output_size(8, 3, padding="full")
    with pytest.raises(ConfigError, match="stride must be an integer >= 1"):
        conv_output_size(8, 3, stride=1.5)


# --------------------------------------------------------------------------- gradient check
# The reference the analytic receptive field is checked against: backpropagate from one
# output unit and measure how far the nonzero input gradient reaches.


class _StopForward(Exception):
    """Raised by a hook once the probed layer has produced its output."""


_NORMS = {"batch_norm", "instance_norm", "group_norm", "layer_norm", "local_response_norm", "rms_norm"}
_MAX_POOL = re.compile(r"max_pool([123])d")
_ADAPTIVE_MAX = re.compile(r"adaptive_max_pool([123])d")


class _NoCancellation(TorchFunctionMode):
    """Ops rewritten so every input a unit depends on gets a nonzero gradient: norms
    become identities (they would cancel a constant input), max pooling becomes a mean
    over the same windows (max routes the gradient to one input only)."""

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in _NORMS:
            return _arg(args, kwargs, 0, "input")
        pool = _MAX_POOL.fullmatch(name)
        if pool and not _arg(args, kwargs, 6, "return_indices", False):
            return _mean_pool(int(pool.group(1)), *(_arg(args, kwargs, i, n, default) for i, n, default in (
                (0, "input", None), (1, "kernel_size", None), (2, "stride", None), (3, "padding", 0),
                (4, "dilation", 1), (5, "ceil_mode", False))))
        adaptive = _ADAPTIVE_MAX.fullmatch(name)
        if adaptive and not _arg(args, kwargs, 2, "return_indices", False):
            avg = getattr(F, f"adaptive_avg_pool{adaptive.group(1)}d")
            return avg(_arg(args, kwargs, 0, "input"), _arg(args, kwargs, 1, "output_size"))
        return func(*args, **kwargs)


def _mean_pool(dims: int, x: torch.Tensor, kernel_size: Any, stride: Any, padding: Any,
               dilation: Any, ceil_mode: bool) -> torch.Tensor:
    """A depthwise mean filter with max pooling's geometry (dilation and ceil_mode too)."""
    k = _ints(kernel_size, dims)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and not stride) else _ints(stride, dims)
    p, d = _ints(padding, dims), _ints(dilation, dims)
    pads: list[int] = []
    for i in reversed(range(dims)):  # F.pad wants the last axis first
        n = x.shape[x.ndim - dims + i]
        out = conv_output_size(n, k[i], s[i], p[i], d[i], ceil_mode)
        extra = max(0, (out - 1) * s[i] + d[i] * (k[i] - 1) + 1 - (n + 2 * p[i]))
        pads += [p[i], p[i] + extra]
    x = F.pad(x, pads)
    channels = x.shape[-dims - 1]
    weight = x.new_full((channels, 1, *k), 1.0 / math.prod(k))
    conv = (F.conv1d, F.conv2d, F.conv3d)[dims - 1]
    return conv(x, weight, stride=s, dilation=d, groups=channels)


def _positive_copy(model: nn.Module) -> nn.Module:
    """A float64 eval-mode copy with biases 0 and all other parameters positive (matrices
    and kernels ``1 / fan_in``), so no two paths cancel and activations stay small."""
    probe = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for name, p in probe.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif p.ndim >= 2:
                p.fill_(p.shape[0] / p.numel())
            else:
                p.fill_(1.0)
    return probe


def gradient_receptive_field(model: nn.Module, input_shape: Sequence[int],
                             layer: str | None = None) -> tuple[int, ...]:
    """Empirical receptive field: backpropagate from the centre unit of ``layer``'s output
    (the model's output when None; it must be ``[N, C, *S]``) to an input ``[N, C, *S]``
    and measure, per spatial axis, the extent of the nonzero input gradient.

    Runs on a copy (``_positive_copy``: positive constant weights, eval mode, float64)
    with norms bypassed and max pooling replaced by a mean over the same windows, so no
    gradient cancels or is routed to a single input. The result equals the analytic
    receptive field when that fits inside the input: pick an input larger than it.
    """
    probe = _positive_copy(model)
    try:
        target = probe if layer is None else probe.get_submodule(layer)
    except AttributeError:
        raise ConfigError(f"{type(model).__name__} has no layer {layer!r}") from None
    captured: dict[str, torch.Tensor] = {}

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        captured["out"] = next(_tensors(output))
        raise _StopForward

    x = torch.full(tuple(input_shape), 1e-3, dtype=torch.float64, requires_grad=True)
    handle = target.register_forward_hook(hook)
    try:
        with _NoCancellation():
            probe(x)
    except _StopForward:
        pass
    finally:
        handle.remove()
    out = captured.get("out")
    if out is None or out.ndim != x.ndim or x.ndim < 3:
        got = "nothing" if out is None else f"shape {list(out.shape)}"
        raise ShapeError(f"layer {layer or '(model)'!r} must output [N, C, *S] like the input "
                         f"{list(x.shape)}; got {got}")
    centre = tuple(n // 2 for n in out.shape[2:])
    out[(0, slice(None), *centre)].sum().backward()
    reached = (x.grad[0].abs().sum(0) > 0).nonzero()
    if reached.numel() == 0:
        raise RuntimeError(f"no input gradient reached layer {layer or '(model)'!r}")
    return tuple(int(hi - lo + 1) for lo, hi in zip(reached.min(0).values, reached.max(0).values))


# --------------------------------------------------------------------------- receptive fields


class StridedDilated(nn.Module):
    """conv3/s2 -> conv3/d2 -> maxpool2 -> conv3: rf 3 -> 11 -> 13 -> 21."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.ReLU(),
                                 nn.Conv2d(2, 2, 3, dilation=2, padding=2), nn.BatchNorm2d(2),
                                 nn.MaxPool2d(2), nn.Conv2d(2, 2, 3, padding=1))

    def forward(self, x):
        return self.net(x)


class WideShortcut(nn.Module):
    """A residual block whose shortcut (5-wide) sees more than its main path (1-wide):
    the max over paths is 5, then a 3-wide conv makes 7."""

    def __init__(self):
        super().__init__()
        self.main = nn.Conv2d(1, 2, 1)
        self.shortcut = nn.Conv2d(1, 2, 5, padding=2)
        self.after = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        out = self.main(x)
        out = F.relu(out + self.shortcut(x))
        return self.after(out)


class FunctionalChannelsLast(nn.Module):
    """Functional max pooling and a channels-last LayerNorm (movedim) between convs:
    3 -> 5 (jump 2) -> 9 -> 9 -> 13."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3)
        self.norm = nn.LayerNorm(4)

    def forward(self, x):
        x = F.max_pool2d(torch.tanh(self.c1(x)), 3, 2, 1)
        x = self.c2(x)
        x = self.norm(x.movedim(1, -1)).movedim(-1, 1)
        return self.c3(x)


def _seq1d():
    # conv5 -> avgpool3/2 -> conv3 d4 -> maxpool3/2 d2 ceil -> conv1: 5, 7, 23, 31, 31
    return nn.Sequential(nn.Conv1d(1, 2, 5), nn.AvgPool1d(3, 2), nn.Conv1d(2, 2, 3, dilation=4),
                         nn.MaxPool1d(3, 2, dilation=2, ceil_mode=True), nn.Conv1d(2, 1, 1))


def _seq3d():
    # (1,3,3) -> (3,1,1) stride 2 in time -> 3x3x3: time 1, 3, 7; space 3, 3, 5
    return nn.Sequential(nn.Conv3d(1, 2, (1, 3, 3)), nn.Conv3d(2, 2, (3, 1, 1), stride=(2, 1, 1)),
                         nn.ReLU(), nn.Conv3d(2, 2, 3, padding=1))


RF_CASES = {
    "stacked 3x3": (lambda: nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(),
                                          nn.Conv2d(3, 3, 3, padding=1)), (1, 1, 16, 16), (5, 5)),
    "stride, dilation, pool": (StridedDilated, (1, 1, 48, 48), (21, 21)),
    "1d pools and dilation": (_seq1d, (1, 1, 96), (31,)),
    "3d factorised": (_seq3d, (1, 1, 16, 12, 12), (7, 5, 5)),
    "residual, wider shortcut": (WideShortcut, (1, 1, 20, 20), (7, 7)),
    # adaptive max pool 32 -> 8 is a 4-wide, 4-stride pool: 3 -> 6 (jump 4) -> 14
    "adaptive pool": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.AdaptiveMaxPool2d(8),
                                            nn.Conv2d(2, 2, 3, padding=1)), (1, 1, 32, 32), (14, 14)),
    "functional, channels-last": (FunctionalChannelsLast, (1, 1, 32, 32), (13, 13)),
}


@pytest.mark.parametrize("case", list(RF_CASES))
def test_analytic_receptive_field_matches_gradient_check(case):
    build, shape, expected = RF_CASES[case]
    torch.manual_seed(0)
    model = build()
    assert receptive_field(model, shape)[""] == expected
    assert gradient_receptive_field(model, shape) == expected


def test_receptive_field_of_causal_dilated_block():
    from convkit.nn import DilatedResidualBlock

    block = DilatedResidualBlock(1, 2, 4, kernel_size=3, dilation=2)  # causal, weight norm
    expected = (block.receptive_field,)  # 1 + 2 (k - 1) d = 9
    assert receptive_field(block, (1, 2, 40))[""] == expected == (9,)
    assert gradient_receptive_field(block, (1, 2, 40)) == expected


def test_receptive_field_of_token_ids_through_an_embedding():
    class TextConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(50, 8)
            self.conv1, self.conv2 = nn.Conv1d(8, 8, 3), nn.Conv1d(8, 8, 5)

        def forward(self, ids):
            return self.conv2(self.conv1(self.embed(ids).transpose(1, 2)))

    rf = receptive_field(TextConv(), (2, 30), dtype=torch.long)
    assert (rf["conv1"], rf["conv2"]) == ((3,), (7,))


# --------------------------------------------------------------------------- the zoo


@pytest.fixture(scope="module")
def create_model():
    models = pytest.importorskip("convkit.models")
    return models.create_model


SLIM = {"widths": (8, 16, 32, 64)}  # same geometry as the published widths, far fewer weights


@pytest.mark.parametrize("name,dims,shape,layer,options", [
    ("lenet5", 2, (1, 1, 32, 32), "features.6", {}),           # C5 sees the whole 32x32 input
    ("resnet18", 2, (1, 3, 128, 128), "features.5", SLIM),     # end of layer2
    ("resnet18", 1, (1, 1, 512), "features.6", SLIM),          # end of layer3, in 1D
    ("resnet50", 1, (1, 1, 256), "features.5", SLIM),          # bottlenecks
    ("alexnet", 2, (1, 3, 224, 224), "features.7", {"pool_size": 1}),  # conv3
])
def test_zoo_receptive_field_matches_gradient_check(create_model, name, dims, shape, layer, options):
    model = create_model(name, spatial_dims=dims, in_channels=shape[1], num_classes=10, **options)
    assert receptive_field(model, shape)[layer] == gradient_receptive_field(model, shape, layer)


def test_published_receptive_fields(create_model):
    rf = receptive_field(create_model("alexnet"), (1, 3, 224, 224))
    assert [rf[f"features.{i}"][0] for i in (0, 2, 3, 5, 6, 8, 10, 12)] == [11, 19, 51, 67, 99, 131, 163, 195]
    assert receptive_field(create_model("lenet5"), (1, 1, 32, 32))["features.6"] == (32, 32)
    layers = summary(create_model("resnet18"), (1, 3, 224, 224))
    last_spatial = [info for info in layers if info.receptive_field is not None][-1]
    assert last_spatial.receptive_field == (435, 435)
    assert layers[-1].receptive_field is None  # after global pooling every unit sees everything
    # torchvision publishes 1.81 GFLOPS for resnet18, counting multiply-adds
    macs = sum(info.flops for info in layers) / 2
    assert 1.805e9 < macs < 1.825e9


def test_summary_in_1d_and_3d(create_model):
    model = create_model("resnet18", spatial_dims=3, in_channels=1, num_classes=4)
    layers = summary(model, (1, 1, 8, 32, 32))
    stem = layers[0]
    assert stem.name == "features.0" and stem.receptive_field == (7, 7, 7)
    assert stem.output_shape == (1, 64, *conv_output_shape((8, 32, 32), 7, 2, 3))
    assert stem.params == 64 * 7 ** 3 and stem.flops == 2 * 64 * 4 * 16 * 16 * 7 ** 3
    assert layers[-1].output_shape == (1, 4)
    assert sum(i.params for i in layers) == sum(p.numel() for p in model.parameters())
    layers_1d = summary(create_model("lenet5", spatial_dims=1, in_channels=2), (3, 2, 32))
    assert layers_1d[0].output_shape == (3, 6, 28) and layers_1d[0].receptive_field == (5,)


# --------------------------------------------------------------------------- params and FLOPs


def test_params_and_flops_of_known_layers():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(8, 16, 3, groups=4), nn.Flatten(), nn.Linear(16 * 30 * 30, 10))
    conv1, relu, grouped, flat, fc = summary(model, (2, 3, 32, 32))
    assert (conv1.params, conv1.flops) == (8 * 3 * 9 + 8, 2 * (2 * 8 * 32 * 32) * (3 * 9))
    assert (relu.params, relu.flops) == (0, 0)
    assert (grouped.params, grouped.flops) == (16 * 2 * 9 + 16, 2 * (2 * 16 * 30 * 30) * (2 * 9))
    assert grouped.output_shape == (2, 16, 30, 30) and grouped.receptive_field == (5, 5)
    assert flat.receptive_field is None
    assert (fc.params, fc.flops) == (14400 * 10 + 10, 2 * 2 * 14400 * 10)
    up = summary(nn.ConvTranspose1d(4, 2, 3, stride=2), (1, 4, 5))[0]
    assert up.flops == 2 * (4 * 5) * 2 * 3 and up.output_shape == (1, 2, 11)

    table = format_summary([conv1, relu, grouped, flat, fc], model)
    lines = table.splitlines()
    assert lines[0].split() == ["layer", "type", "output", "shape", "params", "receptive", "field", "FLOPs"]
    assert lines[2].split()[:5] == ["0", "Conv2d", "2x8x32x32", "224", "3x3"]
    assert f"total params: {sum(p.numel() for p in model.parameters()):,}" in table
    total = conv1.flops + grouped.flops + fc.flops
    assert f"total FLOPs: {total:,}" in table
    assert "receptive field: 5x5 (output of 2)" in table


class _Attention(nn.Module):
    """Attention written four ways: nn.MultiheadAttention, scaled_dot_product_attention,
    einsum and addbmm (the last two only to exercise their FLOP counts)."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(16, 48)
        self.mha = nn.MultiheadAttention(16, 2, batch_first=True)

    def forward(self, x):  # [N, L, 16]
        q, k, v = self.qkv(x).view(*x.shape[:2], 3, 2, 8).permute(2, 0, 3, 1, 4)  # [N, 2, L, 8]
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)
        scores = torch.einsum("nhld,nhmd->nhlm", q, k)
        summed = torch.addbmm(x.new_zeros(x.shape[1], x.shape[1]), q[0], k[0].transpose(1, 2))
        return self.mha(x, x, x, need_weights=False)[0] + attended + scores.sum() + summed.sum()


def test_attention_flops_counted_on_every_path():
    n, length, width, heads = 2, 10, 16, 2
    torch.manual_seed(0)
    model = _Attention()
    qkv, mha, whole = summary(model, (n, length, width))
    tokens = n * length
    attention = 2 * (n * heads * length * length * 8) * 2  # q k^T and softmax(.) v, heads of 8
    assert qkv.flops == 2 * tokens * width * 48
    # in-projection, out-projection and attention of nn.MultiheadAttention
    assert mha.flops == 2 * tokens * width * 48 + 2 * tokens * width * width + attention
    einsum = attention // 2
    addbmm = 2 * heads * length * 8 * length  # a sum over the heads of sample 0: [L, 8] @ [8, L]
    assert whole.flops == attention + einsum + addbmm
    # the fused inference kernel of nn.MultiheadAttention is not taken, so it is counted too
    assert flops_per_sample(model, torch.randn(n, length, width)) * n == qkv.flops + mha.flops + whole.flops


def test_flops_per_sample(create_model):
    lenet = create_model("lenet5")
    assert flops_per_sample(lenet, torch.zeros(1, 1, 32, 32)) == 833_040  # 416,520 multiply-adds
    assert flops_per_sample(lenet, torch.zeros(4, 1, 32, 32)) == 833_040
    assert sum(info.flops for info in summary(lenet, (1, 1, 32, 32))) == 833_040
    assert lenet.training  # the mode is restored

    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 3)

        def forward(self, a, b):
            return self.fc(a) + b

    pair = (torch.zeros(6, 5), torch.zeros(6, 3))
    assert flops_per_sample(TwoInputs(), pair) == 2 * 5 * 3
    assert flops_per_sample(TwoInputs(), pair, batch_size=3) == 2 * 2 * 5 * 3
    with pytest.raises(ConfigError, match="pass batch_size for an input of type dict"):
        flops_per_sample(nn.Identity(), {"x": torch.zeros(2, 3)})
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1; got 0"):
        flops_per_sample(nn.Identity(), torch.zeros(2, 3), batch_size=0)


def test_mlp_versus_conv_weights():
    cmp = mlp_vs_conv((224, 224, 3), hidden_units=1000, kernel_size=3, out_channels=64)
    assert cmp.dense_weights == 150_528_000 == 224 * 224 * 3 * 1000
    assert cmp.conv_weights == 3 * 3 * 3 * 64
    assert "150,528,000" in str(cmp) and "1,728" in str(cmp)
    assert mlp_vs_conv((100, 4), 10, 5, 8).conv_weights == 5 * 4 * 8
    with pytest.raises(ConfigError, match="hidden_units must be an integer >= 1"):
        mlp_vs_conv(hidden_units=0)


def test_bad_inputs_raise_one_clear_error():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    with pytest.raises(ShapeError, match=r"Sequential cannot run on an input of shape \[1, 3, 8, 8, 8\]"):
        summary(model, (1, 3, 8, 8, 8))
    with pytest.raises(ShapeError, match="input shape must be positive integers"):
        summary(model, (1, 3, 0, 8))
    with pytest.raises(ConfigError, match="no layer 'head'"):
        gradient_receptive_field(model, (1, 3, 8, 8), "head")
    flat = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    with pytest.raises(ShapeError, match=r"must output \[N, C, \*S\]"):
        gradient_receptive_field(flat, (1, 3, 8, 8))


# --------------------------------------------------------------------------- command line


def test_cli_prints_table_and_totals(create_model, capsys):
    assert main(["lenet5", "--input", "1x1x32x32", "--num-classes", "10", "--compare-mlp"]) == 0
    out = capsys.readouterr().out
    assert "features.0" in out and "1x6x28x28" in out
    assert "total params: 61,706" in out  # LeNet-5 as in the issue
    assert "receptive field: 32x32" in out
    assert "1,024,000 weights" in out  # 32x32x1 into 1,000 dense units


@pytest.mark.parametrize("argv,message", [
    (["resnet19"], "unknown model 'resnet19'; did you mean resnet18"),
    (["lenet5", "--input", "1x3xfoo"], "--input must be N x C x spatial sizes"),
    (["lenet5", "--input", "1x1x8x8"], "every spatial size >= 32"),
    (["resnet18", "--input", "1x3x32x32", "--spatial-dims", "3"], "has 2 spatial axes but --spatial-dims is 3"),
])
def test_cli_bad_input_exits_2_with_one_line(create_model, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def _run(args, cwd, extra_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(extra_path), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "convkit.analysis", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_subprocess_on_a_small_model(tmp_path):
    (tmp_path / "tiny_net.py").write_text(textwrap.dedent("""
        from torch import nn
        def build(spatial_dims=2, in_channels=3, num_classes=10):
            conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[spatial_dims]
            return nn.Sequential(conv(in_channels, 4, 3), nn.ReLU(), conv(4, 4, 3),
                                 nn.Flatten(), nn.LazyLinear(num_classes))
    """))
    ok = _run(["tiny_net:build", "--input", "1x2x10x10"], tmp_path, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "Conv2d" in ok.stdout and "1x4x6x6" in ok.stdout and "receptive field: 5x5" in ok.stdout
    bad = _run(["tiny_net:build", "--input", "1x2x10xten"], tmp_path, tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: --input must be N x C x spatial sizes (1 to 3 of them) joined by 'x', "
        "like 1x3x224x224; got '1x2x10xten'"]


@pytest.mark.parametrize("groups", [1, 4, 64])
def test_training_flops_of_a_grouped_convolution_are_three_forwards(groups):
    # torch's own formula multiplies the backward of a grouped convolution by its group
    # count; input and weight gradients each cost one forward
    from convkit.analysis import flop_counter

    conv = torch.nn.Conv2d(64, 64, 3, padding=1, groups=groups)
    x = torch.randn(2, 64, 8, 8, requires_grad=True)
    with flop_counter() as counter:
        conv(x)
    forward = counter.get_total_flops()
    assert forward == 2 * 2 * 64 * (64 // groups) * 9 * 8 * 8
    with flop_counter() as counter:
        conv(x).sum().backward()
    assert counter.get_total_flops() == 3 * forward
