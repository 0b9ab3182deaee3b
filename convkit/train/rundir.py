"""The run folder: where it is, who holds it, and how its files are written::

    runs/<task>/<run-name>/config.toml  metrics.jsonl  metrics.json  best.pt  last.pt
                           curves.png   (+ the task's own plots)

* :func:`new_run_dir` names and makes the folder (``train.name``, or ``<model>-<timestamp>``);
* one process trains in a folder at a time: it holds an OS lock on :data:`LOCK_FILE`
  there (:func:`lock_run_dir`; under DDP rank 0 holds it, and only rank 0 writes files);
* files are written whole or not at all: :func:`write_text_atomic` (temporary file,
  fsync, rename) and :func:`append_line` (a failed append is cut off again);
* a full disk (or quota) while writing any of them is one line naming the file and what
  is safe (:func:`disk_full_error`, :func:`reporting_disk_full`); plots, written in
  place, are removed again (:func:`undone_on_disk_full`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from convkit.config import RunConfig
from convkit.errors import ConfigError, DiskFullError
from convkit.train import checkpoint as checkpoints
from convkit.train.task import Task

try:
    import fcntl
except ImportError:  # Windows has no flock: run folders are not locked there (lock_run_dir does nothing)
    fcntl = None  # type: ignore[assignment]


# --------------------------------------------------------------------------- the folder


def new_run_dir(task: Task, cfg: RunConfig, out_dir: str | Path) -> Path:
    """``<out>/runs/<task>/<run-name>``, created. The name is ``train.name`` (refused if
    that folder already holds files) or ``<model>-<timestamp>`` (made unique; a model
    class's import path ``module:Class`` gives ``Class``)."""
    base = Path(out_dir) / "runs" / task.name
    if cfg.train.name:
        path = base / cfg.train.name
        if path.exists() and any(path.iterdir()):
            with contextlib.suppress(OSError):  # a process training there: say which (else it is a finished run)
                lock_run_dir(path).release()
            raise ConfigError(f"{path}: the run folder already exists; choose another train.name "
                              f"or continue it with --resume {path / 'last.pt'}")
        make_dir(path, "the run folder (--out)")
        return path
    make_dir(base, "the run folder (--out)")
    model = (cfg.model.name or task.default_model).rpartition(":")[2].rpartition(".")[2]  # a class path: its name
    stem = f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
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


def check_can_create(path: Path, what: str) -> None:
    """ConfigError unless ``path`` is, or can be created as, a writable folder."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{path}: cannot create {what} ({existing} is a file, not a folder)")
    if not os.access(existing, os.W_OK):
        raise ConfigError(f"{path}: cannot create {what} ({existing} is not writable)")


def make_dir(path: Path, what: str) -> None:
    """``mkdir -p`` with one clear line when it cannot be made or written (a file in the
    way, no permission)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{path}: cannot create {what} ({err.strerror or err})") from None
    if not os.access(path, os.W_OK):
        raise ConfigError(f"{path}: cannot write {what} (permission denied)")


def remove_stale_temp_files(folder: Path) -> None:
    """Remove the half-written temporary files (``.*.tmp``) a killed run left in ``folder``."""
    for stale in folder.glob(".*.tmp"):
        stale.unlink()


# --------------------------------------------------------------------------- the lock


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


def lock_to_resume(checkpoint: Path) -> RunLock:
    """``lock_run_dir`` on the folder of the checkpoint a run resumes (a full disk is one
    line: the checkpoint is unchanged)."""
    with reporting_disk_full(checkpoint.parent / LOCK_FILE,
                             lambda: f"{checkpoint} is unchanged; free some space and resume again"):
        return lock_run_dir(checkpoint.parent)


# --------------------------------------------------------------------------- writing files


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


@contextlib.contextmanager
def reporting_disk_full(what: str | Path, kept: Callable[[], str]) -> Iterator[None]:
    """Turn a full disk while writing ``what`` into ``disk_full_error`` (``kept()`` says
    what is safe, asked when it happens); other errors pass unchanged."""
    try:
        yield
    except OSError as err:
        if not checkpoints.is_disk_full(err):
            raise
        raise disk_full_error(err, what, kept()) from None


@contextlib.contextmanager
def undone_on_disk_full(folder: Path) -> Iterator[None]:
    """For files written in place (plots): when the block ends in ``DiskFullError``, every
    file of ``folder`` it wrote or changed is removed again."""
    before = _listing(folder)
    try:
        yield
    except DiskFullError:
        for name, stat in _listing(folder).items():
            if before.get(name) != stat:
                with contextlib.suppress(OSError):
                    (folder / name).unlink()
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
