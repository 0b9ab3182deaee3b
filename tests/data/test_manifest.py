"""Manifests, label patterns and group splits (convkit.data.manifest, splits.group_split_indices)
for every task that reads one file per example: image, audio, video and point cloud.

Each fixture file carries its identity in its content (a constant sample value, a grey
level, a clip's pixel value, a cloud's aspect ratio), so the tests read back which file
landed in which split."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from convkit.cli import main
from convkit.config import resolve_config
from convkit.data.manifest import SPLIT_GROUPS_FILE, read_manifest
from convkit.data.splits import SPLIT_NAMES, group_split_indices
from convkit.errors import ConfigError, DataError
from convkit.tasks.audio.data import load_audio_dataset, load_audio_eval_set
from convkit.tasks.audio.task import TASK as AUDIO
from convkit.tasks.image.data import load_image_dataset, load_image_eval_set
from convkit.tasks.pointcloud.data import load_pointcloud_dataset
from convkit.tasks.video.data import load_video_dataset

SR = 16000
CLIP = 0.05  # seconds: 800 samples, so no padding hides the identity


# --------------------------------------------------------------------------- fixtures


def _wav(path: Path, ident: int) -> None:
    """A clip whose samples all equal ``ident / 1000``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full(int(CLIP * SR), ident / 1000, dtype=np.float32), SR, subtype="FLOAT")


def _wav_ids(dataset) -> list[int]:
    return [int(round(float(w.max()) * 1000)) for w in dataset.tensors[0]]


def _png(path: Path, ident: int) -> None:
    """An 8x8 grey image of level ``ident``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), ident, np.uint8)).save(path)


def _png_ids(dataset) -> list[int]:
    return [int(round(float(x.mean()) * 255)) for x in dataset.tensors[0]]


def _npy_clip(path: Path, ident: int) -> None:
    """A 4-frame 8x8 RGB clip of value ``ident``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.full((4, 8, 8, 3), ident, np.uint8))


def _video_ids(videos) -> list[int]:
    return [int(v[0, 0, 0, 0]) for v in videos.videos]


def _cloud(path: Path, ident: int) -> None:
    """32 points in a box of extents ``(1, 0.1 + 0.02 * ident, 0.3)``, its corners included,
    so the y/x extent ratio survives centring and scaling."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(ident)
    extent = np.array([1.0, 0.1 + 0.02 * ident, 0.3])
    points = rng.uniform(size=(32, 3)) * extent
    points[0], points[1] = 0.0, extent
    np.save(path, points)


def _cloud_ids(dataset) -> list[int]:
    pts = dataset.points.numpy()
    ratio = np.ptp(pts[:, :, 1], axis=1) / np.ptp(pts[:, :, 0], axis=1)
    return [int(round((r - 0.1) / 0.02)) for r in ratio]


WRITERS = {"audio": (_wav, ".wav"), "image": (_png, ".png"), "video": (_npy_clip, ".npy"),
           "pointcloud": (_cloud, ".npy")}


def _load(task: str, path: Path, seed: int = 0, **listing):
    """``task``'s loader on ``path`` -> (splits, {split: identities})."""
    if task == "audio":
        splits = load_audio_dataset(path, SR, CLIP, seed=seed, **listing)
        ids = {s: _wav_ids(getattr(splits, s)) for s in SPLIT_NAMES}
    elif task == "image":
        splits = load_image_dataset(path, 8, 1, seed=seed, **listing)
        ids = {s: _png_ids(getattr(splits, s)) for s in SPLIT_NAMES}
    elif task == "video":
        splits = load_video_dataset(path, seed=seed, **listing)
        ids = {s: _video_ids(getattr(splits, s)) for s in SPLIT_NAMES}
    else:
        splits = load_pointcloud_dataset(path, 32, seed=seed, **listing)
        ids = {s: _cloud_ids(getattr(splits, s)) for s in SPLIT_NAMES}
    return splits, ids


