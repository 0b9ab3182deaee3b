"""The one training engine: ``fit``, ``evaluate_checkpoint``, ``predict_checkpoint``.

A task (``convkit.train.task.Task``) supplies data, model, steps and metrics; this
module does the rest for every task alike (DESIGN.md "The engine"): device choice,
seeding, SGD/Adam/AdamW (over the model's own ``param_groups`` when it offers them),
cosine/one-cycle/step schedules (stepped per optimizer step) or reduce-on-plateau
(per epoch, on the training loss), gradient clipping,
bf16/fp16 autocast (GradScaler only for fp16), channels-last, ``torch.compile`` (the
unwrapped, uncompiled module is what is saved), DDP from torchrun's environment, early
stopping, a wall-clock budget, NaN/inf detection, atomic checkpoints, and the run folder::

    runs/<task>/<run-name>/config.toml  metrics.jsonl  metrics.json  best.pt  last.pt
                           curves.png   (+ the task's own plots)

One process trains in a run folder at a time: it holds an OS lock on ``.lock`` there
(``lock_run_dir``; under DDP rank 0 holds it, and only rank 0 writes files). A full disk
(or quota) while writing any of these files ends the run with one line naming the file
and the last complete checkpoint; the file being written is left as it was.

One epoch, as ``_Run`` does it: ``set_epoch`` on the training dataset (per-epoch
sampling), the training steps, then every ``train.eval_every`` epochs a validation pass
(``compute_metrics`` and ``derive_state``), the best-so-far bookkeeping, and every
``train.save_every`` epochs ``last.pt`` (and ``best.pt`` when it improved; an improvement
between saves is held in memory until the next save). The last epoch always validates
and saves. ``metrics.jsonl`` gets one appended line per epoch.

The host is not synchronised every step: losses accumulate on the device and are read
every ``SYNC_EVERY`` steps, before every checkpoint and at the end of the epoch; a
non-finite loss is then reported with the epoch and step where it first appeared, and
no checkpoint after it is ever written.

Exact resume: each epoch's order comes from ``seed + epoch`` (DistributedSampler), the
loader's generator and every RNG state are checkpointed, and a resumed epoch skips the
batches already done, so a run killed mid-epoch and resumed ends with the same weights
and metrics as one left alone (on CPU, where kernels are deterministic).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import os
import random
import shutil
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from convkit import config as config_io
from convkit.config import RunConfig, TrainConfig
from convkit.errors import CheckpointError, ConfigError, ConvkitError, DataError, DiskFullError, Interrupted
from convkit.train import checkpoint as checkpoints
from convkit.train import distributed
from convkit.train.distributed import DistEnv
from convkit.train.loaders import ShardSampler, SkipSampler, move_to_device, seed_worker
from convkit.train.metrics import to_float_dict
from convkit.train.plots import plot_curves
from convkit.train.task import Data, Task, Trained

try:
    import fcntl
except ImportError:  # Windows has no flock: run folders are not locked there (lock_run_dir does nothing)
    fcntl = None  # type: ignore[assignment]

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

SYNC_EVERY = 50
"""Training steps between reads of the loss on the host (NaN check, time budget under DDP,
progress bar); checkpoints and epoch ends read it too."""


@dataclass
class FitResult:
    """What ``fit`` returns: the unwrapped model holding the best weights, the
    ``metrics.json`` contents, the run folder (None on ranks other than 0) and the
    ``task_state`` derived at the validation of those weights."""

    model: nn.Module
    metrics: dict
    run_dir: Path | None
    task_state: dict | None = None


@dataclass
class _Progress:
    """The loop's resumable state (saved in every checkpoint)."""

    epoch: int = 0
    step: int = 0
    history: list[dict] = field(default_factory=list)
    best: dict | None = None  # {"epoch", "value", "val"}
    bad_epochs: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    train_seconds: float = 0.0


# --------------------------------------------------------------------------- setup helpers


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


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (with momentum, Nesterov off), Adam (L2 weight decay) or AdamW (decoupled) over
    ``model.param_groups(cfg.weight_decay)`` when the model offers parameter groups (e.g.
    GCN's weight decay on its first layer only), else over all trainable parameters."""
    if hasattr(model, "param_groups"):
        groups = [{**g, "params": [p for p in g["params"] if p.requires_grad]}
                  for g in model.param_groups(cfg.weight_decay)]
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule, stepped once per optimizer step: cosine to 0 over the
    run, one-cycle (``lr`` is the peak), step (times ``gamma`` every ``step_size``
    epochs) or constant; or ``plateau``, stepped once per epoch with the epoch's
    training loss."""
    total = max(cfg.epochs * steps_per_epoch, 1)
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience,
            min_lr=min(cfg.min_lr, cfg.lr))
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total)
    if cfg.schedule == "cosine":
        factor = lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total))  # noqa: E731
    elif cfg.schedule == "step":
        factor = lambda s: cfg.gamma ** ((s // steps_per_epoch) // cfg.step_size)  # noqa: E731
    else:
        factor = lambda s: 1.0  # noqa: E731
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def device_defaults(device: torch.device, spatial_dims: int) -> dict:
    """The settings ``train.precision=auto`` and ``train.channels_last`` (none) take on
    ``device``: ``{"precision": "fp32" | "bf16", "channels_last": bool}``. Measured with
    ``python -m convkit.bench.compute`` (settings side by side in one process; README
    "Compute"):

    * CPU: fp32; channels-last in 2D (step time vs contiguous on a shared 2-core AMD
      EPYC, two runs: ResNet-50 0.61 / 1.29 (0.86-0.89 re-timed alone), EfficientNet-B0 0.71 / 0.73, the audio CNN
      0.70 / 0.64, LeNet-5 0.94 / 0.82, ResNet-18 1.10 / 0.96; geometric means 0.78-0.86),
      not in 3D (ResNet-18 3D 1.56 / 1.59, R(2+1)D-18 1.25 / 1.02, R3D-18 0.99 / 1.12).
      bf16 autocast is not a CPU default even with bf16 units (there 0.23-0.76 for the
      ResNets but 1.18-1.20 for EfficientNet-B0 and 1.10-1.12 for LeNet-5): it would make
      one command train differently on CPUs with and without them, and without them it is
      emulated (a bf16 matmul over 100x slower than fp32).
    * CUDA: bf16 and channels-last (2D and 3D) where the GPU has bf16 units (Ampere and
      later): autocast puts convolutions and matmuls on the tensor cores, whose
      convolutions want channels-last. Not measured in this project yet (run the bench
      with ``--device cuda``); elsewhere fp32, contiguous.
    * other devices: fp32, contiguous.

    ``torch.compile`` is never a default: its warm-up (146-172 s for ResNet-18 in 2D and
    3D on the CPU above, for a step 1.11 / 0.95 of eager) is not paid back within a
    task's default run."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False):
        return {"precision": "bf16", "channels_last": spatial_dims in (2, 3)}
    if device.type == "cpu":
        return {"precision": "fp32", "channels_last": spatial_dims == 2}
    return {"precision": "fp32", "channels_last": False}


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "auto":
        precision = device_defaults(device, 0)["precision"]
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[precision])


