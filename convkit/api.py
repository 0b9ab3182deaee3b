"""convkit from Python: train a task with any model and any data, get the run back, and
use a run later (in this process or another).

Train a model of your own (a class in a module of its own, ``tinynet.py``) on tensors::

    import torch
    from torch.utils.data import TensorDataset

    import convkit
    from tinynet import TinyNet                 # class TinyNet(nn.Module): __init__(self, classes=2)

    x, y = torch.rand(200, 1, 16, 16), torch.arange(200) % 2
    x[y == 1, :, :, ::4] = 1.0                  # class 1 has vertical bars
    run = convkit.fit("image", TinyNet, TensorDataset(x, y), model_options={"classes": 2}, epochs=3)
    run.run_dir, run.metrics["test"]["accuracy"], run.model

and use it again, here or in a new process (``python -m convkit.tasks.image evaluate
--checkpoint <run>/best.pt --data FOLDER`` works on it as well)::

    run = convkit.load_run("runs/image/<run>")   # a run folder or a checkpoint file
    run.evaluate(TensorDataset(x, y))            # or a folder of the task's files
    run.predict(x[:4])                           # or image files
    run.export("tiny.onnx")

Everything goes through the engine (``convkit.train.engine.fit``) and the same functions
the command line uses (``convkit.train.inference``: ``load_trained``,
``evaluate_checkpoint``, ``predict_checkpoint``, ``export_checkpoint``); this module only
turns Python objects into a task, a config, a model and ``Data``.

How a run records its model, so that every command rebuilds it in a new process: a zoo
or plug-in model by its name; a class from outside convkit by its import path
``module:Class`` in ``model.name`` and its constructor options in ``model.options``
(``Class(**model_options)``; plain values only). A class defined in ``__main__`` (a script
or a notebook) cannot be imported by another process: ``fit`` warns, and a new process
says so in one line; move the class to a module. Data given from Python is recorded as
``data.path = "<python: ...>"``: evaluating such a run without data says so in one line;
give it files of the task (``--data``) or a dataset (``Run.evaluate``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

from convkit import config as config_io
from convkit import plugins
from convkit.cli import FLAG_KEYS, config_from_args
from convkit.config import RunConfig
from convkit.data.splits import check_classes, check_split_parts, split_indices
from convkit.errors import CheckpointError, ConfigError, DataError
from convkit.models.registry import model_class
from convkit.tasks import TASK_NAMES, load_task, plugin_tasks
from convkit.train import checkpoint as checkpoints
from convkit.train.engine import fit as engine_fit
from convkit.train.inference import (
    evaluate_checkpoint,
    export_checkpoint,
    load_trained,
    model_from_class,
    predict_checkpoint,
    python_data_path,
)
from convkit.train.runtime import seed_everything
from convkit.train.task import Data, Task

__all__ = ["Run", "fit", "load_run"]

SETTING_FLAGS: dict[str, str] = {attr: key for attr, key in FLAG_KEYS.items() if attr not in ("data", "model")}
"""``fit``'s keyword settings and the config keys they set: the command line's flags
(``epochs``, ``batch_size``, ``lr``, ``seed``, ``device``)."""


class Run:
    """A training run: its folder, config and metrics, its trained model, and the commands
    on it (the command line's ``evaluate``, ``predict`` and ``export``).

    Attributes:
        run_dir: the run folder (``runs/<task>/<run>``).
        checkpoint: the checkpoint the commands use (``best.pt``, else ``last.pt``).
        task: the task that trained it (a ``convkit.train.task.Task``).
        config: the run's resolved config (``config.toml``).
    """

    def __init__(self, run_dir: Path, checkpoint: Path, task: Task, config: RunConfig,
                 metrics: dict | None = None, model: nn.Module | None = None) -> None:
        self.run_dir, self.checkpoint, self.task, self.config = run_dir, checkpoint, task, config
        self._metrics, self._model = metrics, model

    @property
    def metrics(self) -> dict | None:
        """``metrics.json``: ``{"task", "model", "params", "train_seconds", "val", "test",
        "baselines"}`` (None for a run that did not finish)."""
        if self._metrics is None:
            path = self.run_dir / "metrics.json"
            if path.is_file():
                self._metrics = json.loads(path.read_text(encoding="utf-8"))
        return self._metrics

    @property
    def model(self) -> nn.Module:
        """The trained model (the checkpoint's weights), in eval mode."""
        if self._model is None:
            self._model = load_trained(self.task, self.checkpoint, "cpu").model
        return self._model.eval()

    def evaluate(self, data: str | Path | Dataset | None = None, device: str = "auto") -> dict:
        """The test block of ``metrics.json``'s shape (plus the confusion matrix and other
        extras) on ``data``: a path of the task's files (``evaluate --data``: its test split
        when it has one, else all of it), a map-style dataset of ``(input, label)`` examples
        as the model takes them (all of it), or None: the run's own test split, rebuilt from
        its config (a DataError for data given from Python)."""
        if data is None or isinstance(data, (str, Path)):
            return evaluate_checkpoint(self.task, self.checkpoint, str(data) if data is not None else None, device)
        return evaluate_checkpoint(self.task, self.checkpoint, device=device, dataset=data)

    def predict(self, inputs: Sequence[str | Path] | torch.Tensor, device: str = "auto") -> list[dict]:
        """One prediction per input, in order (``predict``): ``inputs`` are files of the task
        (texts for the text task) or a tensor ``[N, *input_shape]`` of inputs as the model
        takes them; a classifier's row is ``{"input", "label", "probabilities"}``."""
        if not isinstance(inputs, torch.Tensor):
            inputs = [str(x) for x in inputs]
        return predict_checkpoint(self.task, self.checkpoint, inputs, device)

    def export(self, path: str | Path, format: str = "onnx") -> dict:  # noqa: A002 - the CLI's --format
        """Write the model to ``path`` as ``onnx`` or ``torchscript``, with its metadata,
        checked against PyTorch (``export``); returns ``{"output", "format", "max_abs_diff",
        "dynamic_axes", "metadata"}``."""
        return export_checkpoint(self.task, self.checkpoint, format, path)

    def __repr__(self) -> str:
        test = (self.metrics or {}).get("test") or {}
        scores = ", ".join(f"{k}={v:.4g}" for k, v in test.items() if isinstance(v, (int, float)))
        return f"Run({str(self.run_dir)!r}, task={self.task.name!r}, model={self.config.model.name!r}, {scores})"


def fit(task: str | Task, model: str | type[nn.Module] | nn.Module | None = None,
        data: str | Path | Data | Dataset | tuple[Dataset, Dataset, Dataset] | None = None, *,
        model_options: Mapping[str, Any] | None = None, label_names: Sequence[str] | None = None,
        recipe: str | None = None, config: str | Path | None = None, settings: Mapping[str, Any] | None = None,
        out: str | Path = ".", resume: str | Path | None = None, **flags: Any) -> Run:
    """Train ``task`` and return the :class:`Run` (its folder ``out/runs/<task>/<run>``).

    Args:
        task: a task's name (built in, e.g. ``"image"``, or a plug-in's), a ``Task``, or a
            ``Task``'s import path ``module:attr``.
        model: None (the task's default or ``recipe``'s model), a zoo or plug-in model's
            name (``--model``), an ``nn.Module`` subclass (built after seeding as
            ``model(**model_options)``; its import path and the options are recorded, so
            another process rebuilds it), or an ``nn.Module`` instance (trained as it is;
            recorded as its class with ``model_options``, and ``fit`` warns when that does
            not rebuild its parameters).
        data: None (the task's default data, or ``data.path``), a path (``--data``), a
            ``convkit.train.task.Data``, a ``(train, val, test)`` tuple of map-style
            datasets, or one map-style dataset, split 80/10/10 stratified by label and
            seeded by ``train.seed`` (``convkit.data.splits``). Examples are ``(input,
            label)`` with an integer class label; the input of the first example sets what
            the model takes: a float tensor ``[C, *spatial]`` (1 to 3 spatial axes) is a
            grid, an integer tensor ``[L]`` tokens.
        model_options: the class's constructor options (plain values: numbers, strings,
            lists, dicts), or a zoo model's options (``model.options``).
        label_names: the class names (default: the dataset's ``classes`` attribute, else
            ``"0"``, ``"1"``, ...).
        recipe: a recipe of the task (``--recipe``); ``config``: a TOML file (``--config``).
        settings: any config keys, dotted, as ``--set`` takes them
            (``{"train.name": "tiny", "data.augment": False}``).
        out: where ``runs/`` goes (``--out``); ``resume``: a ``last.pt`` to continue.
        **flags: the command line's flags: ``epochs``, ``batch_size``, ``lr``, ``seed``, ``device``.

    Returns:
        The :class:`Run`, holding the trained model (best validation weights) and
        ``metrics.json``'s contents.

    Raises:
        ConvkitError: a bad setting, model, data or checkpoint (one line each).

    Example (``tinynet.py`` beside the script holds ``class TinyNet(nn.Module)``)::

        import torch, convkit
        from torch.utils.data import TensorDataset
        from tinynet import TinyNet

        x, y = torch.rand(200, 1, 16, 16), torch.arange(200) % 2
        x[y == 1, :, :, ::4] = 1.0
        run = convkit.fit("image", TinyNet, TensorDataset(x, y), model_options={"classes": 2},
                          epochs=3, settings={"train.name": "tiny"})
        print(run.metrics["test"]["accuracy"], run.run_dir)
    """
    task_obj = load_task(task) if isinstance(task, str) else task
    if not isinstance(task_obj, Task):
        raise ConfigError(f"task must be a task's name or a convkit Task; got {type(task_obj).__name__}")
    unknown = sorted(set(flags) - set(SETTING_FLAGS))
    if unknown:
        raise ConfigError(f"convkit.fit got unknown settings {', '.join(unknown)}; valid: "
                          f"{', '.join(SETTING_FLAGS)}, or settings={{'section.key': value}}")
    args = argparse.Namespace(recipe=recipe, config=str(config) if config is not None else None,
                              resume=str(resume) if resume is not None else None,
                              **{attr: None for attr in FLAG_KEYS})
    for attr, value in flags.items():
        setattr(args, attr, _text(value))
    args.set = [f"{key}={_text(value)}" for key, value in _flatten(dict(settings or {}))]

    instance, cls = _model_argument(model)
    options = _plain_options(model_options or {})
    if isinstance(model, str):
        args.model = model
    elif cls is not None:
        args.model = plugins.reference_of(cls)
    if cls is None and options:  # a zoo model's options, as --set model.options.KEY=VALUE
        args.set = [f"model.options.{k}={_text(v)}" for k, v in _flatten(options)] + args.set
    if isinstance(data, (str, Path)):
        args.data = str(data)
    elif data is not None:
        args.data = python_data_path(_describe(data))
    if label_names is not None and (data is None or isinstance(data, (str, Path, Data))):
        raise ConfigError("label_names names the classes of datasets given from Python; a path's files and a "
                          "Data bring their own")

    runner, cfg = config_from_args(task_obj, args)
    if cls is not None:  # the class is built with exactly these options (a recipe's zoo options do not apply)
        cfg = _with_model(cfg, args.model, options)
    if cfg.train.seeds > 1 or runner.repeats(cfg):
        raise ConfigError("convkit.fit trains one run; for several seeds or folds call it once per seed or fold, "
                          "or use the command line (python -m convkit TASK train)")
    if cls is not None:
        _check_rebuildable(cls, cfg.model.options, instance)
        if instance is None:  # built here, from the class given (it may not import by name), seeded as the engine would
            seed_everything(cfg.train.seed, cfg.train.deterministic)
            instance = model_from_class(cls, cfg.model.options, cfg.model.name)
    _check_task_findable(task_obj)
    built = None if data is None or isinstance(data, (str, Path)) else _as_data(data, runner, cfg, label_names)
    result = engine_fit(task_obj, cfg, out_dir=out, resume=resume, data=built, model=instance)
    run_dir = Path(result.run_dir) if result.run_dir is not None else None
    checkpoint = _checkpoint_of(run_dir) if run_dir is not None else None
    return Run(run_dir, checkpoint, task_obj, cfg, result.metrics, result.model)


def load_run(path: str | Path, task: str | Task | None = None) -> Run:
    """A finished (or stopped) run, from its folder (its ``best.pt``, else ``last.pt``) or
    one of its checkpoints. The task is the checkpoint's: a built-in task or plug-in by
    name, else the ``Task`` whose import path the checkpoint records; ``task`` names it
    when neither can be found (a task defined in a script).

    Raises:
        CheckpointError: no checkpoint there, an unreadable or unsafe one, or a task that
            cannot be found (one line each).
    """
    path = Path(path)
    checkpoint = _checkpoint_of(path) if path.is_dir() else path
    state = checkpoints.load_training_checkpoint(checkpoint)
    if task is None:
        task_obj = _task_of(state, checkpoint)
    else:
        task_obj = load_task(task) if isinstance(task, str) else task
    cfg = config_io.from_dict(task_obj.config_class, state["config"], f"{checkpoint} config")
    if task_obj.name != state.get("task"):
        raise CheckpointError(f"{checkpoint}: a checkpoint of the {state.get('task')!r} task, not {task_obj.name!r}")
    return Run(checkpoint.parent, checkpoint, task_obj, cfg)


# ---- helpers


def _text(value: Any) -> str:
    """A Python value as ``--set`` text: TOML for lists, numbers and booleans, a string as it is."""
    if isinstance(value, str):
        return value
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # also TOML: 0.05, 1e-05, inf, nan
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_item(v) for v in value) + "]"
    if isinstance(value, Path):
        return str(value)
    raise ConfigError(f"settings take numbers, strings, booleans, lists and dicts; got {type(value).__name__}")


def _toml_item(value: Any) -> str:
    """A list item as TOML (strings quoted)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_item(v)}" for k, v in value.items()) + "}"
    return _text(value)


def _plain_options(options: Mapping[str, Any], where: str = "model_options") -> dict:
    """``options`` as plain values a checkpoint and ``config.toml`` hold (tuples become
    lists, so a rebuilt model gets what this one got); ConfigError naming anything else."""
    def plain(value: Any, key: str) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, (list, tuple)):
            return [plain(v, f"{key}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            return {str(k): plain(v, f"{key}.{k}") for k, v in value.items()}
        raise ConfigError(f"{key} must be a plain value (a number, string, boolean, list or dict) so that the run "
                          f"can record it; got {type(value).__name__}")

    return {str(k): plain(v, f"{where}.{k}") for k, v in options.items()}


def _flatten(values: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}}`` -> ``[("a.b", 1)]`` (dotted keys, as ``--set`` takes them)."""
    out: list[tuple[str, Any]] = []
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            out += _flatten(dict(value), f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _model_argument(model: Any) -> tuple[nn.Module | None, type[nn.Module] | None]:
    """``(instance to train or None, class to record or None)`` of ``fit``'s ``model``."""
    if model is None or isinstance(model, str):
        return None, None
    if isinstance(model, nn.Module):
        return model, type(model)
    if isinstance(model, type) and issubclass(model, nn.Module):
        return None, model
    raise ConfigError(f"model must be a model's name, an nn.Module subclass or an nn.Module; got {model!r}")


def _with_model(cfg: RunConfig, name: str, options: dict) -> RunConfig:
    """``cfg`` with ``model.name`` and exactly ``options``."""
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, name=name, options=options))


