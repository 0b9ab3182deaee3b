"""Export a trained model to ONNX, TorchScript or safetensors, checked against PyTorch.

ONNX goes through ``torch.onnx.export`` (the TorchScript-based exporter, which needs no
extra packages; the newer dynamo exporter needs ``onnxscript``), with a dynamic batch
axis and the data's other dynamic axes (a sentence's length, a series' time axis); when
onnxruntime is importable the exported file is run on a random batch, and on one whose
dynamic axes are longer, and must match PyTorch within ``1e-4``. TorchScript goes
through ``torch.jit.trace``. Models whose input is not one tensor (graphs) are refused
with one line. ``safetensors`` writes the weights alone (the state dict, read back and
compared tensor by tensor), with the metadata in the file's header (its ``convkit``
entry): what ``model.pretrained`` / ``create_model(..., pretrained=FILE)`` need to start
another model from them (``convkit.models.weights``: the architecture, its options, the
preprocessing and the label names).

Every exported model carries what a program needs to use it without convkit
(:func:`export_metadata`: label names, the input's name, kind, shape, dtype and dynamic
axes, the output's, and the task's preprocessing, e.g. a text model's vocabulary and
tokenizer settings): in ONNX as ``metadata_props`` (one entry per top-level key, its
value JSON; onnxruntime reads them as ``session.get_modelmeta().custom_metadata_map``),
in TorchScript as the extra file ``convkit.json``, in safetensors as the header's
``convkit`` entry, and for all in a sidecar JSON next to the model (``model.onnx.json``),
written once the export checks out.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convkit import __version__
from convkit.errors import ConvkitError
from convkit.train.task import Data

FORMATS = ("onnx", "torchscript", "safetensors")
TOLERANCE = 1e-4
"""Largest absolute difference allowed between PyTorch and the exported model."""

INPUT_NAME, OUTPUT_NAME = "input", "output"
"""The names of the exported graph's input and output."""

METADATA_FILE = "convkit.json"
"""The name of the metadata inside a TorchScript file (``torch.jit.load(..., _extra_files=...)``)."""


def example_input(input_shape: tuple[int, ...], dtype: str = "float32", batch: int = 2,
                  seed: int = 0) -> torch.Tensor:
    """A random batch ``[batch, *input_shape]`` of ``dtype`` (floats uniform in [0, 1),
    integers 0 or 1, e.g. token ids)."""
    g = torch.Generator().manual_seed(seed)
    torch_dtype = getattr(torch, dtype)
    if torch_dtype.is_floating_point:
        return torch.rand((batch, *input_shape), generator=g, dtype=torch_dtype)
    return torch.randint(0, 2, (batch, *input_shape), generator=g, dtype=torch_dtype)


def export_metadata(spec: Data, fmt: str, output_shape: tuple[int, ...],
                    about: Mapping[str, Any] | None = None) -> dict:
    """What a program needs to use the exported model: ``{"convkit_version", "format",
    "input": {"name", "kind", "shape", "dtype", "dynamic_axes"}, "output": {"name",
    "shape", "meaning"}, "label_names", **about}``. Shapes name their dynamic axes
    (``["batch", "length"]``); ``about`` adds the task's entries (``task``, ``model``,
    ``preprocessing``)."""
    dynamic = _dynamic_axes(spec)
    shape = ["batch", *(dynamic.get(i + 1, int(n)) for i, n in enumerate(spec.input_shape))]
    names = list(spec.label_names) if spec.label_names is not None else None
    meaning = ("logits over label_names (softmax gives the probabilities)"
               if names and tuple(output_shape[1:]) == (len(names),) else "the model's output")
    return {"convkit_version": __version__, "format": fmt,
            "input": {"name": INPUT_NAME, "kind": spec.input_kind, "shape": shape, "dtype": spec.input_dtype,
                      "dynamic_axes": {str(a): n for a, n in dynamic.items()}},
            "output": {"name": OUTPUT_NAME, "shape": ["batch", *(int(n) for n in output_shape[1:])],
                       "meaning": meaning},
            "label_names": names, **(about or {})}


def _dynamic_axes(spec: Data) -> dict[int, str]:
    """The batched input's dynamic axes: the batch axis and the data's own."""
    return {0: "batch", **{int(a): str(n) for a, n in spec.dynamic_axes.items()}}


