"""Export a trained model to ONNX or TorchScript, checked against PyTorch.

ONNX goes through ``torch.onnx.export`` (the TorchScript-based exporter, which needs no
extra packages; the newer dynamo exporter needs ``onnxscript``), with a dynamic batch
axis and the data's other dynamic axes (a sentence's length, a series' time axis); when
onnxruntime is importable the exported file is run on a random batch, and on one whose
dynamic axes are longer, and must match PyTorch within ``1e-4``. TorchScript goes
through ``torch.jit.trace``. Models whose input is not one tensor (graphs) are refused
with one line.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from convkit.errors import ConvkitError
from convkit.train.task import Data

FORMATS = ("onnx", "torchscript")
TOLERANCE = 1e-4
"""Largest absolute difference allowed between PyTorch and the exported model."""


def example_input(input_shape: tuple[int, ...], dtype: str = "float32", batch: int = 2,
                  seed: int = 0) -> torch.Tensor:
    """A random batch ``[batch, *input_shape]`` of ``dtype`` (floats uniform in [0, 1),
    integers 0 or 1, e.g. token ids)."""
    g = torch.Generator().manual_seed(seed)
    torch_dtype = getattr(torch, dtype)
    if torch_dtype.is_floating_point:
        return torch.rand((batch, *input_shape), generator=g, dtype=torch_dtype)
    return torch.randint(0, 2, (batch, *input_shape), generator=g, dtype=torch_dtype)


def export_model(model: nn.Module, spec: Data, fmt: str, output: str | Path) -> dict:
    """Write ``model`` (on CPU, eval mode) to ``output`` as ``fmt``.

    Args:
        model: takes one tensor ``[N, *spec.input_shape]``.
        spec: the data spec (``input_kind``, ``input_shape``, ``input_dtype``,
            ``dynamic_axes``) of the checkpoint.
        fmt: ``"onnx"`` or ``"torchscript"``.
        output: file to write (its folder is created).

    Returns:
        ``{"output", "format", "max_abs_diff", "dynamic_axes"}``; ``max_abs_diff`` is None
        when ONNX could not be checked (onnxruntime not installed).

    Raises:
        ConvkitError: unknown format, a model whose input is not one tensor, or a mismatch.
    """
    if fmt not in FORMATS:
        raise ConvkitError(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if spec.input_shape is None:
        raise ConvkitError(f"this model takes {spec.input_kind} input (not one tensor), which "
                           f"{fmt} export does not support; use the checkpoint with convkit")
    output = Path(output)
    if output.is_dir():
        raise ConvkitError(f"--output {output}: a folder; give a file name, e.g. {output / ('model.' + fmt)}")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with open(output, "ab"):
            pass
    except OSError as err:
        raise ConvkitError(f"--output {output}: cannot write there ({err.strerror or err})") from None
    model = model.cpu().eval()
    shape = tuple(spec.input_shape)
    x = example_input(shape, spec.input_dtype)
    dynamic = {0: "batch", **{int(a): n for a, n in spec.dynamic_axes.items()}}
    with torch.no_grad():
        expected = model(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning, FutureWarning))
        if fmt == "onnx":
            torch.onnx.export(model, (x,), str(output), dynamo=False, input_names=["input"],
                              output_names=["output"], dynamic_axes={"input": dynamic, "output": {0: "batch"}})
            got = _run_onnx(output, x)
        else:
            with torch.no_grad():
                traced = torch.jit.trace(model, x)
            traced.save(str(output))
            with torch.no_grad():
                got = torch.jit.load(str(output))(x)
    diff = None if got is None else float((got.float() - expected.float()).abs().max())
    if diff is not None and fmt == "onnx" and len(dynamic) > 1:  # the dynamic axes really vary
        longer = example_input(tuple(2 * s if i + 1 in dynamic else s for i, s in enumerate(shape)),
                               spec.input_dtype, batch=3, seed=1)
        with torch.no_grad():
            want = model(longer)
        got_longer = _run_onnx(output, longer)
        diff = max(diff, float((got_longer.float() - want.float()).abs().max()))
    if diff is not None and not diff <= TOLERANCE:
        raise ConvkitError(f"{output}: the exported {fmt} model differs from PyTorch by {diff:.3g} "
                           f"(more than {TOLERANCE:g})")
    return {"output": str(output), "format": fmt, "max_abs_diff": diff,
            "dynamic_axes": {str(a): n for a, n in dynamic.items()}}


def _run_onnx(path: Path, x: torch.Tensor) -> torch.Tensor | None:
    """Run an ONNX file with onnxruntime on CPU (None when onnxruntime is not installed)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(["output"], {"input": x.numpy()})
    return torch.from_numpy(out)
