"""The task interface: what a task hands to the one training engine.

A task joins data, a zoo model, a loss and metrics (DESIGN.md "Tasks"); the engine
(``convkit.train.engine``) owns everything else: devices, precision, optimizers,
schedules, DDP, checkpoints, files. The interface covers all seven tasks:

* classifiers (image, audio, text, video, point clouds): ``ClassificationTask``;
* variable-length batches (text) and point sets/graphs: ``Data.collate_fn`` builds a
  batch of any structure (tensors in tuples/dicts, or objects with ``.to(device)``
  such as ``torch_geometric.data.Data``); the engine moves it to the device;
* self-supervised training with a separate scoring pass (time-series anomalies):
  ``training_step`` returns any loss, ``evaluation_step`` returns per-window scores
  (with indices), and ``compute_metrics`` assembles whole series from everything the
  split produced (it is given the split's dataset) and computes e.g. ``pr_auc``;
* transductive training on one graph: each split dataset holds the one graph plus that
  split's node mask; ``training_step`` and ``evaluation_step`` use the mask;
* early stopping on any metric: ``monitor`` / ``monitor_mode``.

Datasets should be deterministic (``dataset[i]`` always the same): random augmentation
belongs in ``training_step``, on the batch, where it draws from the global torch RNG
that checkpoints save, so a resumed run is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from convkit.config import RunConfig
from convkit.errors import ShapeError
from convkit.train import metrics as M
from convkit.train import plots


@dataclass
class Data:
    """What a task's ``build_data`` returns: three splits and what the model sees.

    ``train``/``val``/``test`` are map-style datasets (``None`` when the data was
    rebuilt from a checkpoint's spec only). ``collate_fn`` (None: torch's default)
    builds batches. ``spatial_dims``/``in_channels`` are the model's input layout
    ``[N, in_channels, *spatial]``; ``input_shape`` is one example as the model takes
    it without the batch axis (e.g. ``(1, 32, 32)``; None when the input is not one
    tensor, e.g. a graph) and ``input_dtype`` its dtype; both are used by ``export``.
    ``info`` holds task-specific extras (plain ints/floats/strings/lists/dicts only,
    since it is stored in checkpoints).
    """

    train: Dataset | None
    val: Dataset | None
    test: Dataset | None
    label_names: list[str] | None = None
    collate_fn: Callable | None = None
    spatial_dims: int = 2
    in_channels: int = 1
    input_shape: tuple[int, ...] | None = None
    input_dtype: str = "float32"
    info: dict = field(default_factory=dict)

    def spec(self) -> dict:
        """Everything but the datasets and the collate function, as plain values (stored
        in checkpoints so evaluate/predict/export can rebuild the model without data)."""
        return {
            "label_names": list(self.label_names) if self.label_names is not None else None,
            "spatial_dims": self.spatial_dims,
            "in_channels": self.in_channels,
            "input_shape": list(self.input_shape) if self.input_shape is not None else None,
            "input_dtype": self.input_dtype,
            "info": dict(self.info),
        }

    @classmethod
    def from_spec(cls, spec: dict) -> "Data":
        """A ``Data`` without datasets, from ``spec()``'s dict."""
        shape = spec.get("input_shape")
        return cls(None, None, None, label_names=spec.get("label_names"),
                   spatial_dims=spec.get("spatial_dims", 2), in_channels=spec.get("in_channels", 1),
                   input_shape=tuple(shape) if shape is not None else None,
                   input_dtype=spec.get("input_dtype", "float32"), info=dict(spec.get("info") or {}))


class Task:
    """A task definition handed to the engine. Subclasses set the class attributes and
    implement the data, step and metric methods; the defaults here serve most tasks.

    Attributes:
        name: the task's name (``runs/<name>/``; checkpoints record it).
        config_class: the task's ``RunConfig`` subclass.
        default_model: zoo model used when ``model.name`` is empty.
        monitor: the validation metric for best checkpoint and early stopping.
        monitor_mode: ``"max"`` or ``"min"``.
        data_formats: one paragraph for ``info``: the formats ``--data`` reads.
        command_aliases: other CLI names for a command (``{"detect": "predict"}``).
    """

    name: ClassVar[str] = "task"
    config_class: ClassVar[type[RunConfig]] = RunConfig
    default_model: ClassVar[str] = ""
    monitor: ClassVar[str] = "accuracy"
    monitor_mode: ClassVar[str] = "max"
    data_formats: ClassVar[str] = ""
    command_aliases: ClassVar[dict[str, str]] = {}

    # ---- data and model

    def build_data(self, cfg: RunConfig, path: str | None = None, spec: Data | None = None) -> Data:
        """The datasets. With ``path`` and ``spec`` (``evaluate --data``): ``test`` is all
        of that data (its test split when it has one), shaped and labelled for the trained
        model that ``spec`` describes (its label names, channels, input shape);
        ``train``/``val`` may then be None."""
        raise NotImplementedError

    def build_model(self, cfg: RunConfig, data: Data) -> nn.Module:
        """The model: ``create_model(cfg.model.name, data.spatial_dims, data.in_channels,
        len(data.label_names), **cfg.model.options)`` by default."""
        from convkit.models import create_model

        num_classes = len(data.label_names) if data.label_names is not None else None
        return create_model(cfg.model.name or self.default_model, spatial_dims=data.spatial_dims,
                            in_channels=data.in_channels, num_classes=num_classes, **cfg.model.options)

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
        include ``"loss"`` and ``monitor``. Scalars (floats) are logged per epoch; other
        JSON-able values (e.g. a confusion matrix) appear only in the final blocks."""
        raise NotImplementedError

    def baselines(self, cfg: RunConfig, data: Data, params: int) -> dict:
        """``metrics.json``'s ``baselines`` block: ``{name: {"test": {...}, ...}}``
        (``params``: the model's parameter count, for parameter-matched baselines)."""
        return {}

    # ---- prediction and reporting

    def load_inputs(self, cfg: RunConfig, data: Data, inputs: list[str]) -> Any:
        """Read ``predict``'s inputs (files, or text for ``text``) into one model batch."""
        raise NotImplementedError

    def predict(self, model: nn.Module, batch: Any, label_names: list[str] | None) -> list[dict]:
        """Predictions for a batch from ``load_inputs``: one JSON-able dict per input."""
        raise NotImplementedError

    def plots(self, run_dir: Path, collected: dict[str, Tensor], data: Data) -> None:
        """Write the task's own plots (from the test split's collected outputs)."""


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
        return {**M.classification_metrics(logits, targets),
                "confusion_matrix": M.confusion_matrix(logits.argmax(1), targets, num_classes).tolist()}

    def predict(self, model: nn.Module, batch: Any, label_names: list[str] | None) -> list[dict]:
        """``{"label": name, "probabilities": {name: p}}`` per input."""
        probs = torch.softmax(self.logits(model, batch).float(), dim=1).cpu()
        names = label_names or [str(i) for i in range(probs.shape[1])]
        return [{"label": names[int(p.argmax())],
                 "probabilities": {n: round(float(v), 6) for n, v in zip(names, p)}} for p in probs]

    def plots(self, run_dir: Path, collected: dict[str, Tensor], data: Data) -> None:
        """``confusion_matrix.png`` of the test split."""
        logits, targets = collected["logits"], collected["targets"]
        cm = M.confusion_matrix(logits.argmax(1), targets, logits.shape[1])
        plots.plot_confusion_matrix(cm, data.label_names, Path(run_dir) / "confusion_matrix.png")
