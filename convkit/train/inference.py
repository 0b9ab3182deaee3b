"""Using a model without training it: one evaluation pass over a split (the engine's
validation and test, ``evaluate``), and a trained checkpoint loaded, scored on data and
asked for predictions.

``evaluate_split`` runs the task's ``evaluation_step`` under the run's placement (device,
autocast, memory format: ``convkit.train.runtime``) and hands the outputs, gathered over
DDP ranks in dataset order, to the task's ``compute_metrics``. ``load_trained`` rebuilds a
model from a checkpoint with the running task's record type for ``Data.info``
(``Task.info_class``); ``evaluate_checkpoint`` scores it on the run's own test split or on
other data (``Task.build_eval_data``); ``predict_checkpoint`` runs the task's ``predict``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from convkit import config as config_io
from convkit.config import TrainConfig
from convkit.errors import CheckpointError, DataError
from convkit.train import checkpoint as checkpoints
from convkit.train import distributed
from convkit.train.distributed import DistEnv
from convkit.train.loaders import ShardSampler, seed_worker
from convkit.train.runtime import Placement, select_device
from convkit.train.task import Data, Task, Trained


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
        CheckpointError: unreadable, unsafe, from another task, or weights that do not fit.
    """
    state = checkpoints.load_training_checkpoint(checkpoint, task.name)
    cfg = config_io.from_dict(task.config_class, state["config"], f"{checkpoint} config")
    runner = task.for_config(cfg)
    spec = Data.from_spec(state["data"], runner.info_class)
    model = runner.build_model(cfg, spec)
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
                        device: str = "auto") -> dict:
    """Score a checkpoint on ``data_path`` (all of it, or its test split when it has one;
    ``task.build_eval_data``) or, without it, on the run's own test split
    (``task.build_data``). Returns the test block (``metrics.json``'s shape, plus
    non-scalar extras such as the confusion matrix)."""
    trained = load_trained(task, checkpoint, device)
    task = task.for_config(trained.cfg)
    data = (task.build_eval_data(trained.cfg, data_path, trained.spec) if data_path
            else task.build_data(trained.cfg))
    check_splits(data, ("test",))
    if data.label_names is not None and trained.spec.label_names is not None \
            and data.label_names != trained.spec.label_names:
        raise DataError(f"the data's classes {data.label_names} differ from the checkpoint's "
                        f"{trained.spec.label_names}")
    metrics, _ = evaluate_split(task, trained.model, data.test, data, trained.device, trained.cfg.train, desc="test")
    if "absent_classes" in metrics and trained.spec.label_names:  # name them
        metrics["absent_classes"] = [trained.spec.label_names[i] for i in metrics["absent_classes"]]
    return metrics


def predict_checkpoint(task: Task, checkpoint: str | Path, inputs: list[str], device: str = "auto",
                       out_dir: str | Path | None = None) -> list[dict]:
    """Predictions of a checkpoint for ``inputs`` (files, or texts for the text task):
    one dict per input, ``{"input": ..., **prediction}``, in order. The inputs are read
    once (``task.load_inputs``) and the task batches them (``task.predict``); files a task
    writes (e.g. per-step anomaly scores) go under ``out_dir``."""
    trained = load_trained(task, checkpoint, device)
    trained.out_dir = Path(out_dir) if out_dir is not None else None
    task = task.for_config(trained.cfg)
    loaded = task.load_inputs(trained.cfg, trained.spec, inputs)
    with torch.no_grad():
        rows = task.predict(trained, loaded)
    if len(rows) != len(inputs):
        raise RuntimeError(f"{type(task).__name__}.predict returned {len(rows)} rows for {len(inputs)} inputs")
    return [{"input": name, **row} for name, row in zip(inputs, rows)]
