"""Using a model without training it: one evaluation pass over a split (the engine's
validation and test, ``evaluate``), and a trained checkpoint loaded, scored on data and
asked for predictions.

``evaluate_split`` runs the task's ``evaluation_step`` under the run's placement (device,
autocast, memory format: ``convkit.train.runtime``) and hands the outputs, gathered over
DDP ranks in dataset order, to the task's ``compute_metrics``. ``load_trained`` rebuilds a
model from a checkpoint with the running task's record type for ``Data.info``
(``Task.info_class``); ``evaluate_checkpoint`` scores it on the run's own test split or on
other data (``Task.build_eval_data``); ``predict_checkpoint`` runs the task's ``predict``;
``export_checkpoint`` writes it as ONNX or TorchScript (``convkit.train.export``).

The model a run trains and every command rebuilds is :func:`build_model`'s: the task's zoo
model (``model.name`` a registry or plug-in name) or a class from outside convkit named by
its import path (``model.name = "mypackage.nets:TinyNet"``, built as
``TinyNet(**model.options)``). A run whose data came from Python (``convkit.fit`` with
datasets) records ``data.path`` as ``<python: ...>`` (:func:`python_data_path`); its data
cannot be rebuilt from the config (:func:`build_run_data` says so in one line).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from convkit import config as config_io
from convkit.config import RunConfig, TrainConfig
from convkit.data.skipped import warn_skipped
from convkit.errors import CheckpointError, ConfigError, DataError
from convkit.models.registry import is_model_class_reference, model_class
from convkit.train import checkpoint as checkpoints
from convkit.train import distributed
from convkit.train.distributed import DistEnv
from convkit.train.loaders import ShardSampler, seed_worker
from convkit.train.runtime import Placement, select_device
from convkit.train.task import Data, Task, Trained
from convkit.train.transfer import without_pretrained


PYTHON_DATA_PREFIX = "<python"
"""How ``data.path`` begins in the config of a run whose data came from Python."""


def python_data_path(what: str) -> str:
    """The ``data.path`` recorded for data given from Python: ``<python: what>`` (e.g.
    ``<python: TensorDataset>``), which no reader takes for a path."""
    return f"{PYTHON_DATA_PREFIX}: {what}>"


def build_run_data(task: Task, cfg: RunConfig, instead: str = "pass the data again") -> Data:
    """``task.build_data(cfg)``: the run's own data, rebuilt from its config.

    Raises:
        DataError: one line when the run's data came from Python (``data.path`` is
            :func:`python_data_path`'s), saying what to do ``instead``.
    """
    if cfg.data.path.startswith(PYTHON_DATA_PREFIX):
        raise DataError(f"data.path: this run's data came from Python ({cfg.data.path}), so it cannot be "
                        f"rebuilt from its config; {instead}")
    return task.build_data(cfg)


def build_model(task: Task, cfg: RunConfig, data: Data) -> nn.Module:
    """The model ``cfg`` names, for ``data``: a class's import path in ``model.name``
    (``module:Class``, see :func:`convkit.models.model_class`) is built as
    ``Class(**model.options)``; any other name is the task's zoo model
    (``task.build_model(cfg, data)``, plug-ins included).

    Raises:
        ConfigError: a class that cannot be imported or is no ``nn.Module`` subclass, or
            options its constructor does not take.
    """
    if not is_model_class_reference(cfg.model.name):
        return task.build_model(cfg, data)
    return model_from_class(model_class(cfg.model.name), cfg.model.options, cfg.model.name)


def model_from_class(cls: type[nn.Module], options: dict, name: str) -> nn.Module:
    """``cls(**options)``; ConfigError naming model ``name`` for options its constructor
    does not take."""
    try:
        return cls(**options)
    except TypeError as err:  # an option the constructor does not take
        raise ConfigError(f"model {name!r}: {err} (model.options: {options})") from None


def check_splits(data: Data, splits: tuple[str, ...]) -> None:
    """DataError unless each of ``splits`` (``"train"``, ``"val"``, ``"test"``) of ``data``
    has examples."""
    for split in splits:
        dataset = getattr(data, split)
        if dataset is None or len(dataset) == 0:
            raise DataError(f"the {split} split is empty; the data needs examples in train, val and test")


def evaluate_split(task: Task, model: nn.Module, dataset: Dataset, data: Data, device: torch.device,
                   cfg: TrainConfig, env: DistEnv = DistEnv(), desc: str = "eval") -> tuple[dict, dict]:
    """Run ``task.evaluation_step`` over ``dataset`` (each rank a contiguous shard; the
    outputs are gathered so every rank sees the whole split in order) and return
    ``(task.compute_metrics(...), collected)``; ``collected`` holds CPU tensors."""
    placement = Placement.of(device, data.spatial_dims, cfg.precision, cfg.channels_last)
    loader = DataLoader(dataset, batch_size=cfg.batch_size,
                        sampler=ShardSampler(len(dataset), env.rank, env.world_size), collate_fn=data.collate_fn,
                        num_workers=cfg.num_workers, worker_init_fn=seed_worker,
                        generator=torch.Generator().manual_seed(cfg.seed))
    parts: dict[str, list[torch.Tensor]] = defaultdict(list)
    was_training = model.training
    model.eval()
    with torch.no_grad(), placement.autocast():
        for batch in tqdm(loader, desc=desc, leave=False, disable=None if env.is_main else True):
            out = task.evaluation_step(model, placement.batch(batch))
            for key, value in out.items():
                value = value.detach()
                if value.dtype in (torch.float16, torch.bfloat16):
                    value = value.float()
                parts[key].append(value.cpu())
    model.train(was_training)
    collected = distributed.gather_collected({k: torch.cat(v) for k, v in parts.items()}, env)
    return task.compute_metrics(collected, dataset), collected


def load_trained(task: Task, checkpoint: str | Path, device: str | torch.device = "cpu") -> Trained:
    """Rebuild a trained model from a checkpoint, without its data.

    Returns:
        ``Trained``: the run's config, a ``Data`` holding only the spec (label names, input
        layout, ``info`` as the running task's ``info_class``), the model in eval mode on
        ``device`` with the checkpoint's weights, and the task state derived with those
        weights.

    Raises:
        CheckpointError: unreadable, unsafe, from another task, a model class that cannot
            be imported (or is no ``nn.Module``), or weights that do not fit.
    """
    state = checkpoints.load_training_checkpoint(checkpoint, task.name)
    cfg = config_io.from_dict(task.config_class, state["config"], f"{checkpoint} config")
    runner = task.for_config(cfg)
    spec = Data.from_spec(state["data"], runner.info_class)
    try:
        model = build_model(runner, without_pretrained(cfg), spec)  # its weights are the checkpoint's
    except ConfigError as err:
        if not is_model_class_reference(cfg.model.name):
            raise
        raise CheckpointError(f"{checkpoint}: cannot rebuild its model: {err}") from None
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{checkpoint}: the weights do not fit the model "
                              f"({str(err).splitlines()[0]})") from None
    device = device if isinstance(device, torch.device) else select_device(device)
    # the weights' layout as in training: the same kernels, the same numbers
    Placement.of(device, spec.spatial_dims, cfg.train.precision, cfg.train.channels_last).model(model)
    return Trained(cfg, spec, model.eval(), device, state.get("task_state"))


def evaluate_checkpoint(task: Task, checkpoint: str | Path, data_path: str | None = None,
                        device: str = "auto", dataset: Dataset | None = None) -> dict:
    """Score a checkpoint on ``data_path`` (all of it, or its test split when it has one;
    ``task.build_eval_data``), on ``dataset`` (a map-style dataset of ``(input, label)``
    examples as the model takes them, batched by torch's default collate: data given
    from Python) or, without either, on the run's own test split (:func:`build_run_data`).
    Returns the test block (``metrics.json``'s shape, plus non-scalar extras such as the
    confusion matrix)."""
    trained = load_trained(task, checkpoint, device)
    task = task.for_config(trained.cfg)
    if dataset is not None:
        data = dataclasses.replace(trained.spec, test=dataset)
    elif data_path:
        data = task.build_eval_data(trained.cfg, data_path, trained.spec)
    else:
        data = build_run_data(task, trained.cfg, f"score it on files of the {task.name} task with evaluate --data "
                                                 f"PATH, or from Python with convkit.load_run(...).evaluate(dataset)")
    check_splits(data, ("test",))
    if data.label_names is not None and trained.spec.label_names is not None \
            and data.label_names != trained.spec.label_names:
        raise DataError(f"the data's classes {data.label_names} differ from the checkpoint's "
                        f"{trained.spec.label_names}")
    metrics, _ = evaluate_split(task, trained.model, data.test, data, trained.device, trained.cfg.train, desc="test")
    if hasattr(data.test, "take_skipped"):  # files found unreadable while scoring (convkit.data.lazy): left out
        warn_skipped([message for _, message in data.test.take_skipped()], "the scored data")
    if "absent_classes" in metrics and trained.spec.label_names:  # name them
        metrics["absent_classes"] = [trained.spec.label_names[i] for i in metrics["absent_classes"]]
    return metrics


def predict_checkpoint(task: Task, checkpoint: str | Path, inputs: list[str] | torch.Tensor, device: str = "auto",
                       out_dir: str | Path | None = None) -> list[dict]:
    """Predictions of a checkpoint for ``inputs``: files (or texts for the text task), read
    once by ``task.load_inputs``, or a tensor ``[N, *input_shape]`` of inputs as the model
    takes them; one dict per input, ``{"input": file or index, **prediction}``, in order.
    The task batches them (``task.predict``); files a task writes (e.g. per-step anomaly
    scores) go under ``out_dir``."""
    trained = load_trained(task, checkpoint, device)
    trained.out_dir = Path(out_dir) if out_dir is not None else None
    task = task.for_config(trained.cfg)
    if isinstance(inputs, torch.Tensor):
        loaded, names = inputs, list(range(len(inputs)))
    else:
        loaded, names = task.load_inputs(trained.cfg, trained.spec, inputs), list(inputs)
    with torch.no_grad():
        rows = task.predict(trained, loaded)
    if len(rows) != len(names):
        raise RuntimeError(f"{type(task).__name__}.predict returned {len(rows)} rows for {len(names)} inputs")
    return [{"input": name, **row} for name, row in zip(names, rows)]


def export_checkpoint(task: Task, checkpoint: str | Path, fmt: str, output: str | Path) -> dict:
    """Export a checkpoint's model to ``output`` (``fmt``: ``onnx``, ``torchscript`` or
    ``safetensors``, the weights another run can start from) with
    the metadata a program needs to use it (the task, the model, the classes, the input
    spec and the task's preprocessing), checked against PyTorch; returns ``{"output",
    "format", "max_abs_diff", "dynamic_axes", "metadata"}`` (``export_model``)."""
    from convkit.train.export import export_model

    trained = load_trained(task, checkpoint, "cpu")
    runner = task.for_config(trained.cfg)
    about = {"task": task.name, "model": trained.cfg.model.name or runner.default_model,
             "model_options": dict(trained.cfg.model.options),
             "preprocessing": runner.export_preprocessing(trained.spec)}
    return export_model(trained.model, trained.spec, fmt, output, about)