def export_model(model: nn.Module, spec: Data, fmt: str, output: str | Path,
                 about: Mapping[str, Any] | None = None) -> dict:
    """Write ``model`` (on CPU, eval mode) to ``output`` as ``fmt``, with its metadata
    (:func:`export_metadata`) inside and in the sidecar ``<output>.json``.

    Args:
        model: takes one tensor ``[N, *spec.input_shape]``.
        spec: the data spec (``label_names``, ``input_kind``, ``input_shape``,
            ``input_dtype``, ``dynamic_axes``) of the checkpoint.
        fmt: ``"onnx"``, ``"torchscript"`` or ``"safetensors"`` (the weights only).
        output: file to write (its folder is created).
        about: the task's metadata entries (``task``, ``model``, ``model_options``,
            ``preprocessing``).

    Returns:
        ``{"output", "format", "max_abs_diff", "dynamic_axes", "metadata"}``;
        ``max_abs_diff`` is None when ONNX could not be checked (onnxruntime not
        installed); ``metadata`` is the sidecar's path.

    Raises:
        ConvkitError: unknown format, a model whose input is not one tensor, a model that
            cannot be traced (its ``export_refusal`` says why), or a mismatch.
    """
    if fmt not in FORMATS:
        raise ConvkitError(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if spec.input_shape is None and fmt != "safetensors":
        raise ConvkitError(f"this model takes {spec.input_kind} input (not one tensor), which "
                           f"{fmt} export does not support; use the checkpoint with convkit")
    refusal = getattr(model, "export_refusal", None)  # a model that cannot be traced says why, before any file
    if refusal and fmt != "safetensors":
        raise ConvkitError(refusal)
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
    if fmt == "safetensors":
        return _export_weights(model, spec, output, about)
    shape = tuple(spec.input_shape)
    x = example_input(shape, spec.input_dtype)
    dynamic = _dynamic_axes(spec)
    with torch.no_grad():
        expected = model(x)
    metadata = export_metadata(spec, fmt, tuple(expected.shape), about)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning, FutureWarning))
        if fmt == "onnx":
            torch.onnx.export(model, (x,), str(output), dynamo=False, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], dynamic_axes={INPUT_NAME: dynamic, OUTPUT_NAME: {0: "batch"}})
            _add_onnx_metadata(output, metadata)
            got = _run_onnx(output, x)
        else:
            with torch.no_grad():
                traced = torch.jit.trace(model, x)
            traced.save(str(output), _extra_files={METADATA_FILE: json.dumps(metadata)})
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
    sidecar = _write_sidecar(output, metadata)
    return {"output": str(output), "format": fmt, "max_abs_diff": diff,
            "dynamic_axes": {str(a): n for a, n in dynamic.items()}, "metadata": str(sidecar)}


def _export_weights(model: nn.Module, spec: Data, output: Path, about: Mapping[str, Any] | None) -> dict:
    """``export_model`` for ``safetensors``: the state dict with the metadata in its header,
    read back and compared tensor by tensor (``max_abs_diff``)."""
    from convkit.models.weights import read_weights, save_weights

    state = model.state_dict()
    if spec.input_shape is not None:
        with torch.no_grad():
            output_shape = tuple(model(example_input(tuple(spec.input_shape), spec.input_dtype)).shape)
    else:
        output_shape = (2, len(spec.label_names or []))
    metadata = export_metadata(spec, "safetensors", output_shape, about)
    try:
        save_weights(state, output, metadata)
    except OSError as err:
        raise ConvkitError(f"--output {output}: cannot write there ({err.strerror or err})") from None
    back = read_weights(output).state
    if back.keys() != state.keys():
        raise ConvkitError(f"{output}: the written weights hold other keys than the model's")
    diff = max((float((back[k].double() - v.double()).abs().max()) for k, v in state.items() if v.numel()),
               default=0.0)
    if not diff <= TOLERANCE:
        raise ConvkitError(f"{output}: the written weights differ from the model's by {diff:.3g}")
    sidecar = _write_sidecar(output, metadata)
    return {"output": str(output), "format": "safetensors", "max_abs_diff": diff,
            "dynamic_axes": {str(a): n for a, n in _dynamic_axes(spec).items()}, "metadata": str(sidecar)}


def _add_onnx_metadata(path: Path, metadata: dict) -> None:
    """Put ``metadata`` into the ONNX file's ``metadata_props``: one entry per top-level
    key, its value as JSON (needs the ``onnx`` package; without it, the sidecar only)."""
    try:
        import onnx
    except ImportError:
        return
    proto = onnx.load(str(path))
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(proto, str(path))


def _write_sidecar(output: Path, metadata: dict) -> Path:
    """``<output>.json``: the metadata, written atomically."""
    sidecar = output.with_name(output.name + ".json")
    tmp = sidecar.with_name(f".{sidecar.name}.tmp")
    try:
        tmp.write_text(json.dumps(metadata, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, sidecar)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ConvkitError(f"{sidecar}: cannot write the model's metadata there ({err.strerror or err})") from None
    return sidecar


def _run_onnx(path: Path, x: torch.Tensor) -> torch.Tensor | None:
    """Run an ONNX file with onnxruntime on CPU (None when onnxruntime is not installed)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(["output"], {"input": x.numpy()})
    return torch.from_numpy(out)
