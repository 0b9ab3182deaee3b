"""Transfer learning in a run: where its pretrained weights come from (``model.pretrained``)
and how the engine fine-tunes them (``model.freeze_epochs``, ``model.backbone_lr_scale``).

**Sources** (:func:`read_pretrained`): a weights file (``convkit.models.weights``:
torchvision's or convkit's ``.pth``, ``.safetensors``, convkit's export), a convkit
checkpoint (``load_checkpoint``: its digest checked, read with ``weights_only=True``) or a
run folder (its ``best.pt``, else ``last.pt``). A run's weights bring the zoo model's
architecture and options, the label names of its head and the normalisation its data went
through; a wrapper's keys (an audio run's front end) stay behind when its backbone starts
another task's model (``convkit.models.weights.load_weights``).

**In a task** (:func:`pretrained_weights`, :func:`pretrained_preprocessing`): a task's
``build_model`` hands ``pretrained_weights(cfg, label_names)`` to ``create_model`` (a head
trained on other label names is left out, so it starts fresh), and a task whose data can be
normalised (image, video) asks ``pretrained_preprocessing(cfg)`` for the weights' mean and
std. A trained run is rebuilt without reading its pretrained source again
(:func:`without_pretrained`: its own checkpoint holds the weights).

**Fine-tuning** (the engine): the head is every parameter under a module called ``head``
(every zoo classifier's final layer; a wrapper's ``backbone.head`` too), the backbone all
the rest. :func:`split_head` gives the backbone ``model.backbone_lr_scale`` times the
head's learning rate; :func:`set_backbone_frozen` freezes the backbone (no gradients, so no
optimizer state or weight decay either) with its BatchNorm layers held in eval mode, for
the first ``model.freeze_epochs`` epochs. Whether it is frozen follows from the epoch
alone, so a resumed run continues exactly, across the unfreeze too.
"""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path
from typing import Any

from torch import nn

from convkit.config import ModelConfig, RunConfig
from convkit.errors import ConfigError
from convkit.models.weights import Weights, normalisation_of, preprocessing_of, read_weights
from convkit.train import checkpoint as checkpoints

RUN_CHECKPOINTS = ("best.pt", "last.pt")
"""What a run folder given as ``model.pretrained`` is read from, in order of preference."""


def read_pretrained(path: str | Path) -> Weights:
    """The weights at ``path``: a run folder, a convkit checkpoint or a weights file.

    Raises:
        ConfigError: one line naming the file: missing, unreadable, or a file that needs
            pickled code. CheckpointError: a damaged or unreadable convkit checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        found = [path / name for name in RUN_CHECKPOINTS if (path / name).is_file()]
        if not found:
            raise ConfigError(f"{path}: a folder without {' or '.join(RUN_CHECKPOINTS)}; model.pretrained takes a "
                              f"run folder, a checkpoint or a weights file (.pth, .safetensors)")
        return checkpoint_weights(found[0])
    if path.is_file() and _has_checkpoint_digest(path):
        return checkpoint_weights(path)
    try:
        return read_weights(path)
    except ConfigError as err:
        if "a convkit training checkpoint" not in str(err):
            raise
    return checkpoint_weights(path)  # one written before checkpoints carried a digest


def _has_checkpoint_digest(path: Path) -> bool:
    """Whether a file ends with a convkit checkpoint's digest comment (format 2)."""
    size = path.stat().st_size
    tail = len(checkpoints.DIGEST_TAG) + 64
    if size < tail:
        return False
    with open(path, "rb") as f:
        f.seek(size - tail)
        return f.read(len(checkpoints.DIGEST_TAG)) == checkpoints.DIGEST_TAG


def checkpoint_weights(path: str | Path) -> Weights:
    """A convkit training checkpoint's model weights, with its architecture and options,
    its label names and the normalisation its data went through (``Data.info``'s ``mean``
    and ``std``, when the task records them)."""
    state = checkpoints.load_training_checkpoint(path)
    model = state["config"].get("model") or {}
    data = state.get("data") or {}
    return Weights(dict(state["model"]), str(path), architecture=str(state.get("model_name") or model.get("name", "")),
                   options=dict(model.get("options") or {}),
                   preprocessing=normalisation_of(data.get("info") or {}), label_names=data.get("label_names"))


def pretrained_weights(cfg: RunConfig, label_names: list[str] | None = None) -> Weights | None:
    """The weights ``cfg.model.pretrained`` names for the model a task builds (None when
    empty); when the source knows its head's label names and they differ from
    ``label_names``, without the head."""
    if not cfg.model.pretrained:
        return None
    weights = read_pretrained(cfg.model.pretrained)
    if weights.label_names is not None and label_names is not None and list(weights.label_names) != list(label_names):
        weights = weights.without_head()
    return weights


