"""The task interface: what a task hands to the one training engine.

A task joins data, a zoo model, a loss and metrics (DESIGN.md "Tasks"); the engine
(``convkit.train.engine``) owns everything else: devices, precision, optimizers,
schedules, DDP, checkpoints, files. One interface serves every task:

* **Data, declared once.** ``build_data`` returns a :class:`Data`: three map-style
  datasets, the label names, a ``collate_fn`` for batches of any structure (tensors in
  tuples/dicts, or objects with ``.to(device)`` such as a torch_geometric ``Batch``),
  and the input the model takes: ``input_kind`` (``grid`` with ``spatial_dims``,
  ``tokens``, ``points``, ``graph``), ``input_shape``/``input_dtype`` of one example and
  its ``dynamic_axes`` (export and ``info`` read these), plus ``monitor``/``monitor_mode``
  when the data decides what early stopping watches (``None``: the task's class default).
* **Tasks are stateless.** A task instance holds no run state: everything a run decides
  lives in the resolved config or the built ``Data``. State derived from a validation
  pass (e.g. an anomaly threshold calibration) is returned by ``derive_state``; the
  engine saves it in the checkpoint holding the weights of that same epoch
  (``task_state``) and hands it back through :class:`Trained` to ``predict``. A task may
  stand for several (``for_config``: the time-series task is detection or
  classification by its config).
* **Steps.** ``training_step`` returns a loss; ``evaluation_step`` returns tensors with a
  per-example (or per node / per window) first axis, which the engine concatenates over
  the split in dataset order across DDP ranks and hands to ``compute_metrics``.
* **Per-epoch sampling.** Datasets are deterministic per epoch: a dataset that draws a
  random clip or point subset defines ``set_epoch(epoch)``, which the engine calls before
  each training epoch, and derives its randomness from (seed, epoch, index), so a resumed
  run is bit-identical. Random augmentation on the batch (``augmentation``) draws from
  the global torch RNG, which checkpoints save.
* **One evaluation path.** ``evaluate`` scores the test split of ``build_data(cfg)`` (the
  run's own data) or of ``build_eval_data(cfg, path, spec)`` (other data, shaped for the
  trained model) with the same ``evaluation_step``/``compute_metrics``; ``predict`` reads all its
  inputs once (``load_inputs``) and the task batches them itself (``predict``).
* **Baselines for every task.** ``baseline_features`` gives fixed features to the shared
  ``linear`` (logistic regression) and parameter-matched ``mlp`` baselines
  (``convkit.train.baselines``); ``extra_baselines`` adds a task's own.
* **Profiles.** ``profiles`` names ``--set`` override lists (``smoke``: tiny and fast) that
  the benchmark and tests use; they live in the installed package.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from convkit.config import RunConfig, resolve_config
from convkit.errors import ConfigError, ShapeError
from convkit.train import metrics as metric_fns
from convkit.train import plots
from convkit.train.baselines import BaselineFeatures, shared_baselines
from convkit.train.loaders import move_to_device

INPUT_KINDS = ("grid", "tokens", "points", "graph")
"""What a model takes: ``grid`` ``[N, C, *spatial]`` (images, spectrograms, clips, series;
``spatial_dims`` 1-3), ``tokens`` ``[N, L]`` int64, ``points`` ``[N, 3+F, P]``, ``graph``
(a torch_geometric ``Data``/``Batch``)."""


@dataclass
class Data:
    """What a task's ``build_data`` returns: three splits and what the model sees.

    ``train``/``val``/``test`` are map-style datasets (``None`` when the data was
    rebuilt from a checkpoint's spec only). ``collate_fn`` (None: torch's default)
    builds batches. ``input_kind`` is one of :data:`INPUT_KINDS`; for ``grid`` inputs
    ``spatial_dims``/``in_channels`` are the layout ``[N, in_channels, *spatial]``.
    ``input_shape`` is one example as the model takes it without the batch axis (e.g.
    ``(1, 32, 32)``; None when the input is not one tensor, e.g. a graph), ``input_dtype``
    its dtype and ``dynamic_axes`` the axes of the batched input that may vary besides
    the batch axis (``{1: "length"}`` for tokens ``[N, L]``); export uses all three.
    ``monitor``/``monitor_mode``: the validation metric early stopping and ``best.pt``
    follow, when the data decides it (None: the task's class attributes). ``info`` is the
    task's own typed record of what it built, an instance of its ``info_class``: a
    dataclass of plain values (ints, floats, strings, lists, dicts), since it is stored in
    checkpoints. A subclass may add fields that are not stored (e.g. pretrained vectors or
    a noise bank used only while training).
    """

    train: Dataset | None
    val: Dataset | None
    test: Dataset | None
    label_names: list[str] | None = None
    collate_fn: Callable | None = None
    input_kind: str = "grid"
    spatial_dims: int = 2
    in_channels: int = 1
    input_shape: tuple[int, ...] | None = None
    input_dtype: str = "float32"
    dynamic_axes: dict[int, str] = field(default_factory=dict)
    monitor: str | None = None
    monitor_mode: str | None = None
    info: Any = field(default_factory=dict)

    def spec(self) -> dict:
        """Everything but the datasets and the collate function, as plain values (stored
        in checkpoints so evaluate/predict/export can rebuild the model without data)."""
        return {
            "label_names": list(self.label_names) if self.label_names is not None else None,
            "input_kind": self.input_kind,
            "spatial_dims": self.spatial_dims,
            "in_channels": self.in_channels,
            "input_shape": list(self.input_shape) if self.input_shape is not None else None,
            "input_dtype": self.input_dtype,
            "dynamic_axes": [[int(axis), str(name)] for axis, name in sorted(self.dynamic_axes.items())],
            "monitor": self.monitor,
            "monitor_mode": self.monitor_mode,
            "info": dataclasses.asdict(self.info) if dataclasses.is_dataclass(self.info) else dict(self.info),
        }

    @classmethod
    def from_spec(cls, spec: dict, info_class: type = dict) -> "Data":
        """A ``Data`` without datasets, from ``spec()``'s dict; ``info`` becomes an
        ``info_class`` (the task's record type) of its stored fields."""
        shape = spec.get("input_shape")
        info = dict(spec.get("info") or {})
        if dataclasses.is_dataclass(info_class):
            known = {f.name for f in dataclasses.fields(info_class)}
            info = info_class(**{key: value for key, value in info.items() if key in known})
        return cls(None, None, None, label_names=spec.get("label_names"),
                   input_kind=spec.get("input_kind", "grid"), spatial_dims=spec.get("spatial_dims", 2),
                   in_channels=spec.get("in_channels", 1), input_shape=tuple(shape) if shape is not None else None,
                   input_dtype=spec.get("input_dtype", "float32"),
                   dynamic_axes={int(a): str(n) for a, n in spec.get("dynamic_axes") or []},
                   monitor=spec.get("monitor"), monitor_mode=spec.get("monitor_mode"), info=info)


@dataclass
class Trained:
    """A trained model ready to use (``load_trained``): the run's ``cfg``, the data
    ``spec`` (a ``Data`` without datasets), the ``model`` in eval mode on ``device``, the
    ``task_state`` its task derived at the validation of these weights (or None), and
    ``out_dir``: where ``predict`` may write files (``predict --out``; None: the task's
    default under the working folder)."""

    cfg: RunConfig
    spec: Data
    model: nn.Module
    device: torch.device
    task_state: dict | None = None
    out_dir: Path | None = None


NOT_PREPROCESSING: frozenset[str] = frozenset({"skipped_files", "split_groups"})
"""``Data.info`` fields that describe the training data (files skipped, which groups went to
which split), not how an input is prepared: left out of export metadata."""


class Task:
    """A task definition handed to the engine. Subclasses set the class attributes and
    implement the data, step and metric methods; the defaults here serve most tasks.
    A task instance holds no run state (see the module docstring).

    Attributes:
        name: the task's name (``runs/<name>/``; checkpoints record it).
        config_class: the task's ``RunConfig`` subclass.
        default_model: zoo model used when ``model.name`` is empty.
        monitor: the validation metric for best checkpoint and early stopping (unless
            the built ``Data`` names one).
        monitor_mode: ``"max"`` or ``"min"``.
        data_formats: one paragraph for ``info``: the formats ``--data`` reads.
        command_aliases: other CLI names for a command (``{"detect": "predict"}``).
        profiles: named lists of ``--set`` overrides; ``smoke`` is a tiny, fast run
            (the benchmark's smoke profile and tests), ``default`` is the task's default.
        resumable_keys: config keys of the task's own sections that ``--resume`` may
            change (besides the engine's ``RESUMABLE_KEYS``: epochs, budgets, cadences).
        info_class: the type of ``Data.info`` the task builds (a dataclass of plain
            values; checkpoints store it as a dict and ``Data.from_spec`` rebuilds it).
    """

    name: ClassVar[str] = "task"
    config_class: ClassVar[type[RunConfig]] = RunConfig
    default_model: ClassVar[str] = ""
    monitor: ClassVar[str] = "accuracy"
    monitor_mode: ClassVar[str] = "max"
    data_formats: ClassVar[str] = ""
    command_aliases: ClassVar[dict[str, str]] = {}
    profiles: ClassVar[dict[str, list[str]]] = {"default": []}
    resumable_keys: ClassVar[frozenset[str]] = frozenset()
    info_class: ClassVar[type] = dict

    def for_config(self, cfg: RunConfig) -> "Task":
        """The task that runs ``cfg`` (``self``; a task family such as time series returns
        its detection or classification task by ``cfg``). The engine and CLI call it first.
        It reads ``cfg`` and never changes it; a task whose defaults differ declares its own
        ``config_class`` (see :func:`resolve_task_config`)."""
        return self

    def command(self) -> str:
        """The command line that runs this task, for messages such as how to resume:
        ``python -m convkit.tasks.<name>`` for a task of convkit's own, else ``python -m
        convkit <name>`` (a plug-in by its name; a task loaded by its import path is
        run the same way with that path instead of the name)."""
        if type(self).__module__.startswith("convkit.tasks."):
            return f"python -m convkit.tasks.{self.name}"
        return f"python -m convkit {self.name}"

    def recipes(self) -> dict[str, Traversable]:
        """The recipes installed with the task's package, by name: ``<package>/recipes/
        <name>.toml`` (``--recipe NAME``; ``default`` is the defaults written out)."""
        package = type(self).__module__.rpartition(".")[0]
        if not package:  # a task in a top-level module (a plug-in or an import path) has no package folder
            return {}
        folder = importlib.resources.files(package) / "recipes"
        if not folder.is_dir():
            return {}
        return {entry.name.removesuffix(".toml"): entry
                for entry in sorted(folder.iterdir(), key=lambda e: e.name) if entry.name.endswith(".toml")}

    def recipe(self, name: str) -> Traversable:
        """The recipe called ``name`` (ConfigError listing the task's recipes if there is none)."""
        recipes = self.recipes()
        if name not in recipes:
            raise ConfigError(f"unknown recipe {name!r} for the {self.name} task; valid: "
                              f"{', '.join(recipes) or 'none'} (or --config FILE.toml)")
        return recipes[name]

    def repeats(self, cfg: RunConfig) -> tuple[str, list[tuple[str, RunConfig]]] | None:
        """Whole runs ``cfg`` stands for besides itself, e.g. the folds of a cross-validation
        (``("folds", [("fold0", cfg0), ...])``): ``train`` runs each and reports the mean and
        standard deviation (``convkit.train.repeats.fit_repeats``). Default: none."""
        return None

    def monitor_of(self, data: Data) -> tuple[str, str]:
        """``(metric, "max" | "min")`` early stopping follows: the data's, else the task's."""
        return data.monitor or self.monitor, data.monitor_mode or self.monitor_mode

    # ---- data and model

    def build_data(self, cfg: RunConfig) -> Data:
        """The training run's datasets (``train``, ``val``, ``test``) from ``cfg.data``
        (``data.path``, else the task's embedded data), with what the model sees."""
        raise NotImplementedError

    def build_eval_data(self, cfg: RunConfig, path: str, spec: Data) -> Data:
        """The data of ``path`` scored by a trained model (``evaluate --data``): ``test``
        is all of it (its test split when it has one), shaped and labelled for the model
        that ``spec`` (the checkpoint's ``Data`` without datasets) describes: its label
        names, channels, input shape and the task's record in ``spec.info``;
        ``train``/``val`` may be None. ``cfg`` is the run's config."""
        raise NotImplementedError

    def input_spec(self, cfg: RunConfig) -> Data:
        """What ``build_data(cfg)`` would declare, without its datasets (``train``/``val``/
        ``test`` None): label names, input kind, layout, ``input_shape``/``input_dtype``
        and the ``info`` ``build_model`` reads. ``info`` uses it to list the models that fit
        without decoding or generating data; a task whose embedded data is costly to make
        derives it from ``cfg`` alone. Default: ``build_data(cfg)`` with the datasets dropped."""
        data = self.build_data(cfg)
        data.train = data.val = data.test = None
        return data

    def build_model(self, cfg: RunConfig, data: Data) -> nn.Module:
        """The model: ``create_model(cfg.model.name, data.spatial_dims, data.in_channels,
        len(data.label_names), pretrained=..., **cfg.model.options)`` by default, starting
        from ``model.pretrained``'s weights when set (``convkit.train.transfer``)."""
        from convkit.models import create_model
        from convkit.train.transfer import pretrained_weights

        num_classes = len(data.label_names) if data.label_names is not None else None
        return create_model(cfg.model.name or self.default_model, spatial_dims=data.spatial_dims,
                            in_channels=data.in_channels, num_classes=num_classes,
                            pretrained=pretrained_weights(cfg, data.label_names), **cfg.model.options)

    def fit_model(self, cfg: RunConfig, data: Data, model: nn.Module) -> None:
        """Fit what ``model`` fits in closed form from ``data.train`` before any optimizer
        step (e.g. a ROCKET transform's biases and its ridge head). The engine calls it once
        per run, after the model is on its device and before the optimizer is made (a
        resumed run fits again, deterministically, then restores the checkpoint); the
        fitted values must live in the model's ``state_dict``. Parameters it freezes
        (``requires_grad=False``) are not trained, and when none is left to train the run
        makes no optimizer step: one epoch of validation, the checkpoints, then the test.
        Default: nothing."""

    # ---- steps (the model may be wrapped in DDP / torch.compile; call it, don't inspect it)

    def augmentation(self, cfg: RunConfig, data: Data) -> Callable[[Any], Any] | None:
        """A function the engine applies to every training batch (on the device, before
        ``training_step``): random augmentation as batched tensor ops. It must draw from
        the global torch RNG (which checkpoints save) so resumed runs stay exact."""
        return None

    def training_step(self, model: nn.Module, batch: Any) -> Tensor:
        """One training batch (already on the model's device) -> scalar loss."""
        raise NotImplementedError

    def evaluation_step(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        """One evaluation batch -> named tensors whose first axis is per example (or per
        node/window); the engine concatenates them over the split, in dataset order, across
        all DDP ranks, and hands them to ``compute_metrics``."""
        raise NotImplementedError

    def compute_metrics(self, collected: dict[str, Tensor], dataset: Dataset | None) -> dict[str, Any]:
        """Metrics of a whole split from the concatenated ``evaluation_step`` outputs
        (CPU tensors; ``dataset`` is the split, for tasks that need its structure). Must
        include ``"loss"`` and the monitored metric. Scalars (floats) are logged per epoch;
        other JSON-able values (e.g. a confusion matrix) appear only in the final blocks.
        Metric blocks hold metrics only (no notes). Must not write into ``dataset``."""
        raise NotImplementedError

    def derive_state(self, collected: dict[str, Tensor], dataset: Dataset | None) -> dict | None:
        """State derived from a validation pass that ``predict`` needs with these weights
        (plain values), e.g. a score calibration and threshold. The engine stores it in the
        checkpoint of the same epoch as ``task_state``. Default: none."""
        return None

    # ---- baselines

    def baseline_features(self, cfg: RunConfig, data: Data) -> BaselineFeatures | None:
        """Fixed features for the shared ``linear`` and parameter-matched ``mlp`` baselines
        (None: the task has no such features)."""
        return None

    def extra_baselines(self, cfg: RunConfig, data: Data, params: int) -> dict:
        """The task's own baselines, ``{name: {"test": {...}, ...}}``."""
        return {}

    def baselines(self, cfg: RunConfig, data: Data, params: int) -> dict:
        """``metrics.json``'s ``baselines`` block: the shared ``linear`` and ``mlp`` (on
        ``baseline_features``), then ``extra_baselines`` (``params``: the model's parameter
        count, for the parameter-matched MLP)."""
        features = self.baseline_features(cfg, data)
        shared = {} if features is None else shared_baselines(features, params, cfg.train.seed)
        return {**shared, **self.extra_baselines(cfg, data, params)}

    # ---- prediction and reporting

    def load_inputs(self, cfg: RunConfig, spec: Data, inputs: list[str]) -> Any:
        """Read all of ``predict``'s inputs (files, or text for ``text``) at once, for the
        model ``spec`` describes; called once per ``predict``."""
        raise NotImplementedError

    def predict(self, trained: Trained, inputs: Any) -> list[dict]:
        """Predictions for ``load_inputs``' result: one JSON-able dict per input, in order.
        The task batches the inputs itself (``trained.cfg.train.batch_size``) and moves
        them to ``trained.device``; called under ``torch.no_grad()``."""
        raise NotImplementedError

    def export_preprocessing(self, spec: Data) -> dict:
        """What is done to raw input before the model sees it, as plain JSON-able values, so
        a program can use an exported model without convkit (``export`` writes it into the
        model's metadata). Default: the spec's ``info`` without what records the training
        data rather than the input (:data:`NOT_PREPROCESSING`)."""
        return {key: value for key, value in spec.spec()["info"].items() if key not in NOT_PREPROCESSING}

    def plots(self, run_dir: Path, collected: dict[str, Tensor], data: Data) -> None:
        """Write the task's own plots (from the test split's collected outputs)."""

    def write_run_files(self, run_dir: Path, metrics: dict) -> None:
        """Write the task's own files derived from the run's final ``metrics`` (the
        ``metrics.json`` contents, e.g. a per-series table); called after the plots and
        before ``metrics.json``, which marks a complete run. Default: none."""


def resolve_task_config(task: Task, config_files: Sequence[str | Path | Traversable] = (),
                        flags: dict[str, str] | None = None, sets: list[str] | None = None,
                        base: dict | None = None) -> tuple[Task, RunConfig]:
    """The task that runs and its resolved config. Resolved once with ``task.config_class``
    to learn what runs (``task.for_config``: e.g. a mode the config or its ``data.path``
    chooses); when that task declares another config class (other defaults), resolved again
    from that class's defaults with the same ``config_files``, ``flags`` and ``sets``, so a
    value the user gave always wins over any default. An empty ``model.name`` becomes the
    running task's default model. Arguments as :func:`convkit.config.resolve_config`."""
    cfg = resolve_config(task.config_class, config_files, flags, sets, base=base)
    runner = task.for_config(cfg)
    if runner.config_class is not type(cfg) and issubclass(runner.config_class, type(cfg)):
        cfg = resolve_config(runner.config_class, config_files, flags, sets, base=base)
        runner = task.for_config(cfg)
    if not cfg.model.name:
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, name=runner.default_model))
    return runner, cfg


class ClassificationTask(Task):
    """Classification with cross-entropy: batches are ``(inputs, targets)`` with targets
    int64 ``[N]``; the model maps inputs to logits ``[N, classes]``. Metrics: ``accuracy``,
    ``macro_f1``, ``loss`` (and the ``confusion_matrix`` in final blocks); plot
    ``confusion_matrix.png``. The default for image, audio, text, video and point clouds.
    """

    monitor = "accuracy"
    monitor_mode = "max"

    def logits(self, model: nn.Module, inputs: Any) -> Tensor:
        """``model(inputs)``; checks the result is ``[N, classes]``."""
        out = model(inputs)
        if not isinstance(out, Tensor) or out.ndim != 2:
            shape = list(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ShapeError(f"{type(self).__name__}: the model must return logits [N, classes]; got {shape}")
        return out

    def training_step(self, model: nn.Module, batch: Any) -> Tensor:
        """Cross-entropy of ``model(inputs)`` against the targets."""
        inputs, targets = batch
        return F.cross_entropy(self.logits(model, inputs), targets)

    def evaluation_step(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        """``{"logits": [N, classes], "targets": [N]}``."""
        inputs, targets = batch
        return {"logits": self.logits(model, inputs), "targets": targets}

    def compute_metrics(self, collected: dict[str, Tensor], dataset: Dataset | None) -> dict[str, Any]:
        """``accuracy``, ``macro_f1``, ``loss`` and ``confusion_matrix`` (list of rows,
        true class by predicted class) over the split."""
        logits, targets = collected["logits"].float(), collected["targets"].long()
        num_classes = logits.shape[1]
        metrics = {**metric_fns.classification_metrics(logits, targets),
                   "confusion_matrix": metric_fns.confusion_matrix(logits.argmax(1), targets, num_classes).tolist()}
        absent = sorted(set(range(num_classes)) - set(targets.unique().tolist()))
        if absent and targets.numel():  # macro-F1 averages over the classes present only
            metrics["absent_classes"] = absent
        return metrics

    def batches(self, trained: Trained, inputs: Any) -> Iterator[Any]:
        """``load_inputs``' result in model batches of ``train.batch_size`` on the model's
        device: a tensor ``[N, ...]`` is sliced along its first axis; override for other
        structures (e.g. sentences of different lengths)."""
        size = trained.cfg.train.batch_size
        for start in range(0, len(inputs), size):
            yield move_to_device(inputs[start:start + size], trained.device)

    def predict(self, trained: Trained, inputs: Any) -> list[dict]:
        """``{"label": name, "probabilities": {name: p}}`` per input."""
        names = trained.spec.label_names
        rows: list[dict] = []
        for batch in self.batches(trained, inputs):
            probs = torch.softmax(self.logits(trained.model, batch).float(), dim=1).cpu()
            labels = names or [str(i) for i in range(probs.shape[1])]
            rows += [{"label": labels[int(p.argmax())],
                      "probabilities": {n: round(float(v), 6) for n, v in zip(labels, p)}} for p in probs]
        return rows

    def plots(self, run_dir: Path, collected: dict[str, Tensor], data: Data) -> None:
        """``confusion_matrix.png`` of the test split."""
        logits, targets = collected["logits"], collected["targets"]
        cm = metric_fns.confusion_matrix(logits.argmax(1), targets, logits.shape[1])
        plots.plot_confusion_matrix(cm, data.label_names, Path(run_dir) / "confusion_matrix.png")