def _memory_format(spatial_dims: int, channels_last: bool | None,
                   device: torch.device) -> tuple[torch.memory_format | None, int]:
    if channels_last is None:
        channels_last = device_defaults(device, spatial_dims)["channels_last"]
    if channels_last and spatial_dims == 2:
        return torch.channels_last, 4
    if channels_last and spatial_dims == 3:
        return torch.channels_last_3d, 5
    return None, 0


def _log(message: str, env: DistEnv) -> None:
    if env.is_main:
        print(message, file=sys.stderr, flush=True)


def _check_data(data: Data, splits: tuple[str, ...]) -> None:
    for split in splits:
        dataset = getattr(data, split)
        if dataset is None or len(dataset) == 0:
            raise DataError(f"the {split} split is empty; the data needs examples in train, val and test")


def new_run_dir(task: Task, cfg: RunConfig, out_dir: str | Path) -> Path:
    """``<out>/runs/<task>/<run-name>``, created. The name is ``train.name`` (refused if
    that folder already holds files) or ``<model>-<timestamp>`` (made unique)."""
    base = Path(out_dir) / "runs" / task.name
    if cfg.train.name:
        path = base / cfg.train.name
        if path.exists() and any(path.iterdir()):
            with contextlib.suppress(OSError):  # a process training there: say which (else it is a finished run)
                lock_run_dir(path).release()
            raise ConfigError(f"{path}: the run folder already exists; choose another train.name "
                              f"or continue it with --resume {path / 'last.pt'}")
        _make_dir(path, "the run folder (--out)")
        return path
    _make_dir(base, "the run folder (--out)")
    stem = f"{cfg.model.name or task.default_model}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base / stem, 1
    while True:  # made here, atomically: two runs started in the same second get two folders
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            path = base / f"{stem}-{n}"
        except OSError as err:
            raise ConfigError(f"{path}: cannot create the run folder (--out) ({err.strerror or err})") from None


def _check_can_create(path: Path, what: str) -> None:
    """ConfigError unless ``path`` is, or can be created as, a writable folder."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{path}: cannot create {what} ({existing} is a file, not a folder)")
    if not os.access(existing, os.W_OK):
        raise ConfigError(f"{path}: cannot create {what} ({existing} is not writable)")


def _make_dir(path: Path, what: str) -> None:
    """``mkdir -p`` with one clear line when it cannot be made or written (a file in the
    way, no permission)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{path}: cannot create {what} ({err.strerror or err})") from None
    if not os.access(path, os.W_OK):
        raise ConfigError(f"{path}: cannot write {what} (permission denied)")