def _check_rebuildable(cls: type[nn.Module], options: dict, instance: nn.Module | None) -> None:
    """Warn (one line) when another process could not rebuild the model as the run records
    it: a class it cannot import, or (an instance) ``cls(**options)`` without the
    instance's parameters."""
    reference = plugins.reference_of(cls)
    why = plugins.importable(reference)
    if why is None:
        try:
            if model_class(reference) is not cls:
                why = f"importing {reference} gives another class"
        except ConfigError as err:
            why = str(err)
    if why is None and instance is not None:
        try:
            probe = cls(**options)
            shapes = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
            if shapes != {k: tuple(v.shape) for k, v in instance.state_dict().items()}:
                why = (f"{cls.__name__}(**model_options) with model_options={options} does not have the given "
                       f"model's parameters; pass model={cls.__name__}, model_options={{...}} instead of an instance")
        except Exception as err:  # noqa: BLE001 - any failure means it cannot be rebuilt
            why = f"{cls.__name__}(**{options}) fails: {type(err).__name__}: {err}"
    if why is not None:
        warnings.warn(f"convkit.fit: the run records its model as {reference!r}, but {why}; until then evaluate, "
                      f"predict and export work on this run in this process only", stacklevel=3)


def _check_task_findable(task: Task) -> None:
    """Warn (one line) when another process could not find ``task`` from the checkpoint:
    not built in, not a plug-in, and no importable module-level name."""
    if task.name in TASK_NAMES or plugin_tasks().get(task.name) is task:
        return
    reference = plugins.reference_of(task)
    why = ("the task is no module-level name of its class's module" if reference is None
           else plugins.importable(reference))
    if why is not None:
        warnings.warn(f"convkit.fit: task {task.name!r} is neither built in nor a plug-in, and {why}; "
                      f"another process needs it named: convkit.load_run(path, task=...)", stacklevel=3)


