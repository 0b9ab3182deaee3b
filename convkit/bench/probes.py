"""Inductive-bias probes: what a trained model's test score becomes when the input is
perturbed in a way its architecture should (or should not) care about.

A probe scores the test split twice through the task's own ``evaluation_step`` and
``compute_metrics`` -- once as is, once with each batch perturbed -- and, where the
inputs are one fixed-shape tensor per example, does the same for a parameter-matched
MLP trained on the flattened inputs (``convkit.train.baselines.fit_matched_mlp``: no
spatial awareness), so the CNN and the MLP stand side by side.

The perturbation follows the data's ``input_kind`` (a fixed seed, so runs repeat):

==========  ====================  ===================================================
input       probe                 perturbation
==========  ====================  ===================================================
grid 1D/2D  ``shift``             roll along the last spatial axis by 1/8 of its size
                                  (image width, audio/series time)
grid 3D     ``shuffled_frames``   a random order of the frames (first spatial axis)
points      ``permuted_points``   one random permutation of the points (last axis)
tokens      ``shuffled_words``    each sentence's non-padding tokens in random order
graph       ``no_edges``          the graph without its edges (features only)
==========  ====================  ===================================================

Grid, points and tokens probes need classification batches ``(inputs, targets, ...)``
(a :class:`~convkit.train.task.ClassificationTask`); a graph probe needs batches with a
``graph`` (node tasks) or an ``edge_index`` (graph batches).

Hook for tasks: a task may define ``probes(model, data) -> dict[str, float]`` (named
figures of its own, e.g. accuracy under a task-specific perturbation); they are reported
under ``"task"``. Test metrics the task reports itself whose names start with one of
:data:`REPORTED_PREFIXES` (the video task's ``shuffled_frames_clip_accuracy``) are
reported under ``"reported"``.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from convkit.train.baselines import fit_matched_mlp, one_blas_thread, scores, sklearn_mlp_params
from convkit.train.loaders import move_to_device
from convkit.train.task import ClassificationTask, Data, Task

REPORTED_PREFIXES = ("shuffled_", "shifted_", "permuted_", "no_edges", "without_edges")
"""Test-metric name prefixes that mark a probe figure a task computed itself."""

PAD_ID = 0
"""The padding token id of token batches (``convkit.tasks.text.data.PAD_ID``); padding stays in place."""

MLP_MAX_TRAIN = 2000
"""At most this many training examples for the probe MLP."""

Perturb = Callable[[Any], Any]


def probe_name(data: Data) -> str | None:
    """The probe for ``data``'s input (see the module table), or None."""
    if data.input_kind == "grid":
        return "shuffled_frames" if data.spatial_dims == 3 else "shift"
    return {"points": "permuted_points", "tokens": "shuffled_words", "graph": "no_edges"}.get(data.input_kind)


