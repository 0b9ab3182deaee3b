"""Check a local copy of ModelNet10 or ModelNet40 and write it as one sampled .npz for
convkit's point-cloud task.

Source:   Wu et al., "3D ShapeNets: A Deep Representation for Volumetric Shapes" (CVPR 2015),
          the Princeton ModelNet page (modelnet.cs.princeton.edu): ModelNet10.zip and
          ModelNet40.zip. Download it yourself; this script never uses the network.
Licence:  for academic research use, as the ModelNet page states (the CAD models were
          collected from the web; see the page for the terms).
Expected: <class>/train/*.off and <class>/test/*.off. ModelNet40: 40 classes, 12,311
          meshes (9,843 train, 2,468 test); ModelNet10: 10 classes, 4,899 meshes (3,991
          train, 908 test). No checksums are published, so classes and counts are checked.
          Some ModelNet files glue the header to the counts ("OFF490 518 0"); convkit's
          reader accepts that. A __MACOSX folder from the archive is ignored.
Output:   OUT/modelnet<10|40>_<points>.npz with points [S, P, 3] (surface-sampled with
          area weighting, centred, in the unit sphere), labels [S], label_names [K] and
          split [S] ("train"/"test"); then
              python -m convkit.tasks.pointcloud train --data OUT/modelnet40_1024.npz \\
                  --recipe modelnet40
          (--data may also point at the unpacked folder itself: the task samples and
          caches it on first use.)

Usage:    python data_recipes/modelnet.py --src LOCAL_COPY --out DIR [--points 1024] [--seed 0]
                                          [--skip-counts]
LOCAL_COPY is the unpacked ModelNet10/ or ModelNet40/ folder (or a parent of it).
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

import numpy as np

from convkit.errors import ConvkitError, DataError
from convkit.tasks.pointcloud.data import read_cloud

EXPECTED = {10: {"train": 3991, "test": 908}, 40: {"train": 9843, "test": 2468}}
"""The published split sizes by number of classes."""


def find_root(src: Path) -> Path:
    """The folder under ``src`` (itself or the shallowest below) whose subfolders hold
    ``train/`` and ``test/`` folders of .off files."""
    candidates = {p.parent.parent.parent for p in src.rglob("*.off")
                  if p.parent.name in ("train", "test") and "__MACOSX" not in p.parts}
    if not candidates:
        raise DataError(f"{src}: no <class>/train|test/*.off files found; expected an unpacked ModelNet copy")
    return min(candidates, key=lambda p: (len(p.parts), str(p)))


def list_meshes(root: Path) -> dict[str, list[tuple[Path, str]]]:
    """``{"train": [(file, class)], "test": [...]}`` of a ModelNet folder."""
    classes = sorted(c.name for c in root.iterdir() if c.is_dir() and c.name != "__MACOSX"
                     and not c.name.startswith("."))
    return {split: [(f, c) for c in classes for f in sorted((root / c / split).glob("*.off"))]
            for split in ("train", "test")}


def check_counts(meshes: dict, skip: bool) -> int:
    """The number of classes; a DataError unless it and the split sizes are ModelNet's."""
    classes = sorted({c for entries in meshes.values() for _, c in entries})
    counts = {s: len(v) for s, v in meshes.items()}
    if not skip:
        expected = EXPECTED.get(len(classes))
        if expected is None or counts != expected:
            raise DataError(f"found {len(classes)} classes with {counts}; expected ModelNet10 "
                            f"{EXPECTED[10]} or ModelNet40 {EXPECTED[40]} (--skip-counts accepts subsets)")
    return len(classes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--points", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-counts", action="store_true")
    args = parser.parse_args(argv)
    try:
        root = find_root(args.src)
        meshes = list_meshes(root)
        k = check_counts(meshes, args.skip_counts)
        names = sorted({c for entries in meshes.values() for _, c in entries})
        points, labels, split, skipped = [], [], [], []
        for part, entries in meshes.items():
            for i, (f, c) in enumerate(entries):
                rel = str(f.relative_to(root))
                rng = np.random.default_rng([args.seed, zlib.crc32(rel.encode())])
                try:
                    points.append(read_cloud(f, args.points, 3, rng)[0])
                except DataError as err:
                    skipped.append(str(err))
                    continue
                labels.append(names.index(c))
                split.append(part)
                if (i + 1) % 1000 == 0:
                    print(f"{part}: {i + 1}/{len(entries)} meshes sampled", file=sys.stderr)
        args.out.mkdir(parents=True, exist_ok=True)
        out = args.out / f"modelnet{k}_{args.points}.npz"
        np.savez(out, points=np.stack(points), labels=np.array(labels, dtype=np.int64),
                 label_names=np.array(names), split=np.array(split))
    except ConvkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for message in skipped:
        print(f"skipped {message}", file=sys.stderr)
    print(f"wrote {out}: {len(labels)} clouds of {args.points} points, {k} classes "
          f"({split.count('train')} train, {split.count('test')} test, {len(skipped)} skipped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
