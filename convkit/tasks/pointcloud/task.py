"""The point-cloud task: classify clouds ``[N, 3 + F, P]`` with PointNet (default) or DGCNN.

Default, offline: ``pointnet`` on generated solids (``synthetic.py``: 8 classes, random
upright pose, scale, noise and non-uniform density), 64 points each.
``--data PATH`` reads (``data.py``) ModelNet10/40 (``<class>/train|test/*.off``, surface-sampled and
cached), ``<class>/<sample>`` point files (.npy/.txt/.xyz/.ply, any point count) or one
``.npz``, and sizes what the generated data fixes by the rules of :func:`size_points` and
:func:`size_training` (points per cloud, batch size, epochs; logged in one line), unless
a value is given: a run on files resolves its config from :class:`PointCloudFilesRunConfig`,
whose ``data.num_points``, ``train.batch_size`` and ``train.epochs`` are 0 ("sized by the
data"). Recipes give every value, so a recipe reproduces its paper exactly. Augmentation on the batch (``augment.PointAugment``): anisotropic scale,
translation and jitter by default; rotation about the up axis or SO(3) and point dropout
as options. PointNet's feature-transform regulariser reaches the loss as the
``(logits, aux_loss)`` pair the model returns in training mode. Metrics: overall
``accuracy`` and ``mean_class_accuracy`` (ModelNet's two headline figures), ``macro_f1``.
Baselines: logistic regression on the D2 shape distribution (Osada et al. 2002) and the
parameter-matched MLP on flattened coordinates (which point order confuses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable

import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convkit.config import (
    AtLeastOne,
    DataConfig,
    DataSizedTrainConfig,
    ModelConfig,
    Range,
    RunConfig,
    TaskConfig,
    TrainConfig,
    size_training as config_size_training,
)
from convkit.data.manifest import check_listing_options, write_split_groups
from convkit.errors import ConfigError
from convkit.models import create_model, get_entry, list_models
from convkit.tasks.pointcloud.augment import Axis, PointAugment, Rotation
from convkit.tasks.pointcloud.data import (
    PointCloudDataset,
    load_point_files,
    load_pointcloud_dataset,
    load_pointcloud_eval_set,
    stored_point_counts,
)
from convkit.tasks.pointcloud.synthetic import SOLID_CLASSES, Pose, load_solids_dataset
from convkit.train.baselines import BaselineFeatures
from convkit.train.inference import PYTHON_DATA_PREFIX
from convkit.train.task import ClassificationTask, Data

GENERATED_POINTS = 64
"""Points per generated cloud when ``data.num_points`` is 0: 64 tell the 8 solids apart and
keep the default run to minutes on a CPU."""

MAX_SIZED_POINTS = 1024
"""The most points per cloud :func:`size_points` takes from files: PointNet's and DGCNN's
ModelNet setting (Qi et al. 2017; Wang et al. 2019)."""

SIZED_BATCH = (8, 32)
"""``train.batch_size`` sized by the data: PointNet's 32, at most a tenth of the training
clouds, at least 8 (so BatchNorm sees a batch)."""

SIZED_STEPS = 2000
"""``train.epochs`` sized by the data: enough epochs for this many optimizer steps ..."""

SIZED_EPOCHS = (20, 250)
"""... and at least 20 epochs, at most 250 (PointNet's ModelNet training)."""
from convkit.train.transfer import pretrained_weights


@dataclass
class PointCloudDataConfig(DataConfig):
    """``path``: a dataset folder or ``.npz`` (empty: generated solids, ``n_per_class``
    each, in ``pose`` "upright" or "so3"). ``num_points``: points per cloud the model
    sees; ``sample_points``: points stored per cloud (0: ``num_points``; more: training
    draws a fresh subset each epoch); ``channels``: 3 (xyz) or more (e.g. 6 with
    normals, from files that have them); ``cache_dir``: where sampled meshes are cached
    (empty: ``convkit.data.cache.cache_dir("pointcloud")``). ``num_points`` 0: sized by the
    data (:func:`size_points`; the generated solids: :data:`GENERATED_POINTS`). ``path`` may be a manifest
    ``.csv`` (``path,label``, optional ``split``, ``group``) or a folder whose file names
    give the labels by ``label_pattern`` (e.g. ``{label}_{object}_{scan}``); ``group_by``
    names the field whose groups stay on one side of every split (empty: ``group`` if
    present; ``none``: off); ``allow_outside_paths``: manifest rows may name files outside
    the manifest's folder. See ``convkit.data.manifest``."""

    num_points: Annotated[int, Range(ge=0, note="0: sized by the data")] = GENERATED_POINTS
    sample_points: int = 0
    channels: Annotated[int, Range(ge=3, note="xyz")] = 3
    n_per_class: Annotated[int, Range(ge=3)] = 100
    pose: Pose = "upright"
    cache_dir: str = ""
    label_pattern: str = ""
    group_by: str = ""
    allow_outside_paths: bool = False

    def validate(self) -> None:
        """Raise ConfigError when ``sample_points`` is neither 0 nor at least ``num_points``,
        or for a bad ``label_pattern`` or a ``group_by`` it lacks (the field types state
        the other constraints)."""
        check_listing_options(self.label_pattern, self.group_by)
        if 0 < self.num_points < 8:
            raise ConfigError(f"data.num_points must be 0 (sized by the data) or at least 8; got {self.num_points}")
        if self.sample_points and self.sample_points < self.num_points:
            raise ConfigError(f"data.sample_points must be 0 or >= data.num_points ({self.num_points}); "
                              f"got {self.sample_points}")


@dataclass
class PointCloudTaskConfig(TaskConfig):
    """Training augmentation (see ``augment.PointAugment``): anisotropic ``scale_low``..
    ``scale_high`` per axis, ``translate``, ``jitter`` (sigma, clipped at ``jitter_clip``),
    ``rotate`` ("none" | "up" | "so3") about ``up_axis``, ``point_dropout`` (max
    fraction); ``augment=false`` turns it all off. ``baseline_max_train``: the baselines
    train on at most this many clouds."""

    augment: bool = True
    scale_low: float = 2 / 3
    scale_high: float = 1.5
    translate: Annotated[float, Range(ge=0)] = 0.2
    jitter: Annotated[float, Range(ge=0)] = 0.01
    jitter_clip: Annotated[float, Range(ge=0)] = 0.05
    rotate: Rotation = "none"
    up_axis: Axis = "z"
    point_dropout: Annotated[float, Range(ge=0, lt=1)] = 0.0
    baseline_max_train: AtLeastOne = 5000

    def augmenter(self) -> PointAugment:
        """The configured ``PointAugment`` (raises ConfigError on a bad value)."""
        return PointAugment((self.scale_low, self.scale_high), self.translate, self.jitter, self.jitter_clip,
                            self.rotate, self.up_axis, self.point_dropout)

    def validate(self) -> None:
        """Raise ConfigError unless ``0 < scale_low <= scale_high`` (``PointAugment`` checks
        it; the field types state the other constraints)."""
        self.augmenter()


def _default_train() -> TrainConfig:
    # PointNet's setting (Adam 0.001, batch 32) shortened for the small default data: 40 epochs
    # of 20 steps, cosine decay so the last epochs settle (see the default recipe). At 20 epochs
    # the training loss was still falling and validation accuracy still swung between epochs.
    return TrainConfig(epochs=40, batch_size=32, lr=0.001, optimizer="adam", weight_decay=0.0,
                       schedule="cosine")


@dataclass
class PointCloudRunConfig(RunConfig):
    """The point-cloud task's run config (``train``, ``model``, ``data``, ``task``)."""

    train: TrainConfig = field(default_factory=_default_train)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name="pointnet"))
    data: PointCloudDataConfig = field(default_factory=PointCloudDataConfig)
    task: PointCloudTaskConfig = field(default_factory=PointCloudTaskConfig)


