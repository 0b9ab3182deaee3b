"""Batches for the engine: samplers for resumable and sharded epochs, device transfer."""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import islice
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler


class SkipSampler(Sampler[int]):
    """The indices of ``sampler`` after the first ``skip`` (resuming mid-epoch: the
    epoch's order is the same, the batches already trained on are left out)."""

    def __init__(self, sampler: Sampler[int], skip: int) -> None:
        self.sampler, self.skip = sampler, skip

    def __iter__(self) -> Iterator[int]:
        return islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.skip, 0)  # type: ignore[arg-type]


class ShardSampler(Sampler[int]):
    """Rank ``rank``'s contiguous, unpadded block of ``range(n)`` for evaluation; the
    blocks of ranks 0..world-1 concatenated are ``range(n)`` exactly (no duplicates)."""

    def __init__(self, n: int, rank: int = 0, world_size: int = 1) -> None:
        base, extra = divmod(n, world_size)
        self.start = rank * base + min(rank, extra)
        self.stop = self.start + base + (1 if rank < extra else 0)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed numpy and ``random`` in a worker from its torch
    seed (which the loader derives from its seeded generator)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def move_to_device(batch: Any, device: torch.device, memory_format: torch.memory_format | None = None,
                   layout_ndim: int = 0) -> Any:
    """``batch`` with every tensor moved to ``device``, recursing into tuples, lists and
    dicts; other objects with a ``.to(device)`` method (e.g. torch_geometric ``Data``)
    are moved too. Floating tensors with ``layout_ndim`` dimensions (4 = ``[N, C, H, W]``,
    5 = ``[N, C, D, H, W]``) get ``memory_format`` (channels-last)."""
    if isinstance(batch, torch.Tensor):
        out = batch.to(device, non_blocking=True)
        if memory_format is not None and out.is_floating_point() and out.ndim == layout_ndim:
            out = out.contiguous(memory_format=memory_format)
        return out
    if isinstance(batch, dict):
        return {k: move_to_device(v, device, memory_format, layout_ndim) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(move_to_device(v, device, memory_format, layout_ndim) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device, memory_format, layout_ndim) for v in batch)
    if hasattr(batch, "to") and callable(batch.to):
        return batch.to(device)
    return batch
