"""Samplers, device transfer and metric helpers, on hand-computed cases."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import DistributedSampler

from convkit.train.distributed import DistEnv, gather_collected
from convkit.train.loaders import ShardSampler, SkipSampler, move_to_device
from convkit.train.metrics import (
    accuracy,
    binary_scores_metrics,
    classification_metrics,
    confusion_matrix,
    macro_f1,
    to_float_dict,
)


@given(n=st.integers(0, 200), world=st.integers(1, 8))
def test_shards_partition_the_split_in_order(n, world):
    shards = [list(ShardSampler(n, r, world)) for r in range(world)]
    assert sum(shards, []) == list(range(n))  # no duplicates, no padding, dataset order
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


@given(n=st.integers(1, 100), skip_batches=st.integers(0, 10), batch=st.integers(1, 8), epoch=st.integers(0, 5))
def test_skip_sampler_continues_the_same_epoch_order(n, skip_batches, batch, epoch):
    sampler = DistributedSampler(range(n), num_replicas=1, rank=0, shuffle=True, seed=3)
    sampler.set_epoch(epoch)
    full = list(sampler)
    skipped = SkipSampler(sampler, skip_batches * batch)
    assert list(skipped) == full[skip_batches * batch:] and len(skipped) == len(full[skip_batches * batch:])


def test_move_to_device_recurses_and_formats():
    class Graph:
        def __init__(self):
            self.moved_to = None

        def to(self, device):
            self.moved_to = device
            return self

    Pair = namedtuple("Pair", "x y")
    batch = {"images": torch.rand(2, 3, 4, 4), "nested": [Pair(torch.zeros(2), 1), (torch.ones(1),)],
             "graph": Graph(), "name": "keep"}
    out = move_to_device(batch, torch.device("cpu"), torch.channels_last, 4)
    assert out["images"].is_contiguous(memory_format=torch.channels_last)
    assert isinstance(out["nested"][0], Pair) and out["nested"][0].y == 1 and isinstance(out["nested"][1], tuple)
    assert out["graph"].moved_to == torch.device("cpu") and out["name"] == "keep"
    assert torch.equal(out["images"], batch["images"])


def test_classification_metrics_by_hand():
    targets = torch.tensor([0, 0, 1, 1, 2, 2])
    preds = torch.tensor([0, 1, 1, 1, 2, 0])
    assert accuracy(preds, targets) == pytest.approx(4 / 6)
    # per class F1: class 0: p=1/2 r=1/2 -> .5; class 1: p=2/3 r=1 -> .8; class 2: p=1 r=1/2 -> 2/3
    assert macro_f1(preds, targets) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert confusion_matrix(preds, targets, 4).tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    logits = torch.nn.functional.one_hot(preds, 3).float() * 10
    metrics = classification_metrics(logits, targets)
    assert metrics["accuracy"] == pytest.approx(4 / 6) and metrics["loss"] > 0
    assert to_float_dict({**metrics, "confusion_matrix": [[1]], "ok": True}) == metrics


def test_binary_scores_metrics():
    labels = torch.tensor([0, 0, 1, 1])
    perfect = binary_scores_metrics(torch.tensor([0.1, 0.2, 0.8, 0.9]), labels)
    assert perfect == {"roc_auc": 1.0, "pr_auc": 1.0, "best_f1": 1.0}
    mixed = binary_scores_metrics(torch.tensor([0.1, 0.9, 0.8, 0.2]), labels)
    assert mixed["roc_auc"] == pytest.approx(0.5)
    assert all(np.isnan(v) for v in binary_scores_metrics(torch.rand(3), torch.zeros(3)).values())


def test_gather_is_identity_for_one_process():
    collected = {"logits": torch.rand(3, 2)}
    assert gather_collected(collected, DistEnv()) is collected
