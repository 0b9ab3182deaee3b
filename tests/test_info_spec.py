"""``info`` answers from each task's ``input_spec``: the same input and the same models
that fit as building the task's real data, without generating or decoding any."""

from __future__ import annotations

import dataclasses
import importlib

import pytest

import subprocess
import sys

import torch

from convkit import cli
from convkit.bench.suite import task_config
from convkit.config import resolve_config

TASKS = ("image", "text", "timeseries", "audio", "video", "pointcloud", "graph")


def _smoke(name: str, *sets: str):
    task = importlib.import_module(f"convkit.tasks.{name}.task").TASK
    cfg, _ = task_config(task, "smoke", "cpu")
    if sets:
        cfg = resolve_config(task.config_class, sets=task.profiles["smoke"] + list(sets))
    runner = task.for_config(cfg)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, name=cfg.model.name or runner.default_model))
    return task, runner, cfg


@pytest.mark.parametrize("name", TASKS)
def test_input_spec_declares_what_the_data_holds(name):
    _, runner, cfg = _smoke(name)
    spec, data = runner.input_spec(cfg), runner.build_data(cfg)
    assert (spec.train, spec.val, spec.test) == (None, None, None)
    for key in ("input_kind", "spatial_dims", "in_channels", "input_shape", "input_dtype", "label_names"):
        assert getattr(spec, key) == getattr(data, key), key
    assert cli.models_that_fit(runner, cfg, spec) == cli.models_that_fit(runner, cfg, data)


@pytest.mark.parametrize("name", ["audio", "video"])
def test_input_spec_generates_nothing(name, monkeypatch):
    """The tasks whose embedded data is costly never build it for ``info``."""
    task, runner, cfg = _smoke(name)

    def refuse(*args, **kwargs):
        raise AssertionError("info built the data")

    monkeypatch.setattr(type(runner), "build_data", refuse)
    spec = runner.input_spec(cfg)
    assert spec.input_shape == ((16000,) if name == "audio" else (3, 16, 24, 24))
    text = cli.info_text(task)
    shape = ", ".join(map(str, spec.input_shape))
    assert f"models that fit the default input [N, {shape}]:" in text


def test_declared_fits_equal_running_every_model_on_the_meta_device():
    """The declared contract (``check_input``) gives the list a meta forward pass gives,
    for the audio wrapper (front end + backbone) and plain 2D and 3D grids."""
    for name in ("audio", "image", "video"):
        _, runner, cfg = _smoke(name)
        spec = runner.input_spec(cfg)
        declared = cli.models_that_fit(runner, cfg, spec)
        assert declared == cli.models_that_fit(runner, cfg, spec, run=True), name
        assert runner.default_model in declared


def test_audio_info_lists_the_default_and_refuses_what_cannot_fit():
    task, runner, cfg = _smoke("audio")
    spec = runner.input_spec(cfg)
    fits = cli.models_that_fit(runner, cfg, spec)
    assert "audio_cnn" in fits and "resnet18" in fits
    assert "alexnet" not in fits  # needs 63 per axis; the log-mel is 40 x 101
    assert "m5" not in fits  # a 1D waveform model does not take the 2D log-mel


# The embedded defaults whose input the config alone declares: (task, extra --set overrides).
FROM_CONFIG = [("image", ()), ("image", ("data.channels=3", "data.image_size=40")), ("text", ()),
               ("text", ("model.name=char_cnn",)), ("pointcloud", ()), ("timeseries", ()),
               ("timeseries", ("task.mode=classify",))]


@pytest.mark.parametrize("name,sets", FROM_CONFIG)
def test_input_spec_from_the_config_alone_equals_the_data(name, sets, monkeypatch):
    """No data is generated for ``info``, and what it declares is what the data holds."""
    _, runner, cfg = _smoke(name, *sets)
    data = runner.build_data(cfg)

    def refuse(*args, **kwargs):
        raise AssertionError("input_spec built the data")

    with monkeypatch.context() as m:
        m.setattr(type(runner), "build_data", refuse)
        spec = runner.input_spec(cfg)
    for key in ("input_kind", "spatial_dims", "in_channels", "input_shape", "input_dtype", "label_names"):
        assert getattr(spec, key) == getattr(data, key), key
    assert cli.models_that_fit(runner, cfg, spec) == cli.models_that_fit(runner, cfg, data)


