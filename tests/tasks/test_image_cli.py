"""The image task from the command line on small image folders: train -> evaluate ->
predict -> export round trip, and bad data paths (each one clear line, nothing written)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image

from convkit.cli import main
from convkit.tasks.image.task import TASK
from convkit.train.checkpoint import load_checkpoint
from convkit.train.inference import load_trained

CLASSES = ("horizontal", "vertical", "diagonal")


def _bar_image(kind: str, rng: np.random.Generator, size: tuple[int, int] = (16, 16)) -> Image.Image:
    """A noisy grayscale image with a bright bar of ``kind`` at a random offset."""
    h, w = size
    img = rng.uniform(0, 60, size)
    k = int(rng.integers(3, min(h, w) - 3))
    if kind == "horizontal":
        img[k - 1:k + 1, 2:-2] = 255
    elif kind == "vertical":
        img[2:-2, k - 1:k + 1] = 255
    else:
        for i in range(2, min(h, w) - 2):
            img[i, i] = img[i, min(i + 1, w - 1)] = 255
    return Image.fromarray(img.astype(np.uint8), mode="L")


def make_folder(root, per_class: int, seed: int = 0, classes=CLASSES, sizes=((16, 16),)) -> None:
    """``root/<class>/<i>.png`` bar images (cycling through ``sizes``)."""
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            _bar_image(c, rng, sizes[i % len(sizes)]).save(root / c / f"{i}.png")


def _main(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(TASK, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


TRAIN = ("--epochs", "8", "--batch-size", "16", "--device", "cpu", "--set", "train.optimizer=adamw", "train.lr=0.003")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A LeNet-5 trained on a train/ + test/ folder of bar images (mixed sizes)."""
    root = tmp_path_factory.mktemp("bars")
    make_folder(root / "train", 60, seed=0, sizes=((16, 16), (20, 24)))
    make_folder(root / "test", 10, seed=1)
    out = tmp_path_factory.mktemp("out")
    code = main(TASK, ["train", "--data", str(root), "--out", str(out), *TRAIN, "train.name=bars"])
    assert code == 0
    return root, out / "runs" / "image" / "bars"


def test_training_on_a_folder_learns_and_reports_baselines(trained):
    _, run = trained
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.9  # 30 held-out images of 3 classes
    assert set(metrics["baselines"]) == {"linear", "mlp"}
    assert abs(metrics["baselines"]["mlp"]["params"] - metrics["params"]) / metrics["params"] < 0.02
    state = load_checkpoint(run / "best.pt", "image")
    assert state["data"]["label_names"] == sorted(CLASSES)
    assert state["data"]["input_shape"] == [1, 32, 32]  # mixed 16x16 and 20x24 images resized


def test_evaluate_own_split_and_other_folder(trained, capsys, tmp_path):
    root, run = trained
    code, out, _ = _main(capsys, "evaluate", "--checkpoint", str(run / "best.pt"), "--device", "cpu")
    assert code == 0
    assert json.loads(out) == json.loads((run / "metrics.json").read_text())["test"]
    # --data with a test/ split scores that split only (30 images)
    code, out, _ = _main(capsys, "evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(root))
    block = json.loads(out)
    assert code == 0 and len(out.splitlines()) == 1
    assert np.sum(block["confusion_matrix"]) == 30 and block["accuracy"] >= 0.9
    # a folder without splits is scored whole; a class subset maps onto the model's classes
    other = tmp_path / "other"
    make_folder(other, 5, seed=7, classes=("vertical", "horizontal"))
    code, out, _ = _main(capsys, "evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(other))
    cm = np.array(json.loads(out)["confusion_matrix"])
    assert code == 0 and cm.sum() == 10 and cm[0].sum() == 0  # no "diagonal" (class 0) images
    # unknown classes are one clear error
    make_folder(tmp_path / "alien", 3, classes=("vertical", "circle"))
    code, out, err = _main(capsys, "evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(tmp_path / "alien"))
    assert code == 2 and out == "" and "circle" in err and len(err.splitlines()) == 1


def test_predict_files_agrees_with_evaluate(trained, capsys, tmp_path):
    root, run = trained
    files = sorted((root / "test").glob("*/*.png"))
    code, out, _ = _main(capsys, "predict", "--checkpoint", str(run / "best.pt"), *map(str, files))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["input"] for r in rows] == list(map(str, files))
    assert all(math.isclose(sum(r["probabilities"].values()), 1.0, abs_tol=1e-4) for r in rows)
    assert all(r["label"] == max(r["probabilities"], key=r["probabilities"].get) for r in rows)
    hits = sum(r["label"] == f.parent.name for r, f in zip(rows, files))
    _, out, _ = _main(capsys, "evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(root))
    assert hits / len(files) == pytest.approx(json.loads(out)["accuracy"])  # the same preprocessing
    colour = tmp_path / "colour.png"
    Image.open(files[0]).convert("RGB").save(colour)  # converted to the model's one channel
    _, out, _ = _main(capsys, "predict", "--checkpoint", str(run / "best.pt"), str(colour))
    assert json.loads(out)["probabilities"] == pytest.approx(rows[0]["probabilities"], abs=1e-3)
    code, _, err = _main(capsys, "predict", "--checkpoint", str(run / "best.pt"), str(tmp_path / "nope.png"))
    assert code == 2 and "nope.png: no such file" in err


def test_export_onnx_and_torchscript_match(trained, capsys, tmp_path):
    _, run = trained
    model = load_trained(TASK, run / "best.pt").model
    x = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        expected = model(x).numpy()
    code, out, _ = _main(capsys, "export", "--checkpoint", str(run / "best.pt"), "--format", "onnx",
                         "--output", str(tmp_path / "m.onnx"))
    assert code == 0 and json.loads(out)["max_abs_diff"] <= 1e-4
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x.numpy()})[0], expected, atol=1e-4)  # batch of 3
    code, out, _ = _main(capsys, "export", "--checkpoint", str(run / "best.pt"), "--format", "torchscript",
                         "--output", str(tmp_path / "m.pt"))
    assert code == 0
    np.testing.assert_allclose(torch.jit.load(str(tmp_path / "m.pt"))(x).detach().numpy(), expected, atol=1e-5)