@dataclass
class PointCloudFilesRunConfig(PointCloudRunConfig):
    """The run config of a run on files (``--data``): the generated data's defaults, but
    ``data.num_points``, ``train.batch_size`` and ``train.epochs`` 0, sized by the data
    (:func:`size_points`, :func:`size_training`) unless given."""

    train: DataSizedTrainConfig = field(default_factory=lambda: DataSizedTrainConfig(
        lr=0.001, optimizer="adam", weight_decay=0.0, schedule="cosine"))
    data: PointCloudDataConfig = field(default_factory=lambda: PointCloudDataConfig(num_points=0))


def size_points(counts: list[int | None]) -> tuple[int, str]:
    """``data.num_points`` for clouds holding ``counts`` points (None: a mesh, sampled to
    any count): the median count, at most :data:`MAX_SIZED_POINTS` (a mesh counts as that
    many) -> ``(points, the rule as said in the log)``."""
    if not counts:
        return MAX_SIZED_POINTS, f"data.num_points={MAX_SIZED_POINTS}"
    median = int(np.median([MAX_SIZED_POINTS if c is None else c for c in counts]))
    points = max(8, min(median, MAX_SIZED_POINTS))
    what = "meshes sampled" if all(c is None for c in counts) else f"the files' median {median:,}"
    return points, f"data.num_points={points} ({what}, at most {MAX_SIZED_POINTS})"


