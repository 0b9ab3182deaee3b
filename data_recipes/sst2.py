"""Check a local copy of SST-2 (GLUE) and write it where convkit's text task reads it.

Source:   Richard Socher et al., "Recursive deep models for semantic compositionality over
          a sentiment treebank", EMNLP 2013, in the GLUE benchmark's binary sentence-level
          form (SST-2.zip from the GLUE data page, https://gluebenchmark.com/tasks). Download
          it yourself; this script never uses the network.
Licence:  the Stanford Sentiment Treebank's terms (research use; cite Socher et al. 2013 and
          Wang et al. 2019 for GLUE).
Expected: SST-2/train.tsv (67,349 rows), dev.tsv (872), test.tsv (1,821, no labels), UTF-8,
          header `sentence<TAB>label`; about 7.4 MB unpacked.
Checks:   headers, row counts, labels in {0, 1}.
Output:   OUT/train.tsv (GLUE train) and OUT/test.tsv (GLUE dev, since GLUE's test labels
          are not public); the task carves a seeded, stratified 10% validation split from
          train. Then
              python -m convkit.tasks.text train --recipe sst2 --data OUT

Usage:    python data_recipes/sst2.py --src LOCAL_COPY --out DIR [--skip-counts]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convkit.errors import ConvkitError, DataError
from convkit.tasks.text.data import read_table, write_tsv

EXPECTED_ROWS = {"train.tsv": 67349, "dev.tsv": 872}


def check_sst2(src: str | Path, counts: dict[str, int] | None = EXPECTED_ROWS) -> dict:
    """Read and check GLUE's train.tsv and dev.tsv under ``src``; ``{file: RawSplit}``."""
    root = Path(src)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; expected GLUE's SST-2 folder (train.tsv, dev.tsv)")
    splits = {}
    for name in EXPECTED_ROWS:
        found = sorted((p for p in root.rglob(name) if p.is_file()), key=lambda p: len(p.parts))
        if not found:
            raise DataError(f"{root}: {name} not found; expected GLUE's SST-2 files")
        raw = read_table(found[0], "utf-8")
        if counts is not None and len(raw.texts) != counts[name]:
            raise DataError(f"{found[0]}: has {len(raw.texts)} labelled rows; expected {counts[name]}")
        if set(raw.labels) - {"0", "1"}:
            raise DataError(f"{found[0]}: labels {sorted(set(raw.labels))}; expected 0 and 1")
        splits[name] = raw
    return splits


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 for a data error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="folder holding a downloaded SST-2 copy")
    parser.add_argument("--out", required=True, help="folder to write train.tsv and test.tsv to")
    parser.add_argument("--skip-counts", action="store_true", help="accept other row counts")
    args = parser.parse_args(argv)
    try:
        splits = check_sst2(args.src, None if args.skip_counts else EXPECTED_ROWS)
        for name, out_name in (("train.tsv", "train.tsv"), ("dev.tsv", "test.tsv")):
            path = write_tsv(Path(args.out) / out_name, splits[name].texts, splits[name].labels)
            print(f"ok  {path}")
    except ConvkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"SST-2 checked. Train with: python -m convkit.tasks.text train --recipe sst2 --data {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
