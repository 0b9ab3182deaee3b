"""Check a local copy of MNIST and write it where convkit's image task reads it.

Source:   Yann LeCun, Corinna Cortes and Christopher J. C. Burges, "The MNIST database
          of handwritten digits", http://yann.lecun.com/exdb/mnist/ and its mirrors
          (e.g. https://ossci-datasets.s3.amazonaws.com/mnist/). Download it yourself;
          this script never uses the network.
Licence:  Creative Commons Attribution-Share Alike 3.0 (CC BY-SA 3.0).
Expected: 60,000 training and 10,000 test images, 28x28 grayscale, labels 0-9, in four
          IDX files (about 11 MB gzipped, 55 MB uncompressed):
              train-images-idx3-ubyte(.gz)  train-labels-idx1-ubyte(.gz)
              t10k-images-idx3-ubyte(.gz)   t10k-labels-idx1-ubyte(.gz)
Checks:   IDX magic numbers, declared vs. actual sizes, counts, 28x28 images, labels in
          0-9, and the published MD5 of each .gz file (the values torchvision checks;
          uncompressed files have no published checksum, so they are checked by content
          only; --skip-checksums accepts re-compressed copies and look-alikes such as
          Fashion-MNIST).
Output:   the four files, uncompressed, under --out; then
              python -m convkit.tasks.image train --data OUT

Usage:    python data_recipes/mnist.py --src LOCAL_COPY --out DIR [--skip-checksums]
LOCAL_COPY may be the folder holding the files or any parent of it (e.g. torchvision's
``MNIST/`` with its ``raw/`` subfolder).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

from convkit.errors import ConvkitError, DataError
from convkit.tasks.image.data import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, read_idx

FILES: dict[str, int] = {
    "train-images-idx3-ubyte": IDX_IMAGES_MAGIC,
    "train-labels-idx1-ubyte": IDX_LABELS_MAGIC,
    "t10k-images-idx3-ubyte": IDX_IMAGES_MAGIC,
    "t10k-labels-idx1-ubyte": IDX_LABELS_MAGIC,
}
"""The four MNIST files (uncompressed names) and their IDX magic numbers."""

PUBLISHED_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
"""MD5 of the published gzipped files (as listed by torchvision.datasets.MNIST)."""

EXPECTED_COUNTS: dict[str, int] = {"train": 60_000, "t10k": 10_000}
"""Images (and labels) per split."""

IMAGE_SHAPE: tuple[int, int] = (28, 28)
NUM_CLASSES = 10


def find_file(src: Path, name: str) -> Path:
    """The file ``name`` or ``name.gz`` under ``src`` (shallowest first; plain wins over .gz at equal depth)."""
    candidates = [p for pattern in (name, name + ".gz") for p in src.rglob(pattern) if p.is_file()]
    if not candidates:
        raise DataError(f"{src}: {name}[.gz] not found; expected the four MNIST IDX files ({', '.join(FILES)})")
    return min(candidates, key=lambda p: (len(p.relative_to(src).parts), p.suffix == ".gz", str(p)))


def md5(path: Path) -> str:
    """Hex MD5 of a file, read in 1 MiB blocks."""
    digest = hashlib.md5()  # noqa: S324 - the published checksums are MD5
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_mnist(
    src: str | Path,
    counts: dict[str, int] = EXPECTED_COUNTS,
    verify_checksums: bool = True,
) -> dict[str, np.ndarray]:
    """Check a local MNIST copy and return its arrays.

    Args:
        src: folder holding the four IDX files (plain or ``.gz``), possibly in a subfolder.
        counts: expected images per split (``{"train": 60000, "t10k": 10000}``).
        verify_checksums: compare each ``.gz`` file with its published MD5.

    Returns:
        ``{file name: array}``: images uint8 ``[N, 28, 28]``, labels uint8 ``[N]``.

    Raises:
        DataError: a file is missing, malformed, has the wrong count, size or labels,
            or a ``.gz`` file's checksum differs from the published one.
    """
    root = Path(src)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; expected a folder holding the MNIST IDX files")
    arrays: dict[str, np.ndarray] = {}
    for name, magic in FILES.items():
        path = find_file(root, name)
        if verify_checksums and path.suffix == ".gz":
            digest = md5(path)
            if digest != PUBLISHED_MD5[path.name]:
                raise DataError(
                    f"{path}: MD5 {digest} differs from the published {PUBLISHED_MD5[path.name]}; "
                    "re-download it, or pass --skip-checksums for a re-compressed copy"
                )
        array = read_idx(path, magic)
        split = name.split("-")[0]
        if len(array) != counts[split]:
            kind = "images" if magic == IDX_IMAGES_MAGIC else "labels"
            raise DataError(f"{path}: has {len(array)} {kind}; expected {counts[split]}")
        if magic == IDX_IMAGES_MAGIC and tuple(array.shape[1:]) != IMAGE_SHAPE:
            raise DataError(
                f"{path}: images are {array.shape[1]}x{array.shape[2]}; expected "
                f"{IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}"
            )
        if magic == IDX_LABELS_MAGIC and array.size and int(array.max()) >= NUM_CLASSES:
            raise DataError(f"{path}: has label {int(array.max())}; expected labels 0-{NUM_CLASSES - 1}")
        arrays[name] = array
    return arrays


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file, atomically (temp file, fsync, rename)."""
    header = struct.pack(">I", 0x00000800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(header)
            stream.write(np.ascontiguousarray(array, dtype=np.uint8).tobytes())
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare(
    src: str | Path,
    out: str | Path,
    counts: dict[str, int] = EXPECTED_COUNTS,
    verify_checksums: bool = True,
) -> dict[str, Path]:
    """Check ``src`` (see :func:`check_mnist`) and write the four uncompressed IDX files into ``out``.

    Nothing is written unless every file passes.

    Returns:
        ``{file name: written path}``.
    """
    arrays = check_mnist(src, counts, verify_checksums)
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a folder; expected an output folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, array in arrays.items():
        written[name] = out_dir / name
        write_idx(written[name], array)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 for a data error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="folder holding a downloaded copy of the four MNIST files")
    parser.add_argument("--out", required=True, help="folder to write the checked, uncompressed IDX files to")
    parser.add_argument("--skip-checksums", action="store_true", help="do not compare .gz files with the published MD5")
    args = parser.parse_args(argv)
    try:
        written = prepare(args.src, args.out, verify_checksums=not args.skip_checksums)
    except ConvkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written.values():
        print(f"ok  {path}")
    print(f"MNIST checked: {EXPECTED_COUNTS['train']} train + {EXPECTED_COUNTS['t10k']} test images, "
          f"{IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}. Train with: python -m convkit.tasks.image train --data {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
