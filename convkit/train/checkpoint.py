"""Checkpoints: written atomically, loaded with ``torch.load(weights_only=True)``.

A checkpoint is a dict of tensors and plain Python values only (no pickled objects),
so loading one cannot run code. Keys written by the engine::

    format, task, model (state dict of the unwrapped, uncompiled module), optimizer,
    scheduler, scaler, epoch, step, rng, config, data (Data.spec()), params,
    history, best, bad_epochs, loss_sum, loss_count, train_seconds, baselines

``epoch``/``step`` say where training resumes: ``step`` optimizer steps of epoch
``epoch`` (0-based) are done (``step == 0``: the epoch has not started).
"""

from __future__ import annotations

import os
import pickle
import random
import zipfile
from pathlib import Path

import numpy as np
import torch

from convkit.errors import CheckpointError

FORMAT = 1
"""Version of the checkpoint layout."""


def save_checkpoint(state: dict, path: str | Path) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder,
    flushed and fsynced, then renamed over ``path`` (a kill leaves the old file whole)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")  # one writer per run folder (rank 0); a killed write is overwritten
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(path.parent)


def fsync_dir(folder: str | Path) -> None:
    """fsync a folder so a rename in it survives a crash (no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path, task: str | None = None) -> dict:
    """Load a checkpoint safely (``weights_only=True``) onto the CPU.

    Args:
        path: the ``.pt`` file.
        task: the expected task name; a checkpoint of another task is refused.

    Raises:
        CheckpointError: missing or corrupt file, a file that needs pickled code, not a
            convkit checkpoint, or one from another task.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: a folder, not a checkpoint file (expected e.g. {path / 'best.pt'})")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
    if not is_zip:  # torch.save's format is a zip archive (a truncated one fails below)
        raise CheckpointError(f"{path}: {_what_it_is(path)}, not a convkit checkpoint (.pt from a training run)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: refused: loading it would run pickled code, which convkit "
                              f"checkpoints never need ({first})") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: "
                              f"{str(err).strip().splitlines()[0] if str(err).strip() else 'empty'})") from None
    if not isinstance(state, dict) or "format" not in state or "model" not in state:
        raise CheckpointError(f"{path}: not a convkit checkpoint (expected a dict with 'format' and 'model')")
    if state["format"] > FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {state['format']} is newer than this convkit "
                              f"reads ({FORMAT})")
    if task is not None and state.get("task") != task:
        raise CheckpointError(f"{path}: a checkpoint of the {state.get('task')!r} task, not {task!r}; "
                              f"use python -m convkit.tasks.{state.get('task')}")
    return state


TRAINING_KEYS = ("config", "data", "epoch", "step", "optimizer", "history")
"""What a checkpoint written by a training run holds besides ``format`` and ``model``."""


def load_training_checkpoint(path: str | Path, task: str | None = None) -> dict:
    """``load_checkpoint``, and refuse a file that is not from a training run (no run config,
    data spec or progress): one line naming what is missing."""
    state = load_checkpoint(path, task)
    missing = [key for key in TRAINING_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"{path}: not a convkit training checkpoint (it has no {', '.join(missing)}); "
                              f"use best.pt or last.pt from a run folder")
    return state


def _what_it_is(path: Path) -> str:
    """A few words on what a file that is not a zip archive is, for error messages."""
    head = path.read_bytes()[:4096] if path.stat().st_size else b""
    if not head:
        return "an empty file"
    if path.suffix.lower() == ".onnx" or (b"pytorch" in head[:200] and b"onnx" in head.lower()):
        return "an ONNX model (what export writes; it cannot be evaluated or resumed here)"
    try:
        head.decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return "an unrecognised binary file"


def rng_state() -> dict:
    """The global RNG states (python, numpy, torch CPU and CUDA) as plain values and tensors."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(mt), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    """Restore the global RNG states saved by ``rng_state``."""
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])