def _manifest_set(root: Path, task: str, groups: int = 6, per_group: int = 4,
                  split_of=None) -> tuple[Path, dict[int, tuple[str, str, str | None]]]:
    """A manifest ``root/data.csv`` over files in ``root/files/<group>/`` (paths relative to
    the manifest's folder), two classes; file ``ident`` belongs to group ``g{(ident - 1) //
    per_group}`` and session ``s{ident % 3}``; ``split_of(g)`` fills a split column. Returns
    the manifest and ``{ident: (label, group, split cell)}``."""
    write, suffix = WRITERS[task]
    rows, truth = [], {}
    header = "path,label,group" + (",split" if split_of else "") + ",session"
    for g in range(groups):
        for k in range(per_group):
            ident = 1 + g * per_group + k
            label = ("cat", "dog")[k % 2]
            rel = f"files/g{g}/{ident}{suffix}"
            write(root / rel, ident)
            split = split_of(g) if split_of else None
            truth[ident] = (label, f"g{g}", split)
            rows.append(f"{rel},{label},g{g}" + (f",{split}" if split_of else "") + f",s{ident % 3}")
    manifest = root / "data.csv"
    manifest.write_text(header + "\n" + "\n".join(rows) + "\n")
    return manifest, truth


TASKS = ("audio", "image", "video", "pointcloud")


# --------------------------------------------------------------------------- the group split


