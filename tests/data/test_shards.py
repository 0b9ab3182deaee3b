"""Sharded streaming (convkit.data.shards, issue 26): `shard` writes a dataset's files as
tar shards, and a split streamed by 2 ranks x 2 loader workers gives every example exactly
once per epoch, from a folder or an fsspec URL."""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torch.utils.data import DataLoader

from convkit.cli import main
from convkit.data.shards import ShardStream
from convkit.tasks.image.task import TASK


def _folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for c, name in enumerate(("a", "b", "c")):
        (root / name).mkdir(parents=True)
        for i in range(20):
            Image.fromarray((rng.random((8, 8)) * 100 + 60 * c).astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def _digest(data: bytes, ext: str, rng: np.random.Generator) -> str:
    return ext + ":" + hashlib.sha256(data).hexdigest()


def _stream(root: str, rank: int, epoch: int, workers: int = 2) -> list[tuple[str, int]]:
    dataset = ShardStream(root, "train", _digest, rank=rank, world_size=2, seed=0)
    dataset.set_epoch(epoch)
    loader = DataLoader(dataset, batch_size=None, num_workers=workers)
    return [(digest, int(label)) for digest, label in loader]


@pytest.fixture()
def sharded(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONVKIT_CACHE", str(tmp_path / "cache"))
    data = _folder(tmp_path / "data")

    def shard(per_shard: int) -> tuple[Path, dict, list]:
        out = tmp_path / f"shards{per_shard}"
        assert main(TASK, ["shard", "--data", str(data), "--out", str(out), "--per-shard", str(per_shard)]) == 0
        printed = json.loads(capsys.readouterr().out)
        return out, printed, sorted(data.rglob("*.png"))

    return shard


def _expected(out: Path) -> Counter:
    """Every training example in the shards as (digest of its file, label), read back with tarfile."""
    found: Counter = Counter()
    for tar_path in sorted((out / "train").glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            names = sorted(tar.getnames())
            for png in (n for n in names if n.endswith(".png")):
                label = int(tar.extractfile(png.replace(".png", ".cls")).read())
                found[(_digest(tar.extractfile(png).read(), "png", None), label)] += 1
    return found


@pytest.mark.parametrize("per_shard", [5, 100])  # 10 shards for 4 readers; 1 shard for 4 readers
def test_each_example_exactly_once_per_epoch_across_two_ranks_and_two_workers(sharded, per_shard):
    out, printed, files = sharded(per_shard)
    assert printed["splits"] == {"train": 48, "val": 6, "test": 6}
    expected = _expected(out)
    assert sum(expected.values()) == 48 and max(expected.values()) == 1
    originals = {_digest(f.read_bytes(), "png", None) for f in files}
    assert {digest for digest, _ in expected} <= originals  # the files as they were, not re-encoded
    for epoch in (0, 1):
        ranks = [_stream(str(out), rank, epoch) for rank in (0, 1)]
        assert Counter(ranks[0] + ranks[1]) == expected  # every example once: no duplicates, none lost
        assert not set(ranks[0]) & set(ranks[1])
    if per_shard == 5:  # the shard order changes with the epoch
        assert _stream(str(out), 0, 0, workers=0) != _stream(str(out), 0, 1, workers=0)


def test_shards_stream_from_an_fsspec_url(sharded):
    import fsspec

    out, _, _ = sharded(5)
    memory = fsspec.filesystem("memory")
    memory.put(str(out), "/shards", recursive=True)
    try:
        streamed = Counter(_stream("memory://shards", 0, 0, workers=0) + _stream("memory://shards", 1, 0, workers=0))
        assert streamed == _expected(out)
    finally:
        memory.rm("/shards", recursive=True)


def test_shard_refuses_a_folder_that_holds_shards_and_data_read_whole(sharded, tmp_path, capsys):
    out, _, _ = sharded(5)
    assert main(TASK, ["shard", "--data", str(tmp_path / "data"), "--out", str(out)]) == 2
    assert "already holds shards" in capsys.readouterr().err
    idx = tmp_path / "idx"
    idx.mkdir()
    images = np.zeros((40, 32, 32), np.uint8)
    (idx / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + np.array([40, 32, 32], ">u4").tobytes()
                                                  + images.tobytes())
    (idx / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + np.array([40], ">u4").tobytes()
                                                  + bytes([0, 1] * 20))
    assert main(TASK, ["shard", "--data", str(idx), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "only files read per example can be sharded" in errors[0], err
    assert not (tmp_path / "o2").exists()
