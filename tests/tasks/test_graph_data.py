"""Graph loaders (convkit.tasks.graph.data, .synthetic) on fixtures written in tmp_path: a tiny Planetoid
root (pickled scipy/numpy, like the real files), CSV graphs, graph sets, generators."""

from __future__ import annotations

import os
import pickle
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from convkit.errors import DataError
from convkit.tasks.graph.data import (
    apply_feature_norm,
    collate_graphs,
    graph_splits,
    load_csv_graph,
    load_graph_file,
    load_planetoid,
    load_tu_folder,
    node_splits,
    save_graph_set,
)
from convkit.tasks.graph.synthetic import load_karate, make_motif_graphs, make_sbm_graph

N_TRAIN, N_ALLX, N_TEST, FEATURES, CLASSES = 6, 510, 8, 5, 3


def write_planetoid(folder: Path, name: str = "cora") -> dict:
    """A tiny Planetoid ``raw/`` folder: 518 nodes on a ring, 6 labelled for training
    (the first rows of allx), 500 validation nodes after them, 8 test nodes (given in a
    shuffled test.index). Files are pickles of scipy CSR features and numpy one-hot
    labels and a defaultdict adjacency, as the real ``ind.<name>.*`` files."""
    rng = np.random.default_rng(0)
    n = N_ALLX + N_TEST
    labels = np.arange(n) % CLASSES
    onehot = np.eye(CLASSES)[labels]
    feats = (rng.random((n, FEATURES)) < 0.4).astype(np.float32)
    test_ids = np.arange(N_ALLX, n)
    order = rng.permutation(N_TEST)
    objects = {
        "x": sp.csr_matrix(feats[:N_TRAIN]), "y": onehot[:N_TRAIN],
        "allx": sp.csr_matrix(feats[:N_ALLX]), "ally": onehot[:N_ALLX],
        "tx": sp.csr_matrix(feats[test_ids[order]]), "ty": onehot[test_ids[order]],
    }
    graph = defaultdict(list)
    for i in range(n):
        graph[i].append((i + 1) % n)
        graph[(i + 1) % n].append(i)
    graph[0].append(0)  # a self-loop
    objects["graph"] = graph
    raw = folder / "raw"
    raw.mkdir(parents=True)
    for suffix, obj in objects.items():
        with open(raw / f"ind.{name}.{suffix}", "wb") as f:
            pickle.dump(obj, f, protocol=2)
    (raw / f"ind.{name}.test.index").write_text("\n".join(str(i) for i in test_ids[order]) + "\n")
    return {"n": n, "labels": labels, "features": feats}


def make_read_only(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)