def _describe(data: Any) -> str:
    """A few words on data given from Python, for ``data.path`` (``TensorDataset, 200 examples``)."""
    if isinstance(data, Data):
        parts = [data.train, data.val, data.test]
    elif isinstance(data, tuple):
        parts = list(data)
    else:
        parts = [data]
    sizes = sum(len(p) for p in parts if p is not None and hasattr(p, "__len__"))
    kind = type(parts[0]).__name__ if not isinstance(data, Data) else "Data"
    return f"{kind}, {sizes} examples"


def _is_dataset(obj: Any) -> bool:
    return hasattr(obj, "__getitem__") and hasattr(obj, "__len__") and not isinstance(obj, (str, bytes, torch.Tensor))


def _labels(dataset: Any, where: str) -> np.ndarray:
    """The integer label of every example ``[N]`` (a TensorDataset's second tensor, else
    read example by example)."""
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) >= 2:
        labels = dataset.tensors[1]
        if labels.ndim != 1 or labels.is_floating_point() or labels.is_complex():
            raise DataError(f"{where}: labels must be integer class indices [N]; got a {labels.dtype} tensor "
                            f"of shape {list(labels.shape)}")
        return labels.numpy().astype(np.int64)
    out = np.empty(len(dataset), dtype=np.int64)
    for i in range(len(dataset)):
        out[i] = _label(dataset[i], i, where)
    return out


