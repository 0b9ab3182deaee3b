"""Probes of the task interface with data unlike the three first tasks: one full-batch
graph (node masks, a model offering parameter groups), a dataset that samples anew each
epoch (``set_epoch``) killed and resumed, and two runs in one process whose data choose
different monitors."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch
import torch.nn.functional as F
from engine_toy import Crash, ToyTask
from torch import Tensor, nn
from torch.utils.data import Dataset

from convkit import config as config_io
from convkit.config import DataConfig, ModelConfig, RunConfig, TaskConfig, TrainConfig
from convkit.train import checkpoint as checkpoints
from convkit.train.engine import fit
from convkit.train.task import Data, Task

# --------------------------------------------------------------------------- one graph


def _two_block_graph(n: int = 120, seed: int = 0):
    """A stochastic-block-model graph: 2 communities, dense inside, sparse across; node
    features are noise plus a faint class signal, so structure carries the class."""
    from torch_geometric.data import Data as GraphData

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    same = y[:, None] == y[None, :]
    p = torch.where(same, torch.tensor(0.12), torch.tensor(0.01))
    adj = torch.triu(torch.rand(n, n, generator=g) < p, diagonal=1)
    src, dst = adj.nonzero(as_tuple=True)
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
    x = torch.randn(n, 16, generator=g) + 0.3 * F.one_hot(y, 16).float()
    perm = torch.randperm(n, generator=g)
    masks = {name: torch.zeros(n, dtype=torch.bool) for name in ("train", "val", "test")}
    masks["train"][perm[:40]], masks["val"][perm[40:80]], masks["test"][perm[80:]] = True, True, True
    return GraphData(x=x, edge_index=edge_index, y=y), masks


class OneGraph(Dataset):
    """The whole graph with one split's node mask: a dataset of length one."""

    def __init__(self, graph, mask: Tensor) -> None:
        self.graph, self.mask = graph, mask

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int):
        return self.graph, self.mask


def _first(items: list):
    return items[0]


class GCN(nn.Module):
    """Kipf & Welling's two-layer GCN; weight decay on the first layer only."""

    def __init__(self, features: int, classes: int, hidden: int = 16) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.conv1, self.conv2 = GCNConv(features, hidden), GCNConv(hidden, classes)

    def param_groups(self, weight_decay: float) -> list[dict]:
        return [{"params": list(self.conv1.parameters()), "weight_decay": weight_decay},
                {"params": list(self.conv2.parameters()), "weight_decay": 0.0}]

    def forward(self, graph) -> Tensor:
        x = F.dropout(graph.x, 0.5, self.training)
        x = F.relu(self.conv1(x, graph.edge_index))
        return self.conv2(F.dropout(x, 0.5, self.training), graph.edge_index)


@dataclass
class GraphRunConfig(RunConfig):
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=60, batch_size=1, lr=0.01, optimizer="adam", weight_decay=5e-4, schedule="none", baselines=False,
        device="cpu", save_every=0, checkpoint_every=0))
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name="gcn"))
    data: DataConfig = field(default_factory=DataConfig)
    task: TaskConfig = field(default_factory=TaskConfig)


class NodeTask(Task):
    name = "probe_graph"
    config_class = GraphRunConfig
    default_model = "gcn"

    def build_data(self, cfg) -> Data:
        graph, masks = _two_block_graph()
        splits = {name: OneGraph(graph, mask) for name, mask in masks.items()}
        return Data(splits["train"], splits["val"], splits["test"], label_names=["a", "b"], collate_fn=_first,
                    input_kind="graph", in_channels=16)

    def build_model(self, cfg, data) -> nn.Module:
        return GCN(data.in_channels, len(data.label_names))

    def training_step(self, model, batch) -> Tensor:
        graph, mask = batch
        return F.cross_entropy(model(graph)[mask], graph.y[mask])

    def evaluation_step(self, model, batch) -> dict[str, Tensor]:
        graph, mask = batch
        return {"logits": model(graph)[mask], "targets": graph.y[mask]}

    def compute_metrics(self, collected, dataset) -> dict:
        logits, targets = collected["logits"], collected["targets"]
        return {"accuracy": float((logits.argmax(1) == targets).float().mean()),
                "loss": float(F.cross_entropy(logits, targets))}


def test_a_full_batch_graph_task_trains_through_the_unchanged_engine(tmp_path):
    result = fit(NodeTask(), config_io.resolve_config(GraphRunConfig, sets=["train.name=g"]), tmp_path)
    assert result.metrics["test"]["accuracy"] >= 0.85  # structure separates the two blocks
    run = result.run_dir
    assert {p.name for p in run.iterdir()} >= {"best.pt", "last.pt", "metrics.json", "metrics.jsonl"}
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 60
    state = checkpoints.load_checkpoint(run / "last.pt")
    assert (state["epoch"], state["step"]) == (60, 0)  # save_every=0: one final save
    groups = state["optimizer"]["param_groups"]
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0]  # the model's own parameter groups
    assert state["data"]["input_kind"] == "graph"


