"""Graph and video training data with fewer than two classes is refused before any model
or baseline is fitted (a classifier of one class scores accuracy 1.0 and scikit-learn's
baselines crash on it): exit 2, one ``error:`` line naming the file or folder and the
class, no run folder. Also ``graph info`` builds no graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from convkit import cli
from convkit.cli import main
from convkit.tasks.graph import data as G
from convkit.tasks.graph import synthetic
from convkit.tasks.graph.data import save_graph_set
from convkit.tasks.graph.synthetic import make_motif_graphs
from convkit.tasks.graph.task import TASK as GRAPH
from convkit.tasks.graph.task import GraphRunConfig
from convkit.tasks.video.task import TASK as VIDEO
from convkit.config import resolve_config
from tests.tasks.test_graph_data import write_csv_graph

TINY_VIDEO = ("data.clip_len=2", "task.frame_epochs=0", "task.baseline_max_train=50")


def _refused(capsys, task, out: Path, where: str, cls: str, *argv: str) -> None:
    code = main(task, [*argv, "--out", str(out), "--device", "cpu", "--epochs", "1"])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert code == 2 and last.startswith("error: "), err[-2000:]
    assert where in last and f"only one class ({cls!r}) in the training data" in last, last
    assert not list(out.rglob("*.pt")) and not list(out.rglob("metrics.json"))


@pytest.mark.parametrize("baselines", ["true", "false"])
def test_csv_graph_of_one_class_is_refused(tmp_path, capsys, baselines):
    nodes = [f"n{i},{i % 2},{i % 3},a" for i in range(30)]
    root = write_csv_graph(tmp_path / "g", nodes, [f"n{i},n{(i + 1) % 30}" for i in range(30)])
    _refused(capsys, GRAPH, tmp_path / "out", str(root / "nodes.csv"), "a", "train", "--data", str(root),
             "--set", f"train.baselines={baselines}")


def test_csv_graph_whose_train_split_has_one_class_is_refused(tmp_path, capsys):
    split = ["train"] * 10 + ["val"] * 10 + ["test"] * 10
    nodes = [f"n{i},{i % 2},{i % 3},{'a' if s == 'train' else 'ab'[i % 2]},{s}" for i, s in enumerate(split)]
    root = write_csv_graph(tmp_path / "g", nodes, [f"n{i},n{(i + 1) % 30}" for i in range(30)],
                           header="id,f1,f2,label,split")
    _refused(capsys, GRAPH, tmp_path / "out", str(root / "nodes.csv"), "a", "train", "--data", str(root))


@pytest.mark.parametrize("given_split", [False, True])
def test_graph_set_of_one_class_is_refused(tmp_path, capsys, given_split):
    graphs = make_motif_graphs(num_graphs=30, seed=0)
    for g in graphs:
        g.y = torch.tensor([0]) if not given_split or g.y.item() != 1 else g.y
    split = [0] * 20 + [1] * 5 + [2] * 5 if given_split else None
    if given_split:  # every training graph is a cycle; val/test hold other classes too
        graphs = [g for g in graphs if int(g.y) == 0][:20] + [g for g in graphs if int(g.y) == 1][:10]
    file = save_graph_set(tmp_path / "set.npz", graphs, label_names=["cycle", "tree"], split=split)
    _refused(capsys, GRAPH, tmp_path / "out", str(file), "cycle", "train", "--data", str(file),
             "--set", "task.mode=graph", "model.name=gin")


def _clips(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        np.save(folder / f"v_{folder.name}_g{i + 1:02d}_c01.npy", np.full((4, 8, 8, 3), 10 * i, np.uint8))


@pytest.mark.parametrize("baselines", ["true", "false"])
def test_video_folder_of_one_class_is_refused(tmp_path, capsys, baselines):
    _clips(tmp_path / "clips" / "walk", 6)
    _refused(capsys, VIDEO, tmp_path / "out", str(tmp_path / "clips"), "walk", "train", "--data",
             str(tmp_path / "clips"), "--set", f"train.baselines={baselines}", *TINY_VIDEO)


def test_video_train_folder_of_one_class_is_refused(tmp_path, capsys):
    root = tmp_path / "clips"
    _clips(root / "train" / "walk", 6)
    _clips(root / "test" / "walk", 2)
    _clips(root / "test" / "jump", 2)
    _refused(capsys, VIDEO, tmp_path / "out", str(root / "train"), "walk", "train", "--data", str(root),
             "--set", *TINY_VIDEO)


def test_ucf101_train_list_of_one_class_is_refused(tmp_path, capsys):
    root = tmp_path / "ucf"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 Jump\n2 Walk\n")
    for cls in ("Jump", "Walk"):
        _clips(root / "UCF-101" / cls, 4)
    (lists / "trainlist01.txt").write_text("".join(f"Walk/v_Walk_g{g:02d}_c01.npy 2\n" for g in range(1, 5)))
    (lists / "testlist01.txt").write_text("".join(f"Jump/v_Jump_g{g:02d}_c01.npy\n" for g in range(1, 5)))
    _refused(capsys, VIDEO, tmp_path / "out", str(lists / "trainlist01.txt"), "Walk", "train", "--data", str(root),
             "--set", *TINY_VIDEO)


# --------------------------------------------------------------------------- graph info


@pytest.mark.parametrize("sets", [[], ["data.dataset=karate"], ["task.mode=graph"]])
def test_graph_input_spec_builds_no_graph_and_equals_the_data(monkeypatch, sets):
    cfg = resolve_config(GraphRunConfig, sets=sets)
    runner = GRAPH.for_config(cfg)
    data = runner.build_data(cfg)

    def refuse(*args, **kwargs):
        raise AssertionError("info built a graph")

    with monkeypatch.context() as m:
        for name in ("make_sbm_graph", "load_karate", "make_motif_graphs"):
            m.setattr(synthetic, name, refuse)
        for name in ("load_planetoid", "load_csv_graph", "load_graph_file", "load_tu_folder"):
            m.setattr(G, name, refuse)
        m.setattr(type(runner), "build_data", refuse)
        spec = runner.input_spec(cfg)
        if not sets:
            text = cli.info_text(GRAPH)
            assert "models that fit the default input graph:" in text and "gcn" in text
    assert (spec.train, spec.val, spec.test) == (None, None, None)
    for key in ("input_kind", "spatial_dims", "in_channels", "input_shape", "input_dtype", "label_names"):
        assert getattr(spec, key) == getattr(data, key), key
    assert cli.models_that_fit(runner, cfg, spec) == cli.models_that_fit(runner, cfg, data)
