"""The runtime's measured defaults (``runtime.choose_settings``): an explicit setting always
wins, a cached choice is reused without timing anything, the table decides when probing
is off or impossible, the probe's noise rule, and a run records a measured choice in its
config without the probe changing anything the run draws."""

from __future__ import annotations

import json
import random
import time

import numpy as np
import pytest
import torch
from engine_toy import Crash, ToyTask
from torch import nn
from torch.utils.data import TensorDataset

from convkit import config as config_io
from convkit.train import checkpoint as ckpt
from convkit.train import runtime
from convkit.train.engine import fit
from convkit.train.task import Data

CPU = torch.device("cpu")


@pytest.fixture
def probing(monkeypatch, tmp_path):
    """The probe on (the suite turns it off), a fresh cache folder, no bf16 candidates
    (the same settings on every CPU), and no choice remembered from another test."""
    monkeypatch.setenv(runtime.PROBE_ENV, "1")
    monkeypatch.setenv("CONVKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(runtime, "bf16_units", lambda device: (False, "not in these tests"))
    monkeypatch.setattr(runtime, "_CHOICES", {})
    return tmp_path / "cache" / "runtime"


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3))


class _Steps:
    """``make_step`` for the probe: sleeps instead of training, channels-last three times
    faster than contiguous; counts what it was asked for."""

    def __init__(self) -> None:
        self.made: list[tuple[str, bool]] = []
        self.steps = 0

    def __call__(self, placement: runtime.Placement):
        cl = placement.memory_format is not None
        self.made.append((placement.precision, cl))

        def step() -> None:
            self.steps += 1
            time.sleep(0.004 if cl else 0.012)

        return step


def _choose(steps: _Steps, precision: str = "auto", channels_last: bool | None = None,
            **kw) -> runtime.Choice:
    return runtime.choose_settings(CPU, 2, precision, channels_last, model=_net(), batch_shape=[8, 3, 8, 8],
                                   make_step=steps, **kw)


def test_a_probe_measures_caches_and_the_cache_is_reused_without_timing(probing, monkeypatch):
    first = _Steps()
    choice = _choose(first)
    assert (choice.precision, choice.channels_last, choice.source) == ("fp32", True, "probe")
    assert first.made == [("fp32", False), ("fp32", True)] and first.steps >= 2 * (1 + runtime.PROBE_MIN_ROUNDS)
    assert "beyond the noise" in choice.why and "cached in" in choice.why
    (entry,) = [json.loads(p.read_text()) for p in probing.glob("*.json")]
    assert entry["choice"] == {"precision": "fp32", "channels_last": True}
    assert entry["key"]["device"] == runtime.device_name(CPU) and entry["key"]["torch"] == torch.__version__
    assert entry["key"]["input"] == [8, 4, 8, 8]  # the shape class: powers of two

    monkeypatch.setattr(runtime, "_CHOICES", {})  # a new process: only the cache folder remembers
    again = _Steps()
    cached = _choose(again)
    assert (cached.precision, cached.channels_last, cached.source) == ("fp32", True, "cache")
    assert again.made == [] and again.steps == 0  # nothing built, nothing timed
    assert cached.why.startswith("probed ")
    # another input shape class is another question
    other = _Steps()
    assert runtime.choose_settings(CPU, 2, "auto", None, model=_net(), batch_shape=[8, 3, 64, 64],
                                   make_step=other).source == "probe" and other.steps > 0


def test_an_explicit_setting_always_wins(probing):
    _choose(_Steps())  # a cached choice: fp32, channels-last
    steps = _Steps()
    both = _choose(steps, "fp32", False)
    assert (both.precision, both.channels_last, both.source) == ("fp32", False, "explicit") and steps.made == []
    # one explicit value: only the other is chosen, and the explicit one is kept
    layout_set = _choose(steps, "auto", False)
    assert (layout_set.precision, layout_set.channels_last) == ("fp32", False) and steps.made == []
    assert runtime.candidate_settings(CPU, 2, "bf16", None) == [("bf16", False), ("bf16", True)]
    assert runtime.candidate_settings(CPU, 1, "auto", None, allow_bf16=False) == [("fp32", False)]


def test_the_table_decides_when_probing_is_off_or_impossible(probing, monkeypatch):
    steps = _Steps()
    table = runtime.device_defaults(CPU, 2)
    no_model = runtime.choose_settings(CPU, 2, "auto", None, make_step=steps)
    assert (no_model.precision, no_model.channels_last, no_model.source) == (table["precision"],
                                                                             table["channels_last"], "table")
    resumed = _choose(steps, probe_off="a resumed run keeps the table it began with")
    assert resumed.source == "table" and resumed.why.startswith("a resumed run")
    monkeypatch.setenv(runtime.PROBE_ENV, "off")
    off = _choose(steps)
    assert off.source == "table" and "CONVKIT_RUNTIME_PROBE=off" in off.why and steps.made == []
    assert not list(probing.glob("*.json"))  # nothing measured, nothing cached

    def broken(placement):
        raise RuntimeError("no kernel for this")

    monkeypatch.setenv(runtime.PROBE_ENV, "1")
    failed = _choose(broken)
    assert failed.source == "table" and "the probe failed" in failed.why and "no kernel" in failed.why
    assert not failed.measured and failed.recorded(ToyTask.config_class()) == ToyTask.config_class()