def append_line(path: Path, line: str) -> None:
    """Append one line to a text file (``metrics.jsonl``: O(1) per epoch). A failed write
    (a full disk) is cut off again: the file keeps whole lines only."""
    size = path.stat().st_size if path.exists() else 0
    try:
        with open(path, "ab") as f:
            f.write((line + "\n").encode("utf-8"))
    except OSError:
        with contextlib.suppress(OSError):
            os.truncate(path, size)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file atomically (``checkpoint.atomic_file``: temp file, fsync, rename;
    a failed write leaves the old file and no temp file)."""
    with checkpoints.atomic_file(path) as f:
        f.write(text.encode("utf-8"))


def disk_full_error(err: OSError, what: str | Path, kept: str) -> DiskFullError:
    """The one line for a full disk (``checkpoint.is_disk_full``) while writing ``what``;
    ``kept`` says what is safe (the last complete checkpoint, or that nothing was saved)."""
    full = "disk quota exceeded" if err.errno == getattr(errno, "EDQUOT", None) else "no space left on device"
    return DiskFullError(f"{full} while writing {what}; {kept}")


LOCK_FILE = ".lock"
"""The file in a run folder that the training process holds locked (it holds its PID)."""


class RunLock:
    """An exclusive ``flock`` on a run folder's ``LOCK_FILE``, held by the process that
    trains there. The OS releases it when the process ends, however it ends (``kill -9``
    included), so it never goes stale; ``release`` also removes the file."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path, self.fd = path, fd

    def release(self) -> None:
        """Remove the lock file and let go of the lock (once; later calls do nothing)."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):  # removed while still held: a process that opened it retries
            self.path.unlink()
        os.close(self.fd)
        self.fd = None


def lock_run_dir(folder: str | Path) -> RunLock:
    """Lock ``folder`` for this process, which will train in it.

    Raises:
        ConfigError: another process holds it (the message gives that process's PID), or
            the folder cannot be written.
        OSError: the disk is full (``checkpoint.is_disk_full``).
    """
    folder = Path(folder)
    path = folder / LOCK_FILE
    if fcntl is None:  # no flock on this platform: the folder is not locked
        return RunLock(path, None)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            if checkpoints.is_disk_full(err):
                raise
            raise ConfigError(f"{folder}: cannot write the run folder ({err.strerror or err})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            os.close(fd)
            raise ConfigError(f"{folder}: the run folder is in use by another training process (PID {holder}); "
                              f"wait for it to end (or stop it) before training there") from None
        except OSError:  # a file system without locks (some network mounts): train unlocked, as before
            os.close(fd)
            return RunLock(path, None)
        try:  # the holder we waited on may have removed the file: hold the one that is there
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    with contextlib.suppress(OSError):  # the PID only serves messages; the lock holds without it
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return RunLock(path, fd)


def _lock_holder(fd: int) -> str:
    """The PID written in a lock file held by another process ("unknown" if it has not
    written it within a second of taking the lock)."""
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return text
        time.sleep(0.05)
    return "unknown"


RESUMABLE_KEYS = frozenset({"train.epochs", "train.max_minutes", "train.patience", "train.log_every",
                            "train.checkpoint_every", "train.save_every", "train.eval_every", "train.device",
                            "train.num_workers", "train.threads", "train.baselines"})
"""Config keys a resumed run may change (the rest would make the run's record false: the
optimizer, schedule, data and model continue as the checkpoint has them)."""


def check_resume_overrides(stored: dict, cfg: RunConfig, path: str | Path, env: DistEnv,
                           task_keys: frozenset[str] = frozenset()) -> None:
    """Log the keys ``cfg`` changes from the checkpoint's ``stored`` config that a resumed
    run may change (``RESUMABLE_KEYS`` and the task's ``task_keys``); refuse any other
    change with one line naming the key."""
    before, after = _flatten(stored), _flatten(config_io.to_dict(cfg))
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    for key in changed:
        if key not in RESUMABLE_KEYS | task_keys or (key == "train.epochs" and cfg.train.schedule == "onecycle"):
            raise ConfigError(f"--resume {path}: {key} cannot change when resuming ({before.get(key)!r} -> "
                              f"{after.get(key)!r}): the optimizer, schedule, data and model continue as the "
                              f"checkpoint has them; start a new run to change it")
    if changed:
        _log("resuming with " + ", ".join(f"{k} {before.get(k)!r} -> {after.get(k)!r}" for k in changed), env)


def _flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and not (prefix == "model." and key == "options"):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# --------------------------------------------------------------------------- evaluation


def evaluate_split(task: Task, model: nn.Module, dataset: Dataset, data: Data, device: torch.device,
                   cfg: TrainConfig, env: DistEnv = DistEnv(), desc: str = "eval") -> tuple[dict, dict]:
    """Run ``task.evaluation_step`` over ``dataset`` (each rank a contiguous shard; the
    outputs are gathered so every rank sees the whole split in order) and return
    ``(task.compute_metrics(...), collected)``; ``collected`` holds CPU tensors."""
    memory_format, layout_ndim = _memory_format(data.spatial_dims, cfg.channels_last, device)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=ShardSampler(len(dataset), env.rank, env.world_size),
                        collate_fn=data.collate_fn, num_workers=cfg.num_workers, worker_init_fn=seed_worker,
                        generator=torch.Generator().manual_seed(cfg.seed))
    parts: dict[str, list[torch.Tensor]] = defaultdict(list)
    was_training = model.training
    model.eval()
    with torch.no_grad(), _autocast(device, cfg.precision):
        for batch in tqdm(loader, desc=desc, leave=False, disable=None if env.is_main else True):
            out = task.evaluation_step(model, move_to_device(batch, device, memory_format, layout_ndim))
            for key, value in out.items():
                value = value.detach()
                if value.dtype in (torch.float16, torch.bfloat16):
                    value = value.float()
                parts[key].append(value.cpu())
    model.train(was_training)
    collected = distributed.gather_collected({k: torch.cat(v) for k, v in parts.items()}, env)
    return task.compute_metrics(collected, dataset), collected


# --------------------------------------------------------------------------- fit


def fit(task: Task, cfg: RunConfig, out_dir: str | Path = ".", resume: str | Path | None = None, *,
        data: Data | None = None, model: nn.Module | None = None, run_dir: str | Path | None = None) -> FitResult:
    """Train ``task`` with ``cfg`` and write the run folder.

    Args:
        task: the task definition (``task.for_config(cfg)`` is what runs).
        cfg: the resolved run config (a ``task.config_class``).
        out_dir: the run folder is ``out_dir/runs/<task>/<name>`` (unless ``run_dir``).
        resume: a ``last.pt`` (or ``best.pt``) to continue from; the run folder is its folder.
        data: datasets to use instead of ``task.build_data(cfg)``.
        model: a model to train instead of ``task.build_model(cfg, data)``.
        run_dir: write exactly here instead of a new folder under ``out_dir``.

    Returns:
        FitResult with the best model (best validation monitor) and metrics.json.

    Raises:
        ConvkitError: bad config/data/checkpoint, or a NaN/inf loss (the message names the
            epoch and step; the last good checkpoint is kept).
    """
    if resume is None:  # before any data is built: a bad --out fails at once
        _check_can_create(Path(run_dir) if run_dir is not None else Path(out_dir), "the run folder (--out)")
    device = select_device(cfg.train.device)
    threads = set_threads(cfg.train.threads)
    env = distributed.init_distributed(device.type)
    run, lock = None, None
    try:
        if resume is not None and env.is_main and Path(resume).is_file():
            lock = _lock_to_resume(Path(resume))  # before the data is built: a second process is refused at once
        run = _Run(task.for_config(cfg), cfg, env, device, data, model)
        run.lock = lock
        if device.type == "cpu":
            how = "train.threads" if cfg.train.threads else "train.threads=0: one per idle core"
            _log(f"using {threads} CPU thread(s) ({how})", env)
        run.start(out_dir, resume, run_dir)
        with _StopRequest() as run.stop:
            for epoch in range(run.progress.epoch, cfg.train.epochs):
                if not run.train_epoch(epoch):  # the time budget ran out mid-epoch
                    break
                if run.end_epoch(epoch):  # early stopping
                    break
        return run.finish()
    except BaseException:
        if run is not None and resume is None:
            run.discard_if_nothing_saved()
        raise
    finally:
        if lock is not None:
            lock.release()
        if run is not None:
            run.release_run_dir()
        distributed.cleanup(env)


def _lock_to_resume(checkpoint: Path) -> RunLock:
    """``lock_run_dir`` on the folder of the checkpoint a run resumes."""
    try:
        return lock_run_dir(checkpoint.parent)
    except OSError as err:
        if not checkpoints.is_disk_full(err):
            raise
        raise disk_full_error(err, checkpoint.parent / LOCK_FILE, f"{checkpoint} is unchanged; free some space "
                              f"and resume again") from None


def fit_repeats(task: Task, cfg: RunConfig, runs: list[tuple[str, RunConfig]], out_dir: str | Path = ".",
                what: str = "runs") -> dict:
    """Several whole runs of one experiment (seeds, cross-validation folds): each ``fit``
    in ``runs/<task>/<name>-<what>/<label>/``, then the mean and standard deviation
    (ddof 1) of every scalar test metric and baseline, written to ``summary.json`` there.

    Args:
        runs: ``(label, config)`` per run, e.g. ``("seed3", cfg)`` or ``("fold2", cfg)``.
        what: the folder suffix and the word the summary uses (``seeds``, ``folds``).

    Returns:
        ``{"run_dir", what: labels, "test": {metric: {"mean", "std", "values"}},
        "baselines": {name: {metric: {...}}}}``.
    """
    name = f"{cfg.train.name or cfg.model.name or task.default_model}-{what}"
    is_main = distributed.rank_from_env() == 0  # under torchrun rank 0 alone makes and writes folders
    base = (new_run_dir(task, dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, name=name)), out_dir)
            if is_main else Path(out_dir) / "runs" / task.name / name)
    results = []
    for k, (label, one) in enumerate(runs):
        if is_main:
            _log(f"{label} ({k + 1} of {len(runs)})", DistEnv())
        results.append(fit(task, one, run_dir=base / label).metrics)

    def spread(blocks: list[dict]) -> dict:
        values: dict[str, list[float]] = defaultdict(list)
        for block in blocks:
            for key, value in to_float_dict(block).items():
                values[key].append(value)
        return {key: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                      "values": v} for key, v in values.items() if len(v) == len(blocks)}

    names = sorted(set.intersection(*(set(r["baselines"]) for r in results))) if results else []
    summary = {"run_dir": str(base), what: [label for label, _ in runs],
               "test": spread([r["test"] for r in results]),
               "baselines": {n: spread([r["baselines"][n]["test"] for r in results]) for n in names}}
    if not is_main:
        return summary
    try:
        write_text_atomic(base / "summary.json", json.dumps(summary, indent=1) + "\n")
    except OSError as err:
        if not checkpoints.is_disk_full(err):
            raise
        raise disk_full_error(err, base / "summary.json", f"the {len(runs)} runs are complete, each with its "
                              f"metrics.json in {base}; free some space and train again for the summary") from None
    _log(f"test over {len(runs)} {what}: "
         + ", ".join(f"{k} {v['mean']:.4f} ± {v['std']:.4f}" for k, v in summary["test"].items()), DistEnv())
    return summary


def fit_seeds(task: Task, cfg: RunConfig, out_dir: str | Path = ".") -> dict:
    """``train.seeds`` runs with seeds ``train.seed``, ``+1``, ... (``fit_repeats``, in
    ``runs/<task>/<name>-seeds/seed<k>/``); the summary lists the ``seeds``."""
    runs = [(f"seed{seed}", dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed, seeds=1)))
            for seed in range(cfg.train.seed, cfg.train.seed + cfg.train.seeds)]
    summary = fit_repeats(task, cfg, runs, out_dir, "seeds")
    summary["seeds"] = [int(label[4:]) for label in summary["seeds"]]
    return summary


def set_threads(threads: int) -> int:
    """Use ``threads`` CPU threads for torch's kernels; 0 picks one per idle core: the
    cores this process may run on (``os.sched_getaffinity``, at most torch's default)
    less the threads of other processes running now (``_other_runnable``), at least one.
    Returns the count.

    Why: a thread on a core that another process holds makes every parallel region wait
    for it. ``python -m convkit.bench.threads`` on this project's 2-core machine (a TCN
    training step, median): idle, 1 thread 21.3 ms, 2 threads 21.9 ms; with a busy loop on
    one core, 1 thread 24.5 ms, 2 threads 50.9 ms; under heavy load (load average 8),
    1 thread 56-59 ms, 2 threads 283-347 ms. Making idle OpenMP threads sleep
    (``OMP_WAIT_POLICY=PASSIVE``) helped only under heavy load and cost 77% when idle
    (38.7 ms), so the wait policy is left to OpenMP."""
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


class _StopRequest:
    """SIGINT (Ctrl-C) and SIGTERM while training: the handler only records the signal;
    the loop then saves a resumable ``last.pt`` at the current step and raises
    ``Interrupted``. A second signal stops at once (KeyboardInterrupt). Outside the main
    thread (where handlers cannot be installed) it does nothing."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "_StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _LossWindow:
    """Training losses since the last host read, kept on the device: their sum, count
    and the first step whose loss was not finite (so reading them costs one sync)."""

    def __init__(self, device: torch.device) -> None:
        dtype = torch.float32 if device.type == "mps" else torch.float64
        self.sum = torch.zeros((), dtype=dtype, device=device)
        self.first_bad = torch.full((), -1, dtype=torch.int64, device=device)
        self.count = 0

    def add(self, loss: torch.Tensor, step: int) -> None:
        """Record the (detached) loss of 1-based ``step``."""
        loss = loss.detach().to(self.sum.dtype)
        self.sum += loss
        self.first_bad = torch.where((self.first_bad < 0) & ~torch.isfinite(loss),
                                     torch.full_like(self.first_bad, step), self.first_bad)
        self.count += 1

    def read(self) -> tuple[float, int, int]:
        """``(sum, count, first bad step or -1)``, and start a new window."""
        total, bad, count = float(self.sum), int(self.first_bad), self.count
        self.sum.zero_()
        self.first_bad.fill_(-1)
        self.count = 0
        return total, count, bad


class _Run:
    """One training run's moving parts, so that ``fit`` reads as named steps: ``start``
    (restore or fit baselines, run folder), ``train_epoch``, ``end_epoch`` (validate,
    bookkeeping, save, log), ``finish`` (best weights, test split, metrics.json, plots)."""

    def __init__(self, task: Task, cfg: RunConfig, env: DistEnv, device: torch.device,
                 data: Data | None, model: nn.Module | None) -> None:
        tcfg = cfg.train
        seed_everything(tcfg.seed, tcfg.deterministic)
        self.task, self.cfg, self.tcfg, self.env, self.device = task, cfg, tcfg, env, device
        self.data = data if data is not None else task.build_data(cfg)
        _check_data(self.data, ("train", "val", "test"))
        self.monitor, self.monitor_mode = task.monitor_of(self.data)
        self.raw = model if model is not None else task.build_model(cfg, self.data)
        self.raw.to(device)
        self.memory_format, self.layout_ndim = _memory_format(self.data.spatial_dims, tcfg.channels_last, device)
        if self.memory_format is not None:
            self.raw.to(memory_format=self.memory_format)
        self.params = count_params(self.raw)
        self.model_name = cfg.model.name or task.default_model

        # The training batches: each epoch's order from seed + epoch; per-rank loader generator.
        self.sampler = DistributedSampler(self.data.train, num_replicas=env.world_size, rank=env.rank,
                                          shuffle=True, seed=tcfg.seed)
        self.drop_last = len(self.sampler) >= tcfg.batch_size  # keep a lone short batch (e.g. one graph)
        self.steps_per_epoch = (len(self.sampler) // tcfg.batch_size if self.drop_last
                                else math.ceil(len(self.sampler) / tcfg.batch_size))
        self.loader_gen = torch.Generator().manual_seed(tcfg.seed + env.rank)
        self.epoch_loader_state = self.loader_gen.get_state()

        self.optimizer = make_optimizer(self.raw, tcfg)
        self.scheduler = make_scheduler(self.optimizer, tcfg, self.steps_per_epoch)
        self.scaler = torch.amp.GradScaler(device.type, enabled=tcfg.precision == "fp16")
        self.progress = _Progress()
        self.losses = _LossWindow(device)
        self.baselines: dict = {}
        self.epoch_state: dict | None = None  # the task state derived at the last validation
        self.pending_best: dict | None = None  # an improved snapshot not yet written
        self.saved_at: tuple[int, int] | None = None  # (epoch, step) of the last written last.pt
        self.run_path: Path | None = None
        self.train_model: nn.Module = self.raw
        self.augment = None
        self.stop = _StopRequest()
        self.created_run_dir = False
        self.lock: RunLock | None = None  # held (on rank 0) from the start to the end of the run
        self.session_start = time.monotonic()
        self.seconds_before = 0.0

    # ---- start

    def start(self, out_dir: str | Path, resume: str | Path | None, run_dir: str | Path | None) -> None:
        """Restore a checkpoint or fit the baselines, wrap the model, open the run folder
        (locked: a second process training in it is refused, naming this one's PID)."""
        if resume is not None:
            state = checkpoints.load_training_checkpoint(resume, self.task.name)
            check_resume_overrides(state["config"], self.cfg, resume, self.env, self.task.resumable_keys)
            self._restore(state, resume)
        elif self.tcfg.baselines and self.env.is_main:
            _log("fitting baselines ...", self.env)
            self.baselines = self.task.baselines(self.cfg, self.data, self.params)
        self.augment = self.task.augmentation(self.cfg, self.data)
        compiled = torch.compile(self.raw) if self.tcfg.compile else self.raw
        self.train_model = distributed.wrap_model(compiled, self.env, self.device)
        if self.env.is_main:
            run_path = Path(resume).parent if resume is not None else (
                Path(run_dir) if run_dir is not None else new_run_dir(self.task, self.cfg, out_dir))
            _make_dir(run_path, "the run folder")
            if self.lock is None:  # (a resumed run's folder was locked before anything else)
                with self._writing(run_path / LOCK_FILE):
                    self.lock = lock_run_dir(run_path)
            self.run_path = run_path
            self.created_run_dir = resume is None and run_dir is None  # only once it is ours (locked)
            for stale in self.run_path.glob(".*.tmp"):  # half-written files of a killed run
                stale.unlink()
            with self._writing(self.run_path / "config.toml"):
                write_text_atomic(self.run_path / "config.toml", config_io.to_toml(self.cfg))
            if resume is not None:  # metrics.jsonl holds exactly the resumed state's epochs, then grows
                with self._writing(self.run_path / "metrics.jsonl"):
                    write_text_atomic(self.run_path / "metrics.jsonl",
                                      "".join(json.dumps(r) + "\n" for r in self.progress.history))
        _log(f"training {self.model_name} ({self.params:,} parameters) on {self.device} for "
             f"{self.tcfg.epochs} epochs of {self.steps_per_epoch} steps"
             + (f" x {self.env.world_size} processes" if self.env.enabled else "")
             + (f"; run folder {self.run_path}" if self.run_path else ""), self.env)
        self.session_start, self.seconds_before = time.monotonic(), self.progress.train_seconds

    def release_run_dir(self) -> None:
        """Let go of the run folder's lock (at the end of ``fit``, however it ends)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    @contextlib.contextmanager
    def _writing(self, what: str | Path) -> Iterator[None]:
        """Turn a full disk while writing ``what`` into one line naming it and the last
        complete checkpoint (``disk_full_error``)."""
        try:
            yield
        except OSError as err:
            if not checkpoints.is_disk_full(err):
                raise
            last = self.run_path / "last.pt" if self.run_path is not None else None
            if self.saved_at is not None and last is not None and last.is_file():
                kept = (f"the last complete checkpoint is {last} ({_position(*self.saved_at)}); free some space and "
                        f"continue with: python -m convkit.tasks.{self.task.name} train --resume {last}")
            else:
                kept = "nothing was saved; free some space and train again"
            raise disk_full_error(err, what, kept) from None

    def _restore(self, state: dict, path: str | Path) -> None:
        """Load a checkpoint's weights, optimizer, schedule, progress and RNG states."""
        if state["step"] > 0 and (state["steps_per_epoch"] != self.steps_per_epoch
                                  or state["world_size"] != self.env.world_size):
            raise CheckpointError(
                f"{path}: written mid-epoch with {state['world_size']} process(es) and {state['steps_per_epoch']} "
                f"steps per epoch; resume with the same number of processes and train.batch_size")
        try:
            self.raw.load_state_dict(state["model"])
        except RuntimeError as err:
            raise CheckpointError(f"{path}: the weights do not fit the configured model "
                                  f"({str(err).splitlines()[0]})") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        p = self.progress
        p.epoch, p.step = state["epoch"], state["step"]
        p.history, p.best, p.bad_epochs = state["history"], state["best"], state["bad_epochs"]
        p.loss_sum, p.loss_count, p.train_seconds = state["loss_sum"], state["loss_count"], state["train_seconds"]
        self.baselines = state.get("baselines") or {}
        self.epoch_state = state.get("task_state")
        self.saved_at = (p.epoch, p.step)
        rng = state["rng"][self.env.rank % len(state["rng"])]
        checkpoints.set_rng_state(rng)
        self.loader_gen.set_state(rng["loader"])

    # ---- one epoch of training

    def train_epoch(self, epoch: int) -> bool:
        """Train epoch ``epoch`` (0-based) from ``progress.step``; False if the time budget
        ran out (``last.pt`` then holds the state at that step)."""
        tcfg, progress = self.tcfg, self.progress
        if hasattr(self.data.train, "set_epoch"):
            self.data.train.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        self.epoch_loader_state = self.loader_gen.get_state()
        loader = DataLoader(self.data.train, batch_size=tcfg.batch_size, drop_last=self.drop_last,
                            sampler=SkipSampler(self.sampler, progress.step * tcfg.batch_size),
                            collate_fn=self.data.collate_fn, num_workers=tcfg.num_workers,
                            worker_init_fn=seed_worker, generator=self.loader_gen,
                            pin_memory=self.device.type == "cuda")
        bar = tqdm(loader, total=self.steps_per_epoch, initial=progress.step, desc=f"epoch {epoch + 1}/{tcfg.epochs}",
                   leave=False, disable=None if self.env.is_main else True)
        try:
            for batch in bar:
                self._step(batch)
                checkpoint_due = (tcfg.checkpoint_every and progress.step % tcfg.checkpoint_every == 0
                                  and progress.step < self.steps_per_epoch)
                sync_due = (checkpoint_due or progress.step % SYNC_EVERY == 0
                            or progress.step == self.steps_per_epoch
                            or (tcfg.log_every and progress.step % tcfg.log_every == 0))
                out_of_time = self._out_of_time(sync_due)
                stop = self._stop_requested(sync_due)
                if sync_due or out_of_time or stop:
                    self._read_losses(epoch, bar)
                if checkpoint_due or out_of_time or stop:
                    self._save_last()
                if stop:
                    self._interrupted()
                if out_of_time:
                    _log(f"time budget of {tcfg.max_minutes:g} min reached at epoch {epoch + 1}, step "
                         f"{progress.step}; stopping (resume with --resume {self.run_path}/last.pt)", self.env)
                    return False
        finally:
            bar.close()
        return True

    def _step(self, batch: Any) -> None:
        """One optimizer step on ``batch``."""
        batch = move_to_device(batch, self.device, self.memory_format, self.layout_ndim)
        if self.augment is not None:  # then restore channels-last, which the augmentation may undo
            batch = move_to_device(self.augment(batch), self.device, self.memory_format, self.layout_ndim)
        with _autocast(self.device, self.tcfg.precision):
            loss = self.task.training_step(self.train_model, batch)
        self.losses.add(loss, self.progress.step + 1)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.tcfg.clip_grad_norm > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.raw.parameters(), self.tcfg.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.tcfg.schedule != "plateau":
            self.scheduler.step()
        self.progress.step += 1
        self.progress.train_seconds = self.seconds_before + time.monotonic() - self.session_start

    def _out_of_time(self, sync_due: bool) -> bool:
        """Whether the wall-clock budget is spent (agreed by all ranks, at sync points only
        under DDP, where it costs a collective)."""
        budget = self.tcfg.max_minutes * 60
        over = budget > 0 and self.progress.train_seconds >= budget
        if not self.env.enabled:
            return over
        return sync_due and distributed.flags_any([over], self.env, self.device)[0]

    def _stop_requested(self, sync_due: bool) -> bool:
        """Whether SIGINT/SIGTERM arrived (agreed by all ranks at sync points under DDP)."""
        if not self.env.enabled:
            return self.stop.signum is not None
        return sync_due and distributed.flags_any([self.stop.signum is not None], self.env, self.device)[0]

    def _interrupted(self) -> None:
        """Raise ``Interrupted`` (after ``last.pt`` was saved) saying how to resume."""
        signum = self.stop.signum or signal.SIGINT
        where = self.run_path / "last.pt" if self.run_path else "last.pt"
        raise Interrupted(f"interrupted by {signal.Signals(signum).name} at {_position(*self.saved_at)}; saved "
                          f"{where}; continue with: python -m convkit.tasks.{self.task.name} train --resume {where}",
                          signum)

    def discard_if_nothing_saved(self) -> None:
        """After a failure: remove the run folder this run created if no checkpoint was
        written in it (it would hold only config.toml: an unexplained run)."""
        if self.env.is_main and self.created_run_dir and self.run_path is not None \
                and not (self.run_path / "last.pt").exists():
            shutil.rmtree(self.run_path, ignore_errors=True)
            print(f"removed {self.run_path}: the run failed before its first checkpoint", file=sys.stderr)

    def _read_losses(self, epoch: int, bar: tqdm) -> None:
        """Move the device-side losses to the progress (one host sync); stop on NaN/inf."""
        total, count, bad_step = self.losses.read()
        if self.env.enabled:
            bad_step = self._first_bad_everywhere(bad_step)
        if bad_step >= 0:
            where = (f"{self.run_path or 'the run folder'}/last.pt ({_position(*self.saved_at)})"
                     if self.saved_at else "none (no checkpoint was written yet)")
            value = "nan or inf" if self.env.enabled else "nan" if math.isnan(total) else "inf"
            raise ConvkitError(f"loss is {value} at epoch {epoch + 1}, step {bad_step}; training stopped "
                               f"(try a lower train.lr or train.clip_grad_norm); last good checkpoint: {where}")
        self.progress.loss_sum += total
        self.progress.loss_count += count
        if count:
            bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
        if self.tcfg.log_every and self.progress.step % self.tcfg.log_every == 0 and count:
            _log(f"epoch {epoch + 1} step {self.progress.step}/{self.steps_per_epoch} loss {total / count:.4f}",
                 self.env)

    def _first_bad_everywhere(self, bad_step: int) -> int:
        """Under DDP: the first non-finite step on any rank (-1 if none), agreed by all."""
        steps = distributed.gather_objects(bad_step, self.env)
        bad = [s for s in steps if s >= 0]
        return min(bad) if bad else -1

    # ---- end of an epoch

    def end_epoch(self, epoch: int) -> bool:
        """Validate (every ``eval_every`` epochs and after the last), keep the best, save
        (every ``save_every`` epochs and after the last), append to metrics.jsonl and log.
        Returns True when early stopping ends the run."""
        tcfg, progress = self.tcfg, self.progress
        last = epoch + 1 == tcfg.epochs
        distributed.broadcast_buffers(self.raw, self.env)
        val: dict = {}
        improved = False
        if last or (epoch + 1) % tcfg.eval_every == 0:
            val, collected = evaluate_split(self.task, self.raw, self.data.val, self.data, self.device, tcfg,
                                            self.env, desc="val")
            self.epoch_state = self.task.derive_state(collected, self.data.val)
            improved = self._update_best(val, epoch)
        loss_sum, loss_count = distributed.sum_floats([progress.loss_sum, float(progress.loss_count)],
                                                      self.env, self.device)
        progress.train_seconds = self.seconds_before + time.monotonic() - self.session_start
        progress.history.append({
            "epoch": epoch + 1, "lr": self.optimizer.param_groups[0]["lr"],
            "train": {"loss": loss_sum / max(loss_count, 1)}, "val": to_float_dict(val),
            "steps": self.steps_per_epoch, "world_size": self.env.world_size,
            "seconds": round(progress.train_seconds, 3),
        })
        if tcfg.schedule == "plateau":  # the rate the next epoch trains at (after the logged one)
            self.scheduler.step(progress.history[-1]["train"]["loss"])
        progress.epoch, progress.step, progress.loss_sum, progress.loss_count = epoch + 1, 0, 0.0, 0
        if improved:
            self.pending_best = _detached(self._snapshot())
        if last or (tcfg.save_every and (epoch + 1) % tcfg.save_every == 0):
            self._save_last()
        if self.env.is_main:
            with self._writing(self.run_path / "metrics.jsonl"):
                append_line(self.run_path / "metrics.jsonl", json.dumps(progress.history[-1]))
        _log(_epoch_line(progress.history[-1], tcfg.epochs, self.monitor, improved), self.env)
        if self._stop_requested(True) and not last:
            if self.saved_at != (progress.epoch, 0) or self.pending_best is not None:
                self._save_last()
            self._interrupted()
        if tcfg.patience and progress.bad_epochs >= tcfg.patience:
            _log(f"early stopping: no better val {self.monitor} for {tcfg.patience} evaluations "
                 f"(best {progress.best['value']:.4f} at epoch {progress.best['epoch']})", self.env)
            return True
        return False

    def _update_best(self, val: dict, epoch: int) -> bool:
        if self.monitor not in val:
            raise KeyError(f"{type(self.task).__name__}.compute_metrics returned no {self.monitor!r} "
                           f"(the monitored metric); it returned {sorted(val)}")
        value = float(val[self.monitor])
        best = self.progress.best
        improved = math.isfinite(value) and (
            best is None or not math.isfinite(best["value"])
            or (value > best["value"] if self.monitor_mode == "max" else value < best["value"]))
        if improved:
            self.progress.best, self.progress.bad_epochs = {"epoch": epoch + 1, "value": value, "val": val}, 0
        else:
            self.progress.bad_epochs += 1
        return improved

    # ---- checkpoints

    def _snapshot(self) -> dict | None:
        """The whole resumable state (on rank 0; None elsewhere). Every rank's RNG states
        are gathered (a collective: all ranks call this at the same steps)."""
        rng = checkpoints.rng_state()
        rng["loader"] = self.epoch_loader_state if self.progress.step > 0 else self.loader_gen.get_state()
        rngs = distributed.gather_objects(rng, self.env)
        if not self.env.is_main:
            return None
        p = self.progress
        return {
            "format": checkpoints.FORMAT, "task": self.task.name, "model": self.raw.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "epoch": p.epoch, "step": p.step,
            "steps_per_epoch": self.steps_per_epoch, "world_size": self.env.world_size,
            "rng": rngs, "config": config_io.to_dict(self.cfg), "data": self.data.spec(),
            "model_name": self.model_name, "params": self.params, "history": p.history, "best": p.best,
            "bad_epochs": p.bad_epochs, "loss_sum": p.loss_sum, "loss_count": p.loss_count,
            "train_seconds": p.train_seconds, "baselines": self.baselines, "task_state": self.epoch_state,
        }

    def _save_last(self) -> None:
        """Write ``last.pt`` (and ``best.pt`` if an improvement is pending)."""
        snapshot = self._snapshot()
        if self.env.is_main:
            if self.pending_best is not None:
                with self._writing(self.run_path / "best.pt"):
                    checkpoints.save_checkpoint(self.pending_best, self.run_path / "best.pt")
            with self._writing(self.run_path / "last.pt"):
                checkpoints.save_checkpoint(snapshot, self.run_path / "last.pt")
        self.pending_best = None
        self.saved_at = (self.progress.epoch, self.progress.step)

    # ---- finish

    def finish(self) -> FitResult:
        """Load the best weights on every rank, score the test split, write the plots and
        then metrics.json (the mark of a complete run)."""
        env, progress = self.env, self.progress
        if self.saved_at != (progress.epoch, progress.step) or self.pending_best is not None:
            self._save_last()  # the final save always happens
        task_state = self.epoch_state
        if progress.best is not None:
            if env.is_main:
                best = checkpoints.load_checkpoint(self.run_path / "best.pt", self.task.name)
                self.raw.load_state_dict(best["model"])
                task_state = best.get("task_state")
            distributed.broadcast_module(self.raw, env)
            task_state = distributed.gather_objects(task_state, env)[0]
        else:  # stopped by the time budget before any epoch ended: score the weights we have
            val, collected = evaluate_split(self.task, self.raw, self.data.val, self.data, self.device, self.tcfg,
                                            env, desc="val")
            task_state = self.task.derive_state(collected, self.data.val)
            progress.best = {"epoch": progress.epoch, "value": val.get(self.monitor), "val": val}
        test, collected = evaluate_split(self.task, self.raw, self.data.test, self.data, self.device, self.tcfg,
                                         env, desc="test")
        metrics = {"task": self.task.name, "model": self.model_name, "params": self.params,
                   "train_seconds": round(progress.train_seconds, 2), "val": progress.best["val"], "test": test,
                   "baselines": self.baselines}
        if env.is_main:
            self._plots(collected)
            with self._writing(self.run_path / "metrics.json"):
                write_text_atomic(self.run_path / "metrics.json", json.dumps(metrics) + "\n")
            summary = ", ".join(f"{k} {v:.4f}" for k, v in to_float_dict(test).items())
            _log(f"test: {summary}; wrote {self.run_path}", env)
        distributed.barrier(env)
        return FitResult(self.raw, metrics, self.run_path, task_state)

    def _plots(self, collected: dict) -> None:
        """``curves.png`` and the task's plots. They are written in place, not atomically:
        when the disk fills, every file they wrote or changed is removed again (a run
        resumed from its last checkpoint writes them anew)."""
        before = _listing(self.run_path)
        try:
            if self.progress.history:
                with self._writing(self.run_path / "curves.png"):
                    plot_curves(self.progress.history, self.run_path / "curves.png", self.monitor)
            with self._writing(f"the plots in {self.run_path}"):
                self.task.plots(self.run_path, collected, self.data)
        except DiskFullError:
            for name, stat in _listing(self.run_path).items():
                if before.get(name) != stat:
                    with contextlib.suppress(OSError):
                        (self.run_path / name).unlink()
            raise


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """The files of ``folder`` with their modification time (ns) and size."""
    out = {}
    for path in folder.iterdir():
        with contextlib.suppress(OSError):
            stat = path.stat()
            if path.is_file():
                out[path.name] = (stat.st_mtime_ns, stat.st_size)
    return out


def _detached(snapshot: dict | None) -> dict | None:
    """A copy of a checkpoint snapshot whose tensors no longer change with training."""
    if snapshot is None:
        return None

    def copy(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.detach().to("cpu", copy=True)
        if isinstance(value, dict):
            return {k: copy(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(copy(v) for v in value)
        return value

    return copy(snapshot)


def _position(epoch: int, step: int) -> str:
    """Where a checkpoint stands, for people: ``epoch`` is 0-based, ``step`` steps done in it."""
    return f"end of epoch {epoch}" if step == 0 else f"epoch {epoch + 1}, step {step}"


def _epoch_line(record: dict, epochs: int, monitor: str, improved: bool) -> str:
    val = "  ".join(f"{k} {v:.4f}" for k, v in record["val"].items())
    return (f"epoch {record['epoch']}/{epochs}  train loss {record['train']['loss']:.4f}  "
            + (f"val {val}  " if val else "") + f"lr {record['lr']:.3g}  {record['seconds']:.1f}s"
            + ("  *" if improved else ""))


# --------------------------------------------------------------------------- using a trained model


def load_trained(task: Task, checkpoint: str | Path, device: str | torch.device = "cpu") -> Trained:
    """Rebuild a trained model from a checkpoint, without its data.

    Returns:
        ``Trained``: the run's config, a ``Data`` holding only the spec (label names, input
        layout), the model in eval mode on ``device`` with the checkpoint's weights, and the
        task state derived with those weights.

    Raises:
        CheckpointError: unreadable, unsafe, from another task, or weights that do not fit.
    """
    state = checkpoints.load_training_checkpoint(checkpoint, task.name)
    cfg = config_io.from_dict(task.config_class, state["config"], f"{checkpoint} config")
    spec = Data.from_spec(state["data"])
    model = task.for_config(cfg).build_model(cfg, spec)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{checkpoint}: the weights do not fit the model "
                              f"({str(err).splitlines()[0]})") from None
    device = device if isinstance(device, torch.device) else select_device(device)
    model.to(device)
    memory_format, _ = _memory_format(spec.spatial_dims, cfg.train.channels_last, device)
    if memory_format is not None:  # the weights' layout as in training: the same kernels, the same numbers
        model.to(memory_format=memory_format)
    return Trained(cfg, spec, model.eval(), device, state.get("task_state"))


def evaluate_checkpoint(task: Task, checkpoint: str | Path, data_path: str | None = None,
                        device: str = "auto") -> dict:
    """Score a checkpoint on ``data_path`` (all of it, or its test split when it has one)
    or, without it, on the run's own test split. Returns the test block (``metrics.json``'s
    shape, plus non-scalar extras such as the confusion matrix)."""
    trained = load_trained(task, checkpoint, device)
    task = task.for_config(trained.cfg)
    data = (task.build_data(trained.cfg, path=data_path, spec=trained.spec) if data_path
            else task.build_data(trained.cfg))
    _check_data(data, ("test",))
    if data.label_names is not None and trained.spec.label_names is not None \
            and data.label_names != trained.spec.label_names:
        raise DataError(f"the data's classes {data.label_names} differ from the checkpoint's "
                        f"{trained.spec.label_names}")
    metrics, _ = evaluate_split(task, trained.model, data.test, data, trained.device, trained.cfg.train, desc="test")
    if "absent_classes" in metrics and trained.spec.label_names:  # name them
        metrics["absent_classes"] = [trained.spec.label_names[i] for i in metrics["absent_classes"]]
    return metrics


def predict_checkpoint(task: Task, checkpoint: str | Path, inputs: list[str], device: str = "auto",
                       out_dir: str | Path | None = None) -> list[dict]:
    """Predictions of a checkpoint for ``inputs`` (files, or texts for the text task):
    one dict per input, ``{"input": ..., **prediction}``, in order. The inputs are read
    once (``task.load_inputs``) and the task batches them (``task.predict``); files a task
    writes (e.g. per-step anomaly scores) go under ``out_dir``."""
    trained = load_trained(task, checkpoint, device)
    trained.out_dir = Path(out_dir) if out_dir is not None else None
    task = task.for_config(trained.cfg)
    loaded = task.load_inputs(trained.cfg, trained.spec, inputs)
    with torch.no_grad():
        rows = task.predict(trained, loaded)
    if len(rows) != len(inputs):
        raise RuntimeError(f"{type(task).__name__}.predict returned {len(rows)} rows for {len(inputs)} inputs")
    return [{"input": name, **row} for name, row in zip(inputs, rows)]
