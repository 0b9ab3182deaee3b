"""Shapes, receptive fields, parameters and FLOPs of convolutional networks.

    python -m convkit.analysis resnet18 --spatial-dims 2 --input 1x3x224x224

prints one row per layer (name, type, output shape, parameters, receptive field, FLOPs)
and the totals. Everything here works on any ``torch.nn.Module`` in 1D, 2D or 3D.

How a forward pass is traced
----------------------------
``summary`` and ``receptive_field`` run the model once, on a zero input, under a torch
function mode (``torch.overrides.TorchFunctionMode``): it sees every torch operation as it
runs, whether it comes from a layer (``nn.Conv2d`` calls ``F.conv2d``), a functional call
(``F.max_pool2d``) or a tensor method in a ``forward`` (``out + identity``,
``x.flatten(1)``). Forward hooks on every module name the layers. Each tensor produced is
keyed on its identity and carries its receptive field: per spatial axis, the size ``rf``
and the ``jump`` (input pixels between neighbouring output units), starting at 1 and 1 on
the input. The rules:

- convolution and pooling (kernel ``k``, stride ``s``, dilation ``d``):
  ``rf += (k - 1) * d * jump``, ``jump *= s``;
- an operation on several tensors of the same spatial size (``out + identity``,
  ``torch.cat``) takes the largest ``rf`` of its inputs, so a residual block gives the
  max over its paths (whatever order they run in);
- padding, cropping and slicing (``F.pad``, ``x[..., :-2]``) keep the receptive field;
  ``permute``/``transpose``/``movedim`` carry it to the new axes; a reshape that keeps
  the trailing spatial axes keeps it too;
- anything that mixes all positions -- global or adaptive pooling to size 1, flatten,
  a reshape across spatial axes, a linear layer on a spatial axis -- makes the output
  "global": it sees the whole input (``receptive_field`` is then ``None``).

Limits: a gate computed from globally pooled features (squeeze-excitation, attention
weights) is not counted: the receptive field reported is that of the convolution path.
Transposed convolutions with stride > 1, interpolation and adaptive pooling to a size
that does not divide the input are approximated (exact otherwise). Folding a spatial
axis into the batch (``[N, C, T, H, W] -> [N*T, C, H, W]``) makes the output global.
Integer inputs ``[N, L]`` (token ids) have the axes after N as spatial axes and an
embedding keeps them.

How FLOPs are counted
---------------------
By torch's ``torch.utils.flop_counter.FlopCounterMode``, which counts a multiply-add as
2 FLOPs: the unit of the table and of ``flops_per_sample``. Papers and torchvision quote
multiply-adds under the name "FLOPs": halve the figures to compare (resnet18 at 224x224:
3.63 G FLOPs here, the 1.81 G multiply-adds torchvision publishes). It counts
convolutions (transposed and grouped too: ``out_elems * (C_in / groups) * prod(kernel)``
multiply-adds), linear layers, matrix products and attention kernels; biases, norms,
activations, pooling and element-wise operations are not counted (they are small next
to those). ``flop_counter`` adds formulas for the two ops it has none for and fixes the grouped convolution backward (see there).
A layer's FLOPs are those of the ops it ran itself in that call (its children's are on
their own rows), read from the counter's running total as each module call starts and
ends.

``summary`` and ``flops_per_sample`` run the model under a torch function mode, which
makes ``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` take their unfused
path (FlopCounterMode cannot see inside their fused inference kernels); any other fused
kernel without a formula counts 0.

The tests check the analytic receptive field against the input gradient of a unit
(``gradient_receptive_field`` in tests/test_analysis.py).
"""

from __future__ import annotations

import argparse
import importlib
import math
import re
import sys
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence, Union

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from convkit.errors import ConfigError, ConvkitError, ShapeError

Padding = Union[int, str]

# --------------------------------------------------------------------------- output sizes


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return value