def test_the_noise_rule_keeps_the_simpler_setting_unless_beaten_in_every_round():
    base = [1.0, 1.0, 1.0, 1.0]
    assert runtime.pick_setting({"a": base, "b": [0.9] * 4}) == "b"
    assert runtime.pick_setting({"a": base, "b": [0.99] * 4}) == "a"  # under the 3 % margin
    assert runtime.pick_setting({"a": base, "b": [0.5, 0.5, 0.5, 1.01]}) == "a"  # lost a round
    assert runtime.pick_setting({"a": base[:3], "b": [0.5] * 3}) == "a"  # too few rounds
    # c beats a, but not b (2 %): the simpler b
    assert runtime.pick_setting({"a": base, "b": [0.9] * 4, "c": [0.88] * 4}) == "b"
    assert runtime.pick_setting({"a": base, "b": [0.9] * 4, "c": [0.6] * 4}) == "c"


def test_the_probe_changes_no_random_number_generator(probing):
    def make_step(placement):
        return lambda: (torch.rand(3), np.random.rand(), random.random())

    model = _net()
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    assert runtime.choose_settings(CPU, 2, "auto", None, model=model, batch_shape=[2, 3, 4, 4],
                                   make_step=make_step).source == "probe"
    after = (torch.rand(2), np.random.rand(), random.random())
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    assert torch.equal(after[0], torch.rand(2)) and after[1:] == (np.random.rand(), random.random())


class _ImageToy(ToyTask):
    """The toy task on 8x8 RGB images with a small CNN (a 2D model: layouts to choose)."""

    def build_data(self, cfg) -> Data:
        self.cfg, self.steps = cfg, 0
        g = torch.Generator().manual_seed(7)

        def split(n: int) -> TensorDataset:
            y = torch.arange(n) % 3
            return TensorDataset(torch.randn(n, 3, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float(), y)

        return Data(split(48), split(24), split(24), label_names=["a", "b", "c"], spatial_dims=2, in_channels=3,
                    input_shape=(3, 8, 8))

    def build_model(self, cfg, data) -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.2),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))

    def augmentation(self, cfg, data):
        return None


def _fit(tmp_path, name: str, *sets: str):
    sets = ["train.epochs=2", "train.threads=1", f"train.name={name}", *sets]
    cfg = config_io.resolve_config(_ImageToy.config_class, sets=sets)
    fit(_ImageToy(), cfg, tmp_path)
    return tmp_path / "runs" / "toy" / name


def test_a_run_records_its_measured_choice_and_draws_as_without_the_probe(probing, tmp_path, capsys):
    run = _fit(tmp_path, "probed")
    log = capsys.readouterr().err
    assert "precision and memory layout: " in log and "(probe: " in log
    recorded = config_io.resolve_config(_ImageToy.config_class, run / "config.toml").train
    assert recorded.precision == "fp32" and recorded.channels_last in (True, False)  # measured: written down
    assert ckpt.load_checkpoint(run / "last.pt")["config"]["train"]["channels_last"] == recorded.channels_last

    again = _fit(tmp_path, "cached")
    assert "(cache: probed earlier in this process" in capsys.readouterr().err
    same = _fit(tmp_path, "explicit", "train.precision=fp32", f"train.channels_last={recorded.channels_last}")
    assert "(explicit: " in capsys.readouterr().err
    weights = [ckpt.load_checkpoint(r / "last.pt")["model"] for r in (run, again, same)]
    assert all(torch.equal(weights[0][k], w[k]) for w in weights[1:] for k in weights[0])  # the probe drew nothing


def test_a_resumed_run_keeps_the_recorded_choice_and_ends_as_a_run_left_alone(probing, tmp_path, capsys):
    whole = _fit(tmp_path, "whole")
    recorded = config_io.resolve_config(_ImageToy.config_class, whole / "config.toml").train
    with pytest.raises(Crash):  # in the second epoch; last.pt holds the first
        _fit(tmp_path, "half", "task.crash_at=5")
    half = tmp_path / "runs" / "toy" / "half"
    cfg = config_io.resolve_config(_ImageToy.config_class, sets=["train.epochs=2", "train.threads=1",
                                                                  "train.name=half"])
    assert cfg.train.channels_last is None  # the caller leaves it unset: the checkpoint's recorded value holds
    fit(_ImageToy(), cfg, tmp_path, resume=half / "last.pt")
    assert "(explicit: " in capsys.readouterr().err.rsplit("precision and memory layout: ", 1)[1]
    resumed = config_io.resolve_config(_ImageToy.config_class, half / "config.toml").train
    assert (resumed.precision, resumed.channels_last) == (recorded.precision, recorded.channels_last)
    a, b = (ckpt.load_checkpoint(r / "last.pt")["model"] for r in (whole, half))
    assert all(torch.equal(a[k], b[k]) for k in a)
