"""Resuming a run: the loop's resumable state, what a resumed run may change, and putting
a checkpoint back into a run.

Exact resume: each epoch's order comes from ``seed + epoch`` (DistributedSampler), the
loader's generator and every RNG state are checkpointed, and a resumed epoch skips the
batches already done, so a run killed mid-epoch and resumed ends with the same weights
and metrics as one left alone (on CPU, where kernels are deterministic).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from convkit import config as config_io
from convkit.config import RunConfig
from convkit.errors import CheckpointError, ConfigError
from convkit.train import checkpoint as checkpoints
from convkit.train.distributed import DistEnv, log

RESUMABLE_KEYS = frozenset({"train.epochs", "train.max_minutes", "train.patience", "train.log_every",
                            "train.checkpoint_every", "train.save_every", "train.eval_every", "train.device",
                            "train.num_workers", "train.threads", "train.baselines", "train.loggers",
                            "data.max_skipped"})
"""Config keys a resumed run may change (the rest would make the run's record false: the
optimizer, schedule, data and model continue as the checkpoint has them)."""


@dataclass
class Progress:
    """The loop's resumable state (saved in every checkpoint): ``step`` optimizer steps of
    epoch ``epoch`` (0-based) are done; the per-epoch ``history`` (metrics.jsonl's lines),
    the ``best`` validation so far (``{"epoch", "value", "val"}``), the evaluations since
    it (``bad_epochs``), the training loss summed over the epoch's steps so far and the
    training seconds."""

    epoch: int = 0
    step: int = 0
    history: list[dict] = field(default_factory=list)
    best: dict | None = None
    bad_epochs: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    train_seconds: float = 0.0

    @classmethod
    def from_checkpoint(cls, state: dict) -> "Progress":
        """The progress a checkpoint holds."""
        return cls(state["epoch"], state["step"], state["history"], state["best"], state["bad_epochs"],
                   state["loss_sum"], state["loss_count"], state["train_seconds"])


def check_resume_overrides(stored: dict, cfg: RunConfig, path: str | Path, env: DistEnv,
                           task_keys: frozenset[str] = frozenset()) -> None:
    """Log the keys ``cfg`` changes from the checkpoint's ``stored`` config that a resumed
    run may change (``RESUMABLE_KEYS`` and the task's ``task_keys``); refuse any other
    change with one line naming the key."""
    before, after = _flatten(stored), _flatten(config_io.to_dict(cfg))
    defaults = _defaults(cfg)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
                     and not (k not in before and k in defaults and after.get(k) == defaults[k]))
    for key in changed:
        if key not in RESUMABLE_KEYS | task_keys or (key == "train.epochs" and cfg.train.schedule == "onecycle"):
            raise ConfigError(f"--resume {path}: {key} cannot change when resuming ({before.get(key)!r} -> "
                              f"{after.get(key)!r}): the optimizer, schedule, data and model continue as the "
                              f"checkpoint has them; start a new run to change it")
    if changed:
        log("resuming with " + ", ".join(f"{k} {before.get(k)!r} -> {after.get(k)!r}" for k in changed), env)


def _defaults(cfg: RunConfig) -> dict:
    """The flattened defaults of ``cfg``'s config class: a key a checkpoint lacks (one
    added to convkit after it was written) is no change when the resumed run leaves it at
    its default, which is how the checkpoint's run behaved."""
    try:
        return _flatten(config_io.to_dict(type(cfg)()))
    except TypeError:  # a config class without defaults for every field
        return {}


def _flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and not (prefix == "model." and key == "options"):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def restore(state: dict, path: str | Path, *, model: nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler,
            loader_gen: torch.Generator, steps_per_epoch: int, env: DistEnv) -> Progress:
    """Put checkpoint ``state`` (read from ``path``) back into a run: the weights, the
    optimizer, schedule and loss scaler, this rank's RNG states and the loader's generator.
    Returns the progress to continue from.

    Raises:
        CheckpointError: written mid-epoch with another number of processes or steps per
            epoch, or weights that do not fit ``model``.
    """
    if state["step"] > 0 and (state["steps_per_epoch"] != steps_per_epoch or state["world_size"] != env.world_size):
        raise CheckpointError(
            f"{path}: written mid-epoch with {state['world_size']} process(es) and {state['steps_per_epoch']} "
            f"steps per epoch; resume with the same number of processes and train.batch_size")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: the weights do not fit the configured model "
                              f"({str(err).splitlines()[0]})") from None
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    progress = Progress.from_checkpoint(state)
    rng = state["rng"][env.rank % len(state["rng"])]
    checkpoints.set_rng_state(rng)
    loader_gen.set_state(rng["loader"])
    return progress


AUTO = "auto"
"""``--resume auto``: find the run folder and its ``last.pt`` again (:func:`auto_resume`)."""


def auto_resume(task_name: str, model_name: str, train_name: str, out_dir: str | Path) -> tuple[Path, Path | None]:
    """Where ``--resume auto`` trains: ``(run folder, its last.pt or None)``.

    The run folder is ``<out>/runs/<task>/<train.name>``; without a name, under torchrun
    (whose restarts keep ``TORCHELASTIC_RUN_ID``, the rendezvous id) ``<model>-<run id>``, so
    a restarted process finds the folder its first start made; else the newest folder of
    the task under ``out`` that holds a ``last.pt`` but no ``metrics.json`` (an unfinished
    run), or a new ``<model>-auto-<timestamp>`` folder. Every rank computes the same
    folder: the checkpoint exists there for all or for none.
    """
    base = Path(out_dir) / "runs" / task_name
    model = model_name.rpartition(":")[2].rpartition(".")[2]
    run_id = os.environ.get("TORCHELASTIC_RUN_ID", "")
    if train_name:
        folder = base / train_name
    elif run_id and run_id != "none":
        folder = base / f"{model}-{run_id}"
    else:
        unfinished = sorted((p for p in base.glob("*") if (p / "last.pt").is_file() and not (p / "metrics.json").exists()),
                            key=lambda p: (p / "last.pt").stat().st_mtime)
        folder = unfinished[-1] if unfinished else base / f"{model}-auto-{time.strftime('%Y%m%d-%H%M%S')}"
    last = folder / "last.pt"
    return folder, last if last.is_file() else None
