"""The graph task end to end: GCN on the SBM graph beats the feature-only baselines, the
reported test accuracy is the best validation epoch's, a read-only Planetoid root trains
and round-trips through evaluate/predict, graph classification beats a bag of node
features, and bad choices are one clear line."""

from __future__ import annotations

import json

import pytest
import torch

from convkit.cli import main
from convkit.config import resolve_config
from convkit.tasks.graph.task import TASK, GraphRunConfig
from convkit.train.engine import make_optimizer
from convkit.train.inference import evaluate_checkpoint
from tests.tasks.test_graph_data import make_read_only, write_csv_graph, write_planetoid


def _main(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(TASK, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _metrics(run_dir: str) -> tuple[dict, list[dict]]:
    with open(f"{run_dir}/metrics.json") as f:
        final = json.load(f)
    with open(f"{run_dir}/metrics.jsonl") as f:
        history = [json.loads(line) for line in f]
    return final, history


def test_gcn_on_the_sbm_graph_beats_the_feature_baselines_and_reports_the_best_val_epoch(tmp_path, capsys):
    code, out, err = _main(capsys, "train", "--out", str(tmp_path), "--device", "cpu", "--epochs", "60")
    assert code == 0, err
    run_dir = json.loads(out.splitlines()[-1])["run_dir"]
    final, history = _metrics(run_dir)
    gcn, linear, mlp = final["test"]["accuracy"], final["baselines"]["linear"]["test"]["accuracy"], \
        final["baselines"]["mlp"]["test"]["accuracy"]
    same = final["baselines"]["mlp_same_protocol"]["test"]["accuracy"]  # no edges, the GCN's training protocol
    assert gcn > 0.85 and gcn > linear + 0.25 and gcn > mlp + 0.25 and gcn > same + 0.25, (gcn, linear, mlp, same)
    assert final["baselines"]["mlp_same_protocol"]["params"] == pytest.approx(final["params"], rel=0.1)
    assert final["params"] == 16 * 16 + 16 + 16 * 4 + 4 and len(history) == 60
    # the reported test accuracy is that of the first epoch with the best val accuracy
    vals = [h["val"]["accuracy"] for h in history]
    best = vals.index(max(vals))
    assert final["val"]["accuracy"] == max(vals)
    assert evaluate_checkpoint(TASK, f"{run_dir}/best.pt", device="cpu")["accuracy"] == pytest.approx(gcn)
    assert torch.load(f"{run_dir}/best.pt", weights_only=True)["epoch"] == best + 1


def test_gcn_trains_with_weight_decay_on_its_first_layer_only():
    cfg = resolve_config(GraphRunConfig, TASK.recipe("cora"), sets=["data.path="])
    data = TASK.build_data(cfg)
    model = TASK.build_model(cfg, data)
    optimizer = make_optimizer(model, cfg.train)
    assert isinstance(optimizer, torch.optim.Adam) and cfg.train.epochs == 200 and cfg.train.lr == 0.01
    assert [g["weight_decay"] for g in optimizer.param_groups] == [5e-4, 0.0]
    assert model.hidden_layers[0].cached and model.num_features == 16 and model.dropout == 0.5


def test_read_only_planetoid_root_trains_evaluates_and_predicts(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CONVKIT_CACHE", str(tmp_path / "cache"))
    write_planetoid(tmp_path / "data" / "Cora")
    make_read_only(tmp_path / "data")
    try:
        code, out, err = _main(capsys, "train", "--data", str(tmp_path / "data" / "Cora"), "--out",
                               str(tmp_path / "out"), "--device", "cpu", "--epochs", "5",
                               "--set", "train.baselines=false")  # 6 training nodes: too few for the MLP's own split
        assert code == 0, err
        assert not (tmp_path / "data" / "Cora" / "processed").exists() and not (tmp_path / "cache").exists()
    finally:
        for p in [tmp_path / "data", *(tmp_path / "data").rglob("*")]:
            p.chmod(0o755)
    result = json.loads(out.splitlines()[-1])
    final, _ = _metrics(result["run_dir"])
    assert final["test"]["accuracy"] == pytest.approx(result["test"]["accuracy"])
    ckpt = f"{result['run_dir']}/best.pt"
    code, out, err = _main(capsys, "evaluate", "--checkpoint", ckpt, "--device", "cpu")
    assert code == 0, err
    assert json.loads(out)["accuracy"] == pytest.approx(final["test"]["accuracy"])
    code, out, err = _main(capsys, "predict", "--checkpoint", ckpt, "--device", "cpu", "3", "517")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["input"] for r in rows] == ["3", "517"]
    assert all(r["label"] in ("0", "1", "2") and abs(sum(r["probabilities"].values()) - 1) < 1e-4 for r in rows)
    code, out, err = _main(capsys, "predict", "--checkpoint", ckpt, "--device", "cpu", "all")
    assert code == 0 and len(json.loads(out)["labels"]) == 518
    code, out, err = _main(capsys, "predict", "--checkpoint", ckpt, "--device", "cpu", "9999")
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("error: ") and "node(s) '9999' are not in the graph" in last


def test_evaluate_on_a_csv_graph_maps_classes_by_name(tmp_path, capsys):
    nodes = [f"n{i},{i % 2},{(i // 2) % 2},{'ab'[i % 2]}" for i in range(40)]
    root = write_csv_graph(tmp_path / "g", nodes, [f"n{i},n{(i + 2) % 40}" for i in range(40)])
    code, out, err = _main(capsys, "train", "--data", str(root), "--out", str(tmp_path), "--device", "cpu",
                           "--epochs", "30", "--set", "train.baselines=false")
    assert code == 0, err
    ckpt = json.loads(out.splitlines()[-1])["run_dir"] + "/best.pt"
    other = write_csv_graph(tmp_path / "h", [f"m{i},{i % 2},0,{'ab'[i % 2]}" for i in range(10)],
                            [f"m{i},m{(i + 2) % 10}" for i in range(10)])
    code, out, err = _main(capsys, "evaluate", "--checkpoint", ckpt, "--data", str(other), "--device", "cpu")
    assert code == 0, err
    block = json.loads(out)
    assert sum(map(sum, block["confusion_matrix"])) == 10  # no test split there: all 10 labelled nodes
    bad = write_csv_graph(tmp_path / "k", ["x,1,a", "y,2,b"], ["x,y"], header="id,f1,label")
    code, out, err = _main(capsys, "evaluate", "--checkpoint", ckpt, "--data", str(bad), "--device", "cpu")
    assert code == 2 and "nodes have 1 features; the model was trained on 2" in err


def test_graph_classification_beats_a_bag_of_node_features(tmp_path, capsys):
    code, out, err = _main(capsys, "train", "--out", str(tmp_path), "--device", "cpu", "--model", "gin",
                           "--epochs", "15", "--set", "task.mode=graph", "model.options.hidden=32")
    assert code == 0, err
    final, _ = _metrics(json.loads(out.splitlines()[-1])["run_dir"])
    gin, bag = final["test"]["accuracy"], final["baselines"]["linear"]["test"]["accuracy"]
    assert gin > 0.9 and gin > bag + 0.3, (gin, bag)
    assert sum(map(sum, final["test"]["confusion_matrix"])) == 60  # 10% of 600 graphs


def test_bad_choices_are_one_clear_line(capsys):
    code, _, err = _main(capsys, "train", "--device", "cpu", "--set", "task.mode=graph", "--model", "gat")
    assert code == 2 and "model 'gat' does not classify graphs; task.mode=graph needs one of: gin" in err
    code, _, err = _main(capsys, "train", "--device", "cpu", "--set", "data.dataset=motifs")
    assert code == 2 and "graph-mode set" in err
    code, _, err = _main(capsys, "train", "--device", "cpu", "--set", "task.mode=edge")
    assert code == 2 and "task.mode must be node or graph" in err
