"""The graph task's on-disk data: one graph whose nodes are classified (transductive), or
many small graphs; and the datasets the engine iterates (the embedded graphs, generated or
shipped in torch-geometric, are ``synthetic.py``).

Node classification (one graph, per-split node masks):

* a Planetoid root (Cora, CiteSeer, PubMed raw files ``ind.<name>.{x,tx,allx,y,ty,ally,
  graph,test.index}``) with its public split (:func:`load_planetoid`): the pickles are
  read by a restricted unpickler that allows only the numpy/scipy/builtins names those
  files use, into the tensors torch-geometric's reader builds; a ``processed/`` folder
  beside them is never read and nothing is written;
* a folder with ``nodes.csv`` (``id``, feature columns, ``label``, optional ``split``)
  and ``edges.csv`` (``src``, ``dst``) (:func:`load_csv_graph`).

Every graph goes through :func:`clean_graph`: edges are made undirected, self-loops and
duplicates are removed and counted, isolated nodes are kept and counted; the counts are
in :class:`NodeGraph` ``.info`` and said on stderr.

Graph classification (many small graphs): a ``.pt``/``.npz`` file (:func:`save_graph_set`
writes one), a TU-format folder (``<NAME>_A.txt``, ``<NAME>_graph_indicator.txt``,
``<NAME>_graph_labels.txt``, ...; read by torch-geometric's ``read_tu_data``).
"""

from __future__ import annotations

import codecs
import csv
import functools
import pickle
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torch_geometric.data import Batch
from torch_geometric.data import Data as PygData
from torch_geometric.utils import coalesce, degree, remove_self_loops, to_undirected

from convkit.data.splits import (SPLIT_NAMES, Splits, check_classes, check_split_parts, existing_dir,
                                  remap_labels, split_indices)
from convkit.errors import DataError

PLANETOID_NAMES: dict[str, str] = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
"""Planetoid datasets: the name in the raw files -> torch-geometric's name."""

PLANETOID_SUFFIXES: tuple[str, ...] = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
"""The raw files of a Planetoid dataset are ``ind.<name>.<suffix>``."""

SPLIT_ALIASES: dict[str, str] = {"train": "train", "val": "val", "valid": "val", "validation": "val",
                                 "test": "test", "": ""}
"""Values of the ``split`` column of ``nodes.csv`` (empty: in no split)."""

FeatureNorm = Literal["auto", "row", "none"]
"""How node features are normalised (:func:`apply_feature_norm`)."""


