"""Check a local copy of the IMDB large movie review dataset (aclImdb) and write it as TSVs for convkit's text task.

Source:   Andrew L. Maas et al., "Learning word vectors for sentiment analysis", ACL 2011:
          aclImdb_v1.tar.gz from https://ai.stanford.edu/~amaas/data/sentiment/. Download it
          yourself; this script never uses the network.
Licence:  none stated; distributed by the authors for research use (cite Maas et al. 2011).
Expected: aclImdb/train/{pos,neg}/*.txt and aclImdb/test/{pos,neg}/*.txt, 12,500 reviews
          each (train/unsup/ holds 50,000 unlabelled ones, ignored); about 480 MB unpacked.
Checks:   the layout, the four counts, UTF-8 text.
Output:   OUT/train.tsv and OUT/test.tsv (`sentence<TAB>label`, labels neg/pos, `<br />`
          removed), which load far faster than 50,000 small files; the task carves 10% of
          train for validation. Reviews are long: train with e.g.
              python -m convkit.tasks.text train --data OUT --set data.max_length=400 data.min_freq=2

Usage:    python data_recipes/imdb.py --src LOCAL_COPY --out DIR [--skip-counts]
(The task also reads the aclImdb folder itself: --data aclImdb.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convkit.errors import ConvkitError, DataError
from convkit.tasks.text.data import read_class_folders, write_tsv

EXPECTED_PER_CLASS = 12500


def check_imdb(src: str | Path, per_class: int | None = EXPECTED_PER_CLASS) -> dict:
    """Read and check ``aclImdb/{train,test}/{pos,neg}``; ``{"train": RawSplit, "test": RawSplit}``."""
    root = Path(src)
    candidates = [root] + sorted(p.parent for p in root.rglob("train") if p.is_dir()) if root.is_dir() else []
    base = next((c for c in candidates if (c / "train" / "pos").is_dir() and (c / "test" / "neg").is_dir()), None)
    if base is None:
        raise DataError(f"{root}: no aclImdb layout found; expected train/pos, train/neg, test/pos, test/neg folders")
    splits = {}
    for split in ("train", "test"):
        raw = read_class_folders(base / split, "utf-8")
        for label in ("neg", "pos"):
            count = raw.labels.count(label)
            if per_class is not None and count != per_class:
                raise DataError(f"{base / split / label}: has {count} reviews; expected {per_class}")
        splits[split] = raw
    return splits


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 for a data error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="folder holding a downloaded aclImdb copy")
    parser.add_argument("--out", required=True, help="folder to write train.tsv and test.tsv to")
    parser.add_argument("--skip-counts", action="store_true", help="accept other review counts")
    args = parser.parse_args(argv)
    try:
        for split, raw in check_imdb(args.src, None if args.skip_counts else EXPECTED_PER_CLASS).items():
            print(f"ok  {write_tsv(Path(args.out) / f'{split}.tsv', raw.texts, raw.labels)}")
    except ConvkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"IMDB checked. Train with: python -m convkit.tasks.text train --data {args.out} --set data.max_length=400")
    return 0


if __name__ == "__main__":
    sys.exit(main())
