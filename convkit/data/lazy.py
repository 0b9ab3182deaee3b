"""Data larger than memory: files indexed once, decoded per item in DataLoader workers.

A task that reads one file per example lists its files (a class folder, a manifest, a
label pattern), reads what it must know of each before training from its header only
(:func:`index_files`: e.g. an image's size and colour), and hands :class:`LazyFiles` a
decode function; item ``i`` is then decoded when a batch asks for it, in the main process
or in ``train.num_workers`` DataLoader workers, so memory does not grow with the data.

* **The index is cached** under ``cache_dir("index")`` (one JSON file per listing), keyed
  by the kind of header read and every file's path, size and modification time: a
  changed, added or removed file makes a new index. The ranks of one machine share it:
  the first to need it builds it under a file lock, the others wait and read it.
* **Randomness per item** comes from ``(seed, epoch, index)`` (:func:`item_rng`), never
  from a worker's state, so a run is bit-identical at any worker count; ``set_epoch``
  (which the engine calls before each training epoch) reaches workers started before it
  through a shared-memory value.
* **Bad files met lazily** (a file whose header read but whose data does not decode) are
  skipped, not fatal: the item comes back as :class:`Skipped`, :func:`collate_readable`
  leaves it out of its batch, and the file is flagged in shared memory, so the main
  process knows every file its workers skipped. The engine reports them at the end of
  each epoch (:meth:`LazyFiles.take_skipped`, the same on every rank) and stops with one
  line once more than ``data.max_skipped`` of a split was skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset, default_collate, get_worker_info

from convkit.data.cache import cache_dir
from convkit.errors import DataError

INDEX_FORMAT = 1
"""Version of the cached index files (a different version is rebuilt)."""


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random generator of item ``index`` in ``epoch`` of a run seeded ``seed``: the
    same in any process, so what an item draws (a clip's window, a point subset) does not
    depend on which worker decodes it."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


# --------------------------------------------------------------------------- the index


def _listing_key(files: Sequence[Path], kind: str) -> str:
    """A digest of ``kind`` and every file's path, size and modification time."""
    digest = hashlib.sha256(f"{INDEX_FORMAT}\0{kind}\0".encode())
    for file in files:
        try:
            stat = os.stat(file)
            digest.update(f"{file}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{file}\0missing\n".encode())
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (``fcntl.flock``) while the block runs: one process
    of a machine builds an index, the others wait for it."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def index_files(files: Sequence[Path], read_header: Callable[[Path], Any], kind: str, skipped: list[str],
                strict: bool = False) -> tuple[list[Any], list[int]]:
    """What ``read_header`` says of each file (a JSON-able value, e.g. ``[channels, height,
    width]``), read once and cached under ``cache_dir("index")`` by ``kind`` and the files'
    paths, sizes and modification times.

    Has the signature of ``convkit.data.manifest``'s decode functions (``skipped`` and
    the returned ``kept`` positions), so a listing can be indexed instead of decoded.

    Args:
        files: the files, in order.
        read_header: a file -> its header value; raises DataError for a file that cannot
            be used (the message names the file).
        kind: what ``read_header`` reads (part of the cache key, e.g. ``"image-header"``).
        skipped: a file that cannot be used appends its message here.
        strict: a file that cannot be used raises its DataError instead.

    Returns:
        ``(headers of the usable files, their positions in files)``.
    """
    files = [Path(f) for f in files]
    key = _listing_key(files, kind)
    folder = cache_dir("index")
    cached = folder / f"{kind}-{key[:32]}.json"
    entries = _read_index(cached, len(files))
    if entries is None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock: contextlib.AbstractContextManager = _locked(folder / f"{kind}-{key[:32]}.lock")
        except OSError:  # a read-only cache: index without keeping it
            lock = contextlib.nullcontext()
        with lock:
            entries = _read_index(cached, len(files))  # another process may have built it meanwhile
            if entries is None:
                entries = []
                for file in files:
                    try:
                        entries.append([read_header(file), None])
                    except DataError as err:
                        entries.append([None, str(err)])
                _write_index(cached, entries)
    headers, kept = [], []
    for position, (header, error) in enumerate(entries):
        if error is not None:
            if strict:
                raise DataError(error)
            skipped.append(error)
            continue
        headers.append(header)
        kept.append(position)
    return headers, kept


def _read_index(path: Path, count: int) -> list | None:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("format") != INDEX_FORMAT or len(stored.get("entries", ())) != count:
        return None
    return stored["entries"]


