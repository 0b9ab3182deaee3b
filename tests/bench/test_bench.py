"""The benchmark suite: the smoke run writes every file with a row per task, missing and
failing tasks are reported while the others run, and the probes, scaling fit and cost
figures hold the values they should."""

from __future__ import annotations

import json
import math

import pytest
import torch

from convkit.bench import command as bench_main
from convkit.bench import perf, probes, report, scaling, suite
from convkit.config import RunConfig
from convkit.errors import ConfigError, DataError
from convkit.train.task import ClassificationTask, Data


ALL = ["image", "text", "timeseries", "audio", "video", "pointcloud", "graph", "no_such_task"]
"""Every task, in the suite's order, and a name without a package (reported as missing)."""


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict, object]:
    """``python -m convkit.bench --profile smoke`` over every task plus ``no_such_task`` on
    CPU, through ``main`` (``no_such_task`` is made a known name without a package)."""
    out = tmp_path_factory.mktemp("bench")
    patch = pytest.MonkeyPatch()
    patch.setattr(suite, "TASK_NAMES", suite.TASK_NAMES + ("no_such_task",))
    try:
        rc = bench_main.main(["--profile", "smoke", "--tasks", ",".join(ALL), "--device", "cpu",
                              "--threads", "1", "--out", str(out)])
    finally:
        patch.undo()
    return rc, json.loads((out / "results.json").read_text()), out


def test_smoke_writes_every_file_with_a_row_per_task(smoke_run):
    rc, results, out = smoke_run
    assert rc == 0  # a missing task is reported, not fatal
    for name in report.FILES:
        assert (out / name).stat().st_size > 0, name
    assert [row["task"] for row in results["tasks"]] == ALL
    assert [row["status"] for row in results["tasks"]] == ["ok"] * 7 + ["missing"], \
        [(row["task"], row.get("error")) for row in results["tasks"]]  # every task made a row
    assert "convkit.tasks.no_such_task" in results["tasks"][-1]["error"]
    assert results["device"] == "cpu" and results["threads"] == 1 and results["torch"] == torch.__version__
    assert results["matmul_peak"]["gflops"] > 0
    table = (out / "results.md").read_text()
    for task in ALL:
        assert sum(line.startswith(f"| {task} |") for line in table.splitlines()) == 1
    assert "| no_such_task |" in table and "missing" in table


def test_smoke_rows_hold_every_figure(smoke_run):
    _, results, _ = smoke_run
    image, series = results["tasks"][0], results["tasks"][2]
    assert (image["metric"], series["metric"]) == ("accuracy", "pr_auc")
    assert image["model"] == "lenet5" and image["params"] == 61706
    assert image["flops_per_sample"] == 833040  # LeNet-5 on one 32x32 image (convkit.analysis)
    for row in (image, series):
        assert 0 <= row["quality"] <= 1
        assert row["baselines"]["linear"] is not None and row["baselines"]["mlp"] is not None
        assert row["train_flops_per_sample"] > 0 and row["train_seconds"] > 0
        assert row["train_samples_per_s"] > 0 and row["infer_samples_per_s"] > 0
        assert row["peak_memory_mb"] > 0
        assert 0 < row["peak_fraction"] < 1
        assert math.isclose(row["achieved_gflops"],
                            row["train_flops_per_sample"] * row["train_samples_per_s"] / 1e9, rel_tol=1e-9)


def test_smoke_probes_and_scaling(smoke_run):
    _, results, _ = smoke_run
    image_probe = results["tasks"][0]["probes"]
    assert image_probe["probe"] == "shift"
    assert set(image_probe["cnn"]) == {"clean", "perturbed"} and image_probe["mlp"]["params"] > 0
    assert image_probe["cnn"]["clean"] == pytest.approx(results["tasks"][0]["quality"])
    assert results["tasks"][2]["probes"]["cnn"] is None  # anomaly detection is not classification
    assert [c["name"] for c in results["scaling"]] == ["tcn", "gcn", "pointnet", "dgcnn", "cnn2d"]
    for curve in results["scaling"]:
        assert len(curve["seconds"]) == 4 and math.isfinite(curve["exponent"])