def pretrained_preprocessing(cfg: RunConfig, model_name: str = "") -> dict:
    """What the data must go through for ``cfg.model.pretrained`` (``{}`` when none or
    unknown): ``mean``/``std`` per channel of [0, 1] values, ``input_size``, ``dataset``
    (``convkit.models.weights.preprocessing_of``)."""
    if not cfg.model.pretrained:
        return {}
    return preprocessing_of(read_pretrained(cfg.model.pretrained), model_name or cfg.model.name)


def channel_stats(preprocessing: dict, channels: int) -> tuple[list[float], list[float]] | None:
    """``(mean, std)`` of ``preprocessing`` for ``channels`` input channels, or None when it
    states none. Weights for three channels in a one-channel model (whose first conv sums
    them, ``adapt_input_conv``) use the mean of the three; one channel's stats repeat."""
    mean, std = preprocessing.get("mean"), preprocessing.get("std")
    if not mean or not std:
        return None
    mean, std = [float(v) for v in mean], [float(v) for v in std]
    if len(mean) != channels:
        if channels == 1:
            mean, std = [sum(mean) / len(mean)], [sum(std) / len(std)]
        elif len(mean) == 1:
            mean, std = mean * channels, std * channels
        else:
            raise ConfigError(f"model.pretrained: its normalisation is for {len(mean)} channels, the data has "
                              f"{channels}; set data.channels or data.normalize = \"none\"")
    return mean, std


def without_pretrained(cfg: RunConfig) -> RunConfig:
    """``cfg`` without ``model.pretrained``: how a trained run's model is rebuilt (its
    checkpoint holds its weights; the source need not be there any more)."""
    if not cfg.model.pretrained:
        return cfg
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, pretrained=""))


# --------------------------------------------------------------------------- fine-tuning


def head_names(model: nn.Module) -> set[str]:
    """The names of the head's parameters: those under a module called ``head``."""
    return {name for name, _ in model.named_parameters() if "head" in name.split(".")[:-1]}


def require_head(model: nn.Module, setting: str) -> set[str]:
    """:func:`head_names`, or a ConfigError naming ``setting`` when the model has no head."""
    names = head_names(model)
    if not names:
        raise ConfigError(f"{setting} needs a model with a classifier called 'head' (every zoo classifier has "
                          f"one); {type(model).__name__} has none")
    return names


def split_head(groups: list[dict[str, Any]], model: nn.Module, lr: float, backbone_lr_scale: float) -> list[dict]:
    """The optimizer's parameter ``groups`` with each split into its head part (at ``lr``)
    and its backbone part (at ``lr * backbone_lr_scale``), head groups first (so the first
    group's rate is the one logged); empty parts dropped."""
    names = require_head(model, "model.backbone_lr_scale")
    head = {id(p) for name, p in model.named_parameters() if name in names}
    heads, backbones = [], []
    for group in groups:
        params = list(group["params"])
        heads.append({**group, "params": [p for p in params if id(p) in head]})
        backbones.append({**group, "params": [p for p in params if id(p) not in head],
                          "lr": group.get("lr", lr) * backbone_lr_scale})
    return [g for g in heads + backbones if g["params"]]


def _held_in_eval(module: nn.Module, mode: bool = True) -> nn.Module:
    """``train()`` of a frozen BatchNorm layer: it stays in eval mode whatever is asked."""
    return nn.Module.train(module, False)


def set_backbone_frozen(model: nn.Module, frozen: bool) -> None:
    """Freeze (or unfreeze) everything but the head: no gradients for its parameters, and
    its BatchNorm layers held in eval mode (their running statistics used and kept) until
    unfrozen, whatever ``model.train()`` is called with."""
    head = require_head(model, "model.freeze_epochs")
    for name, param in model.named_parameters():
        if name not in head:
            param.requires_grad_(not frozen)
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and "head" not in name.split("."):
            if frozen:
                module.train = types.MethodType(_held_in_eval, module)  # an instance attribute: model.train() calls it
                module.train(False)
            elif "train" in module.__dict__:
                del module.train
                module.train(model.training)


def frozen_at(model_cfg: ModelConfig, epoch: int) -> bool:
    """Whether the backbone is frozen in (0-based) ``epoch``."""
    return epoch < model_cfg.freeze_epochs

