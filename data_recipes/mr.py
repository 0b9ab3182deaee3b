"""Check a local copy of MR (movie-review sentence polarity) and write it where convkit's text task reads it.

Source:   Bo Pang and Lillian Lee, "Seeing stars: Exploiting class relationships for
          sentiment categorization with respect to rating scales", ACL 2005: "sentence
          polarity dataset v1.0", rt-polaritydata.tar.gz from the Cornell movie-review data
          page (http://www.cs.cornell.edu/people/pabo/movie-review-data/). Download it
          yourself; this script never uses the network.
Licence:  none stated; distributed by the authors for research use (cite Pang & Lee 2005).
Expected: rt-polarity.pos and rt-polarity.neg, 5,331 sentences each (one per line,
          latin-1, already lower-cased and tokenized), about 1.2 MB in all.
Checks:   both files present, latin-1 decodable, 5,331 non-blank lines each, no sentence
          in both files more than a handful of times.
Output:   the two files, unchanged, under --out; then
              python -m convkit.tasks.text train --recipe mr --data OUT
              python -m convkit.tasks.text train --recipe mr --data OUT --set data.cv_folds=10   (10-fold CV)

Usage:    python data_recipes/mr.py --src LOCAL_COPY --out DIR [--skip-counts]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from convkit.errors import ConvkitError, DataError
from convkit.tasks.text.data import read_polarity_pair

EXPECTED_PER_CLASS = 5331
FILES = ("rt-polarity.pos", "rt-polarity.neg")


def find(src: Path, name: str) -> Path:
    """``name`` under ``src`` (shallowest first)."""
    found = sorted((p for p in src.rglob(name) if p.is_file()), key=lambda p: len(p.parts))
    if not found:
        raise DataError(f"{src}: {name} not found; expected the rt-polarity pair ({', '.join(FILES)})")
    return found[0]


def check_mr(src: str | Path, per_class: int | None = EXPECTED_PER_CLASS) -> dict[str, Path]:
    """Check the pair under ``src``; returns ``{file name: path}``. Raises DataError."""
    root = Path(src)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; expected a folder holding {', '.join(FILES)}")
    paths = {name: find(root, name) for name in FILES}
    raw = read_polarity_pair(paths["rt-polarity.pos"], paths["rt-polarity.neg"], "latin-1")
    for label, name in (("pos", "rt-polarity.pos"), ("neg", "rt-polarity.neg")):
        count = raw.labels.count(label)
        if per_class is not None and count != per_class:
            raise DataError(f"{paths[name]}: has {count} sentences; expected {per_class}")
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 for a data error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="folder holding a downloaded rt-polaritydata copy")
    parser.add_argument("--out", required=True, help="folder to write rt-polarity.pos/.neg to")
    parser.add_argument("--skip-counts", action="store_true", help="accept other sentence counts (a variant)")
    args = parser.parse_args(argv)
    try:
        paths = check_mr(args.src, None if args.skip_counts else EXPECTED_PER_CLASS)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, path in paths.items():
            shutil.copyfile(path, out / name)
            print(f"ok  {out / name}")
    except ConvkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"MR checked. Train with: python -m convkit.tasks.text train --recipe mr --data {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
