"""Run configs: resolution order, --set parsing, TOML round trip, clear errors."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convkit import config as config_io
from convkit.errors import ConfigError


@dataclass
class _Data(config_io.DataConfig):
    image_size: int | None = 32
    ratios: list[float] = field(default_factory=lambda: [0.5, 1.0])


@dataclass
class _Run(config_io.RunConfig):
    data: _Data = field(default_factory=_Data)


def test_defaults_validate_and_sections():
    cfg = config_io.resolve_config(_Run)
    assert cfg.train.epochs == 10 and cfg.data.image_size == 32 and cfg.model.options == {}
    assert [f.name for f in dataclasses.fields(cfg)] == ["train", "model", "data", "task"]


def test_resolution_order_file_then_flags_then_set(tmp_path):
    file = tmp_path / "run.toml"
    file.write_text('[train]\nepochs = 4\nlr = 0.5\nbatch_size = 8\n[model]\nname = "lenet5"\n'
                    '[model.options]\nwidth = 16\n')
    cfg = config_io.resolve_config(_Run, file, {"train.epochs": "6", "model.name": "resnet18"},
                           ["train.epochs=7", "model.options.small_input=true", "data.image_size=none"])
    assert cfg.train.epochs == 7  # --set beats the flag, which beats the file
    assert cfg.train.lr == 0.5 and cfg.train.batch_size == 8  # from the file
    assert cfg.model.name == "resnet18"
    assert cfg.model.options == {"width": 16, "small_input": True}
    assert cfg.data.image_size is None


def test_set_parses_each_type():
    cfg = config_io.resolve_config(_Run, sets=["train.lr=1e-3", "train.channels_last=TRUE", "train.name=abc",
                                       "data.ratios=[1, 2.5]", "model.options={depth = 3, act = \"relu\"}",
                                       "model.options.norm=group", "model.options.block.width=8"])
    assert cfg.train.lr == 0.001 and cfg.train.channels_last is True and cfg.train.name == "abc"
    assert cfg.data.ratios == [1.0, 2.5]
    assert cfg.model.options == {"depth": 3, "act": "relu", "norm": "group", "block": {"width": 8}}


@pytest.mark.parametrize("assignment, pattern", [
    ("train.epoch=3", r"unknown config key 'train.epoch' \(--set\); valid in \[train\]: .*batch_size.*epochs"),
    ("trian.epochs=3", r"unknown config key 'trian' \(--set\); valid sections: data, model, task, train"),
    ("train.epochs=three", r"train.epochs expects an integer; got 'three'"),
    ("train.epochs=2.5", r"train.epochs expects an integer"),
    ("train.compile=yes", r"train.compile expects true or false; got 'yes'"),
    ("train.lr=fast", r"train.lr expects a number"),
    ("train", r"--set expects section.key=value"),
    ("train=1", r"train is a section; set one of its keys: .*epochs"),
    ("train.lr=-0.1", r"train.lr must be a positive number; got -0.1"),
    ("train.epochs=0", r"train.epochs must be at least 1; got 0"),
    ("train.batch_size=0", r"train.batch_size must be at least 1"),
    ("train.optimizer=rmsprop", r"train.optimizer must be one of sgd, adam, adamw; got 'rmsprop'"),
    ("train.precision=fp8", r"train.precision must be one of fp32, bf16, fp16"),
    ("train.name=../x", r"train.name must be a folder name"),
])
def test_bad_values_name_the_key(assignment, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        config_io.resolve_config(_Run, sets=[assignment])
    assert "\n" not in str(info.value)


def test_bad_toml_file_types_and_keys(tmp_path):
    bad_type = tmp_path / "a.toml"
    bad_type.write_text('[train]\nepochs = "ten"\n')
    with pytest.raises(ConfigError, match=r"train.epochs expects an integer; got 'ten' \(.*a.toml\)"):
        config_io.resolve_config(_Run, bad_type)
    unknown = tmp_path / "b.toml"
    unknown.write_text("[data]\nsize = 3\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'data.size' .*valid in \[data\]: "
                                          r"image_size, path, ratios, strict"):
        config_io.resolve_config(_Run, unknown)
    broken = tmp_path / "c.toml"
    broken.write_text("[train\n")
    with pytest.raises(ConfigError, match=r"c.toml: not valid TOML"):
        config_io.resolve_config(_Run, broken)
    with pytest.raises(ConfigError, match=r"missing.toml: no such config file"):
        config_io.resolve_config(_Run, tmp_path / "missing.toml")
    bool_for_int = tmp_path / "d.toml"
    bool_for_int.write_text("[train]\nepochs = true\n")
    with pytest.raises(ConfigError, match=r"train.epochs expects an integer; got True"):
        config_io.resolve_config(_Run, bool_for_int)


def test_int_in_toml_widens_to_float(tmp_path):
    file = tmp_path / "a.toml"
    file.write_text("[train]\nlr = 1\n")
    cfg = config_io.resolve_config(_Run, file)
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)


def test_base_dict_is_the_starting_point():
    base = config_io.to_dict(config_io.resolve_config(_Run, sets=["train.epochs=3", "model.name=x"]))
    cfg = config_io.resolve_config(_Run, base=base, sets=["train.epochs=5"])
    assert cfg.train.epochs == 5 and cfg.model.name == "x"


_scalars = st.one_of(st.booleans(), st.integers(-2**40, 2**40), st.text(max_size=12),
                     st.floats(allow_nan=False, width=64))
_options = st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(_scalars, st.lists(st.integers(), max_size=3)),
                           max_size=4)


@settings(max_examples=60, deadline=None)
@given(epochs=st.integers(1, 10**6), lr=st.floats(1e-9, 1e3), name=st.from_regex(r"[A-Za-z0-9_-]{0,10}", fullmatch=True),
       options=_options, size=st.one_of(st.none(), st.integers(1, 4096)),
       ratios=st.lists(st.floats(allow_nan=False, allow_infinity=True, width=64), max_size=3),
       path=st.text(max_size=20))
def test_toml_round_trip(epochs, lr, name, options, size, ratios, path):
    cfg = config_io.RunConfig()
    cfg = _Run(train=dataclasses.replace(cfg.train, epochs=epochs, lr=lr, name=name),
               model=config_io.ModelConfig(name="m", options=options),
               data=_Data(path=path, image_size=size, ratios=ratios))
    text = config_io.to_toml(cfg)
    again = config_io.from_dict(_Run, tomllib.loads(text), "round trip")
    assert again == cfg


def test_to_toml_writes_none_as_a_string_and_refuses_other_objects():
    cfg = _Run(model=config_io.ModelConfig(name="m", options={"a": None, "b": [1, None], "c": {"d": 2}}),
               data=_Data(image_size=None))
    text = config_io.to_toml(cfg)
    assert 'image_size = "none"' in text and "[model.options.c]" in text
    again = config_io.from_dict(_Run, tomllib.loads(text), "round trip")
    assert again.data.image_size is None
    assert again.model.options == {"b": [1], "c": {"d": 2}}  # None inside a dict or list is left out
    bad = _Run(model=config_io.ModelConfig(options={"f": object()}))
    with pytest.raises(ConfigError, match="cannot write the config to TOML: .*object"):
        config_io.to_toml(bad)
