"""The graph task: classify the nodes of one graph (``task.mode = "node"``, the default)
or whole graphs (``task.mode = "graph"``) with the zoo's graph networks.

Node mode (transductive, Kipf & Welling 2017): the whole graph is one batch; each split
is the graph plus that split's node mask, and the engine's one loop trains on the train
nodes and validates on the val nodes every epoch; the reported test accuracy is the one
of the weights with the best validation accuracy (``best.pt``), never the best test
epoch. Data (``data.py``): a Planetoid root (public split), a ``nodes.csv``/``edges.csv``
folder, or embedded (``synthetic.py``): a stochastic-block-model graph (default) or
Zachary's karate club (``data.dataset``). Baselines: logistic regression and the parameter-matched MLP on
the node features alone (no edges), and that MLP trained with the GCN's own protocol
(``mlp_same_protocol``): the graph ablation.

Graph mode: many small graphs batched as a torch_geometric ``Batch`` (``collate_graphs``);
data: a ``.pt``/``.npz`` graph set, a TU-format folder, or the generated cycles / trees /
cliques set. Baselines on a bag of node features per graph (mean and sum).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convkit.config import DataConfig, ModelConfig, NonNegative, RunConfig, TaskConfig, TrainConfig
from convkit.data.splits import Splits, remap_labels
from convkit.errors import ConfigError, DataError
from convkit.tasks.graph import data as G
from convkit.tasks.graph import synthetic
from convkit.train.baselines import BaselineFeatures, mlp_hidden_units, scores
from convkit.train.task import ClassificationTask, Data, Trained

NODE_DATASETS = ("sbm", "karate")
GRAPH_DATASETS = ("motifs",)


@dataclass
class GraphDataConfig(DataConfig):
    """``path``: a Planetoid root, a ``nodes.csv``/``edges.csv`` folder (node mode), or a
    ``.pt``/``.npz`` graph set or TU folder (graph mode); empty: the embedded
    ``dataset`` ("sbm" or "karate" for nodes, "motifs" for graphs; empty: the mode's
    first). ``feature_norm``: "auto" (row-normalise non-negative features, as Kipf &
    Welling do for bag-of-words), "row" or "none". ``seed``: the generated graphs and
    random splits (fixed while ``train.seed`` varies the initialisation)."""

    dataset: str = ""
    feature_norm: G.FeatureNorm = "auto"
    seed: NonNegative = 0

    def validate(self) -> None:
        """Raise ConfigError when ``dataset`` names no embedded set (empty is valid; the
        field types state the other constraints)."""
        if self.dataset not in ("",) + NODE_DATASETS + GRAPH_DATASETS:
            raise ConfigError(f"data.dataset must be one of {', '.join(NODE_DATASETS + GRAPH_DATASETS)} "
                              f"(or empty); got {self.dataset!r}")


@dataclass
class GraphTaskConfig(TaskConfig):
    """``mode``: "node" (classify the nodes of one graph) or "graph" (classify graphs)."""

    mode: str = "node"

    def validate(self) -> None:
        """Raise ConfigError unless ``mode`` is node or graph."""
        if self.mode not in ("node", "graph"):
            raise ConfigError(f"task.mode must be node or graph; got {self.mode!r}")


def _default_train() -> TrainConfig:
    # Kipf & Welling (2017) / PyG examples/gcn.py: Adam, lr 0.01, weight decay 5e-4 (on
    # the first layer: GCN.param_groups), 200 epochs, no schedule. One graph is one step
    # per epoch, so evaluation runs every epoch and checkpoints every 50.
    return TrainConfig(epochs=200, batch_size=32, lr=0.01, optimizer="adam", weight_decay=5e-4, schedule="none",
                       checkpoint_every=0, save_every=50)


@dataclass
class GraphRunConfig(RunConfig):
    """The graph task's run config (``train``, ``model``, ``data``, ``task``)."""

    train: TrainConfig = field(default_factory=_default_train)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name=""))
    data: GraphDataConfig = field(default_factory=GraphDataConfig)
    task: GraphTaskConfig = field(default_factory=GraphTaskConfig)


@dataclass
class NodeInfo:
    """The node task's ``Data.info``: the graph's ``source`` and what reading it found
    (nodes, undirected edges, features, classes; isolated nodes kept, self-loops and
    duplicate edges removed, unlabelled nodes; nodes per split), the ``feature_norm``
    applied, and for a ``nodes.csv`` graph whether its ``split`` was given or random."""

    mode: str = "node"
    source: str = ""
    num_nodes: int = 0
    num_edges: int = 0
    num_features: int = 0
    num_classes: int = 0
    isolated_nodes: int = 0
    self_loops_removed: int = 0
    duplicate_edges_removed: int = 0
    unlabelled_nodes: int = 0
    train_nodes: int = 0
    val_nodes: int = 0
    test_nodes: int = 0
    feature_norm: str = ""
    split: str = ""


