"""Check a local copy of UCF101 and lay it out where convkit's video task reads it.

Source:   Khurram Soomro, Amir Roshan Zamir and Mubarak Shah, "UCF101: A dataset of 101
          human actions classes from videos in the wild", CRCV-TR-12-01, 2012,
          https://www.crcv.ucf.edu/data/UCF101.php (UCF101.rar and
          UCF101TrainTestSplits-RecognitionTask.zip). Download and unpack it yourself;
          this script never uses the network.
Licence:  for research use, as stated on the dataset's page (no formal licence).
Expected: 13,320 .avi clips (320x240, 25 fps, about 6.5 GB) in 101 class folders under
          ``UCF-101/``, and the split lists ``ucfTrainTestlist/``: ``classInd.txt`` (101
          lines ``<index> <Class>``), ``trainlist01-03.txt`` and ``testlist01-03.txt``
          (train/test clips 9537/3783, 9586/3734, 9624/3696).
Checks:   the 101 class folders and names (as in classInd.txt), the clip count per folder
          and in all, that every listed clip exists, that each split's train and test
          lists are disjoint and together cover every clip, and that no clip is empty.
          Videos are not decoded (the task decodes them, skipping bad ones with a warning).
Output:   without --out, nothing is written: a report only. With --out, OUT holds two
          symbolic links, ``UCF-101`` and ``ucfTrainTestlist``, to the checked copy; then
              python -m convkit.tasks.video train --recipe ucf101 --data OUT

Usage:    python data_recipes/ucf101.py --src LOCAL_COPY [--out DIR]
LOCAL_COPY is the folder holding ``UCF-101/`` and ``ucfTrainTestlist/`` (or a parent of
them, found up to two levels down).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from convkit.errors import ConvkitError, DataError

NUM_CLASSES = 101
TOTAL_CLIPS = 13_320
SPLIT_COUNTS: dict[int, tuple[int, int]] = {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}
"""(train, test) clips of each official split."""


def _find(src: Path, name: str) -> Path:
    """The folder ``name`` at ``src`` or up to two levels below it (shallowest first)."""
    for pattern in (name, f"*/{name}", f"*/*/{name}"):
        hits = sorted(p for p in src.glob(pattern) if p.is_dir())
        if hits:
            return hits[0]
    raise DataError(f"{src}: no {name}/ folder found (looked two levels down); expected the unpacked UCF101 "
                    "(UCF-101/ with 101 class folders, ucfTrainTestlist/ with the split lists)")


def read_class_index(lists: Path) -> list[str]:
    """``classInd.txt``'s class names in index order (lines ``<1-101> <Class>``)."""
    file = lists / "classInd.txt"
    if not file.is_file():
        raise DataError(f"{lists}: classInd.txt not found; expected the UCF101 split lists")
    names = []
    for n, line in enumerate(file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != len(names) + 1:
            raise DataError(f"{file}:{n}: expected '<index> <Class>' with index {len(names) + 1}; got {line.strip()!r}")
        names.append(parts[1])
    if len(names) != NUM_CLASSES:
        raise DataError(f"{file}: lists {len(names)} classes; expected {NUM_CLASSES}")
    return names


def read_list(file: Path, names: list[str]) -> list[str]:
    """The clips ``<Class>/<clip>.avi`` a train/test list names (its class checked)."""
    if not file.is_file():
        raise DataError(f"{file.parent}: {file.name} not found; expected the UCF101 split lists")
    known, clips = set(names), []
    for n, line in enumerate(file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        rel = line.split()[0]
        if rel.split("/")[0] not in known or rel.count("/") != 1:
            raise DataError(f"{file}:{n}: expected '<Class>/<clip>.avi' with a class of classInd.txt; got {rel!r}")
        clips.append(rel)
    return clips


def check_ucf101(src: str | Path, total: int = TOTAL_CLIPS,
                 split_counts: dict[int, tuple[int, int]] = SPLIT_COUNTS) -> dict:
    """Check a local UCF101 copy (see the module docstring).

    Args:
        src: folder holding ``UCF-101/`` and ``ucfTrainTestlist/`` (or a parent of them).
        total: expected clips in all; ``split_counts``: expected (train, test) per split.

    Returns:
        ``{"videos": Path, "lists": Path, "classes": [names], "clips_per_class": {name: n},
        "splits": {1: (train, test), ...}}``.

    Raises:
        DataError: a folder or list is missing, a class folder is missing or extra, a
            listed clip does not exist or is empty, a split's lists overlap or miss clips,
            or a count differs from the published one.
    """
    root = Path(src)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; expected the unpacked UCF101")
    videos, lists = _find(root, "UCF-101"), _find(root, "ucfTrainTestlist")
    names = read_class_index(lists)
    folders = sorted(d.name for d in videos.iterdir() if d.is_dir() and not d.name.startswith("."))
    missing, extra = sorted(set(names) - set(folders)), sorted(set(folders) - set(names))
    if missing or extra:
        raise DataError(f"{videos}: class folders differ from classInd.txt: "
                        f"missing {missing[:5] or 'none'}, extra {extra[:5] or 'none'}")
    per_class = {n: sorted(f.name for f in (videos / n).iterdir() if f.suffix.lower() == ".avi") for n in names}
    clips = {f"{n}/{f}" for n, fs in per_class.items() for f in fs}
    if len(clips) != total:
        raise DataError(f"{videos}: holds {len(clips)} .avi clips; expected {total}")
    empty = sorted(c for c in clips if (videos / c).stat().st_size == 0)
    if empty:
        raise DataError(f"{videos / empty[0]}: empty file (0 bytes); {len(empty)} clips are empty")
    splits = {}
    for split, (n_train, n_test) in split_counts.items():
        train = read_list(lists / f"trainlist0{split}.txt", names)
        test = read_list(lists / f"testlist0{split}.txt", names)
        for file, listed, expected in ((f"trainlist0{split}.txt", train, n_train),
                                       (f"testlist0{split}.txt", test, n_test)):
            if len(listed) != expected:
                raise DataError(f"{lists / file}: lists {len(listed)} clips; expected {expected}")
            absent = [c for c in listed if c not in clips]
            if absent:
                raise DataError(f"{lists / file}: lists {absent[0]}, which is not in {videos} "
                                f"({len(absent)} listed clips are missing)")
        if set(train) & set(test):
            raise DataError(f"{lists}: split {split} has {len(set(train) & set(test))} clips in both its "
                            "train and test lists")
        if set(train) | set(test) != clips:
            raise DataError(f"{lists}: split {split}'s lists leave {len(clips - set(train) - set(test))} clips out")
        splits[split] = (len(train), len(test))
    return {"videos": videos, "lists": lists, "classes": names,
            "clips_per_class": {n: len(fs) for n, fs in per_class.items()}, "splits": splits}


def lay_out(report: dict, out: str | Path) -> Path:
    """Make ``out/UCF-101`` and ``out/ucfTrainTestlist`` symbolic links to the checked
    copy (the layout the video task reads); existing links to the same place are kept."""
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a folder; expected an output folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, target in (("UCF-101", report["videos"]), ("ucfTrainTestlist", report["lists"])):
        link = out_dir / name
        if link.is_symlink() and link.resolve() == Path(target).resolve():
            continue
        if link.exists() or link.is_symlink():
            raise DataError(f"{link}: exists; expected a new output folder (or links to {target})")
        os.symlink(Path(target).resolve(), link, target_is_directory=True)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 for a data error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="folder holding the unpacked UCF-101/ and ucfTrainTestlist/")
    parser.add_argument("--out", help="folder to link the checked copy into (omit: check and report only)")
    args = parser.parse_args(argv)
    try:
        report = check_ucf101(args.src)
        out = lay_out(report, args.out) if args.out else None
    except ConvkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    counts = report["clips_per_class"].values()
    print(f"UCF101 checked: {sum(counts)} clips in {len(report['classes'])} classes "
          f"({min(counts)}-{max(counts)} per class) under {report['videos']}")
    for split, (train, test) in report["splits"].items():
        print(f"  split {split}: {train} train, {test} test")
    if out is not None:
        print(f"Laid out under {out}. Train with: python -m convkit.tasks.video train "
              f"--recipe ucf101 --data {out}")
    else:
        print(f"Nothing written. Train with: python -m convkit.tasks.video train --recipe ucf101 "
              f"--data {Path(report['videos']).parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
