"""The point-cloud task: augmentation from the global RNG that keeps the frame unless
asked, the regulariser in the training loss, ModelNet's two metrics, and train ->
evaluate -> predict -> export on a folder of meshes and point files; bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from convkit.cli import main
from convkit.config import resolve_config
from convkit.errors import ConfigError
from convkit.models import create_model
from convkit.tasks.pointcloud.augment import PointAugment
from convkit.tasks.pointcloud.data import sample_surface
from convkit.tasks.pointcloud.synthetic import make_solids, solid_mesh
from convkit.tasks.pointcloud.task import TASK, PointCloudRunConfig, d2_histogram, mean_class_accuracy
from convkit.train.inference import load_trained

SLIM = ("model.options.mlp1=[16, 16]", "model.options.mlp2=[16, 32, 64]", "model.options.head=[32, 16]",
        "model.options.tnet_mlp=[16, 32, 64]", "model.options.tnet_fc=[32, 16]")


def _main(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(TASK, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _rod(n=64):
    """Clouds [2, 3, n] stretched along z."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, n, generator=g) * torch.tensor([0.1, 0.1, 1.0]).view(1, 3, 1)
    return x


def test_augmentation_draws_from_the_global_rng_and_keeps_the_frame_by_default():
    clouds = _rod()
    aug = PointAugment()
    torch.manual_seed(3)
    a = aug.apply(clouds)
    torch.manual_seed(3)
    assert torch.equal(aug.apply(clouds), a)                           # same seed, same batch
    assert not torch.equal(aug.apply(clouds), a)                       # the RNG moved on
    spread = a.std(dim=2)
    assert (spread[:, 2] > 4 * spread[:, :2].max(1).values).all()      # still upright: z stays the long axis
    assert not torch.equal(a, clouds)


def test_rotation_options_and_point_dropout():
    clouds = _rod()
    torch.manual_seed(0)
    plain = dict(scale=(1.0, 1.0), translate=0.0, jitter=0.0, shuffle=False)
    up = PointAugment(rotate="up", **plain).apply(clouds)
    torch.testing.assert_close(up[:, 2], clouds[:, 2])                 # z untouched by a turn about z
    torch.testing.assert_close(up[:, :2].norm(dim=1), clouds[:, :2].norm(dim=1))
    assert not torch.allclose(up, clouds)
    y_up = PointAugment(rotate="up", up_axis="y", **plain).apply(clouds)
    torch.testing.assert_close(y_up[:, 1], clouds[:, 1])
    so3 = PointAugment(rotate="so3", **plain).apply(clouds)
    torch.testing.assert_close(so3.norm(dim=1), clouds.norm(dim=1))
    assert (so3.std(dim=2)[:, 2] < 0.9 * clouds.std(dim=2)[:, 2]).any()  # tipped over
    dropped = PointAugment(point_dropout=0.9, **plain).apply(torch.randn(8, 3, 200))
    same_as_first = (dropped == dropped[:, :, :1]).all(1).float().mean(1)
    assert same_as_first.max() > 0.2 and same_as_first.min() >= 1 / 200
    shuffled = PointAugment(scale=(1.0, 1.0), translate=0.0, jitter=0.0).apply(clouds)
    assert sorted(shuffled[0, 2].tolist()) == sorted(clouds[0, 2].tolist())
    with pytest.raises(ConfigError, match="task.rotate"):
        resolve_config(PointCloudRunConfig, sets=["task.rotate=sideways"])


def test_training_loss_includes_pointnets_regulariser():
    torch.manual_seed(0)
    model = create_model("pointnet", num_classes=3, mlp1=(16, 16), mlp2=(16, 32), head=(16,),
                         tnet_mlp=(16, 32), tnet_fc=(16,))
    torch.nn.init.normal_(model.feature_tnet.transform.weight, std=0.1)
    x, y = torch.randn(4, 3, 32), torch.tensor([0, 1, 2, 0])
    torch.manual_seed(1)
    loss = TASK.training_step(model, (x, y))
    torch.manual_seed(1)
    logits, aux = model(x)
    assert aux.item() > 0
    assert loss.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item() + aux.item(), rel=1e-5)


def test_mean_class_accuracy_and_d2_features():
    pred, target = torch.tensor([0, 0, 1, 1, 1, 2]), torch.tensor([0, 0, 0, 1, 1, 2])
    assert mean_class_accuracy(pred, target) == pytest.approx((2 / 3 + 1 + 1) / 3)
    points, labels, _ = make_solids(2, 64, seed=0, classes=("sphere", "cube"))
    h = d2_histogram(torch.from_numpy(points).transpose(1, 2), bins=16)
    assert h.shape == (4, 16) and np.allclose(h.sum(1), 1.0)


def test_grid_models_are_refused_with_the_point_models_named():
    cfg = resolve_config(PointCloudRunConfig, sets=["model.name=resnet18", "data.n_per_class=3"])
    data = TASK.build_data(cfg)
    with pytest.raises(ConfigError, match="dgcnn, pointnet"):
        TASK.build_model(cfg, data)


