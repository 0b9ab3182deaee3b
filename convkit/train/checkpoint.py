"""Checkpoints: written atomically with a sha256 digest, loaded with
``torch.load(weights_only=True)`` after the digest is checked.

A checkpoint is a dict of tensors and plain Python values only (no pickled objects),
so loading one cannot run code. Keys written by the engine::

    format, task, task_ref (the task's import path module:attr, or None), model (state
    dict of the unwrapped, uncompiled module), optimizer,
    scheduler, scaler, epoch, step, rng, config, data (Data.spec()), params,
    history, best, bad_epochs, loss_sum, loss_count, train_seconds, baselines

A model from outside convkit is named in the config by its class's import path
(``model.name = "module:Class"``); rebuilding it (``convkit.train.inference.build_model``)
imports that module by name from ``sys.path``, as ``import`` would, and calls nothing but
an ``nn.Module`` subclass (``convkit.models.model_class``).

``epoch``/``step`` say where training resumes: ``step`` optimizer steps of epoch
``epoch`` (0-based) are done (``step == 0``: the epoch has not started).

The file is exactly what ``torch.save`` writes (a zip archive), with the sha256 digest
of those bytes in the archive's comment (``convkit-sha256:<hex>``), so it cannot be
separated from them and ``torch.load`` still reads the file as it is. Format 2 carries
the digest and ``load_checkpoint`` refuses a file whose bytes do not match it; format-1
files (written before the digest existed) still load, unchecked.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import os
import pickle
import random
import secrets
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import torch

from convkit.errors import CheckpointError

FORMAT = 2
"""Version of the checkpoint layout (2: with the sha256 digest; 1: without, still read)."""

DIGEST_TAG = b"convkit-sha256:"
"""How the archive comment holding a checkpoint's digest begins (64 hex digits follow)."""

_COMMENT_SIZE = len(DIGEST_TAG) + 64
_EOCD = b"PK\x05\x06"  # a zip archive's end record: 22 bytes, the last two the comment's length
_EOCD_SIZE = 22

DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
"""``OSError.errno`` values that mean the disk (or the user's quota) is full."""


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` is an OSError saying the disk or the disk quota is full."""
    return isinstance(err, OSError) and err.errno in DISK_FULL


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[IO[bytes]]:
    """Write ``path`` atomically: yields a binary file on a temporary file beside it,
    unique to this writer (``.<name>.<random>.tmp``, so two writers never share one),
    which is flushed, fsynced and renamed over ``path`` when the block ends. On any error
    (a full disk, a kill signal) the temporary file is removed and ``path`` is left as it
    was."""
    path = Path(path)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            f = open(tmp, "xb")  # exclusive: never another writer's file
            break
        except FileExistsError:
            continue
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


class _DigestWriter:
    """What ``torch.save`` writes to: passes the bytes on to a file, hashing them and
    keeping the last few (the zip end record), and remembers an OSError of the file's
    write, which torch re-raises as a RuntimeError."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f, self.sha256, self.tail, self.error = f, hashlib.sha256(), b"", None

    def write(self, data: bytes) -> int:
        try:
            self.f.write(data)
        except OSError as err:
            self.error = err
            raise
        self.sha256.update(data)
        self.tail = (self.tail + bytes(memoryview(data)[-_EOCD_SIZE:]))[-_EOCD_SIZE:]  # no copy of the data
        return len(data)

    def flush(self) -> None:
        try:
            self.f.flush()
        except OSError as err:
            self.error = err
            raise


def save_checkpoint(state: dict, path: str | Path) -> None:
    """Write ``state`` to ``path`` atomically (``atomic_file``: a kill or a full disk
    leaves the old file whole and no temporary file), with the sha256 digest of the
    serialized bytes in the zip archive's comment.

    Raises:
        OSError: the write failed (e.g. ``is_disk_full``); ``path`` is unchanged.
    """
    with atomic_file(path) as f:
        out = _DigestWriter(f)
        try:
            torch.save(state, out)
        except BaseException:
            if out.error is not None:  # the file's own error, not torch's wrapping of it
                raise out.error from None
            raise
        if not (out.tail[:4] == _EOCD and out.tail[-2:] == b"\0\0"):
            raise RuntimeError(f"{path}: torch.save did not end the archive with a comment-less zip end record; "
                               f"this torch version is not supported by convkit's checkpoint digest")
        comment = DIGEST_TAG + out.sha256.hexdigest().encode("ascii")
        f.seek(-2, os.SEEK_END)
        f.write(len(comment).to_bytes(2, "little") + comment)


def _digest_matches(path: Path) -> bool | None:
    """Whether the file's bytes match the digest in its archive comment; None when it
    has no such comment (a format-1 checkpoint, or not a convkit one)."""
    size = path.stat().st_size
    payload = size - _COMMENT_SIZE - 2  # torch.save's bytes, less the comment length (0 when written)
    if payload < _EOCD_SIZE - 2:
        return None
    with open(path, "rb") as f:
        f.seek(payload - (_EOCD_SIZE - 2))
        end = f.read()
        if end[:4] != _EOCD or end[_EOCD_SIZE - 2:_EOCD_SIZE] != _COMMENT_SIZE.to_bytes(2, "little") \
                or not end[_EOCD_SIZE:].startswith(DIGEST_TAG):
            return None
        sha256, left = hashlib.sha256(), payload
        f.seek(0)
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                return False
            sha256.update(chunk)
            left -= len(chunk)
    sha256.update(b"\0\0")
    return hmac.compare_digest(sha256.hexdigest().encode("ascii"), end[_EOCD_SIZE + len(DIGEST_TAG):])


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
        CheckpointError: missing, damaged (its bytes do not match its digest) or corrupt
            file, a file that needs pickled code, not a convkit checkpoint, or one from
            another task.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: a folder, not a checkpoint file (expected e.g. {path / 'best.pt'})")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    digest = _digest_matches(path)
    if digest is False:
        raise CheckpointError(f"{path}: damaged: its bytes do not match the sha256 digest saved with them (the file "
                              f"changed after it was written); use another checkpoint of the run or train again")
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
    if state["format"] >= 2 and digest is None:
        raise CheckpointError(f"{path}: damaged: a format-{state['format']} checkpoint with no sha256 digest at its "
                              f"end (the file was cut or rewritten); use another checkpoint of the run or train again")
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

