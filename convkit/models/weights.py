"""Pretrained weights: weight files read safely and loaded into a zoo model by name.

**Files** (:func:`read_weights`): a state dict saved by ``torch.save`` (``.pth``/``.pt``,
torchvision's published files among them), read with ``torch.load(weights_only=True)``,
so a file that needs pickled code is refused; ``.safetensors``; and convkit's own export
(``export --format safetensors``: the trained model's state dict with a JSON of its
architecture, options, preprocessing and label names in the file's header and beside it
as ``<file>.json``). convkit's training checkpoints and run folders are read by
``convkit.train.transfer`` (their digest is checked there) and come here as
:class:`Weights` too.

**By name, never by position** (:func:`load_weights`): every key of the model gets its
source name in one of two layouts, convkit's own (a wrapper's prefix such as
``backbone.`` or DDP's ``module.`` is found and dropped) or torchvision's. Each
torchvision family states its key map next to its module, as
``Classifier.torchvision_prefixes`` (convkit prefix -> torchvision prefix: ResNet's
``features.4.`` is ``layer1.``, VGG's ``features.1.0.`` is ``features.3.``, every head
``head.1.`` is ``fc.``/``classifier.N.``); the layout that names more of the file's keys
is the file's (under a wrapper's prefix, the wrapper's other keys, such as an audio
model's front end, are left out). Keys the model has and the file lacks, keys the file has and the model
lacks, and shapes that do not fit are one error naming them; the model is changed only
when everything fits. BatchNorm's ``num_batches_tracked``, absent from torchvision's
older files, keeps the model's.

**Transfer across shapes** (timm's rules): a head whose shape differs (another number of
classes), or that the file lacks, is left freshly initialised; the first conv of a model
with other input channels is adapted (:func:`adapt_input_conv`: summed over the file's
channels for one channel, else repeated and scaled); 2D weights in a 3D model are
inflated (:func:`inflate_kernel`: each ``k×k`` kernel repeated over time and divided by
the repeats, as I3D), in a 1D model summed over height; a dense layer that reads a
flattened pooled grid (AlexNet, VGG) follows its grid (:func:`inflate_flattened`).

**Preprocessing travels with weights** (:func:`preprocessing_of`): convkit's files say
what their data went through; a torchvision file's is the published value for its
family (:data:`TORCHVISION_PREPROCESSING`: ImageNet or Kinetics-400 mean and std, the
input size).
"""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from convkit.errors import ConfigError

