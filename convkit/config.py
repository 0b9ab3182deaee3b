"""Run configuration: nested dataclasses, read from TOML, overridden from the command line.

A run config has four sections (DESIGN.md "The command line"):

* ``train``: the engine's settings (``TrainConfig``), the same for every task;
* ``model``: the zoo model's ``name`` and the ``options`` passed to ``create_model``;
* ``data``: a task's ``DataConfig`` subclass (every one has ``path`` and ``strict``);
* ``task``: a task's ``TaskConfig`` subclass (may be empty).

A task declares its run config as a ``RunConfig`` subclass that narrows the
``data``/``task`` types and may change the defaults. Values resolve in this order:
dataclass defaults, then ``--config FILE.toml``, then the CLI flags, then
``--set section.key=value``. An unknown key, a value of the wrong type or out of range
raises ``ConfigError`` with one line naming the key and what is valid.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from convkit.errors import ConfigError

C = TypeVar("C")

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "onecycle", "step", "plateau", "none")
PRECISIONS = ("fp32", "bf16", "fp16", "auto")
DEVICES = ("auto", "cpu", "cuda", "mps")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _one_of(key: str, value: str, choices: tuple[str, ...]) -> None:
    _check(value in choices, f"{key} must be one of {', '.join(choices)}; got {value!r}")


@dataclass
class TrainConfig:
    """The engine's settings; the same fields for every task (a task may change defaults).

    ``batch_size`` is per process (under torchrun the global batch is ``batch_size *
    WORLD_SIZE``). Schedules step once per optimizer step; ``step_size`` is in epochs.
    ``plateau`` (Keras's ReduceLROnPlateau as the time-series classification papers use
    it) multiplies the rate by ``plateau_factor`` after ``plateau_patience`` epochs
    without a lower training loss, down to ``min_lr``; it steps once per epoch.
    ``precision`` "auto" and ``channels_last`` none take the device type's measured
    default (``convkit.train.engine.device_defaults``); ``compile`` is off unless set.
    ``patience`` stops after that many epochs without a better validation metric
    (0: off); ``max_minutes`` is a wall-clock budget for training (0: off);
    ``checkpoint_every`` also writes ``last.pt`` every N optimizer steps inside an epoch
    (0: at epoch ends only). ``eval_every``: validate every N epochs (and after the last);
    ``save_every``: write ``last.pt`` every N epochs (0: only at the end; the final save
    always happens, and ``best.pt`` is written whenever it is saved). Full-batch tasks
    (one graph) raise both to keep per-epoch overhead near a bare loop. ``adam`` is Adam
    with L2 weight decay in the gradient (as Kipf & Welling's GCN); ``adamw`` decouples it.
    ``seeds``: train that many runs with seeds ``seed, seed+1, ...`` and report the mean and
    standard deviation of each test metric (the literature's protocol for small data).
    ``threads``: CPU threads for torch's kernels (0: one per available core, see
    ``convkit.train.engine.set_threads``). ``name`` names the run folder (default: model +
    timestamp).
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.01
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    step_size: int = 10
    gamma: float = 0.1
    plateau_patience: int = 50
    plateau_factor: float = 0.5
    min_lr: float = 1e-4
    clip_grad_norm: float = 0.0
    precision: str = "auto"
    channels_last: bool | None = None
    compile: bool = False
    deterministic: bool = False
    patience: int = 0
    max_minutes: float = 0.0
    seed: int = 0
    seeds: int = 1
    device: str = "auto"
    num_workers: int = 0
    threads: int = 0
    checkpoint_every: int = 200
    eval_every: int = 1
    save_every: int = 1
    log_every: int = 0
    baselines: bool = True
    name: str = ""

    def validate(self) -> None:
        """Raise ConfigError naming the first value out of range."""
        _check(self.epochs >= 1, f"train.epochs must be at least 1; got {self.epochs}")
        _check(self.batch_size >= 1, f"train.batch_size must be at least 1; got {self.batch_size}")
        _check(math.isfinite(self.lr) and self.lr > 0, f"train.lr must be a positive number; got {self.lr}")
        _one_of("train.optimizer", self.optimizer, OPTIMIZERS)
        _check(0 <= self.momentum < 1, f"train.momentum must be in [0, 1); got {self.momentum}")
        _check(self.weight_decay >= 0, f"train.weight_decay must be >= 0; got {self.weight_decay}")
        _one_of("train.schedule", self.schedule, SCHEDULES)
        _check(self.step_size >= 1, f"train.step_size must be at least 1 (epochs); got {self.step_size}")
        _check(0 < self.gamma <= 1, f"train.gamma must be in (0, 1]; got {self.gamma}")
        _check(self.plateau_patience >= 0, f"train.plateau_patience must be >= 0 (epochs); "
                                           f"got {self.plateau_patience}")
        _check(0 < self.plateau_factor < 1, f"train.plateau_factor must be in (0, 1); got {self.plateau_factor}")
        _check(self.min_lr >= 0, f"train.min_lr must be >= 0; got {self.min_lr}")
        _check(self.clip_grad_norm >= 0, f"train.clip_grad_norm must be >= 0 (0: off); got {self.clip_grad_norm}")
        _one_of("train.precision", self.precision, PRECISIONS)
        _check(self.patience >= 0, f"train.patience must be >= 0 (0: off); got {self.patience}")
        _check(self.max_minutes >= 0, f"train.max_minutes must be >= 0 (0: off); got {self.max_minutes}")
        _check(self.seed >= 0, f"train.seed must be >= 0; got {self.seed}")
        _check(self.seeds >= 1, f"train.seeds must be at least 1; got {self.seeds}")
        _one_of("train.device", self.device, DEVICES)
        _check(self.num_workers >= 0, f"train.num_workers must be >= 0; got {self.num_workers}")
        _check(self.threads >= 0, f"train.threads must be >= 0 (0: one per available core); got {self.threads}")
        _check(self.checkpoint_every >= 0, f"train.checkpoint_every must be >= 0 (0: epoch ends only); "
                                           f"got {self.checkpoint_every}")
        _check(self.eval_every >= 1, f"train.eval_every must be at least 1 (epochs); got {self.eval_every}")
        _check(self.save_every >= 0, f"train.save_every must be >= 0 (epochs; 0: at the end only); "
                                     f"got {self.save_every}")
        _check(self.log_every >= 0, f"train.log_every must be >= 0 (0: off); got {self.log_every}")
        _check(re.fullmatch(r"[A-Za-z0-9._-]*", self.name) is not None and self.name not in (".", ".."),
               f"train.name must be a folder name of letters, digits, '.', '_' or '-'; got {self.name!r}")


@dataclass
class ModelConfig:
    """A zoo model: ``name`` for ``create_model`` (empty: the task's default) and
    ``options`` passed to it as keyword arguments (e.g. ``small_input = true``)."""

    name: str = ""
    options: dict = field(default_factory=dict)


@dataclass
class DataConfig:
    """Where the data comes from: ``path`` (empty: the task's embedded default data) and
    ``strict`` (a corrupt file is an error instead of being skipped with a warning)."""

    path: str = ""
    strict: bool = False


@dataclass
class TaskConfig:
    """Task-specific settings; tasks subclass it (it may stay empty)."""


@dataclass
class RunConfig:
    """A whole run: ``train``, ``model``, ``data`` and ``task`` sections. Tasks subclass
    it, narrowing ``data``/``task`` to their own dataclasses and changing defaults."""

    train: TrainConfig = field(default_factory=TrainConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    task: TaskConfig = field(default_factory=TaskConfig)


# --------------------------------------------------------------------------- types


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional_inner(tp: Any) -> Any | None:
    """``X`` for ``X | None`` (or ``Optional[X]``), else None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


def _type_name(tp: Any) -> str:
    inner = _optional_inner(tp)
    if inner is not None:
        return f"{_type_name(inner)} or none"
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return f"a list of {_type_name(item)}s" if item is not Any else "a list"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            dict: "a table", Any: "any value"}.get(origin or tp, getattr(tp, "__name__", str(tp)))


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """``value`` (as TOML or tomllib gives it) checked against ``tp``; ints widen to floats."""
    inner = _optional_inner(tp)
    if inner is not None:
        if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
            return None  # TOML has no null: to_toml writes None as "none"
        return _coerce(value, inner, key, source)
    origin = typing.get_origin(tp) or tp
    ok = False
    if tp is Any:
        return value
    if origin is bool:
        ok = isinstance(value, bool)
    elif origin is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif origin is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif origin is str:
        ok = isinstance(value, str)
    elif origin is dict:
        ok = isinstance(value, dict)
        value = dict(value) if ok else value
    elif origin is list:
        ok = isinstance(value, (list, tuple))
        if ok:
            (item,) = typing.get_args(tp) or (Any,)
            value = [_coerce(v, item, key, source) for v in value]
    if not ok:
        raise ConfigError(f"{key} expects {_type_name(tp)}; got {value!r} ({source})")
    return value


def _parse_text(text: str, tp: Any, key: str, source: str) -> Any:
    """Parse a command-line string into ``tp`` (TOML syntax for lists and tables)."""
    inner = _optional_inner(tp)
    if inner is not None:
        return None if text.strip().lower() in ("none", "null", "") else _parse_text(text, inner, key, source)
    origin = typing.get_origin(tp) or tp
    want = _type_name(tp)
    if origin is bool:
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ConfigError(f"{key} expects true or false; got {text!r} ({source})")
        return lowered == "true"
    if origin is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{key} expects {want}; got {text!r} ({source})") from None
    if origin is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{key} expects {want}; got {text!r} ({source})") from None
    if origin is str:
        return text
    if origin in (list, dict) or tp is Any:
        return _coerce(parse_toml_value(text), tp, key, source)
    raise ConfigError(f"{key} cannot be set from the command line ({source})")


def parse_toml_value(text: str) -> Any:
    """A TOML value (``32``, ``true``, ``[1, 2]``, ``{a = 1}``, ``"x"``); anything else is
    taken as a bare string, so ``--set model.options.norm=group`` works unquoted."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


# --------------------------------------------------------------------------- dict <-> config


def valid_keys(cls: type) -> list[str]:
    """The field names of a config dataclass, sorted (for error messages)."""
    return sorted(f.name for f in dataclasses.fields(cls))


def merge_dict(cfg: C, values: dict, source: str, prefix: str = "") -> C:
    """Return a copy of ``cfg`` with ``values`` (nested dicts, as from TOML) applied.

    Raises:
        ConfigError: an unknown section or key (listing the valid ones) or a value of
            the wrong type (naming the expected type); ``source`` says where it came from.
    """
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a table; got {values!r} ({source})")
    hints = _hints(type(cfg))
    changes = {}
    for name, value in values.items():
        key = f"{prefix}{name}"
        if name not in hints:
            what = f"in [{prefix.rstrip('.')}]" if prefix else "sections"
            raise ConfigError(f"unknown config key {key!r} ({source}); valid {what}: "
                              f"{', '.join(valid_keys(type(cfg)))}")
        current = getattr(cfg, name)
        if dataclasses.is_dataclass(current):
            changes[name] = merge_dict(current, value, source, f"{key}.")
        elif isinstance(current, dict) and isinstance(value, dict):  # options merge key by key
            changes[name] = _deep_merge(current, value)
        else:
            changes[name] = _coerce(value, hints[name], key, source)
    return dataclasses.replace(cfg, **changes)


def from_dict(cls: type[C], values: dict, source: str = "checkpoint") -> C:
    """Build ``cls`` (a RunConfig subclass) from its defaults plus ``values``."""
    return merge_dict(cls(), values, source)


def to_dict(cfg: Any) -> dict:
    """The config as plain nested dicts (the form stored in checkpoints)."""
    return dataclasses.asdict(cfg)


def apply_set(cfg: C, assignment: str, source: str = "--set") -> C:
    """Apply one ``section.key=value`` (``model.options.width=32`` sets an option)."""
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"{source} expects section.key=value; got {assignment!r}")
    return set_value(cfg, key, text, source)


def set_value(cfg: C, key: str, text: str, source: str) -> C:
    """Set the dotted ``key`` of ``cfg`` from command-line ``text`` parsed to the field's type."""
    parts = key.split(".")
    node: Any = cfg
    for i, name in enumerate(parts):
        here = ".".join(parts[: i + 1])
        if isinstance(node, dict):  # inside a dict field: the rest of the key is one dict path
            nested: dict = {}
            leaf = nested
            for sub in parts[i:-1]:
                leaf = leaf.setdefault(sub, {})
            leaf[parts[-1]] = parse_toml_value(text)
            return _set_path(cfg, parts[:i], _deep_merge(node, nested))
        if not dataclasses.is_dataclass(node):
            raise ConfigError(f"unknown config key {key!r} ({source}): {'.'.join(parts[:i])} is not a section")
        hints = _hints(type(node))
        if name not in hints:
            where = f"in [{'.'.join(parts[:i])}]" if i else "sections"
            raise ConfigError(f"unknown config key {here!r} ({source}); valid {where}: "
                              f"{', '.join(valid_keys(type(node)))}")
        if i == len(parts) - 1:
            if dataclasses.is_dataclass(getattr(node, name)):
                raise ConfigError(f"{here} is a section; set one of its keys: "
                                  f"{', '.join(valid_keys(type(getattr(node, name))))}")
            return _set_path(cfg, parts, _parse_text(text, hints[name], here, source))
        node = getattr(node, name)
    raise AssertionError("unreachable")


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _set_path(cfg: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    return dataclasses.replace(cfg, **{head: _set_path(getattr(cfg, head), rest, value)})


def validate(cfg: Any) -> None:
    """Call ``validate()`` on every section that has one (ranges and choices), then on the
    run config itself when it has one (checks across sections, e.g. an FFT longer than
    the clip)."""
    for f in dataclasses.fields(cfg):
        section = getattr(cfg, f.name)
        if hasattr(section, "validate"):
            section.validate()
    if hasattr(cfg, "validate"):
        cfg.validate()


# --------------------------------------------------------------------------- TOML files


def read_toml(path: str | Path) -> dict:
    """Read a TOML file; a missing or malformed file raises ConfigError naming it."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: no such config file; expected a TOML file")
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{file}: not valid TOML ({err})") from None


def to_toml(cfg: Any) -> str:
    """The config as TOML text (written by ``tomli_w``): one ``[section]`` per dataclass,
    a dict field as a sub-table (``[model.options]``).

    TOML has no null: a ``None`` field is written as the string ``"none"``, which
    ``_coerce`` (reading a file or a checkpoint) and ``--set`` turn back into None for an
    optional field; ``None`` inside dicts and lists is left out.

    Raises:
        ConfigError: a value TOML cannot hold (anything but bool, int, float, str and
            lists/dicts of those).
    """
    sections = {f.name: {key: "none" if value is None else _drop_none(value)
                         for key, value in dataclasses.asdict(getattr(cfg, f.name)).items()}
                for f in dataclasses.fields(cfg)}
    try:
        return tomli_w.dumps(sections)
    except TypeError as err:  # tomli_w: "Object of type 'X' is not TOML serializable"
        raise ConfigError(f"cannot write the config to TOML: {err}") from None


def _drop_none(value: Any) -> Any:
    """``value`` with every None inside its lists and dicts left out (TOML has no null)."""
    if isinstance(value, (list, tuple)):
        return [_drop_none(v) for v in value if v is not None]
    if isinstance(value, dict):
        return {str(k): _drop_none(v) for k, v in value.items() if v is not None}
    return value


# --------------------------------------------------------------------------- resolution


def resolve_config(
    cls: type[C],
    config_file: str | Path | None = None,
    flags: dict[str, str] | None = None,
    sets: list[str] | None = None,
    base: dict | None = None,
) -> C:
    """Resolve a run config: defaults (or ``base``, a stored config dict, e.g. of a
    checkpoint being resumed), then ``config_file``, then ``flags`` (dotted key to
    command-line text, e.g. ``{"train.epochs": "5"}``), then ``sets``
    (``section.key=value``), then validation.

    Raises:
        ConfigError: unknown key, wrong type or value out of range (one line).
    """
    cfg = from_dict(cls, base, "checkpoint") if base is not None else cls()
    if config_file is not None:
        cfg = merge_dict(cfg, read_toml(config_file), str(config_file))
    for key, text in (flags or {}).items():
        cfg = set_value(cfg, key, text, "command-line flag")
    for assignment in sets or []:
        cfg = apply_set(cfg, assignment)
    validate(cfg)
    return cfg
