"""Sharded streaming: a dataset as WebDataset-style tar shards, read as a stream.

Why tar (WebDataset's layout): a shard is one sequential read (local disk, object stores,
HTTP) with no index to seek, written and read by Python's ``tarfile`` and every ``tar``, and
the files inside are the original encoded files (a PNG stays a PNG), so nothing is decoded
or re-encoded to shard; the ``webdataset`` package reads these shards as they are.

Layout written by :func:`write_shards` (``python -m convkit.tasks.<task> shard --data PATH
--out DIR``)::

    DIR/shards.json                     {"format", "label_names", "splits": {split: [[shard, count], ...]}}
    DIR/<split>/shard-000000.tar        <key>.<ext> (the example's file) and <key>.cls (its label index)

:class:`ShardStream` reads a split as an ``IterableDataset`` from a local folder or any
fsspec URL (``s3://``, ``gs://``, ``https://``...): each (rank, loader worker) pair reads
its own shards (the epoch's shard order from (seed, epoch)), or, when there are fewer
shards than readers, every reader reads every shard and keeps every n-th example, so each
example is read exactly once per epoch across ranks and workers.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from convkit.errors import DataError

SHARDS_FILE = "shards.json"
"""The file that describes a shard folder."""

FORMAT = 1
"""Version of :data:`SHARDS_FILE`."""

PER_SHARD = 10_000
"""Examples per shard :func:`write_shards` writes by default."""


def write_shards(out: str | Path, splits: dict[str, Iterable[tuple[str, int]]], label_names: Sequence[str],
                 per_shard: int = PER_SHARD) -> dict:
    """Write each split's example files into tar shards under ``out/<split>/``.

    Args:
        out: the shard folder (created; a folder that already holds shards is refused).
        splits: ``{split: [(file, label index), ...]}``; each file is stored as it is.
        label_names: the class names the label indices index.
        per_shard: examples per shard.

    Returns:
        The contents written to ``out/shards.json``.
    """
    root = Path(out)
    if (root / SHARDS_FILE).exists():
        raise DataError(f"{root}: already holds shards ({SHARDS_FILE}); choose another --out")
    described: dict[str, list[list[Any]]] = {}
    for split, items in splits.items():
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        described[split] = []
        tar, count, key = None, 0, 0
        for file, label in items:
            if tar is None:
                name = f"shard-{len(described[split]):06d}.tar"
                tar = tarfile.open(folder / name, "w")
            suffix = Path(file).suffix.lower() or ".bin"
            _add(tar, f"{key:09d}{suffix}", Path(file).read_bytes())
            _add(tar, f"{key:09d}.cls", str(int(label)).encode())
            key, count = key + 1, count + 1
            if count == per_shard:
                tar.close()
                described[split].append([name, count])
                tar, count = None, 0
        if tar is not None:
            tar.close()
            described[split].append([name, count])
    index = {"format": FORMAT, "label_names": list(label_names), "splits": described}
    (root / SHARDS_FILE).write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return index


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def read_index(root: str) -> dict:
    """``shards.json`` of a shard folder or URL; DataError when there is none."""
    try:
        with _open(_join(root, SHARDS_FILE)) as stream:
            index = json.loads(stream.read().decode("utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"{root}: not a shard folder ({SHARDS_FILE} unreadable: {err})") from None
    if index.get("format") != FORMAT:
        raise DataError(f"{_join(root, SHARDS_FILE)}: format {index.get('format')!r}; expected {FORMAT}")
    return index


def _join(root: str, name: str) -> str:
    return f"{root.rstrip('/')}/{name}"


def _open(url: str) -> IO[bytes]:
    """A local file, or any fsspec URL (``scheme://...``)."""
    if "://" not in url or url.startswith("file://"):
        return open(url.removeprefix("file://"), "rb")
    import fsspec

    return fsspec.open(url, "rb").open()


class ShardStream(IterableDataset):
    """The examples of one split of a shard folder, streamed: ``(decode(file bytes, ext,
    rng), label)`` per example, each exactly once per epoch across ``world_size`` ranks and
    their loader workers.

    Args:
        root: the shard folder (a path or an fsspec URL).
        split: ``train``, ``val`` or ``test``.
        decode: ``(data: bytes, ext: str, rng) -> input``; ``rng`` from (seed, epoch,
            the example's position in the split).
        rank, world_size: this process's place among the ranks.
        seed: the epoch's shard order comes from (seed, epoch).
        shuffle: shuffle the shard order each epoch.
    """

    def __init__(self, root: str | Path, split: str, decode: Callable[[bytes, str, np.random.Generator], Any],
                 rank: int = 0, world_size: int = 1, seed: int = 0, shuffle: bool = True) -> None:
        self.root, self.split, self.decode = str(root), split, decode
        self.rank, self.world_size, self.seed, self.shuffle = rank, world_size, seed, shuffle
        index = read_index(self.root)
        if split not in index["splits"]:
            raise DataError(f"{self.root}: has no {split} shards (it has {', '.join(index['splits'])})")
        self.shards = [(_join(_join(self.root, split), name), int(count)) for name, count in index["splits"][split]]
        self.starts = np.cumsum([0] + [c for _, c in self.shards])[:-1].tolist()
        self.label_names = list(index["label_names"])
        self.epoch = 0

    def __len__(self) -> int:
        return sum(c for _, c in self.shards)

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next pass reads (its shard order and per-example randomness)."""
        self.epoch = int(epoch)

    def _reader(self) -> tuple[int, int]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        return self.rank * workers + worker, self.world_size * workers

    def __iter__(self) -> Iterator[tuple[Any, torch.Tensor]]:
        reader, readers = self._reader()
        order = list(range(len(self.shards)))
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.shards)).tolist()
        if len(self.shards) >= readers:  # whole shards per reader
            for shard in order[reader::readers]:
                yield from self._examples(shard, None, 1)
        else:  # fewer shards than readers: every reader reads all, keeps every n-th example
            for shard in order:
                yield from self._examples(shard, reader, readers)

    def _examples(self, shard: int, keep: int | None, every: int) -> Iterator[tuple[Any, torch.Tensor]]:
        url, _ = self.shards[shard]
        pending: dict[str, dict[str, bytes]] = {}
        position = self.starts[shard]
        try:
            with _open(url) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    if not member.isfile():
                        continue
                    key, _, ext = member.name.partition(".")
                    pending.setdefault(key, {})[ext] = tar.extractfile(member).read()
                    sample = pending[key]
                    if "cls" not in sample or len(sample) < 2:
                        continue
                    del pending[key]
                    if keep is None or position % every == keep:
                        ext = next(e for e in sample if e != "cls")
                        rng = np.random.default_rng([self.seed, self.epoch, position])
                        yield self.decode(sample[ext], ext, rng), torch.tensor(int(sample["cls"]))
                    position += 1
        except (OSError, tarfile.TarError) as err:
            raise DataError(f"{url}: unreadable shard ({err})") from None