def test_text_spec_bounds_the_vocabulary_and_builds_the_same_model():
    _, runner, cfg = _smoke("text")
    spec, data = runner.input_spec(cfg), runner.build_data(cfg)
    assert spec.info.vocab_size >= len(data.info.vocab) > 2
    built = runner.build_model(cfg, spec)  # textcnn
    assert built.embedding.num_embeddings == spec.info.vocab_size
    tokens = torch.tensor([[2, 3, 4, 0]])
    assert runner.build_model(cfg, data)(tokens).shape == built(tokens).shape == (1, 2)


def test_meta_shortcuts_shape_like_torch_and_leave_other_devices_alone():
    """Inside info's trial builds (a torch function mode on the meta device), ``eye`` and
    weight norm give empty meta tensors of the right shape and initialisers leave meta
    tensors alone; on the CPU all compute as usual; torch's functions are never replaced."""
    eye, norm, reset = torch.eye, torch.norm_except_dim, torch.nn.Conv2d.reset_parameters
    v = torch.randn(5, 3, 2)
    with cli._MetaBuild():
        conv = torch.nn.Conv2d(2, 3, 3, device="cpu").requires_grad_(False)  # on the CPU: initialised as usual (kaiming-uniform bound 1/sqrt(18))
        assert 0 < float(conv.weight.std()) and float(conv.weight.abs().max()) <= 18 ** -0.5
        assert torch.nn.BatchNorm1d(4, device="cpu").running_var.tolist() == [1.0] * 4
        assert torch.nn.Conv2d(2, 3, 3).weight.is_meta and torch.nn.init.normal_(torch.empty(2, 3)).shape == (2, 3)
        assert torch.eye(4).shape == (4, 4) and torch.eye(2, 3).is_meta and torch.eye(2, 3).shape == (2, 3)
        assert torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv1d(3, 5, 2)).weight.shape == (5, 3, 2)
        assert torch.equal(torch.eye(3, device="cpu"), torch.ones(3, device="cpu").diag())
        for dim in (0, 1, 2, -1):
            meta = torch.norm_except_dim(v.to("meta"), 2, dim)
            assert meta.is_meta and meta.shape == norm(v, 2, dim).shape
        assert torch.allclose(torch.norm_except_dim(v, 2, 0), norm(v, 2, 0))
        assert torch.eye is eye and torch.norm_except_dim is norm and torch.nn.Conv2d.reset_parameters is reset
    assert torch.eye is eye and torch.norm_except_dim is norm and torch.nn.Conv2d.reset_parameters is reset
    assert torch.empty(1).device.type == "cpu"


def test_info_imports_no_dynamo_and_the_task_modules_no_heavy_library():
    """Start-up: importing the image, text, point-cloud, audio, video and time-series tasks loads no
    scikit-learn, SciPy, matplotlib, torch-geometric or numba, and their ``info`` (and the
    time-series one) never imports ``torch._dynamo`` (seconds)."""
    heavy = ("sklearn", "scipy", "matplotlib", "torch_geometric", "numba", "torch._dynamo")
    code = ("import importlib, sys, convkit.cli as cli\n"
            f"heavy = {heavy!r}\n"
            "for t in ('image', 'text', 'pointcloud', 'audio', 'video', 'timeseries'):\n"
            "    importlib.import_module(f'convkit.tasks.{t}.task')\n"
            "print(sorted(m for m in heavy if m in sys.modules))\n"
            "for t in ('image', 'text', 'pointcloud', 'audio', 'video', 'timeseries'):\n"
            "    cli.info_text(importlib.import_module(f'convkit.tasks.{t}.task').TASK)\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[]", "False"]