@dataclass
class GraphSetInfo:
    """The graph-classification task's ``Data.info``: the graph set's ``source`` and its
    graphs in all and per split (zero where unknown, e.g. data scored by a trained model)."""

    mode: str = "graph"
    source: str = ""
    num_graphs: int = 0
    train_graphs: int = 0
    val_graphs: int = 0
    test_graphs: int = 0


def _embedded(cfg: GraphRunConfig, datasets: tuple[str, ...]) -> str:
    """The embedded data set ``data.dataset`` names (empty: the first of ``datasets``, the
    mode's own); ConfigError when it belongs to the other mode."""
    dataset = cfg.data.dataset or datasets[0]
    if dataset not in datasets:
        mode, other = ("node", "graph") if datasets == NODE_DATASETS else ("graph", "node")
        raise ConfigError(f"data.dataset={dataset!r} is a {other}-mode set; {mode} mode takes "
                          f"{', '.join(datasets)} (or set task.mode={other})")
    return dataset


def _graph_model(cfg: RunConfig, data: Data, default: str, level: str) -> nn.Module:
    from convkit.models import create_model
    from convkit.train.transfer import pretrained_weights

    name = cfg.model.name or default
    options = dict(cfg.model.options)
    if name == "gcn" and level == "node":
        options.setdefault("cached", True)  # one fixed graph: normalise the adjacency once
    model = create_model(name, in_channels=data.in_channels, num_classes=len(data.label_names),
                         pretrained=pretrained_weights(cfg, data.label_names), **options)
    if getattr(model, "level", None) != level:
        fits = "gin, gcn_graph" if level == "graph" else "gcn, gat, graphsage"
        raise ConfigError(f"model {name!r} does not classify {level}s; task.mode={level} needs one of: {fits} "
                          f"(--model NAME)")
    return model


