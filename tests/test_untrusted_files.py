"""No file a user points convkit at can run code: a crafted pickle (an object whose
``__reduce__`` runs a shell command that creates a marker file) is planted in every
place convkit reads from disk (Planetoid raw files, a ``processed/`` folder beside them,
checkpoints for ``evaluate`` and ``--resume``, ``.npy`` video clips, point-cloud
``.npy``/``.npz`` files, graph sets as ``.npz`` and ``.pt``) and the marker never appears;
a file convkit refuses is one ``error:`` line naming it and exit status 2."""

from __future__ import annotations

import os
import pickle
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from convkit.cli import main
from convkit.tasks.graph.task import TASK as GRAPH
from convkit.tasks.pointcloud.task import TASK as POINTCLOUD
from convkit.tasks.video.task import TASK as VIDEO
from tests.tasks.test_graph_data import write_planetoid


class Payload:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@pytest.fixture
def marker(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CONVKIT_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "MARKER"
    # the payload itself works: unpickling it unguarded creates the marker
    pickle.loads(pickle.dumps(Payload(tmp_path / "probe")))
    assert (tmp_path / "probe").exists()
    return path


def _run(capsys, task, *argv: str) -> tuple[int, str]:
    code = main(task, list(argv))
    return code, capsys.readouterr().err


def _refused(code: int, err: str, file: Path, marker: Path) -> None:
    """Exit 2, the last stderr line one ``error:`` line naming ``file``; no marker."""
    assert not marker.exists(), "the crafted pickle ran"
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert code == 2 and last.startswith("error: ") and str(file) in last, err[-2000:]
    assert "Traceback" not in err


def _crafted_npy(path: Path, marker: Path) -> Path:
    np.save(path, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    return path


@pytest.mark.parametrize("suffix", ["x", "graph", "ally"])
def test_planetoid_raw_file_is_never_unpickled_unrestricted(tmp_path, marker, capsys, suffix):
    write_planetoid(tmp_path / "Cora")
    crafted = tmp_path / "Cora" / "raw" / f"ind.cora.{suffix}"
    crafted.write_bytes(pickle.dumps(Payload(marker), protocol=2))
    code, err = _run(capsys, GRAPH, "train", "--data", str(tmp_path / "Cora"), "--out", str(tmp_path / "out"),
                     "--device", "cpu", "--epochs", "1", "--set", "train.baselines=false")
    _refused(code, err, crafted, marker)
    assert not (tmp_path / "out" / "runs").exists() or not any((tmp_path / "out" / "runs").rglob("*.pt"))


def test_a_processed_folder_beside_planetoid_raw_is_ignored(tmp_path, marker, capsys):
    write_planetoid(tmp_path / "Cora")
    processed = tmp_path / "Cora" / "processed"
    processed.mkdir()
    for name in ("data.pt", "pre_transform.pt", "pre_filter.pt"):
        torch.save(Payload(marker), processed / name)
    code, err = _run(capsys, GRAPH, "train", "--data", str(tmp_path / "Cora"), "--out", str(tmp_path / "out"),
                     "--device", "cpu", "--epochs", "1", "--set", "train.baselines=false")
    assert not marker.exists(), "a file in processed/ was unpickled"
    assert code == 0, err[-2000:]
    assert sorted(p.name for p in processed.iterdir()) == ["data.pt", "pre_filter.pt", "pre_transform.pt"]


def test_crafted_checkpoints_are_refused_by_evaluate_and_resume(tmp_path, marker, capsys):
    crafted = tmp_path / "crafted.pt"
    torch.save({"format": 1, "model": Payload(marker), "task": "graph"}, crafted)
    code, err = _run(capsys, GRAPH, "evaluate", "--checkpoint", str(crafted), "--device", "cpu")
    _refused(code, err, crafted, marker)
    code, err = _run(capsys, GRAPH, "train", "--resume", str(crafted), "--out", str(tmp_path / "out"),
                     "--device", "cpu")
    _refused(code, err, crafted, marker)


def test_crafted_npy_video_clip_is_refused(tmp_path, marker, capsys):
    root = tmp_path / "clips"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            np.save(root / cls / f"c{i}.npy", np.zeros((4, 8, 8, 3), dtype=np.uint8))
    crafted = _crafted_npy(root / "a" / "crafted.npy", marker)
    code, err = _run(capsys, VIDEO, "train", "--data", str(root), "--out", str(tmp_path / "out"), "--device", "cpu",
                     "--epochs", "1", "--set", "data.strict=true", "data.clip_len=2", "train.baselines=false")
    _refused(code, err, crafted, marker)


def test_crafted_point_cloud_npy_and_npz_are_refused(tmp_path, marker, capsys):
    root = tmp_path / "clouds"
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            np.save(root / cls / f"s{i}.npy", rng.normal(size=(32, 3)))
    crafted = _crafted_npy(root / "b" / "crafted.npy", marker)
    argv = ("--out", str(tmp_path / "out"), "--device", "cpu", "--epochs", "1", "--set", "data.strict=true",
            "data.num_points=16", "train.baselines=false")
    code, err = _run(capsys, POINTCLOUD, "train", "--data", str(root), *argv)
    _refused(code, err, crafted, marker)
    npz = tmp_path / "clouds.npz"
    np.savez(npz, points=np.array([Payload(marker)] * 6, dtype=object), labels=np.arange(6) % 2)
    code, err = _run(capsys, POINTCLOUD, "train", "--data", str(npz), *argv)
    _refused(code, err, npz, marker)


def test_crafted_graph_sets_are_refused(tmp_path, marker, capsys):
    npz = tmp_path / "graphs.npz"
    np.savez(npz, x=np.array([Payload(marker)], dtype=object), edge_index=np.zeros((2, 0), dtype=np.int64),
             num_nodes=np.array([1]), num_edges=np.array([0]), y=np.array([0]))
    pt = tmp_path / "graphs.pt"
    torch.save({"x": Payload(marker), "edge_index": torch.zeros(2, 0, dtype=torch.long), "num_nodes": [1],
                "num_edges": [0], "y": [0]}, pt)
    for crafted in (npz, pt):
        code, err = _run(capsys, GRAPH, "train", "--data", str(crafted), "--out", str(tmp_path / "out"),
                         "--device", "cpu", "--epochs", "1", "--set", "task.mode=graph", "model.name=gin",
                         "train.baselines=false")
        _refused(code, err, crafted, marker)
