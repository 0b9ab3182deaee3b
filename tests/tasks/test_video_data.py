"""Video data: PyAV decoding of videos the tests encode, .npy clips and frame folders,
UCF101 split lists, clip sampling (uniform, random per epoch, looping), the motion
generator, and one clear line for each kind of bad input."""

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from convkit.tasks.video.data import (
    DecodedVideos,
    VideoClips,
    clip_indices,
    load_video_dataset,
    prepare_video,
    read_clip,
    read_video_file,
    resize_video,
    uniform_starts,
)
from convkit.tasks.video.synthetic import MOTIONS, make_motion_clips
from convkit.errors import DataError

av = pytest.importorskip("av")


def encode(path, frames, fps=10, pix_fmt="yuv420p", codec="mpeg4"):
    """Write uint8 ``[T, H, W, 3]`` (or ``[T, H, W]`` grey) frames as a video file."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        for f in frames:
            fmt = "gray" if f.ndim == 2 else "rgb24"
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format=fmt)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def ramp(t=6, h=16, w=16):
    """Frames whose brightness encodes the frame index (8, 32, 56, ...): flat colours
    survive lossy coding within a few levels."""
    return np.stack([np.full((h, w, 3), 8 + 24 * i, np.uint8) for i in range(t)])


@pytest.mark.parametrize("suffix,codec", [(".mp4", "mpeg4"), (".avi", "mpeg4"), (".mkv", "mpeg4")])
def test_decodes_encoded_videos_frame_for_frame(tmp_path, suffix, codec):
    frames = ramp()
    encode(tmp_path / f"v{suffix}", frames, codec=codec)
    video = read_video_file(tmp_path / f"v{suffix}")
    assert video.dtype == np.uint8 and video.shape == (6, 16, 16, 3)
    np.testing.assert_allclose(video.reshape(6, -1).mean(1), frames.reshape(6, -1).mean(1), atol=4)


def test_grey_video_comes_out_rgb(tmp_path):
    grey = np.stack([np.full((16, 16), 30 * i + 10, np.uint8) for i in range(4)])
    encode(tmp_path / "g.avi", grey, pix_fmt="gray", codec="ffv1")
    video = read_video_file(tmp_path / "g.avi")
    assert video.shape == (4, 16, 16, 3)
    assert np.abs(video[..., 0].astype(int) - video[..., 2]).max() <= 1  # R == B: grey


def test_npy_clips_and_frame_folders(tmp_path):
    clip = np.random.default_rng(0).integers(0, 255, (5, 8, 10, 3), dtype=np.uint8)
    np.save(tmp_path / "c.npy", clip)
    assert np.array_equal(read_clip(tmp_path / "c.npy"), clip)
    np.save(tmp_path / "grey.npy", clip[..., 0])
    assert np.array_equal(read_clip(tmp_path / "grey.npy"), np.repeat(clip[..., :1], 3, -1))
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(clip):
        Image.fromarray(f).save(folder / f"{i:03d}.png")
    assert np.array_equal(read_clip(folder), clip)


def test_bad_inputs_give_one_clear_line(tmp_path, monkeypatch):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty.mp4: empty file \(0 bytes\); expected a video"):
        read_clip(tmp_path / "empty.mp4")
    (tmp_path / "junk.avi").write_bytes(b"not a video at all" * 10)
    with pytest.raises(DataError, match=r"junk.avi: cannot decode video"):
        read_clip(tmp_path / "junk.avi")
    np.save(tmp_path / "float.npy", np.zeros((4, 8, 8, 3), np.float32))
    with pytest.raises(DataError, match=r"float.npy: expected a uint8 clip \[T, H, W, C\] with C 1 or 3; "
                                         r"got float32 \[4, 8, 8, 3\]"):
        read_clip(tmp_path / "float.npy")
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "0.png")
    Image.fromarray(np.zeros((8, 9, 3), np.uint8)).save(folder / "1.png")
    with pytest.raises(DataError, match=r"1.png: frame of size 9x8, but 0.png is 8x8"):
        read_clip(folder)
    with pytest.raises(DataError, match=r"no such folder"):
        load_video_dataset(tmp_path / "nope")
    (tmp_path / "noclips" / "a").mkdir(parents=True)
    (tmp_path / "noclips" / "a" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match=r"noclips: no clips found; expected <class>/<clip> folders"):
        load_video_dataset(tmp_path / "noclips")
    encode(tmp_path / "ok.mp4", ramp(2))
    monkeypatch.setitem(sys.modules, "av", None)  # PyAV missing
    with pytest.raises(DataError, match=r"^reading video files needs PyAV: install convkit\[video\]"):
        read_clip(tmp_path / "ok.mp4")


def _folder_dataset(root, n_per_class=5):
    """Two classes; class a as encoded .mp4 files, class b as .npy clips; one corrupt file."""
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
    for i in range(n_per_class):
        encode(root / "a" / f"{i}.mp4", ramp(6 + i))
        np.save(root / "b" / f"{i}.npy", np.full((3, 16, 16, 3), 200, np.uint8))  # short: 3 frames
    (root / "a" / "broken.mp4").write_bytes(b"")


def test_folder_dataset_splits_skips_bad_files_and_strict_mode(tmp_path):
    _folder_dataset(tmp_path / "ds")
    with pytest.warns(UserWarning, match=r"skipping .*broken.mp4: empty file"):
        splits = load_video_dataset(tmp_path / "ds", seed=0)
    assert splits.label_names == ["a", "b"]
    sizes = [len(s) for s in (splits.train, splits.val, splits.test)]
    assert sum(sizes) == 10 and min(sizes) >= 2
    with pytest.raises(DataError, match="broken.mp4: empty file"):
        load_video_dataset(tmp_path / "ds", strict=True)


def test_ucf101_split_lists(tmp_path):
    root = tmp_path / "ucf"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 Jump\n2 Walk\n")
    train, test = [], []
    for cls in ("Jump", "Walk"):
        (root / "UCF-101" / cls).mkdir(parents=True)
        for g in range(1, 5):
            name = f"v_{cls}_g{g:02d}_c01.npy"
            np.save(root / "UCF-101" / cls / name, np.zeros((4, 8, 8, 3), np.uint8))
            (test if g == 1 else train).append(f"{cls}/{name}")
    (lists / "trainlist01.txt").write_text("".join(f"{p} {1 + p.startswith('Walk')}\n" for p in train))
    (lists / "testlist01.txt").write_text("".join(f"{p}\n" for p in test))
    splits = load_video_dataset(root)
    assert splits.label_names == ["Jump", "Walk"] and splits.extras["source"] == "ucf101 split 1"
    assert sorted(s.rsplit("/", 1)[1] for s in splits.test.sources) == ["v_Jump_g01_c01.npy", "v_Walk_g01_c01.npy"]
    val_groups = {s.split("_g")[1][:2] for s in splits.val.sources}
    train_groups = {s.split("_g")[1][:2] for s in splits.train.sources}
    assert val_groups == {"04"} and not val_groups & train_groups   # whole groups, no leak


def test_clip_sampling_uniform_random_per_epoch_and_looping():
    assert uniform_starts(20, 16, 1, 1) == [2] and uniform_starts(20, 4, 2, 3) == [0, 6, 13]
    assert clip_indices(5, 4, 2, 1).tolist() == [1, 3, 0, 2]  # loops past the end
    frames = np.arange(30, dtype=np.uint8)[:, None, None, None] * np.ones((1, 8, 8, 3), np.uint8)
    videos = DecodedVideos([frames, frames[:5]], np.array([0, 1]), ["long", "short"])
    plain = dict(mean=(0, 0, 0), std=(1 / 255, 1 / 255, 1 / 255))  # clips come back as raw pixel values
    train = VideoClips(videos, clip_len=4, stride=2, crop=6, train=True, seed=3, **plain)
    first = [train[i][0] for i in range(2)]
    assert first[0].shape == (3, 4, 6, 6)
    assert torch.equal(train[0][0], first[0])                          # deterministic within an epoch
    starts = set()
    for epoch in range(8):
        train.set_epoch(epoch)
        clip = train[0][0]
        steps = clip[0, :, 0, 0]
        assert torch.equal(steps - steps[0], torch.tensor([0.0, 2, 4, 6]))  # stride 2
        starts.add(int(steps[0]))
    assert len(starts) > 2                                             # a new random start per epoch
    evaluation = VideoClips(videos, clip_len=4, stride=1, crop=6, clips_per_video=3, **plain)
    assert len(evaluation) == 6 and evaluation.video_index.tolist() == [0, 0, 0, 1, 1, 1]
    assert [int(evaluation[i][0][0, 0, 0, 0]) for i in range(3)] == [0, 13, 26]
    assert evaluation[3][0][0, :, 0, 0].tolist() == [0, 1, 2, 3]


def test_resize_short_side_and_disk_cache(tmp_path):
    video = np.zeros((2, 20, 40, 3), np.uint8)
    assert resize_video(video, 10).shape == (2, 10, 20, 3)
    assert resize_video(video, (8, 8)).shape == (2, 8, 8, 3)
    clip = np.random.default_rng(1).integers(0, 255, (9, 8, 8, 3), dtype=np.uint8)
    np.save(tmp_path / "c.npy", clip)
    cached = prepare_video(tmp_path / "c.npy", frame_step=2, max_frames=3, cache_dir=tmp_path / "cache")
    assert isinstance(cached, np.memmap) and np.array_equal(cached, clip[::2][1:4])
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1


def test_generated_motion_clips_class_is_the_motion():
    videos, labels, names = make_motion_clips(n_per_class=4, frames=12, size=24, seed=0)
    assert names == list(MOTIONS) and videos.shape == (36, 12, 24, 24, 3) and videos.dtype == np.uint8
    again, _, _ = make_motion_clips(n_per_class=4, frames=12, size=24, seed=0)
    assert np.array_equal(videos, again)
    # the "still" videos change only by noise; moving ones change much more between frames
    diff = np.abs(np.diff(videos.astype(float), axis=1)).mean((1, 2, 3, 4))
    still, moving = diff[labels == MOTIONS.index("still")], diff[labels != MOTIONS.index("still")]
    assert still.max() < np.median(moving)
    # reversing a "right" video in time gives a "left" motion: same frames, other order
    right = videos[labels == MOTIONS.index("right")].astype(float)
    centre_x = lambda v: (np.abs(v - np.median(v, axis=(1, 2), keepdims=True)).sum(-1) * np.arange(24)).sum((1, 2))
    assert all(np.polyfit(np.arange(12), centre_x(v) / centre_x(v).mean(), 1)[0] > 0 for v in right)


# --------------------------------------------------------------------------- data_recipes/ucf101.py


def _ucf101_recipe():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "data_recipes" / "ucf101.py"
    spec = importlib.util.spec_from_file_location("ucf101_recipe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_ucf101(root, per_class=2):
    """A UCF101 look-alike: 101 class folders of tiny (non-video) .avi files and three
    splits, each testing the first clip of every class."""
    names = [f"Action{i:03d}" for i in range(101)]
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {n}\n" for i, n in enumerate(names)))
    clips = []
    for n in names:
        (root / "UCF-101" / n).mkdir(parents=True)
        for g in range(per_class):
            clip = f"{n}/v_{n}_g{g + 1:02d}_c01.avi"
            (root / "UCF-101" / clip).write_bytes(b"x")
            clips.append(clip)
    for split in (1, 2, 3):
        test = [c for c in clips if "_g01_" in c]
        (lists / f"trainlist0{split}.txt").write_text("".join(f"{c} 1\n" for c in clips if c not in test))
        (lists / f"testlist0{split}.txt").write_text("".join(f"{c}\n" for c in test))
    return names


def test_ucf101_recipe_checks_counts_lists_and_lays_out_links(tmp_path, capsys):
    recipe = _ucf101_recipe()
    src = tmp_path / "download"
    names = fake_ucf101(src / "UCF101")
    counts = {s: (101, 101) for s in (1, 2, 3)}
    report = recipe.check_ucf101(src, total=202, split_counts=counts)
    assert report["classes"] == names and set(report["clips_per_class"].values()) == {2}
    assert report["splits"] == counts
    out = recipe.lay_out(report, tmp_path / "out")
    assert (out / "UCF-101").is_symlink() and (out / "ucfTrainTestlist" / "classInd.txt").is_file()
    # the published counts are checked: this copy is far smaller
    with pytest.raises(DataError, match="holds 202 .avi clips; expected 13320"):
        recipe.check_ucf101(src)
    assert recipe.main(["--src", str(src)]) == 2
    assert "expected 13320" in capsys.readouterr().err
    # a listed clip gone from its folder (the count, then the list), then a whole class folder
    (src / "UCF101" / "UCF-101" / names[5] / f"v_{names[5]}_g02_c01.avi").unlink()
    with pytest.raises(DataError, match="holds 201"):
        recipe.check_ucf101(src, total=202, split_counts=counts)
    with pytest.raises(DataError, match=f"lists {names[5]}/v_{names[5]}_g02_c01.avi, which is not in"):
        recipe.check_ucf101(src, total=201, split_counts=counts)
    class_dir = src / "UCF101" / "UCF-101" / names[7]
    for f in class_dir.iterdir():
        f.unlink()
    class_dir.rmdir()
    with pytest.raises(DataError, match=f"missing \\['{names[7]}'\\]"):
        recipe.check_ucf101(src, total=200, split_counts=counts)
