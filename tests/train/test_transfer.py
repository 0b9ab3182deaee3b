"""Transfer learning in a run (``convkit.train.transfer``): a model pretrained by convkit on
one split of the image task and fine-tuned on a small second split beats the same model
trained from scratch on it (same steps, same seed); the backbone frozen for the first
epochs (BatchNorm in eval mode) and at a smaller learning rate; a run killed while frozen
and resumed ends exactly as one left alone; a weights file that does not fit is one line,
exit 2, nothing written; ``export --format safetensors`` starts another run; an image run
starts a video model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from convkit.cli import main
from convkit.config import TrainConfig, resolve_config
from convkit.errors import ConfigError
from convkit.models import create_model
from convkit.tasks.image.data import resize_images
from convkit.tasks.image.task import TASK, ImageInfo, ImageRunConfig
from convkit.train import transfer
from convkit.train.checkpoint import load_checkpoint
from convkit.train.engine import fit, make_optimizer, make_scheduler
from convkit.train.task import Data

SMALL_RESNET = ["model.name=resnet18", "model.options.small_input=true", "model.options.widths=[8, 16, 32, 64]"]


def _digits() -> tuple[torch.Tensor, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return resize_images(torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1), 32), digits.target


def _split(images: torch.Tensor, targets: np.ndarray, classes: list[int], n_train: int, n_val: int,
           seed: int) -> Data:
    """The digits of ``classes``: ``n_train`` and ``n_val`` per class for training and
    validation, the rest for testing; labels 0.. in the order of ``classes``."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[], [], []]
    for c in classes:
        idx = rng.permutation(np.flatnonzero(targets == c))
        parts[0] += list(idx[:n_train])
        parts[1] += list(idx[n_train:n_train + n_val])
        parts[2] += list(idx[n_train + n_val:])
    remap = {c: i for i, c in enumerate(classes)}

    def dataset(idx: list[int]) -> TensorDataset:
        return TensorDataset(images[idx], torch.tensor([remap[int(targets[i])] for i in idx]))

    return Data(*(dataset(p) for p in parts), label_names=[str(c) for c in classes], spatial_dims=2, in_channels=1,
                input_shape=(1, 32, 32), info=ImageInfo(source="digits"))


def test_fine_tuning_a_convkit_run_beats_training_from_scratch(tmp_path, one_thread):
    """Pretrained on digits 0-4 (120 each), fine-tuned on digits 5-9 with 4 images each for
    15 steps: the features carry over. The bar (0.15 of test accuracy) sits well under the
    smallest margin measured over seeds 0-4 (docs/weights.md)."""
    images, targets = _digits()
    base = ["train.baselines=false", "train.device=cpu", "train.threads=1", "train.seed=0",
            *SMALL_RESNET]
    pre = fit(TASK, resolve_config(ImageRunConfig, sets=base + ["train.epochs=8", "train.batch_size=32",
                                                                 "train.name=pre"]),
              tmp_path, data=_split(images, targets, [0, 1, 2, 3, 4], 120, 20, seed=0))
    small = _split(images, targets, [5, 6, 7, 8, 9], 4, 10, seed=0)
    common = base + ["train.epochs=15", "train.batch_size=20"]
    tuned = fit(TASK, resolve_config(ImageRunConfig, sets=common + [f"model.pretrained={pre.run_dir}",
                                                                     "train.name=tuned"]), tmp_path, data=small)
    scratch = fit(TASK, resolve_config(ImageRunConfig, sets=common + ["train.name=scratch"]), tmp_path, data=small)
    assert pre.metrics["test"]["accuracy"] > 0.9
    assert tuned.metrics["test"]["accuracy"] >= scratch.metrics["test"]["accuracy"] + 0.15, \
        (tuned.metrics["test"]["accuracy"], scratch.metrics["test"]["accuracy"])
    # the head was trained on 0-4: other label names, so it started fresh; the backbone is the run's
    start = create_model("resnet18", in_channels=1, num_classes=5, small_input=True, widths=(8, 16, 32, 64),
                         pretrained=transfer.pretrained_weights(
                             resolve_config(ImageRunConfig, sets=[f"model.pretrained={pre.run_dir}"]), ["5", "6"]))
    best = load_checkpoint(pre.run_dir / "best.pt")["model"]
    assert torch.equal(start.features[0].weight, best["features.0.weight"])
    assert not torch.equal(start.head[1].weight, best["head.1.weight"])