def log(message: str) -> None:
    """A line for the user on stderr (counts, cache folders); stdout stays JSON."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- one graph


@dataclass
class NodeGraph:
    """A graph for node classification: ``graph`` (a torch_geometric ``Data`` with
    ``x [N, F]`` float32, undirected ``edge_index [2, E]`` int64, ``y [N]`` int64 with -1
    for unlabelled nodes, and bool ``train_mask``/``val_mask``/``test_mask [N]``),
    ``label_names`` (``y`` indexes them) and ``info`` (plain counts and the source)."""

    graph: PygData
    label_names: list[str]
    info: dict = field(default_factory=dict)
    node_ids: list[str] | None = None

    def ids(self) -> list[str]:
        """The node ids users name (``nodes.csv``'s ``id``; else ``"0"``, ``"1"``, ...)."""
        return self.node_ids if self.node_ids is not None else [str(i) for i in range(self.graph.num_nodes)]


def undirected_edges(edge_index: Tensor, num_nodes: int) -> tuple[Tensor, int, int]:
    """``(edges, self_loops, duplicates)``: ``edge_index [2, E]`` without self-loops,
    with every edge in both directions, sorted and deduplicated (torch-geometric's
    ``remove_self_loops`` and ``to_undirected``), and how many self-loops and repeated
    edges were dropped. A repeat is the same ``(src, dst)`` given again; an edge given in
    both directions is the usual listing of an undirected edge, not a repeat."""
    edge_index = edge_index.long()
    given = edge_index.shape[1]
    edge_index, _ = remove_self_loops(edge_index)
    self_loops = given - edge_index.shape[1]
    duplicates = edge_index.shape[1] - (coalesce(edge_index, num_nodes=num_nodes).shape[1] if edge_index.numel() else 0)
    return to_undirected(edge_index, num_nodes=num_nodes), self_loops, duplicates


def clean_graph(x: Tensor, edge_index: Tensor, y: Tensor, masks: dict[str, Tensor], label_names: list[str],
                source: str) -> NodeGraph:
    """Build a :class:`NodeGraph`: edges made undirected, self-loops and repeated edges
    removed and counted (:func:`undirected_edges`), isolated nodes kept and counted; the
    counts go to ``info`` and stderr.

    Args:
        x: node features ``[N, F]``.
        edge_index: edges as given ``[2, E]`` (node indices in ``0..N-1``).
        y: labels ``[N]`` (-1: unlabelled).
        masks: ``{"train"|"val"|"test": bool [N]}``.
        label_names: the class names ``y`` indexes.
        source: where the graph came from (for messages).
    """
    n = x.shape[0]
    edge_index, self_loops, duplicates = undirected_edges(edge_index, n)
    isolated = int((degree(edge_index[0], n) == 0).sum()) if n else 0
    graph = PygData(x=x.float().contiguous(), edge_index=edge_index, y=y.long(),
                    **{f"{s}_mask": masks[s].bool() for s in SPLIT_NAMES})
    info = {"source": source, "num_nodes": n, "num_edges": int(edge_index.shape[1]) // 2,
            "num_features": int(x.shape[1]), "num_classes": len(label_names), "isolated_nodes": isolated,
            "self_loops_removed": self_loops, "duplicate_edges_removed": duplicates,
            "unlabelled_nodes": int((y < 0).sum()), **{f"{s}_nodes": int(masks[s].sum()) for s in SPLIT_NAMES}}
    log(f"{source}: {n} nodes, {info['num_edges']} undirected edges, {info['num_features']} features, "
        f"{len(label_names)} classes; train/val/test nodes {info['train_nodes']}/{info['val_nodes']}/"
        f"{info['test_nodes']}; isolated nodes {isolated} (kept); self-loops removed {self_loops}; "
        f"duplicate edges removed {duplicates}" + (f"; unlabelled nodes {info['unlabelled_nodes']}"
                                                   if info["unlabelled_nodes"] else ""))
    return NodeGraph(graph, list(label_names), info)


def check_node_classes(node_graph: NodeGraph, where: str) -> None:
    """Refuse a graph whose training nodes hold fewer than two classes (``check_classes``;
    ``where`` names the file or folder in the message)."""
    g = node_graph.graph
    check_classes(g.y[g.train_mask].numpy(), node_graph.label_names, where)


def normalize_rows(x: Tensor) -> Tensor:
    """Row-normalise non-negative features ``[N, F]`` to sum 1 (Kipf & Welling's
    preprocessing of bag-of-words features; all-zero rows stay zero)."""
    total = x.sum(dim=1, keepdim=True)
    return x / total.clamp(min=1e-12)


def apply_feature_norm(node_graph: NodeGraph, mode: FeatureNorm) -> NodeGraph:
    """``mode`` "row": :func:`normalize_rows`; "none": as is; "auto": "row" when every
    feature is non-negative (counts, bag-of-words, TF-IDF), else "none"."""
    x = node_graph.graph.x
    if mode == "auto":
        mode = "row" if x.numel() and bool((x >= 0).all()) else "none"
    if mode == "row":
        if x.numel() and bool((x < 0).any()):
            raise DataError(f"{node_graph.info.get('source')}: data.feature_norm='row' needs non-negative "
                            f"features; use 'none'")
        node_graph.graph.x = normalize_rows(x)
    node_graph.info["feature_norm"] = mode
    return node_graph


def split_masks(n: int, parts: tuple[np.ndarray, ...]) -> dict[str, Tensor]:
    """Bool masks ``[n]`` for the train/val/test index arrays ``parts``."""
    masks = {}
    for name, idx in zip(SPLIT_NAMES, parts):
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.as_tensor(idx, dtype=torch.long)] = True
        masks[name] = mask
    return masks


# --------------------------------------------------------------------------- Planetoid


