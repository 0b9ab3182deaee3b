"""Graph neural networks on torch-geometric's layers (``GCNConv``, ``GATConv``,
``SAGEConv``, ``GINConv``, global pooling); nothing of torch-geometric is rewritten here.

Every model takes a torch_geometric ``Data`` (one graph) or ``Batch`` (many graphs) with
node features ``x [num_nodes, in_channels]`` and ``edge_index [2, num_edges]`` (int64;
``batch [num_nodes]`` graph ids for a ``Batch``), and has the zoo's classifier interface
on graphs:

* node classifiers (``level = "node"``): :class:`GCN` (Kipf & Welling 2017), :class:`GAT`
  (Velickovic et al. 2018), :class:`GraphSAGE` (Hamilton et al. 2017):
  ``forward_features(data) -> [num_nodes, hidden]`` (node embeddings) and
  ``forward(data) -> [num_nodes, num_classes]``; the head is the last graph convolution,
  so ``forward_head(features, data)`` takes the graph too.
* graph classifiers (``level = "graph"``): :class:`GraphClassifier` (GIN or GCN layers,
  global add/mean pooling, MLP head; Xu et al. 2019): ``forward_features(data) ->
  [num_graphs, hidden]`` (graph embeddings) and ``forward(data) -> [num_graphs, num_classes]``.

Zoo names: ``gcn``, ``gat``, ``graphsage`` (nodes) and ``gin``, ``gcn_graph`` (graphs).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convkit.errors import ConfigError, ShapeError
from convkit.models.registry import register_model

POOLS = ("add", "mean")
"""Global pooling of node features into one vector per graph (``global_add_pool`` /
``global_mean_pool``)."""


def _pyg():
    """``torch_geometric.nn``, imported when a graph model is built: importing the zoo
    (``convkit.models``) must not cost an image or audio user torch-geometric's start-up
    (about 1.4 s)."""
    import torch_geometric.nn

    return torch_geometric.nn
"""Global pooling by name: node features ``[num_nodes, F]`` and ``batch`` -> ``[num_graphs, F]``."""


def check_graph(data: Any, in_channels: int, name: str) -> None:
    """Raise a ShapeError unless ``data`` has ``x [num_nodes, in_channels]`` (floating)
    and ``edge_index [2, num_edges]`` (int64)."""
    x, edge_index = getattr(data, "x", None), getattr(data, "edge_index", None)
    if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != in_channels or not x.is_floating_point():
        got = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"{name}: expected a graph with node features x [num_nodes, {in_channels}] (float); got {got}")
    if not isinstance(edge_index, Tensor) or edge_index.ndim != 2 or edge_index.shape[0] != 2 \
            or edge_index.dtype != torch.long:
        got = f"{list(edge_index.shape)} {edge_index.dtype}" if isinstance(edge_index, Tensor) else type(edge_index).__name__
        raise ShapeError(f"{name}: expected edge_index [2, num_edges] (int64); got {got}")


class NodeClassifier(nn.Module):
    """A stack of graph convolutions classifying every node: dropout, conv, activation
    per hidden layer, then dropout and the last conv (the head). Subclasses build
    ``self.convs`` (an ``nn.ModuleList``; the last one is the head) through ``_conv``.

    Attributes: ``in_channels``, ``num_classes``, ``num_features`` (the hidden width the
    head reads), ``dropout``, ``level = "node"``.
    """

    level = "node"

    def __init__(self, in_channels: int, num_classes: int, hidden: int, num_layers: int, dropout: float,
                 act: str) -> None:
        super().__init__()
        if num_layers < 1 or hidden < 1 or in_channels < 1:
            raise ConfigError(f"{type(self).__name__}: in_channels, hidden and num_layers must be at least 1; "
                              f"got {in_channels}, {hidden}, {num_layers}")
        if not 0 <= dropout < 1:
            raise ConfigError(f"{type(self).__name__}: dropout must be in [0, 1); got {dropout}")
        self.in_channels, self.num_classes, self.dropout = in_channels, num_classes, dropout
        self.act = {"relu": F.relu, "elu": F.elu}[act]
        self.hidden_layers = nn.ModuleList()
        width = in_channels
        for _ in range(num_layers - 1):
            self.hidden_layers.append(self._conv(width, hidden, last=False))
            width = self._out_width(hidden)
        self.num_features = width
        self.head = self._conv(width, num_classes, last=True)

    def _conv(self, in_channels: int, out_channels: int, last: bool) -> nn.Module:
        raise NotImplementedError

    def _out_width(self, hidden: int) -> int:
        """Width of a hidden layer's output (``hidden``, times heads for GAT)."""
        return hidden

    def forward_features(self, data: Any) -> Tensor:
        """Graph with ``x [N, in_channels]`` -> node embeddings ``[N, num_features]``
        (the input itself when there is a single layer)."""
        check_graph(data, self.in_channels, getattr(self, "build_args", {}).get("name", type(self).__name__))
        x = data.x
        for conv in self.hidden_layers:
            x = F.dropout(x, p=self.dropout, training=self.training)
            x = self.act(conv(x, data.edge_index))
        return x

    def forward_head(self, features: Tensor, data: Any) -> Tensor:
        """Node embeddings ``[N, num_features]`` and the graph -> logits ``[N, num_classes]``."""
        x = F.dropout(features, p=self.dropout, training=self.training)
        return self.head(x, data.edge_index)

    def forward(self, data: Any) -> Tensor:
        """Graph with ``x [N, in_channels]`` -> logits ``[N, num_classes]``."""
        return self.forward_head(self.forward_features(data), data)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh last layer for ``num_classes``."""
        self.num_classes = num_classes
        self.head = self._conv(self.num_features, num_classes, last=True)


class GCN(NodeClassifier):
    """Kipf & Welling (2017): ``GCNConv`` layers (symmetric normalisation with self-loops),
    ReLU, dropout before each layer. Defaults are the paper's: 2 layers, 16 hidden units,
    dropout 0.5. ``cached`` keeps the normalised adjacency after the first call (PyG's
    ``cached=True``): only for training on one fixed graph (transductive node
    classification), never when graphs change between calls.
    """

    def __init__(self, in_channels: int, num_classes: int, hidden: int = 16, num_layers: int = 2,
                 dropout: float = 0.5, cached: bool = False) -> None:
        self.cached = cached
        super().__init__(in_channels, num_classes, hidden, num_layers, dropout, "relu")

    def _conv(self, in_channels: int, out_channels: int, last: bool) -> nn.Module:
        return _pyg().GCNConv(in_channels, out_channels, cached=self.cached)

    def param_groups(self, weight_decay: float) -> list[dict]:
        """Optimizer groups as Kipf & Welling (and PyG's ``examples/gcn.py``): weight
        decay on the first layer only, none on the rest."""
        first = self.hidden_layers[0] if len(self.hidden_layers) else self.head
        first_ids = {id(p) for p in first.parameters()}
        rest = [p for p in self.parameters() if id(p) not in first_ids]
        return [{"params": list(first.parameters()), "weight_decay": weight_decay},
                {"params": rest, "weight_decay": 0.0}]


class GAT(NodeClassifier):
    """Velickovic et al. (2018): ``GATConv`` with ``heads`` attention heads of ``hidden``
    units (concatenated) per hidden layer, ELU, dropout 0.6 on features and attention;
    the output layer has ``out_heads`` heads, averaged (the paper's Cora setting)."""

    def __init__(self, in_channels: int, num_classes: int, hidden: int = 8, heads: int = 8, out_heads: int = 1,
                 num_layers: int = 2, dropout: float = 0.6) -> None:
        self.heads, self.out_heads, self.attention_dropout = heads, out_heads, dropout
        super().__init__(in_channels, num_classes, hidden, num_layers, dropout, "elu")

    def _out_width(self, hidden: int) -> int:
        return hidden * self.heads

    def _conv(self, in_channels: int, out_channels: int, last: bool) -> nn.Module:
        if last:
            return _pyg().GATConv(in_channels, out_channels, heads=self.out_heads, concat=False,
                           dropout=self.attention_dropout)
        return _pyg().GATConv(in_channels, out_channels, heads=self.heads, dropout=self.attention_dropout)


class GraphSAGE(NodeClassifier):
    """Hamilton et al. (2017): ``SAGEConv`` with ``aggr`` ("mean", "max", "sum")
    neighbourhood aggregation, ReLU, dropout; full-batch (no neighbour sampling)."""

    def __init__(self, in_channels: int, num_classes: int, hidden: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, aggr: str = "mean") -> None:
        if aggr not in ("mean", "max", "sum"):
            raise ConfigError(f"graphsage: aggr must be mean, max or sum; got {aggr!r}")
        self.aggr = aggr
        super().__init__(in_channels, num_classes, hidden, num_layers, dropout, "relu")

    def _conv(self, in_channels: int, out_channels: int, last: bool) -> nn.Module:
        return _pyg().SAGEConv(in_channels, out_channels, aggr=self.aggr)


class GraphClassifier(nn.Module):
    """Graph classification (as PyG's ``examples/mutag_gin.py``): ``num_layers`` graph
    convolutions (``conv`` "gin": ``GINConv`` over a 2-layer MLP with batch norm, Xu et
    al. 2019; or "gcn": ``GCNConv``), ReLU, global ``pool`` ("add" or "mean") of the last
    layer's node features, then an MLP head (``hidden`` units, dropout).

    Attributes: ``in_channels``, ``num_classes``, ``num_features`` (= ``hidden``),
    ``level = "graph"``.
    """

    level = "graph"

    def __init__(self, in_channels: int, num_classes: int, conv: str = "gin", hidden: int = 64, num_layers: int = 3,
                 pool: str = "add", dropout: float = 0.5) -> None:
        super().__init__()
        if conv not in ("gin", "gcn"):
            raise ConfigError(f"graph classifier: conv must be 'gin' or 'gcn'; got {conv!r}")
        if pool not in POOLS:
            raise ConfigError(f"graph classifier: pool must be one of {', '.join(POOLS)}; got {pool!r}")
        if num_layers < 1 or hidden < 1 or in_channels < 1:
            raise ConfigError(f"graph classifier: in_channels, hidden and num_layers must be at least 1; "
                              f"got {in_channels}, {hidden}, {num_layers}")
        self.in_channels, self.num_classes, self.num_features = in_channels, num_classes, hidden
        self.pool_name, self.head_dropout = pool, dropout
        pyg = _pyg()
        self.convs = nn.ModuleList()
        width = in_channels
        for _ in range(num_layers):
            self.convs.append(pyg.GINConv(pyg.MLP([width, hidden, hidden])) if conv == "gin"
                              else pyg.GCNConv(width, hidden))
            width = hidden
        self._init_head(num_classes)

    def _init_head(self, num_classes: int) -> None:
        self.head = _pyg().MLP([self.num_features, self.num_features, num_classes], norm=None,
                               dropout=self.head_dropout)

    def forward_features(self, data: Any) -> Tensor:
        """Graphs (a ``Batch``, or one ``Data``) -> graph embeddings ``[num_graphs, hidden]``."""
        check_graph(data, self.in_channels, getattr(self, "build_args", {}).get("name", type(self).__name__))
        x = data.x
        for conv in self.convs:
            x = F.relu(conv(x, data.edge_index))
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        pool = _pyg().global_add_pool if self.pool_name == "add" else _pyg().global_mean_pool
        return pool(x, batch)

    def forward_head(self, features: Tensor, data: Any = None) -> Tensor:
        """Graph embeddings ``[B, hidden]`` -> logits ``[B, num_classes]`` (``data`` unused)."""
        return self.head(features)

    def forward(self, data: Any) -> Tensor:
        """Graphs -> logits ``[num_graphs, num_classes]``."""
        return self.forward_head(self.forward_features(data))

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh MLP head for ``num_classes``."""
        self.num_classes = num_classes
        self._init_head(num_classes)


# Builders. Defaults are Cora's sizes (1433 bag-of-words features, 7 classes) for the
# node models; tasks always pass the data's own.


@register_model(spatial_dims=(), domain="graph", input_kind="graph")
def gcn(in_channels: int = 1433, num_classes: int = 7, **options) -> GCN:
    """GCN (Kipf & Welling 2017): 2 layers, 16 hidden units, dropout 0.5."""
    return GCN(in_channels, num_classes, **options)


@register_model(spatial_dims=(), domain="graph", input_kind="graph")
def gat(in_channels: int = 1433, num_classes: int = 7, **options) -> GAT:
    """GAT (Velickovic et al. 2018): 8 heads x 8 units, 1 averaged output head, dropout 0.6."""
    return GAT(in_channels, num_classes, **options)


@register_model(spatial_dims=(), domain="graph", input_kind="graph")
def graphsage(in_channels: int = 1433, num_classes: int = 7, **options) -> GraphSAGE:
    """GraphSAGE-mean (Hamilton et al. 2017): 2 layers, 64 hidden units, full batch."""
    return GraphSAGE(in_channels, num_classes, **options)


@register_model(spatial_dims=(), domain="graph", input_kind="graph")
def gin(in_channels: int = 1, num_classes: int = 2, **options) -> GraphClassifier:
    """GIN graph classifier: 3 GIN layers of 64, global add pooling, MLP head."""
    return GraphClassifier(in_channels, num_classes, **{"conv": "gin", "pool": "add", **options})


@register_model(spatial_dims=(), domain="graph", input_kind="graph")
def gcn_graph(in_channels: int = 1, num_classes: int = 2, **options) -> GraphClassifier:
    """GCN graph classifier: 3 GCN layers of 64, global mean pooling, MLP head."""
    return GraphClassifier(in_channels, num_classes, **{"conv": "gcn", "pool": "mean", **options})