def test_planetoid_root_public_split_and_counts(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVKIT_CACHE", str(tmp_path / "cache"))
    truth = write_planetoid(tmp_path / "Cora")
    ng = load_planetoid(tmp_path / "Cora")
    g = ng.graph
    assert g.num_nodes == truth["n"] and g.x.shape == (truth["n"], FEATURES)
    assert [int(g.train_mask.sum()), int(g.val_mask.sum()), int(g.test_mask.sum())] == [N_TRAIN, 500, N_TEST]
    assert torch.equal(g.y, torch.as_tensor(truth["labels"]))  # test rows put back in node order
    assert torch.equal(g.x, torch.as_tensor(truth["features"]))
    assert ng.info["num_edges"] == truth["n"]  # the ring; torch-geometric drops the self-loop while reading
    assert ng.info["isolated_nodes"] == 0 and ng.label_names == ["0", "1", "2"]
    assert not (tmp_path / "Cora" / "processed").exists() and not (tmp_path / "cache").exists()  # nothing written
    apply_feature_norm(ng, "auto")
    rows = g.x.sum(1)
    assert torch.allclose(rows[rows > 0], torch.ones(int((rows > 0).sum())))


def test_read_only_planetoid_root_is_read_without_writing_anywhere(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVKIT_CACHE", str(tmp_path / "cache"))
    write_planetoid(tmp_path / "ro" / "Cora")
    make_read_only(tmp_path / "ro")
    try:
        ng = load_planetoid(tmp_path / "ro")  # the parent folder holding one dataset works too
        assert not (tmp_path / "ro" / "Cora" / "processed").exists() and not (tmp_path / "cache").exists()
        assert ng.graph.num_nodes == N_ALLX + N_TEST
        again = load_planetoid(tmp_path / "ro" / "Cora" / "raw")
        assert torch.equal(again.graph.x, ng.graph.x) and torch.equal(again.graph.edge_index, ng.graph.edge_index)
    finally:
        for p in [tmp_path / "ro", *(tmp_path / "ro").rglob("*")]:
            p.chmod(0o755)


def test_planetoid_missing_file_is_named(tmp_path):
    write_planetoid(tmp_path / "CiteSeer", name="citeseer")
    os.remove(tmp_path / "CiteSeer" / "raw" / "ind.citeseer.ty")
    with pytest.raises(DataError, match=r"missing Planetoid file\(s\) ind\.citeseer\.ty"):
        load_planetoid(tmp_path / "CiteSeer")
    with pytest.raises(DataError, match="not a folder"):
        load_planetoid(tmp_path / "CiteSeer" / "raw" / "ind.citeseer.x")


def write_csv_graph(root: Path, nodes: list[str], edges: list[str], header: str = "id,f1,f2,label") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "nodes.csv").write_text(header + "\n" + "\n".join(nodes) + "\n")
    (root / "edges.csv").write_text("src,dst\n" + "\n".join(edges) + ("\n" if edges else ""))
    return root


def test_csv_graph_counts_isolated_self_loops_duplicates_and_unlabelled(tmp_path, capsys):
    nodes = ["a,1,0,x,train", "b,0,1,y,train", "c,1,1,x,val", "d,2,0,y,test", "e,0,2,,", "lonely,3,3,x,test",
             "f,1,2,y,val"]
    edges = ["a,b", "b,a", "a,b", "b,c", "c,c", "c,d", "d,e", "e,f"]
    root = write_csv_graph(tmp_path / "g", nodes, edges, header="id,f1,f2,label,split")
    ng = load_csv_graph(root)
    g = ng.graph
    assert ng.label_names == ["x", "y"]
    assert g.y.tolist() == [0, 1, 0, 1, -1, 0, 1]
    assert g.x[5].tolist() == [3.0, 3.0]
    assert [int(g.train_mask.sum()), int(g.val_mask.sum()), int(g.test_mask.sum())] == [2, 2, 2]
    assert not (g.train_mask | g.val_mask | g.test_mask)[4]  # the unlabelled node is in no split
    info = ng.info
    assert info["isolated_nodes"] == 1 and info["self_loops_removed"] == 1 and info["duplicate_edges_removed"] == 1
    assert info["unlabelled_nodes"] == 1 and info["num_edges"] == 5
    assert g.edge_index.shape[1] == 10  # both directions of the 5 undirected edges
    err = capsys.readouterr().err
    assert "isolated nodes 1 (kept)" in err and "self-loops removed 1" in err and "1 nodes have no label" in err


def test_csv_graph_without_split_column_gets_a_seeded_stratified_split(tmp_path):
    nodes = [f"n{i},{i % 3},{i % 5},{i % 2}" for i in range(40)]
    edges = [f"n{i},n{(i + 1) % 40}" for i in range(40)]
    root = write_csv_graph(tmp_path / "g", nodes, edges)
    a, b = load_csv_graph(root, seed=1), load_csv_graph(root, seed=1)
    masks = [a.graph.train_mask, a.graph.val_mask, a.graph.test_mask]
    assert [int(m.sum()) for m in masks] == [32, 4, 4]
    assert torch.equal(sum(m.int() for m in masks), torch.ones(40, dtype=torch.int))
    assert torch.equal(a.graph.train_mask, b.graph.train_mask)


def test_csv_integer_labels_with_gaps_keep_their_names(tmp_path, capsys):
    nodes = [f"{i},{i},1,{[0, 1, 3][i % 3]}" for i in range(30)]
    root = write_csv_graph(tmp_path / "g", nodes, [f"{i},{i + 1}" for i in range(29)])
    ng = load_csv_graph(root)
    assert ng.label_names == ["0", "1", "3"]
    assert "no node of class 2" in capsys.readouterr().err


@pytest.mark.parametrize("nodes, edges, header, message", [
    (["a,1,2,x", "b,1,2,y"], ["a,b", "a,zz"], "id,f1,f2,label", r"edges\.csv, line 3: edge names node 'zz'"),
    (["a,1,2,x", "b,,2,y"], ["a,b"], "id,f1,f2,label", r"nodes\.csv, line 3: node 'b' has no value for feature\(s\) f1"),
    (["a,1,x", "b,1"], ["a,b"], "id,f1,label", r"nodes\.csv, line 3: node 'b' has 2 values; the header has 3"),
    (["a,1,x", "b,2,y"], ["a,b"], "id,f1,label", r"no labelled node in the val, test split"),
    (["a,1,2,x", "b,1,2,y"], [], "id,f1,f2,label", r"edges\.csv: no edges"),
    (["a,1,2,x", "a,1,2,y"], ["a,a"], "id,f1,f2,label", r"node 'a' is listed twice"),
    (["a,1,2,x,train", "b,1,2,,val"], ["a,b"], "id,f1,f2,label,split", r"node 'b' is in the val split but has no label"),
    (["a,1,2,x,train", "b,1,2,y,dev"], ["a,b"], "id,f1,f2,label,split", r"split 'dev'; expected train, val, test"),
    (["a,1,2", "b,1,2"], ["a,b"], "id,f1,f2", r"no 'label' column"),
    (["a,1,2,", "b,1,2,"], ["a,b"], "id,f1,f2,label", r"no node has a label"),
])
def test_csv_bad_input_is_one_clear_error(tmp_path, nodes, edges, header, message):
    root = write_csv_graph(tmp_path / "g", nodes, edges, header)
    with pytest.raises(DataError, match=message):
        load_csv_graph(root)


def test_csv_missing_file_is_named(tmp_path):
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "nodes.csv").write_text("id,f,label\na,1,x\n")
    with pytest.raises(DataError, match=r"edges\.csv: no such file"):
        load_csv_graph(tmp_path / "g")