def roll_last_axis(x: Tensor) -> Tensor:
    """``x [N, C, ..., L]`` rolled (circularly) by ``max(1, L // 8)`` along its last axis."""
    return torch.roll(x, shifts=max(1, x.shape[-1] // 8), dims=-1)


def shuffle_axis(x: Tensor, axis: int, seed: int = 0) -> Tensor:
    """``x`` with one seeded random permutation of its ``axis`` (the same for every example)."""
    order = torch.randperm(x.shape[axis], generator=torch.Generator().manual_seed(seed)).to(x.device)
    return x.index_select(axis, order)


def shuffle_tokens(tokens: Tensor, seed: int = 0, pad_id: int = PAD_ID) -> Tensor:
    """Token ids ``[N, L]`` with each row's non-padding tokens in a seeded random order
    (padding stays where it is)."""
    generator = torch.Generator().manual_seed(seed)
    out = tokens.clone()
    for row in range(tokens.shape[0]):
        where = (tokens[row] != pad_id).nonzero().flatten()
        order = torch.randperm(len(where), generator=generator).to(tokens.device)
        out[row, where] = tokens[row, where[order]]
    return out


def _without_edges(graph: Any) -> Any:
    graph = copy.copy(graph)
    graph.edge_index = graph.edge_index.new_zeros((2, 0))
    for key in ("edge_weight", "edge_attr"):
        if getattr(graph, key, None) is not None:
            setattr(graph, key, None)
    return graph


def remove_edges(batch: Any) -> Any:
    """A graph batch without its edges: a ``NodeBatch`` (``.graph``, ``.mask``) or a
    torch_geometric ``Data``/``Batch`` (``.edge_index``)."""
    if hasattr(batch, "graph") and hasattr(batch, "mask"):
        return type(batch)(_without_edges(batch.graph), batch.mask, {})
    return _without_edges(batch)


def _on_inputs(fn: Callable[[Tensor], Tensor]) -> Perturb:
    def perturb(batch: Any) -> Any:
        return (fn(batch[0]), *batch[1:])
    return perturb


def perturbation(data: Data, seed: int = 0) -> Perturb | None:
    """The batch -> batch function of ``probe_name(data)`` (None when there is none)."""
    name = probe_name(data)
    if name == "shift":
        return _on_inputs(roll_last_axis)
    if name == "shuffled_frames":
        return _on_inputs(lambda x: shuffle_axis(x, 2, seed))
    if name == "permuted_points":
        return _on_inputs(lambda x: shuffle_axis(x, x.ndim - 1, seed))
    if name == "shuffled_words":
        return _on_inputs(lambda x: shuffle_tokens(x, seed))
    if name == "no_edges":
        return remove_edges
    return None


@contextmanager
def _no_cached_graph(model: nn.Module) -> Iterator[None]:
    """Clear graph convolutions' cached normalised adjacency (``GCNConv(cached=True)``)
    before and after, so a probe on other edges is not answered from the cache."""
    def clear() -> None:
        for module in model.modules():
            for attr in ("_cached_edge_index", "_cached_adj_t"):
                if hasattr(module, attr):
                    setattr(module, attr, None)
    clear()
    try:
        yield
    finally:
        clear()


def evaluate(task: Task, model: nn.Module, data: Data, device: torch.device, batch_size: int,
             perturb: Perturb | None = None) -> dict:
    """``task.compute_metrics`` over the test split, each batch (on ``device``) passed
    through ``perturb`` first when given (the engine's evaluation, on one process)."""
    loader = DataLoader(data.test, batch_size=batch_size, shuffle=False, collate_fn=data.collate_fn)
    parts: dict[str, list[Tensor]] = defaultdict(list)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), _no_cached_graph(model):
            for batch in loader:
                batch = move_to_device(batch, device)
                if perturb is not None:
                    batch = perturb(batch)
                for key, value in task.evaluation_step(model, batch).items():
                    parts[key].append(value.detach().float().cpu() if value.is_floating_point()
                                      else value.detach().cpu())
    finally:
        model.train(was_training)
    return task.compute_metrics({k: torch.cat(v) for k, v in parts.items()}, data.test)


def _tensor_examples(dataset: Any, data: Data, limit: int) -> tuple[Tensor, Tensor] | None:
    """``(inputs [N, ...], targets [N])`` of the first ``limit`` examples, or None when the
    batches are not ``(tensor, int tensor, ...)``."""
    xs, ys, count = [], [], 0
    for batch in DataLoader(dataset, batch_size=256, shuffle=False, collate_fn=data.collate_fn):
        if not (isinstance(batch, (tuple, list)) and len(batch) >= 2 and isinstance(batch[0], Tensor)
                and isinstance(batch[1], Tensor) and batch[1].ndim == 1 and not batch[1].is_floating_point()):
            return None
        xs.append(batch[0])
        ys.append(batch[1])
        count += len(batch[1])
        if count >= limit:
            break
    if not xs or len({tuple(x.shape[1:]) for x in xs}) != 1:
        return None
    return torch.cat(xs)[:limit], torch.cat(ys)[:limit]


def mlp_probe(data: Data, perturb: Perturb, params: int, seed: int = 0) -> dict | None:
    """Accuracy (and macro-F1) of a parameter-matched MLP on the flattened inputs, clean
    and perturbed (perturbation applied on CPU to the test inputs): ``{"clean",
    "perturbed", "metric", "params", "train_examples"}``, or None when the inputs are not
    one fixed-shape tensor per example."""
    train = _tensor_examples(data.train, data, MLP_MAX_TRAIN)
    test = _tensor_examples(data.test, data, len(data.test))
    if train is None or test is None or train[0].shape[1:] != test[0].shape[1:]:
        return None
    (x, y), (xt, yt) = train, test
    num_classes = len(data.label_names) if data.label_names else int(max(y.max(), yt.max())) + 1
    flat = lambda t: t.float().flatten(1).numpy()  # noqa: E731
    with one_blas_thread():
        clf = fit_matched_mlp(flat(x), y.numpy(), params, num_classes, seed)
        clean = scores(clf.predict(flat(xt)), yt)
        perturbed = scores(clf.predict(flat(perturb((xt, yt))[0])), yt)
    return {"metric": "accuracy", "clean": clean["accuracy"], "perturbed": perturbed["accuracy"],
            "params": sklearn_mlp_params(clf), "train_examples": len(y)}


def run_probes(task: Task, data: Data, model: nn.Module, device: torch.device, batch_size: int, params: int,
               test_metrics: dict, monitor: str, with_mlp: bool = True, seed: int = 0) -> dict:
    """Every probe that applies to this task (see the module docstring):

    ``{"probe": name | None, "metric": monitor, "cnn": {"clean", "perturbed"} | None,
    "mlp": {...} | None, "reported": {...}, "task": {...}, "notes": [...]}``.
    """
    out: dict[str, Any] = {"probe": probe_name(data), "metric": monitor, "cnn": None, "mlp": None,
                           "reported": {k: v for k, v in test_metrics.items()
                                        if k.startswith(REPORTED_PREFIXES) and isinstance(v, (int, float))},
                           "task": {}, "notes": []}
    hook = getattr(task, "probes", None)
    if callable(hook):
        out["task"] = {k: float(v) for k, v in hook(model, data).items()}
    perturb = perturbation(data, seed)
    if perturb is None:
        out["notes"].append(f"no generic probe for input kind {data.input_kind!r}")
        return out
    if data.input_kind != "graph" and not isinstance(task, ClassificationTask):
        out["probe"] = None
        out["notes"].append(f"{type(task).__name__} is not a classification task: no {probe_name(data)} probe")
        return out
    clean = evaluate(task, model, data, device, batch_size)
    perturbed = evaluate(task, model, data, device, batch_size, perturb)
    if monitor in clean and monitor in perturbed:
        out["cnn"] = {"clean": float(clean[monitor]), "perturbed": float(perturbed[monitor])}
    if with_mlp and data.input_kind in ("grid", "points"):
        out["mlp"] = mlp_probe(data, perturb, params, seed)
        if out["mlp"] is None:
            out["notes"].append("no MLP probe: the inputs are not one fixed-shape tensor per example")
    elif data.input_kind == "tokens":
        out["notes"].append("no MLP probe on token ids (the linear baseline is a bag of words: order-blind)")
    elif data.input_kind == "graph":
        out["notes"].append("the feature-only baselines (linear, mlp) are the edge-free reference")
    return out
