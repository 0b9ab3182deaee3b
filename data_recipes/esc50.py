"""Check a local copy of ESC-50 and write it where convkit's audio task reads it.

Source:   Karol J. Piczak, "ESC: Dataset for Environmental Sound Classification" (ACM MM
          2015), https://github.com/karolpiczak/ESC-50 (the repository archive, e.g.
          ESC-50-master.zip). Download it yourself; this script never uses the network.
Licence:  Creative Commons Attribution-NonCommercial 3.0 (CC BY-NC 3.0); the clips come
          from freesound.org, see the dataset's LICENSE and meta/esc50.csv (src_file).
Expected: 2,000 five-second clips, 44.1 kHz mono WAV, in audio/; meta/esc50.csv with the
          header filename,fold,target,category,esc10,src_file,take; 50 classes (targets
          0-49) of 40 clips each; five folds of 400 clips (clips from one source
          recording share a fold); the ESC-10 subset is 400 clips of 10 classes. About
          600 MB unpacked. There is no published checksum, so counts and headers are checked.
Checks:   the table's header and values, 2,000 rows, 50 targets x 40 clips with one
          category name each, 400 clips per fold, ESC-10 = 10 classes x 40, and every
          clip's header (a WAV libsndfile reads, 44.1 kHz, mono, 5 s). --skip-counts
          accepts subsets.
Output:   meta/esc50.csv and audio/ under --out (files hard-linked when on the same disk,
          else copied); then
              python -m convkit.tasks.audio train --data OUT --recipe esc50

Usage:    python data_recipes/esc50.py --src LOCAL_COPY --out DIR [--skip-counts]
LOCAL_COPY is the unpacked folder (or a parent of it), or the .zip archive itself.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import zipfile
from collections import Counter
from pathlib import Path

import soundfile as sf

from convkit.errors import ConvkitError, DataError

HEADER = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
SAMPLE_RATE = 44100
CLIP_FRAMES = 5 * SAMPLE_RATE
EXPECTED = {"clips": 2000, "classes": 50, "per_class": 40, "folds": 5, "per_fold": 400,
            "esc10_classes": 10}
"""The published sizes."""


def find_root(src: Path) -> Path:
    """The folder under ``src`` (itself or the shallowest below) holding ``meta/esc50.csv``."""
    candidates = [p.parent.parent for p in src.rglob("esc50.csv") if p.parent.name == "meta"]
    if not candidates:
        raise DataError(f"{src}: no meta/esc50.csv found; expected an unpacked ESC-50 copy")
    return min(candidates, key=lambda p: (len(p.parts), str(p)))


def read_table(table: Path) -> list[dict[str, object]]:
    """Rows of ``meta/esc50.csv`` as dicts with int ``fold``/``target`` and bool ``esc10``."""
    with open(table, newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != HEADER:
            raise DataError(f"{table}: header is {','.join(reader.fieldnames or [])}; expected "
                            f"{','.join(HEADER)}")
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                fold, target = int(row["fold"]), int(row["target"])
            except (TypeError, ValueError):
                raise DataError(f"{table}, line {line}: fold and target must be whole numbers; got "
                                f"{row['fold']!r}, {row['target']!r}") from None
            if row["esc10"] not in ("True", "False"):
                raise DataError(f"{table}, line {line}: esc10 must be True or False; got {row['esc10']!r}")
            rows.append({"filename": row["filename"], "fold": fold, "target": target,
                         "category": row["category"], "esc10": row["esc10"] == "True"})
    return rows


def check_esc50(src: str | Path, check_counts: bool = True) -> dict[str, object]:
    """Check an unpacked ESC-50 copy.

    Returns ``{"root": Path, "rows": [...], "classes": int, "esc10": int}``.

    Raises:
        DataError: a bad table (header, values, a target with two names, folds outside
            1-5), a listed clip that is missing, unreadable, not 44.1 kHz mono 5 s, or
            (with ``check_counts``) counts that differ from the published ones.
    """
    root = find_root(Path(src))
    table = root / "meta" / "esc50.csv"
    rows = read_table(table)
    if not rows:
        raise DataError(f"{table}: lists no clips")
    names: dict[int, str] = {}
    for row in rows:
        if names.setdefault(row["target"], row["category"]) != row["category"]:
            raise DataError(f"{table}: target {row['target']} names two categories "
                            f"({names[row['target']]!r} and {row['category']!r})")
        if row["fold"] not in range(1, 6):
            raise DataError(f"{table}: {row['filename']} is in fold {row['fold']}; expected folds 1-5")
    esc10 = {row["target"] for row in rows if row["esc10"]}
    if check_counts:
        per_class, per_fold = Counter(r["target"] for r in rows), Counter(r["fold"] for r in rows)
        problems = []
        if len(rows) != EXPECTED["clips"]:
            problems.append(f"{len(rows)} clips (expected {EXPECTED['clips']})")
        if sorted(per_class) != list(range(EXPECTED["classes"])):
            problems.append(f"{len(per_class)} targets (expected 0-{EXPECTED['classes'] - 1})")
        odd = sorted(t for t, n in per_class.items() if n != EXPECTED["per_class"])
        if odd:
            problems.append(f"targets {odd[:5]} without {EXPECTED['per_class']} clips")
        if sorted(per_fold.values()) != [EXPECTED["per_fold"]] * EXPECTED["folds"]:
            problems.append(f"clips per fold {dict(sorted(per_fold.items()))} (expected "
                            f"{EXPECTED['per_fold']} in each of {EXPECTED['folds']})")
        if len(esc10) != EXPECTED["esc10_classes"]:
            problems.append(f"{len(esc10)} ESC-10 classes (expected {EXPECTED['esc10_classes']})")
        if problems:
            raise DataError(f"{table}: has {'; '.join(problems)}; pass --skip-counts for a subset")
    for row in rows:
        _check_clip(root / "audio" / str(row["filename"]))
    return {"root": root, "rows": rows, "classes": len(names), "esc10": len(esc10)}


def _check_clip(file: Path) -> None:
    if not file.is_file():
        raise DataError(f"{file}: listed in meta/esc50.csv but missing")
    try:
        info = sf.info(str(file))
    except (RuntimeError, OSError, ValueError) as err:
        raise DataError(f"{file}: not a readable WAV file ({str(err).strip()})") from None
    if (info.samplerate, info.channels, info.frames) != (SAMPLE_RATE, 1, CLIP_FRAMES):
        raise DataError(f"{file}: is {info.samplerate} Hz, {info.channels} channel(s), {info.frames} "
                        f"samples; expected {SAMPLE_RATE} Hz mono, {CLIP_FRAMES} samples (5 s)")


def extract(archive: Path, out: Path) -> Path:
    """Unpack a .zip archive into ``out`` (refusing members that would land outside it)."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            target = out.resolve()
            for member in bundle.namelist():
                if not (target / member).resolve().is_relative_to(target):
                    raise DataError(f"{archive}: member {member!r} would be written outside {out}")
            bundle.extractall(out)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{archive}: not a readable .zip archive ({err})") from None
    return out


