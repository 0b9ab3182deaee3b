"""Multi-process training with ``torch.distributed``, read from torchrun's environment.

``torchrun --nproc_per_node=N -m convkit.tasks.<task> train`` sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; the engine then joins a process group (gloo on
CPU, NCCL on CUDA), wraps the model in DistributedDataParallel, and only rank 0
writes files. Without those variables everything here is a no-op for one process.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class DistEnv:
    """This process's place: ``rank`` of ``world_size``, ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """True when running with more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one process that writes files and prints."""
        return self.rank == 0


def log(message: str, env: DistEnv = DistEnv()) -> None:
    """Print ``message`` to stderr on rank 0 only (the one process that prints)."""
    if env.is_main:
        print(message, file=sys.stderr, flush=True)


def world_size_from_env() -> int:
    """``WORLD_SIZE`` as set by torchrun (1 when unset)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank_from_env() -> int:
    """``RANK`` as set by torchrun (0 when unset): this process's rank before the process
    group exists (e.g. to let rank 0 alone make the folder of several runs)."""
    return int(os.environ.get("RANK", "0"))


def init_distributed(device_type: str) -> DistEnv:
    """Join the process group torchrun describes (gloo for CPU, NCCL for CUDA); a single
    process gets ``DistEnv()`` and nothing is initialised."""
    if world_size_from_env() <= 1:
        return DistEnv()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        backend = "nccl" if device_type == "cuda" else "gloo"
        store = _start_store()
        if store is None:
            dist.init_process_group(backend=backend)
        else:
            dist.init_process_group(backend=backend, store=store, rank=rank_from_env(),
                                    world_size=world_size_from_env())
    return DistEnv(dist.get_rank(), dist.get_world_size(), local_rank)


def _start_store() -> dist.Store | None:
    """Under torchrun's agent store (``TORCHELASTIC_USE_AGENT_STORE``): the agent's store
    with a prefix every process of this start of the workers agrees on, else None
    (``env://``). torchrun prefixes the store by its own restart count, which differs
    between nodes when one node restarts its workers for a failure and another for the
    new membership; the processes would then read each other's addresses from the failed
    start and wait forever. Here each process counts itself in once per start, so the
    n-th start's processes share ``convkit/start<n>``."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() != "true":
        return None
    from datetime import timedelta

    agent = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                          timeout=timedelta(minutes=30))
    joined = agent.add("convkit/joined", 1)
    return dist.PrefixStore(f"convkit/start{(joined - 1) // world_size_from_env()}", agent)


def cleanup(env: DistEnv) -> None:
    """Leave the process group (after the last collective)."""
    if env.enabled and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: nn.Module, env: DistEnv, device: torch.device) -> nn.Module:
    """``DistributedDataParallel(model)`` when distributed, else ``model``."""
    if not env.enabled:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def sync_batchnorm(model: nn.Module, env: DistEnv, device: torch.device) -> bool:
    """Turn ``model``'s batch-norm layers into ``SyncBatchNorm`` in place (statistics over
    every rank's batch) when several processes train; returns whether it did. A model that
    is itself one batch-norm layer is left alone.

    Raises:
        ConfigError: several processes on a device other than CUDA (torch's SyncBatchNorm
            runs on GPUs only).
    """
    if not env.enabled:
        return False
    if device.type != "cuda":
        from convkit.errors import ConfigError

        raise ConfigError(f"train.sync_batchnorm needs CUDA devices (torch's SyncBatchNorm runs on GPUs only); "
                          f"this run is on {device.type}")
    for name, child in list(model.named_children()):
        setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
    return True


def flags_any(flags: list[bool], env: DistEnv, device: torch.device) -> list[bool]:
    """Element-wise OR of boolean flags over all ranks (one collective), so every rank
    takes the same decision (stop on NaN, stop on the time budget)."""
    if not env.enabled:
        return flags
    t = torch.tensor([float(f) for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def sum_floats(values: list[float], env: DistEnv, device: torch.device) -> list[float]:
    """Sum of float values over all ranks (float64)."""
    if not env.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def gather_objects(obj: object, env: DistEnv) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (pickled; small objects only)."""
    if not env.enabled:
        return [obj]
    out: list = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def gather_collected(collected: dict[str, Tensor], env: DistEnv) -> dict[str, Tensor]:
    """Concatenate each rank's evaluation outputs (CPU tensors ``[n_rank, ...]``) in rank
    order. Evaluation shards are contiguous and unpadded (``ShardSampler``), so the result
    is the whole split in dataset order with no duplicates."""
    if not env.enabled:
        return collected
    parts = gather_objects(collected, env)
    keys = list(dict.fromkeys(k for part in parts for k in part))
    return {k: torch.cat([part[k] for part in parts if k in part]) for k in keys}


def broadcast_module(model: nn.Module, env: DistEnv) -> None:
    """Copy rank 0's parameters and buffers to every rank (e.g. after loading the best weights)."""
    if not env.enabled:
        return
    with torch.no_grad():
        for tensor in model.state_dict().values():
            dist.broadcast(tensor, src=0)


def broadcast_buffers(model: nn.Module, env: DistEnv) -> None:
    """Copy rank 0's buffers (e.g. batch-norm running statistics, which each rank updates
    from its own batches) to every rank, so all ranks evaluate the same model."""
    if not env.enabled:
        return
    with torch.no_grad():
        for tensor in model.buffers():
            dist.broadcast(tensor, src=0)


def barrier(env: DistEnv) -> None:
    """Wait for every rank."""
    if env.enabled:
        dist.barrier()
