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
from collections.abc import Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import tomli_w

from convkit.errors import ConfigError

C = TypeVar("C")

@dataclass(frozen=True)
class Range:
    """The bounds of a numeric config field, stated in its type and checked by
    :func:`validate`: ``epochs: Annotated[int, Range(ge=1)]``. ``note`` is said after the
    bound in the error (``"0: off"``). Float fields must also be finite."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    note: str = ""

    def holds(self, value: float) -> bool:
        """Whether ``value`` lies within the bounds."""
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))

    def describe(self) -> str:
        """The bound in words: ``at least 1``, ``>= 0``, ``a positive number``, ``in [0, 1)``."""
        low, high = self.ge if self.ge is not None else self.gt, self.le if self.le is not None else self.lt
        if low is not None and high is not None:
            return (f"in {'[' if self.ge is not None else '('}{low:g}, "
                    f"{high:g}{']' if self.le is not None else ')'}")
        if self.gt == 0:
            return "a positive number"
        if self.ge is not None:
            return ">= 0" if self.ge == 0 else f"at least {self.ge:g}"
        if self.gt is not None:
            return f"greater than {self.gt:g}"
        return f"at most {high:g}" if self.le is not None else f"less than {high:g}"


def field_constraint_error(key: str, value: Any, tp: Any) -> str | None:
    """Why ``value`` breaks the constraint its type ``tp`` states (``Literal`` choices, a
    :class:`Range` in ``Annotated``), as one line naming ``key``; None when it holds."""
    if typing.get_origin(tp) is typing.Annotated:
        base, *meta = typing.get_args(tp)
        message = field_constraint_error(key, value, base)
        if message is not None:
            return message
        for bound in meta:
            if isinstance(bound, Range) and value is not None and not bound.holds(value):
                note = f" ({bound.note})" if bound.note else ""
                return f"{key} must be {bound.describe()}{note}; got {value!r}"
        return None
    inner = _optional_inner(tp)
    if inner is not None:
        if value is None:
            return None
        if typing.get_origin(inner) is typing.Literal and value not in typing.get_args(inner):
            return f"{key} must be {', '.join(map(str, typing.get_args(inner)))} or none; got {value!r}"
        return field_constraint_error(key, value, inner)
    if typing.get_origin(tp) is typing.Literal and value not in typing.get_args(tp):
        return f"{key} must be one of {', '.join(map(str, typing.get_args(tp)))}; got {value!r}"
    return None


def choices(tp: Any) -> tuple:
    """The values a ``Literal`` field type admits (inside ``Annotated``/``| None`` too)."""
    if typing.get_origin(tp) is typing.Annotated:
        return choices(typing.get_args(tp)[0])
    inner = _optional_inner(tp)
    if inner is not None:
        return choices(inner)
    return typing.get_args(tp) if typing.get_origin(tp) is typing.Literal else ()


NonNegative = Annotated[int, Range(ge=0)]
"""An int field that is 0 or more."""
AtLeastOne = Annotated[int, Range(ge=1)]
"""An int field that is 1 or more."""
Fraction = Annotated[float, Range(gt=0, lt=1)]
"""A float field strictly between 0 and 1."""


@dataclass
class TrainConfig:
    """The engine's settings; the same fields for every task (a task may change defaults).

    ``batch_size`` is per process and per micro-batch: one optimizer step adds the
    gradients of ``accumulate_steps`` micro-batches (each loss divided by their number),
    so the global batch is ``batch_size * accumulate_steps * WORLD_SIZE`` (halve one and
    double another for the same run on other hardware). ``sync_batchnorm``: under several
    processes, batch normalisation over the global batch (torch's SyncBatchNorm, CUDA only)
    instead of each process's own. Schedules step once per optimizer step; ``step_size`` is in epochs.
    ``plateau`` (Keras's ReduceLROnPlateau as the time-series classification papers use
    it) multiplies the rate by ``plateau_factor`` after ``plateau_patience`` epochs
    without a lower training loss, down to ``min_lr``; it steps once per epoch.
    ``precision`` "auto" and ``channels_last`` none take the device type's measured
    default (``convkit.train.runtime.device_defaults``); ``compile`` is off unless set.
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
    ``convkit.train.runtime.set_threads``). ``name`` names the run folder (default: model +
    timestamp). ``loggers``: what the run logs besides ``metrics.jsonl``, by name: ``csv``
    (``steps.csv``, ``epochs.csv``), ``tensorboard`` (an event file), or a logger another
    package installs (``convkit.train.loggers``); ``[]``: none.
    """

    epochs: AtLeastOne = 10
    batch_size: AtLeastOne = 64
    lr: Annotated[float, Range(gt=0)] = 0.01
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    momentum: Annotated[float, Range(ge=0, lt=1)] = 0.9
    weight_decay: Annotated[float, Range(ge=0)] = 5e-4
    schedule: Literal["cosine", "onecycle", "step", "plateau", "none"] = "cosine"
    step_size: Annotated[int, Range(ge=1, note="epochs")] = 10
    gamma: Annotated[float, Range(gt=0, le=1)] = 0.1
    plateau_patience: Annotated[int, Range(ge=0, note="epochs")] = 50
    plateau_factor: Fraction = 0.5
    min_lr: Annotated[float, Range(ge=0)] = 1e-4
    clip_grad_norm: Annotated[float, Range(ge=0, note="0: off")] = 0.0
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "auto"
    channels_last: bool | None = None
    compile: bool = False
    deterministic: bool = False
    patience: Annotated[int, Range(ge=0, note="0: off")] = 0
    max_minutes: Annotated[float, Range(ge=0, note="0: off")] = 0.0
    seed: NonNegative = 0
    seeds: AtLeastOne = 1
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    num_workers: NonNegative = 0
    accumulate_steps: AtLeastOne = 1
    sync_batchnorm: bool = False
    threads: Annotated[int, Range(ge=0, note="0: one per available core")] = 0
    checkpoint_every: Annotated[int, Range(ge=0, note="0: epoch ends only")] = 200
    eval_every: Annotated[int, Range(ge=1, note="epochs")] = 1
    save_every: Annotated[int, Range(ge=0, note="epochs; 0: at the end only")] = 1
    log_every: Annotated[int, Range(ge=0, note="0: off")] = 0
    baselines: bool = True
    name: str = ""
    loggers: list[str] = field(default_factory=lambda: ["csv"])

    def validate(self) -> None:
        """Raise ConfigError if ``name`` is not a plain folder name or ``loggers`` repeats
        a name (the field types state the other constraints; which logger names exist is
        checked when the run starts, ``convkit.train.loggers.make_loggers``)."""
        if re.fullmatch(r"[A-Za-z0-9._-]*", self.name) is None or self.name in (".", ".."):
            raise ConfigError(f"train.name must be a folder name of letters, digits, '.', '_' or '-'; "
                              f"got {self.name!r}")
        repeated = sorted({n for n in self.loggers if self.loggers.count(n) > 1})
        if repeated:
            raise ConfigError(f"train.loggers names {', '.join(map(repr, repeated))} more than once; "
                              f"got {self.loggers!r}")


@dataclass
class DataSizedTrainConfig(TrainConfig):
    """``TrainConfig`` of a task mode that sizes training by the data it reads (e.g. a
    task's ``--data`` runs): ``epochs`` and ``batch_size`` 0, the defaults, are set by the
    task's stated rule when it builds the data (in place, so the run's config records the
    values used; the task logs the rule in one line). A value given (flag, file, recipe,
    ``--set``) wins, since it is resolved over these defaults."""

    epochs: Annotated[int, Range(ge=0, note="0: sized by the data")] = 0
    batch_size: Annotated[int, Range(ge=0, note="0: sized by the data")] = 0


def size_training(train: TrainConfig, n_train: int, batch: tuple[int, int], steps: int,
                  epochs: tuple[int, int], examples: str) -> list[str]:
    """Set ``train.batch_size`` and ``train.epochs`` where they are 0 (sized by the data)
    for ``n_train`` training ``examples``, in place: the batch ``batch[1]``, at most a
    tenth of the examples, at least ``batch[0]``; epochs enough for ``steps`` optimizer
    steps (the engine's whole batches), within ``epochs``. Returns the rules applied, as a
    task says them in its log line (nothing for a value given)."""
    said = []
    if train.batch_size == 0:
        low, high = batch
        train.batch_size = max(low, min(high, n_train // 10))
        said.append(f"train.batch_size={train.batch_size} ({high}, at most a tenth of the {n_train:,} training "
                    f"{examples}, at least {low})")
    if train.epochs == 0:
        per_epoch = n_train // train.batch_size if n_train >= train.batch_size else 1
        low, high = epochs
        train.epochs = max(low, min(high, math.ceil(steps / per_epoch)))
        said.append(f"train.epochs={train.epochs} ({steps:,} steps of {per_epoch} an epoch, {low} to {high} epochs)")
    return said


@dataclass
class ModelConfig:
    """A zoo model: ``name`` for ``create_model`` (empty: the task's default) and
    ``options`` passed to it as keyword arguments (e.g. ``small_input = true``).

    Starting from weights (``convkit.train.transfer``): ``pretrained``, a weights file
    (torchvision's or convkit's ``.pth``, ``.safetensors``), a convkit checkpoint or run
    folder (empty: none), loaded by name into the model the run builds (a head for other
    classes starts fresh; the weights' preprocessing is applied to the data);
    ``freeze_epochs``: the first epochs train the head only, the backbone (everything but
    the ``head``) frozen with its BatchNorm in eval mode (``train.epochs`` or more: a
    linear probe); ``backbone_lr_scale``: the backbone's learning rate as a fraction of
    ``train.lr``, the head's."""

    name: str = ""
    options: dict = field(default_factory=dict)
    pretrained: str = ""
    freeze_epochs: Annotated[int, Range(ge=0, note="epochs; 0: off")] = 0
    backbone_lr_scale: Annotated[float, Range(gt=0, le=1)] = 1.0


@dataclass
class DataConfig:
    """Where the data comes from: ``path`` (empty: the task's embedded default data) and
    ``strict`` (a corrupt file is an error instead of being skipped with a warning)."""

    path: str = ""
    strict: bool = False


@dataclass
class FileDataConfig(DataConfig):
    """``DataConfig`` of a task that reads one file per example, decoded per batch
    (``convkit.data.lazy``): ``in_memory`` decodes every file into memory before training
    instead (an explicit choice for a small set; the run's log says which it is);
    ``max_skipped``, the largest fraction of a split's files that may be skipped when they
    are found unreadable while training: more stops the run with one line at the end of
    the epoch that found them."""

    in_memory: bool = False
    max_skipped: Annotated[float, Range(ge=0, le=1, note="a fraction of a split's files")] = 0.01


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
    """Field types with ``Annotated`` stripped and a ``Literal`` read as its values' type
    (``validate`` checks the choices and bounds themselves)."""
    return {name: _literal_base(tp) for name, tp in typing.get_type_hints(cls).items()}


def _literal_base(tp: Any) -> Any:
    """``str`` for ``Literal["a", "b"]`` (``int | None`` for ``Literal[1, 3] | None``), else ``tp``."""
    inner = _optional_inner(tp)
    if inner is not None:
        base = _literal_base(inner)
        return tp if base is inner else base | None
    if typing.get_origin(tp) is typing.Literal:
        (base,) = {type(v) for v in typing.get_args(tp)}
        return base
    return tp


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
    """Check every section's fields against the constraints their types state
    (``Literal`` choices, :class:`Range` bounds), then call ``validate()`` on every section
    that has one (checks no type states, e.g. a folder name), then on the run config
    itself when it has one (checks across sections, e.g. an FFT longer than the clip)."""
    for f in dataclasses.fields(cfg):
        section = getattr(cfg, f.name)
        if dataclasses.is_dataclass(section):
            check_fields(section, f"{f.name}.")
        if hasattr(section, "validate"):
            section.validate()
    if hasattr(cfg, "validate"):
        cfg.validate()


def check_fields(section: Any, prefix: str = "") -> None:
    """Raise ConfigError naming the first field of the dataclass ``section`` whose value
    breaks its type's constraint (see :func:`field_constraint_error`)."""
    hints = typing.get_type_hints(type(section), include_extras=True)
    for f in dataclasses.fields(section):
        message = field_constraint_error(f"{prefix}{f.name}", getattr(section, f.name), hints[f.name])
        if message is not None:
            raise ConfigError(message)


# --------------------------------------------------------------------------- TOML files


def read_toml(path: str | Path | Traversable) -> dict:
    """Read a TOML file (a path, or a recipe installed with a package); a missing or
    malformed file raises ConfigError naming it."""
    file = path if isinstance(path, Traversable) else Path(path)
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
    config_file: str | Path | Traversable | Sequence[str | Path | Traversable] | None = None,
    flags: dict[str, str] | None = None,
    sets: list[str] | None = None,
    base: dict | None = None,
) -> C:
    """Resolve a run config: defaults (or ``base``, a stored config dict, e.g. of a
    checkpoint being resumed), then ``config_file`` (one TOML file, or several applied in
    order: a recipe, then the user's file), then ``flags`` (dotted key to command-line
    text, e.g. ``{"train.epochs": "5"}``), then ``sets`` (``section.key=value``), then
    validation.

    Raises:
        ConfigError: unknown key, wrong type or value out of range (one line).
    """
    cfg = from_dict(cls, base, "checkpoint") if base is not None else cls()
    files = [] if config_file is None else [config_file] if isinstance(config_file, (str, Path, Traversable)) \
        else list(config_file)
    for file in files:
        cfg = merge_dict(cfg, read_toml(file), str(file))
    for key, text in (flags or {}).items():
        cfg = set_value(cfg, key, text, "command-line flag")
    for assignment in sets or []:
        cfg = apply_set(cfg, assignment)
    validate(cfg)
    return cfg