def test_csv_labels_map_onto_a_trained_models_classes(tmp_path):
    root = write_csv_graph(tmp_path / "g", [f"{i},{i},1,{'ab'[i % 2]}" for i in range(20)],
                           [f"{i},{i + 1}" for i in range(19)])
    ng = load_csv_graph(root, label_names=["b", "a", "c"])
    assert ng.label_names == ["b", "a", "c"] and ng.graph.y[:4].tolist() == [1, 0, 1, 0]
    with pytest.raises(DataError, match="not among the model's classes"):
        load_csv_graph(root, label_names=["a", "c"])


def test_karate_and_sbm_generators():
    karate = load_karate()
    g = karate.graph
    assert g.num_nodes == 34 and karate.info["num_edges"] == 78 and len(karate.label_names) == 4
    assert int(g.train_mask.sum()) == 4 and int((g.val_mask | g.test_mask).sum()) == 30
    a, b = make_sbm_graph(seed=3), make_sbm_graph(seed=3)
    assert torch.equal(a.graph.edge_index, b.graph.edge_index) and torch.equal(a.graph.x, b.graph.x)
    y, ei = a.graph.y, a.graph.edge_index
    same = (y[ei[0]] == y[ei[1]]).float().mean()
    assert same > 0.6  # the structure carries the class ...
    # ... while the features alone are weak: a nearest-class-mean rule on train nodes
    x, tr, te = a.graph.x, a.graph.train_mask, a.graph.test_mask
    means = torch.stack([x[tr & (y == c)].mean(0) for c in range(4)])
    acc = (torch.cdist(x[te], means).argmin(1) == y[te]).float().mean()
    assert 0.3 < acc < 0.65