def _label(example: Any, index: int, where: str) -> int:
    """The integer class label of one ``(input, label)`` example."""
    if not isinstance(example, (tuple, list)) or len(example) != 2:
        raise DataError(f"{where}: example {index} must be a pair (input, label); got {type(example).__name__}")
    label = example[1]
    if isinstance(label, torch.Tensor):
        if label.numel() != 1 or label.is_floating_point():
            raise DataError(f"{where}: example {index}'s label must be an integer class index; got a "
                            f"{label.dtype} tensor of shape {list(label.shape)}")
        return int(label)
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return int(label)
    raise DataError(f"{where}: example {index}'s label must be an integer class index; got {label!r}")


def _split(dataset: Any, labels: np.ndarray, seed: int, names: list[str], where: str) -> tuple[Any, Any, Any]:
    """A stratified, seeded 80/10/10 split of ``dataset`` by its ``labels [N]``
    (TensorDatasets stay TensorDatasets; other datasets become Subsets)."""
    parts = split_indices(labels, seed=seed)
    check_split_parts(parts, labels, names, where)
    if isinstance(dataset, TensorDataset):
        return tuple(TensorDataset(*(t[torch.from_numpy(p)] for t in dataset.tensors)) for p in parts)
    return tuple(Subset(dataset, p.tolist()) for p in parts)


