"""Runtime policy: where and how a run computes, the same for every task.

* devices: :func:`select_device` (``auto``: CUDA, then MPS, then CPU; torchrun's local rank);
* seeds: :func:`seed_everything` (``random``, numpy, torch; deterministic kernels on request);
* CPU threads: :func:`set_threads` (``0``: one per idle core, read from ``/proc/loadavg``);
* precision and memory layout: :func:`device_defaults` (what ``train.precision=auto`` and
  an unset ``train.channels_last`` become on a device), :func:`autocast`,
  :func:`memory_format`, :func:`grad_scaler`, and :class:`Placement`, which holds the
  three for one run and moves its model and batches;
* ``torch.compile``: :func:`compiled`;
* the allocator: :func:`keep_large_allocations_in_heap` (glibc's malloc, for long inputs).

The engine (``convkit.train.engine``), evaluation (``convkit.train.inference``) and the
benchmark (``convkit.bench``) take these from here, so a step the benchmark times computes
exactly as a training run does.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from convkit.errors import ConfigError
from convkit.train import distributed
from convkit.train.loaders import move_to_device

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
"""The autocast dtype of each ``train.precision`` that is not ``fp32``."""


# --------------------------------------------------------------------------- devices and seeds


def select_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; under torchrun each rank takes
    ``cuda:LOCAL_RANK``. Asking for a device that is absent raises ConfigError."""
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if cuda else "mps" if mps else "cpu"
    if name == "cuda" and not cuda:
        raise ConfigError("train.device is 'cuda' but no CUDA device is available; use --device cpu or auto")
    if name == "mps" and not mps:
        raise ConfigError("train.device is 'mps' but MPS is not available; use --device cpu or auto")
    if name == "cuda":
        under_torchrun = distributed.world_size_from_env() > 1
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) if under_torchrun
                            else torch.cuda.current_device())
    return torch.device(name)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed ``random``, numpy and torch (all devices); ``deterministic`` also asks torch
    for deterministic kernels (and turns off cuDNN autotuning)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if deterministic:
        torch.backends.cudnn.benchmark = False


# --------------------------------------------------------------------------- CPU threads


def set_threads(threads: int) -> int:
    """Use ``threads`` CPU threads for torch's kernels; 0 picks one per idle core: the
    cores this process may run on (``os.sched_getaffinity``, at most torch's default)
    less the threads of other processes running now (``_other_runnable``), at least one.
    Returns the count.

    Why: a thread on a core that another process holds makes every parallel region wait
    for it, so on a shared machine fewer threads train faster
    (``python -m convkit.bench.threads`` measures it). Making idle OpenMP threads sleep
    (``OMP_WAIT_POLICY=PASSIVE``) helped only under heavy load and cost much more when
    idle, so the wait policy is left to OpenMP."""
    if threads == 0:
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        available = min(available, torch.get_num_threads())
        threads = max(1, available - _other_runnable())
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads


def _other_runnable(samples: int = 5) -> int:
    """How many threads of other processes are running now: the median over a few
    readings of the kernel's runnable count (``/proc/loadavg``) less this process's own
    running threads (its OpenMP workers may still be spinning); the 1-minute load average
    where ``/proc`` does not exist."""
    try:
        counts = []
        for i in range(samples):
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
            counts.append(running - _own_running())
            if i + 1 < samples:
                time.sleep(0.02)
        return max(0, sorted(counts)[len(counts) // 2])
    except (OSError, ValueError, IndexError):
        return round(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0


def _own_running() -> int:
    """Threads of this process in the running state (at least 1: the one asking)."""
    count = 0
    for stat in Path("/proc/self/task").glob("*/stat"):
        try:
            count += stat.read_text().rsplit(")", 1)[1].split()[0] == "R"
        except (OSError, IndexError):
            continue
    return max(count, 1)


# --------------------------------------------------------------------------- precision and memory layout


def device_defaults(device: torch.device, spatial_dims: int) -> dict:
    """The settings ``train.precision=auto`` and ``train.channels_last`` (none) take on
    ``device``: ``{"precision": "fp32" | "bf16", "channels_last": bool}``, chosen from
    ``python -m convkit.bench.compute`` (every setting side by side in one process; the
    figures are in docs/benchmark.md, "Compute"):

    * CPU: fp32; channels-last in 2D (a faster step for most 2D models measured), not in
      3D (slower there). bf16 autocast is not a CPU default even with bf16 units (it
      loses on some models, e.g. EfficientNet-B0 and LeNet-5): it would make one command
      train differently on CPUs with and without them, and without them it is emulated
      (a bf16 matmul far slower than fp32).
    * CUDA: bf16 and channels-last (2D and 3D) where the GPU has bf16 units (Ampere and
      later): autocast puts convolutions and matmuls on the tensor cores, whose
      convolutions want channels-last. Not measured in this project yet (run the bench
      with ``--device cuda``); elsewhere fp32, contiguous.
    * other devices: fp32, contiguous.

    ``torch.compile`` is never a default: its warm-up (minutes per model on a small CPU,
    for a step no faster than eager there) is not paid back within a task's default run."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False):
        return {"precision": "bf16", "channels_last": spatial_dims in (2, 3)}
    if device.type == "cpu":
        return {"precision": "fp32", "channels_last": spatial_dims == 2}
    return {"precision": "fp32", "channels_last": False}


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The mixed-precision context of ``train.precision`` on ``device``: none for
    ``fp32``; ``auto`` is the device's default (:func:`device_defaults`)."""
    if precision == "auto":
        precision = device_defaults(device, 0)["precision"]
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[precision])


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """The loss scaler of ``train.precision``: active for ``fp16`` only (bf16 has fp32's
    exponent range and needs none)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def memory_format(spatial_dims: int, channels_last: bool | None,
                  device: torch.device) -> tuple[torch.memory_format | None, int]:
    """``(memory format, tensor ndim it applies to)`` of ``train.channels_last`` for a
    model with ``spatial_dims``: ``(channels_last, 4)`` in 2D, ``(channels_last_3d, 5)``
    in 3D, ``(None, 0)`` for contiguous; ``None`` is the device's default
    (:func:`device_defaults`)."""
    if channels_last is None:
        channels_last = device_defaults(device, spatial_dims)["channels_last"]
    if channels_last and spatial_dims == 2:
        return torch.channels_last, 4
    if channels_last and spatial_dims == 3:
        return torch.channels_last_3d, 5
    return None, 0


@dataclass(frozen=True)
class Placement:
    """Where and how one run computes: its ``device``, autocast ``precision`` (a
    ``train.precision`` value) and the memory format of its model and batches
    (``memory_format`` for float tensors of ``layout_ndim`` dimensions; None: contiguous)."""

    device: torch.device
    precision: str = "fp32"
    memory_format: torch.memory_format | None = None
    layout_ndim: int = 0

    @classmethod
    def of(cls, device: torch.device, spatial_dims: int, precision: str,
           channels_last: bool | None) -> "Placement":
        """The placement of ``train.precision``/``train.channels_last`` for a model with
        ``spatial_dims`` on ``device``."""
        fmt, ndim = memory_format(spatial_dims, channels_last, device)
        return cls(device, precision, fmt, ndim)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The run's mixed-precision context (:func:`autocast`)."""
        return autocast(self.device, self.precision)

    def model(self, model: nn.Module) -> nn.Module:
        """``model`` moved to the device and, with a memory format, its weights laid out in
        it (the same kernels, the same numbers as in training). Returns ``model``."""
        model.to(self.device)
        if self.memory_format is not None:
            model.to(memory_format=self.memory_format)
        return model

    def batch(self, batch: Any) -> Any:
        """``batch`` on the device, its ``[N, C, *spatial]`` float tensors in the memory
        format (``loaders.move_to_device``)."""
        return move_to_device(batch, self.device, self.memory_format, self.layout_ndim)


def compiled(model: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile(model)`` when ``enabled`` (``train.compile``), else ``model``. The
    compiled module shares its parameters with ``model``, which is what a run saves."""
    return torch.compile(model) if enabled else model


# --------------------------------------------------------------------------- the allocator


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt parameters of glibc's malloc.h
_heap_kept = False


def keep_large_allocations_in_heap() -> bool:
    """On glibc Linux, serve every allocation from malloc's heap and keep its freed top
    (``mallopt(M_MMAP_MAX, 0)``, ``mallopt(M_TRIM_THRESHOLD, 2**31 - 1)``), once per
    process; returns whether it is in effect (False elsewhere: nothing is changed).

    Why: glibc gives allocations of 32 MiB and more (its largest dynamic mmap threshold)
    their own ``mmap`` and unmaps them on free, so every training step's large
    activations (a TCN over 64k steps: 64 MiB each) are page-faulted in again, zero-filled
    by the kernel, which then dominates the step's time. Raising ``M_MMAP_THRESHOLD``
    cannot help there (glibc refuses values above 32 MiB). The cost: the process keeps
    its peak heap (resident memory does not go down after a peak), so the bench calls it
    only after the tasks' peak-memory figures are taken."""
    global _heap_kept
    if _heap_kept:
        return True
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        _heap_kept = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        return False
    return _heap_kept
