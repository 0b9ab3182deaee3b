"""The one training engine: ``fit``, ``evaluate_checkpoint``, ``predict_checkpoint``.

A task (``convkit.train.task.Task``) supplies data, model, steps and metrics; this
module does the rest for every task alike (DESIGN.md "The engine"): device choice,
seeding, SGD/AdamW, cosine/one-cycle/step schedules (stepped per optimizer step),
gradient clipping, bf16/fp16 autocast (GradScaler only for fp16), channels-last,
``torch.compile`` (the unwrapped, uncompiled module is what is saved), DDP from
torchrun's environment, early stopping, a wall-clock budget, NaN/inf detection,
atomic checkpoints inside and at the end of epochs, and the run folder::

    runs/<task>/<run-name>/config.toml  metrics.jsonl  metrics.json  best.pt  last.pt
                           curves.png   (+ the task's own plots)

Exact resume: each epoch's order comes from ``seed + epoch`` (DistributedSampler), the
loader's generator and every RNG state are checkpointed, and a resumed epoch skips the
batches already done, so a run killed mid-epoch and resumed ends with the same weights
and metrics as one left alone (on CPU, where kernels are deterministic).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from convkit import config as C
from convkit.errors import CheckpointError, ConfigError, ConvkitError, DataError
from convkit.train import checkpoint as ckpt
from convkit.train import distributed as D
from convkit.train.loaders import ShardSampler, SkipSampler, move_to_device, seed_worker
from convkit.train.metrics import to_float_dict
from convkit.train.plots import plot_curves
from convkit.train.task import Data, Task

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class FitResult:
    """What ``fit`` returns: the unwrapped model holding the best weights, the
    ``metrics.json`` contents, and the run folder (None on ranks other than 0)."""

    model: nn.Module
    metrics: dict
    run_dir: Path | None


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
        distributed = D.world_size_from_env() > 1
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) if distributed
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


def make_optimizer(model: nn.Module, cfg: C.TrainConfig) -> torch.optim.Optimizer:
    """SGD (with momentum, Nesterov off) or AdamW over all trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: C.TrainConfig,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule, stepped once per optimizer step: cosine to 0 over the
    run, one-cycle (``lr`` is the peak), step (times ``gamma`` every ``step_size``
    epochs) or constant."""
    total = max(cfg.epochs * steps_per_epoch, 1)
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total)
    if cfg.schedule == "cosine":
        factor = lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total))  # noqa: E731
    elif cfg.schedule == "step":
        factor = lambda s: cfg.gamma ** ((s // steps_per_epoch) // cfg.step_size)  # noqa: E731
    else:
        factor = lambda s: 1.0  # noqa: E731
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[precision])


def _memory_format(spatial_dims: int, channels_last: bool) -> tuple[torch.memory_format | None, int]:
    if channels_last and spatial_dims == 2:
        return torch.channels_last, 4
    if channels_last and spatial_dims == 3:
        return torch.channels_last_3d, 5
    return None, 0


def _log(message: str, env: D.DistEnv) -> None:
    if env.is_main:
        print(message, file=sys.stderr, flush=True)


def _check_data(data: Data, splits: tuple[str, ...]) -> None:
    for split in splits:
        dataset = getattr(data, split)
        if dataset is None or len(dataset) == 0:
            raise DataError(f"the {split} split is empty; the data needs examples in train, val and test")


def new_run_dir(task: Task, cfg: C.RunConfig, out_dir: str | Path) -> Path:
    """``<out>/runs/<task>/<run-name>``, created. The name is ``train.name`` (refused if
    that folder already holds files) or ``<model>-<timestamp>`` (made unique)."""
    base = Path(out_dir) / "runs" / task.name
    if cfg.train.name:
        path = base / cfg.train.name
        if path.exists() and any(path.iterdir()):
            raise ConfigError(f"{path}: the run folder already exists; choose another train.name "
                              f"or continue it with --resume {path / 'last.pt'}")
    else:
        stem = f"{cfg.model.name or task.default_model}-{time.strftime('%Y%m%d-%H%M%S')}"
        path, n = base / stem, 1
        while path.exists():
            n += 1
            path = base / f"{stem}-{n}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file atomically (temp file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


# --------------------------------------------------------------------------- evaluation


def evaluate_split(task: Task, model: nn.Module, dataset: Dataset, data: Data, device: torch.device,
                   cfg: C.TrainConfig, env: D.DistEnv = D.DistEnv(), desc: str = "eval") -> tuple[dict, dict]:
    """Run ``task.evaluation_step`` over ``dataset`` (each rank a contiguous shard; the
    outputs are gathered so every rank sees the whole split in order) and return
    ``(task.compute_metrics(...), collected)``; ``collected`` holds CPU tensors."""
    memory_format, layout_ndim = _memory_format(data.spatial_dims, cfg.channels_last)
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
    collected = D.gather_collected({k: torch.cat(v) for k, v in parts.items()}, env)
    return task.compute_metrics(collected, dataset), collected


# --------------------------------------------------------------------------- fit


def fit(task: Task, cfg: C.RunConfig, out_dir: str | Path = ".", resume: str | Path | None = None, *,
        data: Data | None = None, model: nn.Module | None = None, run_dir: str | Path | None = None) -> FitResult:
    """Train ``task`` with ``cfg`` and write the run folder.

    Args:
        task: the task definition.
        cfg: the resolved run config (a ``task.config_class``).
        out_dir: the run folder is ``out_dir/runs/<task>/<name>`` (unless ``run_dir``).
        resume: a ``last.pt`` (or ``best.pt``) to continue from; the run folder is its folder.
        data: datasets to use instead of ``task.build_data(cfg)``.
        model: a model to train instead of ``task.build_model(cfg, data)``.
        run_dir: write exactly here instead of a new folder under ``out_dir``.

    Returns:
        FitResult with the best model (best validation ``task.monitor``) and metrics.json.

    Raises:
        ConvkitError: bad config/data/checkpoint, or a NaN/inf loss (the message names the
            epoch and step; the last good checkpoint is kept).
    """
    device = select_device(cfg.train.device)
    env = D.init_distributed(device.type)
    try:
        return _fit(task, cfg, env, device, out_dir, resume, data, model, run_dir)
    finally:
        D.cleanup(env)


def _fit(task: Task, cfg: C.RunConfig, env: D.DistEnv, device: torch.device, out_dir: str | Path,
         resume: str | Path | None, data: Data | None, model: nn.Module | None,
         run_dir: str | Path | None) -> FitResult:
    tcfg = cfg.train
    seed_everything(tcfg.seed, tcfg.deterministic)
    state = ckpt.load_checkpoint(resume, task.name) if resume is not None else None

    data = data if data is not None else task.build_data(cfg)
    _check_data(data, ("train", "val", "test"))
    raw = model if model is not None else task.build_model(cfg, data)
    raw.to(device)
    memory_format, layout_ndim = _memory_format(data.spatial_dims, tcfg.channels_last)
    if memory_format is not None:
        raw.to(memory_format=memory_format)
    params = count_params(raw)

    # The training batches: each epoch's order from seed + epoch; per-rank loader generator.
    sampler = DistributedSampler(data.train, num_replicas=env.world_size, rank=env.rank, shuffle=True,
                                 seed=tcfg.seed)
    drop_last = len(sampler) >= tcfg.batch_size  # keep a lone short batch (e.g. one graph)
    steps_per_epoch = len(sampler) // tcfg.batch_size if drop_last else math.ceil(len(sampler) / tcfg.batch_size)
    loader_gen = torch.Generator().manual_seed(tcfg.seed + env.rank)

    optimizer = make_optimizer(raw, tcfg)
    scheduler = make_scheduler(optimizer, tcfg, steps_per_epoch)
    scaler = torch.amp.GradScaler(device.type, enabled=tcfg.precision == "fp16")
    progress = _Progress()
    baselines: dict = {}

    if state is not None:
        loader_gen.set_state(_restore(state, raw, optimizer, scheduler, scaler, progress, steps_per_epoch,
                                      env, resume))
        baselines = state.get("baselines") or {}
    elif tcfg.baselines and env.is_main:
        _log("fitting baselines ...", env)
        baselines = task.baselines(cfg, data, params)

    augment = task.augmentation(cfg, data)
    compiled = torch.compile(raw) if tcfg.compile else raw
    train_model = D.wrap_model(compiled, env, device)

    if env.is_main:
        run_path = Path(resume).parent if resume is not None else (
            Path(run_dir) if run_dir is not None else new_run_dir(task, cfg, out_dir))
        run_path.mkdir(parents=True, exist_ok=True)
        for stale in run_path.glob(".*.tmp"):  # half-written files of a killed run
            stale.unlink()
        write_text_atomic(run_path / "config.toml", C.to_toml(cfg))
    else:
        run_path = None
    model_name = cfg.model.name or task.default_model

    def checkpoint_state(epoch_loader_state: torch.Tensor) -> dict | None:
        """The whole resumable state (on rank 0; None elsewhere). Every rank's RNG states
        are gathered (a collective: all ranks call this at the same steps)."""
        rng = ckpt.rng_state()
        rng["loader"] = epoch_loader_state if progress.step > 0 else loader_gen.get_state()
        rngs = D.gather_objects(rng, env)
        if not env.is_main:
            return None
        return {
            "format": ckpt.FORMAT, "task": task.name, "model": raw.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(), "epoch": progress.epoch, "step": progress.step,
            "steps_per_epoch": steps_per_epoch, "world_size": env.world_size,
            "rng": rngs, "config": C.to_dict(cfg), "data": data.spec(),
            "model_name": model_name, "params": params, "history": progress.history, "best": progress.best,
            "bad_epochs": progress.bad_epochs, "loss_sum": progress.loss_sum, "loss_count": progress.loss_count,
            "train_seconds": progress.train_seconds, "baselines": baselines,
        }

    def save(names: tuple[str, ...], epoch_loader_state: torch.Tensor) -> None:
        snapshot = checkpoint_state(epoch_loader_state)
        if snapshot is not None:
            for name in names:
                ckpt.save_checkpoint(snapshot, run_path / name)

    _log(f"training {model_name} ({params:,} parameters) on {device} for {tcfg.epochs} epochs "
         f"of {steps_per_epoch} steps" + (f" x {env.world_size} processes" if env.enabled else "")
         + (f"; run folder {run_path}" if run_path else ""), env)

    session_start = time.monotonic()
    seconds_before = progress.train_seconds
    last_saved = (progress.epoch, progress.step) if state is not None else None
    raw.train()
    for epoch in range(progress.epoch, tcfg.epochs):
        sampler.set_epoch(epoch)
        epoch_loader_state = loader_gen.get_state()
        loader = DataLoader(data.train, batch_size=tcfg.batch_size, drop_last=drop_last,
                            sampler=SkipSampler(sampler, progress.step * tcfg.batch_size),
                            collate_fn=data.collate_fn, num_workers=tcfg.num_workers, worker_init_fn=seed_worker,
                            generator=loader_gen, pin_memory=device.type == "cuda")
        bar = tqdm(loader, total=steps_per_epoch, initial=progress.step, desc=f"epoch {epoch + 1}/{tcfg.epochs}",
                   leave=False, disable=None if env.is_main else True)
        out_of_time = False
        for batch in bar:
            batch = move_to_device(batch, device, memory_format, layout_ndim)
            if augment is not None:  # then restore channels-last, which the augmentation may undo
                batch = move_to_device(augment(batch), device, memory_format, layout_ndim)
            with _autocast(device, tcfg.precision):
                loss = task.training_step(train_model, batch)
            value = float(loss.detach())
            progress.train_seconds = seconds_before + time.monotonic() - session_start
            over_budget = tcfg.max_minutes > 0 and progress.train_seconds >= tcfg.max_minutes * 60
            bad_loss, out_of_time = D.flags_any([not math.isfinite(value), over_budget], env, device)
            if bad_loss:
                where = (f"{run_path or 'the run folder'}/last.pt ({_position(*last_saved)})"
                         if last_saved else "none (no checkpoint was written yet)")
                raise ConvkitError(f"loss is {value} at epoch {epoch + 1}, step {progress.step + 1}; "
                                   f"training stopped (try a lower train.lr or train.clip_grad_norm); "
                                   f"last good checkpoint: {where}")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if tcfg.clip_grad_norm > 0:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(raw.parameters(), tcfg.clip_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            progress.step += 1
            progress.loss_sum += value
            progress.loss_count += 1
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            if tcfg.log_every and progress.step % tcfg.log_every == 0:
                _log(f"epoch {epoch + 1} step {progress.step}/{steps_per_epoch} loss {value:.4f}", env)
            if out_of_time or (tcfg.checkpoint_every and progress.step % tcfg.checkpoint_every == 0
                               and progress.step < steps_per_epoch):
                save(("last.pt",), epoch_loader_state)
                last_saved = (epoch, progress.step)
            if out_of_time:
                break
        bar.close()
        if out_of_time:
            _log(f"time budget of {tcfg.max_minutes:g} min reached at epoch {epoch + 1}, step {progress.step}; "
                 f"stopping (resume with --resume {run_path}/last.pt)", env)
            break

        D.broadcast_buffers(raw, env)
        val, _ = evaluate_split(task, raw, data.val, data, device, tcfg, env, desc="val")
        loss_sum, loss_count = D.sum_floats([progress.loss_sum, float(progress.loss_count)], env, device)
        improved = _update_best(task, progress, val, epoch)
        progress.train_seconds = seconds_before + time.monotonic() - session_start
        progress.history.append({
            "epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"],
            "train": {"loss": loss_sum / max(loss_count, 1)}, "val": to_float_dict(val),
            "steps": steps_per_epoch, "world_size": env.world_size, "seconds": round(progress.train_seconds, 3),
        })
        progress.epoch, progress.step, progress.loss_sum, progress.loss_count = epoch + 1, 0, 0.0, 0
        save(("best.pt", "last.pt") if improved else ("last.pt",), epoch_loader_state)
        last_saved = (epoch + 1, 0)
        if env.is_main:
            write_text_atomic(run_path / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in progress.history))
        _log(_epoch_line(progress.history[-1], tcfg.epochs, task.monitor, improved), env)
        if tcfg.patience and progress.bad_epochs >= tcfg.patience:
            _log(f"early stopping: no better val {task.monitor} for {tcfg.patience} epochs "
                 f"(best {progress.best['value']:.4f} at epoch {progress.best['epoch']})", env)
            break

    # Final: the best weights on every rank, then the test split.
    if progress.best is not None:
        if env.is_main:
            raw.load_state_dict(ckpt.load_checkpoint(run_path / "best.pt", task.name)["model"])
        D.broadcast_module(raw, env)
    else:  # stopped by the time budget before any epoch ended: score the weights we have
        val, _ = evaluate_split(task, raw, data.val, data, device, tcfg, env, desc="val")
        progress.best = {"epoch": progress.epoch, "value": val.get(task.monitor), "val": val}
    test, collected = evaluate_split(task, raw, data.test, data, device, tcfg, env, desc="test")
    metrics = {"task": task.name, "model": model_name, "params": params,
               "train_seconds": round(progress.train_seconds, 2), "val": progress.best["val"], "test": test,
               "baselines": baselines}
    if env.is_main:
        write_text_atomic(run_path / "metrics.json", json.dumps(metrics) + "\n")
        if progress.history:
            plot_curves(progress.history, run_path / "curves.png", task.monitor)
        task.plots(run_path, collected, data)
        summary = ", ".join(f"{k} {v:.4f}" for k, v in to_float_dict(test).items())
        _log(f"test: {summary}; wrote {run_path}", env)
    D.barrier(env)
    return FitResult(raw, metrics, run_path)


def _position(epoch: int, step: int) -> str:
    """Where a checkpoint stands, for people: ``epoch`` is 0-based, ``step`` steps done in it."""
    return f"end of epoch {epoch}" if step == 0 else f"epoch {epoch + 1}, step {step}"


def _update_best(task: Task, progress: _Progress, val: dict, epoch: int) -> bool:
    if task.monitor not in val:
        raise KeyError(f"{type(task).__name__}.compute_metrics returned no {task.monitor!r} "
                       f"(the task's monitor); it returned {sorted(val)}")
    value = float(val[task.monitor])
    best = progress.best
    improved = math.isfinite(value) and (
        best is None or not math.isfinite(best["value"])
        or (value > best["value"] if task.monitor_mode == "max" else value < best["value"]))
    if improved:
        progress.best, progress.bad_epochs = {"epoch": epoch + 1, "value": value, "val": val}, 0
    else:
        progress.bad_epochs += 1
    return improved


def _epoch_line(record: dict, epochs: int, monitor: str, improved: bool) -> str:
    val = "  ".join(f"{k} {v:.4f}" for k, v in record["val"].items())
    return (f"epoch {record['epoch']}/{epochs}  train loss {record['train']['loss']:.4f}  val {val}  "
            f"lr {record['lr']:.3g}  {record['seconds']:.1f}s" + ("  *" if improved else ""))


def _restore(state: dict, raw: nn.Module, optimizer: torch.optim.Optimizer,
             scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler,
             progress: _Progress, steps_per_epoch: int, env: D.DistEnv, path: str | Path) -> torch.Tensor:
    """Load a checkpoint's weights, optimizer, schedule and RNG states into the run;
    return the state the loader generator must start the epoch from."""
    if state["step"] > 0 and (state["steps_per_epoch"] != steps_per_epoch or state["world_size"] != env.world_size):
        raise CheckpointError(
            f"{path}: written mid-epoch with {state['world_size']} process(es) and {state['steps_per_epoch']} "
            f"steps per epoch; resume with the same number of processes and train.batch_size")
    try:
        raw.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: the weights do not fit the configured model "
                              f"({str(err).splitlines()[0]})") from None
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    progress.epoch, progress.step = state["epoch"], state["step"]
    progress.history, progress.best, progress.bad_epochs = state["history"], state["best"], state["bad_epochs"]
    progress.loss_sum, progress.loss_count = state["loss_sum"], state["loss_count"]
    progress.train_seconds = state["train_seconds"]
    rng = state["rng"][env.rank % len(state["rng"])]
    ckpt.set_rng_state(rng)
    return rng["loader"]


# --------------------------------------------------------------------------- using a trained model


def load_trained(task: Task, checkpoint: str | Path, device: str | torch.device = "cpu"
                 ) -> tuple[C.RunConfig, Data, nn.Module, dict]:
    """Rebuild a trained model from a checkpoint, without its data.

    Returns:
        ``(cfg, spec, model, state)``: the run's config, a ``Data`` holding only the
        spec (label names, input layout), the model in eval mode on ``device`` with the
        checkpoint's weights, and the checkpoint dict.

    Raises:
        CheckpointError: unreadable, unsafe, from another task, or weights that do not fit.
    """
    state = ckpt.load_checkpoint(checkpoint, task.name)
    cfg = C.from_dict(task.config_class, state["config"], f"{checkpoint} config")
    spec = Data.from_spec(state["data"])
    model = task.build_model(cfg, spec)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{checkpoint}: the weights do not fit the model "
                              f"({str(err).splitlines()[0]})") from None
    device = device if isinstance(device, torch.device) else select_device(device)
    return cfg, spec, model.to(device).eval(), state


def evaluate_checkpoint(task: Task, checkpoint: str | Path, data_path: str | None = None,
                        device: str = "auto") -> dict:
    """Score a checkpoint on ``data_path`` (all of it, or its test split when it has one)
    or, without it, on the run's own test split. Returns the test block (``metrics.json``'s
    shape, plus non-scalar extras such as the confusion matrix)."""
    cfg, spec, model, _ = load_trained(task, checkpoint, device)
    data = task.build_data(cfg, path=data_path, spec=spec) if data_path else task.build_data(cfg)
    _check_data(data, ("test",))
    if data.label_names is not None and spec.label_names is not None and data.label_names != spec.label_names:
        raise DataError(f"the data's classes {data.label_names} differ from the checkpoint's {spec.label_names}")
    device_ = next(model.parameters()).device
    metrics, _ = evaluate_split(task, model, data.test, data, device_, cfg.train, desc="test")
    return metrics


def predict_checkpoint(task: Task, checkpoint: str | Path, inputs: list[str], device: str = "auto") -> list[dict]:
    """Predictions of a checkpoint for ``inputs`` (files, or texts for the text task):
    one dict per input, ``{"input": ..., **task.predict(...)}``, in order."""
    cfg, spec, model, _ = load_trained(task, checkpoint, device)
    device_ = next(model.parameters()).device
    results: list[dict] = []
    with torch.no_grad():
        for start in range(0, len(inputs), cfg.train.batch_size):
            chunk = inputs[start:start + cfg.train.batch_size]
            batch = move_to_device(task.load_inputs(cfg, spec, chunk), device_)
            results += [{"input": name, **p} for name, p in zip(chunk, task.predict(model, batch, spec.label_names))]
    return results