def find_planetoid(path: str | Path) -> tuple[Path, str]:
    """Locate a Planetoid dataset: ``path`` holds ``raw/ind.<name>.*`` (torch-geometric's
    layout, e.g. ``planetoid/Cora``), the ``ind.<name>.*`` files themselves, or one
    dataset folder ``<Name>/raw/`` (e.g. ``planetoid/``). Returns ``(raw folder, name)``
    with ``name`` lower-case (``cora``, ``citeseer``, ``pubmed``).

    Raises:
        DataError: no Planetoid files there, several datasets, or a raw file missing
            (the message names the missing files).
    """
    root = existing_dir(path, "a Planetoid root (raw/ind.<name>.x, ...)")
    candidates = [root / "raw", root] + sorted(p / "raw" for p in root.iterdir() if p.is_dir())
    found: dict[Path, set[str]] = {}
    for folder in candidates:
        if folder.is_dir():
            names = {f.name.split(".")[1] for f in folder.glob("ind.*.*") if f.name.split(".")[1] in PLANETOID_NAMES}
            if names:
                found[folder] = names
        if found and folder in (root / "raw", root):
            break
    pairs = [(folder, name) for folder, names in found.items() for name in sorted(names)]
    if not pairs:
        raise DataError(f"{root}: no Planetoid files; expected raw/ind.<name>.{{{','.join(PLANETOID_SUFFIXES)}}} "
                        f"with <name> one of {', '.join(PLANETOID_NAMES)}")
    if len(pairs) > 1:
        listed = ", ".join(f"{folder.parent.name if folder.name == 'raw' else folder.name}/{name}"
                           for folder, name in pairs)
        raise DataError(f"{root}: several Planetoid datasets ({listed}); give the folder of one")
    folder, name = pairs[0]
    missing = [f"ind.{name}.{s}" for s in PLANETOID_SUFFIXES if not (folder / f"ind.{name}.{s}").is_file()]
    if missing:
        raise DataError(f"{folder}: missing Planetoid file(s) {', '.join(missing)}; expected all of "
                        f"ind.{name}.{{{','.join(PLANETOID_SUFFIXES)}}}")
    return folder, name


class _PlanetoidUnpickler(pickle.Unpickler):
    """Unpickles a Planetoid raw file and nothing else: a global the file names is looked
    up in :func:`_planetoid_globals` (the numpy, scipy, builtins and collections names the
    published Python-2 pickles use), never imported, so a crafted file cannot call any
    other function."""

    def find_class(self, module: str, name: str) -> object:
        """The allowed global ``module.name``; UnpicklingError for any other."""
        found = _planetoid_globals().get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"it names {module}.{name}")
        return found


@functools.cache
def _planetoid_globals() -> dict[tuple[str, str], object]:
    """The globals a Planetoid raw pickle may name -> the object it gets (numpy 1 and 2,
    old and new scipy module paths; ``_codecs.encode`` is how Python 3 pickles bytes)."""
    import scipy.sparse as sp

    reconstruct = np.zeros(0).__reduce__()[0]  # numpy's multiarray._reconstruct, wherever it lives
    return {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): reconstruct,
            ("scipy.sparse.csr", "csr_matrix"): sp.csr_matrix, ("scipy.sparse._csr", "csr_matrix"): sp.csr_matrix,
            ("collections", "defaultdict"): defaultdict, ("__builtin__", "list"): list,
            ("builtins", "list"): list, ("_codecs", "encode"): codecs.encode}


def _read_planetoid_file(file: Path) -> object:
    """One ``ind.<name>.<suffix>`` pickle, read by :class:`_PlanetoidUnpickler` (with the
    latin-1 decoding of Python-2 strings, as torch-geometric reads them): a scipy CSR
    matrix or numpy array (features, one-hot labels) or a dict of lists (the adjacency)."""
    try:
        with open(file, "rb") as stream:
            obj = _PlanetoidUnpickler(stream, encoding="latin1").load()
    except pickle.UnpicklingError as err:
        raise DataError(f"{file}: refused: {err}; a Planetoid file holds only numpy arrays, scipy CSR "
                        "matrices and a dict of lists") from None
    except (OSError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as err:
        raise DataError(f"{file}: not a readable Planetoid pickle ({type(err).__name__}: {err})") from None
    adjacency = file.name.endswith(".graph")
    fits = isinstance(obj, dict) if adjacency else isinstance(obj, np.ndarray) or hasattr(obj, "todense")
    if not fits:
        raise DataError(f"{file}: holds a {type(obj).__name__}; expected "
                        f"{'a dict of neighbour lists' if adjacency else 'a numpy array or scipy CSR matrix'}")
    return obj


def read_planetoid(raw: Path, name: str) -> PygData:
    """The Planetoid dataset ``name`` (``cora``, ``citeseer``, ``pubmed``) from its raw
    folder, as torch-geometric's ``read_planetoid_data`` builds it (the same tensors: test
    rows put back in node order, CiteSeer's isolated test nodes as zero rows, the public
    masks), but with the pickles read by :class:`_PlanetoidUnpickler`. Nothing is written.

    Raises:
        DataError: a file naming a global it may not, or of the wrong kind or size (named).
    """
    from torch_geometric.io import read_txt_array
    from torch_geometric.io.planetoid import edge_index_from_dict
    from torch_geometric.utils import index_to_mask

    files = {s: raw / f"ind.{name}.{s}" for s in PLANETOID_SUFFIXES}
    objects = {s: _read_planetoid_file(files[s]) for s in PLANETOID_SUFFIXES if s != "test.index"}
    try:
        dense = {s: torch.from_numpy(np.asarray(o.todense() if hasattr(o, "todense") else o)).to(torch.float)
                 for s, o in objects.items() if s != "graph"}
        test_index = read_txt_array(str(files["test.index"]), dtype=torch.long).view(-1)
        x, tx, allx, y, ty, ally = (dense[s] for s in ("x", "tx", "allx", "y", "ty", "ally"))
        train_index = torch.arange(y.size(0), dtype=torch.long)
        val_index = torch.arange(y.size(0), y.size(0) + 500, dtype=torch.long)
        sorted_test_index = test_index.sort()[0]
        if name == "citeseer":  # isolated test nodes: zero rows where test.index skips an id
            size = int(test_index.max() - test_index.min()) + 1
            tx_ext = torch.zeros(size, tx.size(1), dtype=tx.dtype)
            tx_ext[sorted_test_index - test_index.min(), :] = tx
            ty_ext = torch.zeros(size, ty.size(1), dtype=ty.dtype)
            ty_ext[sorted_test_index - test_index.min(), :] = ty
            tx, ty = tx_ext, ty_ext
        x = torch.cat([allx, tx], dim=0)
        x[test_index] = x[sorted_test_index]
        y = torch.cat([ally, ty], dim=0).max(dim=1)[1]
        y[test_index] = y[sorted_test_index]
        edge_index = edge_index_from_dict(objects["graph"], num_nodes=y.size(0))
        masks = {s: index_to_mask(index, size=y.size(0))
                 for s, index in zip(SPLIT_NAMES, (train_index, val_index, test_index))}
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, RuntimeError) as err:
        raise DataError(f"{raw}: the Planetoid files of {name!r} do not fit together "
                        f"({type(err).__name__}: {err})") from None
    return PygData(x=x, edge_index=edge_index, y=y, **{f"{s}_mask": m for s, m in masks.items()})


