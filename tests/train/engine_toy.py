"""A tiny classification task for engine tests: Gaussian blobs in 8 dimensions, a
two-layer MLP. It can be told to crash or return NaN at a given global step."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import TensorDataset

from convkit.config import DataConfig, ModelConfig, RunConfig, TaskConfig, TrainConfig
from convkit.train.task import ClassificationTask, Data


@dataclass
class ToyTaskConfig(TaskConfig):
    """``crash_at``/``nan_at``: global training step (1-based) at which ``training_step``
    raises RuntimeError / returns NaN (0: never); ``samples`` per split scale."""

    crash_at: int = 0
    nan_at: int = 0
    samples: int = 200
    dropout: float = 0.2


@dataclass
class ToyRunConfig(RunConfig):
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=3, batch_size=16, lr=0.1, checkpoint_every=0, baselines=False, device="cpu"))
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name="toy_mlp"))
    data: DataConfig = field(default_factory=DataConfig)
    task: ToyTaskConfig = field(default_factory=ToyTaskConfig)


class Crash(RuntimeError):
    """Raised by the toy task to simulate a process dying mid-epoch."""


class ToyTask(ClassificationTask):
    name = "toy"
    config_class = ToyRunConfig
    default_model = "toy_mlp"
    resumable_keys = frozenset({"task.crash_at", "task.nan_at"})  # the simulated faults end on resume

    def __init__(self) -> None:
        self.steps = 0
        self.cfg: ToyRunConfig | None = None

    def build_data(self, cfg) -> Data:
        self.cfg, self.steps = cfg, 0
        g = torch.Generator().manual_seed(1234)
        centers = torch.randn(3, 8, generator=g) * 2.5

        def split(n: int) -> TensorDataset:
            y = torch.arange(n) % 3
            return TensorDataset(centers[y] + torch.randn(n, 8, generator=g), y)

        n = cfg.task.samples
        return Data(split(n), split(n // 2), split(n // 2), label_names=["a", "b", "c"], spatial_dims=1,
                    in_channels=8, input_shape=(8,), info={"n": n})

    def build_model(self, cfg, data) -> nn.Module:
        return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(cfg.task.dropout), nn.Linear(32, 3))

    def augmentation(self, cfg, data):
        # Random jitter from the global RNG: resume must restore it exactly.
        return lambda batch: (batch[0] + 0.1 * torch.randn_like(batch[0]), batch[1])

    def training_step(self, model, batch):
        self.steps += 1
        if self.cfg is not None and self.cfg.task.crash_at == self.steps:
            raise Crash(f"simulated crash at step {self.steps}")
        loss = super().training_step(model, batch)
        if self.cfg is not None and self.cfg.task.nan_at == self.steps:
            return loss * float("nan")
        return loss

    def load_inputs(self, cfg, data, inputs):
        return torch.tensor([[float(v) for v in s.split(",")] for s in inputs])


TOY = ToyTask()
