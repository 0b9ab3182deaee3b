"""train.sync_batchnorm (issue 26): batch-norm layers become SyncBatchNorm in place under
several processes on CUDA, with the same weights and checkpoint keys; on the CPU, where
torch's SyncBatchNorm does not run, several processes are refused in one line."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convkit.errors import ConfigError
from convkit.models import create_model
from convkit.train.distributed import DistEnv, sync_batchnorm


def test_batchnorm_layers_become_sync_batchnorm_with_the_same_state():
    model = create_model("resnet18", spatial_dims=2, in_channels=3, num_classes=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert not sync_batchnorm(model, DistEnv(), torch.device("cuda"))  # one process: nothing to synchronise
    assert sync_batchnorm(model, DistEnv(rank=0, world_size=2), torch.device("cuda"))
    kinds = {type(m) for m in model.modules()}
    assert nn.SyncBatchNorm in kinds and nn.BatchNorm2d not in kinds
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


def test_several_cpu_processes_are_refused_in_one_line():
    model = create_model("resnet18", spatial_dims=2, in_channels=3, num_classes=4)
    with pytest.raises(ConfigError, match=r"^train\.sync_batchnorm needs CUDA devices .* this run is on cpu$"):
        sync_batchnorm(model, DistEnv(rank=1, world_size=2), torch.device("cpu"))
