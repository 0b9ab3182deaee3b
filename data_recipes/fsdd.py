"""Check a local copy of the Free Spoken Digit Dataset (FSDD) and write it with the manifest
of FSDD's usual split, beside the recordings convkit reads as they ship.

Source:   Zohar Jackson et al., "Free Spoken Digit Dataset" (Zenodo DOI 10.5281/zenodo.1342401),
          https://github.com/Jakobovski/free-spoken-digit-dataset, folder recordings/.
          Get it yourself; this script never uses the network.
Licence:  Creative Commons Attribution-ShareAlike 4.0 (CC BY-SA 4.0).
Expected: one flat folder of WAV files named {digit}_{speaker}_{index}.wav: 8 kHz mono,
          digits 0-9, 50 recordings (index 0-49) of each digit per speaker (six speakers,
          3,000 files, in the repository; any subset of speakers is accepted).
Checks:   every .wav name matches the pattern (digit 0-9, a speaker name, a whole index),
          each file is a WAV libsndfile reads at 8 kHz, mono, and every speaker has
          indices 0-49 of every digit (--skip-counts accepts other subsets).
Output:   under --out, recordings/ (hard links when on the same disk, else copies) and
          usual_split.csv (path,label,speaker,split): FSDD's usual split, recordings 0-4
          of each speaker and digit the test set, the rest training (convkit carves 10% of
          it for validation). Then
              python -m convkit.tasks.audio train --data OUT/usual_split.csv
          for the usual (in-speaker) split, and for voices the model never heard,
          leave-one-speaker-out cross-validation on the recordings as they ship:
              python -m convkit.tasks.audio train --data OUT/recordings \
                  --set data.label_pattern='{label}_{speaker}_{index}' data.group_by=speaker data.cv=logo

Usage:    python data_recipes/fsdd.py --src LOCAL_COPY --out DIR [--skip-counts]
LOCAL_COPY is the recordings/ folder or a folder above it.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import soundfile as sf

from convkit.errors import ConvkitError, DataError

NAME = re.compile(r"(?P<digit>[0-9])_(?P<speaker>[A-Za-z0-9-]+)_(?P<index>[0-9]+)\.wav")
"""An FSDD file name: ``{digit}_{speaker}_{index}.wav``."""

SAMPLE_RATE = 8000
PER_DIGIT = 50
"""Recordings of each digit per speaker (indices 0-49)."""

USUAL_TEST = range(5)
"""FSDD's usual split: the recordings with these indices are the test set."""

MANIFEST = "usual_split.csv"


def find_recordings(src: Path) -> Path:
    """The folder under ``src`` (itself or the shallowest below) holding FSDD's WAV files."""
    candidates = sorted({p.parent for p in src.rglob("*.wav") if NAME.fullmatch(p.name)},
                        key=lambda p: (len(p.parts), str(p)))
    if not candidates:
        raise DataError(f"{src}: no files named {{digit}}_{{speaker}}_{{index}}.wav; expected FSDD's recordings/")
    return candidates[0]


def check_fsdd(src: str | Path, check_counts: bool = True) -> dict[str, object]:
    """Check an FSDD copy. Returns ``{"root": recordings folder, "files": [(path, digit,
    speaker, index)], "speakers": [names]}``.

    Raises:
        DataError: a .wav whose name does not match, a file that is not an 8 kHz mono WAV,
            or (with ``check_counts``) a speaker without indices 0-49 of every digit.
    """
    source = Path(src)
    if not source.is_dir():
        raise DataError(f"{source}: no such folder; expected FSDD's recordings/ or a folder above it")
    root = find_recordings(source)
    files = []
    for path in sorted(root.glob("*.wav")):
        match = NAME.fullmatch(path.name)
        if match is None:
            raise DataError(f"{path}: the name does not match {{digit}}_{{speaker}}_{{index}}.wav")
        try:
            info = sf.info(str(path))
        except (RuntimeError, OSError, ValueError) as err:
            raise DataError(f"{path}: not a readable WAV file ({str(err).strip()})") from None
        if (info.samplerate, info.channels) != (SAMPLE_RATE, 1) or info.frames == 0:
            raise DataError(f"{path}: is {info.samplerate} Hz, {info.channels} channel(s), {info.frames} samples; "
                            f"expected {SAMPLE_RATE} Hz mono")
        files.append((path, match["digit"], match["speaker"], int(match["index"])))
    indices: dict[tuple[str, str], set[int]] = defaultdict(set)
    for _, digit, speaker, index in files:
        indices[speaker, digit].add(index)
    speakers = sorted({speaker for _, _, speaker, _ in files})
    if check_counts:
        for speaker in speakers:
            for digit in "0123456789":
                if indices[speaker, digit] != set(range(PER_DIGIT)):
                    raise DataError(f"{root}: {speaker} has {len(indices[speaker, digit])} recordings of digit "
                                    f"{digit} (expected indices 0-{PER_DIGIT - 1}); pass --skip-counts for a subset")
    return {"root": root, "files": files, "speakers": speakers}


def prepare(src: str | Path, out: str | Path, check_counts: bool = True) -> dict[str, object]:
    """Check ``src`` and write ``recordings/`` and :data:`MANIFEST` into ``out``. Returns
    :func:`check_fsdd`'s summary with ``root`` the written copy and ``test`` the number of
    test rows."""
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a folder; expected an output folder")
    summary = check_fsdd(src, check_counts)
    target = out_dir / "recordings"
    target.mkdir(parents=True, exist_ok=True)
    rows = []
    for path, digit, speaker, index in summary["files"]:
        copy = target / path.name
        if copy.resolve() != path.resolve():
            if copy.exists():
                copy.unlink()
            try:
                os.link(path, copy)  # same disk: no extra space
            except OSError:
                shutil.copy2(path, copy)
        rows.append((f"recordings/{path.name}", digit, speaker, "test" if index in USUAL_TEST else "train"))
    with open(out_dir / MANIFEST, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("path", "label", "speaker", "split"))
        writer.writerows(rows)
    return summary | {"root": target, "test": sum(r[3] == "test" for r in rows)}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 for a data error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="FSDD's recordings/ folder, or a folder above it")
    parser.add_argument("--out", required=True, help="folder to write recordings/ and usual_split.csv to")
    parser.add_argument("--skip-counts", action="store_true", help="accept a subset (no count checks)")
    args = parser.parse_args(argv)
    try:
        summary = prepare(args.src, args.out, not args.skip_counts)
    except ConvkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    print(f"FSDD checked: {len(summary['files'])} recordings of {len(summary['speakers'])} speakers "
          f"({', '.join(summary['speakers'])}), written to {out}; {summary['test']} are the usual test set.")
    print(f"Usual split:     python -m convkit.tasks.audio train --data {out / MANIFEST}")
    print(f"Unheard voices:  python -m convkit.tasks.audio train --data {out / 'recordings'} --set "
          "data.label_pattern='{label}_{speaker}_{index}' data.group_by=speaker data.cv=logo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
