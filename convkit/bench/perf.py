"""Cost figures of a trained task model: FLOPs, throughput, peak memory, the matmul peak.

Everything is measured on the batches the task's own data loader makes and through the
task's own steps (``training_step``, ``evaluation_step``), so a figure means the same
for a CNN on images as for a GCN on one full graph:

* a **sample** is one example of a batch: a row of a tensor batch, a graph of a
  torch_geometric ``Batch``, a node of a full-batch node task (``NodeBatch``);
* **FLOPs per sample** (2 per multiply-add): ``convkit.analysis.flops_per_sample`` of one
  evaluation step on one test batch; the training step's FLOPs (forward and backward)
  are counted the same way, with ``convkit.analysis.flop_counter`` (torch's ``FlopCounterMode``);
* **throughput**: samples per second over a few training steps and a few evaluation
  steps, after one warm-up step, synchronised on CUDA. A training step is the engine's
  own (``convkit.train.engine.train_step``: a fresh optimizer on a copy of the trained
  model, the task's augmentation, the run's autocast, GradScaler, memory format, gradient
  clipping and ``torch.compile`` from ``convkit.train.runtime``); an evaluation step is
  ``evaluation_step`` under the same autocast and memory format, as the engine evaluates;
* **peak memory**: CUDA's ``max_memory_allocated``, or on CPU the process's resident-set
  high-water mark (``VmHWM``, reset per task through ``/proc/self/clear_refs`` where Linux
  allows it; else ``getrusage``, which never goes down);
* **matmul peak**: the best ``n x n`` matrix product rate of a dtype on the device over a
  few sizes (1024-4096 on CPU) and two layouts (a plain matmul and a channels-last 1x1
  convolution), measured in the same run with the same threads, so ``achieved / peak``
  is a fraction of what this device does.
"""

from __future__ import annotations

import copy
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from convkit.analysis import flop_counter, flops_per_sample
from convkit.config import RunConfig
from convkit.train.engine import make_optimizer, train_step
from convkit.train.loaders import move_to_device
from convkit.train.runtime import Placement, compiled, grad_scaler, settings_for_run, synchronize
from convkit.train.task import Data, Task