def load_planetoid(path: str | Path) -> NodeGraph:
    """A Planetoid dataset (Cora, CiteSeer, PubMed) with its public split (Yang et al.
    2016: 20 labelled nodes per class for training, 500 for validation, 1000 for test),
    read from its raw files by :func:`read_planetoid` (a ``processed/`` folder beside
    them is never read, and nothing is written).

    Raises:
        DataError: no Planetoid files, a missing raw file (named), or unreadable or
            refused files (named).
    """
    raw, name = find_planetoid(path)
    data = read_planetoid(raw, name)
    num_classes = int(data.y.max()) + 1
    masks = {s: getattr(data, f"{s}_mask") for s in SPLIT_NAMES}
    node_graph = clean_graph(data.x, data.edge_index, data.y, masks, [str(c) for c in range(num_classes)],
                             f"{PLANETOID_NAMES[name]} ({raw})")
    check_node_classes(node_graph, str(raw))
    return node_graph


# --------------------------------------------------------------------------- CSV graphs


def _read_csv(file: Path, what: str) -> tuple[list[str], list[list[str]]]:
    if not file.is_file():
        raise DataError(f"{file}: no such file; expected {what}")
    try:
        with file.open(newline="", encoding="utf-8-sig") as stream:
            rows = [row for row in csv.reader(stream) if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{file}: not a readable CSV file ({err}); expected {what}") from None
    if not rows:
        raise DataError(f"{file}: empty file; expected {what}")
    return [h.strip().lower() for h in rows[0]], rows[1:]


def load_csv_graph(path: str | Path, label_names: list[str] | None = None, seed: int = 0) -> NodeGraph:
    """A graph from ``nodes.csv`` (header: ``id``, feature columns, ``label``, optional
    ``split`` of train/val/test) and ``edges.csv`` (header: ``src``, ``dst``; undirected).

    Nodes with an empty label are unlabelled: they stay in the graph (messages pass
    through them) but are in no split. Without a ``split`` column the labelled nodes get
    a seeded, stratified 80/10/10 split. ``label_names`` (a trained model's classes)
    maps the labels by name.

    Raises:
        DataError: a missing file or column, a node without features (or a non-numeric
            feature), a duplicate node id, an edge naming an unknown node, a graph with
            no edges, or a split value other than train/val/test (file and line named).
    """
    root = existing_dir(path, "a graph folder with nodes.csv and edges.csv")
    nodes_file, edges_file = root / "nodes.csv", root / "edges.csv"
    header, rows = _read_csv(nodes_file, "a header id,<features...>,label[,split] and one row per node")
    for column in ("id", "label"):
        if column not in header:
            raise DataError(f"{nodes_file}: no {column!r} column; expected a header id,<features...>,label[,split]; "
                            f"got {','.join(header)}")
    id_col, label_col = header.index("id"), header.index("label")
    split_col = header.index("split") if "split" in header else None
    feature_cols = [i for i, h in enumerate(header) if i not in (id_col, label_col, split_col)]
    if not feature_cols:
        raise DataError(f"{nodes_file}: no feature columns; expected a header id,<features...>,label[,split]")
    if not rows:
        raise DataError(f"{nodes_file}: no nodes; expected one row per node after the header")
    index: dict[str, int] = {}
    features = np.zeros((len(rows), len(feature_cols)), dtype=np.float32)
    labels: list[str] = []
    splits: list[str] = []
    for r, row in enumerate(rows):
        line = r + 2
        node = row[id_col].strip() if id_col < len(row) else ""
        if len(row) != len(header):
            raise DataError(f"{nodes_file}, line {line}: node {node!r} has {len(row)} values; the header has "
                            f"{len(header)} columns ({','.join(header)})")
        if not node:
            raise DataError(f"{nodes_file}, line {line}: empty node id")
        if node in index:
            raise DataError(f"{nodes_file}, line {line}: node {node!r} is listed twice (first on line "
                            f"{index[node] + 2})")
        index[node] = r
        cells = [row[i].strip() for i in feature_cols]
        if any(not c for c in cells):
            raise DataError(f"{nodes_file}, line {line}: node {node!r} has no value for feature(s) "
                            f"{', '.join(header[i] for i, c in zip(feature_cols, cells) if not c)}; "
                            f"every node needs all {len(feature_cols)} features")
        try:
            features[r] = [float(c) for c in cells]
        except ValueError:
            raise DataError(f"{nodes_file}, line {line}: node {node!r} has a non-numeric feature value "
                            f"({', '.join(cells)})") from None
        if not np.isfinite(features[r]).all():
            raise DataError(f"{nodes_file}, line {line}: node {node!r} has a NaN or infinite feature")
        labels.append(row[label_col].strip())
        split = row[split_col].strip().lower() if split_col is not None else ""
        if split not in SPLIT_ALIASES:
            raise DataError(f"{nodes_file}, line {line}: split {row[split_col]!r}; expected train, val, test or empty")
        if SPLIT_ALIASES[split] and not labels[-1]:
            raise DataError(f"{nodes_file}, line {line}: node {node!r} is in the {SPLIT_ALIASES[split]} split "
                            f"but has no label")
        splits.append(SPLIT_ALIASES[split])

    labelled = np.array([bool(label) for label in labels])
    if not labelled.any():
        raise DataError(f"{nodes_file}: no node has a label; expected a label column with class names")
    names = sorted({label for label in labels if label}, key=_class_key)
    _say_label_gaps(nodes_file, names, int((~labelled).sum()))
    y = np.full(len(rows), -1, dtype=np.int64)
    y[labelled] = [names.index(label) for label in labels if label]
    if label_names is not None:
        y[labelled] = remap_labels(y[labelled], names, label_names, str(nodes_file))
        names = list(label_names)

    edge_header, edge_rows = _read_csv(edges_file, "a header src,dst and one row per edge")
    if "src" not in edge_header or "dst" not in edge_header:
        raise DataError(f"{edges_file}: expected a header with src and dst columns; got {','.join(edge_header)}")
    if not edge_rows:
        raise DataError(f"{edges_file}: no edges; a graph task needs at least one src,dst row")
    s_col, d_col = edge_header.index("src"), edge_header.index("dst")
    edges = np.zeros((2, len(edge_rows)), dtype=np.int64)
    for e, row in enumerate(edge_rows):
        row = row + [""] * (len(edge_header) - len(row))
        for k, col in enumerate((s_col, d_col)):
            node = row[col].strip()
            if node not in index:
                raise DataError(f"{edges_file}, line {e + 2}: edge names node {node!r}, which is not in "
                                f"{nodes_file.name}")
            edges[k, e] = index[node]

    if split_col is not None and any(splits):
        masks = {s: torch.tensor([p == s for p in splits]) for s in SPLIT_NAMES}
    else:
        labelled_idx = np.flatnonzero(labelled)
        parts = split_indices(y[labelled_idx], seed=seed)
        masks = split_masks(len(rows), tuple(labelled_idx[p] for p in parts))
    empty = [s for s in SPLIT_NAMES if not masks[s].any()]
    if empty and label_names is None:
        raise DataError(f"{nodes_file}: no labelled node in the {', '.join(empty)} split(s); expected labelled "
                        f"nodes in train, val and test ({int(labelled.sum())} labelled nodes in all)")
    node_graph = clean_graph(torch.from_numpy(features), torch.from_numpy(edges), torch.from_numpy(y), masks, names,
                             str(root))
    if label_names is None:  # its own classes: data to train on
        check_node_classes(node_graph, str(nodes_file))
    node_graph.node_ids = list(index)
    node_graph.info["split"] = "given" if split_col is not None and any(splits) else "random"
    return node_graph


def _class_key(name: str) -> tuple:
    """Sort numeric class names as numbers (``2`` before ``10``), others as text."""
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def _say_label_gaps(file: Path, names: list[str], unlabelled: int) -> None:
    """Tell the user about empty label cells and integer class ids with gaps."""
    if unlabelled:
        log(f"{file}: {unlabelled} nodes have no label: kept in the graph, in no split")
    try:
        ids = sorted(int(n) for n in names)
    except ValueError:
        return
    missing = sorted(set(range(ids[0], ids[-1] + 1)) - set(ids))
    if missing:
        log(f"{file}: integer labels with gaps (no node of class {', '.join(map(str, missing[:10]))}); "
            f"the model has {len(names)} classes, named by the labels present: {', '.join(names)}")


# --------------------------------------------------------------------------- datasets for the engine


class NodeBatch:
    """The one batch of a node split: the whole ``graph`` (torch_geometric ``Data``) and
    the split's node ``mask [N]`` (bool). ``.to(device)`` moves the graph to a device once
    and reuses that copy for every later epoch and split (``copies`` is shared by the
    splits of one graph), so a full-batch epoch costs no host-to-device copy."""

    def __init__(self, graph: PygData, mask: Tensor, copies: dict) -> None:
        self.graph, self.mask, self._copies = graph, mask, copies

    def to(self, device: torch.device | str, *args, **kwargs) -> "NodeBatch":
        """This batch on ``device`` (the cached copy after the first call)."""
        key = str(torch.device(device))
        if key not in self._copies:
            self._copies[key] = self.graph.to(device)
        mask_key = (key, id(self.mask))
        if mask_key not in self._copies:
            self._copies[mask_key] = self.mask.to(device)
        return NodeBatch(self._copies[key], self._copies[mask_key], self._copies)


class NodeSplit(Dataset):
    """One split of a transductive node task for the engine: one item, the
    :class:`NodeBatch` of the whole graph and this split's mask (``len`` 1)."""

    def __init__(self, graph: PygData, mask: Tensor, copies: dict | None = None) -> None:
        self.graph, self.mask = graph, mask.bool()
        self.copies = copies if copies is not None else {}

    @property
    def num_nodes(self) -> int:
        """Nodes in this split (``mask.sum()``)."""
        return int(self.mask.sum())

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> NodeBatch:
        if index != 0:
            raise IndexError(index)
        return NodeBatch(self.graph, self.mask, self.copies)


def first_item(items: list) -> object:
    """Collate for :class:`NodeSplit`: the batch is the one item (the whole graph)."""
    return items[0]


def node_splits(node_graph: NodeGraph) -> Splits:
    """Train/val/test :class:`NodeSplit` datasets sharing the graph (and its device copy);
    ``extras``: ``graph`` (the ``Data``), ``info`` and ``node_ids``."""
    g = node_graph.graph
    copies: dict = {}
    train, val, test = (NodeSplit(g, getattr(g, f"{s}_mask"), copies) for s in SPLIT_NAMES)
    return Splits(train, val, test, node_graph.label_names,
                  {"graph": g, "info": node_graph.info, "node_ids": node_graph.ids()})


class GraphList(Dataset):
    """Many small graphs (torch_geometric ``Data`` with ``x``, ``edge_index`` and a
    graph label ``y [1]``); batch them with :func:`collate_graphs`."""

    def __init__(self, graphs: list[PygData]) -> None:
        self.graphs = list(graphs)

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int) -> PygData:
        return self.graphs[index]

    @property
    def labels(self) -> Tensor:
        """Graph labels ``[G]``."""
        return torch.cat([g.y.view(-1) for g in self.graphs]) if self.graphs else torch.zeros(0, dtype=torch.long)