def test_a_frozen_backbone_keeps_its_weights_and_batchnorm_statistics(one_thread):
    model = create_model("resnet18", in_channels=1, num_classes=3, small_input=True, widths=(4, 8, 8, 8))
    transfer.set_backbone_frozen(model, True)
    model.train()  # as the engine and evaluate_split do: the frozen BatchNorm stays in eval mode
    bn = model.features[1]
    assert not bn.training and model.head.training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = make_optimizer(model, TrainConfig(lr=0.1, weight_decay=0.1))
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 1, 16, 16)), torch.tensor([0, 1, 2, 0]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("head."))
    assert not torch.equal(before["head.1.weight"], after["head.1.weight"])
    transfer.set_backbone_frozen(model, False)
    assert bn.training and all(p.requires_grad for p in model.parameters())
    model.eval()
    assert not bn.training


def test_the_backbone_learns_at_a_fraction_of_the_heads_rate():
    model = create_model("resnet18", in_channels=1, num_classes=3, small_input=True, widths=(4, 8, 8, 8))
    cfg = TrainConfig(lr=0.1, optimizer="adamw", schedule="onecycle")
    optimizer = make_optimizer(model, cfg, backbone_lr_scale=0.1)
    head, backbone = optimizer.param_groups
    assert {id(p) for p in head["params"]} == {id(model.head[1].weight), id(model.head[1].bias)}
    assert len(backbone["params"]) == len(list(model.parameters())) - 2
    make_scheduler(optimizer, cfg, steps_per_epoch=10)  # one-cycle peaks at each group's own rate
    assert head["max_lr"] == pytest.approx(0.1) and backbone["max_lr"] == pytest.approx(0.01)
    with pytest.raises(ConfigError, match="model.backbone_lr_scale needs a model with a classifier called 'head'"):
        make_optimizer(torch.nn.Linear(2, 2), cfg, backbone_lr_scale=0.5)


# --------------------------------------------------------------------------- the command line


