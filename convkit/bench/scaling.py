"""How a training step's time grows with the input: four sizes per model, a log-log fit.

Each curve times one training step (forward, backward, no optimizer) of a zoo model on
random inputs at four sizes and fits ``log(seconds) = exponent * log(size) + c``:

==============  ===================================  ==================================
curve           size                                 expected exponent
==============  ===================================  ==================================
``tcn``         sequence length (``[N, C, L]``)      1 (linear in length)
``gcn``         edges of a random graph (nodes       at most 1 (the node part is fixed)
                fixed)
``pointnet``    points per cloud (``[N, 3, P]``)     1
``dgcnn``       points per cloud                     up to 2 (dense k-NN: ``P x P``
                                                     distances), lower while the
                                                     convolutions dominate
``cnn2d``       image side (``[N, 3, S, S]``)        2 (pixels grow as side squared)
==============  ===================================  ==================================

A model that is not in the zoo is skipped with a note. On glibc Linux the curves run with
large allocations kept in malloc's heap (``runtime.keep_large_allocations_in_heap``), so the
largest sizes are not dominated by page faults of freshly mmapped activations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from convkit.bench.perf import synchronize
from convkit.train.runtime import keep_large_allocations_in_heap


@dataclass(frozen=True)
class Curve:
    """One scaling curve: the zoo ``model`` built with ``options``, the input made by
    ``make_input(size, batch, generator)`` (on CPU), the ``sizes`` and the ``axis`` they
    measure, the ``batch`` size and the exponent ``expected`` from the algorithm."""

    name: str
    model: str
    axis: str
    sizes: tuple[int, ...]
    batch: int
    expected: str
    options: dict = field(default_factory=dict)
    build: dict = field(default_factory=dict)


def _grid(channels: int, spatial_dims: int) -> Callable[[int, int, torch.Generator], torch.Tensor]:
    def make(size: int, batch: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(batch, channels, *([size] * spatial_dims), generator=generator)
    return make


def _points(size: int, batch: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(batch, 3, size, generator=generator)


GCN_NODES = 2000
"""Nodes of the random graphs of the GCN curve (the edges vary)."""


def _graph(size: int, batch: int, generator: torch.Generator) -> Any:
    from torch_geometric.data import Data as PygData

    edge_index = torch.randint(0, GCN_NODES, (2, size), generator=generator)
    return PygData(x=torch.randn(GCN_NODES, 64, generator=generator), edge_index=edge_index)


INPUTS: dict[str, Callable[[int, int, torch.Generator], Any]] = {
    "tcn": _grid(4, 1), "gcn": _graph, "pointnet": _points, "dgcnn": _points, "cnn2d": _grid(3, 2)}
"""The input maker of each curve."""


def curves(profile: str) -> list[Curve]:
    """The five curves at the sizes and model widths of ``profile`` (smoke: small models and
    sizes, seconds on one core; default/full: the models' own widths, larger sizes)."""
    if profile == "smoke":
        return [
            Curve("tcn", "tcn", "sequence length", (1024, 2048, 4096, 8192), 2, "1",
                  {"channels": 8, "levels": 4}, {"spatial_dims": 1, "in_channels": 4}),
            Curve("gcn", "gcn", "edges", (4000, 8000, 16000, 32000), 1, "<=1", {},
                  {"in_channels": 64, "num_classes": 7}),
            Curve("pointnet", "pointnet", "points per cloud", (256, 512, 1024, 2048), 4, "1",
                  {"mlp1": [16, 16], "mlp2": [16, 32, 64], "head": [32], "tnet_mlp": [16, 32, 64],
                   "tnet_fc": [32, 16]}, {"in_channels": 3, "num_classes": 10}),
            Curve("dgcnn", "dgcnn", "points per cloud", (128, 256, 512, 1024), 2, "<=2",
                  {"k": 8, "edge_widths": [8, 8, 16, 32], "emb_dims": 64, "head": [32, 16]},
                  {"in_channels": 3, "num_classes": 10}),
            Curve("cnn2d", "resnet18", "image side", (32, 64, 128, 256), 2, "2",
                  {"widths": [8, 16, 32, 64]}, {"spatial_dims": 2, "in_channels": 3, "num_classes": 10}),
        ]
    return [
        Curve("tcn", "tcn", "sequence length", (1024, 4096, 16384, 65536), 8, "1", {},
              {"spatial_dims": 1, "in_channels": 4}),
        Curve("gcn", "gcn", "edges", (20000, 80000, 320000, 1280000), 1, "<=1", {},
              {"in_channels": 64, "num_classes": 7}),
        Curve("pointnet", "pointnet", "points per cloud", (256, 512, 1024, 2048), 8, "1", {},
              {"in_channels": 3, "num_classes": 40}),
        Curve("dgcnn", "dgcnn", "points per cloud", (256, 512, 1024, 2048), 4, "<=2", {},
              {"in_channels": 3, "num_classes": 40}),
        Curve("cnn2d", "resnet18", "image side", (32, 64, 128, 256), 8, "2", {},
              {"spatial_dims": 2, "in_channels": 3, "num_classes": 10}),
    ]


def fit_exponent(sizes: list[float], seconds: list[float]) -> float:
    """The slope of ``log(seconds)`` against ``log(sizes)`` (least squares)."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def step_seconds(model: nn.Module, inputs: Any, device: torch.device, min_seconds: float, max_steps: int = 20) -> float:
    """The fastest of repeated training steps (forward, ``sum`` of the output, backward) of
    ``model`` on ``inputs`` after one warm-up step; repeats until ``min_seconds`` or
    ``max_steps``."""
    model.train()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        out = model(inputs)
        (out[0] if isinstance(out, tuple) else out).float().sum().backward()

    step()
    synchronize(device)
    best, start, steps = float("inf"), time.perf_counter(), 0
    while steps < 2 or (steps < max_steps and time.perf_counter() - start < min_seconds):
        t0 = time.perf_counter()
        step()
        synchronize(device)
        best = min(best, time.perf_counter() - t0)
        steps += 1
    return best


def run_curve(curve: Curve, device: torch.device, min_seconds: float) -> dict:
    """Time ``curve`` at its four sizes: ``{"name", "model", "axis", "sizes", "seconds",
    "exponent", "expected", "batch"}``, or ``{"name", "skipped": reason}`` when the model
    is not in the zoo (or fails to build)."""
    from convkit.models import create_model, list_models

    if curve.model not in list_models():
        return {"name": curve.name, "model": curve.model, "skipped": f"{curve.model!r} is not in the zoo"}
    model = create_model(curve.model, **curve.build, **curve.options).to(device)
    generator = torch.Generator().manual_seed(0)
    seconds = []
    for size in curve.sizes:
        inputs = INPUTS[curve.name](size, curve.batch, generator).to(device)
        seconds.append(step_seconds(model, inputs, device, min_seconds))
    return {"name": curve.name, "model": curve.model, "axis": curve.axis, "sizes": list(curve.sizes),
            "batch": curve.batch, "seconds": seconds, "exponent": fit_exponent(list(curve.sizes), seconds),
            "expected": curve.expected}


def run_scaling(profile: str, device: torch.device, min_seconds: float | None = None) -> list[dict]:
    """Every curve of ``profile`` on ``device``; a curve that fails is reported with its
    error (``"skipped"``) and the others run. Outside ``smoke`` (whose sizes are small)
    large CPU allocations are kept in the heap first (``runtime.keep_large_allocations_in_heap``:
    linear costs stay linear at 64k steps)."""
    in_heap = keep_large_allocations_in_heap() if device.type == "cpu" and profile != "smoke" else False
    min_seconds = min_seconds if min_seconds is not None else (0.1 if profile == "smoke" else 1.0)
    out = []
    for curve in curves(profile):
        try:
            out.append({**run_curve(curve, device, min_seconds), "large_allocations_in_heap": in_heap})
        except Exception as err:  # noqa: BLE001 - one curve must not stop the others
            out.append({"name": curve.name, "model": curve.model,
                        "skipped": f"{type(err).__name__}: {str(err).strip()[:200]}"})
    return out
