"""Image loaders (convkit.tasks.image.data) and the MNIST recipe, on tiny fixtures written in tmp_path."""

from __future__ import annotations

import gzip
import importlib.util
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convkit.errors import ConfigError, DataError
from convkit.tasks.image.data import (
    CIFAR10_LABEL_NAMES,
    load_digits_dataset,
    load_image_dataset,
    load_image_eval_set,
    load_image_files,
)

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- fixture writers


def gray_png(path: Path, value: int, size: tuple[int, int] = (6, 6)) -> None:
    """A constant gray PNG (size is (H, W)); the value identifies the image in assertions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, dtype=np.uint8), mode="L").save(path)


def class_folders(root: Path, classes: dict[str, int], base: int = 0) -> dict[int, str]:
    """``<class>/<i>.png`` with pixel value ``base + 20*class_index + i``; returns value -> class."""
    truth = {}
    for c, (name, count) in enumerate(classes.items()):
        for i in range(count):
            value = base + 20 * c + i
            gray_png(root / name / f"{i:03d}.png", value)
            truth[value] = name
    return truth


def values_and_labels(dataset, names: list[str]) -> list[tuple[int, str]]:
    """``[(pixel value, class name)]`` of a dataset of constant images."""
    images, labels = dataset.tensors
    values = torch.round(images[:, 0, 0, 0] * 255).to(torch.int64).tolist()
    return [(v, names[y]) for v, y in zip(values, labels.tolist())]


def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> None:
    magic = 0x800 | array.ndim if magic is None else magic
    data = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def idx_dataset(root: Path, n_train=30, n_test=9, gz=False, classes=(0, 1, 2), size=(4, 5), seed=0):
    """Tiny random IDX train/t10k files; returns {prefix: (images [N, H, W], labels [N])}."""
    rng = np.random.default_rng(seed)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, *size), dtype=np.uint8)
        labels = np.array([classes[i % len(classes)] for i in range(n)], dtype=np.uint8)
        ext = ".gz" if gz else ""
        write_idx(root / f"{prefix}-images-idx3-ubyte{ext}", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{ext}", labels)
        out[prefix] = (images, labels)
    return out


def cifar_records(labels: list[int], seed: int) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(len(labels), 3, 32, 32), dtype=np.uint8)
    records = np.concatenate([np.array(labels, dtype=np.uint8)[:, None], pixels.reshape(len(labels), -1)], axis=1)
    return records.tobytes(), pixels


def load_recipe():
    spec = importlib.util.spec_from_file_location("mnist_recipe", REPO / "data_recipes" / "mnist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- digits


def test_digits_upsampled_and_split_80_10_10() -> None:
    splits = load_digits_dataset(image_size=32, seed=0)
    assert splits.label_names == [str(i) for i in range(10)]
    assert [len(splits.train), len(splits.val), len(splits.test)] == [1438, 179, 180]
    assert splits.input_shape == (1, 32, 32) and splits.num_classes == 10
    images, labels = splits.train.tensors
    assert images.dtype == torch.float32 and labels.dtype == torch.int64
    assert 0.0 <= images.min() and images.max() <= 1.0
    for part in (splits.train, splits.val, splits.test):
        assert set(part.tensors[1].tolist()) == set(range(10))


def test_digits_native_size_is_the_sklearn_data_divided_by_16() -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    splits = load_digits_dataset(image_size=8, seed=0)
    all_images = torch.cat([s.tensors[0] for s in (splits.train, splits.val, splits.test)])
    all_labels = torch.cat([s.tensors[1] for s in (splits.train, splits.val, splits.test)])
    expected = torch.from_numpy(digits.images.astype(np.float32) / 16).unsqueeze(1)
    order = np.lexsort(expected.reshape(len(expected), -1).numpy().T)
    got = np.lexsort(all_images.reshape(len(all_images), -1).numpy().T)
    assert torch.equal(all_images[got], expected[order])
    assert torch.equal(all_labels[got], torch.from_numpy(digits.target[order]))


def test_digits_split_is_deterministic_by_seed() -> None:
    a, b, c = load_digits_dataset(seed=1), load_digits_dataset(seed=1), load_digits_dataset(seed=2)
    assert torch.equal(a.test.tensors[0], b.test.tensors[0])
    assert not torch.equal(a.test.tensors[0], c.test.tensors[0])


# --------------------------------------------------------------------------- <class>/<image> folders


def test_class_folders_give_exact_images_labels_and_stratified_split(tmp_path: Path) -> None:
    truth = class_folders(tmp_path, {"ant": 10, "bee": 10, "cow": 20})
    (tmp_path / "bee" / "notes.txt").write_text("not an image")
    splits = load_image_dataset(tmp_path, seed=0)
    assert splits.label_names == ["ant", "bee", "cow"]
    assert splits.input_shape == (1, 6, 6)
    seen = []
    for part, expected in zip((splits.train, splits.val, splits.test), ([8, 8, 16], [1, 1, 2], [1, 1, 2])):
        pairs = values_and_labels(part, splits.label_names)
        assert all(truth[v] == name for v, name in pairs)
        assert np.bincount(part.tensors[1].numpy(), minlength=3).tolist() == expected
        seen += [v for v, _ in pairs]
    assert sorted(seen) == sorted(truth)
    images = splits.train.tensors[0]
    assert torch.equal(images, images[:, :, :1, :1].expand_as(images))  # constant images stay exact


def test_folder_split_is_deterministic_by_seed(tmp_path: Path) -> None:
    class_folders(tmp_path, {"a": 12, "b": 12})
    first, again, other = (load_image_dataset(tmp_path, seed=s) for s in (5, 5, 6))
    assert torch.equal(first.test.tensors[0], again.test.tensors[0])
    assert torch.equal(first.train.tensors[1], again.train.tensors[1])
    assert not torch.equal(first.test.tensors[0], other.test.tensors[0])


def test_train_test_subfolders_are_the_splits_and_val_is_carved_from_train(tmp_path: Path) -> None:
    train_truth = class_folders(tmp_path / "train", {"a": 10, "b": 10})
    test_truth = class_folders(tmp_path / "test", {"a": 2, "b": 3}, base=100)
    splits = load_image_dataset(tmp_path, seed=0)
    assert splits.label_names == ["a", "b"]
    assert sorted(values_and_labels(splits.test, ["a", "b"])) == sorted(test_truth.items())
    assert np.bincount(splits.val.tensors[1].numpy()).tolist() == [1, 1]
    train_and_val = values_and_labels(splits.train, ["a", "b"]) + values_and_labels(splits.val, ["a", "b"])
    assert sorted(train_and_val) == sorted(train_truth.items())


def test_train_val_test_subfolders_are_used_exactly(tmp_path: Path) -> None:
    truths = [
        class_folders(tmp_path / "train", {"a": 3, "b": 3}),
        class_folders(tmp_path / "val", {"a": 1, "b": 2}, base=60),
        class_folders(tmp_path / "test", {"a": 2, "c": 1}, base=120),
    ]
    splits = load_image_dataset(tmp_path)
    assert splits.label_names == ["a", "b", "c"]
    for part, truth in zip((splits.train, splits.val, splits.test), truths):
        assert sorted(values_and_labels(part, splits.label_names)) == sorted(truth.items())


def test_mixed_sizes_are_resized_to_the_most_common_size(tmp_path: Path) -> None:
    for i in range(4):
        gray_png(tmp_path / "a" / f"{i}.png", 10 + i, size=(8, 12))
        gray_png(tmp_path / "b" / f"{i}.png", 50 + i, size=(8, 12))
    gray_png(tmp_path / "b" / "big.png", 200, size=(30, 30))
    splits = load_image_dataset(tmp_path)
    assert splits.input_shape == (1, 8, 12)
    everything = torch.cat([s.tensors[0] for s in (splits.train, splits.val, splits.test)])
    assert torch.allclose(everything.amax(dim=(1, 2, 3)), everything.amin(dim=(1, 2, 3)), atol=1e-6)
    assert sorted(torch.round(everything[:, 0, 0, 0] * 255).int().tolist()) == sorted(
        [10, 11, 12, 13, 50, 51, 52, 53, 200]
    )
    resized = load_image_dataset(tmp_path, image_size=16)
    assert resized.input_shape == (1, 16, 16)


def test_colour_is_kept_and_channels_can_be_forced(tmp_path: Path) -> None:
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    for i in range(3):
        (tmp_path / "red").mkdir(exist_ok=True)
        Image.fromarray(rgb).save(tmp_path / "red" / f"{i}.png")
        gray_png(tmp_path / "gray" / f"{i}.png", 80, size=(4, 4))
    splits = load_image_dataset(tmp_path)
    assert splits.input_shape == (3, 4, 4)
    images, labels = splits.train.tensors
    red = images[labels == splits.label_names.index("red")][0]
    assert torch.equal(red[:, 0, 0], torch.tensor([200, 100, 50], dtype=torch.float32) / 255)
    gray = images[labels == splits.label_names.index("gray")][0]
    assert torch.equal(gray[:, 0, 0], torch.full((3,), 80 / 255))
    one = load_image_dataset(tmp_path, channels=1)
    images, labels = one.train.tensors
    red1 = images[labels == one.label_names.index("red")][0, 0, 0, 0]
    assert red1.item() == pytest.approx((0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255, abs=1e-6)


def test_sixteen_bit_png_is_scaled_to_unit_range(tmp_path: Path) -> None:
    for name, value in (("dark", 1000), ("light", 60000)):
        for i in range(3):
            (tmp_path / name).mkdir(exist_ok=True)
            Image.fromarray(np.full((3, 3), value, dtype=np.uint16)).save(tmp_path / name / f"{i}.png")
    splits = load_image_dataset(tmp_path)
    images, labels = splits.train.tensors
    assert images[labels == 0].max().item() == pytest.approx(1000 / 65535, abs=1e-6)
    assert images[labels == 1].max().item() == pytest.approx(60000 / 65535, abs=1e-6)


def test_corrupt_image_is_skipped_with_a_warning_or_an_error_when_strict(tmp_path: Path) -> None:
    class_folders(tmp_path, {"a": 5, "b": 5})
    bad = tmp_path / "a" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.warns(UserWarning, match=r"skipped 1 file .*broken\.png: corrupt or unreadable image"):
        splits = load_image_dataset(tmp_path)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 10
    with pytest.raises(DataError, match=r"broken\.png: corrupt or unreadable image"):
        load_image_dataset(tmp_path, strict=True)


def test_truncated_png_counts_as_corrupt(tmp_path: Path) -> None:
    class_folders(tmp_path, {"a": 4, "b": 4})
    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "b" / "cut.png")
    data = (tmp_path / "b" / "cut.png").read_bytes()
    (tmp_path / "b" / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.png: corrupt or unreadable image"):
        load_image_dataset(tmp_path, strict=True)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", r"missing: no such folder; expected a dataset folder"),
        ("file", r"afile\.png: not a folder"),
        ("empty", r"empty: empty folder; expected <class>/<image> subfolders"),
        ("loose", r"loose: no class subfolders"),
        ("noimages", r"noimages: no images in its class subfolders"),
        ("oneclass", r"oneclass: found only one class \('only'\); need at least two"),
        ("tiny", r"tiny: the val split is empty; need at least 3 images"),
        ("allcorrupt", r"allcorrupt: no readable images"),
        ("testonly", r"testonly: has test data but no training split"),
    ],
)
def test_bad_folders_raise_one_clear_line(tmp_path: Path, layout: str, message: str) -> None:
    root = tmp_path / layout
    if layout == "file":
        root = tmp_path / "afile.png"
        gray_png(root, 1)
    elif layout == "empty":
        root.mkdir()
    elif layout == "loose":
        gray_png(root / "x.png", 1)
    elif layout == "noimages":
        (root / "a").mkdir(parents=True)
        (root / "a" / "readme.txt").write_text("hi")
    elif layout == "oneclass":
        class_folders(root, {"only": 5})
    elif layout == "tiny":
        class_folders(root, {"a": 2, "b": 2})
    elif layout == "allcorrupt":
        (root / "a").mkdir(parents=True)
        (root / "a" / "x.png").write_bytes(b"junk")
    elif layout == "testonly":
        class_folders(root / "test", {"a": 2, "b": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match=message) as info:
            load_image_dataset(root)
    assert "\n" not in str(info.value)


def test_bad_options_are_config_errors(tmp_path: Path) -> None:
    class_folders(tmp_path, {"a": 3, "b": 3})
    with pytest.raises(ConfigError, match="channels must be 1 .* or 3 .*; got 4"):
        load_image_dataset(tmp_path, channels=4)
    with pytest.raises(ConfigError, match="image_size must be a positive integer; got 0"):
        load_image_dataset(tmp_path, image_size=0)


# --------------------------------------------------------------------------- MNIST IDX


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_load_exactly_with_t10k_as_test(tmp_path: Path, gz: bool) -> None:
    data = idx_dataset(tmp_path, gz=gz)
    splits = load_image_dataset(tmp_path, seed=0)
    assert splits.label_names == ["0", "1", "2"] and splits.input_shape == (1, 4, 5)
    test_images, test_labels = data["t10k"]
    assert torch.equal(splits.test.tensors[0], torch.from_numpy(test_images.astype(np.float32) / 255).unsqueeze(1))
    assert splits.test.tensors[1].tolist() == test_labels.tolist()
    assert [len(splits.train), len(splits.val)] == [27, 3]
    train_images = torch.cat([splits.train.tensors[0], splits.val.tensors[0]]).flatten(1)
    expected = torch.from_numpy(data["train"][0].astype(np.float32) / 255).flatten(1)
    assert sorted(map(tuple, train_images.tolist())) == sorted(map(tuple, expected.tolist()))


def test_idx_labels_are_named_by_value_and_resized_on_request(tmp_path: Path) -> None:
    idx_dataset(tmp_path, classes=(3, 7))
    splits = load_image_dataset(tmp_path, image_size=8, channels=3)
    assert splits.label_names == ["3", "7"] and splits.input_shape == (3, 8, 8)
    assert set(splits.test.tensors[1].tolist()) == {0, 1}


def test_idx_train_only_gets_the_80_10_10_split(tmp_path: Path) -> None:
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((20, 2, 2)))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(20) % 2)
    splits = load_image_dataset(tmp_path)
    assert [len(splits.train), len(splits.val), len(splits.test)] == [16, 2, 2]


def test_idx_bad_magic_truncation_and_missing_pairs(tmp_path: Path) -> None:
    idx_dataset(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte"
    write_idx(labels, np.zeros(30), magic=0x00000803)
    bad_magic = r"train-labels-idx1-ubyte: bad IDX magic number 0x00000803; expected 0x00000801"
    with pytest.raises(DataError, match=bad_magic):
        load_image_dataset(tmp_path)
    write_idx(labels, np.zeros(30))
    labels.write_bytes(labels.read_bytes()[:-5])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: truncated IDX file: header declares 30 values"):
        load_image_dataset(tmp_path)
    write_idx(labels, np.zeros(29))
    with pytest.raises(DataError, match=r"has 29 labels but train-images-idx3-ubyte has 30 images"):
        load_image_dataset(tmp_path)
    labels.unlink()
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\[\.gz\] is missing"):
        load_image_dataset(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b\x08 broken gzip")
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: cannot read IDX file"):
        load_image_dataset(tmp_path)


# --------------------------------------------------------------------------- CIFAR-10 binary


def test_cifar_batches_decode_planes_labels_and_names(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    b1, p1 = cifar_records([0, 1, 2] * 4, seed=1)
    b2, p2 = cifar_records([2, 1, 0] * 4, seed=2)
    bt, pt = cifar_records([1, 0, 2], seed=3)
    (folder / "data_batch_1.bin").write_bytes(b1)
    (folder / "data_batch_2.bin").write_bytes(b2)
    (folder / "test_batch.bin").write_bytes(bt)
    (folder / "batches.meta.txt").write_text("plane\ncar\nbird\n\n")
    splits = load_image_dataset(tmp_path)  # found in the cifar-10-batches-bin/ subfolder
    assert splits.label_names == ["plane", "car", "bird"] and splits.input_shape == (3, 32, 32)
    assert torch.equal(splits.test.tensors[0], torch.from_numpy(pt.astype(np.float32) / 255))
    assert splits.test.tensors[1].tolist() == [1, 0, 2]
    assert [len(splits.train), len(splits.val)] == [21, 3]
    seen = torch.cat([splits.train.tensors[0], splits.val.tensors[0]]).flatten(1)
    expected = torch.from_numpy(np.concatenate([p1, p2]).astype(np.float32) / 255).flatten(1)
    assert sorted(map(tuple, seen[:, :8].tolist())) == sorted(map(tuple, expected[:, :8].tolist()))

    (folder / "batches.meta.txt").unlink()
    assert load_image_dataset(folder).label_names == list(CIFAR10_LABEL_NAMES)
    gray = load_image_dataset(folder, channels=1)
    luma = (torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1) * torch.from_numpy(pt[0] / 255.0).float()).sum(0)
    assert torch.allclose(gray.test.tensors[0][0, 0], luma, atol=1e-6)


def test_cifar_bad_size_and_label(tmp_path: Path) -> None:
    records, _ = cifar_records([0, 1, 0, 1], seed=0)
    (tmp_path / "data_batch_1.bin").write_bytes(records[:-10])
    with pytest.raises(DataError, match=r"data_batch_1\.bin: size 12282 bytes is not a positive multiple of 3073"):
        load_image_dataset(tmp_path)
    records, _ = cifar_records([0, 1, 12, 1], seed=0)
    (tmp_path / "data_batch_1.bin").write_bytes(records)
    with pytest.raises(DataError, match=r"data_batch_1\.bin: record 2 has label 12, but there are only 10 class names"):
        load_image_dataset(tmp_path)


# --------------------------------------------------------------------------- prediction and evaluation inputs


def test_load_image_files_keeps_order_and_resizes(tmp_path: Path) -> None:
    gray_png(tmp_path / "one.png", 30, size=(10, 10))
    rgb = np.zeros((5, 7, 3), dtype=np.uint8)
    rgb[..., 2] = 255
    Image.fromarray(rgb).save(tmp_path / "two.jpg", quality=100)
    images = load_image_files([str(tmp_path / "two.jpg"), tmp_path / "one.png"], image_size=8, channels=3)
    assert images.shape == (2, 3, 8, 8) and images.dtype == torch.float32
    assert torch.allclose(images[0].mean(dim=(1, 2)), torch.tensor([0.0, 0.0, 1.0]), atol=0.02)
    assert torch.allclose(images[1], torch.full((3, 8, 8), 30 / 255), atol=1e-6)
    gray = load_image_files([tmp_path / "one.png"], image_size=10, channels=1)
    assert torch.equal(gray, torch.full((1, 1, 10, 10), 30 / 255))


def test_load_image_files_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nothere\.png: no such file; expected an image file"):
        load_image_files([tmp_path / "nothere.png"], 8, 1)
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(DataError, match=r"bad\.png: corrupt or unreadable image"):
        load_image_files([tmp_path / "bad.png"], 8, 1)
    with pytest.raises(DataError, match="no image files given"):
        load_image_files([], 8, 1)


def test_eval_set_is_the_test_split_mapped_onto_the_model_classes(tmp_path: Path) -> None:
    class_folders(tmp_path / "train", {"a": 4, "b": 4})
    truth = class_folders(tmp_path / "test", {"a": 2, "b": 1}, base=100)
    data = load_image_eval_set(tmp_path, label_names=["b", "a", "z"], image_size=6, channels=1)
    assert sorted(values_and_labels(data, ["b", "a", "z"])) == sorted(truth.items())
    whole = load_image_eval_set(tmp_path / "train", label_names=["a", "b"], image_size=3, channels=3)
    assert whole.tensors[0].shape == (8, 3, 3, 3)
    assert sorted(whole.tensors[1].tolist()) == [0] * 4 + [1] * 4
    with pytest.raises(DataError, match=r"classes \['b'\] are not among the model's classes \['a'\]"):
        load_image_eval_set(tmp_path, label_names=["a"], image_size=6, channels=1)


def test_eval_set_of_idx_data_is_t10k(tmp_path: Path) -> None:
    data = idx_dataset(tmp_path)
    eval_set = load_image_eval_set(tmp_path, [str(i) for i in range(10)], image_size=4, channels=1)
    assert eval_set.tensors[0].shape == (9, 1, 4, 4)
    assert eval_set.tensors[1].tolist() == data["t10k"][1].tolist()


# --------------------------------------------------------------------------- data_recipes/mnist.py


def test_recipe_checks_and_writes_loadable_idx_files(tmp_path: Path) -> None:
    recipe = load_recipe()
    src = tmp_path / "download" / "MNIST" / "raw"
    data = idx_dataset(src, n_train=20, n_test=10, gz=True, classes=tuple(range(10)), size=(28, 28))
    counts = {"train": 20, "t10k": 10}
    mismatch = r"train-images-idx3-ubyte\.gz: MD5 [0-9a-f]{32} differs from the published f68b3c2d"
    with pytest.raises(DataError, match=mismatch):
        recipe.prepare(tmp_path / "download", tmp_path / "out", counts)
    assert not (tmp_path / "out").exists()  # nothing written half
    written = recipe.prepare(tmp_path / "download", tmp_path / "out", counts, verify_checksums=False)
    assert sorted(p.name for p in written.values()) == sorted(recipe.FILES)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(recipe.FILES)
    splits = load_image_dataset(tmp_path / "out")
    assert splits.label_names == [str(i) for i in range(10)]
    assert torch.equal(splits.test.tensors[0], torch.from_numpy(data["t10k"][0] / np.float32(255)).unsqueeze(1))


def test_recipe_cli_rejects_wrong_counts_sizes_and_labels(tmp_path: Path, capsys) -> None:
    recipe = load_recipe()
    idx_dataset(tmp_path / "src")
    assert recipe.main(["--src", str(tmp_path / "src"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "train-images-idx3-ubyte: has 30 images; expected 60000" in err
    counts = {"train": 30, "t10k": 9}
    with pytest.raises(DataError, match=r"images are 4x5; expected 28x28"):
        recipe.check_mnist(tmp_path / "src", counts)
    write_idx(tmp_path / "src" / "train-images-idx3-ubyte", np.zeros((30, 28, 28)))
    write_idx(tmp_path / "src" / "t10k-images-idx3-ubyte", np.zeros((9, 28, 28)))
    write_idx(tmp_path / "src" / "t10k-labels-idx1-ubyte", np.full(9, 10))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: has label 10; expected labels 0-9"):
        recipe.check_mnist(tmp_path / "src", counts)
    (tmp_path / "src" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\[\.gz\] not found"):
        recipe.check_mnist(tmp_path / "src", counts)


def test_recipe_cli_accepts_a_full_size_copy(tmp_path: Path, capsys) -> None:
    recipe = load_recipe()
    src = tmp_path / "src"
    for prefix, n in (("train", 60_000), ("t10k", 10_000)):
        write_idx(src / f"{prefix}-images-idx3-ubyte", np.zeros((n, 28, 28), dtype=np.uint8))
        write_idx(src / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    assert recipe.main(["--src", str(src), "--out", str(tmp_path / "out")]) == 0
    assert "60000 train + 10000 test images" in capsys.readouterr().out
    for name in recipe.FILES:
        assert (tmp_path / "out" / name).read_bytes() == (src / name).read_bytes()
