"""A tiny plug-in package for the tests, written into a folder: ``toyplug`` registers a
model (``toy_cnn``, 1D and 2D grids) through the ``convkit.models`` entry point group and
a task (``toyseries``: sine against square waves ``[1, 32]``, generated and seeded)
through ``convkit.tasks``. With its ``toyplug-0.1.dist-info`` folder beside it, a folder
on ``PYTHONPATH`` is an installed distribution to ``importlib.metadata``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

MODELS = '''
"""toy_cnn: conv, batch norm, ReLU, global average pool, linear; [N, C, *spatial] -> [N, classes]."""
from torch import nn

from convkit.models import register_model


@register_model(spatial_dims=(1, 2), domain="toy")
def toy_cnn(spatial_dims=1, in_channels=1, num_classes=2, width=16):
    conv, norm, pool = ((nn.Conv1d, nn.BatchNorm1d, nn.AdaptiveAvgPool1d) if spatial_dims == 1
                        else (nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d))
    return nn.Sequential(conv(in_channels, width, 3, padding=1), norm(width), nn.ReLU(),
                         conv(width, width, 3, padding=1), norm(width), nn.ReLU(),
                         pool(1), nn.Flatten(), nn.Linear(width, num_classes))
'''

TASK = '''
"""toyseries: is a series [1, 32] a sine or a square wave? Generated from train.seed."""
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import TensorDataset

from convkit.config import RunConfig, TrainConfig
from convkit.data.splits import split_indices
from convkit.train.task import ClassificationTask, Data

NAMES = ["sine", "square"]


def waves(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    phase = torch.rand(n, 1, generator=g) * 6.28
    t = torch.linspace(0, 6.28 * 2, 32)
    sine = torch.sin(t + phase)
    x = torch.where(y[:, None] == 1, torch.sign(sine), sine) + 0.3 * torch.randn(n, 32, generator=g)
    return x[:, None, :].float(), y


@dataclass
class ToyRunConfig(RunConfig):
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=6, batch_size=16, lr=0.05))


class ToySeries(ClassificationTask):
    name = "toyseries"
    config_class = ToyRunConfig
    default_model = "toy_cnn"
    profiles = {"default": [], "smoke": ["train.epochs=2"]}
    data_formats = ".npz with x [N, 1, 32] and y [N] (class indices); predict: .npy files [1, 32]"

    def _data(self, train, val, test):
        return Data(train, val, test, label_names=list(NAMES), spatial_dims=1, in_channels=1, input_shape=(1, 32))

    def build_data(self, cfg):
        x, y = waves(200, cfg.train.seed)
        parts = split_indices(y.numpy(), seed=cfg.train.seed)
        return self._data(*(TensorDataset(x[torch.from_numpy(p)], y[torch.from_numpy(p)]) for p in parts))

    def build_eval_data(self, cfg, path, spec):
        arrays = np.load(path)
        return self._data(None, None, TensorDataset(torch.from_numpy(arrays["x"]).float(),
                                                    torch.from_numpy(arrays["y"]).long()))

    def load_inputs(self, cfg, spec, inputs):
        return torch.stack([torch.from_numpy(np.load(path)).float() for path in inputs])


TASK = ToySeries()
'''

METADATA = "Metadata-Version: 2.1\nName: toyplug\nVersion: 0.1\n"

ENTRY_POINTS = "[convkit.models]\ntoy = toyplug.models\n\n[convkit.tasks]\ntoyseries = toyplug.task:TASK\n"


def write_toy_plugin(folder: Path, dist_info: bool = True, extra_entry_points: str = "") -> Path:
    """Write the ``toyplug`` package (and, with ``dist_info``, its ``toyplug-0.1.dist-info``
    with ``extra_entry_points`` appended) into ``folder``; returns ``folder``."""
    package = folder / "toyplug"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""A convkit plug-in for the tests."""\n')
    (package / "models.py").write_text(MODELS)
    (package / "task.py").write_text(TASK)
    if dist_info:
        info = folder / "toyplug-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(METADATA)
        (info / "entry_points.txt").write_text(ENTRY_POINTS + extra_entry_points)
    return folder


def env_with(folder: Path) -> dict[str, str]:
    """The environment of a child process with ``folder`` first on ``PYTHONPATH``, on one thread."""
    paths = [str(folder)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "OMP_NUM_THREADS": "1"}


def python(*args: str) -> list[str]:
    """The command line of this Python with ``args``."""
    return [sys.executable, *args]