def size_training(train: TrainConfig, n_train: int) -> list[str]:
    """Set ``train.batch_size`` and ``train.epochs`` where they are 0 (sized by the data)
    for ``n_train`` training clouds, in place, by :func:`convkit.config.size_training`:
    the batch PointNet's 32, at most a tenth of the clouds, at least 8 (:data:`SIZED_BATCH`); epochs enough
    for :data:`SIZED_STEPS` optimizer steps, within :data:`SIZED_EPOCHS`. Returns the
    rules applied, as said in the log."""
    return config_size_training(train, n_train, SIZED_BATCH, SIZED_STEPS, SIZED_EPOCHS, "clouds")


@dataclass
class PointCloudInfo:
    """The point-cloud task's ``Data.info``: ``source``, where the clouds came from (the
    layout, points and channels are the ``Data``'s own ``input_shape``); for a manifest or
    pattern split by ``group_by``, ``split_groups``: the groups each split holds."""

    source: str = ""
    group_by: str = ""
    split_groups: dict[str, list[str]] = field(default_factory=dict)


class PointCloudTask(ClassificationTask):
    """Point-cloud classification on batches ``(clouds [N, C, P], labels [N])``."""

    name = "pointcloud"
    config_class = PointCloudRunConfig
    info_class = PointCloudInfo
    default_model = "pointnet"
    profiles = {"default": [],
                "smoke": ["train.epochs=2", "train.batch_size=16", "data.n_per_class=12", "data.num_points=64",
                          "task.baseline_max_train=500"]}
    data_formats = ("ModelNet10/40 (<class>/train|test/*.off meshes, surface-sampled with area weighting and "
                    "cached under data.cache_dir); <class>/<sample> point files .npy/.txt/.xyz/.ply [P, 3+] of "
                    "any P (resampled to data.num_points); one .npz with points [S, P, 3+], labels [S] (optional "
                    "label_names, split); a manifest .csv (path,label[,split][,group]) or a folder with "
                    "data.label_pattern, data.group_by keeping a group on one side of every split. "
                    "train/ val/ test/ subfolders are the splits; otherwise a seeded "
                    "stratified 80/10/10 split. Bad files (wrong header, faces indexing missing vertices, no faces, "
                    "NaN coordinates, identical points) are skipped and named (data.strict=true: error).")

    def for_config(self, cfg: RunConfig) -> "PointCloudTask":
        """:data:`FILES_TASK` (whose config sizes training by the data) for a run on files
        (``data.path`` set, not data given from Python), else :data:`TASK`."""
        path = cfg.data.path
        return FILES_TASK if path and not path.startswith(PYTHON_DATA_PREFIX) else TASK

    def build_data(self, cfg: PointCloudRunConfig) -> Data:
        """The run's clouds: generated solids (no ``data.path``) or an on-disk dataset, in
        train/val/test splits. On files, what is 0 in the config (``data.num_points``,
        ``train.batch_size``, ``train.epochs``) is sized by the data first and set in the
        config, so the run records it (one log line says how)."""
        dc = cfg.data
        if dc.path:
            said = []
            if dc.num_points == 0:
                dc.num_points, rule = size_points(stored_point_counts(dc.path, dc.label_pattern,
                                                                      dc.allow_outside_paths, dc.strict))
                said.append(rule)
                dc.validate()
            splits = load_pointcloud_dataset(dc.path, dc.num_points, dc.channels, dc.sample_points or None,
                                             dc.cache_dir or None, dc.strict, cfg.train.seed, dc.label_pattern,
                                             dc.group_by, dc.allow_outside_paths)
            said += size_training(cfg.train, len(splits.train))
            if said:
                print(f"sized by the data: {'; '.join(said)}", file=sys.stderr, flush=True)
        else:
            if dc.channels != 3:
                raise ConfigError(f"the generated solids have xyz only: data.channels must be 3; got {dc.channels}")
            splits = load_solids_dataset(dc.n_per_class, dc.num_points or GENERATED_POINTS, cfg.train.seed,
                                         dc.sample_points or None, dc.pose)
        info = PointCloudInfo(source=splits.extras.get("source", dc.path), group_by=splits.extras.get("group_by", ""),
                              split_groups=splits.extras.get("split_groups", {}))
        return self._data(splits.train, splits.val, splits.test, splits.label_names, info)

    def build_eval_data(self, cfg: PointCloudRunConfig, path: str, spec: Data) -> Data:
        """The test split (or all) of ``path`` as ``test``, at the model's channels and
        points (``spec.input_shape``) and labelled by its classes."""
        dc = cfg.data
        channels, num_points = spec.input_shape
        test = load_pointcloud_eval_set(path, spec.label_names, num_points, channels, dc.cache_dir or None, dc.strict,
                                        cfg.train.seed, dc.label_pattern, dc.allow_outside_paths)
        return self._data(None, None, test, spec.label_names, PointCloudInfo(source=str(path)))

    def input_spec(self, cfg: PointCloudRunConfig) -> Data:
        """The generated solids' clouds ``[N, 3, data.num_points]`` and classes, without
        generating them; a dataset (``data.path``) is read."""
        dc = cfg.data
        if dc.path or dc.channels != 3:  # build_data reads it, or names the bad channels
            return super().input_spec(cfg)
        return self._spec(None, None, None, list(SOLID_CLASSES), PointCloudInfo(source="generated solids"), 3,
                          dc.num_points or GENERATED_POINTS)

    @staticmethod
    def _data(train: Any, val: Any, test: Any, label_names: list[str], info: PointCloudInfo) -> Data:
        ref: PointCloudDataset = train if train is not None else test
        return PointCloudTask._spec(train, val, test, label_names, info, ref.channels, ref.num_points)

    @staticmethod
    def _spec(train: Any, val: Any, test: Any, label_names: list[str], info: PointCloudInfo, channels: int,
              num_points: int) -> Data:
        return Data(train, val, test, label_names=list(label_names), input_kind="points", spatial_dims=1,
                    in_channels=channels, input_shape=(channels, num_points), dynamic_axes={2: "points"}, info=info)

    def build_model(self, cfg: PointCloudRunConfig, data: Data) -> nn.Module:
        """A zoo model that takes point sets (``input_kind="points"``)."""
        name = cfg.model.name or self.default_model
        if get_entry(name).input_kind != "points":
            raise ConfigError(f"model {name!r} does not take point clouds; "
                              f"choose one of {', '.join(list_models(input_kind='points'))}")
        return create_model(name, in_channels=data.in_channels, num_classes=len(data.label_names),
                            pretrained=pretrained_weights(cfg, data.label_names), **cfg.model.options)

    def augmentation(self, cfg: PointCloudRunConfig, data: Data) -> Callable[[Any], Any] | None:
        """The configured ``PointAugment`` (None with ``task.augment=false``)."""
        return cfg.task.augmenter() if cfg.task.augment else None

    def training_step(self, model: nn.Module, batch: Any) -> Tensor:
        """Cross-entropy, plus the auxiliary loss a model returns as ``(logits, aux)`` in
        training mode (PointNet's weighted feature-transform regulariser)."""
        inputs, targets = batch
        out = model(inputs)
        logits, aux = out if isinstance(out, tuple) else (out, None)
        loss = F.cross_entropy(logits, targets)
        return loss if aux is None else loss + aux

    def compute_metrics(self, collected: dict[str, Tensor], dataset: Any) -> dict[str, Any]:
        """The classification metrics plus ``mean_class_accuracy``: the mean over the
        classes present of each class's accuracy (ModelNet's "avg. class accuracy")."""
        metrics = super().compute_metrics(collected, dataset)
        metrics["mean_class_accuracy"] = mean_class_accuracy(collected["logits"].argmax(1), collected["targets"])
        return metrics

    def baseline_features(self, cfg: PointCloudRunConfig, data: Data) -> BaselineFeatures:
        """``linear``: the D2 shape distribution (histogram of pairwise point distances)
        for logistic regression; ``mlp``: the flattened coordinates ``[N, C * P]``."""
        limit, seed = cfg.task.baseline_max_train, cfg.train.seed
        train, y_train = _clouds(data.train, limit, seed)
        test, y_test = _clouds(data.test, None, seed)
        return BaselineFeatures(linear=(d2_histogram(train), d2_histogram(test)), y_train=y_train, y_test=y_test,
                                num_classes=len(data.label_names),
                                mlp=(train.flatten(1).numpy(), test.flatten(1).numpy()))

    def load_inputs(self, cfg: PointCloudRunConfig, spec: Data, inputs: list[str]) -> Any:
        """Point or mesh files -> clouds ``[N, C, P]`` at the model's channels and points."""
        channels, num_points = spec.input_shape
        return load_point_files(inputs, num_points, channels, cfg.train.seed)

    def plots(self, run_dir: Path, collected: dict[str, Tensor], data: Data) -> None:
        """The shared plots, and ``split_groups.json`` for a run split by group."""
        super().plots(run_dir, collected, data)
        write_split_groups(run_dir, data.info.group_by, data.info.split_groups)


