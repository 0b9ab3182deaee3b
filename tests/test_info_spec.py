"""``info`` answers from each task's ``input_spec``: the same input and the same models
that fit as building the task's real data, without generating or decoding any."""

from __future__ import annotations

import dataclasses
import importlib

import pytest

from convkit import cli
from convkit.bench.suite import task_config

TASKS = ("image", "text", "timeseries", "audio", "video", "pointcloud", "graph")


def _smoke(name: str):
    task = importlib.import_module(f"convkit.tasks.{name}.task").TASK
    cfg, _ = task_config(task, "smoke", "cpu")
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
