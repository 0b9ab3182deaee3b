"""Write scikit-learn's bundled handwritten digits as a folder of point clouds for
convkit's point-cloud task: real point sets that need no download.

Source:   the UCI "Optical Recognition of Handwritten Digits" test set as scikit-learn ships
          it (sklearn.datasets.load_digits: 1,797 images of 8 x 8 pixels with ink levels
          0-16, 10 classes; Alpaydin & Kaynak 1998; CC BY 4.0). Nothing is downloaded.
Points:   each image becomes a cloud of POINTS points in the plane z = 0: a pixel is drawn
          with probability proportional to its ink, then a point uniform inside that pixel
          (x to the right, y up). Seeded per image, so the same seed writes the same files.
Split:    a stratified, seeded 75/25 split (1,347 train, 450 test: scikit-learn's
          train_test_split default).
Output:   OUT/train/<digit>/<index>.npy and OUT/test/<digit>/<index>.npy, arrays
          [POINTS, 3] float32; then
              python -m convkit.tasks.pointcloud train --data OUT

Usage:    python data_recipes/digits_points.py --out DIR [--points 128] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def digit_cloud(image: np.ndarray, points: int, rng: np.random.Generator) -> np.ndarray:
    """One 8 x 8 ink image -> ``[points, 3]`` float32: pixels drawn by ink, a uniform point
    inside each (x = column, y = 7 - row), z = 0."""
    ink = image.astype(np.float64).ravel()
    cells = rng.choice(ink.size, size=points, p=ink / ink.sum())
    rows, cols = np.divmod(cells, image.shape[1])
    xy = np.stack([cols, image.shape[0] - 1 - rows], axis=1) + rng.random((points, 2))
    return np.concatenate([xy, np.zeros((points, 1))], axis=1).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the folder to write (train/ and test/ inside)")
    parser.add_argument("--points", type=int, default=128, help="points per cloud (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="the split and the point draws (default 0)")
    args = parser.parse_args(argv)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    index = np.arange(len(digits.target))
    train, test = train_test_split(index, test_size=0.25, stratify=digits.target, random_state=args.seed)
    out = Path(args.out)
    for split, chosen in (("train", train), ("test", test)):
        for i in sorted(chosen):
            rng = np.random.default_rng([args.seed, int(i)])
            folder = out / split / str(digits.target[i])
            folder.mkdir(parents=True, exist_ok=True)
            np.save(folder / f"{i:04d}.npy", digit_cloud(digits.images[i], args.points, rng))
    print(f"wrote {len(train)} train and {len(test)} test clouds of {args.points} points to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
