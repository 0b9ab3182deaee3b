"""The model registry: every model module registers its builders with ``@register_model``;
``create_model`` builds one by name. Registering a name twice is an error (as in
torchvision's ``_api.py``); an unknown name fails with the closest valid names.

Models from other installed packages join through the ``convkit.models`` entry point
group (``convkit.plugins``): their modules are imported, and so register their builders,
the first time ``list_models`` runs or a name is not found among the registered ones. A
model class outside the registry is named by its import path ``module:Class``
(:func:`model_class`), which is how a run trained with one records it."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch import nn

from convkit import plugins
from convkit.errors import ConfigError
from convkit.models.weights import Weights, load_weights
from convkit.nn.layers import check_spatial_dims


@dataclass(frozen=True)
class ModelEntry:
    """A registered builder and what input it takes: its ``input_kind`` (``grid``
    ``[N, C, *spatial]``, ``tokens`` ``[N, L]``, ``points`` ``[N, 3+F, P]`` or ``graph``),
    the ``spatial_dims`` it supports (grids only; empty otherwise) and the domain it was
    made for."""

    name: str
    builder: Callable[..., nn.Module]
    spatial_dims: tuple[int, ...]
    domain: str
    input_kind: str = "grid"


_REGISTRY: dict[str, ModelEntry] = {}


INPUT_KINDS = ("grid", "tokens", "points", "graph")


def register_model(spatial_dims: tuple[int, ...] = (1, 2, 3), domain: str = "any",
                   name: str | None = None, input_kind: str = "grid") -> Callable:
    """Decorator registering ``builder(spatial_dims=..., in_channels=..., num_classes=...,
    **options) -> nn.Module`` under its function name (or ``name``), with the kind of
    input it takes (one of ``INPUT_KINDS``)."""
    if input_kind not in INPUT_KINDS:
        raise ValueError(f"input_kind must be one of {INPUT_KINDS}; got {input_kind!r}")

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or builder.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is already registered")
        dims = tuple(spatial_dims) if input_kind == "grid" else ()
        _REGISTRY[key] = ModelEntry(key, builder, dims, domain, input_kind)
        return builder

    return decorate


def load_plugins() -> None:
    """Import the model plug-ins (entry point group ``convkit.models``) once, registering
    their builders; a broken one is one warning line and is left out."""
    plugins.load_group(plugins.MODELS_GROUP)


def list_models(domain: str | None = None, spatial_dims: int | None = None,
                input_kind: str | None = None) -> list[str]:
    """Sorted names of the registered models (plug-ins included), optionally only those
    of a domain, of an input kind, or (grids) that accept a given ``spatial_dims``."""
    load_plugins()
    return sorted(e.name for e in _REGISTRY.values()
                  if (domain is None or e.domain == domain)
                  and (input_kind is None or e.input_kind == input_kind)
                  and (spatial_dims is None or spatial_dims in e.spatial_dims))


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name`` (a plug-in's too); a ConfigError with close
    matches if unknown."""
    if name not in _REGISTRY:
        load_plugins()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; valid: {', '.join(list_models())}"
        raise ConfigError(f"unknown model {name!r}{hint}")
    return _REGISTRY[name]


def create_model(name: str, spatial_dims: int | None = None, in_channels: int | None = None,
                 num_classes: int | None = None, pretrained: str | Path | Weights | None = None,
                 **options) -> nn.Module:
    """Build a registered model. Arguments that are ``None`` are dropped (so callers can
    pass optional overrides straight through, as in timm) and the builder's defaults
    apply: 2D, 3 channels and 1000 classes for the classic image families, 1D for
    sequence models, LeNet-5's 1 channel and 10 classes. The model remembers how it was
    built in ``model.build_args`` (used by ``inflate`` and by checkpoints).

    ``pretrained``: a weights file (a torchvision or convkit state dict ``.pth``, a
    ``.safetensors``) or :class:`~convkit.models.weights.Weights` (a convkit run's, from
    ``convkit.train.transfer``), loaded by name with the transfer rules of
    ``convkit.models.weights`` (a fresh head for other classes, the first conv adapted to
    other input channels, 2D weights inflated to 3D or 1D); empty or None: none. A file
    that does not fit is a ConfigError naming it and the keys."""
    entry = get_entry(name)
    kwargs = {k: v for k, v in dict(spatial_dims=spatial_dims, in_channels=in_channels,
                                    num_classes=num_classes, **options).items() if v is not None}
    if entry.spatial_dims and "spatial_dims" in kwargs:
        check_spatial_dims(kwargs["spatial_dims"])
        if kwargs["spatial_dims"] not in entry.spatial_dims:
            raise ConfigError(f"model {name!r} supports spatial_dims {list(entry.spatial_dims)}; "
                              f"got {kwargs['spatial_dims']}")
    elif not entry.spatial_dims:
        kwargs.pop("spatial_dims", None)
    try:
        model = entry.builder(**kwargs)
    except TypeError as e:  # an option the builder does not take
        raise ConfigError(f"model {name!r}: {e}") from None
    for key in ("spatial_dims", "in_channels", "num_classes"):  # record resolved defaults
        if key not in kwargs and hasattr(model, key):
            kwargs[key] = getattr(model, key)
    model.build_args = {"name": name, **kwargs}
    if pretrained:
        load_weights(model, pretrained)
    return model


def is_model_class_reference(name: str) -> bool:
    """Whether a model name is an import path ``module:Class`` (registry names hold no ``:``)."""
    return ":" in name


def model_class(reference: str) -> type[nn.Module]:
    """The ``nn.Module`` subclass that ``module:Class`` names (``mypackage.nets:TinyNet``),
    imported by name from ``sys.path``. Nothing is called: the caller builds it with its
    recorded options, ``cls(**options)``.

    Raises:
        ConfigError: one line: not an import path, a module or name that is not there, a
            class defined where another process cannot import it, or anything other than
            an ``nn.Module`` subclass (a checkpoint naming e.g. ``os:system`` is refused).
    """
    what = f"model {reference!r}"
    cls = plugins.resolve_reference(reference, what)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ConfigError(f"{what}: refused: it names {type(cls).__name__} {getattr(cls, '__name__', '')!r}, "
                          f"not a subclass of torch.nn.Module")
    return cls
