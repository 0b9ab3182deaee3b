"""Defaults that read the data: a point-cloud run on files sizes what the generated data
fixes (points per cloud, batch size, epochs) by the task's stated rules, logs them in one
line and records them in the run's config; a value given, and a recipe, always win."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pytest

from convkit.cli import main
from convkit.config import TrainConfig
from convkit.tasks.pointcloud.data import point_count, stored_point_counts
from convkit.tasks.pointcloud.task import (
    FILES_TASK,
    GENERATED_POINTS,
    MAX_SIZED_POINTS,
    SIZED_BATCH,
    SIZED_EPOCHS,
    SIZED_STEPS,
    TASK,
    PointCloudFilesRunConfig,
    PointCloudRunConfig,
    size_points,
    size_training,
)
from convkit.train.task import resolve_task_config

SLIM = ("model.options.mlp1=[8]", "model.options.mlp2=[8, 16]", "model.options.head=[8]",
        "model.options.tnet_mlp=[8, 16]", "model.options.tnet_fc=[8]")


def write_clouds(root, points: int, per_class: int = 6, suffix: str = ".npy"):
    """<class>/<i>.npy (or .txt/.xyz) clouds of ``points`` points: rods along x, y or z."""
    rng = np.random.default_rng(0)
    for axis, name in enumerate(("x", "y", "z")):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            cloud = rng.normal(0, 0.05, (points, 3))
            cloud[:, axis] *= 20
            if suffix == ".npy":
                np.save(folder / f"{i}{suffix}", cloud)
            else:
                np.savetxt(folder / f"{i}{suffix}", cloud)
    return root


def test_point_counts_come_from_the_headers_without_decoding(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((37, 6)))
    np.savetxt(tmp_path / "b.txt", np.zeros((12, 3)), header="x y z")
    (tmp_path / "c.ply").write_text("ply\nformat ascii 1.0\nelement vertex 5\nproperty float x\n"
                                    "property float y\nproperty float z\nend_header\n" + "0 0 0\n" * 5)
    (tmp_path / "d.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    assert [point_count(tmp_path / n) for n in ("a.npy", "b.txt", "c.ply", "d.off")] == [37, 12, 5, None]
    assert stored_point_counts(write_clouds(tmp_path / "set", 40, per_class=2)) == [40] * 6


def test_the_rules():
    assert size_points([128] * 9 + [2000]) == (128, f"data.num_points=128 (the files' median 128, at most "
                                                    f"{MAX_SIZED_POINTS})")
    assert size_points([5000] * 3)[0] == MAX_SIZED_POINTS
    assert size_points([None, None])[0] == MAX_SIZED_POINTS  # meshes are sampled to any count
    low, high = SIZED_BATCH
    for n_train, batch in ((20, low), (150, 15), (1211, high)):
        train = TrainConfig(epochs=0, batch_size=0)
        said = size_training(train, n_train)
        per_epoch = max(1, n_train // batch)
        assert train.batch_size == batch and len(said) == 2
        assert train.epochs == max(SIZED_EPOCHS[0], min(SIZED_EPOCHS[1], math.ceil(SIZED_STEPS / per_epoch)))
    given = TrainConfig(epochs=3, batch_size=5)
    assert size_training(given, 1000) == [] and (given.epochs, given.batch_size) == (3, 5)


def test_a_run_on_files_is_sized_by_the_data_unless_a_value_is_given(tmp_path, capsys):
    root = write_clouds(tmp_path / "clouds", 40)
    cache = f"data.cache_dir={tmp_path / 'cache'}"
    runner, cfg = resolve_task_config(TASK, flags={"data.path": str(root)}, sets=[cache])
    assert runner is FILES_TASK and isinstance(cfg, PointCloudFilesRunConfig)
    assert (cfg.data.num_points, cfg.train.epochs, cfg.train.batch_size) == (0, 0, 0)
    data = runner.build_data(cfg)
    log = capsys.readouterr().err.strip().splitlines()
    assert [line for line in log if line.startswith("sized by the data:")] == [log[-1]]
    assert "data.num_points=40" in log[-1] and "train.batch_size=8" in log[-1] and "train.epochs=" in log[-1]
    assert data.input_shape == (3, 40) and cfg.data.num_points == 40 and cfg.train.batch_size == SIZED_BATCH[0]
    assert cfg.train.epochs == max(SIZED_EPOCHS[0], min(SIZED_EPOCHS[1], math.ceil(SIZED_STEPS / (len(data.train)
                                                                                                   // 8 or 1))))

    given = resolve_task_config(TASK, flags={"data.path": str(root), "train.epochs": "2"},
                                sets=["data.num_points=16", cache])[1]
    FILES_TASK.build_data(given)
    assert (given.train.epochs, given.data.num_points, given.train.batch_size) == (2, 16, SIZED_BATCH[0])
    capsys.readouterr()
    recipe = resolve_task_config(TASK, [TASK.recipe("default")], flags={"data.path": str(root)}, sets=[cache])[1]
    FILES_TASK.build_data(recipe)
    assert "sized by the data" not in capsys.readouterr().err
    generated = PointCloudRunConfig()
    assert (recipe.train.epochs, recipe.data.num_points) == (generated.train.epochs, generated.data.num_points)
    assert TASK.for_config(generated) is TASK and generated.data.num_points == GENERATED_POINTS


def test_the_run_records_what_the_data_sized(tmp_path, capsys):
    root = write_clouds(tmp_path / "clouds", 24, per_class=5, suffix=".xyz")
    code = main(TASK, ["train", "--data", str(root), "--out", str(tmp_path / "out"), "--epochs", "1", "--device",
                       "cpu", "--set", "train.baselines=false", f"data.cache_dir={tmp_path / 'cache'}", *SLIM])
    assert code == 0, capsys.readouterr().err
    run_dir = next((tmp_path / "out" / "runs" / "pointcloud").iterdir())
    recorded = tomllib.loads((run_dir / "config.toml").read_text())
    assert (recorded["data"]["num_points"], recorded["train"]["batch_size"], recorded["train"]["epochs"]) == (24, 8, 1)


@pytest.mark.parametrize("bad", ["data.num_points=4", "train.epochs=-1"])
def test_bad_sizes_are_one_line(tmp_path, capsys, bad):
    code = main(TASK, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--set", bad])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and bad.split("=")[0] in err[-1] and "Traceback" not in "\n".join(err)