def _as_data(data: Any, runner: Task, cfg: RunConfig, label_names: Sequence[str] | None) -> Data:
    """``fit``'s ``data`` as the engine's ``Data``: what the model takes, read from the
    first training example; the label names given, the dataset's ``classes``, or the
    class indices as text. Every example's label is read once (a TensorDataset's label
    tensor at once)."""
    if isinstance(data, Data):
        return data
    where = "data"
    if isinstance(data, tuple):
        if len(data) != 3 or not all(_is_dataset(d) for d in data):
            raise DataError(f"{where}: a tuple must hold three map-style datasets (train, val, test); got "
                            f"{len(data)} item(s)")
        splits = {name: split for name, split in zip(("train", "val", "test"), data)}
        for name, split in splits.items():
            if len(split) == 0:
                raise DataError(f"{where}: the {name} dataset is empty")
        labels = {name: _labels(split, f"{where} ({name})") for name, split in splits.items()}
        every = np.concatenate(list(labels.values()))
        source = splits["train"]
    elif _is_dataset(data):
        if len(data) == 0:
            raise DataError(f"{where}: the dataset is empty")
        every, source = _labels(data, where), data
    else:
        raise DataError(f"{where}: expected a path, a convkit Data, a map-style dataset of (input, label) examples "
                        f"or a (train, val, test) tuple of them; got {type(data).__name__}")
    names = label_names if label_names is not None else getattr(source, "classes", None)
    names = [str(n) for n in names] if names is not None else [str(i) for i in range(int(every.max()) + 1)]
    if every.min() < 0 or every.max() >= len(names):
        raise DataError(f"{where}: labels must be class indices 0..{len(names) - 1}, one per label name "
                        f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''}); found "
                        f"{int(every.min())}..{int(every.max())}")
    if isinstance(data, tuple):
        train, val, test = data
        check_classes(labels["train"], names, f"{where} (train)")
    else:
        check_classes(every, names, where)
        train, val, test = _split(data, every, cfg.train.seed, names, where)
    return Data(train, val, test, label_names=names, info=_default_info(runner), **_input_of(train[0], where))


