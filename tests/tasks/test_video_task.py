"""The video task end to end: the 3D CNN learns motion that the mean-frame baseline cannot
see; train -> evaluate -> predict -> export on a folder of encoded videos, .npy clips and
frame folders; bad input."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image

from convkit.cli import main
from convkit.tasks.video.synthetic import render_motion_clip
from convkit.tasks.video.task import TASK, shuffle_frames
from convkit.train.inference import load_trained

av = pytest.importorskip("av")

TINY = ("model.options.width_mult=0.0625", "model.options.hidden=32")


def _main(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(TASK, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _run_dir(out: str) -> str:
    return json.loads(out.strip().splitlines()[-1])["run_dir"]


def test_3d_cnn_learns_motion_the_mean_frame_cannot_see(tmp_path, capsys):
    # right and left are exact time reversals of one another: the same frames in the other
    # order, so no single frame (and no mean frame) tells them apart
    code, out, _ = _main(capsys, "train", "--out", str(tmp_path), "--epochs", "20", "--device", "cpu",
                         "--set", "data.motions=right,left", "data.n_per_class=40", "data.size=16",
                         "data.frames=10", "data.clip_len=8", "data.clips_per_video=1", "task.frame_epochs=1",
                         "train.batch_size=8")
    assert code == 0
    metrics = json.load(open(f"{_run_dir(out)}/metrics.json"))
    test = metrics["test"]
    assert metrics["model"] == "c3d_small"
    assert set(metrics["baselines"]) == {"linear", "mlp", "per_frame_cnn"}
    # 2 classes (chance 0.5), 64 training videos, 20 epochs of batch 8 (160 steps; 8 test
    # videos), about 10 s of CPU: measured video accuracy 1.0 for seeds 0, 1 and 2, shuffled
    # frames 0.375 / 0.25 / 0.125, linear 0.375. Fewer steps stay on the plateau where the
    # axis is known but not the direction.
    assert test["video_accuracy"] >= 0.85, test
    assert metrics["baselines"]["linear"]["test"]["accuracy"] <= 0.75, metrics["baselines"]
    assert test["shuffled_frames_clip_accuracy"] < test["clip_accuracy"] - 0.2, test


def test_shuffle_frames_is_a_fixed_permutation_of_time():
    clips = torch.arange(16.0).view(1, 1, 16, 1, 1).repeat(2, 3, 1, 2, 2)
    state = torch.get_rng_state()
    shuffled = shuffle_frames(clips)
    assert torch.equal(torch.get_rng_state(), state)                  # the run's RNG is untouched
    assert torch.equal(shuffled, shuffle_frames(clips))
    assert sorted(shuffled[0, 0, :, 0, 0].tolist()) == list(range(16))
    assert not torch.equal(shuffled, clips)


def _write(path, video: np.ndarray, kind: str) -> None:
    if kind == "mp4":
        with av.open(str(path) + ".mp4", "w") as out:
            stream = out.add_stream("mpeg4", rate=10)
            stream.height, stream.width, stream.pix_fmt = video.shape[1], video.shape[2], "yuv420p"
            for f in video:
                for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    elif kind == "npy":
        np.save(str(path) + ".npy", video)
    else:
        path.mkdir()
        for i, f in enumerate(video):
            Image.fromarray(f).save(path / f"{i:02d}.png")


def make_clip_folder(root, per_class: int, seed: int) -> None:
    """``root/{right,left,still}/<clip>``: generated motions as .mp4 files, .npy clips and
    frame folders (every class has every kind)."""
    rng = np.random.default_rng(seed)
    kinds = ("mp4", "npy", "frames")
    for motion in ("right", "left", "still"):
        (root / motion).mkdir(parents=True)
        for i in range(per_class):
            _write(root / motion / f"c{i}", render_motion_clip(motion, rng, 10, 32), kinds[i % 3])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    make_clip_folder(root / "train", 9, seed=0)
    make_clip_folder(root / "test", 3, seed=1)
    out = tmp_path_factory.mktemp("runs")
    code = main(TASK, ["train", "--data", str(root), "--out", str(out), "--epochs", "2", "--device", "cpu",
                       "--batch-size", "8", "--set", "data.clip_len=8", "data.crop=24", "data.resize=28",
                       "data.clips_per_video=2", "train.baselines=false", *TINY])
    assert code == 0
    return root, next((out / "runs" / "video").iterdir())


def test_train_evaluate_predict_export_round_trip(trained, tmp_path, capsys):
    root, run_dir = trained
    metrics = json.load(open(run_dir / "metrics.json"))
    assert metrics["params"] > 0 and len(metrics["test"]["confusion_matrix"]) == 3

    code, out, _ = _main(capsys, "evaluate", "--checkpoint", str(run_dir / "best.pt"), "--data", str(root))
    assert code == 0
    evaluated = json.loads(out.strip().splitlines()[-1])
    assert evaluated["video_accuracy"] == pytest.approx(metrics["test"]["video_accuracy"])
    assert evaluated["clip_accuracy"] == pytest.approx(metrics["test"]["clip_accuracy"])

    files = [str(root / "test" / "right" / "c0.mp4"), str(root / "test" / "left" / "c1.npy")]
    code, out, _ = _main(capsys, "predict", "--checkpoint", str(run_dir / "best.pt"), *files)
    assert code == 0
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["input"] for r in rows] == files
    assert all(len(r["top"]) == 3 and r["top"][0]["label"] == r["label"] for r in rows)
    assert all(abs(sum(t["probability"] for t in r["top"]) - 1) < 1e-4 for r in rows)

    onnx_path = tmp_path / "video.onnx"
    code, _, _ = _main(capsys, "export", "--checkpoint", str(run_dir / "best.pt"), "--format", "onnx",
                       "--output", str(onnx_path))
    assert code == 0
    model = load_trained(TASK, str(run_dir / "best.pt")).model
    clips = torch.randn(2, 3, 8, 24, 24)
    session = onnxruntime.InferenceSession(str(onnx_path))
    got = session.run(None, {session.get_inputs()[0].name: clips.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model.eval()(clips).numpy(), atol=1e-4, rtol=1e-4)


def test_bad_video_input_is_one_clear_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    (empty / "a" / "notes.txt").write_text("no clips here")
    code, _, err = _main(capsys, "train", "--data", str(empty), "--out", str(tmp_path / "o"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no clips found" in err

    data = tmp_path / "data"
    make_clip_folder(data, 3, seed=2)
    (data / "right" / "broken.mp4").write_bytes(b"")
    code, _, err = _main(capsys, "train", "--data", str(data), "--out", str(tmp_path / "o"), "--set",
                         "data.strict=true")
    assert code == 2 and "broken.mp4: empty file" in err and len(err.strip().splitlines()) == 1
    code, _, err = _main(capsys, "predict", "--checkpoint", str(tmp_path / "missing.pt"), "x.mp4")
    assert code == 2 and len(err.strip().splitlines()) == 1