def _expect_data_error(capsys, tmp_path, data, fragment, *extra):
    out_dir = tmp_path / "out"
    code, out, err = _main(capsys, "train", "--data", str(data), "--out", str(out_dir), "--epochs", "1", *extra)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and fragment in err, err
    assert not (out_dir / "runs").exists()  # nothing written half


def test_bad_data_paths(tmp_path, capsys):
    _expect_data_error(capsys, tmp_path, tmp_path / "missing", "missing: no such folder")
    (tmp_path / "empty").mkdir()
    _expect_data_error(capsys, tmp_path, tmp_path / "empty", "empty")
    make_folder(tmp_path / "one", 5, classes=("vertical",))
    _expect_data_error(capsys, tmp_path, tmp_path / "one", "only one class")


def test_corrupt_image_is_skipped_with_a_warning_or_an_error_when_strict(tmp_path, capsys):
    root = tmp_path / "bars"
    make_folder(root, 12)
    (root / "vertical" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    _expect_data_error(capsys, tmp_path, root, "broken.png", "--set", "data.strict=true")
    (root / "vertical" / "broken2.png").write_bytes(b"junk")
    with pytest.warns(UserWarning, match="broken.png") as record:
        code, out, _ = _main(capsys, "train", "--data", str(root), "--out", str(tmp_path / "ok"), "--epochs", "1",
                             "--set", "train.baselines=false")
    assert code == 0 and json.loads(out)["test"]["accuracy"] >= 0.0
    skipped = [str(w.message) for w in record if "skipped" in str(w.message)]
    assert len(skipped) == 1 and "skipped 2 files" in skipped[0]  # one summary line, not one per file
    listing = (Path(json.loads(out)["run_dir"]) / "skipped_files.txt").read_text().splitlines()
    assert [Path(line.split(": ")[0]).name for line in listing] == ["broken.png", "broken2.png"]


def test_channels_last_and_bf16_runs_load_as_plain_models(tmp_path, capsys):
    root = tmp_path / "bars"
    make_folder(root, 12)
    code, out, _ = _main(capsys, "train", "--data", str(root), "--out", str(tmp_path), "--epochs", "1", "--set",
                         "train.channels_last=true", "train.precision=bf16", "train.baselines=false", "train.name=cl")
    assert code == 0
    trained = load_trained(TASK, tmp_path / "runs" / "image" / "cl" / "best.pt")
    spec, model = trained.spec, trained.model
    assert spec.input_shape == (1, 32, 32) and model(torch.rand(2, 1, 32, 32)).shape == (2, 3)


def test_recipes_resolve(tmp_path):
    from pathlib import Path

    from convkit import config as config_io

    recipes = list(TASK.recipes().values())
    assert {p.name for p in recipes} >= {"default.toml", "mnist.toml"}
    for recipe in recipes:
        config_io.resolve_config(TASK.config_class, recipe)
    assert config_io.resolve_config(TASK.config_class, recipes[[p.name for p in recipes].index("default.toml")]) \
        == TASK.config_class()
