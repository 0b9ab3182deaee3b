"""The model zoo: ``create_model(name, spatial_dims=2, in_channels=3, num_classes=...,
pretrained=FILE)`` and ``list_models()``; weights by name (``convkit.models.weights``).
Importing this package imports every model module, which registers its builders; plug-in
models (entry point group ``convkit.models``) register the first time ``list_models`` runs
or a name is not found (``convkit.models.registry``)."""

from convkit.models import alexnet, audio, efficientnet, graph, lenet, pointnet, resnet, rocket, tcn, text, tsc, vgg, video  # noqa: F401  (registration)
from convkit.models.base import Classifier
from convkit.models.inflate import inflate
from convkit.models.registry import create_model, get_entry, list_models, model_class, register_model
from convkit.models.weights import Weights, load_weights, read_weights

__all__ = ["Classifier", "Weights", "create_model", "get_entry", "inflate", "list_models", "load_weights",
           "model_class", "read_weights", "register_model"]