def _write_index(path: Path, entries: list) -> None:
    """Write the index whole (a temporary file renamed over it); a cache that cannot be
    written is left alone (the index is rebuilt next time)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps({"format": INDEX_FORMAT, "entries": entries}), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the dataset


@dataclass(frozen=True)
class Skipped:
    """What :class:`LazyFiles` returns for a file it could not decode: its position, and a
    readable ``stand_in`` item (the next readable one) for a batch that would otherwise
    be empty (:func:`collate_readable`)."""

    index: int
    stand_in: Any = None


def collate_readable(batch: list[Any], collate: Callable[[list[Any]], Any] = default_collate) -> Any:
    """``collate`` over the items of ``batch`` that are not :class:`Skipped`; a batch of
    skipped items only becomes the batch of the first one's stand-in (so a step never has
    no data)."""
    items = [item for item in batch if not isinstance(item, Skipped)]
    if not items:
        items = [batch[0].stand_in]
    return collate(items)


class LazyFiles(Dataset):
    """Item ``i`` = ``(transform(decode(files[i], rng)), labels[i])``, decoded when asked.
    ``set_epoch`` reaches loader workers started earlier (``shares_epoch``: the engine
    keeps its workers across epochs).

    Args:
        files: the files, one per example.
        labels: int64 ``[N]``, one per file.
        decode: ``(file, rng) -> item`` (e.g. an image ``[C, H, W]``); ``rng`` is
            :func:`item_rng` of (``seed``, the epoch, ``i``). Raises DataError for a file
            it cannot use; the item is then :class:`Skipped` (``strict``: the error).
        seed: the run's seed.
        item_shape: the shape every decoded item has (what the model takes), if known.
        strict: a file that fails to decode raises instead of being skipped (in a loader
            worker it is flagged, and the engine's report at the epoch's end raises).
        transform: applied to every decoded item (e.g. a per-channel normalisation).
    """

    def __init__(self, files: Sequence[str | Path], labels: np.ndarray, decode: Callable[[Path, np.random.Generator],
                 Any], seed: int = 0, item_shape: tuple[int, ...] | None = None, strict: bool = False,
                 transform: Callable[[Any], Any] | None = None) -> None:
        self.files = [str(f) for f in files]
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        if len(self.labels) != len(self.files):
            raise ValueError(f"LazyFiles: {len(self.files)} files but {len(self.labels)} labels")
        self.decode, self.seed, self.item_shape, self.strict = decode, seed, item_shape, strict
        self.transform = transform
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()
        self._bad = torch.zeros(len(self.files), dtype=torch.bool).share_memory_()
        self._reported = np.zeros(len(self.files), dtype=bool)

    shares_epoch = True

    def __len__(self) -> int:
        return len(self.files)

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next items are drawn for (:func:`item_rng`)."""
        self._epoch[0] = int(epoch)

    def with_transform(self, transform: Callable[[Any], Any]) -> "LazyFiles":
        """The same files with ``transform`` applied after the current one."""
        previous = self.transform
        chained = transform if previous is None else _Chain(previous, transform)
        return LazyFiles(self.files, self.labels.numpy(), self.decode, self.seed, self.item_shape, self.strict, chained)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "LazyFiles":
        """The items at ``indices`` as their own dataset."""
        keep = [int(i) for i in indices]
        return LazyFiles([self.files[i] for i in keep], self.labels.numpy()[keep], self.decode, self.seed,
                         self.item_shape, self.strict, self.transform)

    def load(self, index: int) -> Any:
        """Item ``index``, decoded and transformed; DataError if its file cannot be used."""
        rng = item_rng(self.seed, int(self._epoch[0]), index)
        item = self.decode(Path(self.files[index]), rng)
        if self.transform is not None:
            item = self.transform(item)
        return item, self.labels[index]

    def __getitem__(self, index: int) -> Any:
        try:
            return self.load(index)
        except DataError:
            if self.strict and get_worker_info() is None:
                raise
            self._bad[index] = True  # (strict, in a worker: the epoch's report stops the run)
        for step in range(1, min(len(self.files), 64)):  # a stand-in: the next readable item
            other = (index + step) % len(self.files)
            try:
                return Skipped(index, self.load(other))
            except DataError:
                self._bad[other] = True
        raise DataError(f"{self.files[index]}: could not be decoded, nor the 63 files after it")

    def take_skipped(self) -> list[tuple[int, str]]:
        """The files skipped since the last call (in any worker), as ``(index, "<path>:
        <reason>")`` in index order; each is reported once."""
        new = np.flatnonzero(self._bad.numpy() & ~self._reported)
        self._reported[new] = True
        found = []
        for index in new.tolist():
            try:
                self.load(index)
                reason = f"{self.files[index]}: could not be decoded once"
            except DataError as err:
                reason = str(err)
            found.append((index, reason))
        return found

    def skipped_count(self) -> int:
        """How many of the files were skipped so far."""
        return int(self._bad.sum())


class _Chain:
    """``second(first(x))``, picklable (DataLoader workers may be spawned)."""

    def __init__(self, first: Callable[[Any], Any], second: Callable[[Any], Any]) -> None:
        self.first, self.second = first, second

    def __call__(self, item: Any) -> Any:
        return self.second(self.first(item))


def materialize(dataset: Dataset, indices: Sequence[int] | np.ndarray | None = None,
                collate: Callable[[list[Any]], Any] = default_collate) -> TensorDataset:
    """The readable items of ``dataset`` (those at ``indices``; None: all) decoded into one
    ``TensorDataset`` (e.g. for a baseline fitted on pixels): explicit, for small sets."""
    if isinstance(dataset, TensorDataset) and indices is None:
        return dataset
    chosen = range(len(dataset)) if indices is None else [int(i) for i in indices]
    items = [item for item in (dataset[i] for i in chosen) if not isinstance(item, Skipped)]
    if not items:
        raise DataError("none of the chosen files could be decoded")
    return TensorDataset(*collate(items))
