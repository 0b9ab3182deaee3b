"""Runtime policy: where and how a run computes, the same for every task.

* devices: :func:`select_device` (``auto``: CUDA, then MPS, then CPU; torchrun's local rank);
* seeds: :func:`seed_everything` (``random``, numpy, torch; deterministic kernels on request);
* CPU threads: :func:`set_threads` (``0``: one per idle core, read from ``/proc/loadavg``);
* precision and memory layout: :func:`choose_settings` (what ``train.precision=auto`` and
  an unset ``train.channels_last`` become for one model on one machine: measured by a
  short probe on first use and cached, with :func:`device_defaults`' table as the
  fallback), :func:`autocast`, :func:`memory_format`, :func:`grad_scaler`, and
  :class:`Placement`, which holds the three for one run and moves its model and batches;
* ``torch.compile``: :func:`compiled`;
* the allocator: :func:`keep_large_allocations_in_heap` (glibc's malloc, for long inputs).

The engine (``convkit.train.engine``), evaluation (``convkit.train.inference``) and the
benchmark (``convkit.bench``) take these from here, so a step the benchmark times computes
exactly as a training run does.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from convkit.config import RunConfig
from convkit.data.cache import cache_dir
from convkit.errors import ConfigError
from convkit.train import distributed
from convkit.train.loaders import move_to_device
from convkit.train.task import Data

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
    """The fixed table: ``{"precision": "fp32" | "bf16", "channels_last": bool}`` for
    ``train.precision=auto`` and an unset ``train.channels_last`` on ``device`` when no
    measurement decides (:func:`choose_settings` falls back to it when probing is off or
    impossible). Written from ``python -m convkit.bench.compute`` on one machine (the
    figures are in docs/benchmark.md, "Compute"); another CPU may rank the settings
    otherwise, which is why a run measures its own:

    * CPU: fp32; channels-last in 2D (a faster step for most 2D models measured there),
      not in 3D (slower there). No bf16: without bf16 units it is emulated (a bf16 matmul
      far slower than fp32), and a table cannot tell which models it helps.
    * CUDA: bf16 and channels-last (2D and 3D) where the GPU has bf16 units (Ampere and
      later): autocast puts convolutions and matmuls on the tensor cores, whose
      convolutions want channels-last. Elsewhere fp32, contiguous.
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


# --------------------------------------------------------------------------- measured defaults


def cpu_flags() -> set[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where it does not exist)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def bf16_units(device: torch.device) -> tuple[bool, str]:
    """Whether ``device`` computes bf16 natively, and why: CUDA's
    ``is_bf16_supported(including_emulation=False)``; a CPU with ``avx512_bf16`` or
    ``amx_bf16`` in ``/proc/cpuinfo``; no elsewhere (bf16 is then emulated)."""
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported(including_emulation=False)
        return ok, f"{torch.cuda.get_device_name(device)}: " + ("bf16 units" if ok else "no bf16 units")
    if device.type != "cpu":
        return False, f"{device.type}: not measured"
    flags = cpu_flags() & {"avx512_bf16", "amx_bf16"}
    if flags:
        return True, "CPU flags " + ", ".join(sorted(flags))
    return False, "no avx512_bf16/amx_bf16 in /proc/cpuinfo (torch capability " \
                  f"{torch.backends.cpu.get_cpu_capability()})"