def collate_graphs(graphs: list[PygData]) -> Batch:
    """A torch_geometric ``Batch`` of graphs (``x``, ``edge_index``, ``batch``, ``y [B]``)."""
    return Batch.from_data_list(graphs)


# --------------------------------------------------------------------------- many small graphs


GRAPH_SET_KEYS = ("x", "edge_index", "num_nodes", "num_edges", "y")
"""Arrays of a ``.pt``/``.npz`` graph set: ``x [sum N, F]`` (nodes of all graphs in
order), ``edge_index [2, sum E]`` (node ids local to each graph), ``num_nodes [G]``,
``num_edges [G]``, ``y [G]``; optional ``split [G]`` (0/1/2 or train/val/test) and
``label_names [C]``."""


def small_graph(x: Tensor, edge_index: Tensor, y: int) -> tuple[PygData, int, int]:
    """One small graph, undirected, without self-loops or duplicates; returns the graph
    and how many self-loops and duplicate edges were removed."""
    n = x.shape[0]
    edge_index, loops, dupes = undirected_edges(edge_index, n)
    return PygData(x=x.float(), edge_index=edge_index, y=torch.tensor([int(y)]), num_nodes=n), loops, dupes


def save_graph_set(path: str | Path, graphs: list[PygData], label_names: list[str] | None = None,
                   split: list[int] | None = None) -> Path:
    """Write graphs (``x``, ``edge_index``, ``y``) as a ``.pt`` (tensors only, so it loads
    with ``weights_only=True``) or ``.npz`` graph set (:data:`GRAPH_SET_KEYS`)."""
    path = Path(path)
    arrays = {
        "x": torch.cat([g.x for g in graphs]).float(),
        "edge_index": torch.cat([g.edge_index for g in graphs], dim=1).long(),
        "num_nodes": torch.tensor([g.num_nodes for g in graphs]),
        "num_edges": torch.tensor([g.edge_index.shape[1] for g in graphs]),
        "y": torch.tensor([int(g.y.view(-1)[0]) for g in graphs]),
    }
    if split is not None:
        arrays["split"] = torch.tensor(split)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".pt":
        torch.save({**arrays, **({"label_names": list(label_names)} if label_names else {})}, path)
    elif path.suffix == ".npz":
        extra = {"label_names": np.array(label_names)} if label_names else {}
        np.savez(path, **{k: v.numpy() for k, v in arrays.items()}, **extra)
    else:
        raise DataError(f"{path}: expected a .pt or .npz file name")
    return path