def test_group_split_keeps_every_group_on_one_side_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 30, 900)
    labels = rng.integers(0, 3, 900)
    parts = group_split_indices(labels, groups, seed=5)
    assert sorted(np.concatenate(parts).tolist()) == list(range(900))
    sides = [set(groups[p].tolist()) for p in parts]
    assert all(sides) and not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    # as stratified and as sized as whole groups allow: each part's share within 5 points
    for part, fraction in zip(parts, (0.8, 0.1, 0.1)):
        assert abs(len(part) / 900 - fraction) < 0.05
        shares = np.bincount(labels[part], minlength=3) / len(part)
        assert np.abs(shares - np.bincount(labels) / 900).max() < 0.1
    again = group_split_indices(labels, groups, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    others = [group_split_indices(labels, groups, seed=s)[2] for s in range(6)]
    assert len({tuple(p.tolist()) for p in others}) > 1  # the seed picks the groups


def test_four_equal_speakers_split_two_one_one() -> None:
    groups = np.repeat(["george", "jackson", "nicolas", "yweweler"], 50)
    labels = np.tile(np.arange(10), 20)
    parts = group_split_indices(labels, groups, seed=0)
    assert [len(set(groups[p].tolist())) for p in parts] == [2, 1, 1]


def test_too_few_groups_is_one_line() -> None:
    with pytest.raises(DataError) as err:
        group_split_indices([0, 1, 0, 1], ["a", "a", "b", "b"], where="list.csv (data.group_by=speaker)")
    message = str(err.value)
    assert message.startswith("list.csv (data.group_by=speaker): 2 groups ('a', 'b')") and "at least 3" in message
    assert "\n" not in message


# --------------------------------------------------------------------------- manifests, every task


@pytest.mark.parametrize("task", TASKS)
def test_manifest_split_column_is_used_as_given(tmp_path: Path, task: str) -> None:
    cells = {0: "train", 1: "train", 2: "Train", 3: "validation", 4: "test", 5: ""}
    meaning = {"train": "train", "Train": "train", "validation": "val", "test": "test", "": "train"}
    manifest, truth = _manifest_set(tmp_path / "data", task, split_of=cells.get)
    splits, ids = _load(task, manifest)
    assert splits.label_names == ["cat", "dog"]
    expected = {s: sorted(i for i, (_, _, cell) in truth.items() if meaning[cell] == s) for s in SPLIT_NAMES}
    assert {s: sorted(v) for s, v in ids.items()} == expected
    for s in SPLIT_NAMES:  # every example carries its own label
        dataset = getattr(splits, s)
        names = [splits.label_names[int(dataset[i][1])] for i in range(len(dataset))]
        assert names == [truth[i][0] for i in ids[s]]


@pytest.mark.parametrize("task", TASKS)
def test_manifest_groups_stay_on_one_side(tmp_path: Path, task: str) -> None:
    manifest, truth = _manifest_set(tmp_path / "data", task, groups=6)
    splits, ids = _load(task, manifest, seed=3)  # data.group_by empty: the group column
    sides = {s: {truth[i][1] for i in ids[s]} for s in SPLIT_NAMES}
    assert all(sides.values()) and sum(len(v) for v in sides.values()) == 6
    assert splits.extras["group_by"] == "group"
    assert splits.extras["split_groups"] == {s: sorted(v) for s, v in sides.items()}
    # another column as the group: sessions s0, s1, s2 are whole
    splits, ids = _load(task, manifest, seed=3, group_by="session")
    sessions = {s: {f"s{i % 3}" for i in ids[s]} for s in SPLIT_NAMES}
    assert sorted(len(v) for v in sessions.values()) == [1, 1, 1]


def test_manifest_paths_resolve_against_its_folder_not_the_working_directory(tmp_path, monkeypatch) -> None:
    manifest, truth = _manifest_set(tmp_path / "data", "audio")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    _, ids = _load("audio", Path("../data/data.csv"))
    assert sorted(sum(ids.values(), [])) == sorted(truth)


def test_manifest_eval_set_is_its_test_rows(tmp_path: Path) -> None:
    manifest, truth = _manifest_set(tmp_path / "data", "audio", split_of=lambda g: "test" if g == 5 else "train")
    test = load_audio_eval_set(manifest, ["dog", "cat"], SR, CLIP)
    assert sorted(_wav_ids(test)) == sorted(i for i, t in truth.items() if t[2] == "test")
    assert [["dog", "cat"][int(y)] for y in test.tensors[1]] == [truth[i][0] for i in _wav_ids(test)]
    manifest, _ = _manifest_set(tmp_path / "images", "image", split_of=lambda g: "test" if g == 0 else "train")
    assert sorted(_png_ids(load_image_eval_set(manifest, ["cat", "dog"], 8, 1))) == [1, 2, 3, 4]


def test_manifest_split_that_puts_a_group_on_two_sides_is_used_but_said(tmp_path: Path) -> None:
    manifest, _ = _manifest_set(tmp_path / "data", "audio", split_of=lambda g: ("train", "val", "test")[g % 3])
    text = manifest.read_text().replace("files/g0/1.wav,cat,g0,train", "files/g0/1.wav,cat,g0,test")
    manifest.write_text(text)
    with pytest.warns(UserWarning, match=r"puts 1 group group on more than one side \(first: 'g0'"):
        _, ids = _load("audio", manifest)
    assert 1 in ids["test"]


# --------------------------------------------------------------------------- label patterns


def _fsdd_like(root: Path, speakers=("ann", "bob", "cy", "dee", "eve")) -> dict[int, tuple[str, str]]:
    """``{digit}_{speaker}_{index}.wav`` in one flat folder; returns ``{ident: (digit, speaker)}``."""
    truth = {}
    for s, speaker in enumerate(speakers):
        for digit in range(3):
            for index in range(2):
                ident = 1 + s * 10 + digit * 2 + index
                _wav(root / f"{digit}_{speaker}_{index}.wav", ident)
                truth[ident] = (str(digit), speaker)
    return truth


def test_label_pattern_reads_a_flat_folder_and_keeps_speakers_whole(tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    truth = _fsdd_like(root)
    _wav(root / "README.wav", 999)  # matches no pattern: skipped and counted
    with pytest.warns(UserWarning, match=r"skipped 1 file .*README.wav: its name does not match"):
        splits, ids = _load("audio", root, label_pattern="{label}_{speaker}_{index}", group_by="speaker")
    assert splits.label_names == ["0", "1", "2"]
    assert splits.extras["skipped"] == [f"{root / 'README.wav'}: its name does not match data.label_pattern "
                                        "'{label}_{speaker}_{index}'"]
    speakers = {s: {truth[i][1] for i in ids[s]} for s in SPLIT_NAMES}
    assert sorted(len(v) for v in speakers.values()) == [1, 1, 3]
    assert set().union(*speakers.values()) == {"ann", "bob", "cy", "dee", "eve"}
    assert len(speakers["train"]) == 3
    for s in SPLIT_NAMES:  # each clip's label is the digit in its name
        dataset = getattr(splits, s)
        assert [splits.label_names[int(y)] for y in dataset.tensors[1]] == [truth[i][0] for i in ids[s]]
    with pytest.raises(DataError, match=r"README.wav: its name does not match"):
        load_audio_dataset(root, SR, CLIP, strict=True, label_pattern="{label}_{speaker}_{index}")


def test_label_pattern_over_paths_and_with_a_split_field(tmp_path: Path) -> None:
    root = tmp_path / "scans"
    for ident in range(1, 13):
        split = ("train", "train", "valid", "test")[ident % 4]
        _png(root / split / ("cat", "dog")[ident % 2] / f"p{ident % 5}_{ident}.png", ident)
    splits, ids = _load("image", root, label_pattern="{split}/{label}/{patient}_{index}")
    assert {s: sorted(v) for s, v in ids.items()} == {"train": [i for i in range(1, 13) if i % 4 < 2],
                   "val": [i for i in range(1, 13) if i % 4 == 2], "test": [i for i in range(1, 13) if i % 4 == 3]}
    labels = [splits.label_names[int(y)] for y in splits.test.tensors[1]]
    assert labels == [("cat", "dog")[i % 2] for i in ids["test"]]


@pytest.mark.parametrize("task", ["video", "pointcloud"])
def test_label_pattern_on_clips_and_clouds(tmp_path: Path, task: str) -> None:
    write, suffix = WRITERS[task]
    for ident in range(1, 19):
        write(tmp_path / "flat" / f"{('a', 'b')[ident % 2]}-{ident % 6}-{ident}{suffix}", ident)
    splits, ids = _load(task, tmp_path / "flat", label_pattern="{label}-{take}-{n}", group_by="take")
    takes = {s: {i % 6 for i in ids[s]} for s in SPLIT_NAMES}
    assert sorted(sum(ids.values(), [])) == list(range(1, 19))
    assert not (takes["train"] & takes["val"] or takes["train"] & takes["test"] or takes["val"] & takes["test"])


def test_the_audio_task_records_the_held_out_groups(tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    _fsdd_like(root, ("ann", "bob", "cy", "dee"))
    cfg = resolve_config(AUDIO.config_class, sets=[
        f"data.path={root}", "data.label_pattern={label}_{speaker}_{index}", "data.group_by=speaker",
        "data.sample_rate=8000", "data.duration=0.1", "task.n_fft=64", "task.hop_length=16", "task.n_mels=8"])
    data = AUDIO.build_data(cfg)
    groups = data.info.split_groups
    assert data.info.group_by == "speaker" and sorted(sum(groups.values(), [])) == ["ann", "bob", "cy", "dee"]
    assert [len(groups[s]) for s in SPLIT_NAMES] == [2, 1, 1]
    assert len(data.test) == len(data.val) == 6 and len(data.train) == 12  # a speaker: 3 digits x 2 takes


# --------------------------------------------------------------------------- bad manifests and settings


def _bad(tmp_path: Path, rows: list[str], header: str = "path,label,split") -> Path:
    root = tmp_path / "data"
    for i in range(3):
        _wav(root / f"ok{i}.wav", i + 1)
    manifest = root / "list.csv"
    manifest.write_text(header + "\n" + "\n".join(["ok0.wav,cat,train", "ok1.wav,dog,train"] + rows) + "\n")
    return manifest


@pytest.mark.parametrize("row, message", [
    ("gone.wav,cat,train", "line 4: 'gone.wav' does not exist"),
    ("ok2.wav,cat,holdout", "line 4: unknown split 'holdout'; expected one of train, val, valid, validation, test"),
    ("ok2.wav,,train", "line 4: empty label for 'ok2.wav'"),
    ("../outside.wav,cat,train", "line 4: '../outside.wav' lies outside the data folder"),
    ("ABS,cat,train", "line 4: "),
    ("ok0.wav,cat,test", "line 4: 'ok0.wav' is listed twice (first on line 2)"),
    ("ok2.wav,cat", "line 4: 2 values for the 3 columns path,label,split"),
])
def test_a_bad_manifest_row_is_one_line_naming_the_manifest_and_line(tmp_path: Path, row: str, message: str) -> None:
    _wav(tmp_path / "outside.wav", 50)
    row = row.replace("ABS", str(tmp_path / "outside.wav"))
    manifest = _bad(tmp_path, [row])
    with pytest.raises(DataError) as err:
        read_manifest(manifest)
    text = str(err.value)
    assert text.startswith(f"{manifest}, {message}") and "\n" not in text, text
    if "outside" in row:
        assert "lies outside the data folder" in text and "data.allow_outside_paths=true" in text
        assert len(read_manifest(manifest, allow_outside=True).entries) == 3


def test_a_manifest_without_a_label_column_or_rows_is_one_line(tmp_path: Path) -> None:
    manifest = _bad(tmp_path, [], header="path,class,split")
    with pytest.raises(DataError, match=r"list.csv: the header path,class,split lacks label"):
        read_manifest(manifest)
    manifest.write_text("path,label\n")
    with pytest.raises(DataError, match=r"list.csv: lists no examples"):
        read_manifest(manifest)
    with pytest.raises(DataError, match=r"gone.csv: no such manifest file; expected a CSV with columns path,label"):
        _load("image", tmp_path / "gone.csv")


@pytest.mark.parametrize("sets, message", [
    (["data.label_pattern={digit}_{speaker}"], "has no {label} field"),
    (["data.label_pattern={label}_{speaker}", "data.group_by=session"],
     "data.group_by='session' is not a field of data.label_pattern"),
    (["data.label_pattern={label}_{label}"], "the field {label} appears twice"),
    (["data.group_by=label"], "a group is a field other than path, label and split"),
])
def test_bad_listing_settings_are_config_errors(sets: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        resolve_config(AUDIO.config_class, sets=sets)


def test_group_by_a_missing_column_names_the_columns(tmp_path: Path) -> None:
    manifest, _ = _manifest_set(tmp_path / "data", "audio")
    with pytest.raises(ConfigError, match=r"data.group_by='patient': .*data.csv has no such field; "
                                          r"its fields: group, session"):
        _load("audio", manifest, group_by="patient")


def test_group_by_on_a_class_folder_says_what_gives_groups(tmp_path: Path) -> None:
    for i in range(6):
        _wav(tmp_path / "data" / ("cat", "dog")[i % 2] / f"{i}.wav", i + 1)
    with pytest.raises(ConfigError, match=r"data.group_by='speaker' needs fields to group by: a manifest"):
        _load("audio", tmp_path / "data", group_by="speaker")


def test_a_bad_manifest_stops_the_cli_with_one_line_and_no_run(tmp_path: Path, capsys) -> None:
    manifest = _bad(tmp_path, ["ok2.wav,cat,later"])
    argv = ["train", "--data", str(manifest), "--out", str(tmp_path / "out"), "--device", "cpu", "--epochs", "1"]
    code = main(AUDIO, argv)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and last == (f"error: {manifest}, line 4: unknown split 'later'; expected one of train, val, "
                                  "valid, validation, test (or an empty cell: a training row)"), last
    assert not any((tmp_path / "out").rglob("*.pt"))


def test_a_pattern_run_writes_its_split_groups(tmp_path: Path, capsys) -> None:
    root = tmp_path / "recordings"
    _fsdd_like(root, ("ann", "bob", "cy", "dee"))
    argv = ["train", "--data", str(root), "--out", str(tmp_path / "out"), "--device", "cpu", "--epochs", "1",
            "--set", "data.label_pattern={label}_{speaker}_{index}", "data.group_by=speaker",
            "data.sample_rate=8000", "data.duration=0.1", "task.n_fft=64", "task.hop_length=16", "task.n_mels=8",
            "train.baselines=false", "model.options.channels=[4, 4, 4, 4]"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(AUDIO, argv) == 0, capsys.readouterr().err[-2000:]
    (written,) = (tmp_path / "out").rglob(SPLIT_GROUPS_FILE)
    groups = json.loads(written.read_text())
    assert groups["group_by"] == "speaker"
    assert sorted(groups["train"] + groups["val"] + groups["test"]) == ["ann", "bob", "cy", "dee"]