def batch_size_of(batch: Any) -> int:
    """Samples in a batch: the first axis of a tensor (of the first tensor in a tuple,
    list or dict), the graphs of a torch_geometric ``Batch`` (``num_graphs``), the nodes of
    a full-graph ``NodeBatch`` (``graph.num_nodes``); 1 for anything else."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim else 1
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, (tuple, list)):
        return batch_size_of(batch[0]) if batch else 1
    graph = getattr(batch, "graph", None)
    if graph is not None and getattr(graph, "num_nodes", None) is not None:
        return int(graph.num_nodes)
    num_graphs = getattr(batch, "num_graphs", None)
    if isinstance(num_graphs, int):
        return num_graphs
    return 1


def first_batches(dataset: Dataset, data: Data, batch_size: int, count: int) -> list[Any]:
    """The first ``count`` batches of ``dataset`` in order (the task's ``collate_fn``)."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=data.collate_fn)
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == count:
            break
    return out


class _EvaluationStep(nn.Module):
    """``task.evaluation_step(model, batch)`` as a module, so ``flops_per_sample`` can count
    any task's forward pass whatever its batch structure."""

    def __init__(self, task: Task, model: nn.Module) -> None:
        super().__init__()
        self.task = task
        self.model = model

    def forward(self, batch: Any) -> Any:
        return self.task.evaluation_step(self.model, batch)


def forward_flops_per_sample(task: Task, model: nn.Module, batch: Any) -> int:
    """FLOPs of one evaluation step on ``batch`` (on the model's device) per sample."""
    return flops_per_sample(_EvaluationStep(task, model), (batch,), batch_size=batch_size_of(batch))


def training_flops_per_sample(task: Task, model: nn.Module, batch: Any) -> int:
    """FLOPs of one training step's forward and backward pass on ``batch`` per sample
    (the optimizer update is not counted), on a copy of ``model`` (its norm statistics
    stay as they are)."""
    model = copy.deepcopy(model).train()
    with flop_counter() as counter:
        loss = task.training_step(model, batch)
        loss.backward()
    return counter.get_total_flops() // batch_size_of(batch)


def _timed(run_step: Callable[[Any], None], batches: list[Any], device: torch.device,
           min_seconds: float, max_steps: int) -> tuple[int, float]:
    """One warm-up step, then steps over ``batches`` (cycling) until ``min_seconds`` have
    passed or ``max_steps`` were made: ``(samples, seconds)``."""
    run_step(batches[0])
    synchronize(device)
    samples, steps, start = 0, 0, time.perf_counter()
    while steps < max_steps and (steps < len(batches) or time.perf_counter() - start < min_seconds):
        batch = batches[steps % len(batches)]
        run_step(batch)
        samples += batch_size_of(batch)
        steps += 1
        if steps % len(batches) == 0:
            synchronize(device)
    synchronize(device)
    return samples, time.perf_counter() - start


def run_placement(cfg: RunConfig, data: Data, model: nn.Module, device: torch.device) -> Placement:
    """The placement a training run of ``model`` with ``cfg`` on ``data`` took
    (``runtime.settings_for_run`` without a probe: the run's measurement, from this
    process or the cache, else the table)."""
    choice = settings_for_run(cfg, data, model, device)
    return Placement.of(device, data.spatial_dims, choice.precision, choice.channels_last)


def training_throughput(task: Task, cfg: RunConfig, data: Data, model: nn.Module, batches: list[Any],
                        device: torch.device, min_seconds: float = 1.0, max_steps: int = 50) -> float:
    """Training samples per second: the engine's optimizer steps (``train_step``, with
    ``make_optimizer`` on a copy of ``model``, the task's augmentation and the run's
    placement, loss scaler, clipping and compilation from ``cfg.train``) on ``batches``
    (already on ``device``)."""
    tcfg = cfg.train
    placement = run_placement(cfg, data, model, device)
    model = placement.model(copy.deepcopy(model).train())
    optimizer = make_optimizer(model, tcfg)
    scaler = grad_scaler(device, tcfg.precision)
    run = compiled(model, tcfg.compile)
    augment = task.augmentation(cfg, data)

    def step(batch: Any) -> None:
        train_step(task, run, batch, optimizer, scaler, placement, tcfg.clip_grad_norm, augment)

    samples, seconds = _timed(step, batches, device, min_seconds, max_steps)
    return samples / max(seconds, 1e-9)


def inference_throughput(task: Task, cfg: RunConfig, data: Data, model: nn.Module, batches: list[Any],
                         device: torch.device, min_seconds: float = 1.0, max_steps: int = 100) -> float:
    """Evaluation samples per second (``evaluation_step`` in eval mode without gradients,
    under the run's autocast and memory format, as ``inference.evaluate_split`` runs it)
    on ``batches`` (already on ``device``)."""
    placement = run_placement(cfg, data, model, device)
    was_training = model.training
    model.eval()

    def step(batch: Any) -> None:
        with torch.no_grad(), placement.autocast():
            task.evaluation_step(model, placement.batch(batch))

    try:
        samples, seconds = _timed(step, batches, device, min_seconds, max_steps)
    finally:
        model.train(was_training)
    return samples / max(seconds, 1e-9)


def on_device(batches: list[Any], device: torch.device) -> list[Any]:
    """``batches`` moved to ``device`` (``move_to_device``)."""
    return [move_to_device(b, device) for b in batches]


# --------------------------------------------------------------------------- memory


_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def reset_peak_memory(device: torch.device) -> str:
    """Start a new peak-memory window; returns how the peak will be read:
    ``"cuda_max_allocated"``, ``"rss_hwm"`` (reset per task) or ``"rss_maxrss"`` (the
    process's high-water mark since it started: it never goes down)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return "cuda_max_allocated"
    try:
        _CLEAR_REFS.write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return "rss_hwm"
    except OSError:
        return "rss_maxrss"


def peak_memory_mb(device: torch.device, how: str) -> float:
    """The peak memory in MiB since ``reset_peak_memory`` returned ``how``."""
    if how == "cuda_max_allocated":
        return torch.cuda.max_memory_allocated(device) / 2**20
    if how == "rss_hwm":
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**20 if sys.platform == "darwin" else 1024)


# --------------------------------------------------------------------------- matmul peak


PEAK_SIZES = {"cuda": (4096, 8192), "cpu": (1024, 2048, 4096)}
"""The ``n`` of the ``n x n`` products the matmul peak is the best of, by device type."""

PEAK_KERNELS = ("mm", "conv1x1_cl")
"""The products the peak is the best of: ``mm`` (``torch.mm`` of two ``n x n`` matrices)
and ``conv1x1_cl`` (the same product as a 1x1 convolution of ``n`` to ``n`` channels over
``n`` positions in channels-last, which runs on the convolution library's kernels: on
some CPUs its bf16 is many times faster than ``torch.mm``'s)."""


def _peak_kernel(kind: str, n: int, device: torch.device, dtype: torch.dtype,
                 generator: torch.Generator) -> Callable[[], Any] | None:
    """One ``2 n^3``-FLOP product of ``kind`` on fresh random operands, or None where
    ``kind`` has no such shape (``conv1x1_cl`` needs ``n`` a multiple of 32)."""
    if kind == "mm":
        a = torch.randn(n, n, generator=generator).to(device=device, dtype=dtype)
        b = torch.randn(n, n, generator=generator).to(device=device, dtype=dtype)
        return lambda: torch.mm(a, b)
    if kind == "conv1x1_cl" and n % 32 == 0:
        x = torch.randn(1, n, n // 32, 32, generator=generator).to(device=device, dtype=dtype)
        w = torch.randn(n, n, 1, 1, generator=generator).to(device=device, dtype=dtype)
        x, w = x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last)
        return lambda: torch.nn.functional.conv2d(x, w)
    return None


def matmul_peak_gflops(device: torch.device, sizes: tuple[int, ...] | None = None, min_seconds: float = 0.3,
                       max_seconds: float = 6.0, dtype: torch.dtype = torch.float32) -> dict:
    """The best rate of ``n x n`` matrix products on ``device`` over ``sizes`` (default
    ``PEAK_SIZES``: one size is not enough, a larger GEMM runs closer to the machine's
    peak, and a model's big convolutions can beat a 1024 product) and the kernels of
    ``PEAK_KERNELS`` (a plain matmul and the same product as a channels-last 1x1
    convolution: the layouts the hardware is fast at differ by dtype and device), in
    GFLOP/s (``2 n^3`` FLOPs per product): each size and kernel times at least 3
    products and ``min_seconds``, the best product counts; a size that would take the
    total past ``max_seconds`` (estimated from the kernel's previous size) is skipped, and
    the larger ones. Run it with the thread count of the steps it is compared with.
    Returns ``{"gflops", "size", "kernel", "dtype", "by_size": {n: best gflops},
    "by_kernel": {kernel: {n: gflops}}}``."""
    sizes = sizes or PEAK_SIZES.get(device.type, (1024, 2048))
    generator = torch.Generator().manual_seed(0)
    by_kernel: dict[str, dict[int, float]] = {kind: {} for kind in PEAK_KERNELS}
    last: dict[str, tuple[int, float]] = {}
    start = time.perf_counter()
    for n in sizes:
        for kind in PEAK_KERNELS:
            if kind in last:  # the kernel's previous size's best product, scaled by n^3
                estimate = last[kind][1] * (n / last[kind][0]) ** 3
                if time.perf_counter() - start + max(4 * estimate, min_seconds) > max_seconds:
                    continue
            elif last and time.perf_counter() - start + min_seconds > max_seconds:
                continue  # the first product of all always runs
            product = _peak_kernel(kind, n, device, dtype, generator)
            if product is None:
                continue
            product()  # warm-up
            synchronize(device)
            best, rounds, size_start = float("inf"), 0, time.perf_counter()
            while rounds < 3 or time.perf_counter() - size_start < min_seconds:
                t0 = time.perf_counter()
                product()
                synchronize(device)
                best = min(best, time.perf_counter() - t0)
                rounds += 1
            by_kernel[kind][n], last[kind] = 2 * n**3 / best / 1e9, (n, best)
    by_size = {n: max(k[n] for k in by_kernel.values() if n in k) for n in sizes
               if any(n in k for k in by_kernel.values())}
    size = max(by_size, key=by_size.get)
    kernel = max((k for k in by_kernel if size in by_kernel[k]), key=lambda k: by_kernel[k][size])
    return {"gflops": by_size[size], "size": size, "kernel": kernel, "dtype": str(dtype).removeprefix("torch."),
            "by_size": by_size, "by_kernel": {k: v for k, v in by_kernel.items() if v}}


def set_peak_fractions(rows: list[dict], peak_gflops: float) -> None:
    """Set each task row's ``peak_fraction`` to its ``achieved_gflops`` over ``peak_gflops``
    (the best matmul rate of the whole run, measured again after the tasks)."""
    for row in rows:
        if row.get("achieved_gflops") is not None and peak_gflops:
            row["peak_fraction"] = row["achieved_gflops"] / peak_gflops
