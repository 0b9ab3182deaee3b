"""Check a local copy of the Numenta Anomaly Benchmark (NAB) and copy it where convkit reads it.

Source:   Alexander Lavin and Subutai Ahmad, "Evaluating Real-time Anomaly Detection
          Algorithms - the Numenta Anomaly Benchmark", ICMLA 2015; the data and labels of
          the repository https://github.com/numenta/NAB (release v1.1). Clone or download
          it yourself; this script never uses the network.
Licence:  GNU Affero General Public License v3 (AGPL-3.0), the licence of the NAB
          repository, which holds the data and labels.
Expected: 58 CSV files (timestamp,value; about 1,100 to 22,700 rows each) in 7 groups under data/:
              artificialNoAnomaly 5, artificialWithAnomaly 6, realAdExchange 6,
              realAWSCloudwatch 17, realKnownCause 7, realTraffic 7, realTweets 10
          and labels/combined_windows.json with an entry (a list of [start, end]
          anomaly windows; empty for files without anomalies) for every one of them.
Checks:   no checksums are published; the layout, the group counts, that the labels and
          the data files name the same 58 files, and every file's content (header
          timestamp,value, times strictly increasing, numeric values) are checked.
Output:   OUT/data/<group>/<file>.csv and OUT/labels/combined_windows.json; then
              python -m convkit.tasks.timeseries train --data OUT/data/realKnownCause/nyc_taxi.csv
          (one series, labelled from the windows), or --data OUT for all 58.

Usage:    python data_recipes/nab.py --src LOCAL_COPY --out DIR
LOCAL_COPY is the repository root (the folder holding data/ and labels/).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

from convkit.tasks.timeseries.data import load_nab
from convkit.errors import ConvkitError, DataError

EXPECTED_GROUPS: dict[str, int] = {
    "artificialNoAnomaly": 5,
    "artificialWithAnomaly": 6,
    "realAdExchange": 6,
    "realAWSCloudwatch": 17,
    "realKnownCause": 7,
    "realTraffic": 7,
    "realTweets": 10,
}
"""Data files per group in NAB v1.1 (58 in all)."""

LABELS_FILE = Path("labels") / "combined_windows.json"


def check_nab(src: str | Path, groups: dict[str, int] = EXPECTED_GROUPS) -> list[Path]:
    """Check a NAB copy and return its data files (relative to ``src``), sorted.

    Raises:
        DataError: the layout, a group's file count, the label entries or a file's content
            differ from what NAB v1.1 holds.
    """
    root = Path(src)
    if not (root / "data").is_dir() or not (root / LABELS_FILE).is_file():
        raise DataError(f"{root}: not a NAB copy; expected data/<group>/<file>.csv and {LABELS_FILE.as_posix()}")
    files = sorted(p.relative_to(root) for p in (root / "data").rglob("*.csv"))
    counts: dict[str, int] = {}
    for rel in files:
        if len(rel.parts) != 3:
            raise DataError(f"{root / rel}: expected data/<group>/<file>.csv, one folder level below data/")
        counts[rel.parts[1]] = counts.get(rel.parts[1], 0) + 1
    if counts != groups:
        problems = [
            f"{group}: {counts.get(group, 0)} files, expected {groups.get(group, 0)}"
            for group in sorted(set(counts) | set(groups))
            if counts.get(group, 0) != groups.get(group, 0)
        ]
        raise DataError(
            f"{root / 'data'}: {sum(counts.values())} files, expected {sum(groups.values())} (NAB v1.1): "
            + "; ".join(problems)
        )
    try:
        windows = json.loads((root / LABELS_FILE).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{root / LABELS_FILE}: not valid JSON ({err})") from None
    keys = {Path(*rel.parts[1:]).as_posix() for rel in files}
    if not isinstance(windows, dict) or set(windows) != keys:
        unlabelled = sorted(keys - set(windows)) if isinstance(windows, dict) else sorted(keys)
        stray = sorted(set(windows) - keys) if isinstance(windows, dict) else []
        detail = (f"no entry for {unlabelled[0]!r}" if unlabelled else f"an entry {stray[0]!r} without a data file")
        raise DataError(f"{root / LABELS_FILE}: must have one entry per data file; {detail}")
    series = load_nab(root)  # checks every file's content and the windows (skips art_flatline: constant)
    for s in series:
        if s.channel_names != ["value"]:
            raise DataError(f"{root / 'data' / (s.name + '.csv')}: columns {s.channel_names}; expected timestamp,value")
    return files


def prepare(src: str | Path, out: str | Path, groups: dict[str, int] = EXPECTED_GROUPS) -> list[Path]:
    """Check ``src`` (see :func:`check_nab`) and copy ``data/`` and the labels into ``out``.

    Nothing is copied unless every file passes.

    Returns:
        The written paths: the data files, sorted, then the labels file.
    """
    root, out_dir = Path(src), Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a folder; expected an output folder")
    files = check_nab(root, groups)
    written = []
    for rel in [*files, LABELS_FILE]:
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(root / rel, tmp)
        os.replace(tmp, target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 for a data error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="the NAB repository root (holding data/ and labels/)")
    parser.add_argument("--out", required=True, help="folder to copy data/ and labels/combined_windows.json to")
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always")
            written = prepare(args.src, args.out)
    except ConvkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for note in notes:  # e.g. art_flatline.csv: constant, copied but not trained on
        print(f"note: {note.message}")
    print(f"NAB checked: {len(written) - 1} series in {len(EXPECTED_GROUPS)} groups copied to {args.out}. "
          f"Train with: python -m convkit.tasks.timeseries train --data {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