IMAGENET = {"dataset": "ImageNet-1k", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
"""torchvision's ImageNet normalisation (``transforms._presets.ImageClassification``)."""
KINETICS = {"dataset": "Kinetics-400", "mean": [0.43216, 0.394666, 0.37645],
            "std": [0.22803, 0.22145, 0.216989]}
"""torchvision's Kinetics-400 normalisation (``transforms._presets.VideoClassification``)."""


def _image(crop: int, resize: int) -> dict:
    return {**IMAGENET, "input_size": [crop, crop], "resize": resize}


TORCHVISION_PREPROCESSING: dict[str, dict] = {
    **{name: _image(224, 256) for name in (
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2",
        "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "alexnet")},
    "efficientnet_b0": _image(224, 256), "efficientnet_b1": _image(240, 256), "efficientnet_b2": _image(288, 288),
    "efficientnet_b3": _image(300, 320), "efficientnet_b4": _image(380, 384), "efficientnet_b5": _image(456, 456),
    "efficientnet_b6": _image(528, 528), "efficientnet_b7": _image(600, 600),
    **{name: {**KINETICS, "input_size": [16, 112, 112], "resize": [128, 171]}
       for name in ("r3d_18", "mc3_18", "r2plus1d_18")},
}
"""What torchvision's published weights of each architecture were trained on (its
``IMAGENET1K_V1`` / ``KINETICS400_V1`` transforms): the dataset, per-channel ``mean`` and
``std`` of [0, 1] pixels, ``input_size`` (``[H, W]``, or ``[T, H, W]`` for clips: 16-frame
clips as its video recipe) and the ``resize`` before the centre crop."""

_TORCHVISION_MARKS = ("fc.", "classifier.", "stem.", "layer1.", "conv1.", "bn1.")
"""How keys of torchvision's layouts begin (convkit's classifiers use ``features.``/``head.``)."""

_BN_COUNTER = "num_batches_tracked"
_SHOWN = 6
"""Keys named in an error before ``... and N more``."""


@dataclass
class Weights:
    """Weights read from a file (or a convkit run), not yet loaded into a model.

    ``state``: the tensors by name; ``source``: where they came from (for messages);
    ``architecture``/``options``: the zoo name and options they were trained as, when the
    source says (convkit's files); ``preprocessing``: what the data went through
    (``mean``/``std`` of [0, 1] pixels, ``input_size``, ...) when the source says;
    ``label_names``: the classes of their head, when known."""

    state: dict[str, Tensor]
    source: str
    architecture: str = ""
    options: dict = field(default_factory=dict)
    preprocessing: dict = field(default_factory=dict)
    label_names: list[str] | None = None

    def without_head(self) -> "Weights":
        """These weights without their classifier (every key with a ``head`` component:
        convkit's layout), so a model starts a fresh head for other classes."""
        kept = {k: v for k, v in self.state.items() if "head" not in k.split(".")}
        return dataclasses.replace(self, state=kept, label_names=None)


@dataclass
class LoadReport:
    """What :func:`load_weights` did: the ``layout`` it read (``convkit`` or
    ``torchvision``), the model's keys it left initialised (``reinitialised``: the head),
    those it adapted (``adapted``: ``{key: how}``, inflated or channel-adapted) and the
    source's keys outside the wrapper prefix the model's were found under (``left_out``:
    e.g. an audio run's front end when its backbone starts an image model)."""

    source: str
    layout: str
    loaded: int
    reinitialised: list[str] = field(default_factory=list)
    adapted: dict[str, str] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- reading files


def read_weights(path: str | Path) -> Weights:
    """The weights in ``path``: a ``torch.save``'d state dict (read with
    ``weights_only=True``; ``{"state_dict": {...}}`` and ``{"model": {...}}`` wrappers are
    opened) or a ``.safetensors`` file (with convkit's metadata when it has some).

    Raises:
        ConfigError: one line naming the file: missing, a folder, unreadable or corrupt,
            a file that needs pickled code, not a state dict, or a convkit training
            checkpoint (read through ``convkit.train.transfer``, which checks its digest).
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such weights file (model.pretrained)")
    if path.is_dir():
        raise ConfigError(f"{path}: a folder, not a weights file; a convkit run folder is read in a run "
                          f"(model.pretrained) or by convkit.train.transfer.read_pretrained")
    with open(path, "rb") as f:
        head = f.read(16)
    if path.suffix.lower() == ".safetensors" or _looks_safetensors(head):
        return _read_safetensors(path)
    is_zip = head[:4] == b"PK\x03\x04"
    if not is_zip and head[:1] != b"\x80":  # neither torch.save's zip archive nor its older pickle format
        raise ConfigError(f"{path}: not a readable weights file (neither a torch.save file nor safetensors)")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
    except pickle.UnpicklingError as err:
        named = re.search(r"GLOBAL ([\w.]+)", str(err))
        if named is None and "global" not in str(err).lower():  # damaged bytes, not code (e.g. "Unsupported operand")
            found = re.search(r"Unsupported operand \d+|[^\n]*WeightsUnpickler error:\s*([^\n]+)", str(err))
            raise ConfigError(f"{path}: not a readable weights file (a damaged pickle: "
                              f"{found.group(0).strip()[:120] if found else 'UnpicklingError'})") from None
        what = f" (it names {named.group(1)})" if named else ""
        raise ConfigError(f"{path}: refused: loading it would run pickled code{what}; weights are read with "
                          f"weights_only=True: save a state dict, torch.save(model.state_dict(), path)") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, AttributeError, IndexError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "empty"
        raise ConfigError(f"{path}: not a readable weights file ({type(err).__name__}: {first[:160]})") from None
    if isinstance(loaded, dict) and "format" in loaded and "model" in loaded and "config" in loaded:
        raise ConfigError(f"{path}: a convkit training checkpoint; give it to a run as model.pretrained, or read "
                          f"it with convkit.train.transfer.read_pretrained (which checks its digest)")
    state = _state_dict_in(loaded)
    if state is None:
        raise ConfigError(f"{path}: not a state dict (expected a dict of tensors by name, as "
                          f"torch.save(model.state_dict(), path) writes); got {type(loaded).__name__}")
    return Weights(state, str(path))


def _looks_safetensors(head: bytes) -> bool:
    """Whether a file's first bytes are a safetensors header (8-byte length, then ``{``)."""
    return len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 32)


def _state_dict_in(loaded: Any) -> dict[str, Tensor] | None:
    """The state dict a loaded object is or wraps (under ``state_dict``/``model``), else None."""
    if isinstance(loaded, dict) and loaded and all(isinstance(k, str) and isinstance(v, Tensor)
                                                   for k, v in loaded.items()):
        return loaded
    if isinstance(loaded, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            inner = loaded.get(key)
            if isinstance(inner, dict) and _state_dict_in(inner) is not None:
                return inner
    return None


CONVKIT_METADATA_KEY = "convkit"
"""The safetensors header metadata entry holding convkit's JSON (architecture, options,
preprocessing, label names)."""


def _read_safetensors(path: Path) -> Weights:
    """A ``.safetensors`` file's tensors and, when it has them, convkit's metadata (the
    header's ``convkit`` entry, else a ``<file>.json`` beside it)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta_text = (f.metadata() or {}).get(CONVKIT_METADATA_KEY)
            state = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "empty"
        raise ConfigError(f"{path}: not a readable safetensors file ({first[:160]})") from None
    sidecar = path.with_name(path.name + ".json")
    if meta_text is None and sidecar.is_file():
        meta_text = sidecar.read_text(encoding="utf-8")
    meta: dict = {}
    if meta_text:
        try:
            meta = json.loads(meta_text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}: its convkit metadata is not valid JSON ({err})") from None
        if not isinstance(meta, dict):
            raise ConfigError(f"{path}: its convkit metadata is not a JSON object")
    if not state:
        raise ConfigError(f"{path}: holds no tensors")
    return Weights(state, str(path), architecture=str(meta.get("model") or ""),
                   options=dict(meta.get("model_options") or {}),
                   preprocessing=normalisation_of(meta.get("preprocessing") or {}),
                   label_names=meta.get("label_names"))


def normalisation_of(preprocessing: dict) -> dict:
    """The part of a task's preprocessing record that carries over to weights: per-channel
    ``mean``/``std`` (of [0, 1] values), ``input_size``, ``dataset``."""
    return {k: preprocessing[k] for k in ("dataset", "mean", "std", "input_size", "resize") if k in preprocessing}


def save_weights(state: dict[str, Tensor], path: str | Path, metadata: dict) -> None:
    """Write ``state`` as a ``.safetensors`` file with ``metadata`` (JSON-able) as its
    convkit header entry. Tensors are written contiguous, on the CPU; tensors that share
    memory are written once each."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    save_file(tensors, str(path), metadata={CONVKIT_METADATA_KEY: json.dumps(metadata)})


def looks_torchvision(state: dict[str, Tensor]) -> bool:
    """Whether a state dict is in one of torchvision's layouts (``fc.``, ``classifier.``,
    ``layer1.``, ``stem.``... keys), which convkit's classifiers never use."""
    return any(key.startswith(_TORCHVISION_MARKS) for key in state)


def preprocessing_of(weights: Weights, model_name: str) -> dict:
    """What the data must go through for ``weights`` loaded into zoo model ``model_name``:
    the source's own record, else for a file in torchvision's layout torchvision's
    published values for that architecture (:data:`TORCHVISION_PREPROCESSING`), else ``{}``."""
    if weights.preprocessing:
        return dict(weights.preprocessing)
    if looks_torchvision(weights.state):
        return dict(TORCHVISION_PREPROCESSING.get(model_name, {}))
    return {}


# --------------------------------------------------------------------------- shape transfer


def adapt_input_conv(weight: Tensor, in_channels: int) -> Tensor:
    """A first conv's kernel ``[O, I, *k]`` for ``in_channels`` inputs (timm's
    ``adapt_input_conv``): one channel sums the kernel over its ``I`` inputs (a grey image
    then gives what the colour model gave on that grey repeated in every channel); more or
    fewer repeat the ``I`` input kernels cyclically and scale by ``I / in_channels`` (for a
    multiple of ``I`` the response to an input equal in every channel stays the same)."""
    if weight.shape[1] == in_channels:
        return weight
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeat = math.ceil(in_channels / weight.shape[1])
    tiled = weight.repeat(1, repeat, *([1] * (weight.dim() - 2)))[:, :in_channels]
    return tiled * (weight.shape[1] / in_channels)


def inflate_kernel(weight: Tensor, shape: torch.Size | tuple[int, ...]) -> Tensor:
    """A 2D kernel ``[O, I, kh, kw]`` carried to ``shape``: 3D ``[O, I, t, kh, kw]`` (repeated
    ``t`` times over the new leading time axis and divided by ``t``: I3D, so a clip of
    identical frames sees what the 2D model saw) or 1D ``[O, I, kw]`` (summed over height:
    a signal then gives what the 2D model gave on an image repeating it on every row)."""
    if weight.dim() == 4 and len(shape) == 5:
        t = shape[2]
        return weight.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
    if weight.dim() == 4 and len(shape) == 3:
        return weight.sum(dim=2)
    raise ConfigError(f"cannot inflate a kernel of shape {list(weight.shape)} to {list(shape)}")


def inflate_flattened(weight: Tensor, shape: torch.Size | tuple[int, ...], spatial_dims: int) -> Tensor:
    """A dense layer reading a flattened ``[C, P, P]`` grid (AlexNet, VGG) carried to one
    reading a flattened ``[C, P, P, P]`` (3D: spread over time, divided by ``P``) or
    ``[C, P]`` (1D: summed over height) grid."""
    out_f, in_f = weight.shape
    for c in range(1, in_f + 1):  # find C and P with C * P * P == in_f and C * P**d == new
        p = int(round((in_f // c) ** 0.5))
        if c * p * p == in_f and c * p ** spatial_dims == shape[1]:
            grid = weight.reshape(out_f, c, p, p)
            if spatial_dims == 3:
                return (grid.unsqueeze(2).repeat(1, 1, p, 1, 1) / p).reshape(shape)
            return grid.sum(dim=2).reshape(shape)
    raise ConfigError(f"cannot inflate a dense layer of shape {list(weight.shape)} to {list(shape)}")


# --------------------------------------------------------------------------- loading by name


def load_weights(model: nn.Module, weights: Weights | str | Path) -> LoadReport:
    """Load ``weights`` (or the file at that path) into ``model`` by name, with the
    transfer rules of the module docstring; nothing in ``model`` changes unless every
    key fits.

    Raises:
        ConfigError: one line naming the source, the model, the keys it lacks, the keys it
            has that the model does not, and the shapes that do not fit.
    """
    if not isinstance(weights, Weights):
        weights = read_weights(weights)
    target = model.state_dict()
    layout, prefix, names = _source_names(model, weights)
    head = _head_keys(model)
    first_conv = _first_conv_key(model)
    model_dims = getattr(model, "spatial_dims", None)
    source_dims = _source_dims(weights.state, names.get(first_conv)) if first_conv else None
    new: dict[str, Tensor] = {}
    report = LoadReport(weights.source, layout, 0)
    missing, misfit = [], []
    for key, want in target.items():
        name = names[key]
        if name not in weights.state:
            if key in head:
                report.reinitialised.append(key)
            elif key.endswith(_BN_COUNTER):
                pass  # torchvision's older files have none: keep the model's count
            else:
                missing.append(name if name == key else f"{name} (for {key})")
            continue
        value = weights.state[name]
        if value.shape == want.shape:
            new[key] = value
            continue
        if key in head:
            report.reinitialised.append(key)
            continue
        adapted = _adapt(key, value, want, first_conv, source_dims, model_dims, report)
        if adapted is None:
            misfit.append(f"{name} {list(value.shape)} vs {key} {list(want.shape)}")
        else:
            new[key] = adapted
    used = {names[k] for k in target}
    unexpected = [k for k in weights.state if k not in used and k.startswith(prefix)]  # a wrapper's own: left out
    report.left_out = [k for k in weights.state if not k.startswith(prefix)]
    if missing or unexpected or misfit:
        parts = [f"{len(missing)} keys the model has are missing ({_some(_modules(missing))})" if missing else "",
                 f"{len(unexpected)} keys the model does not have ({_some(_modules(unexpected))})"
                 if unexpected else "",
                 f"shapes that do not fit: {_some(misfit)}" if misfit else ""]
        name = getattr(model, "build_args", {}).get("name", type(model).__name__)
        raise ConfigError(f"{weights.source}: does not fit model {name} ({layout} layout): "
                          + "; ".join(p for p in parts if p))
    with torch.no_grad():
        for key, value in new.items():
            target[key].copy_(value.to(target[key].dtype))
    report.loaded = len(new)
    return report


def _modules(keys: list[str]) -> list[str]:
    """The modules ``keys`` belong to, in order, once each (``a.b.weight``, ``a.b.bias`` -> ``a.b.*``)."""
    seen: dict[str, None] = {}
    for key in keys:
        module, dot, _ = key.partition(" ")[0].rpartition(".")
        seen.setdefault(f"{module}.*" if dot else key, None)
    return list(seen)


def _some(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _source_names(model: nn.Module, weights: Weights) -> tuple[str, str, dict[str, str]]:
    """``(layout, prefix, {model key: its name in the source})``: convkit's layout (under
    the ``prefix`` a wrapper gave it) or the family's torchvision layout, whichever names
    more of the source's keys."""
    keys = list(model.state_dict())
    state = weights.state
    candidates: list[tuple[str, str, dict[str, str]]] = []
    for prefix in _prefixes(keys, state):
        candidates.append(("convkit", prefix, {k: prefix + k for k in keys}))
    prefixes = getattr(model, "torchvision_prefixes", None)
    pairs = prefixes() if callable(prefixes) else None
    if pairs:
        candidates.append(("torchvision", "", {k: _rename(k, pairs) for k in keys}))
    layout, prefix, names = max(candidates, key=lambda c: sum(n in state for n in c[2].values()))
    if not any(n in state for n in names.values()):
        name = getattr(model, "build_args", {}).get("name", type(model).__name__)
        raise ConfigError(f"{weights.source}: no key fits model {name} (the file's keys begin "
                          f"{_some(sorted({k.split('.')[0] for k in state}))}; the model's are "
                          f"{', '.join(sorted({k.split('.')[0] for k in keys}))})")
    return layout, prefix, names


def _prefixes(keys: list[str], state: dict[str, Tensor]) -> list[str]:
    """``""`` and every prefix under which the source holds the model's keys (a wrapper's
    ``backbone.``, DDP's ``module.``, torch.compile's ``_orig_mod.``)."""
    found = [""]
    probes = [k for k in keys if not k.endswith(_BN_COUNTER)][:3]
    for name in state:
        for probe in probes:
            if name.endswith("." + probe):
                prefix = name[: -len(probe)]
                if prefix not in found:
                    found.append(prefix)
    return found


def _rename(key: str, pairs: list[tuple[str, str]]) -> str:
    """``key`` with its longest matching convkit prefix replaced by the torchvision one."""
    best = max((p for p in pairs if key.startswith(p[0])), key=lambda p: len(p[0]), default=None)
    return key if best is None else best[1] + key[len(best[0]):]


def _head_keys(model: nn.Module) -> set[str]:
    """The model's keys under a module called ``head`` (every zoo classifier's final layer)."""
    return {k for k in model.state_dict() if "head" in k.split(".")[:-1]}


def _first_conv_key(model: nn.Module) -> str | None:
    """The weight of the model's first conv (the one that reads the input channels)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            return f"{name}.weight" if name else "weight"
    return None


def _source_dims(state: dict[str, Tensor], first_conv_name: str | None) -> int | None:
    """The spatial dimensions the source was trained in (from its first conv's kernel)."""
    value = state.get(first_conv_name) if first_conv_name else None
    return value.dim() - 2 if value is not None else None


def _adapt(key: str, value: Tensor, want: Tensor, first_conv: str | None, source_dims: int | None,
           model_dims: int | None, report: LoadReport) -> Tensor | None:
    """``value`` carried to ``want``'s shape by the transfer rules, or None when no rule fits."""
    how = []
    if value.dim() == 4 and want.dim() in (3, 5):  # a 2D kernel in a 1D or 3D model
        value = inflate_kernel(value, (*value.shape[:2], *want.shape[2:]))
        how.append(f"inflated 2D -> {want.dim() - 2}D")
    elif (value.dim() == want.dim() == 2 and value.shape[0] == want.shape[0] and source_dims == 2
          and model_dims in (1, 3)):
        try:
            value = inflate_flattened(value, want.shape, model_dims)
        except ConfigError:
            return None
        how.append(f"dense layer over the flattened grid inflated 2D -> {model_dims}D")
    if key == first_conv and value.dim() == want.dim() and value.shape[1] != want.shape[1] \
            and value.shape[0] == want.shape[0]:
        how.append(f"input channels {value.shape[1]} -> {want.shape[1]}")
        value = adapt_input_conv(value, want.shape[1])
    if value.shape != want.shape:
        return None
    report.adapted[key] = ", ".join(how)
    return value