def device_name(device: torch.device) -> str:
    """What the device is, for the probe's cache: the GPU's name, or the CPU's model
    name from ``/proc/cpuinfo`` (``platform.processor()`` where that does not exist)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or platform.machine() or "cpu"
    return device.type


PROBE_ENV = "CONVKIT_RUNTIME_PROBE"
"""Set to ``0`` (or ``off``, ``false``, ``no``) to turn measured defaults off: unset
settings then come from the table, as before any measurement (neither probe nor cache).
The test suite sets it (tests/conftest.py)."""

PROBE_MIN_ROUNDS = 4
"""Rounds before one setting may beat another: winning every one of 4 rounds by chance
alone has probability 1/16."""
PROBE_MAX_ROUNDS = 8
"""Rounds after which a comparison still undecided (faster in every round, under the
margin) counts as within the noise."""
PROBE_MARGIN = 0.03
"""A setting beats another only when its median paired step time is at least 3 % lower:
less is not worth leaving the simpler setting for."""
PROBE_MAX_SECONDS = 120.0
"""The probe stops after this many seconds (after the round it is in); fewer than
``PROBE_MIN_ROUNDS`` rounds then decide nothing, and the simplest setting is used."""

SettingKey = tuple[str, bool]
"""``(precision, channels_last)``."""


@dataclass(frozen=True)
class Choice:
    """The precision and memory layout one run uses, where they came from (``source``:
    ``explicit`` (the config sets both), ``probe`` (measured now), ``cache`` (measured on
    this machine before), ``table`` (:func:`device_defaults`)) and why."""

    precision: str
    channels_last: bool
    source: Literal["explicit", "probe", "cache", "table"]
    why: str

    @property
    def measured(self) -> bool:
        """Whether a measurement chose it (a run's config records such a choice)."""
        return self.source in ("probe", "cache")

    def describe(self) -> str:
        """One line for the run's log: ``bf16, channels-last (probe: ...)``."""
        return f"{_setting_name((self.precision, self.channels_last))} ({self.source}: {self.why})"

    def recorded(self, cfg: RunConfig) -> RunConfig:
        """``cfg`` with a measured choice written into ``train.precision`` and
        ``train.channels_last`` (so the run's config.toml and checkpoints hold it, and a
        resumed or repeated run uses the same); ``cfg`` itself when nothing was measured."""
        if not self.measured:
            return cfg
        train = dataclasses.replace(cfg.train, precision=self.precision, channels_last=self.channels_last)
        return dataclasses.replace(cfg, train=train)


def _setting_name(key: SettingKey) -> str:
    return f"{key[0]}, {'channels-last' if key[1] else 'contiguous'}"


def candidate_settings(device: torch.device, spatial_dims: int, precision: str, channels_last: bool | None,
                       allow_bf16: bool = True) -> list[SettingKey]:
    """The settings a probe chooses among, simplest first (fp32 before bf16, contiguous
    before channels-last): an explicit ``precision``/``channels_last`` is the only value
    of its kind; ``auto`` precision is fp32 or bf16 where the device has bf16 units (and
    ``allow_bf16``; else the table's); an unset layout is either in 2D and 3D on CPU and
    CUDA (else the table's)."""
    table = device_defaults(device, spatial_dims)
    if precision != "auto":
        precisions = [precision]
    elif allow_bf16 and device.type in ("cpu", "cuda") and bf16_units(device)[0]:
        precisions = ["fp32", "bf16"]
    else:
        precisions = [table["precision"]]
    if channels_last is not None:
        layouts = [channels_last]
    elif spatial_dims in (2, 3) and device.type in ("cpu", "cuda"):
        layouts = [False, True]
    else:
        layouts = [table["channels_last"]]
    return sorted(((p, cl) for p in precisions for cl in layouts), key=lambda k: (k[0] != "fp32", k[1]))


def _shape_class(shape: list[int] | tuple[int, ...] | None) -> list[int] | None:
    """Each size rounded up to a power of two: inputs of one class share a probe."""
    return None if shape is None else [1 << max(int(n) - 1, 0).bit_length() for n in shape]


def probe_key(model: nn.Module, batch_shape: list[int] | tuple[int, ...] | None, device: torch.device,
              candidates: list[SettingKey]) -> dict:
    """What a probe's result holds for: the model (its zoo build arguments, else its class,
    and a hash of its structure), the batch's shape class (``[N, C, *S]`` rounded up to
    powers of two), the device (CPU model or GPU name), torch's version, the thread count
    and the settings compared."""
    build = getattr(model, "build_args", None)
    described = json.loads(json.dumps(build, default=str)) if isinstance(build, dict) else \
        f"{type(model).__module__}.{type(model).__qualname__}"
    return {"model": described, "structure": hashlib.sha1(repr(model).encode()).hexdigest()[:16],
            "input": _shape_class(batch_shape), "device": device_name(device), "device_type": device.type,
            "torch": torch.__version__, "threads": torch.get_num_threads() if device.type == "cpu" else None,
            "settings": [list(c) for c in candidates]}


def probe_enabled() -> bool:
    """Whether ``$CONVKIT_RUNTIME_PROBE`` allows the probe (it does unless set to 0/off/false/no)."""
    return os.environ.get(PROBE_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def faster_beyond_noise(a: list[float], b: list[float], margin: float = PROBE_MARGIN,
                        min_rounds: int = PROBE_MIN_ROUNDS) -> bool:
    """Whether steps timed ``a`` beat steps timed ``b`` (seconds per round, the rounds
    interleaved) beyond the noise: at least ``min_rounds`` rounds, ``a`` faster in every
    one, and the median of ``a / b`` per round at most ``1 - margin``."""
    ratios = [x / y for x, y in zip(a, b)]
    return len(ratios) >= min_rounds and max(ratios) < 1.0 and statistics.median(ratios) <= 1.0 - margin


def pick_setting(times: dict[Any, list[float]]) -> Any:
    """The probe's rule, over ``times`` (per-round seconds of each setting, simplest
    first): start from the simplest setting; while other settings are faster than it
    beyond the noise (:func:`faster_beyond_noise`), move to the fastest of them by the
    median, or to the simplest of them that this fastest does not beat beyond the noise."""
    order = list(times)
    chosen = order[0]
    while True:
        better = [k for k in order if k != chosen and faster_beyond_noise(times[k], times[chosen])]
        if not better:
            return chosen
        fastest = min(better, key=lambda k: statistics.median(times[k]))
        chosen = next(k for k in better if not faster_beyond_noise(times[fastest], times[k]))


def _settled(times: dict[Any, list[float]]) -> bool:
    """Whether more rounds could not change any comparison: every ordered pair is either
    beaten beyond the noise or lost a round already (it can then never win every round)."""
    keys = list(times)
    for a in keys:
        for b in keys:
            if a == b or faster_beyond_noise(times[a], times[b]):
                continue
            if all(x < y for x, y in zip(times[a], times[b])):
                return False  # faster in every round so far, not yet by the margin
    return True


def interleaved_rounds(steps: dict[Any, Callable[[], Any]], device: torch.device,
                       min_rounds: int = PROBE_MIN_ROUNDS, max_rounds: int = PROBE_MAX_ROUNDS,
                       max_seconds: float = PROBE_MAX_SECONDS,
                       settled: Callable[[dict[Any, list[float]]], bool] = _settled,
                       warm_up: bool = True) -> dict[Any, list[float]]:
    """Seconds of one step of each of ``steps`` per round (after one warm-up step each
    when ``warm_up``), the candidates in turn, the order rotated every round so none
    always runs first; from ``min_rounds`` on it stops once ``settled`` says so, after
    ``max_rounds``, or once ``max_seconds`` have passed."""
    keys = list(steps)
    start = time.perf_counter()
    for key in keys if warm_up else ():
        steps[key]()
    synchronize(device)
    times: dict[Any, list[float]] = {key: [] for key in keys}
    for r in range(max_rounds):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            t0 = time.perf_counter()
            steps[key]()
            synchronize(device)
            times[key].append(time.perf_counter() - t0)
        if r + 1 >= min_rounds and settled(times):
            break
        if time.perf_counter() - start > max_seconds:
            break
    return times


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); a no-op elsewhere."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def _rng_untouched(device: torch.device):
    """Every random number generator (``random``, numpy, torch on the CPU and ``device``)
    as it was before: a probe must not change what the run draws after it."""
    py, npy = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)