def load_graph_file(path: str | Path) -> tuple[list[PygData], list[str], np.ndarray | None]:
    """Read a ``.pt``/``.npz`` graph set (:data:`GRAPH_SET_KEYS`). Returns ``(graphs,
    label_names, split)`` (``split [G]`` with 0/1/2 for train/val/test, or None).

    Raises:
        DataError: unreadable file, a missing array (named), or sizes that disagree.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such file; expected a .pt or .npz graph set")
    try:
        if file.suffix == ".npz":
            with np.load(file, allow_pickle=False) as z:
                raw = {k: z[k] for k in z.files}
        else:
            raw = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{file}: refused: loading it would run pickled code, which a graph set never needs "
                        f"({first})") from None
    except Exception as err:  # noqa: BLE001 - any unreadable file is a DataError
        raise DataError(f"{file}: not a readable graph set ({type(err).__name__}: {err})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{file}: expected a dict of arrays {', '.join(GRAPH_SET_KEYS)}; got {type(raw).__name__}")
    missing = [k for k in GRAPH_SET_KEYS if k not in raw]
    if missing:
        raise DataError(f"{file}: missing array(s) {', '.join(missing)}; expected {', '.join(GRAPH_SET_KEYS)}")
    t = {k: torch.as_tensor(np.asarray(raw[k])) for k in GRAPH_SET_KEYS}
    x, edge_index = t["x"].float(), t["edge_index"].long()
    num_nodes, num_edges, y = t["num_nodes"].long(), t["num_edges"].long(), t["y"].long().view(-1)
    if x.ndim == 1:
        x = x[:, None]
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise DataError(f"{file}: edge_index must be [2, E]; got {list(edge_index.shape)}")
    if not (len(num_nodes) == len(num_edges) == len(y)) or int(num_nodes.sum()) != x.shape[0] \
            or int(num_edges.sum()) != edge_index.shape[1]:
        raise DataError(f"{file}: sizes disagree: {len(num_nodes)} num_nodes, {len(num_edges)} num_edges, {len(y)} "
                        f"labels; sum(num_nodes)={int(num_nodes.sum())} vs x rows {x.shape[0]}; "
                        f"sum(num_edges)={int(num_edges.sum())} vs edge_index columns {edge_index.shape[1]}")
    if len(y) == 0:
        raise DataError(f"{file}: no graphs")
    names = [str(n) for n in np.asarray(raw["label_names"]).tolist()] if "label_names" in raw else \
        [str(c) for c in range(int(y.max()) + 1)]
    graphs, loops, dupes = [], 0, 0
    node_start, edge_start = 0, 0
    for g, (n, e) in enumerate(zip(num_nodes.tolist(), num_edges.tolist())):
        ei = edge_index[:, edge_start:edge_start + e]
        if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= n):
            raise DataError(f"{file}: graph {g} has an edge naming node {int(ei.max())}; it has nodes 0..{n - 1} "
                            f"(edge_index holds ids local to each graph)")
        graph, l_, d_ = small_graph(x[node_start:node_start + n], ei, int(y[g]))
        graphs.append(graph)
        loops, dupes = loops + l_, dupes + d_
        node_start, edge_start = node_start + n, edge_start + e
    split = None
    if "split" in raw:
        values = np.asarray(raw["split"]).tolist()
        order = {"train": 0, "val": 1, "test": 2, 0: 0, 1: 1, 2: 2}
        try:
            split = np.array([order[v if isinstance(v, int) else SPLIT_ALIASES.get(str(v).lower(), v)]
                              for v in values])
        except KeyError as err:
            raise DataError(f"{file}: split value {err.args[0]!r}; expected 0/1/2 or train/val/test") from None
    _say_graph_set(str(file), graphs, loops, dupes)
    return graphs, names, split


def load_tu_folder(path: str | Path) -> tuple[list[PygData], list[str]]:
    """A TU-format graph set (``<NAME>_A.txt``, ``<NAME>_graph_indicator.txt``,
    ``<NAME>_graph_labels.txt``, optional ``_node_attributes``/``_node_labels``), read by
    torch-geometric's ``read_tu_data``. Graphs without node features get a constant 1."""
    from torch_geometric.io import read_tu_data

    root = existing_dir(path, "a TU graph folder (<NAME>_A.txt, <NAME>_graph_indicator.txt, ...)")
    found = sorted(root.glob("*_A.txt"))
    if len(found) != 1:
        raise DataError(f"{root}: expected one <NAME>_A.txt (TU format); found {len(found)}")
    prefix = found[0].name[:-len("_A.txt")]
    for part in ("graph_indicator", "graph_labels"):
        if not (root / f"{prefix}_{part}.txt").is_file():
            raise DataError(f"{root}: missing {prefix}_{part}.txt (TU format)")
    try:
        data, slices, _ = read_tu_data(str(root), prefix)
    except Exception as err:  # noqa: BLE001
        raise DataError(f"{root}: could not read the TU files ({type(err).__name__}: {err})") from None
    num_graphs = len(slices["y"]) - 1 if "y" in slices else 0
    x = data.x if data.x is not None and data.x.numel() else None
    graphs, loops, dupes = [], 0, 0
    for g in range(num_graphs):
        n0, n1 = (int(slices["x"][g]), int(slices["x"][g + 1])) if x is not None else (None, None)
        e0, e1 = int(slices["edge_index"][g]), int(slices["edge_index"][g + 1])
        ei = data.edge_index[:, e0:e1]
        n = (n1 - n0) if x is not None else int(data._num_nodes[g]) if hasattr(data, "_num_nodes") else int(ei.max()) + 1
        xg = x[n0:n1] if x is not None else torch.ones(n, 1)
        graph, l_, d_ = small_graph(xg, ei, int(data.y[g]))
        graphs.append(graph)
        loops, dupes = loops + l_, dupes + d_
    if not graphs:
        raise DataError(f"{root}: no labelled graphs ({prefix}_graph_labels.txt)")
    _say_graph_set(f"{root} ({prefix})", graphs, loops, dupes)
    return graphs, [str(c) for c in range(int(data.y.max()) + 1)]


