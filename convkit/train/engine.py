"""The training loop: ``fit`` trains a task and writes its run folder.

A task (``convkit.train.task.Task``) supplies data, model, steps and metrics; the loop
does the rest for every task alike (DESIGN.md "The engine"): SGD/Adam/AdamW (over the
model's own ``param_groups`` when it offers them), cosine/one-cycle/step schedules
(stepped per optimizer step) or reduce-on-plateau (per epoch, on the training loss),
gradient clipping, DDP from torchrun's environment, early stopping, a wall-clock budget,
NaN/inf detection and atomic checkpoints. Its parts live beside it, one job each:

* ``runtime``: device, seeds, CPU threads, precision (autocast, GradScaler), memory
  layout and ``torch.compile``, the same for training, evaluation and the benchmark;
* ``rundir``: the run folder, its lock, whole-file writes, a full disk as one line;
* ``resume``: the loop's resumable state, what a resumed run may change, restoring it;
* ``inference``: the evaluation pass over a split, and using a trained checkpoint;
* ``repeats``: several whole runs of one experiment (seeds, folds) and their summary.

One epoch, as ``_Run`` does it: ``set_epoch`` on the training dataset (per-epoch
sampling), the training steps (``train_step``: the one optimizer step, which the
benchmark times too), then every ``train.eval_every`` epochs a validation pass
(``compute_metrics`` and ``derive_state``), the best-so-far bookkeeping, and every
``train.save_every`` epochs ``last.pt`` (and ``best.pt`` when it improved; an improvement
between saves is held in memory until the next save). The last epoch always validates
and saves. ``metrics.jsonl`` gets one appended line per epoch.

The host is not synchronised every step: losses accumulate on the device and are read
every ``SYNC_EVERY`` steps (every ``train.log_every`` steps when set), before every
checkpoint and at the end of the epoch; a non-finite loss is then reported with the epoch
and step where it first appeared, and no checkpoint after it is ever written.

Loggers (``train.loggers``, and ``fit(..., callbacks=...)``; ``convkit.train.loggers``)
are called on rank 0 at those reads (one logged step each), at every epoch end and
checkpoint, and at the end of the run. Progress bars are ``tqdm.auto`` (a widget in
notebooks) and stay quiet when stderr is not a terminal.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, default_collate
from tqdm.auto import tqdm

from convkit import config as config_io
from convkit import plugins
from convkit.config import RunConfig, TrainConfig
from convkit.data.skipped import summarize_skipped
from convkit.errors import ConfigError, ConvkitError, DataError, Interrupted
from convkit.train import checkpoint as checkpoints
from convkit.train import distributed, rundir, transfer
from convkit.train.distributed import DistEnv, log
from convkit.train.export import example_input
from convkit.train.inference import build_model, build_run_data, check_splits, evaluate_split
from convkit.train.loaders import SkipSampler, seed_worker
from convkit.train.loggers import Logger, Loggers, RunStart, make_loggers
from convkit.train.metrics import to_float_dict
from convkit.train.plots import plot_curves
from convkit.train.resume import Progress, check_resume_overrides, restore
from convkit.train.runtime import (Placement, compiled, grad_scaler, seed_everything, select_device, set_threads,
                                   settings_for_run)
from convkit.train.task import Data, Task

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


def fit(task: Task, cfg: RunConfig, out_dir: str | Path = ".", resume: str | Path | None = None, *,
        data: Data | None = None, model: nn.Module | None = None, run_dir: str | Path | None = None,
        callbacks: Sequence[Logger] = ()) -> FitResult:
    """Train ``task`` with ``cfg`` and write the run folder.

    Args:
        task: the task definition (``task.for_config(cfg)`` is what runs).
        cfg: the resolved run config (a ``task.config_class``).
        out_dir: the run folder is ``out_dir/runs/<task>/<name>`` (unless ``run_dir``).
        resume: a ``last.pt`` (or ``best.pt``) to continue from; the run folder is its folder.
        data: datasets to use instead of ``task.build_data(cfg)``.
        model: a model to train instead of the one ``cfg`` names (``inference.build_model``:
            the task's zoo model, or a class's import path ``module:Class`` in ``model.name``).
        run_dir: write exactly here instead of a new folder under ``out_dir``.
        callbacks: ``convkit.train.loggers.Logger`` instances called (on rank 0) besides
            the loggers ``cfg.train.loggers`` names.

    Returns:
        FitResult with the best model (best validation monitor) and metrics.json.

    Raises:
        ConvkitError: bad config/data/checkpoint, or a NaN/inf loss (the message names the
            epoch and step; the last good checkpoint is kept).
    """
    if resume is None:  # before any data is built: a bad --out fails at once
        rundir.check_can_create(Path(run_dir) if run_dir is not None else Path(out_dir), "the run folder (--out)")
    loggers = make_loggers(cfg.train.loggers, callbacks)  # an unknown logger fails at once too
    device = select_device(cfg.train.device)
    threads = set_threads(cfg.train.threads)
    env = distributed.init_distributed(device.type)
    run, lock = None, None
    try:
        if resume is not None and env.is_main and Path(resume).is_file():
            lock = rundir.lock_to_resume(Path(resume))  # before the data is built: a second process is refused at once
        run = _Run(task.for_config(cfg), cfg, env, device, data, model, resume=resume)
        run.lock = lock
        run.loggers = loggers if env.is_main else Loggers()
        if device.type == "cpu":
            how = "train.threads" if cfg.train.threads else "train.threads=0: one per idle core"
            log(f"using {threads} CPU thread(s) ({how})", env)
        log(f"precision and memory layout: {run.choice.describe()}", env)
        run.start(out_dir, resume, run_dir)
        with _StopRequest() as run.stop:
            for epoch in range(run.progress.epoch, cfg.train.epochs):
                if not run.train_epoch(epoch):  # the time budget ran out mid-epoch
                    break
                if run.end_epoch(epoch):  # early stopping
                    break
        return run.finish()
    except BaseException:
        loggers.close(failed=True)
        if run is not None and resume is None:
            run.discard_if_nothing_saved()
        raise
    finally:
        loggers.close(failed=True)
        if lock is not None:
            lock.release()
        if run is not None:
            run.release_run_dir()
        distributed.cleanup(env)


def train_step(task: Task, model: nn.Module, batch: Any, optimizer: torch.optim.Optimizer,
               scaler: torch.amp.GradScaler, placement: Placement, clip_grad_norm: float = 0.0,
               augment: Callable[[Any], Any] | None = None, accumulate: Sequence[Any] = ()) -> Tensor:
    """One optimizer step on ``batch``, as every run makes it (and the benchmark times):
    the batch to the device in the run's memory format, the task's augmentation (then the
    memory format again, which it may undo), ``task.training_step`` under the run's
    autocast, the backward pass through ``scaler``, gradient clipping to
    ``clip_grad_norm`` (0: none) and the optimizer step. ``model`` is what the run calls
    (possibly compiled or DDP-wrapped). ``accumulate``: further micro-batches
    (``train.accumulate_steps``) whose gradients are added to ``batch``'s before the one
    step, each loss divided by their number (under DDP the ranks synchronise once, on the
    last). Returns the (mean) loss, a scalar tensor still on the device (reading it would
    synchronise the host)."""
    batches = [batch, *accumulate]
    optimizer.zero_grad(set_to_none=True)
    for i, micro in enumerate(batches):
        micro = placement.batch(micro)
        if augment is not None:
            micro = placement.batch(augment(micro))
        last = i == len(batches) - 1
        no_sync = model.no_sync() if not last and isinstance(model, DistributedDataParallel) else \
            contextlib.nullcontext()
        with no_sync:
            with placement.autocast():
                micro_loss = task.training_step(model, micro)
            scaler.scale(micro_loss / len(batches) if len(batches) > 1 else micro_loss).backward()
        loss = micro_loss if i == 0 else loss + micro_loss.detach()
    if len(batches) > 1:
        loss = loss.detach() / len(batches)
    if clip_grad_norm > 0:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    return loss


def probe_step_factory(task: Task, cfg: RunConfig, data: Data,
                       model: nn.Module) -> Callable[[Placement], Callable[[], Tensor]]:
    """What ``runtime.choose_settings`` times: for a placement, a callable making one
    ``train_step`` (clipping as configured, no augmentation) on one copy of ``model`` per
    memory format with its own optimizer, on the first ``batch_size`` examples of the
    training split (``data.collate_fn``). Nothing is built until the probe runs; the
    run's own model, optimizer and data order are not touched."""
    tcfg = cfg.train
    built: dict[Any, Any] = {}

    def make(placement: Placement) -> Callable[[], Tensor]:
        if "batch" not in built:
            collate = data.collate_fn or default_collate
            built["batch"] = collate([data.train[i] for i in range(min(tcfg.batch_size, len(data.train)))])
        if placement.memory_format not in built:
            net = placement.model(copy.deepcopy(model).train())
            built[placement.memory_format] = net, make_optimizer(net, tcfg)
        net, optimizer = built[placement.memory_format]
        scaler = grad_scaler(placement.device, placement.precision)
        return lambda: train_step(task, net, built["batch"], optimizer, scaler, placement, tcfg.clip_grad_norm)

    return make


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_optimizer(model: nn.Module, cfg: TrainConfig, backbone_lr_scale: float = 1.0) -> torch.optim.Optimizer:
    """SGD (with momentum, Nesterov off), Adam (L2 weight decay) or AdamW (decoupled) over
    ``model.param_groups(cfg.weight_decay)`` when the model offers parameter groups (e.g.
    GCN's weight decay on its first layer only), else over all trainable parameters. With
    ``backbone_lr_scale`` below 1 (``model.backbone_lr_scale``) each group is split into the
    head's part at ``cfg.lr`` and the backbone's at ``cfg.lr * backbone_lr_scale``
    (``transfer.split_head``)."""
    if hasattr(model, "param_groups"):
        groups = [{**g, "params": [p for p in g["params"] if p.requires_grad]}
                  for g in model.param_groups(cfg.weight_decay)]
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    if backbone_lr_scale != 1.0:
        groups = transfer.split_head(groups, model, cfg.lr, backbone_lr_scale)
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
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                                                   total_steps=total)
    if cfg.schedule == "cosine":
        factor = lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total))  # noqa: E731
    elif cfg.schedule == "step":
        factor = lambda s: cfg.gamma ** ((s // steps_per_epoch) // cfg.step_size)  # noqa: E731
    else:
        factor = lambda s: 1.0  # noqa: E731
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class _Run:
    """One training run's moving parts, so that ``fit`` reads as named steps: ``start``
    (restore or fit baselines, run folder), ``train_epoch``, ``end_epoch`` (validate,
    bookkeeping, save, log), ``finish`` (best weights, test split, metrics.json, plots)."""

    def __init__(self, task: Task, cfg: RunConfig, env: DistEnv, device: torch.device,
                 data: Data | None, model: nn.Module | None, resume: str | Path | None = None) -> None:
        tcfg = cfg.train
        seed_everything(tcfg.seed, tcfg.deterministic)
        self.task, self.cfg, self.tcfg, self.env, self.device = task, cfg, tcfg, env, device
        self.data = data if data is not None else build_run_data(
            task, cfg, "give it data again (--data PATH, or convkit.fit(..., data=...) from Python)")
        check_splits(self.data, ("train", "val", "test"))
        self.monitor, self.monitor_mode = task.monitor_of(self.data)
        raw = model if model is not None else build_model(task, cfg, self.data)
        self.placement = self._choose_placement(raw, resume)  # a measured choice is recorded in self.cfg
        tcfg = self.tcfg = self.cfg.train
        self.raw = self.placement.model(raw)
        task.fit_model(cfg, self.data, self.raw)  # what the model fits in closed form (Task.fit_model)
        self.trainable = any(p.requires_grad for p in self.raw.parameters())
        # a model fitted in closed form has no trainable parameters: count the fitted ones
        self.params = count_params(self.raw) if self.trainable else sum(p.numel() for p in self.raw.parameters())
        self.model_name = cfg.model.name or task.default_model

        # The training batches: each epoch's order from seed + epoch; per-rank loader generator.
        self.sampler = DistributedSampler(self.data.train, num_replicas=env.world_size, rank=env.rank,
                                          shuffle=True, seed=tcfg.seed)
        self.drop_last = len(self.sampler) >= tcfg.batch_size  # keep a lone short batch (e.g. one graph)
        batches = (len(self.sampler) // tcfg.batch_size if self.drop_last
                   else math.ceil(len(self.sampler) / tcfg.batch_size))
        self.steps_per_epoch = 0 if not self.trainable else batches // tcfg.accumulate_steps  # optimizer steps
        if self.trainable and self.steps_per_epoch == 0:
            raise ConfigError(f"train.accumulate_steps={tcfg.accumulate_steps} needs as many batches per epoch; "
                              f"there are {batches} of train.batch_size={tcfg.batch_size} per process")
        self.loader_gen = torch.Generator().manual_seed(tcfg.seed + env.rank)
        self.epoch_loader_state = self.loader_gen.get_state()

        self.optimizer = make_optimizer(self.raw, tcfg, cfg.model.backbone_lr_scale)
        if cfg.model.freeze_epochs:
            transfer.require_head(self.raw, "model.freeze_epochs")
        self.frozen = False  # the backbone, for the first model.freeze_epochs epochs (_set_frozen)
        self.scheduler = make_scheduler(self.optimizer, tcfg, self.steps_per_epoch)
        self.scaler = grad_scaler(device, tcfg.precision)
        self.progress = Progress()
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
        self.lock: rundir.RunLock | None = None  # held (on rank 0) from the start to the end of the run
        self.session_start = time.monotonic()
        self.seconds_before = 0.0
        self.loggers = Loggers()  # (fit sets the run's, on rank 0)
        self.steps_before = 0  # optimizer steps of the epochs already done
        self.skipped_lazily: dict[str, dict[int, str]] = {}  # split -> files found unreadable while training
        self.loader: DataLoader | None = None  # the training batches (train_epoch)
        self.step_lr = tcfg.lr  # the learning rate of the last step

    def _choose_placement(self, model: nn.Module, resume: str | Path | None) -> Placement:
        """The run's precision and memory layout (``runtime.settings_for_run``: explicit,
        cached, probed on one training batch, or the table; ``self.choice`` says which
        and why); a measured choice is written into ``self.cfg`` (config.toml,
        checkpoints), so a resumed or repeated run uses the same. A resumed run takes what
        its checkpoint's config recorded for a value left unset (else the table, as it
        began); a run of several processes takes the table (the same on every rank)."""
        tcfg, data = self.tcfg, self.data
        if resume is not None and (tcfg.precision == "auto" or tcfg.channels_last is None):
            stored = checkpoints.load_training_checkpoint(resume, self.task.name)["config"].get("train", {})
            train = dataclasses.replace(
                tcfg, precision=stored.get("precision", "auto") if tcfg.precision == "auto" else tcfg.precision,
                channels_last=stored.get("channels_last") if tcfg.channels_last is None else tcfg.channels_last)
            self.cfg = dataclasses.replace(self.cfg, train=train)
        choice = settings_for_run(
            self.cfg, data, model, self.device, make_step=probe_step_factory(self.task, self.cfg, data, model),
            probe_off="a resumed run keeps the table it began with" if resume is not None
            else "several processes (torchrun)" if self.env.enabled else None)
        self.choice = choice  # (fit logs it)
        self.cfg = choice.recorded(self.cfg)
        return Placement.of(self.device, data.spatial_dims, choice.precision, choice.channels_last)

    # ---- start

    def start(self, out_dir: str | Path, resume: str | Path | None, run_dir: str | Path | None) -> None:
        """Restore a checkpoint or fit the baselines, wrap the model, open the run folder
        (locked: a second process training in it is refused, naming this one's PID)."""
        if resume is not None:
            state = checkpoints.load_training_checkpoint(resume, self.task.name)
            check_resume_overrides(state["config"], self.cfg, resume, self.env, self.task.resumable_keys)
            self.progress = restore(state, resume, model=self.raw, optimizer=self.optimizer, scheduler=self.scheduler,
                                    scaler=self.scaler, loader_gen=self.loader_gen,
                                    steps_per_epoch=self.steps_per_epoch, env=self.env)
            if not self.env.is_main:  # (rank 0 holds every rank's losses of the epoch so far)
                self.progress.loss_sum, self.progress.loss_count = 0.0, 0
            self.baselines = state.get("baselines") or {}
            self.epoch_state = state.get("task_state")
            self.saved_at = (self.progress.epoch, self.progress.step)
            self.steps_before = sum(r.get("steps", self.steps_per_epoch) for r in self.progress.history)
        elif self.tcfg.baselines and self.env.is_main:
            log("fitting baselines ...", self.env)
            self.baselines = self.task.baselines(self.cfg, self.data, self.params)
        self.augment = self.task.augmentation(self.cfg, self.data)
        if self.tcfg.sync_batchnorm and distributed.sync_batchnorm(self.raw, self.env, self.device):
            log("train.sync_batchnorm: batch normalisation over the global batch (SyncBatchNorm)", self.env)
        self._set_frozen(self.progress.epoch)
        self.train_model = distributed.wrap_model(compiled(self.raw, self.tcfg.compile), self.env, self.device)
        if self.env.is_main:
            run_path = Path(resume).parent if resume is not None else (
                Path(run_dir) if run_dir is not None else rundir.new_run_dir(self.task, self.cfg, out_dir))
            rundir.make_dir(run_path, "the run folder")
            if self.lock is None:  # (a resumed run's folder was locked before anything else)
                with self._writing(run_path / rundir.LOCK_FILE):
                    self.lock = rundir.lock_run_dir(run_path)
            self.run_path = run_path
            self.created_run_dir = resume is None and run_dir is None  # only once it is ours (locked)
            rundir.remove_stale_temp_files(self.run_path)
            with self._writing(self.run_path / "config.toml"):
                rundir.write_text_atomic(self.run_path / "config.toml", config_io.to_toml(self.cfg))
            if resume is not None:  # metrics.jsonl holds exactly the resumed state's epochs, then grows
                with self._writing(self.run_path / "metrics.jsonl"):
                    rundir.write_text_atomic(self.run_path / "metrics.jsonl",
                                             "".join(json.dumps(r) + "\n" for r in self.progress.history))
            if self.loggers:
                self.loggers.start(RunStart(self.run_path, self.cfg, self.task.name, self.raw, self._example_input(),
                                            self._global_step(), self.progress.epoch, resume is not None,
                                            list(self.progress.history)), self._kept)
        if not self.trainable:
            log(f"{self.model_name} ({self.params:,} parameters) was fitted in closed form on {self.device}: nothing "
                "is left to train, so one epoch of validation without optimizer steps, then the test"
                + (f"; run folder {self.run_path}" if self.run_path else ""), self.env)
        else:
            log(f"training {self.model_name} ({self.params:,} parameters) on {self.device} for "
                f"{self.tcfg.epochs} epochs of {self.steps_per_epoch} steps"
                + (f" x {self.env.world_size} processes" if self.env.enabled else "")
                + (f"; run folder {self.run_path}" if self.run_path else ""), self.env)
        self.session_start, self.seconds_before = time.monotonic(), self.progress.train_seconds

    def _global_step(self) -> int:
        """Optimizer steps done since the run began (the loggers' step axis)."""
        return self.steps_before + self.progress.step

    def _example_input(self) -> Tensor | None:
        """Two inputs as the model takes them (``Data.input_shape``), on its device, for
        loggers that trace the model; None when the input is not one tensor."""
        if self.data.input_shape is None or self.data.input_kind == "graph":
            return None
        return self.placement.batch(example_input(tuple(self.data.input_shape), self.data.input_dtype))

    def release_run_dir(self) -> None:
        """Let go of the run folder's lock (at the end of ``fit``, however it ends)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def _writing(self, what: str | Path) -> contextlib.AbstractContextManager:
        """Turn a full disk while writing ``what`` into one line naming it and the last
        complete checkpoint (``rundir.reporting_disk_full``)."""
        return rundir.reporting_disk_full(what, self._kept)

    def _kept(self) -> str:
        """What is safe after a failed write: the last complete checkpoint, or nothing."""
        last = self.run_path / "last.pt" if self.run_path is not None else None
        if self.saved_at is not None and last is not None and last.is_file():
            return (f"the last complete checkpoint is {last} ({_position(*self.saved_at)}); free some space and "
                    f"continue with: {self.task.command()} train --resume {last}")
        return "nothing was saved; free some space and train again"

    # ---- one epoch of training

    def train_epoch(self, epoch: int) -> bool:
        """Train epoch ``epoch`` (0-based) from ``progress.step``; False if the time budget
        ran out (``last.pt`` then holds the state at that step)."""
        tcfg, progress = self.tcfg, self.progress
        if not self.trainable:  # fitted in closed form (Task.fit_model): no step to make
            return True
        if self._set_frozen(epoch):  # the backbone unfreezes: DDP must see its parameters again
            self.train_model = distributed.wrap_model(compiled(self.raw, tcfg.compile), self.env, self.device)
        if hasattr(self.data.train, "set_epoch"):
            self.data.train.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        self.epoch_loader_state = self.loader_gen.get_state()
        micro = tcfg.accumulate_steps  # loader batches per optimizer step
        # workers live across epochs unless the dataset samples per epoch in its own memory (set_epoch would
        # not reach them); a dataset whose epoch is shared with its workers says so (shares_epoch)
        keep = tcfg.num_workers > 0 and (not hasattr(self.data.train, "set_epoch")
                                         or getattr(self.data.train, "shares_epoch", False))
        if self.loader is None or not keep:
            self.loader = DataLoader(self.data.train, batch_size=tcfg.batch_size, drop_last=self.drop_last,
                                     sampler=SkipSampler(self.sampler, 0), collate_fn=self.data.collate_fn,
                                     num_workers=tcfg.num_workers, worker_init_fn=seed_worker,
                                     generator=self.loader_gen, pin_memory=self.device.type == "cuda",
                                     persistent_workers=keep)
        self.loader.sampler.skip = progress.step * tcfg.batch_size * micro  # (a resumed epoch's done batches)
        loader = self.loader
        bar = tqdm(loader, total=self.steps_per_epoch * micro, initial=progress.step * micro,
                   desc=f"epoch {epoch + 1}/{tcfg.epochs}", leave=False, disable=None if self.env.is_main else True)
        pending: list[Any] = []
        try:
            for batch in bar:
                pending.append(batch)
                if len(pending) < micro:
                    continue
                self._step(pending)
                pending = []
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
                    log(f"time budget of {tcfg.max_minutes:g} min reached at epoch {epoch + 1}, step "
                        f"{progress.step}; stopping (resume with --resume {self.run_path}/last.pt)", self.env)
                    return False
                if progress.step == self.steps_per_epoch:  # micro-batches short of a whole step: left out
                    break
        finally:
            bar.close()
        return True

    def _set_frozen(self, epoch: int) -> bool:
        """Freeze the backbone in the first ``model.freeze_epochs`` epochs and unfreeze it
        after (``transfer.set_backbone_frozen``); the state follows from ``epoch`` alone, so
        a resumed run is exact. Returns whether it changed."""
        frozen = transfer.frozen_at(self.cfg.model, epoch)
        if frozen == self.frozen:
            return False
        transfer.set_backbone_frozen(self.raw, frozen)
        self.frozen = frozen
        log(f"epoch {epoch + 1}: backbone frozen (BatchNorm in eval mode), the head trains until epoch "
            f"{self.cfg.model.freeze_epochs}" if frozen else f"epoch {epoch + 1}: backbone unfrozen", self.env)
        return True

    def _step(self, batches: list[Any]) -> None:
        """One optimizer step on ``batches`` (``train_step``: ``train.accumulate_steps``
        micro-batches), then the schedule and the progress."""
        loss = train_step(self.task, self.train_model, batches[0], self.optimizer, self.scaler, self.placement,
                          self.tcfg.clip_grad_norm, self.augment, batches[1:])
        self.losses.add(loss, self.progress.step + 1)
        self.step_lr = self.optimizer.param_groups[0]["lr"]
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
                          f"{where}; continue with: {self.task.command()} train --resume {where}",
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
            log(f"epoch {epoch + 1} step {self.progress.step}/{self.steps_per_epoch} loss {total / count:.4f}",
                self.env)
        if count and self.loggers:
            self.loggers.step(self._global_step(), epoch + 1, {"loss": total / count, "lr": float(self.step_lr)})

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
        last = epoch + 1 == tcfg.epochs or not self.trainable  # nothing to train: one epoch is the run
        distributed.broadcast_buffers(self.raw, self.env)
        val: dict = {}
        improved = False
        if last or (epoch + 1) % tcfg.eval_every == 0:
            val, collected = evaluate_split(self.task, self.raw, self.data.val, self.data, self.device, tcfg,
                                            self.env, desc="val")
            self.epoch_state = self.task.derive_state(collected, self.data.val)
            improved = self._update_best(val, epoch)
        self._report_skipped(epoch)
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
        self.steps_before += progress.step
        progress.epoch, progress.step, progress.loss_sum, progress.loss_count = epoch + 1, 0, 0.0, 0
        if improved:
            self.pending_best = _detached(self._snapshot())
        if last or (tcfg.save_every and (epoch + 1) % tcfg.save_every == 0):
            self._save_last()
        if self.env.is_main:
            with self._writing(self.run_path / "metrics.jsonl"):
                rundir.append_line(self.run_path / "metrics.jsonl", json.dumps(progress.history[-1]))
        self.loggers.epoch(epoch + 1, self._global_step(), progress.history[-1])
        log(_epoch_line(progress.history[-1], tcfg.epochs, self.monitor, improved), self.env)
        if self._stop_requested(True) and not last:
            if self.saved_at != (progress.epoch, 0) or self.pending_best is not None:
                self._save_last()
            self._interrupted()
        if tcfg.patience and progress.bad_epochs >= tcfg.patience:
            log(f"early stopping: no better val {self.monitor} for {tcfg.patience} evaluations "
                f"(best {progress.best['value']:.4f} at epoch {progress.best['epoch']})", self.env)
            return True
        return not self.trainable

    def _report_skipped(self, epoch: int, splits: tuple[str, ...] = ("train", "val")) -> None:
        """Files of the training and validation splits found unreadable this epoch (data
        read lazily: ``convkit.data.lazy.LazyFiles.take_skipped``), gathered from every
        rank so each reports and decides the same: one line naming them, kept in
        ``Data.info.skipped_files`` when the task records one (``skipped_files.txt``), and
        a DataError once more than ``data.max_skipped`` of a split was skipped."""
        limit = getattr(self.cfg.data, "max_skipped", 0.01)
        names = {"train": "training", "val": "validation", "test": "test"}
        for split, dataset in ((names[s], getattr(self.data, s)) for s in splits):
            if not hasattr(dataset, "take_skipped"):
                continue
            found = dict(pair for part in distributed.gather_objects(dataset.take_skipped(), self.env)
                         for pair in part)
            if not found:
                continue
            seen = self.skipped_lazily.setdefault(split, {})
            new = [found[i] for i in sorted(found) if i not in seen]
            seen.update(found)
            if not new:
                continue
            log(summarize_skipped(new, f"epoch {epoch + 1}, {split} data" if epoch >= 0 else f"{split} data"),
                self.env)
            recorded = getattr(self.data.info, "skipped_files", None)
            if isinstance(recorded, list):
                recorded.extend(m for m in new if m not in recorded)
            if epoch >= 0 and (len(seen) > limit * len(dataset) or (self.cfg.data.strict and seen)):
                first = seen[min(seen)]
                raise DataError(f"{len(seen)} of {len(dataset)} {split} files ({len(seen) / len(dataset):.1%}) could "
                                f"not be read, more than data.max_skipped={limit:g}"
                                + (" (data.strict=true)" if self.cfg.data.strict else "")
                                + f"; first: {first}; fix or remove them, or raise data.max_skipped")

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
        p = self.progress
        # the epoch's training losses so far, of every rank (a resumed rank 0 carries them all)
        loss_sum, loss_count = distributed.sum_floats([p.loss_sum, float(p.loss_count)], self.env, self.device)
        if not self.env.is_main:
            return None
        return {
            "format": checkpoints.FORMAT, "task": self.task.name, "task_ref": plugins.reference_of(self.task),
            "model": self.raw.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "epoch": p.epoch, "step": p.step,
            "steps_per_epoch": self.steps_per_epoch, "world_size": self.env.world_size,
            "rng": rngs, "config": config_io.to_dict(self.cfg), "data": self.data.spec(),
            "model_name": self.model_name, "params": self.params, "history": p.history, "best": p.best,
            "bad_epochs": p.bad_epochs, "loss_sum": loss_sum, "loss_count": int(loss_count),
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
        self.loggers.checkpoint(self._global_step())

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
        self._report_skipped(-1, ("test",))  # (reported only: the model is trained)
        metrics = {"task": self.task.name, "model": self.model_name, "params": self.params,
                   "train_seconds": round(progress.train_seconds, 2), "val": progress.best["val"], "test": test,
                   "baselines": self.baselines}
        if env.is_main:
            self._plots(collected, metrics)
            self.loggers.end(self._global_step(), metrics)
            self.loggers.close()
            with self._writing(self.run_path / "metrics.json"):
                rundir.write_text_atomic(self.run_path / "metrics.json", json.dumps(metrics) + "\n")
            summary = ", ".join(f"{k} {v:.4f}" for k, v in to_float_dict(test).items())
            log(f"test: {summary}; wrote {self.run_path}", env)
        distributed.barrier(env)
        return FitResult(self.raw, metrics, self.run_path, task_state)

    def _plots(self, collected: dict, metrics: dict) -> None:
        """``curves.png``, the task's plots and its files from the final ``metrics``. They
        are written in place, not atomically: when the disk fills, every file they wrote or
        changed is removed again (a run resumed from its last checkpoint writes them anew)."""
        with rundir.undone_on_disk_full(self.run_path):
            if self.progress.history:
                with self._writing(self.run_path / "curves.png"):
                    plot_curves(self.progress.history, self.run_path / "curves.png", self.monitor)
            with self._writing(f"the plots in {self.run_path}"):
                self.task.plots(self.run_path, collected, self.data)
                self.task.write_run_files(self.run_path, metrics)


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
