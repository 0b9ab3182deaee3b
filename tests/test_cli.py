"""The shared CLI (run through the image task): one-line errors with exit status 2,
no traceback unless --debug, nothing written on bad input, `info`."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib

import pytest
import torch

from convkit import config as config_io
from convkit.cli import main
from convkit.tasks.image.task import TASK


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(TASK, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, message", [
    (["--lr", "-0.1"], "error: train.lr must be a positive number; got -0.1"),
    (["--epochs", "0"], "error: train.epochs must be at least 1; got 0"),
    (["--epochs", "abc"], "error: train.epochs expects an integer; got 'abc' (command-line flag)"),
    (["--batch-size", "0"], "error: train.batch_size must be at least 1; got 0"),
    (["--device", "tpu"], "error: train.device must be one of auto, cpu, cuda, mps; got 'tpu'"),
    (["--set", "train.optimiser=sgd"], "error: unknown config key 'train.optimiser' (--set); valid in [train]: "
                                       "accumulate_steps, baselines, batch_size, channels_last, checkpoint_every, clip_grad_norm, "
                                       "compile, deterministic, device, epochs, eval_every, gamma, log_every, "
                                       "loggers, lr, max_minutes, min_lr, momentum, name, num_workers, optimizer, "
                                       "patience, plateau_factor, plateau_patience, precision, save_every, schedule, "
                                       "seed, seeds, step_size, sync_batchnorm, threads, weight_decay"),
    (["--set", "data.flip=maybe"], "error: data.flip expects true or false; got 'maybe' (--set)"),
    (["--set", "data.channels=2"], "error: data.channels must be 1, 3 or none; got 2"),
    (["--model", "lenet6"], "error: unknown model 'lenet6'; did you mean lenet5"),
])
def test_config_errors_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, args, message):
    code, out, err = _run(capsys, "train", "--out", str(tmp_path), "--set", "train.baselines=false", *args)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(message)
    assert not (tmp_path / "runs").exists()


def test_bad_config_file(tmp_path, capsys):
    recipe = tmp_path / "r.toml"
    recipe.write_text("[train]\nepochs = -3\n")
    code, _, err = _run(capsys, "train", "--out", str(tmp_path), "--config", str(recipe))
    assert code == 2 and err == "error: train.epochs must be at least 1; got -3\n"
    code, _, err = _run(capsys, "train", "--config", str(tmp_path / "none.toml"))
    assert code == 2 and err.startswith("error: ") and "none.toml: no such config file" in err


def test_real_process_exit_status_and_debug_traceback(tmp_path):
    cmd = [sys.executable, "-m", "convkit.tasks.image", "train", "--out", str(tmp_path), "--lr", "-1"]
    plain = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2
    assert plain.stderr == "error: train.lr must be a positive number; got -1.0\n"
    debug = subprocess.run(cmd + ["--debug"], capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ConfigError" in debug.stderr


def _fake_checkpoint(path, **extra) -> str:
    torch.save({"format": 1, "model": {}, **extra}, path)
    return str(path)


@pytest.mark.parametrize("command", [["evaluate"], ["predict", "x.png"], ["export", "--format", "onnx",
                                                                             "--output", "m.onnx"]])
def test_checkpoints_from_another_task_or_with_code_are_refused(tmp_path, capsys, command):
    other = _fake_checkpoint(tmp_path / "audio.pt", task="audio")
    code, _, err = _run(capsys, command[0], "--checkpoint", other, *command[1:])
    assert code == 2
    assert err == (f"error: {other}: a checkpoint of the 'audio' task, not 'image'; "
                   f"use python -m convkit.tasks.audio\n")
    unsafe = _fake_checkpoint(tmp_path / "unsafe.pt", task="image", payload=argparse.Namespace(x=1))
    code, _, err = _run(capsys, command[0], "--checkpoint", unsafe, *command[1:])
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"error: {unsafe}: refused: loading it would run pickled code")
    code, _, err = _run(capsys, command[0], "--checkpoint", str(tmp_path / "missing.pt"), *command[1:])
    assert code == 2 and err == f"error: {tmp_path / 'missing.pt'}: no such checkpoint file\n"


def test_resume_from_another_tasks_checkpoint_is_refused(tmp_path, capsys):
    other = _fake_checkpoint(tmp_path / "audio.pt", task="audio")
    code, _, err = _run(capsys, "train", "--out", str(tmp_path), "--resume", other)
    assert code == 2 and "a checkpoint of the 'audio' task, not 'image'" in err
    assert not (tmp_path / "runs").exists()


def test_info_lists_fitting_models_formats_and_default_config(capsys):
    code, out, _ = _run(capsys, "info")
    assert code == 0
    fits = out.split("models that fit the default input [N, 1, 32, 32]:\n", 1)[1].splitlines()[0]
    names = [n.strip() for n in fits.split(",")]
    assert {"lenet5", "resnet18", "vgg11_bn", "efficientnet_b0"} <= set(names)
    assert "MNIST IDX" in out and "CIFAR-10" in out
    toml = out.split("# default config (--config FILE.toml)\n", 1)[1]
    assert config_io.from_dict(TASK.config_class, tomllib.loads(toml)) == TASK.config_class()
