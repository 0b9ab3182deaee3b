"""Data read lazily (convkit.data.lazy, issue 26): an image folder decoded per batch gives
the in-memory pixels, the same weights with 0 or 2 loader workers, and a file found
unreadable in the middle of a run is skipped, counted and reported at the epoch's end,
or stops the run with one line beyond data.max_skipped."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from convkit.config import resolve_config
from convkit.data.lazy import LazyFiles, Skipped, collate_readable, index_files, item_rng
from convkit.errors import DataError
from convkit.tasks.image.data import _ImageItem, _read_image_header, load_image_dataset
from convkit.tasks.image.task import TASK
from convkit.train.engine import fit
from convkit.train.loggers import Logger


def _folder(root: Path, per_class: int = 12, size: int = 12) -> Path:
    rng = np.random.default_rng(0)
    for c, name in enumerate(("bars", "dots", "rings")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = (rng.random((size, size, 3)) * 80 + c * 80).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")
    return root


def _truncate(png: Path) -> None:
    """Keep the header (Pillow opens it) and cut the pixel data (decoding it fails)."""
    data = png.read_bytes()
    png.write_bytes(data[: data.index(b"IDAT") + 12])


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVKIT_CACHE", str(tmp_path / "cache"))


def test_lazy_items_are_the_in_memory_pixels_and_the_index_is_cached(tmp_path):
    root = _folder(tmp_path / "data")
    eager = load_image_dataset(root, image_size=16, seed=3)
    lazy = load_image_dataset(root, image_size=16, seed=3, lazy=True)
    for split in ("train", "val", "test"):
        images, labels = next(iter(DataLoader(getattr(lazy, split), batch_size=100, collate_fn=collate_readable)))
        assert torch.equal(images, getattr(eager, split).tensors[0])
        assert torch.equal(labels, getattr(eager, split).tensors[1])
    assert len(list((tmp_path / "cache" / "index").glob("*.json"))) == 1
    files = sorted(root.rglob("*.png"))
    skipped: list[str] = []
    calls = []
    headers, kept = index_files(files, lambda f: calls.append(f) or [0], "image-header", skipped)
    assert calls == [] and kept == list(range(len(files))) and headers[0] == [3, 12, 12]  # read from the cache
    (files[0]).touch()
    index_files(files, lambda f: calls.append(f) or [0], "image-header", skipped)
    assert len(calls) == len(files)  # a changed modification time makes a new index


def test_item_randomness_depends_on_seed_epoch_and_index_only():
    assert item_rng(1, 2, 3).random() == item_rng(1, 2, 3).random()
    assert item_rng(1, 2, 3).random() != item_rng(1, 3, 3).random()
    seen = []
    data = LazyFiles(["a", "b", "c", "d"], np.arange(4), lambda f, rng: torch.tensor(rng.random(), dtype=torch.float64), seed=5)
    data.set_epoch(2)
    for workers in (0, 2):
        loader = DataLoader(data, batch_size=2, num_workers=workers, collate_fn=collate_readable)
        seen.append(torch.cat([x for x, _ in loader]))
    assert torch.equal(seen[0], seen[1])
    assert seen[0][1].item() == item_rng(5, 2, 1).random()


def _cfg(root: Path, *sets: str):
    return resolve_config(TASK.config_class, sets=[
        f"data.path={root}", "train.epochs=1", "train.batch_size=8", "train.baselines=false", "train.device=cpu",
        "train.threads=1", "train.loggers=[]", "train.checkpoint_every=0", *sets])


def test_zero_and_two_workers_give_identical_weights_after_two_epochs(tmp_path):  # workers kept across epochs
    root = _folder(tmp_path / "data")
    weights = []
    for workers in (0, 2):
        result = fit(TASK, _cfg(root, f"train.num_workers={workers}", "train.epochs=2"), tmp_path / f"w{workers}")
        assert not isinstance(result.model, type(None))
        weights.append(result.model.state_dict())
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    moved = [k for k in weights[0] if k.endswith("weight")]
    assert moved  # (a real model was compared)


class _CorruptAfter(Logger):
    """At the end of epoch ``epoch`` cut the pixel data of ``file`` (header kept)."""

    def __init__(self, epoch: int, file: Path) -> None:
        self.when, self.file = epoch, file

    def on_epoch(self, epoch: int, step: int, record: dict) -> None:
        if epoch == self.when:
            _truncate(self.file)


def test_a_file_broken_in_epoch_three_is_skipped_counted_and_reported(tmp_path, capsys):
    root = _folder(tmp_path / "data", per_class=20)
    cfg = _cfg(root, "train.epochs=4", "train.num_workers=2", "data.max_skipped=0.05")
    train_files = TASK.build_data(cfg).train.files
    victim = Path(train_files[5])
    result = fit(TASK, cfg, tmp_path / "run", callbacks=[_CorruptAfter(2, victim)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "skipped" in line]
    assert len(lines) == 1, err  # met in epochs 3 and 4, reported once
    assert lines[0].startswith("epoch 3, training data: skipped 1 file") and victim.name in lines[0]
    assert "corrupt or unreadable image" in lines[0]
    listed = (result.run_dir / "skipped_files.txt").read_text().splitlines()
    assert [Path(line.split(": ")[0]) for line in listed] == [victim]
    assert len(result.metrics["val"]["confusion_matrix"]) == 3  # the run finished


def test_more_than_max_skipped_stops_with_one_line(tmp_path):
    root = _folder(tmp_path / "data", per_class=20)
    cfg = _cfg(root, "train.epochs=4")  # data.max_skipped: 1 % by default
    victim = Path(TASK.build_data(cfg).train.files[0])
    with pytest.raises(DataError) as caught:
        fit(TASK, cfg, tmp_path / "run", callbacks=[_CorruptAfter(2, victim)])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("1 of 48 training files (2.1%) could not be read, more than data.max_skipped=0.01")
    assert victim.name in message and "raise data.max_skipped" in message
    last = torch.load(next((tmp_path / "run").rglob("last.pt")), weights_only=True)
    assert last["epoch"] == 2  # epochs 1 and 2 were kept; epoch 3 stopped


def test_a_batch_of_skipped_files_only_trains_on_a_stand_in(tmp_path):
    root = _folder(tmp_path / "data", per_class=2)
    files = sorted(root.rglob("*.png"))
    _truncate(files[0])
    headers, kept = index_files(files, _read_image_header, "image-header", [])
    assert kept == list(range(len(files)))  # the header alone reads
    data = LazyFiles(files, np.arange(len(files)), _ImageItem(12, 3))
    first = data[0]
    assert isinstance(first, Skipped) and first.index == 0 and data.skipped_count() == 1
    batch = collate_readable([first])
    assert torch.equal(batch[1], torch.tensor([1]))  # the next file stands in
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [i for i, _ in data.take_skipped()] == [0] and data.take_skipped() == []


def test_evaluate_on_a_folder_with_a_file_broken_after_indexing_warns_and_scores_the_rest(tmp_path, capsys):
    from convkit.cli import main

    root = _folder(tmp_path / "data")
    result = fit(TASK, _cfg(root), tmp_path / "run")
    other = _folder(tmp_path / "other", per_class=4)
    victim = sorted(other.rglob("*.png"))[0]
    _truncate(victim)  # its header still reads: the file is found broken while scoring
    with pytest.warns(UserWarning, match=r"the scored data: skipped 1 file .*" + victim.name):
        assert main(TASK, ["evaluate", "--checkpoint", str(result.run_dir / "best.pt"), "--data", str(other)]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert sum(map(sum, scored["confusion_matrix"])) == 11  # 12 files, the broken one left out