def conv_output_size(n: int, kernel_size: int, stride: int = 1, padding: Padding = 0,
                     dilation: int = 1, ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling along one axis of input length ``n``:
    ``floor((n + 2p - d(k - 1) - 1) / s) + 1`` (``floor((n - k + 2p) / s) + 1`` when d=1).

    ``padding`` may be an int, ``"valid"`` (0) or ``"same"`` (TensorFlow's rule:
    ``ceil(n / s)``, which is ``n`` at stride 1). ``ceil_mode`` is pooling's option
    (round up, but no window may start in the right padding), as torch computes it.
    Raises a ShapeError when the input is too small for the kernel.
    """
    n = _check_int(n, "input size", 0)
    k = _check_int(kernel_size, "kernel_size", 1)
    s = _check_int(stride, "stride", 1)
    d = _check_int(dilation, "dilation", 1)
    if padding == "same":
        return -(-n // s)
    p = 0 if padding == "valid" else padding
    if isinstance(p, str):
        raise ConfigError(f"padding must be an int, 'same' or 'valid'; got {padding!r}")
    p = _check_int(p, "padding", 0)
    span = n + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1  # floor division rounds toward -inf
    if ceil_mode and (out - 1) * s >= n + p:  # the last window would start in the right padding
        out -= 1
    if out < 1:
        raise ShapeError(f"input size {n} (padded to {n + 2 * p}) is too small for a kernel of "
                         f"size {k} with dilation {d} (it spans {d * (k - 1) + 1})")
    return out


def conv_transpose_output_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution along one axis:
    ``(n - 1) s - 2p + d(k - 1) + output_padding + 1``."""
    n = _check_int(n, "input size", 1)
    k = _check_int(kernel_size, "kernel_size", 1)
    s = _check_int(stride, "stride", 1)
    d = _check_int(dilation, "dilation", 1)
    p = _check_int(padding, "padding", 0)
    op = _check_int(output_padding, "output_padding", 0)
    out = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
    if out < 1:
        raise ShapeError(f"transposed convolution of input size {n} with padding {p} gives "
                         f"no output (size {out})")
    return out


def conv_output_shape(spatial_shape: Sequence[int], kernel_size: int | Sequence[int],
                      stride: int | Sequence[int] = 1, padding: Padding | Sequence[int] = 0,
                      dilation: int | Sequence[int] = 1, ceil_mode: bool = False) -> tuple[int, ...]:
    """``conv_output_size`` on every spatial axis: ``[*S] -> [*S']``; each argument is an
    int (all axes) or one value per axis."""
    dims = len(spatial_shape)
    k, s, d = (_per_axis(v, dims, name) for v, name in
               ((kernel_size, "kernel_size"), (stride, "stride"), (dilation, "dilation")))
    p = (padding,) * dims if isinstance(padding, (int, str)) else _per_axis(padding, dims, "padding")
    return tuple(conv_output_size(*args, ceil_mode=ceil_mode) for args in zip(spatial_shape, k, s, p, d))


def _per_axis(value: Any, dims: int, name: str) -> tuple:
    if isinstance(value, int):
        return (value,) * dims
    value = tuple(value)
    if len(value) == 1:
        return value * dims
    if len(value) != dims:
        raise ConfigError(f"{name} must be an int or {dims} values; got {value}")
    return value


# --------------------------------------------------------------------------- MLP vs conv


@dataclass(frozen=True)
class MlpVsConv:
    """Weights (biases excluded) of a dense layer on the flattened input versus one
    convolution over it. ``input_shape`` is ``(*spatial, C)``, e.g. ``(224, 224, 3)``."""

    input_shape: tuple[int, ...]
    hidden_units: int
    dense_weights: int
    kernel_size: tuple[int, ...]
    out_channels: int
    conv_weights: int

    @property
    def ratio(self) -> float:
        """How many times more weights the dense layer has."""
        return self.dense_weights / self.conv_weights

    def __str__(self) -> str:
        shape = "x".join(map(str, self.input_shape))
        kernel = "x".join(map(str, self.kernel_size))
        return (f"dense layer, {shape} input -> {self.hidden_units:,} units: "
                f"{self.dense_weights:,} weights\n"
                f"conv layer, {kernel} kernel, {self.input_shape[-1]} -> {self.out_channels} "
                f"channels: {self.conv_weights:,} weights, whatever the input size "
                f"({self.ratio:,.0f}x fewer)")


def mlp_vs_conv(input_shape: Sequence[int] = (224, 224, 3), hidden_units: int = 1000,
                kernel_size: int | Sequence[int] = 3, out_channels: int = 64) -> MlpVsConv:
    """The comparison that motivates CNNs: a ``(*spatial, C)`` input into ``hidden_units``
    dense units needs ``prod(input_shape) * hidden_units`` weights (224x224x3 into 1,000:
    150,528,000); a convolution needs ``prod(kernel) * C_in * C_out`` (3x3, 3 -> 64: 1,728)."""
    shape = tuple(_check_int(v, "input_shape entry", 1) for v in input_shape)
    if len(shape) < 2:
        raise ConfigError(f"input_shape must be (*spatial, channels); got {tuple(input_shape)}")
    hidden = _check_int(hidden_units, "hidden_units", 1)
    out_ch = _check_int(out_channels, "out_channels", 1)
    kernel = tuple(_check_int(v, "kernel_size", 1)
                   for v in _per_axis(kernel_size, len(shape) - 1, "kernel_size"))
    return MlpVsConv(shape, hidden, math.prod(shape) * hidden, kernel, out_ch,
                     math.prod(kernel) * shape[-1] * out_ch)


# --------------------------------------------------------------------------- tracing


@dataclass(frozen=True)
class _Local:
    """Receptive field of a tensor whose ``axes`` are spatial: ``size`` and ``jump`` per axis."""

    size: tuple[int, ...]
    jump: tuple[int, ...]
    axes: tuple[int, ...]


_GLOBAL = "global"  # the state of a tensor every input position reaches
_State = Union[_Local, str]

_GEOMETRY = re.compile(r"(conv|conv_transpose|max_pool|avg_pool|lp_pool|adaptive_avg_pool|"
                       r"adaptive_max_pool)([123])d(_with_indices)?")
_RESIZING = {"pad", "constant_pad_nd", "narrow", "__getitem__", "interpolate", "upsample",
             "upsample_nearest", "upsample_bilinear", "pixel_shuffle", "pixel_unshuffle"}
_RESHAPING = {"view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "view_as", "reshape_as"}
_PERMUTING = {"permute", "transpose", "swapaxes", "swapdims", "movedim", "moveaxis"}
_MATMUL = {"matmul", "__matmul__", "mm", "bmm", "addmm", "baddbmm", "addbmm"}


def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Every tensor in a nest of tuples, lists and dicts."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item)


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _ints(value: Any, dims: int) -> tuple[int, ...]:
    if isinstance(value, torch.Size):
        value = tuple(value)
    if isinstance(value, (int, float)):
        return (int(value),) * dims
    value = tuple(value)
    return tuple(int(v) for v in (value * dims if len(value) == 1 else value))


def _conv_step(state: _Local, kernel: Sequence[int], stride: Sequence[int],
               dilation: Sequence[int]) -> _Local:
    """``rf += (k - 1) d jump``, ``jump *= s`` on every axis."""
    size = tuple(r + (k - 1) * d * j for r, k, d, j in zip(state.size, kernel, dilation, state.jump))
    jump = tuple(j * s for j, s in zip(state.jump, stride))
    return _Local(size, jump, state.axes)


def _merge(states: Sequence[_Local]) -> _Local:
    """The largest receptive field over paths that meet (``a + b``, ``cat``)."""
    return _Local(tuple(map(max, *(s.size for s in states))) if len(states) > 1 else states[0].size,
                  tuple(map(max, *(s.jump for s in states))) if len(states) > 1 else states[0].jump,
                  states[0].axes)


def _permutation(name: str, ndim: int, args: tuple, kwargs: dict) -> list[int]:
    """``perm[j]``: the input axis that becomes output axis ``j``."""
    norm = lambda a: int(a) % ndim  # noqa: E731
    if name == "permute":
        dims = args[1:] if len(args) > 2 else _arg(args, kwargs, 1, "dims")
        return [norm(a) for a in (dims if isinstance(dims, (tuple, list, torch.Size)) else [dims])]
    if name in ("transpose", "swapaxes", "swapdims"):
        a, b = norm(_arg(args, kwargs, 1, "dim0")), norm(_arg(args, kwargs, 2, "dim1"))
        perm = list(range(ndim))
        perm[a], perm[b] = b, a
        return perm
    src, dst = _arg(args, kwargs, 1, "source"), _arg(args, kwargs, 2, "destination")
    src = [norm(a) for a in (src if isinstance(src, (tuple, list)) else [src])]
    dst = [norm(a) for a in (dst if isinstance(dst, (tuple, list)) else [dst])]
    perm: list[int | None] = [None] * ndim
    for s, d in zip(src, dst):
        perm[d] = s
    rest = iter(a for a in range(ndim) if a not in src)
    return [next(rest) if p is None else p for p in perm]


class _Tracer(TorchFunctionMode):
    """Follows one forward pass: the receptive field of every tensor (keyed on identity,
    with a weak reference so a recycled id is never mistaken for an old tensor)."""

    def __init__(self) -> None:
        super().__init__()
        self._states: dict[int, tuple[weakref.ref, _State]] = {}

    def state(self, t: torch.Tensor) -> _State | None:
        """The receptive field state of ``t``, None if untracked."""
        entry = self._states.get(id(t))
        return entry[1] if entry is not None and entry[0]() is t else None

    def set_state(self, t: torch.Tensor, state: _State | None) -> None:
        """Record ``state`` for ``t`` (None: forget it)."""
        if state is None:
            self._states.pop(id(t), None)
        else:
            self._states[id(t)] = (weakref.ref(t), state)

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        outs = list(_tensors(out))
        if outs:
            self._propagate(getattr(func, "__name__", ""), args, kwargs, outs)
        return out

    def _propagate(self, name: str, args: tuple, kwargs: dict, outs: list[torch.Tensor]) -> None:
        inputs = [(t, s) for t in _tensors((args, kwargs)) if (s := self.state(t)) is not None]
        if not inputs:
            return
        geometry = _GEOMETRY.fullmatch(name)
        if geometry:
            x = _arg(args, kwargs, 0, "input")
            state = self.state(x) if isinstance(x, torch.Tensor) else None
            if state is not None:
                kind, dims = geometry.group(1), int(geometry.group(2))
                new = _geometry_step(kind, dims, x, outs[0], args, kwargs, state)
                for o in outs:
                    self.set_state(o, new)
            return
        for o in outs:
            self.set_state(o, _follow(name, args, kwargs, inputs, o))


def _geometry_step(kind: str, dims: int, x: torch.Tensor, out: torch.Tensor, args: tuple,
                   kwargs: dict, state: _State) -> _State:
    """The receptive field after a convolution or pooling op over the last ``dims`` axes."""
    if not isinstance(state, _Local) or state.axes != tuple(range(x.ndim - dims, x.ndim)):
        return _GLOBAL
    if kind == "conv":
        w = _arg(args, kwargs, 1, "weight")
        return _conv_step(state, w.shape[2:], _ints(_arg(args, kwargs, 3, "stride", 1), dims),
                          _ints(_arg(args, kwargs, 5, "dilation", 1), dims))
    if kind == "conv_transpose":
        # Approximate for stride > 1 (output units are closer than one input pixel):
        # each output sees ceil((k - 1) d / s) + 1 inputs; exact at stride 1.
        w = _arg(args, kwargs, 1, "weight")
        s = _ints(_arg(args, kwargs, 3, "stride", 1), dims)
        d = _ints(_arg(args, kwargs, 7, "dilation", 1), dims)
        size = tuple(r + -(-(k - 1) * dd // ss) * j
                     for r, k, dd, ss, j in zip(state.size, w.shape[2:], d, s, state.jump))
        return _Local(size, tuple(max(1, j // ss) for j, ss in zip(state.jump, s)), state.axes)
    if kind.startswith("adaptive"):
        n_in = x.shape[-dims:]
        n_out = out.shape[-dims:]
        if all(m == 1 for m in n_out):
            return _GLOBAL
        # Bins of an adaptive pool: exact when m divides n (k = s = n / m), else the
        # widest bin and the floor of the mean stride.
        kernel = tuple(max(-(-(i + 1) * n // m) - (i * n) // m for i in range(m))
                       for n, m in zip(n_in, n_out))
        return _conv_step(state, kernel, tuple(max(1, n // m) for n, m in zip(n_in, n_out)), (1,) * dims)
    k_index = 2 if kind == "lp_pool" else 1
    kernel = _ints(_arg(args, kwargs, k_index, "kernel_size"), dims)
    stride = _arg(args, kwargs, k_index + 1, "stride")
    if stride is None or (isinstance(stride, (list, tuple)) and not stride):
        stride = kernel  # pooling's default stride
    stride = _ints(stride, dims)
    dilation = _ints(_arg(args, kwargs, 4, "dilation", 1), dims) if kind == "max_pool" else (1,) * dims
    return _conv_step(state, kernel, stride, dilation)


def _follow(name: str, args: tuple, kwargs: dict, inputs: list[tuple[torch.Tensor, _State]],
            o: torch.Tensor) -> _State:
    """The receptive field of output ``o`` of a non-geometric op (see the module docstring)."""
    local = [(t, s) for t, s in inputs if isinstance(s, _Local)]
    if name == "embedding" and local:  # token ids [N, L] -> [N, L, E]: positions kept
        return local[-1][1]
    if name in _PERMUTING and local and local[0][0].ndim == o.ndim:
        perm = _permutation(name, o.ndim, args, kwargs)
        s = local[0][1]
        return _Local(s.size, s.jump, tuple(perm.index(a) for a in s.axes))
    if name == "linear" and any(t.ndim - 1 in s.axes for t, s in local):
        return _GLOBAL
    if name in _MATMUL and any(a >= t.ndim - 2 for t, s in local for a in s.axes):
        return _GLOBAL
    if name == "einsum":
        return _GLOBAL
    aligned = [s for t, s in local if t.ndim == o.ndim and all(o.shape[a] == t.shape[a] for a in s.axes)]
    if aligned:
        return _merge(aligned)
    if name in _RESIZING:
        same_rank = [s for t, s in local if t.ndim == o.ndim]
        if same_rank:
            return _merge(same_rank)
    if name in _RESHAPING:
        for t, s in local:
            dims = len(s.axes)
            if (s.axes == tuple(range(t.ndim - dims, t.ndim)) and o.ndim > dims
                    and tuple(o.shape[-dims:]) == tuple(t.shape[-dims:])):
                return _Local(s.size, s.jump, tuple(range(o.ndim - dims, o.ndim)))
    return _GLOBAL


# --------------------------------------------------------------------------- FLOPs


# Hand-written formulas, only for the ops FlopCounterMode has none for (it counts 0 there).
# Both are in FLOPs, 2 per multiply-add, like FlopCounterMode's own; they receive shapes.

def _attention_flops(query: Sequence[int], key: Sequence[int], value: Sequence[int], *args: Any,
                     out_shape: Any = None, **kwargs: Any) -> int:
    """``scaled_dot_product_attention`` as the fused CPU kernel runs it: ``q k^T`` and
    ``softmax(.) v``, ``[*B, L, E] x [*B, S, E] x [*B, S, Ev]``: ``2 * prod(B) L S (E + Ev)``
    (FlopCounterMode's formula for the CUDA kernels)."""
    return 2 * math.prod(query[:-1]) * key[-2] * (query[-1] + value[-1])


def _addbmm_flops(bias: Sequence[int], batch1: Sequence[int], batch2: Sequence[int], *args: Any,
                  out_shape: Any = None, **kwargs: Any) -> int:
    """``addbmm``: a sum over ``b`` of ``[n, k] @ [k, m]`` products: ``2 b n k m``."""
    b, n, k = batch1
    return 2 * b * n * k * batch2[-1]


def _conv_backward_flops(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                         _output_padding, _groups, output_mask, out_shape, **kwargs) -> int:
    """``aten.convolution_backward``: each requested gradient (input, weight) costs what the
    forward convolution costs. torch's own formula multiplies grouped and depthwise
    convolutions by their group count (64x for a 64-channel depthwise conv), which put
    EfficientNet's training step at twice the machine's peak."""
    from torch.utils.flop_counter import conv_flop_count

    forward = conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape), transposed=transposed)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def flop_counter() -> FlopCounterMode:
    """torch's FlopCounterMode (silent), plus formulas for ``addbmm`` and the CPU kernel of
    ``scaled_dot_product_attention`` (``_scaled_dot_product_flash_attention_for_cpu``),
    which it does not count, and the convolution backward counted right for grouped
    convolutions. The one counter for forward and training-step FLOPs."""
    extra = {torch.ops.aten.addbmm: _addbmm_flops, torch.ops.aten.convolution_backward: _conv_backward_flops}
    cpu_attention = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if cpu_attention is not None:
        extra[cpu_attention] = _attention_flops
    return FlopCounterMode(display=False, custom_mapping=extra)


class _UnfusedForward(TorchFunctionMode):
    """Runs every op unchanged; being active is enough to make ``nn.MultiheadAttention``
    and ``nn.TransformerEncoderLayer`` take their unfused path, whose ops are counted."""

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None):
        return func(*args, **(kwargs or {}))


def flops_per_sample(model: nn.Module, example_input: Any, batch_size: int | None = None) -> int:
    """FLOPs (2 per multiply-add, as FlopCounterMode counts; halve for multiply-adds) of
    one forward pass of ``model`` per example: the pass on ``example_input`` divided by
    the batch size. Runs in eval mode without gradients and restores the mode.

    ``example_input`` is what ``model`` takes: a tensor ``[N, ...]`` (``model(x)``), a
    tuple of arguments (``model(*args)``) or any other object (a graph batch), with
    ``batch_size`` giving N when it is not the first axis of the (first) tensor.
    LeNet-5 on ``[1, 1, 32, 32]``: 833,040.

    Raises:
        ConfigError: ``batch_size`` is needed (no tensor input) or not a positive integer.
    """
    if batch_size is None:
        first = example_input if isinstance(example_input, torch.Tensor) else (
            next(_tensors(example_input), None) if isinstance(example_input, (tuple, list)) else None)
        if first is None or first.ndim == 0:
            raise ConfigError(f"flops_per_sample: pass batch_size for an input of type "
                              f"{type(example_input).__name__} (no leading batch axis to read it from)")
        batch_size = first.shape[0]
    batch_size = _check_int(batch_size, "batch_size", 1)
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), flop_counter() as counter, _UnfusedForward():
            model(*args)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // batch_size


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class LayerInfo:
    """One module call: its qualified ``name`` (``layer1.0.conv1``), class name, output
    shape (``[N, C, *S]``; None for a non-tensor output), its own parameters, the receptive
    field of its output per spatial axis (None once global: the output sees the whole
    input), and FLOPs (2 per multiply-add) of the ops it ran itself."""

    name: str
    type: str
    output_shape: tuple[int, ...] | None
    params: int
    receptive_field: tuple[int, ...] | None
    flops: int


def _input_for(model: nn.Module, input_shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
    shape = tuple(input_shape)
    if not shape or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in shape):
        raise ShapeError(f"input shape must be positive integers like (1, 3, 224, 224); got {shape}")
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    return torch.zeros(shape, dtype=dtype, device=device)


def _trace(model: nn.Module, input_shape: Sequence[int], dtype: torch.dtype) -> list[LayerInfo]:
    """Run ``model`` once in eval mode without gradients; one LayerInfo per module call
    (containers included), in the order the calls finish."""
    x = _input_for(model, input_shape, dtype)
    spatial = tuple(range(1 if not dtype.is_floating_point else 2, x.ndim))
    tracer = _Tracer()
    counter = flop_counter()
    calls: list[LayerInfo] = []
    names = {m: n for n, m in model.named_modules()}
    # One entry per module call in progress: the counter's total when it started and the
    # FLOPs of its finished child calls (a call's own FLOPs are the rest).
    running: list[list[int]] = []

    def pre_hook(module: nn.Module, inputs: Any) -> None:
        running.append([counter.get_total_flops(), 0])

    def post_hook(module: nn.Module, inputs: Any, output: Any) -> None:
        start, children = running.pop()
        flops = counter.get_total_flops() - start
        if running:
            running[-1][1] += flops
        first = next(_tensors(output), None)
        state = tracer.state(first) if first is not None else None
        rf = state.size if isinstance(state, _Local) else None
        own = sum(p.numel() for p in module.parameters(recurse=False))
        calls.append(LayerInfo(names[module], type(module).__name__,
                               tuple(first.shape) if first is not None else None, own, rf,
                               flops - children))

    handles = []
    for module in names:
        handles.append(module.register_forward_pre_hook(pre_hook))
        handles.append(module.register_forward_hook(post_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), counter, tracer:
            if spatial:
                tracer.set_state(x, _Local((1,) * len(spatial), (1,) * len(spatial), spatial))
            model(x)
    except RuntimeError as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ShapeError(f"{type(model).__name__} cannot run on an input of shape {list(x.shape)}: "
                         f"{first_line}") from e
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return calls


def receptive_field(model: nn.Module, input_shape: Sequence[int],
                    dtype: torch.dtype = torch.float32) -> dict[str, tuple[int, ...] | None]:
    """Analytic receptive field of every module's output for an input ``[N, C, *S]``:
    ``{name: (rf per spatial axis) or None once global}``, containers included (``""``
    is the whole model). Two stacked 3x3 convs give ``(5, 5)``. See the module docstring
    for the rules; a module called twice reports its last call."""
    return {info.name: info.receptive_field for info in _trace(model, input_shape, dtype)}


def summary(model: nn.Module, input_shape: Sequence[int],
            dtype: torch.dtype = torch.float32) -> list[LayerInfo]:
    """Per-layer table of ``model`` on an input of ``input_shape`` (``[N, C, *S]``; for an
    integer ``dtype``, token ids ``[N, L]``): one LayerInfo per call of a leaf module, or
    of a container that holds parameters or runs counted ops itself, in execution order.
    Raises a ShapeError when the model cannot run on that input."""
    leaves = {n for n, m in model.named_modules() if not any(True for _ in m.children())}
    return [info for info in _trace(model, input_shape, dtype)
            if info.name in leaves or info.flops or info.params]


def _human(n: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}"


def _dims(shape: Sequence[int] | None) -> str:
    return "x".join(map(str, shape)) if shape is not None else "-"


def format_summary(layers: Sequence[LayerInfo], model: nn.Module | None = None) -> str:
    """The per-layer table (name, type, output shape, parameters, receptive field, FLOPs)
    with totals at the bottom: parameters (the model's, when given, else the sum over
    distinct layers), FLOPs (2 per multiply-add) and the receptive field of the last
    layer whose output is still local."""
    header = ("layer", "type", "output shape", "params", "receptive field", "FLOPs")
    rows = [(info.name or "(model)", info.type, _dims(info.output_shape), f"{info.params:,}",
             _dims(info.receptive_field) if info.receptive_field is not None
             else ("global" if info.output_shape is not None else "-"),
             _human(info.flops)) for info in layers]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {3, 5}

    def line(row: Sequence[str]) -> str:
        cells = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
        return "  ".join(cells).rstrip()

    rule = "-" * len(line(header))
    if model is not None:
        params = sum(p.numel() for p in model.parameters())
    else:
        params = sum({info.name: info.params for info in layers}.values())
    flops = sum(info.flops for info in layers)
    last = next((info for info in reversed(layers) if info.receptive_field is not None), None)
    totals = [f"total params: {params:,}",
              f"total FLOPs: {flops:,} ({_human(flops)}; 2 per multiply-add: "
              f"{_human(flops / 2)} multiply-adds)"]
    if last is not None:
        totals.append(f"receptive field: {_dims(last.receptive_field)} (output of {last.name or '(model)'})")
    return "\n".join([line(header), rule, *map(line, rows), rule, *totals])


# --------------------------------------------------------------------------- command line

_DEFAULT_SPATIAL = {1: (1024,), 2: (224, 224), 3: (16, 112, 112)}


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1x3x224x224"`` -> ``(1, 3, 224, 224)``; a ConfigError for anything else."""
    parts = text.lower().split("x")
    if not 3 <= len(parts) <= 5 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(f"--input must be N x C x spatial sizes (1 to 3 of them) joined by 'x', "
                          f"like 1x3x224x224; got {text!r}")
    return tuple(int(p) for p in parts)


def build_model(spec: str, spatial_dims: int | None, in_channels: int | None,
                num_classes: int | None) -> nn.Module:
    """A zoo model by name (``create_model``), or ``package.module:function`` called with
    the options that are given (for one's own models)."""
    kwargs = {k: v for k, v in dict(spatial_dims=spatial_dims, in_channels=in_channels,
                                    num_classes=num_classes).items() if v is not None}
    if ":" not in spec:
        from convkit.models import create_model
        return create_model(spec, **kwargs)
    module_name, _, attr = spec.partition(":")
    try:
        builder = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"model {spec!r}: cannot import {attr!r} from {module_name!r} ({e})") from None
    return builder(**kwargs)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m convkit.analysis MODEL [--spatial-dims D] [--input 1x3x224x224]
    [--num-classes K] [--in-channels C] [--compare-mlp]``: the per-layer table and totals."""
    parser = argparse.ArgumentParser(
        prog="python -m convkit.analysis",
        description="Per-layer output shapes, parameters, receptive fields and FLOPs of a model.")
    parser.add_argument("model", help="a zoo name (convkit.models.list_models()) or package.module:function")
    parser.add_argument("--spatial-dims", type=int, choices=(1, 2, 3), default=None,
                        help="1, 2 or 3 (default: from --input, else 2)")
    parser.add_argument("--input", default=None,
                        help="input shape N x C x spatial, e.g. 1x3x224x224 (default: 224 per axis "
                             "in 2D, 1024 in 1D, 16x112x112 in 3D)")
    parser.add_argument("--num-classes", type=int, default=None)
    parser.add_argument("--in-channels", type=int, default=None,
                        help="default: from --input, else the model's")
    parser.add_argument("--compare-mlp", action="store_true",
                        help="also compare the first conv with a dense layer on the same input")
    args = parser.parse_args(argv)
    try:
        shape = parse_shape(args.input) if args.input else None
        dims, channels = args.spatial_dims, args.in_channels
        if shape is not None:
            if dims is not None and dims != len(shape) - 2:
                raise ConfigError(f"--input {args.input} has {len(shape) - 2} spatial axes but "
                                  f"--spatial-dims is {dims}")
            if channels is not None and channels != shape[1]:
                raise ConfigError(f"--input {args.input} has {shape[1]} channels but "
                                  f"--in-channels is {channels}")
            dims, channels = len(shape) - 2, shape[1]
        model = build_model(args.model, dims if dims is not None else 2, channels, args.num_classes)
        if shape is None:
            dims = dims or 2
            channels = channels or getattr(model, "in_channels", 3)
            least = getattr(model, "min_input_size", 1)
            shape = (1, channels, *(max(n, least) for n in _DEFAULT_SPATIAL[dims]))
        layers = summary(model, shape)
        print(f"{args.model}, input {_dims(shape)}")
        print(format_summary(layers, model))
        if args.compare_mlp:
            first = next((m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
            kernel = tuple(first.kernel_size) if first is not None else 3
            out_channels = first.out_channels if first is not None else 64
            print(mlp_vs_conv((*shape[2:], shape[1]), 1000, kernel, out_channels))
    except ConvkitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