class NodeClassificationTask(ClassificationTask):
    """Node classification on one graph (batches: :class:`data.NodeBatch`)."""

    name = "graph"
    config_class = GraphRunConfig
    default_model = "gcn"
    info_class = NodeInfo
    data_formats = ("node mode: a Planetoid root (Cora/CiteSeer/PubMed raw files ind.<name>.*, with the "
                    "public split; read by a restricted unpickler, processed/ ignored, nothing written); a "
                    "folder with nodes.csv (id, features..., label, optional split train/val/test) and edges.csv "
                    "(src, dst; undirected). graph mode (task.mode=graph): a .pt/.npz graph set (x, edge_index, "
                    "num_nodes, num_edges, y[, split, label_names]) or a TU-format folder (<NAME>_A.txt, ...).")
    profiles = {"default": [], "smoke": ["train.epochs=20"],
                "graph": ["task.mode=graph", "model.name=gin", "train.epochs=60"],
                "graph-smoke": ["task.mode=graph", "model.name=gin", "train.epochs=3"]}

    def for_config(self, cfg: GraphRunConfig) -> ClassificationTask:
        """This task in node mode; :data:`GRAPH_LEVEL_TASK` in graph mode."""
        return GRAPH_LEVEL_TASK if cfg.task.mode == "graph" else self

    # ---- data and model

    def load_graph(self, cfg: GraphRunConfig, path: str | None = None,
                   label_names: list[str] | None = None) -> G.NodeGraph:
        """The graph of ``path`` (else ``data.path``, else the embedded ``data.dataset``),
        features normalised by ``data.feature_norm``; ``label_names`` (a trained model's
        classes) maps the labels of a ``nodes.csv`` graph by name."""
        dc = cfg.data
        path = path or dc.path
        if path:
            if dc.dataset:
                raise ConfigError(f"data.dataset={dc.dataset!r} names embedded data; leave it empty with --data")
            root = Path(path)
            if (root / "nodes.csv").is_file() or (root / "edges.csv").is_file():
                node_graph = G.load_csv_graph(root, label_names, dc.seed)
            elif root.is_dir():
                node_graph = G.load_planetoid(root)
            else:
                raise DataError(f"{root}: expected a Planetoid root or a folder with nodes.csv and edges.csv")
        elif _embedded(cfg, NODE_DATASETS) == "sbm":
            node_graph = synthetic.make_sbm_graph(seed=dc.seed)
        else:
            node_graph = synthetic.load_karate(dc.seed)
        return G.apply_feature_norm(node_graph, dc.feature_norm)

    def build_data(self, cfg: GraphRunConfig) -> Data:
        """The run's graph: one graph, three node masks (its own split)."""
        node_graph = self.load_graph(cfg)
        return self._data(G.node_splits(node_graph), node_graph.info)

    def build_eval_data(self, cfg: GraphRunConfig, path: str, spec: Data) -> Data:
        """The graph of ``path`` labelled by the trained model's classes; ``test``: its test
        nodes (all its labelled nodes when it has no test split of its own)."""
        node_graph = self.load_graph(cfg, path, spec.label_names)
        if node_graph.graph.x.shape[1] != spec.in_channels:
            raise DataError(f"{path}: nodes have {node_graph.graph.x.shape[1]} features; the model was trained "
                            f"on {spec.in_channels}")
        splits = G.node_splits(node_graph)
        if splits.test.num_nodes == 0 or node_graph.info.get("split") == "random":  # no test split of its own
            splits.test = G.NodeSplit(node_graph.graph, node_graph.graph.y >= 0, splits.test.copies)
        return self._data(splits, node_graph.info)

    def input_spec(self, cfg: GraphRunConfig) -> Data:
        """``build_data(cfg)``'s declarations without building a graph: the embedded
        ``data.dataset``'s features and classes (:func:`synthetic.embedded_spec`); a graph
        on disk is read (``build_data``)."""
        if cfg.data.path:
            return super().input_spec(cfg)
        dataset = _embedded(cfg, NODE_DATASETS)
        features, names = synthetic.embedded_spec(dataset)
        return Data(None, None, None, label_names=names, collate_fn=G.first_item, input_kind="graph",
                    in_channels=features, info=NodeInfo(source=dataset))

    @staticmethod
    def _data(splits: Splits, counts: dict) -> Data:
        graph = splits.extras["graph"]
        return Data(splits.train, splits.val, splits.test, label_names=list(splits.label_names),
                    collate_fn=G.first_item, input_kind="graph", in_channels=int(graph.x.shape[1]),
                    info=NodeInfo(**counts))

    def build_model(self, cfg: GraphRunConfig, data: Data) -> nn.Module:
        """A node-level zoo model (``gcn`` by default; GCN caches its normalised adjacency)."""
        return _graph_model(cfg, data, self.default_model, "node")

    # ---- steps

    def training_step(self, model: nn.Module, batch: G.NodeBatch) -> Tensor:
        """Cross-entropy over the split's labelled nodes (the whole graph goes through the model)."""
        logits = self.logits(model, batch.graph)
        return F.cross_entropy(logits[batch.mask], batch.graph.y[batch.mask])

    def evaluation_step(self, model: nn.Module, batch: G.NodeBatch) -> dict[str, Tensor]:
        """``{"logits": [n, classes], "targets": [n]}`` for the split's ``n`` nodes."""
        logits = self.logits(model, batch.graph)
        return {"logits": logits[batch.mask], "targets": batch.graph.y[batch.mask]}

    # ---- baselines

    def baseline_features(self, cfg: GraphRunConfig, data: Data) -> BaselineFeatures:
        """The node features alone (no edges): train nodes -> test nodes."""
        graph = data.train.graph
        tr, te = data.train.mask, data.test.mask
        return BaselineFeatures(linear=(graph.x[tr], graph.x[te]), y_train=graph.y[tr], y_test=graph.y[te],
                                num_classes=len(data.label_names))

    def extra_baselines(self, cfg: GraphRunConfig, data: Data, params: int) -> dict:
        """``mlp_same_protocol``: the graph ablation at equal footing: an MLP on the node
        features (no edges) with the model's parameter count, trained exactly as the GCN
        (full batch, dropout 0.5, the run's optimizer settings and epochs, test accuracy
        at the best validation epoch)."""
        graph = data.train.graph
        hidden = mlp_hidden_units(params, graph.x.shape[1], len(data.label_names))
        with torch.random.fork_rng():  # leave the run's RNG stream as it was
            torch.manual_seed(cfg.train.seed)
            mlp = nn.Sequential(nn.Dropout(0.5), nn.Linear(graph.x.shape[1], hidden), nn.ReLU(), nn.Dropout(0.5),
                                nn.Linear(hidden, len(data.label_names)))
            optimizer = torch.optim.Adam([{"params": mlp[1].parameters(), "weight_decay": cfg.train.weight_decay},
                                          {"params": mlp[4].parameters(), "weight_decay": 0.0}], lr=cfg.train.lr)
            tr, va, te = data.train.mask, data.val.mask, data.test.mask
            best_val, best_pred = -1.0, None
            for _ in range(cfg.train.epochs):
                mlp.train()
                optimizer.zero_grad()
                F.cross_entropy(mlp(graph.x[tr]), graph.y[tr]).backward()
                optimizer.step()
                mlp.eval()
                with torch.no_grad():
                    pred = mlp(graph.x).argmax(1)
                val = float((pred[va] == graph.y[va]).float().mean())
                if val > best_val:
                    best_val, best_pred = val, pred
        return {"mlp_same_protocol": {"test": scores(best_pred[te], graph.y[te]),
                                      "params": sum(p.numel() for p in mlp.parameters())}}

    # ---- predict

    def load_inputs(self, cfg: GraphRunConfig, spec: Data, inputs: list[str]) -> tuple[G.NodeBatch, list[int]]:
        """Node ids (``nodes.csv``'s ``id``, else the node index) of the run's graph, or
        ``all`` -> ``(the whole graph as a batch, node indices)``; ``all`` stands for
        every node."""
        node_graph = self.load_graph(cfg)
        ids = node_graph.ids()
        if inputs == ["all"]:
            return G.NodeBatch(node_graph.graph, torch.ones(len(ids), dtype=torch.bool), {}), []
        index = {node: i for i, node in enumerate(ids)}
        unknown = [node for node in inputs if node not in index]
        if unknown:
            raise DataError(f"node(s) {', '.join(map(repr, unknown[:5]))} are not in the graph "
                            f"({cfg.data.path or cfg.data.dataset or 'sbm'}; {len(ids)} nodes, e.g. {ids[0]!r}); "
                            f"give node ids or 'all'")
        return G.NodeBatch(node_graph.graph, torch.zeros(len(ids), dtype=torch.bool), {}), \
            [index[node] for node in inputs]

    def predict(self, trained: Trained, inputs: tuple[G.NodeBatch, list[int]]) -> list[dict]:
        """One row per node id: ``{"label", "probabilities"}``; for ``all``, one row
        ``{"labels": {node id: label}}`` over every node."""
        batch, nodes = inputs
        graph = batch.graph.to(trained.device)
        probs = torch.softmax(self.logits(trained.model, graph).float(), dim=1).cpu()
        names = trained.spec.label_names or [str(i) for i in range(probs.shape[1])]
        if not nodes:
            ids = self.load_graph(trained.cfg).ids()
            return [{"labels": {node: names[int(p.argmax())] for node, p in zip(ids, probs)}}]
        return [{"label": names[int(probs[i].argmax())],
                 "probabilities": {n: round(float(v), 6) for n, v in zip(names, probs[i])}} for i in nodes]