def test_node_batch_moves_the_graph_once():
    splits = node_splits(make_sbm_graph(nodes_per_class=10))
    first = splits.train[0].to("cpu")
    again = splits.val[0].to(torch.device("cpu"))
    assert first.graph is again.graph  # one copy per device, shared by the splits
    assert int(first.mask.sum()) == splits.train.num_nodes and len(splits.train) == 1


def test_motif_graphs_sizes_and_features_say_nothing_of_the_class():
    graphs = make_motif_graphs(num_graphs=90, seed=0)
    labels = np.array([int(g.y) for g in graphs])
    sizes = np.array([g.num_nodes for g in graphs])
    assert sorted(set(labels)) == [0, 1, 2]
    for c in range(3):
        assert 6 <= sizes[labels == c].min() and sizes[labels == c].max() <= 16
    degrees = [g.edge_index.shape[1] / g.num_nodes for g in graphs]
    assert np.mean([d for d, c in zip(degrees, labels) if c == 2]) > 3 * np.mean([d for d, c in zip(degrees, labels) if c == 0])
    batch = collate_graphs(graphs[:5])
    assert batch.num_graphs == 5 and batch.y.tolist() == labels[:5].tolist()


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_graph_set_files_round_trip(tmp_path, suffix):
    graphs = make_motif_graphs(num_graphs=12, seed=1)
    path = save_graph_set(tmp_path / f"set{suffix}", graphs, ["cycle", "tree", "clique"], split=[0] * 8 + [1, 1, 2, 2])
    loaded, names, split = load_graph_file(path)
    assert names == ["cycle", "tree", "clique"] and split.tolist() == [0] * 8 + [1, 1, 2, 2]
    for a, b in zip(graphs, loaded):
        assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index) and int(a.y) == int(b.y)
    s = graph_splits(loaded, names, split, seed=0, info={})
    assert [len(s.train), len(s.val), len(s.test)] == [8, 2, 2]


def test_graph_set_bad_files(tmp_path):
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 1)), edge_index=np.zeros((2, 1), dtype=np.int64), y=np.zeros(1))
    with pytest.raises(DataError, match=r"missing array\(s\) num_nodes, num_edges"):
        load_graph_file(tmp_path / "bad.npz")
    np.savez(tmp_path / "edge.npz", x=np.zeros((3, 1)), edge_index=np.array([[0], [5]]), num_nodes=[3],
             num_edges=[1], y=[0])
    with pytest.raises(DataError, match="graph 0 has an edge naming node 5"):
        load_graph_file(tmp_path / "edge.npz")


def test_tu_folder(tmp_path):
    """Two triangles (class 1) and a path (class 2), TU format, 1-based ids."""
    root = tmp_path / "TOY"
    root.mkdir()
    edges = [(1, 2), (2, 3), (3, 1), (4, 5), (5, 6), (6, 4), (7, 8), (8, 9), (9, 9)]
    (root / "TOY_A.txt").write_text("".join(f"{a}, {b}\n{b}, {a}\n" for a, b in edges))
    (root / "TOY_graph_indicator.txt").write_text("".join(f"{g}\n" for g in [1, 1, 1, 2, 2, 2, 3, 3, 3]))
    (root / "TOY_graph_labels.txt").write_text("1\n1\n2\n")
    graphs, names = load_tu_folder(root)
    assert len(graphs) == 3 and names == ["0", "1"]
    assert [int(g.y) for g in graphs] == [0, 0, 1] and [g.num_nodes for g in graphs] == [3, 3, 3]
    assert graphs[0].x.shape == (3, 1) and graphs[2].edge_index.shape[1] == 4  # self-loop dropped
