"""Image datasets: scikit-learn's bundled digits and the on-disk image formats.

On-disk formats, detected from the folder's contents (DESIGN.md "On-disk data formats"):

* MNIST IDX files: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``;
  ``train-images.idx3-ubyte`` spelling accepted). ``t10k`` is the test split.
* CIFAR-10 binary batches: ``data_batch_1.bin`` ... ``data_batch_5.bin``,
  ``test_batch.bin`` and ``batches.meta.txt`` (in the folder or in its
  ``cifar-10-batches-bin/`` subfolder). Not the pickled Python version.
* ``<class>/<image>`` folders of PNG/JPEG (anything Pillow decodes), optionally
  under ``train/``, ``val/``, ``test/`` subfolders.
* A manifest ``.csv`` (``path,label``, optional ``split``, ``group``) or a folder whose
  file names give the labels (``label_pattern``), read and split by
  ``convkit.data.manifest`` (``group_by``: a patient's images on one side of every split).

Split subfolders (or the IDX/CIFAR test files) are the splits exactly; a missing
val (or test) split is carved from train (10%, seeded, stratified); a dataset with
no splits gets a seeded, stratified 80/10/10 split. Every loader returns images as float32 ``[N, C, H, W]``
in ``[0, 1]`` and labels as int64 ``[N]``.

Folders and listings may instead be read lazily (``lazy=True``, what the task does unless
``data.in_memory``): each file's header is indexed once (size and colour, cached by
``convkit.data.lazy.index_files``) and each image is decoded when a batch asks for it
(``convkit.data.lazy.LazyFiles``), with the same pixels as the in-memory path.
IDX files and CIFAR batches are single files read whole.
"""

from __future__ import annotations

import gzip
import re
import zlib
import struct
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset
from tqdm.auto import tqdm

from convkit.data.lazy import LazyFiles, index_files
from convkit.data.manifest import Listing, eval_listing, listing_for, split_groups, split_listing
from convkit.data.splits import (
    DEFAULT_FRACTIONS,
    SPLIT_NAMES,
    VAL_FRACTION_OF_TRAIN,
    Splits,
    carve_validation,
    existing_dir,
    find_split_dirs,
    remap_labels,
    split_indices,
)
from convkit.data.skipped import require_every_class, warn_skipped
from convkit.errors import ConfigError, DataError, ShapeError

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)
"""File extensions (lower case) read as images in ``<class>/<image>`` folders."""

CIFAR10_LABEL_NAMES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
"""CIFAR-10 class names, used when ``batches.meta.txt`` is absent."""

CIFAR_RECORD_BYTES = 1 + 3 * 32 * 32
"""One CIFAR-10 binary record: a label byte and a 3x32x32 uint8 image (R, G, B planes)."""

IDX_IMAGES_MAGIC = 0x00000803
"""IDX magic number of unsigned-byte 3-D arrays (images ``[N, H, W]``)."""
IDX_LABELS_MAGIC = 0x00000801
"""IDX magic number of unsigned-byte 1-D arrays (labels ``[N]``)."""

_IDX_NAME = re.compile(r"^(train|t10k)-(images|labels)[.-]idx([13])-ubyte(\.gz)?$")
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, the weights of Pillow's "L" conversion
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_FORMAT_HELP = "<class>/<image> subfolders, MNIST IDX files or CIFAR-10 binary batches"


# --------------------------------------------------------------------------- public API


DIGITS_LABEL_NAMES: tuple[str, ...] = tuple(str(i) for i in range(10))
"""The bundled digits' classes (one channel, 8x8 before resizing): what
``load_digits_dataset`` returns, known without loading it (``info``)."""

DIGITS_SOURCE = "sklearn digits"
"""How the bundled digits are named as a data source (in errors and ``Data.info``)."""


