"""Check a local copy of the UCR Time Series Anomaly Archive and copy its series where convkit reads them.

Source:   Renjie Wu and Eamonn Keogh, "Current Time Series Anomaly Detection Benchmarks are
          Flawed and are Creating the Illusion of Progress", IEEE TKDE 2021; the archive
          UCR_TimeSeriesAnomalyDatasets2021.zip from
          https://www.cs.ucr.edu/~eamonn/time_series_data_2018/ . Download and unzip it
          yourself (or pass the .zip itself); this script never uses the network.
Licence:  no formal licence is stated; the archive is offered freely for research use.
          Cite the paper above.
Expected: 250 univariate series, one per file, numbered 001-250 and named
              NNN_UCR_Anomaly_<name>_<train end>_<anomaly begin>_<anomaly end>.txt
          (e.g. 001_UCR_Anomaly_DISTORTED1sddb40_35000_52000_52620.txt), each with one
          anomaly after the training part; lengths run from a few thousand to several
          hundred thousand points. In the zip they sit in a UCR_Anomaly_FullData folder;
          the files are found anywhere below --src.
Checks:   no checksums are published, so each file is checked by content: the name's
          pattern, numbers 001-250 each present once, every value a number, and
          0 < train end < begin <= end <= length.
Output:   the 250 .txt files, unchanged, directly under --out; then
              python -m convkit.tasks.timeseries train --data OUT/001_UCR_Anomaly_....txt
          (one series), or --data OUT for the whole archive.

Usage:    python data_recipes/ucr_anomaly.py --src LOCAL_COPY --out DIR
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from tqdm import tqdm

from convkit.tasks.timeseries.data import UCR_ANOMALY_NAME, load_ucr_anomaly
from convkit.errors import ConvkitError, DataError

EXPECTED_FILES = 250
"""Series in the 2021 archive, numbered 001-250."""


def find_series(src: Path) -> dict[int, Path]:
    """The archive's files below ``src`` by number; a number seen twice with different content is an error."""
    found: dict[int, Path] = {}
    for path in sorted(src.rglob("*.txt")):
        match = UCR_ANOMALY_NAME.match(path.name)
        if match is None:
            continue
        number = int(match.group(1))
        if number in found:
            other = found[number]
            if other.name != path.name or other.read_bytes() != path.read_bytes():
                raise DataError(f"{src}: series {number:03d} appears twice with different content ({other} and {path})")
            continue
        found[number] = path
    return found


def check_ucr_anomaly(src: str | Path, expected: int = EXPECTED_FILES) -> list[Path]:
    """Check an unpacked copy of the archive and return its files sorted by number.

    Raises:
        DataError: files missing or extra (by number), a malformed file, or a name whose
            split or anomaly range does not fit the series.
    """
    root = Path(src)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; expected the unpacked UCR anomaly archive (or its .zip)")
    found = find_series(root)
    if not found:
        raise DataError(f"{root}: no files named like 001_UCR_Anomaly_<name>_<train end>_<begin>_<end>.txt")
    missing = sorted(set(range(1, expected + 1)) - set(found))
    extra = sorted(set(found) - set(range(1, expected + 1)))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing numbers {_ranges(missing)}")
        if extra:
            parts.append(f"unexpected numbers {_ranges(extra)}")
        raise DataError(
            f"{root}: found {len(found)} series, expected {expected} numbered 1-{expected}: {'; '.join(parts)}"
        )
    for number in tqdm(sorted(found), desc="checking series", unit="file", leave=False):
        load_ucr_anomaly(found[number])  # raises a DataError naming the file if it is malformed
    return [found[n] for n in sorted(found)]


def prepare(src: str | Path, out: str | Path, expected: int = EXPECTED_FILES) -> list[Path]:
    """Check ``src`` (a folder, or the archive's .zip) and copy the series files into ``out``.

    Nothing is copied unless every file passes.

    Returns:
        The written paths, sorted by number.
    """
    src, out_dir = Path(src), Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a folder; expected an output folder")
    if src.is_file() and zipfile.is_zipfile(src):
        with tempfile.TemporaryDirectory() as tmp:
            _extract_series(src, Path(tmp))
            return prepare(tmp, out_dir, expected)
    files = check_ucr_anomaly(src, expected)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in files:
        target = out_dir / path.name
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
        written.append(target)
    return written


def _extract_series(archive: Path, into: Path) -> None:
    """Extract only the series files of the zip (by name pattern), flat into ``into``."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = Path(info.filename).name
                if not info.is_dir() and UCR_ANOMALY_NAME.match(name):
                    with zf.open(info) as source, open(into / name, "wb") as target:
                        shutil.copyfileobj(source, target)
    except zipfile.BadZipFile as err:
        raise DataError(f"{archive}: not a readable zip file ({err})") from None


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``'1-3, 7'`` (first 10 runs)."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    text = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in runs[:10])
    return text + (", ..." if len(runs) > 10 else "")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 for a data error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--src", required=True, help="the unpacked archive (any parent folder of the .txt files) or its .zip"
    )
    parser.add_argument("--out", required=True, help="folder to copy the checked .txt files to")
    args = parser.parse_args(argv)
    try:
        written = prepare(args.src, args.out)
    except ConvkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"UCR anomaly archive checked: {len(written)} series copied to {args.out}. "
          f"Train on one with: python -m convkit.tasks.timeseries train --data {written[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
