"""Paths read from split lists and manifests stay inside the data folder: a UCF101/HMDB51
list line or an ESC-50 table row that climbs out (``..``, an absolute path, a link to a
file elsewhere) is one error naming the list, the line and the path, unless
``data.allow_outside_paths`` is set; a dataset folder that is itself a link (the UCF101
recipe's layout) still loads."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from convkit.cli import main
from convkit.errors import DataError
from convkit.tasks.audio.data import load_audio_dataset
from convkit.tasks.video.data import load_video_dataset, load_video_eval_set
from convkit.tasks.video.task import TASK as VIDEO


def _clip(path: Path, value: int = 0) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.full((4, 8, 8, 3), value, np.uint8))
    return str(path)


def _ucf(root: Path, videos: Path | None = None, extra_train: str = "") -> Path:
    """A two-class UCF101 layout; ``extra_train`` is appended to trainlist01.txt (line 7)."""
    videos = videos or root / "UCF-101"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 Jump\n2 Walk\n")
    train, test = [], []
    for cls in ("Jump", "Walk"):
        for g in range(1, 5):
            _clip(videos / cls / f"v_{cls}_g{g:02d}_c01.npy", g)
            (test if g == 1 else train).append(f"{cls}/v_{cls}_g{g:02d}_c01.npy")
    (lists / "trainlist01.txt").write_text("".join(f"{p} {1 + p.startswith('Walk')}\n" for p in train) + extra_train)
    (lists / "testlist01.txt").write_text("".join(f"{p}\n" for p in test))
    return lists


@pytest.fixture
def outside(tmp_path) -> Path:
    """A clip outside every data folder (what a crafted list tries to read)."""
    return Path(_clip(tmp_path / "secret_vid" / "outside.npy", 99))


@pytest.mark.parametrize("entry", ["Walk/../../../secret_vid/outside.npy", "ABS"])
def test_ucf101_list_line_outside_the_folder_is_refused(tmp_path, outside, entry):
    entry = str(outside) if entry == "ABS" else entry
    lists = _ucf(tmp_path / "ucf", extra_train=f"{entry} 2\n")
    with pytest.raises(DataError) as err:
        load_video_dataset(tmp_path / "ucf")
    message = str(err.value)
    assert message.startswith(f"{lists / 'trainlist01.txt'}, line 7: {entry!r}") and "outside" in message
    assert "data.allow_outside_paths=true" in message and "\n" not in message
    if not Path(entry).is_absolute():  # the user's opt-out (UCF101 reads the class from the first part)
        splits = load_video_dataset(tmp_path / "ucf", allow_outside_paths=True)
        assert str(tmp_path / "ucf" / "UCF-101" / entry) in splits.train.sources + splits.val.sources


def test_ucf101_test_list_outside_is_refused_for_evaluate_too(tmp_path, outside):
    lists = _ucf(tmp_path / "ucf")
    with open(lists / "testlist01.txt", "a") as f:
        f.write("Jump/../../../secret_vid/outside.npy\n")
    with pytest.raises(DataError, match=r"testlist01\.txt, line 3: 'Jump/\.\./\.\./\.\./secret_vid/outside\.npy'"):
        load_video_eval_set(tmp_path / "ucf", ["Jump", "Walk"])


def test_ucf101_listed_link_to_a_file_elsewhere_is_refused(tmp_path, outside):
    lists = _ucf(tmp_path / "ucf", extra_train="Walk/link.npy 2\n")
    os.symlink(outside, tmp_path / "ucf" / "UCF-101" / "Walk" / "link.npy")
    with pytest.raises(DataError, match=r"trainlist01\.txt, line 7: 'Walk/link\.npy' lies outside"):
        load_video_dataset(tmp_path / "ucf")
    assert lists.is_dir()


def test_a_linked_ucf101_videos_folder_loads(tmp_path):
    """data_recipes/ucf101.py lays out UCF-101 as a link to the checked copy."""
    _ucf(tmp_path / "ucf", videos=tmp_path / "copy" / "UCF-101")
    os.symlink(tmp_path / "copy" / "UCF-101", tmp_path / "ucf" / "UCF-101", target_is_directory=True)
    splits = load_video_dataset(tmp_path / "ucf")
    assert len(splits.train) + len(splits.val) == 6 and len(splits.test) == 2


def test_hmdb51_list_line_outside_the_folder_is_refused_by_the_cli(tmp_path, outside, capsys):
    root = tmp_path / "hmdb"
    for cls in ("jump", "walk"):
        lines = []
        for i in range(4):
            _clip(root / cls / f"{cls}{i}.npy", i)
            lines.append(f"{cls}{i}.npy {1 if i < 3 else 2}")
        if cls == "walk":
            lines.append("../../secret_vid/outside.npy 1")
        (root / f"{cls}_test_split1.txt").write_text("\n".join(lines) + "\n")
    argv = ["train", "--data", str(root), "--out", str(tmp_path / "out"), "--device", "cpu", "--epochs", "1",
            "--set", "data.clip_len=2", "train.baselines=false"]
    code = main(VIDEO, argv)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and last.startswith(f"error: {root / 'walk_test_split1.txt'}, line 5: "
                                         "'../../secret_vid/outside.npy' lies outside"), last
    assert not (tmp_path / "out" / "runs").exists() or not any((tmp_path / "out" / "runs").rglob("*.pt"))
    assert main(VIDEO, argv + ["data.allow_outside_paths=true"]) == 0, capsys.readouterr().err[-2000:]


def test_esc50_table_row_outside_the_folder_is_refused(tmp_path):
    root = tmp_path / "ESC-50"
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    (tmp_path / "secret").mkdir()
    sf.write(tmp_path / "secret" / "outside.wav", np.zeros(800, np.float32), 16000)
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    for fold in range(1, 6):
        for target, category in ((0, "dog"), (1, "rain")):
            sf.write(root / "audio" / f"{fold}-{target}.wav", np.full(800, 0.1 * fold, np.float32), 16000)
            rows.append(f"{fold}-{target}.wav,{fold},{target},{category},False,{target},A")
    rows.append("../../secret/outside.wav,1,0,dog,False,0,A")
    (root / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"esc50\.csv, line 12: '\.\./\.\./secret/outside\.wav' lies outside"):
        load_audio_dataset(root, 16000, duration=0.05)
    splits = load_audio_dataset(root, 16000, duration=0.05, allow_outside_paths=True)
    assert len(splits.train) == 7
