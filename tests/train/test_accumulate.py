"""train.accumulate_steps (issue 26): one optimizer step over several micro-batches is the
step over their union, so accumulate_steps=2 equals the doubled batch on one process and
equals two processes (torchrun, gloo) without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import TensorDataset

from convkit.config import resolve_config
from convkit.errors import ConfigError
from convkit.tasks.image.task import TASK
from convkit.train.checkpoint import load_checkpoint
from convkit.train.engine import fit

COMMON = ["train.baselines=false", "train.device=cpu", "train.threads=1", "train.loggers=[]", "data.augment=false",
          "train.epochs=2", "train.checkpoint_every=0"]


def _small_digits(cfg):
    data = TASK.build_data(cfg)
    images, labels = data.train.tensors
    data.train = TensorDataset(images[:256], labels[:256])
    return data


def _weights(tmp_path: Path, name: str, *sets: str) -> dict:
    cfg = resolve_config(TASK.config_class, sets=[*COMMON, *sets])
    return fit(TASK, cfg, tmp_path / name, data=_small_digits(cfg)).model.state_dict()


def _close(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5) for k in a)


def test_two_micro_batches_equal_the_doubled_batch(tmp_path):
    doubled = _weights(tmp_path, "b16", "train.batch_size=16")
    accumulated = _weights(tmp_path, "b8x2", "train.batch_size=8", "train.accumulate_steps=2")
    single = _weights(tmp_path, "b8", "train.batch_size=8")
    assert _close(doubled, accumulated)
    assert not _close(doubled, single)  # (the comparison can fail)


def test_more_micro_batches_than_an_epoch_has_is_one_line(tmp_path):
    cfg = resolve_config(TASK.config_class, sets=[*COMMON, "train.batch_size=128", "train.accumulate_steps=3"])
    with pytest.raises(ConfigError, match=r"^train\.accumulate_steps=3 needs as many batches per epoch; there are 2 "):
        fit(TASK, cfg, tmp_path, data=_small_digits(cfg))


def _folder(root: Path) -> Path:
    rng = np.random.default_rng(1)
    for c, name in enumerate(("a", "b", "c")):
        (root / name).mkdir(parents=True)
        for i in range(20):
            Image.fromarray((rng.random((32, 32)) * 100 + 60 * c).astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def test_accumulate_two_on_one_process_equals_two_processes(tmp_path):
    data = _folder(tmp_path / "data")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CONVKIT_CACHE": str(tmp_path / "cache")}
    args = ["-m", "convkit.tasks.image", "train", "--data", str(data), "--batch-size", "8",
            "--set", *COMMON, "train.name=run"]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          *args, "--out", str(tmp_path / "two")], capture_output=True, text=True, timeout=300, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([sys.executable, *args, "train.accumulate_steps=2", "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert one.returncode == 0, one.stderr[-3000:]
    runs = [load_checkpoint(tmp_path / n / "runs" / "image" / "run" / "last.pt", "image") for n in ("two", "one")]
    assert [r["steps_per_epoch"] for r in runs] == [3, 3]  # 48 training images: 2 x 24 / 8 = 48 / (8 x 2)
    assert _close(runs[0]["model"], runs[1]["model"])