def load_digits_dataset(image_size: int = 32, seed: int = 0) -> Splits:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, offline).

    Pixel values 0..16 are scaled to ``[0, 1]`` and upsampled bilinearly to
    ``image_size``; one channel; seeded stratified 80/10/10 split.

    Returns:
        Splits with images ``[N, 1, image_size, image_size]`` and label names ``"0"``..``"9"``.
    """
    from sklearn.datasets import load_digits

    _check_size(image_size, "image_size")
    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    images = resize_images(images, image_size)
    labels = digits.target.astype(np.int64)
    names = list(DIGITS_LABEL_NAMES)
    parts = _split_all(images, labels, seed)
    return _make_splits(parts, names, DIGITS_SOURCE)


def load_image_dataset(
    path: str | Path,
    image_size: int | None = None,
    channels: int | None = None,
    strict: bool = False,
    seed: int = 0,
    label_pattern: str = "",
    group_by: str = "",
    allow_outside_paths: bool = False,
    lazy: bool = False,
) -> Splits:
    """Load an on-disk image dataset (format detected; see the module docstring).

    Args:
        path: dataset folder, or a manifest ``.csv``.
        image_size: resize every image to ``image_size x image_size``; ``None`` keeps
            the native size (IDX/CIFAR) or uses the most common size (folders).
        channels: 1 (grayscale) or 3 (RGB); ``None`` keeps the data's own
            (folders: 3 if any image has colour, else 1).
        strict: a corrupt image (or one with NaN/infinite pixels) raises DataError instead
            of being skipped; skipped files make ONE summary warning.
        seed: seed of the stratified 80/10/10 split, or of carving a missing val/test
            split (10% of train) when the dataset brings its own splits.
        label_pattern, group_by, allow_outside_paths: a folder's labels from its file
            names, the field whose groups stay on one side of every split, manifest rows
            outside the manifest's folder (``convkit.data.manifest``).
        lazy: a class folder or listing becomes ``LazyFiles`` datasets whose items are
            ``(image [C, H, W], label)``, decoded when asked (headers indexed now; a file
            whose header reads but whose pixels do not is skipped when met); IDX and CIFAR
            are read into memory either way.

    Returns:
        Splits with images ``[N, C, H, W]`` float32 in ``[0, 1]``, labels int64 ``[N]``,
        ``extras["skipped"]``: every skipped file as ``"<path>: <reason>"``, and for a
        listing split by group ``extras["group_by"]`` and ``extras["split_groups"]``.

    Raises:
        DataError: the path is missing or empty, has no images or only one class, a class
            whose every file is unreadable, or a file is malformed (bad IDX magic,
            truncated file, CIFAR size not a multiple of 3073).
    """
    _check_options(image_size, channels)
    listing = _listing(path, label_pattern, group_by, allow_outside_paths, strict)
    if listing is not None:
        if lazy:
            listed = split_listing(listing, _indexer(strict), seed, group_by)
            item = _ImageItem(*_layout(listed.decoded, image_size, channels))
            files = np.array([str(e.path) for e in listed.entries], dtype=object)
            parts = {s: (files[i], listed.labels[i]) for s, i in listed.parts.items()}
        else:
            listed = split_listing(listing, _decoder(strict), seed, group_by)
            images = _stack(listed.decoded, image_size, channels)
            parts = {s: (images[i], listed.labels[i]) for s, i in listed.parts.items()}
            item = None
        extras = {"skipped": listed.skipped, "group_by": listed.group_by or "", "split_groups": split_groups(listed)}
        return _make_splits(parts, listed.label_names, listed.source, extras, item, strict, seed)
    root = existing_dir(path, f"a dataset folder with {_FORMAT_HELP}")
    item = None
    if lazy and not _idx_files(root) and _cifar_root(root) is None:
        raw, names, skipped, item = _index_folder_dataset(root, image_size, channels, strict)
    else:
        raw, names, skipped = _read_dataset(root, image_size, channels, strict)
    if "train" not in raw:
        raise DataError(
            f"{root}: has {'/'.join(raw)} data but no training split; expected a train/ folder or train files"
        )
    present = np.unique(np.concatenate([labels for _, labels in raw.values()]))
    if len(present) < 2:
        raise DataError(f"{root}: found only one class ({names[int(present[0])]!r}); need at least two")

    if set(raw) == {"train"}:
        parts = _split_all(*raw["train"], seed)
    else:  # the given splits exactly; a missing val (or test) is carved from train
        parts = dict(raw)
        for missing in [s for s in ("val", "test") if s not in parts]:
            images, labels = parts["train"]
            keep, carved = carve_validation(labels, VAL_FRACTION_OF_TRAIN, seed)
            parts["train"] = (images[keep], labels[keep])
            parts[missing] = (images[carved], labels[carved])
    warn_skipped(skipped, str(root))
    return _make_splits(parts, names, str(root), {"skipped": skipped}, item, strict, seed)


def load_image_eval_set(
    path: str | Path,
    label_names: list[str],
    image_size: int,
    channels: int,
    strict: bool = False,
    label_pattern: str = "",
    allow_outside_paths: bool = False,
    lazy: bool = False,
) -> TensorDataset | LazyFiles:
    """Load the data to score a trained model on: the test split when the dataset has one, else all of it.

    Args:
        path: dataset folder in any supported format (its ``test/`` folder, ``t10k``
            IDX files or ``test_batch.bin`` when present), or a manifest (its test rows
            when it marks some); a folder with ``label_pattern``: every matching file.
        label_names: the trained model's classes; the data's class names are mapped
            onto these indices by name.
        image_size: resize every image to this size (the model's input size).
        channels: 1 or 3 (the model's input channels).
        strict: a corrupt image raises DataError instead of being skipped (one summary warning).
        label_pattern, allow_outside_paths, lazy: as :func:`load_image_dataset`.

    Returns:
        ``TensorDataset(images [N, C, H, W] float32, labels [N] int64)`` (``lazy``, for a
        class folder or listing: ``LazyFiles`` of ``(image [C, H, W], label)``).

    Raises:
        DataError: bad path/format, or a class the model does not know.
    """
    _check_options(image_size, channels)
    listing = _listing(path, label_pattern, "", allow_outside_paths, strict)
    if listing is not None:
        listed = eval_listing(listing, _indexer(strict) if lazy else _decoder(strict))
        labels = remap_labels(listed.labels, listed.label_names, label_names, listed.source)
        if lazy:
            return LazyFiles([str(e.path) for e in listed.entries], labels, _ImageItem(image_size, channels),
                             item_shape=(channels, image_size, image_size), strict=strict)
        images = _stack(listed.decoded, image_size, channels)
        return TensorDataset(images, torch.from_numpy(labels))
    root = existing_dir(path, f"a dataset folder with {_FORMAT_HELP}")
    if lazy and not _idx_files(root) and _cifar_root(root) is None:
        raw, names, skipped, _ = _index_folder_dataset(root, image_size, channels, strict)
        warn_skipped(skipped, str(root))
        files, labels = raw["test"] if "test" in raw else (
            np.concatenate([raw[s][0] for s in SPLIT_NAMES if s in raw]),
            np.concatenate([raw[s][1] for s in SPLIT_NAMES if s in raw]))
        return LazyFiles(list(files), remap_labels(labels, names, label_names, str(root)),
                         _ImageItem(image_size, channels), item_shape=(channels, image_size, image_size),
                         strict=strict)
    raw, names, skipped = _read_dataset(root, image_size, channels, strict)
    warn_skipped(skipped, str(root))
    if "test" in raw:
        images, labels = raw["test"]
    else:
        images = torch.cat([raw[s][0] for s in SPLIT_NAMES if s in raw])
        labels = np.concatenate([raw[s][1] for s in SPLIT_NAMES if s in raw])
    return TensorDataset(images, torch.from_numpy(remap_labels(labels, names, label_names, str(root))))


def load_image_files(paths: list[str | Path], image_size: int, channels: int) -> torch.Tensor:
    """Read image files for prediction.

    Args:
        paths: image files (anything Pillow decodes).
        image_size: every image is resized (bilinear) to ``image_size x image_size``.
        channels: 1 (grayscale) or 3 (RGB).

    Returns:
        float32 tensor ``[N, C, image_size, image_size]`` in ``[0, 1]``, in the order of ``paths``.

    Raises:
        DataError: a path is missing, not a file, not a readable image, or has NaN/infinite pixels.
    """
    _check_options(image_size, channels)
    if not paths:
        raise DataError("no image files given; expected one or more PNG/JPEG paths")
    images = []
    for p in paths:
        file = Path(p)
        if not file.exists():
            raise DataError(f"{file}: no such file; expected an image file (PNG/JPEG)")
        if not file.is_file():
            raise DataError(f"{file}: not a file; expected an image file (PNG/JPEG)")
        array = _decode_image(file)
        images.append(_finish(torch.from_numpy(array).unsqueeze(0), image_size, channels))
    return torch.cat(images)


def resize_images(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize a batch ``[N, C, H, W]`` to ``[N, C, size, size]`` (or ``[N, C, *size]`` for a pair), bilinear.

    Antialiased when shrinking, so thin strokes are averaged rather than dropped. The
    one resize used for every format and for prediction, so inputs match training.
    """
    target = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(images.shape[-2:]) == target:
        return images
    shrinking = target[0] < images.shape[-2] or target[1] < images.shape[-1]
    out = F.interpolate(images, size=target, mode="bilinear", align_corners=False, antialias=shrinking)
    return out.clamp_(0.0, 1.0)


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Convert ``[N, C, H, W]`` (C = 1 or 3) to ``[N, channels, H, W]``.

    Gray to RGB repeats the plane; RGB to gray uses the ITU-R 601-2 luma weights
    (the same as Pillow's ``"L"`` mode).
    """
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        weights = torch.tensor(_LUMA, dtype=images.dtype).view(1, 3, 1, 1)
        return (images * weights).sum(dim=1, keepdim=True)
    raise ShapeError(
        f"convert_channels: expected images [N, C, H, W] with C in (1, 3) and channels in (1, 3); "
        f"got C={have}, channels={channels}"
    )


def read_idx(path: str | Path, expected_magic: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (plain or ``.gz``).

    Args:
        path: the IDX file.
        expected_magic: ``IDX_IMAGES_MAGIC`` (``[N, H, W]``) or ``IDX_LABELS_MAGIC`` (``[N]``).

    Returns:
        uint8 array with the dimensions the header declares.

    Raises:
        DataError: unreadable, bad magic number, or data size differing from the header.
    """
    file = Path(path)
    try:
        if file.suffix == ".gz":
            with gzip.open(file, "rb") as stream:
                data = stream.read()
        else:
            data = file.read_bytes()
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{file}: cannot read IDX file ({err})") from None
    ndim = expected_magic & 0xFF
    if len(data) < 4:
        raise DataError(f"{file}: truncated IDX file ({len(data)} bytes, shorter than its header)")
    (magic,) = struct.unpack(">I", data[:4])
    if magic != expected_magic:
        raise DataError(
            f"{file}: bad IDX magic number 0x{magic:08X}; expected 0x{expected_magic:08X} "
            f"(unsigned bytes, {ndim} dimension{'s' if ndim > 1 else ''})"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{file}: truncated IDX file ({len(data)} bytes, shorter than its {header}-byte header)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        kind = "truncated IDX file" if len(data) < expected else "IDX file longer than its header says"
        shape = "x".join(str(d) for d in dims)
        raise DataError(
            f"{file}: {kind}: header declares {shape} values ({expected} bytes) but it has {len(data)} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


# --------------------------------------------------------------------------- detection



def _check_size(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer; got {value!r}")


def _check_options(image_size: int | None, channels: int | None) -> None:
    if image_size is not None:
        _check_size(image_size, "image_size")
    if channels is not None and channels not in (1, 3):
        raise ConfigError(f"channels must be 1 (grayscale) or 3 (RGB); got {channels!r}")


def _idx_files(root: Path) -> dict[tuple[str, str], Path]:
    """``{("train"|"t10k", "images"|"labels"): file}``; an uncompressed file wins over its ``.gz``."""
    found: dict[tuple[str, str], Path] = {}
    for file in sorted(root.iterdir()):
        match = _IDX_NAME.match(file.name)
        if match and file.is_file():
            key = (match.group(1), match.group(2))
            if key not in found or found[key].suffix == ".gz":
                found[key] = file
    return found


def _cifar_root(root: Path) -> Path | None:
    for folder in (root, root / "cifar-10-batches-bin"):
        if folder.is_dir() and (any(folder.glob("data_batch_*.bin")) or (folder / "test_batch.bin").is_file()):
            return folder
    return None


Raw = dict[str, tuple[torch.Tensor, np.ndarray]]  # split name -> (images [N, C, H, W], labels [N])


def _read_dataset(
    root: Path, image_size: int | None, channels: int | None, strict: bool
) -> tuple[Raw, list[str], list[str]]:
    """Read every split the dataset brings: ``{split: (images, labels)}``, label names and
    the skipped files (``"<path>: <reason>"``; only folders of image files skip any)."""
    idx = _idx_files(root)
    if idx:
        return (*_read_idx_dataset(root, idx, image_size, channels), [])
    cifar = _cifar_root(root)
    if cifar is not None:
        return (*_read_cifar_dataset(cifar, image_size, channels), [])
    return _read_folder_dataset(root, image_size, channels, strict)


# --------------------------------------------------------------------------- MNIST IDX


def _read_idx_dataset(
    root: Path, files: dict[tuple[str, str], Path], image_size: int | None, channels: int | None
) -> tuple[Raw, list[str]]:
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for prefix, split in (("train", "train"), ("t10k", "test")):
        have_images, have_labels = (prefix, "images") in files, (prefix, "labels") in files
        if not (have_images or have_labels):
            continue
        if not (have_images and have_labels):
            missing = f"{prefix}-{'labels-idx1' if have_images else 'images-idx3'}-ubyte[.gz]"
            raise DataError(f"{root}: {missing} is missing; IDX images and labels come in pairs")
        images = read_idx(files[prefix, "images"], IDX_IMAGES_MAGIC)
        labels = read_idx(files[prefix, "labels"], IDX_LABELS_MAGIC)
        if len(images) != len(labels):
            raise DataError(
                f"{files[prefix, 'labels']}: has {len(labels)} labels but "
                f"{files[prefix, 'images'].name} has {len(images)} images; expected equal counts"
            )
        if len(images) == 0:
            raise DataError(f"{files[prefix, 'images']}: holds no images")
        arrays[split] = (images, labels)
    # IDX labels are numbers; classes are the values present, in order, named by their value.
    values = np.unique(np.concatenate([labels for _, labels in arrays.values()]))
    names = [str(int(v)) for v in values]
    raw: Raw = {}
    for split, (images, labels) in arrays.items():
        tensor = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
        raw[split] = (_finish(tensor, image_size, channels), np.searchsorted(values, labels).astype(np.int64))
    return raw, names


# --------------------------------------------------------------------------- CIFAR-10 binary


def _read_cifar_dataset(folder: Path, image_size: int | None, channels: int | None) -> tuple[Raw, list[str]]:
    meta = folder / "batches.meta.txt"
    if meta.is_file():
        lines = meta.read_text(encoding="utf-8", errors="replace").splitlines()
        names = [line.strip() for line in lines if line.strip()]
        if not names:
            raise DataError(f"{meta}: is empty; expected one class name per line")
    else:
        names = list(CIFAR10_LABEL_NAMES)

    def batch_number(file: Path) -> tuple[int, str]:
        digits = re.findall(r"\d+", file.stem)
        return (int(digits[-1]) if digits else 0, file.name)

    groups = {"train": sorted(folder.glob("data_batch_*.bin"), key=batch_number)}
    if (folder / "test_batch.bin").is_file():
        groups["test"] = [folder / "test_batch.bin"]
    raw: Raw = {}
    for split, files in groups.items():
        if not files:
            continue
        images, labels = zip(*(_read_cifar_file(f, len(names)) for f in files))
        tensor = torch.from_numpy(np.concatenate(images).astype(np.float32) / 255.0)
        raw[split] = (_finish(tensor, image_size, channels), np.concatenate(labels))
    return raw, names


def _read_cifar_file(file: Path, num_names: int) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch: uint8 images ``[N, 3, 32, 32]`` and int64 labels ``[N]``."""
    data = np.fromfile(file, dtype=np.uint8)
    if data.size == 0 or data.size % CIFAR_RECORD_BYTES:
        raise DataError(
            f"{file}: size {data.size} bytes is not a positive multiple of {CIFAR_RECORD_BYTES} "
            "(CIFAR-10 binary records: 1 label byte + 3072 pixel bytes)"
        )
    records = data.reshape(-1, CIFAR_RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    bad = np.flatnonzero(labels >= num_names)
    if bad.size:
        raise DataError(
            f"{file}: record {int(bad[0])} has label {int(labels[bad[0]])}, "
            f"but there are only {num_names} class names"
        )
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


# --------------------------------------------------------------------------- <class>/<image> folders


def _read_folder_dataset(
    root: Path, image_size: int | None, channels: int | None, strict: bool
) -> tuple[Raw, list[str], list[str]]:
    splits = find_split_dirs(root)
    folders = splits if splits is not None else {"train": root}
    listed: dict[str, list[tuple[Path, str]]] = {}
    for split, folder in folders.items():
        listed[split] = _list_class_images(folder)
    names = sorted({cls for items in listed.values() for _, cls in items})
    index = {name: i for i, name in enumerate(names)}

    decoded: dict[str, tuple[list[np.ndarray], list[int]]] = {}
    skipped: list[str] = []
    every = [(file, index[cls]) for items in listed.values() for file, cls in items]
    readable = np.zeros(len(every), dtype=bool)
    progress = tqdm(total=len(every), desc="decoding images", unit="file", leave=False,
                    disable=True if len(every) < 2000 else None)
    position = 0
    for split, items in listed.items():
        arrays, labels = [], []
        for file, cls in items:
            try:
                arrays.append(_decode_image(file))
                labels.append(index[cls])
                readable[position] = True
            except DataError as err:
                if strict:
                    raise
                skipped.append(str(err))
            position += 1
            progress.update()
        if not arrays:
            raise DataError(f"{folders[split]}: no readable images; expected {_FORMAT_HELP}")
        decoded[split] = (arrays, labels)
    progress.close()
    require_every_class(names, np.array([label for _, label in every]), readable, [f for f, _ in every], str(root))

    all_arrays = [a for arrays, _ in decoded.values() for a in arrays]
    images = _stack(all_arrays, image_size, channels)
    raw: Raw = {}
    start = 0
    for split, (arrays, labels) in decoded.items():
        raw[split] = (images[start:start + len(arrays)], np.asarray(labels, dtype=np.int64))
        start += len(arrays)
    return raw, names, skipped


def _index_folder_dataset(
    root: Path, image_size: int | None, channels: int | None, strict: bool
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str], list[str], "_ImageItem"]:
    """``_read_folder_dataset`` without decoding: ``{split: (files (object array), labels)}``
    of the files whose headers read (cached index), the label names, the skipped files
    and how each file becomes an image (the size and channels the headers decide)."""
    splits = find_split_dirs(root)
    folders = splits if splits is not None else {"train": root}
    listed = {split: _list_class_images(folder) for split, folder in folders.items()}
    names = sorted({cls for items in listed.values() for _, cls in items})
    index = {name: i for i, name in enumerate(names)}
    every = [(file, index[cls], split) for split, items in listed.items() for file, cls in items]
    skipped: list[str] = []
    headers, kept = index_files([f for f, _, _ in every], _read_image_header, "image-header", skipped, strict)
    readable = np.zeros(len(every), dtype=bool)
    readable[kept] = True
    labels = np.array([label for _, label, _ in every], dtype=np.int64)
    require_every_class(names, labels, readable, [f for f, _, _ in every], str(root))
    split_of = np.array([s for _, _, s in every], dtype=object)
    files = np.array([str(f) for f, _, _ in every], dtype=object)
    raw: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split in listed:
        mine = np.flatnonzero(readable & (split_of == split))
        if len(mine) == 0:
            raise DataError(f"{folders[split]}: no readable images; expected {_FORMAT_HELP}")
        raw[split] = (files[mine], labels[mine])
    return raw, names, skipped, _ImageItem(*_layout(headers, image_size, channels))


def _layout(headers: list[list[int]], image_size: int | None,
            channels: int | None) -> tuple[int | tuple[int, int], int]:
    """``(size, channels)`` of every image from the files' headers ``[C, H, W]``, as
    ``_stack`` decides them: ``image_size`` (None: the most common size) and ``channels``
    (None: 3 if any has colour, else 1)."""
    if channels is None:
        channels = 3 if any(h[0] == 3 for h in headers) else 1
    if image_size is not None:
        return image_size, channels
    sizes = Counter((int(h[1]), int(h[2])) for h in headers)
    return sizes.most_common(1)[0][0], channels


class _ImageItem:
    """One image file -> float32 ``[C, H, W]`` in ``[0, 1]`` at ``size`` and ``channels``,
    the pixels ``_stack`` gives it (a ``LazyFiles`` decode function; picklable)."""

    def __init__(self, size: int | tuple[int, int], channels: int) -> None:
        self.size, self.channels = size, channels

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every item."""
        h, w = (self.size, self.size) if isinstance(self.size, int) else self.size
        return self.channels, int(h), int(w)

    def __call__(self, file: Path, rng: np.random.Generator | None = None) -> torch.Tensor:
        return _finish(torch.from_numpy(_decode_image(file)).unsqueeze(0), self.size, self.channels)[0]


def _read_image_header(file: Path) -> list[int]:
    """``[channels, height, width]`` of an image from its header (``_decode_image``'s
    channels; a palette image is decoded to tell gray from colour). DataError when
    Pillow cannot read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as img:
            width, height = img.size
            if img.mode == "P":
                channels = 1 if _palette_is_gray(img) else 3
            else:
                channels = 1 if img.mode in _GRAY_MODES else 3
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"{file}: corrupt or unreadable image ({type(err).__name__}: {err})") from None
    return [channels, height, width]


def _indexer(strict: bool) -> Callable[[list[Path], list[str]], tuple[list[list[int]], list[int]]]:
    """``convkit.data.manifest``'s decode function reading headers only (cached index)."""

    def index(paths: list[Path], skipped: list[str]) -> tuple[list[list[int]], list[int]]:
        return index_files(paths, _read_image_header, "image-header", skipped, strict)

    return index


def _stack(arrays: list[np.ndarray], image_size: int | None, channels: int | None) -> torch.Tensor:
    """Decoded images ``[C, H, W]`` as one batch ``[N, C', S, S]``: ``channels`` (None: 3 if
    any has colour, else 1) at ``image_size`` (None: the most common size)."""
    if channels is None:
        channels = 3 if any(a.shape[0] == 3 for a in arrays) else 1
    size = image_size if image_size is not None else _most_common_size(arrays)
    return torch.cat([_finish(torch.from_numpy(a).unsqueeze(0), size, channels) for a in arrays])


def _listing(path: str | Path, label_pattern: str, group_by: str, allow_outside: bool,
             strict: bool) -> Listing | None:
    """The manifest or pattern listing ``--data path`` asks for (None: a layout)."""
    return listing_for(path, label_pattern, group_by, _is_image_file,
                       "images (" + ", ".join(sorted(IMAGE_EXTENSIONS)) + ")", allow_outside, strict)


def _is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def _decoder(strict: bool) -> Callable[[list[Path], list[str]], tuple[list[np.ndarray], list[int]]]:
    """``convkit.data.manifest``'s decode function: each listed file as ``[C, H, W]``,
    a bad one skipped (or, ``strict``, an error)."""

    def decode(paths: list[Path], skipped: list[str]) -> tuple[list[np.ndarray], list[int]]:
        arrays, kept = [], []
        for i, file in enumerate(tqdm(paths, desc="decoding images", unit="file", leave=False,
                                      disable=True if len(paths) < 2000 else None)):
            try:
                arrays.append(_decode_image(file))
            except DataError as err:
                if strict:
                    raise
                skipped.append(str(err))
                continue
            kept.append(i)
        return arrays, kept

    return decode


def _list_class_images(folder: Path) -> list[tuple[Path, str]]:
    """``[(image file, class name)]`` for every image under ``folder/<class>/`` (recursively), sorted."""
    if not any(folder.iterdir()):
        raise DataError(f"{folder}: empty folder; expected {_FORMAT_HELP}")
    classes = sorted(c for c in folder.iterdir() if c.is_dir() and not c.name.startswith("."))
    if not classes:
        raise DataError(f"{folder}: no class subfolders; expected {_FORMAT_HELP}")
    items = [
        (file, cls.name)
        for cls in classes
        for file in sorted(cls.rglob("*"))
        if file.is_file() and file.suffix.lower() in IMAGE_EXTENSIONS and not file.name.startswith(".")
    ]
    if not items:
        raise DataError(
            f"{folder}: no images in its class subfolders; expected files ending in "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))}"
        )
    return items


def _most_common_size(arrays: list[np.ndarray]) -> tuple[int, int]:
    """The most common ``(H, W)`` among images ``[C, H, W]`` (the first seen wins a tie)."""
    sizes = Counter(tuple(a.shape[1:]) for a in arrays)
    return sizes.most_common(1)[0][0]


def _decode_image(file: Path) -> np.ndarray:
    """Decode one image to float32 ``[C, H, W]`` in ``[0, 1]`` with C = 1 (gray) or 3 (colour).

    Raises DataError naming the file when it is corrupt or holds NaN/infinite pixels
    (float TIFFs can); the folder loader skips it unless strict.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as img:
            img.load()
            mode = img.mode
            if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
                # 16-bit grayscale (PNG/TIFF): Pillow's "L" conversion would clip, so scale here.
                array = np.asarray(img, dtype=np.float32) / 65535.0
            elif mode == "F":
                array = np.asarray(img, dtype=np.float32)
            elif mode in _GRAY_MODES or (mode == "P" and _palette_is_gray(img)):
                array = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
            else:
                array = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"{file}: corrupt or unreadable image ({type(err).__name__}: {err})") from None
    if not np.isfinite(array).all():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise DataError(f"{file}: image holds {bad} NaN or infinite pixel value{'s' if bad != 1 else ''}")
    array = np.clip(array, 0.0, 1.0)
    return array[None] if array.ndim == 2 else np.ascontiguousarray(array.transpose(2, 0, 1))


def _palette_is_gray(img) -> bool:  # noqa: ANN001 - a PIL image
    colours = img.convert("RGB").getcolors(maxcolors=256 * 256)
    return colours is not None and all(r == g == b for _, (r, g, b) in colours)


def _finish(
    images: torch.Tensor, image_size: int | tuple[int, int] | None, channels: int | None
) -> torch.Tensor:
    """Bring ``[N, C, H, W]`` to the requested channels and size (``None``: keep)."""
    if channels is not None:
        images = convert_channels(images, channels)
    if image_size is not None:
        images = resize_images(images, image_size)
    return images.contiguous()


# --------------------------------------------------------------------------- splits


def _split_all(images: torch.Tensor, labels: np.ndarray, seed: int) -> Raw:
    parts = split_indices(labels, DEFAULT_FRACTIONS, seed)
    return {name: (images[idx], labels[idx]) for name, idx in zip(SPLIT_NAMES, parts)}


def _make_splits(parts: Raw, names: list[str], source: str, extras: dict | None = None,
                 item: _ImageItem | None = None, strict: bool = False, seed: int = 0) -> Splits:
    """TensorDatasets of ``parts`` (``{split: (images, labels)}``), or with ``item``
    ``LazyFiles`` of ``{split: (files, labels)}`` decoded by it."""
    datasets = {}
    for name in SPLIT_NAMES:
        images, labels = parts[name]
        if len(labels) == 0:
            raise DataError(
                f"{source}: the {name} split is empty; need at least 3 images of some class "
                "for a train/val/test split"
            )
        if item is not None:
            datasets[name] = LazyFiles(list(images), labels, item, seed, item.shape, strict)
            continue
        datasets[name] = TensorDataset(images.contiguous(), torch.as_tensor(labels, dtype=torch.int64))
    return Splits(label_names=list(names), extras=dict(extras or {}), **datasets)