def test_a_failing_task_is_reported_and_the_rest_run(tmp_path, monkeypatch):
    class Broken(ClassificationTask):
        name = "broken"
        config_class = RunConfig
        profiles = {"smoke": ["train.epochs=1"]}

        def build_data(self, cfg):
            raise DataError("broken: no data here")

    real = suite.load_task
    monkeypatch.setattr(suite, "load_task", lambda name: Broken() if name == "image" else real(name))
    row = suite.run_task("image", "smoke", "cpu", tmp_path)
    assert (row["status"], row["stage"], row["error"]) == ("failed", "data", "DataError: broken: no data here")
    assert "| image |" in report.markdown({
        "profile": "smoke", "command": "x", "device": "cpu", "threads": 1, "torch": "t", "machine": report.machine(),
        "wall_seconds": 0.0, "tasks": [row]})


def test_unknown_task_and_missing_profile_are_one_line_errors():
    with pytest.raises(ConfigError, match="unknown task.*nope"):
        bench_main.parse_tasks("image,nope")
    assert bench_main.main(["--tasks", "nope", "--no-scaling"]) == 2

    class NoSmoke(ClassificationTask):
        name = "nosmoke"
        profiles = {"default": []}

    with pytest.raises(ConfigError, match="no 'smoke' profile"):
        suite.profile_sets(NoSmoke(), "smoke")
    assert suite.profile_sets(NoSmoke(), "full") == []


def test_perturbations():
    x = torch.arange(16.0).reshape(1, 1, 16)
    assert torch.equal(probes.roll_last_axis(x)[0, 0, :3], torch.tensor([14.0, 15.0, 0.0]))
    clip = torch.arange(4.0).reshape(1, 1, 4, 1, 1).expand(2, 3, 4, 2, 2)
    shuffled = probes.shuffle_axis(clip, 2, seed=0)
    assert sorted(shuffled[0, 0, :, 0, 0].tolist()) == [0, 1, 2, 3]
    assert torch.equal(shuffled[0], shuffled[1])  # one order for every example
    tokens = torch.tensor([[5, 6, 7, 8, 0, 0], [9, 10, 0, 0, 0, 0]])
    out = probes.shuffle_tokens(tokens, seed=1)
    assert torch.equal(out == 0, tokens == 0)
    assert [sorted(r[r != 0].tolist()) for r in out] == [[5, 6, 7, 8], [9, 10]]
    assert not torch.equal(out[0], tokens[0])


def test_remove_edges_keeps_features_and_leaves_the_original():
    from torch_geometric.data import Data as PygData

    from convkit.tasks.graph.data import NodeBatch

    graph = PygData(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]]))
    batch = NodeBatch(graph, torch.tensor([True, False, True]), {})
    bare = probes.remove_edges(batch)
    assert bare.graph.edge_index.shape == (2, 0) and torch.equal(bare.graph.x, graph.x)
    assert graph.edge_index.shape == (2, 2) and torch.equal(bare.mask, batch.mask)


def test_probe_names_follow_the_input_kind():
    kinds = [Data(None, None, None, input_kind=k, spatial_dims=d)
             for k, d in (("grid", 2), ("grid", 3), ("points", 0), ("tokens", 1), ("graph", 0))]
    assert [probes.probe_name(d) for d in kinds] == ["shift", "shuffled_frames", "permuted_points",
                                                     "shuffled_words", "no_edges"]


def test_fit_exponent_and_batch_sizes():
    sizes = [16, 32, 64, 128]
    assert scaling.fit_exponent(sizes, [3e-6 * s**2 for s in sizes]) == pytest.approx(2.0)
    assert scaling.fit_exponent(sizes, [0.5 * s for s in sizes]) == pytest.approx(1.0)
    assert perf.batch_size_of((torch.zeros(7, 3), torch.zeros(7))) == 7
    assert perf.batch_size_of({"x": torch.zeros(5, 2)}) == 5