def _say_graph_set(source: str, graphs: list[PygData], loops: int, dupes: int) -> None:
    nodes = sum(g.num_nodes for g in graphs)
    log(f"{source}: {len(graphs)} graphs, {nodes} nodes ({nodes / max(len(graphs), 1):.1f} per graph), "
        f"{graphs[0].x.shape[1]} node features; self-loops removed {loops}; duplicate edges removed {dupes}")


def graph_splits(graphs: list[PygData], label_names: list[str], split: np.ndarray | None, seed: int,
                 info: dict) -> Splits:
    """Train/val/test :class:`GraphList` datasets: by ``split`` (0/1/2 per graph) or a
    seeded, stratified 80/10/10 split.

    Raises:
        DataError: training graphs of fewer than two classes, or an empty part of the
            stratified split (``info["source"]`` named).
    """
    labels = np.array([int(g.y) for g in graphs])
    where = str(info.get("source", "graph set"))
    if split is not None:
        parts = tuple(np.flatnonzero(split == k) for k in range(3))
    else:
        parts = split_indices(labels, seed=seed)
        check_split_parts(parts, labels, label_names, where)
    check_classes(labels[parts[0]], label_names, where)
    train, val, test = (GraphList([graphs[i] for i in idx]) for idx in parts)
    info = {**info, "num_graphs": len(graphs), **{f"{s}_graphs": len(idx) for s, idx in zip(SPLIT_NAMES, parts)}}
    return Splits(train, val, test, list(label_names), {"info": info})