def _write_off(path, vertices, faces):
    path.write_text("OFF\n{} {} 0\n".format(len(vertices), len(faces))
                    + "".join(f"{a} {b} {c}\n" for a, b, c in vertices)
                    + "".join(f"3 {a} {b} {c}\n" for a, b, c in faces))


def make_folder(root, n=6, seed=0):
    """ModelNet-like data: <class>/train|test/ with .off meshes and .npy / .ply clouds."""
    rng = np.random.default_rng(seed)
    for cls in ("sphere", "cube", "cone"):
        for split, count in (("train", n), ("test", 2)):
            d = root / cls / split
            d.mkdir(parents=True)
            for i in range(count):
                v, f = solid_mesh(cls, rng)
                if i % 3 == 0:
                    _write_off(d / f"{cls}_{i}.off", v * rng.uniform(0.5, 2), f)
                elif i % 3 == 1:
                    np.save(d / f"{cls}_{i}.npy", sample_surface(v, f, 100, rng))
                else:
                    pts = sample_surface(v, f, 80, rng)
                    (d / f"{cls}_{i}.ply").write_text(
                        "ply\nformat ascii 1.0\nelement vertex 80\nproperty float x\nproperty float y\n"
                        "property float z\nend_header\n" + "".join(f"{a} {b} {c}\n" for a, b, c in pts))
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = make_folder(tmp_path_factory.mktemp("clouds"))
    out = tmp_path_factory.mktemp("runs")
    code = main(TASK, ["train", "--data", str(root), "--out", str(out), "--epochs", "2", "--device", "cpu",
                       "--batch-size", "8", "--set", "data.num_points=48",
                       f"data.cache_dir={tmp_path_factory.mktemp('cache')}", *SLIM])
    assert code == 0
    return root, next((out / "runs" / "pointcloud").iterdir())


def test_train_evaluate_predict_export_round_trip(trained, tmp_path, capsys):
    root, run_dir = trained
    metrics = json.load(open(run_dir / "metrics.json"))
    assert metrics["model"] == "pointnet" and len(metrics["test"]["confusion_matrix"]) == 3
    assert 0 <= metrics["test"]["mean_class_accuracy"] <= 1
    assert set(metrics["baselines"]) >= {"linear", "mlp"}

    code, out, _ = _main(capsys, "evaluate", "--checkpoint", str(run_dir / "best.pt"), "--data", str(root))
    assert code == 0
    evaluated = json.loads(out.strip().splitlines()[-1])
    assert evaluated["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert evaluated["mean_class_accuracy"] == pytest.approx(metrics["test"]["mean_class_accuracy"])

    files = [str(root / "cube" / "test" / "cube_0.off"), str(root / "cone" / "test" / "cone_1.npy")]
    code, out, _ = _main(capsys, "predict", "--checkpoint", str(run_dir / "best.pt"), *files)
    assert code == 0
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert len(rows) == 2 and all(set(r["probabilities"]) == {"cone", "cube", "sphere"} for r in rows)

    onnx = pytest.importorskip("onnxruntime")
    path = tmp_path / "pointnet.onnx"
    code, _, _ = _main(capsys, "export", "--checkpoint", str(run_dir / "best.pt"), "--format", "onnx",
                       "--output", str(path))
    assert code == 0
    model = load_trained(TASK, str(run_dir / "best.pt")).model.eval()
    session = onnx.InferenceSession(str(path))
    for points in (48, 100):  # the points axis is dynamic
        clouds = torch.randn(2, 3, points)
        got = session.run(None, {session.get_inputs()[0].name: clouds.numpy()})[0]
        with torch.no_grad():
            np.testing.assert_allclose(got, model(clouds).numpy(), atol=1e-4, rtol=1e-4)


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    one = tmp_path / "one" / "cube"
    one.mkdir(parents=True)
    np.save(one / "a.npy", np.random.default_rng(0).normal(size=(20, 3)))
    code, _, err = _main(capsys, "train", "--data", str(tmp_path / "one"), "--out", str(tmp_path / "o"),
                         "--set", f"data.cache_dir={tmp_path / 'c'}")
    assert code == 2 and "only one class ('cube'); need at least two" in err.strip().splitlines()[-1]
    data = make_folder(tmp_path / "d", n=3)
    (data / "cube" / "train" / "bad.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 9\n")
    code, _, err = _main(capsys, "train", "--data", str(data), "--out", str(tmp_path / "o"), "--set",
                         "data.strict=true", f"data.cache_dir={tmp_path / 'c'}")
    assert code == 2 and "bad.off: a face indexes vertex 9, but the mesh has 3 vertices" in err.strip().splitlines()[-1]
    assert "Traceback" not in err


def test_recipes_and_info(capsys):
    assert resolve_config(PointCloudRunConfig, TASK.recipe("default")) == PointCloudRunConfig()
    paper = resolve_config(PointCloudRunConfig, TASK.recipe("modelnet40"))
    assert (paper.data.num_points, paper.train.batch_size, paper.train.optimizer, paper.train.lr) == (1024, 32, "adam", 0.001)
    assert (paper.train.schedule, paper.task.rotate) == ("step", "up")
    code, out, _ = _main(capsys, "info")
    assert code == 0 and "points" in out and "pointnet" in out and "dgcnn" in out and "resnet18" not in out