def _train(out, *extra: str) -> list[str]:
    # 1437 digits / 64 = 22 steps per epoch, a checkpoint after every step; frozen in epoch 1
    return [sys.executable, "-m", "convkit.tasks.image", "train", "--out", str(out), "--epochs", "2",
            "--batch-size", "64", "--device", "cpu", "--set", "train.baselines=false", "train.checkpoint_every=1",
            "train.name=run", *SMALL_RESNET[:2], "model.options.widths=[4, 8, 8, 8]",
            "model.freeze_epochs=1", "model.backbone_lr_scale=0.3", *extra]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def test_a_run_killed_while_frozen_resumes_exactly_across_the_unfreeze(tmp_path):
    """SIGKILL inside the frozen first epoch, --resume: the run unfreezes at epoch 2 and ends
    with the weights and metrics of the run left alone."""
    weights = tmp_path / "start.pth"
    torch.manual_seed(1)
    torch.save(create_model("resnet18", in_channels=1, num_classes=7, small_input=True,
                            widths=(4, 8, 8, 8)).state_dict(), weights)
    ref = subprocess.run(_train(tmp_path / "ref", f"model.pretrained={weights}"), capture_output=True, text=True,
                         timeout=600, env=_env())
    assert ref.returncode == 0, ref.stderr
    assert "epoch 1: backbone frozen" in ref.stderr and "epoch 2: backbone unfrozen" in ref.stderr

    run = tmp_path / "cut" / "runs" / "image" / "run"
    proc = subprocess.Popen(_train(tmp_path / "cut", f"model.pretrained={weights}"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=_env())
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            assert proc.poll() is None, "training finished before it could be killed"
            if (run / "last.pt").exists():
                state = torch.load(run / "last.pt", weights_only=True)
                if state["epoch"] == 0 and state["step"] >= 2:
                    proc.send_signal(signal.SIGKILL)
                    break
            time.sleep(0.005)
    finally:
        proc.kill()
        proc.wait()
    killed_at = load_checkpoint(run / "last.pt", "image")
    assert killed_at["epoch"] == 0 and 2 <= killed_at["step"] < killed_at["steps_per_epoch"]
    resumed = subprocess.run(_train(tmp_path / "cut", f"model.pretrained={weights}", "--resume",
                                    str(run / "last.pt")), capture_output=True, text=True, timeout=600, env=_env())
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch 1: backbone frozen" in resumed.stderr and "epoch 2: backbone unfrozen" in resumed.stderr

    ref_run = tmp_path / "ref" / "runs" / "image" / "run"
    for name in ("last.pt", "best.pt"):
        a, b = load_checkpoint(ref_run / name)["model"], load_checkpoint(run / name)["model"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    first = torch.load(weights, weights_only=True)  # the frozen epoch left the backbone alone: epoch 2 moved it
    assert not torch.equal(load_checkpoint(run / "last.pt")["model"]["features.0.weight"], first["features.0.weight"])
    ref_metrics, cut_metrics = (json.loads((r / "metrics.json").read_text()) for r in (ref_run, run))
    assert cut_metrics["val"] == ref_metrics["val"] and cut_metrics["test"] == ref_metrics["test"]


def test_weights_that_do_not_fit_are_one_line_exit_2_and_nothing_written(tmp_path, capsys):
    bad = tmp_path / "bad.pth"
    torch.save(create_model("resnet34", in_channels=1, num_classes=10).state_dict(), bad)
    noise = tmp_path / "noise.safetensors"
    noise.write_bytes(os.urandom(500))
    for source, words in ((bad, "does not fit model resnet18"), (noise, "not a readable safetensors file"),
                          (tmp_path / "absent.pth", "no such weights file")):
        code = main(TASK, ["train", "--out", str(tmp_path / "out"), "--epochs", "1", "--device", "cpu", "--set",
                           "train.baselines=false", "model.name=resnet18", f"model.pretrained={source}"])
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith("error: ") and err.count("\n") == 1 and str(source) in err and words in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_exported_safetensors_start_another_run_with_its_normalisation(tmp_path, capsys):
    """A run normalised with ImageNet's statistics exports safetensors whose metadata says
    so; a run started from that file normalises its images the same way."""
    out = tmp_path / "out"
    common = ["--out", str(out), "--epochs", "1", "--device", "cpu", "--set", "train.baselines=false",
              "data.channels=3"]
    assert main(TASK, ["train", *common, "train.name=a", "data.normalize=imagenet"]) == 0
    first = out / "runs" / "image" / "a"
    assert main(TASK, ["export", "--checkpoint", str(first / "best.pt"), "--format", "safetensors", "--output",
                       str(tmp_path / "w.safetensors")]) == 0
    printed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert printed["max_abs_diff"] == 0.0
    meta = json.loads((tmp_path / "w.safetensors.json").read_text())
    assert meta["model"] == "lenet5" and meta["preprocessing"]["mean"] == [0.485, 0.456, 0.406]
    assert main(TASK, ["train", *common, "train.name=b", f"model.pretrained={tmp_path / 'w.safetensors'}"]) == 0
    info = load_checkpoint(out / "runs" / "image" / "b" / "best.pt")["data"]["info"]
    assert info["mean"] == [0.485, 0.456, 0.406] and info["std"] == [0.229, 0.224, 0.225]
    start = load_checkpoint(first / "best.pt")["model"]
    cfg = resolve_config(ImageRunConfig, sets=[f"model.pretrained={tmp_path / 'w.safetensors'}"])
    assert transfer.pretrained_weights(cfg, [str(d) for d in range(10)]).state.keys() == start.keys()


def test_an_image_run_starts_a_video_model(tmp_path, capsys, one_thread):
    """A convkit run of one task as the backbone of another: an image run's 2D ResNet (one
    channel, digits) starts the video task's 3D ResNet (three channels, motion clips): its
    kernels inflated over time, its input channels repeated, a fresh head for the motions."""
    from convkit.models.weights import adapt_input_conv, inflate_kernel
    from convkit.tasks.video.task import TASK as VIDEO, VideoRunConfig

    small = ["model.options.small_input=true", "model.options.widths=[4, 8, 8, 8]", "train.baselines=false"]
    assert main(TASK, ["train", "--out", str(tmp_path), "--epochs", "1", "--device", "cpu", "--model", "resnet18",
                       "--set", "train.name=image", *small]) == 0
    image_run = tmp_path / "runs" / "image" / "image"
    video = ["--set", *small, f"model.pretrained={image_run}", "data.n_per_class=3", "data.frames=6",
             "data.clip_len=4", "data.size=16", "task.frame_epochs=0"]
    assert main(VIDEO, ["train", "--out", str(tmp_path), "--epochs", "1", "--device", "cpu", "--model", "resnet18",
                        *video, "train.name=video"]) == 0
    capsys.readouterr()
    cfg = resolve_config(VideoRunConfig, sets=[f"model.pretrained={image_run}"])
    start = create_model("resnet18", spatial_dims=3, in_channels=3, num_classes=9, small_input=True,
                         widths=(4, 8, 8, 8), pretrained=transfer.pretrained_weights(cfg, ["left", "right"]))
    conv = load_checkpoint(image_run / "best.pt")["model"]["features.0.weight"]  # [4, 1, 3, 3]
    assert torch.allclose(start.features[0].weight, adapt_input_conv(inflate_kernel(conv, (4, 1, 3, 3, 3)), 3))
    assert start.features[0].weight.shape == (4, 3, 3, 3, 3) and start.head[1].weight.shape == (9, 8)
