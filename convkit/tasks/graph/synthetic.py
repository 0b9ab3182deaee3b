"""The graph task's embedded data: what runs with no ``--data`` and no network.

Node classification: a generated stochastic-block-model graph whose structure carries the
class while the noisy features alone are weak (:func:`make_sbm_graph`, the default), and
Zachary's karate club, shipped in torch-geometric (:func:`load_karate`). Graph
classification: the generated cycles/trees/cliques set (:func:`make_motif_graphs`).
:func:`embedded_spec` declares each set's features and classes without building it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Data as PygData

from convkit.data.splits import split_indices
from convkit.errors import ConfigError
from convkit.tasks.graph.data import NodeGraph, clean_graph, small_graph, split_masks

SBM_CLASSES, SBM_FEATURES = 4, 16
"""Classes (blocks) and node features of the generated block-model graph by default."""

KARATE_MEMBERS, KARATE_CLASSES = 34, 4
"""Zachary's karate club: 34 members (one-hot features), 4 communities."""

MOTIF_FEATURES = 4
"""Node features of the generated graph-classification set by default."""

MOTIF_CLASSES = ("cycle", "tree", "clique")
"""Classes of the generated graph set."""


def sbm_class_names(num_classes: int = SBM_CLASSES) -> list[str]:
    """The block-model graph's class names (``block0``, ``block1``, ...)."""
    return [f"block{c}" for c in range(num_classes)]


def embedded_spec(dataset: str) -> tuple[int, list[str]]:
    """``(node features, class names)`` of an embedded data set (``sbm``, ``karate``,
    ``motifs``) as its generator builds it by default, without building it (``info``)."""
    specs = {"sbm": (SBM_FEATURES, sbm_class_names()),
             "karate": (KARATE_MEMBERS, [str(c) for c in range(KARATE_CLASSES)]),
             "motifs": (MOTIF_FEATURES, list(MOTIF_CLASSES))}
    if dataset not in specs:
        raise ConfigError(f"data.dataset must be one of {', '.join(specs)}; got {dataset!r}")
    return specs[dataset]


def load_karate(seed: int = 0) -> NodeGraph:
    """Zachary's karate club (34 members, 78 friendships; shipped in torch-geometric):
    one-hot node features ``[34, 34]``, 4 communities as classes. Train: the 4 labelled
    nodes torch-geometric marks (one per class, as in Kipf & Welling's demo); the other
    30 are split in half, stratified and seeded, into val and test."""
    from torch_geometric.datasets import KarateClub

    data = KarateClub()[0]
    rest = np.flatnonzero(~data.train_mask.numpy())
    val, test = split_indices(data.y.numpy()[rest], (0.5, 0.5), seed)
    masks = split_masks(data.num_nodes, (np.flatnonzero(data.train_mask.numpy()), rest[val], rest[test]))
    names = [str(c) for c in range(int(data.y.max()) + 1)]
    return clean_graph(data.x, data.edge_index, data.y, masks, names, "karate club (torch-geometric)")


def make_sbm_graph(num_classes: int = SBM_CLASSES, nodes_per_class: int = 200, p_in: float = 0.04,
                   p_out: float = 0.005, num_features: int = SBM_FEATURES, signal: float = 0.3,
                   seed: int = 0) -> NodeGraph:
    """A stochastic block model graph (torch-geometric's ``stochastic_blockmodel_graph``):
    one block per class, edge probability ``p_in`` inside a block and ``p_out`` between
    blocks, so neighbours mostly share the class; features ``[N, num_features]`` are the
    class mean (random, scaled by ``signal``) plus unit Gaussian noise, so features alone
    separate the classes poorly while averaging over neighbours does well. Split:
    stratified, seeded, 10/25/65 (20 labelled training nodes per class by default)."""
    from torch_geometric.utils import stochastic_blockmodel_graph

    probs = torch.full((num_classes, num_classes), p_out)
    probs.fill_diagonal_(p_in)
    with torch.random.fork_rng():  # the global torch RNG is left as it was
        torch.manual_seed(seed)
        edge_index = stochastic_blockmodel_graph([nodes_per_class] * num_classes, probs)
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(num_classes), nodes_per_class)
    means = rng.normal(size=(num_classes, num_features)) * signal
    x = (means[y] + rng.normal(size=(len(y), num_features))).astype(np.float32)
    masks = split_masks(len(y), split_indices(y, (0.1, 0.25, 0.65), seed))
    names = sbm_class_names(num_classes)
    return clean_graph(torch.from_numpy(x), edge_index, torch.from_numpy(y), masks, names,
                       f"stochastic block model (seed {seed})")



def make_motif_graphs(num_graphs: int = 600, min_nodes: int = 6, max_nodes: int = 16,
                      num_features: int = MOTIF_FEATURES, noise: float = 0.5, seed: int = 0) -> list[PygData]:
    """Generated graph classification: cycles (half with one random chord), random trees
    and cliques with 20% of their edges dropped, sizes uniform in ``[min_nodes,
    max_nodes]`` whatever the class. Node features ``[n, num_features]``: a constant 1
    then Gaussian noise (``noise``), the same for every class, so a bag of node features
    (mean, sum) says nothing of the class while the structure says all."""
    rng = np.random.default_rng(seed)
    graphs = []
    for g in range(num_graphs):
        c = g % len(MOTIF_CLASSES)
        n = int(rng.integers(min_nodes, max_nodes + 1))
        if c == 0:
            edges = [(i, (i + 1) % n) for i in range(n)]
            if rng.random() < 0.5:
                a = int(rng.integers(n))
                edges.append((a, (a + int(rng.integers(2, n - 1))) % n))
        elif c == 1:
            edges = [(i, int(rng.integers(i))) for i in range(1, n)]
        else:
            edges = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() >= 0.2]
        x = np.concatenate([np.ones((n, 1)), noise * rng.normal(size=(n, num_features - 1))], axis=1)
        graph, _, _ = small_graph(torch.tensor(x, dtype=torch.float32), torch.tensor(edges, dtype=torch.long).t(), c)
        graphs.append(graph)
    return graphs