def mean_class_accuracy(predictions: Tensor, targets: Tensor) -> float:
    """The mean over the classes present in ``targets [N]`` of the share of each class
    predicted right (``predictions [N]``)."""
    classes = targets.unique()
    if classes.numel() == 0:
        return 0.0
    return float(torch.stack([(predictions[targets == c] == c).float().mean() for c in classes]).mean())


def d2_histogram(clouds: Tensor, bins: int = 32, max_points: int = 256) -> np.ndarray:
    """The D2 shape distribution (Osada et al. 2002) of clouds ``[N, C, P]``: a normalised
    histogram of the distances between all pairs of (up to ``max_points``) points, on
    ``[0, 2]`` (clouds lie in the unit sphere) -> ``[N, bins]``."""
    xyz = clouds[:, :3, :max_points].transpose(1, 2).double()
    d = torch.cdist(xyz, xyz)
    iu = torch.triu_indices(xyz.shape[1], xyz.shape[1], offset=1)
    pairs = d[:, iu[0], iu[1]].clamp(0, 2 - 1e-9)
    index = (pairs / 2 * bins).long()
    hist = torch.zeros(len(clouds), bins, dtype=torch.float64).scatter_add_(1, index, torch.ones_like(pairs))
    return (hist / pairs.shape[1]).numpy()


def _clouds(dataset: PointCloudDataset, limit: int | None, seed: int) -> tuple[Tensor, np.ndarray]:
    """The clouds ``[N, C, P]`` a dataset's items give (at most ``limit``, a seeded subset)."""
    keep = np.arange(len(dataset))
    if limit is not None and len(keep) > limit:
        keep = np.sort(np.random.default_rng(seed).permutation(len(keep))[:limit])
    points = dataset.points[torch.from_numpy(keep), : dataset.num_points].transpose(1, 2).contiguous()
    return points, dataset.labels[torch.from_numpy(keep)].numpy()


class PointCloudFilesTask(PointCloudTask):
    """The point-cloud task on files: its config (:class:`PointCloudFilesRunConfig`) sizes
    training by the data."""

    config_class = PointCloudFilesRunConfig


TASK = PointCloudTask()
"""The point-cloud task instance handed to the CLI and the engine."""

FILES_TASK = PointCloudFilesTask()
"""What :data:`TASK` runs on files (``PointCloudTask.for_config``)."""