_CHOICES: dict[str, Choice] = {}
"""This process's measured choices by cache key (repeats of one command agree even where
the cache folder is not writable)."""


def _cache_file(key: dict) -> Path:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir("runtime") / f"{digest}.json"


def _read_cached(path: Path, key: dict, candidates: list[SettingKey]) -> dict | None:
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    chosen = entry.get("choice") or {}
    if (chosen.get("precision"), chosen.get("channels_last")) not in candidates:
        return None
    return entry


def _write_cached(path: Path, entry: dict) -> str | None:
    """Write ``entry`` whole (a temporary file renamed over it); the error as text if it fails."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(entry, f, indent=1)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)
        return f"{type(err).__name__}: {err.strerror or err}"
    return None


def choose_settings(device: torch.device, spatial_dims: int, precision: str, channels_last: bool | None, *,
                    model: nn.Module | None = None, batch_shape: list[int] | tuple[int, ...] | None = None,
                    make_step: Callable[["Placement"], Callable[[], Any]] | None = None,
                    input_kind: str = "grid", probe_off: str | None = None,
                    max_seconds: float = PROBE_MAX_SECONDS) -> Choice:
    """The precision and memory layout a run uses for ``model`` on ``device``, and why.

    An explicit ``precision`` (not ``auto``) and ``channels_last`` (not None) always win.
    An unset one is chosen among :func:`candidate_settings` (bf16 not for ``graph``
    inputs, whose message passing would sum in bf16): from this machine's cache
    (``cache_dir("runtime")``, one JSON file per :func:`probe_key`: model, input shape
    class, CPU model or GPU name, torch version, threads) when it holds the choice, else by
    a probe that times one training step of every candidate (``make_step(placement)``
    returns a callable making one; the caller's model copies and batch) in interleaved
    rounds (:func:`interleaved_rounds`) and applies :func:`pick_setting` (the simplest
    setting unless another is faster beyond the noise), then caches it. The probe costs
    about one warm-up step and 4 to 8 timed steps per candidate, at most ``max_seconds``
    (then the round it is in); it leaves every random number generator as it was.

    The table (:func:`device_defaults`) decides when there is nothing to choose, when
    ``probe_off`` gives a reason not to probe (e.g. a resumed run; the cache is not read
    either), when ``$CONVKIT_RUNTIME_PROBE`` is off (likewise), when ``model`` is missing,
    when nothing is cached and ``make_step`` is missing (a measurement of an earlier run
    is found without it: the benchmark's throughput takes a run's own setting so), or when
    the simplest candidate fails to step (the error is in ``why``); a candidate that fails
    (e.g. an op without bf16 support) is left out."""
    if precision != "auto" and channels_last is not None:
        return Choice(precision, channels_last, "explicit", "train.precision and train.channels_last are set")
    table = device_defaults(device, spatial_dims)
    fallback = (precision if precision != "auto" else table["precision"],
                channels_last if channels_last is not None else table["channels_last"])
    candidates = candidate_settings(device, spatial_dims, precision, channels_last,
                                    allow_bf16=input_kind != "graph")  # message passing sums in the model's dtype
    if len(candidates) == 1:
        return Choice(*candidates[0], "table", f"the only setting to consider on {device.type} "
                      f"in {spatial_dims}D" + (" without bf16 units" if precision == "auto" else ""))
    if probe_off is None and not probe_enabled():
        probe_off = f"probing off (${PROBE_ENV}={os.environ.get(PROBE_ENV)})"
    if probe_off is None and model is None:
        probe_off = "no model to probe with"
    if probe_off is not None:
        return Choice(*fallback, "table", probe_off)
    key = probe_key(model, batch_shape, device, candidates)
    memo = json.dumps(key, sort_keys=True)
    if memo in _CHOICES:
        return _CHOICES[memo]
    path = _cache_file(key)
    entry = _read_cached(path, key, candidates)
    if entry is not None:
        choice = Choice(entry["choice"]["precision"], entry["choice"]["channels_last"], "cache",
                        f"probed {entry.get('created', '?')}: {entry.get('why', '')} ({path})")
        _CHOICES[memo] = choice
        return choice
    if make_step is None:
        return Choice(*fallback, "table", "not measured yet, and no batch to probe with")
    start = time.perf_counter()
    times, left_out = None, []
    with _rng_untouched(device):
        steps = {}
        for setting in candidates:
            try:
                step = make_step(Placement.of(device, spatial_dims, *setting))
                step()  # the warm-up step: a setting that cannot step is left out
                steps[setting] = step
            except Exception as err:  # noqa: BLE001 - any failure leaves the setting out
                left_out.append(f"{_setting_name(setting)} left out ({_one_line(err)})")
            if candidates[0] not in steps:
                break
        if candidates[0] in steps:
            try:
                times = interleaved_rounds(steps, device, max_seconds=max_seconds, warm_up=False)
            except Exception as err:  # noqa: BLE001 - e.g. out of memory with the copies
                left_out.append(_one_line(err))
    if times is None:
        return Choice(*fallback, "table", "the probe failed: " + "; ".join(left_out))
    chosen = pick_setting(times)
    seconds = time.perf_counter() - start
    why = _probe_summary(times, chosen, left_out)
    entry = {"key": key, "choice": {"precision": chosen[0], "channels_last": chosen[1]}, "why": why,
             "ms": {_setting_name(k): [round(t * 1e3, 3) for t in v] for k, v in times.items()},
             "seconds": round(seconds, 2), "created": datetime.datetime.now().isoformat(timespec="seconds")}
    failed = _write_cached(path, entry)
    where = f"not cached: {failed}" if failed else f"cached in {path}"
    choice = Choice(*chosen, "probe", f"{why}; {seconds:.1f} s, {where}")
    _CHOICES[memo] = Choice(*chosen, "cache", f"probed earlier in this process: {why}")
    return choice


def settings_for_run(cfg: RunConfig, data: Data, model: nn.Module, device: torch.device,
                     make_step: Callable[[Placement], Callable[[], Any]] | None = None,
                     probe_off: str | None = None) -> Choice:
    """:func:`choose_settings` for a training run of ``model`` on ``data`` with
    ``cfg.train``: its batch is ``[batch_size, *data.input_shape]``. Without ``make_step``
    nothing is probed: what the run took, from this process or the cache, else the table
    (how the benchmark's throughput steps as the run did)."""
    tcfg = cfg.train
    shape = [tcfg.batch_size, *data.input_shape] if data.input_shape is not None else None
    return choose_settings(device, data.spatial_dims, tcfg.precision, tcfg.channels_last, model=model,
                           batch_shape=shape, make_step=make_step, input_kind=data.input_kind, probe_off=probe_off)


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:100]}" if text else type(err).__name__


def _probe_summary(times: dict[SettingKey, list[float]], chosen: SettingKey, left_out: list[str]) -> str:
    """``median ms of each setting over N rounds; the chosen one and why``."""
    rounds = min(len(v) for v in times.values())
    medians = ", ".join(f"{_setting_name(k)} {statistics.median(v) * 1e3:.1f}" for k, v in times.items())
    simplest = next(iter(times))
    rule = ("the simplest: none faster beyond the noise" if chosen == simplest else
            f"faster than {_setting_name(simplest)} beyond the noise "
            f"(every round, {PROBE_MARGIN:.0%} or more by the median)")
    return f"median ms per step over {rounds} rounds: {medians}; {rule}" + \
        ("; " + "; ".join(left_out) if left_out else "")


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