def prepare(src: str | Path, out: str | Path, check_counts: bool = True) -> dict[str, object]:
    """Check ``src`` (a folder, or a .zip unpacked into ``out/.unpacked``) and write
    ``meta/esc50.csv`` and ``audio/`` into ``out``. Returns :func:`check_esc50`'s summary."""
    source, out_dir = Path(src), Path(out)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder; expected an ESC-50 copy or its .zip")
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a folder; expected an output folder")
    unpacked = None
    if source.is_file():
        unpacked = out_dir / ".unpacked"
        unpacked.mkdir(parents=True, exist_ok=True)
        source = extract(source, unpacked)
    summary = check_esc50(source, check_counts)
    root = Path(summary["root"])
    files = [root / "meta" / "esc50.csv"] + [root / "audio" / str(r["filename"]) for r in summary["rows"]]
    files += [root / name for name in ("LICENSE", "README.md") if (root / name).is_file()]
    for file in files:
        target = out_dir / file.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.unlink()
        if unpacked is not None:
            file.rename(target)
            continue
        try:
            os.link(file, target)  # same disk: no extra space
        except OSError:
            shutil.copy2(file, target)
    if unpacked is not None:
        shutil.rmtree(unpacked)
    return summary | {"root": out_dir}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 for a data error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="the unpacked ESC-50 folder, or its .zip")
    parser.add_argument("--out", required=True, help="folder to write the checked copy to")
    parser.add_argument("--skip-counts", action="store_true", help="accept a subset (no count checks)")
    args = parser.parse_args(argv)
    try:
        summary = prepare(args.src, args.out, not args.skip_counts)
    except ConvkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"ESC-50 checked: {len(summary['rows'])} clips, {summary['classes']} classes "
          f"({summary['esc10']} in ESC-10), written to {args.out}.")
    print(f"Train with: python -m convkit.tasks.audio train --data {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