def _input_of(example: Any, where: str) -> dict:
    """What the model takes, from one ``(input, label)`` example: a float tensor ``[C,
    *spatial]`` is a grid, an integer ``[L]`` tokens."""
    if not isinstance(example, (tuple, list)) or len(example) != 2 or not isinstance(example[0], torch.Tensor):
        raise DataError(f"{where}: examples must be pairs (input tensor, label); got {type(example).__name__}")
    x = example[0]
    dtype = str(x.dtype).removeprefix("torch.")
    if x.is_floating_point() and 2 <= x.ndim <= 4:
        return dict(input_kind="grid", spatial_dims=x.ndim - 1, in_channels=int(x.shape[0]),
                    input_shape=tuple(int(n) for n in x.shape), input_dtype=dtype)
    if not x.is_floating_point() and x.ndim == 1:
        return dict(input_kind="tokens", spatial_dims=1, in_channels=1, input_shape=(int(x.shape[0]),),
                    input_dtype=dtype, dynamic_axes={1: "length"})
    raise DataError(f"{where}: cannot tell what the model takes from an input of shape {list(x.shape)} ({dtype}); "
                    f"expected a float tensor [C, *spatial] with 1 to 3 spatial axes or an integer [L] of tokens "
                    f"(or pass a convkit Data)")


def _default_info(runner: Task) -> Any:
    """The task's ``info`` record with its defaults (a dict when it has none)."""
    try:
        return runner.info_class()
    except TypeError:  # a record whose fields have no defaults
        return {}


def _checkpoint_of(run_dir: Path) -> Path:
    """A run folder's ``best.pt``, else its ``last.pt``."""
    for name in ("best.pt", "last.pt"):
        if (run_dir / name).is_file():
            return run_dir / name
    raise CheckpointError(f"{run_dir}: no best.pt or last.pt (not a run folder, or a run that saved nothing)")


def _task_of(state: dict, checkpoint: Path) -> Task:
    """The task a checkpoint was trained by: built in or a plug-in by name, else its
    recorded import path."""
    name = state.get("task")
    if name in TASK_NAMES or name in plugin_tasks():
        return load_task(name)
    reference = state.get("task_ref")
    if not reference:
        raise CheckpointError(f"{checkpoint}: a run of task {name!r}, which is neither built in nor a plug-in and "
                              f"whose import path the checkpoint does not hold; name it: load_run(path, task=...)")
    try:
        return load_task(reference)
    except ConfigError as err:
        raise CheckpointError(f"{checkpoint}: cannot find its task: {err}; or name it: load_run(path, task=...)") \
            from None