class GraphClassificationTask(ClassificationTask):
    """Graph classification (batches: torch_geometric ``Batch`` with ``y [B]``)."""

    name = "graph"
    config_class = GraphRunConfig
    default_model = "gin"
    info_class = GraphSetInfo
    data_formats = NodeClassificationTask.data_formats
    profiles = NodeClassificationTask.profiles

    def for_config(self, cfg: GraphRunConfig) -> ClassificationTask:
        """The task for ``cfg``'s mode (see :class:`NodeClassificationTask`)."""
        return TASK.for_config(cfg)

    def load_graphs(self, cfg: GraphRunConfig, path: str | None = None) -> tuple[list, list[str], Any]:
        """``(graphs, label_names, split or None)`` of ``path``/``data.path`` or the generated set."""
        dc = cfg.data
        path = path or dc.path
        if path:
            root = Path(path)
            if root.suffix in (".pt", ".npz"):
                return G.load_graph_file(root)
            graphs, names = G.load_tu_folder(root)
            return graphs, names, None
        _embedded(cfg, GRAPH_DATASETS)
        return synthetic.make_motif_graphs(seed=dc.seed), list(synthetic.MOTIF_CLASSES), None

    def build_data(self, cfg: GraphRunConfig) -> Data:
        """The run's three lists of graphs (given splits, else seeded stratified 80/10/10)."""
        graphs, names, split = self.load_graphs(cfg)
        source = str(cfg.data.path or "generated cycles/trees/cliques")
        splits = G.graph_splits(graphs, names, split, cfg.data.seed, {"source": source})
        return self._data(splits, int(graphs[0].x.shape[1]), GraphSetInfo(**splits.extras["info"]))

    def build_eval_data(self, cfg: GraphRunConfig, path: str, spec: Data) -> Data:
        """The graphs of ``path`` (its test split when it has one, else all) as ``test``,
        labelled by the trained model's classes."""
        graphs, names, split = self.load_graphs(cfg, path)
        labels = np.array([int(g.y) for g in graphs])
        mapped = remap_labels(labels, names, spec.label_names, str(path))
        for g, y in zip(graphs, mapped):
            g.y = torch.tensor([int(y)])
        if graphs[0].x.shape[1] != spec.in_channels:
            raise DataError(f"{path}: nodes have {graphs[0].x.shape[1]} features; the model was trained on "
                            f"{spec.in_channels}")
        test = graphs if split is None else [g for g, s in zip(graphs, split) if s == 2]
        splits = Splits(None, None, G.GraphList(test or graphs), list(spec.label_names))
        return self._data(splits, int(graphs[0].x.shape[1]), GraphSetInfo())

    def input_spec(self, cfg: GraphRunConfig) -> Data:
        """``build_data(cfg)``'s declarations without generating the graphs (the
        generated set's features and classes); a graph set on disk is read."""
        if cfg.data.path:
            return super().input_spec(cfg)
        features, names = synthetic.embedded_spec(_embedded(cfg, GRAPH_DATASETS))
        return Data(None, None, None, label_names=names, collate_fn=G.collate_graphs, input_kind="graph",
                    in_channels=features, info=GraphSetInfo(source="generated cycles/trees/cliques"))

    @staticmethod
    def _data(splits: Splits, features: int, info: GraphSetInfo) -> Data:
        return Data(splits.train, splits.val, splits.test, label_names=list(splits.label_names),
                    collate_fn=G.collate_graphs, input_kind="graph", in_channels=features, info=info)

    def build_model(self, cfg: GraphRunConfig, data: Data) -> nn.Module:
        """A graph-level zoo model (``gin`` by default)."""
        return _graph_model(cfg, data, self.default_model, "graph")

    def training_step(self, model: nn.Module, batch: Any) -> Tensor:
        """Cross-entropy of the graphs' logits."""
        return F.cross_entropy(self.logits(model, batch), batch.y)

    def evaluation_step(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        """``{"logits": [B, classes], "targets": [B]}``."""
        return {"logits": self.logits(model, batch), "targets": batch.y}

    def baseline_features(self, cfg: GraphRunConfig, data: Data) -> BaselineFeatures:
        """A bag of node features per graph (mean and sum over its nodes; no edges)."""
        def bag(dataset: G.GraphList) -> Tensor:
            return torch.stack([torch.cat([g.x.mean(0), g.x.sum(0)]) for g in dataset.graphs])

        return BaselineFeatures(linear=(bag(data.train), bag(data.test)), y_train=data.train.labels,
                                y_test=data.test.labels, num_classes=len(data.label_names))

    def load_inputs(self, cfg: GraphRunConfig, spec: Data, inputs: list[str]) -> list:
        """Graph files: ``FILE`` (a ``.pt``/``.npz`` set holding one graph) or ``FILE#k``
        (its ``k``-th graph, from 0) -> list of graphs."""
        graphs = []
        for item in inputs:
            file, _, k = item.partition("#")
            found, _, _ = G.load_graph_file(file)
            if not k and len(found) != 1:
                raise DataError(f"{file}: holds {len(found)} graphs; name one as {file}#k (k from 0)")
            index = int(k) if k.isdigit() else 0 if not k else -1
            if not 0 <= index < len(found):
                raise DataError(f"{item}: no graph {k!r}; {file} holds graphs 0..{len(found) - 1}")
            if found[index].x.shape[1] != spec.in_channels:
                raise DataError(f"{item}: nodes have {found[index].x.shape[1]} features; the model takes "
                                f"{spec.in_channels}")
            graphs.append(found[index])
        return graphs

    def batches(self, trained: Trained, inputs: list) -> Any:
        """Graphs in ``Batch``es of ``train.batch_size`` on the model's device."""
        size = trained.cfg.train.batch_size
        for start in range(0, len(inputs), size):
            yield G.collate_graphs(inputs[start:start + size]).to(trained.device)


TASK = NodeClassificationTask()
"""The graph task handed to the CLI and the engine (node mode; graph mode by ``for_config``)."""

GRAPH_LEVEL_TASK = GraphClassificationTask()
"""The graph-classification task (``task.mode = "graph"``)."""
