"""Graph models (convkit.models.graph) on torch-geometric layers: sizes, parameter groups,
equivariance, the classifier interface and clear errors."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from convkit.errors import ConfigError, ShapeError
from convkit.models import create_model, get_entry, list_models

NODE_MODELS = ["gcn", "gat", "graphsage"]
GRAPH_MODELS = ["gin", "gcn_graph"]


def ring(n: int, features: int, seed: int = 0) -> Data:
    """A ring of ``n`` nodes with a chord 0-2, random features."""
    g = torch.Generator().manual_seed(seed)
    src = torch.arange(n)
    edges = torch.cat([torch.stack([src, (src + 1) % n]), torch.tensor([[0], [2]])], dim=1)
    return Data(x=torch.randn(n, features, generator=g), edge_index=torch.cat([edges, edges.flip(0)], dim=1))


def test_all_registered_as_graph_models():
    assert set(NODE_MODELS + GRAPH_MODELS) <= set(list_models(input_kind="graph"))
    for name in NODE_MODELS + GRAPH_MODELS:
        entry = get_entry(name)
        assert entry.spatial_dims == ()
        assert entry.input_kind == "graph"


def test_gcn_has_the_papers_size_on_cora():
    """2 layers, 16 hidden: 1433*16 + 16 + 16*7 + 7 parameters, as PyG's examples/gcn.py."""
    model = create_model("gcn", in_channels=1433, num_classes=7)
    assert sum(p.numel() for p in model.parameters()) == 1433 * 16 + 16 + 16 * 7 + 7
    assert model.dropout == 0.5 and model.num_features == 16


def test_gcn_param_groups_put_weight_decay_on_the_first_layer_only():
    model = create_model("gcn", in_channels=10, num_classes=3)
    groups = model.param_groups(5e-4)
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0]
    first = {tuple(p.shape) for p in groups[0]["params"]}
    assert first == {(16, 10), (16,)}  # the first GCNConv's weight (as Linear) and bias
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())  # every parameter exactly once
    # torch builds an optimizer from them, and only the first layer decays
    opt = torch.optim.Adam(groups, lr=0.01)
    assert len(opt.param_groups) == 2


@pytest.mark.parametrize("name", NODE_MODELS)
def test_node_models_are_permutation_equivariant(name):
    torch.manual_seed(0)
    model = create_model(name, in_channels=5, num_classes=3).eval()
    graph = ring(9, 5)
    out = model(graph)
    assert out.shape == (9, 3)
    assert model.forward_features(graph).shape == (9, model.num_features)
    perm = torch.randperm(9)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(9)
    permuted = Data(x=graph.x[perm], edge_index=inverse[graph.edge_index])
    torch.testing.assert_close(model(permuted), out[perm], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", GRAPH_MODELS)
def test_graph_models_give_one_row_per_graph_invariant_to_node_order(name):
    torch.manual_seed(0)
    model = create_model(name, in_channels=4, num_classes=3).eval()
    graphs = [ring(n, 4, seed=n) for n in (5, 7, 6)]
    batch = Batch.from_data_list(graphs)
    out = model(batch)
    assert out.shape == (3, 3)
    assert model.forward_features(batch).shape == (3, model.num_features)
    # each graph alone gives its row of the batch
    torch.testing.assert_close(model(graphs[1]), out[1:2], atol=1e-5, rtol=1e-5)
    perm = torch.randperm(7)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(7)
    shuffled = Data(x=graphs[1].x[perm], edge_index=inverse[graphs[1].edge_index])
    torch.testing.assert_close(model(shuffled), out[1:2], atol=1e-5, rtol=1e-5)


def test_cached_gcn_matches_the_uncached_one_on_its_graph():
    torch.manual_seed(0)
    plain = create_model("gcn", in_channels=5, num_classes=3).eval()
    cached = create_model("gcn", in_channels=5, num_classes=3, cached=True).eval()
    cached.load_state_dict(plain.state_dict())
    graph = ring(8, 5)
    for _ in range(2):
        torch.testing.assert_close(cached(graph), plain(graph))


def test_reset_classifier_changes_the_number_of_outputs():
    node = create_model("gcn", in_channels=5, num_classes=3)
    node.reset_classifier(6)
    assert node(ring(7, 5)).shape == (7, 6)
    graph = create_model("gin", in_channels=5, num_classes=3)
    graph.reset_classifier(2)
    assert graph(Batch.from_data_list([ring(5, 5), ring(6, 5)])).shape == (2, 2)


def test_gat_uses_heads_and_a_mean_output_head():
    model = create_model("gat", in_channels=5, num_classes=3, hidden=4, heads=2)
    assert model.num_features == 8
    assert model(ring(6, 5)).shape == (6, 3)


def test_wrong_inputs_and_options_are_clear_errors():
    model = create_model("gcn", in_channels=5, num_classes=3)
    with pytest.raises(ShapeError, match=r"gcn: expected a graph with node features x \[num_nodes, 5\].*\[6, 4\]"):
        model(ring(6, 4))
    with pytest.raises(ShapeError, match="edge_index"):
        model(Data(x=torch.randn(3, 5), edge_index=torch.zeros(3, 2, dtype=torch.long)))
    with pytest.raises(ConfigError, match="pool must be one of add, mean"):
        create_model("gin", in_channels=3, num_classes=2, pool="max")
    with pytest.raises(ConfigError, match="aggr"):
        create_model("graphsage", in_channels=3, num_classes=2, aggr="lstm")