def test_eval_every_validates_on_schedule_and_after_the_last_epoch(tmp_path):
    cfg = config_io.resolve_config(GraphRunConfig, sets=["train.name=e", "train.epochs=7", "train.eval_every=3"])
    result = fit(NodeTask(), cfg, tmp_path)
    import json

    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines if r["val"]] == [3, 6, 7]
    assert result.metrics["val"]["accuracy"] == max(r["val"]["accuracy"] for r in lines if r["val"])


# --------------------------------------------------------------------------- per-epoch sampling


class RandomSubsets(Dataset):
    """Each example is a random subset of 4 of its 12 features, drawn anew each epoch from
    (seed, epoch, index): deterministic per epoch, different across epochs."""

    def __init__(self, x: Tensor, y: Tensor, seed: int) -> None:
        self.x, self.y, self.seed, self.epoch, self.epochs_seen = x, y, seed, 0, []

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.epochs_seen.append(epoch)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        g = torch.Generator().manual_seed(hash((self.seed, self.epoch, i)) % 2**31)
        keep = torch.randperm(12, generator=g)[:4]
        out = torch.zeros(12)
        out[keep] = self.x[i, keep] * 3  # the kept features, rescaled
        return out, self.y[i]


class SamplingTask(ToyTask):
    name = "toy"

    def build_data(self, cfg) -> Data:
        self.cfg, self.steps = cfg, 0
        g = torch.Generator().manual_seed(7)
        centers = torch.randn(3, 12, generator=g) * 2

        def split(n: int, sampling: bool):
            y = torch.arange(n) % 3
            x = centers[y] + 0.5 * torch.randn(n, 12, generator=g)
            return RandomSubsets(x, y, seed=1) if sampling else torch.utils.data.TensorDataset(x, y)

        return Data(split(160, True), split(60, False), split(60, False), label_names=["a", "b", "c"],
                    input_shape=(12,), in_channels=12)

    def build_model(self, cfg, data) -> nn.Module:
        return nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 3))


def _cfg(*sets: str):
    return config_io.resolve_config(SamplingTask.config_class, sets=list(sets))


def test_a_dataset_sampling_per_epoch_resumes_bit_exactly(tmp_path):
    task = SamplingTask()
    ref = fit(task, _cfg("train.name=ref", "train.epochs=4", "train.checkpoint_every=3"), tmp_path)
    with pytest.raises(Crash):  # 10 steps per epoch: dies at step 26, the checkpoint is at step 23
        fit(task, _cfg("train.name=cut", "train.epochs=4", "train.checkpoint_every=3", "task.crash_at=26"), tmp_path)
    cut = tmp_path / "runs" / "toy" / "cut"
    state = checkpoints.load_checkpoint(cut / "last.pt")
    assert (state["epoch"], state["step"]) == (2, 3)
    resumed_task = SamplingTask()
    resumed = fit(resumed_task, _cfg("train.name=cut", "train.epochs=4", "train.checkpoint_every=3"), tmp_path,
                  resume=cut / "last.pt")
    a, b = ref.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.metrics["test"] == ref.metrics["test"] and resumed.metrics["val"] == ref.metrics["val"]
    ref_lines = (ref.run_dir / "metrics.jsonl").read_text().splitlines()
    cut_lines = (cut / "metrics.jsonl").read_text().splitlines()
    strip = lambda line: {k: v for k, v in __import__("json").loads(line).items() if k != "seconds"}  # noqa: E731
    assert [strip(x) for x in cut_lines] == [strip(x) for x in ref_lines]


def test_set_epoch_changes_the_samples_and_is_called_each_epoch():
    data = SamplingTask().build_data(_cfg())
    first = data.train[0][0]
    data.train.set_epoch(1)
    assert not torch.equal(first, data.train[0][0])
    data.train.set_epoch(0)
    assert torch.equal(first, data.train[0][0])


# --------------------------------------------------------------------------- stateless tasks


class MonitorFromData(ToyTask):
    """The data decide the monitor: ``loss`` (min) when task.samples is odd, else accuracy."""

    def build_data(self, cfg) -> Data:
        data = super().build_data(cfg)
        if cfg.task.samples % 2:
            data.monitor, data.monitor_mode = "loss", "min"
        return data

    def derive_state(self, collected, dataset) -> dict:
        return {"val_examples": int(collected["targets"].numel())}


def test_two_runs_in_one_process_behave_as_two_processes(tmp_path):
    task = MonitorFromData()
    loss_cfg = _cfg("train.name=l", "task.samples=201", "train.lr=0.5")
    acc_cfg = _cfg("train.name=a", "task.samples=200")
    alone = fit(MonitorFromData(), acc_cfg, tmp_path / "alone").metrics
    first = fit(task, loss_cfg, tmp_path)
    second = fit(task, acc_cfg, tmp_path).metrics
    assert second["val"] == alone["val"] and second["test"] == alone["test"]
    import json

    losses = [json.loads(x)["val"]["loss"] for x in (first.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert first.metrics["val"]["loss"] == min(losses)  # the loss-monitored run kept the lowest loss
    assert task.monitor == "accuracy"  # nothing was written onto the task
    assert first.task_state == {"val_examples": 100}
    assert checkpoints.load_checkpoint(first.run_dir / "best.pt")["task_state"] == {"val_examples": 100}
