"""Check a local copy of Google's Speech Commands and write it where convkit's audio task reads it.

Source:   Pete Warden, "Speech Commands: A Dataset for Limited-Vocabulary Speech
          Recognition" (arXiv:1804.03209), archives
          http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz (v2) and
          http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz (v1).
          Download one yourself; this script never uses the network.
Licence:  Creative Commons Attribution 4.0 (CC BY 4.0).
Expected: one-second 16 kHz mono 16-bit WAV clips in <word>/<speaker>_nohash_<n>.wav,
          plus validation_list.txt, testing_list.txt and _background_noise_/ (six long
          recordings):
            v2 (v0.02): 35 words, 105,829 clips (about 2.3 GB unpacked, 2.1 GB archive);
                        validation list 9,981, testing list 11,005, train 84,843.
            v1 (v0.01): 30 words, 64,727 clips (about 1.4 GB unpacked).
Checks:   the SHA-256 of the .tar.gz archive when --src is one (the values torchaudio
          publishes), the word folders and clip counts, that both lists name existing
          clips and do not overlap, the list sizes (v2), and every clip's header (a WAV
          libsndfile reads, 16 kHz, mono, at most 1 s). --skip-counts accepts subsets.
Output:   the same layout under --out (files hard-linked when on the same disk, else
          copied); then
              python -m convkit.tasks.audio train --data OUT --recipe speech_commands

Usage:    python data_recipes/speech_commands.py --src LOCAL_COPY --out DIR [--skip-counts]
LOCAL_COPY is the unpacked folder (or a parent of it), or the .tar.gz archive itself.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tarfile
from pathlib import Path

import soundfile as sf

from convkit.errors import ConvkitError, DataError

LISTS = ("validation_list.txt", "testing_list.txt")
NOISE_DIR = "_background_noise_"
SAMPLE_RATE = 16000

EXPECTED: dict[str, dict[str, int | None]] = {
    "v2": {"words": 35, "clips": 105_829, "validation_list.txt": 9_981, "testing_list.txt": 11_005},
    "v1": {"words": 30, "clips": 64_727, "validation_list.txt": None, "testing_list.txt": None},
}
"""Published sizes per version (None: not checked)."""

PUBLISHED_SHA256: dict[str, str] = {
    "speech_commands_v0.01.tar.gz": "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d",
    "speech_commands_v0.02.tar.gz": "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
}
"""SHA-256 of the published archives (as listed by torchaudio.datasets.SPEECHCOMMANDS)."""


def find_root(src: Path) -> Path:
    """The folder under ``src`` (itself or the shallowest below) holding both list files."""
    candidates = [p.parent for p in src.rglob(LISTS[0]) if (p.parent / LISTS[1]).is_file()]
    if not candidates:
        raise DataError(f"{src}: no folder with both {LISTS[0]} and {LISTS[1]}; expected an unpacked "
                        "Speech Commands copy")
    return min(candidates, key=lambda p: (len(p.parts), str(p)))


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_speech_commands(src: str | Path, check_counts: bool = True) -> dict[str, object]:
    """Check an unpacked Speech Commands copy.

    Returns ``{"root": Path, "version": "v1" | "v2" | "unknown", "words": [...],
    "clips": int, "lists": {name: count}, "noise": [Path]}``.

    Raises:
        DataError: a missing list or word folder, a list naming a missing clip, lists that
            overlap, a clip that is unreadable, not 16 kHz mono or longer than 1 s, or
            (with ``check_counts``) counts that differ from the published ones.
    """
    root = find_root(Path(src))
    words = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(("_", ".")))
    clips = {f"{w}/{f.name}": f for w in words for f in sorted((root / w).glob("*.wav"))}
    if len(words) < 2 or not clips:
        raise DataError(f"{root}: found {len(words)} word folders and {len(clips)} clips; expected "
                        "<word>/<file>.wav folders")
    lists: dict[str, list[str]] = {}
    for name in LISTS:
        entries = [line.strip() for line in (root / name).read_text().splitlines() if line.strip()]
        missing = [e for e in entries if e not in clips]
        if missing:
            raise DataError(f"{root / name}: names {len(missing)} clips that are missing "
                            f"(first: {missing[0]})")
        lists[name] = entries
    overlap = set(lists[LISTS[0]]) & set(lists[LISTS[1]])
    if overlap:
        raise DataError(f"{root}: {len(overlap)} clips are in both lists (first: {sorted(overlap)[0]})")
    version = {35: "v2", 30: "v1"}.get(len(words), "unknown")
    if check_counts:
        if version == "unknown":
            raise DataError(f"{root}: has {len(words)} word folders; expected 35 (v2) or 30 (v1); "
                            "pass --skip-counts for a subset")
        expected = EXPECTED[version]
        if len(clips) != expected["clips"]:
            raise DataError(f"{root}: has {len(clips)} clips; expected {expected['clips']} for "
                            f"Speech Commands {version}")
        for name in LISTS:
            if expected[name] is not None and len(lists[name]) != expected[name]:
                raise DataError(f"{root / name}: lists {len(lists[name])} clips; expected {expected[name]}")
    for key, file in clips.items():
        _check_clip(file)
    noise_dir = root / NOISE_DIR
    noise = sorted(noise_dir.glob("*.wav")) if noise_dir.is_dir() else []
    if not noise:
        raise DataError(f"{noise_dir}: missing or without .wav files; the 12-class setting builds "
                        "_silence_ from it")
    return {"root": root, "version": version, "words": words, "clips": len(clips),
            "lists": {name: len(entries) for name, entries in lists.items()}, "noise": noise}


def _check_clip(file: Path) -> None:
    try:
        info = sf.info(str(file))
    except (RuntimeError, OSError, ValueError) as err:
        raise DataError(f"{file}: not a readable WAV file ({str(err).strip()})") from None
    if info.samplerate != SAMPLE_RATE or info.channels != 1 or info.frames > SAMPLE_RATE:
        raise DataError(f"{file}: is {info.samplerate} Hz, {info.channels} channel(s), {info.frames} "
                        f"samples; expected 16000 Hz mono, at most 16000 samples")


def extract(archive: Path, out: Path, verify_checksum: bool = True) -> Path:
    """Check the archive's published SHA-256 (when its name is a published one) and unpack it into ``out``."""
    if verify_checksum and archive.name in PUBLISHED_SHA256:
        digest = sha256(archive)
        if digest != PUBLISHED_SHA256[archive.name]:
            raise DataError(f"{archive}: SHA-256 {digest} differs from the published "
                            f"{PUBLISHED_SHA256[archive.name]}; re-download it")
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(out, filter="data")  # "data": no absolute paths, links out or devices
    except (tarfile.TarError, OSError) as err:
        raise DataError(f"{archive}: not a readable .tar.gz archive ({err})") from None
    return out


def copy_tree(root: Path, out: Path, files: list[Path]) -> None:
    """Place ``files`` (under ``root``) at the same relative paths under ``out``: hard links
    when possible (same disk: no extra space), else copies."""
    for file in files:
        target = out / file.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.unlink()
        try:
            os.link(file, target)
        except OSError:
            shutil.copy2(file, target)


def prepare(src: str | Path, out: str | Path, check_counts: bool = True,
            verify_checksum: bool = True) -> dict[str, object]:
    """Check ``src`` (a folder, or the .tar.gz archive unpacked into ``out``) and write the
    checked layout into ``out``. Returns :func:`check_speech_commands`'s summary for ``out``."""
    source, out_dir = Path(src), Path(out)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder; expected a Speech Commands copy or its .tar.gz")
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a folder; expected an output folder")
    if source.is_file():
        out_dir.mkdir(parents=True, exist_ok=True)
        extract(source, out_dir, verify_checksum)
        summary = check_speech_commands(out_dir, check_counts)
        if summary["root"] != out_dir:  # the archive had a top folder: lift its contents
            for child in Path(summary["root"]).iterdir():
                child.rename(out_dir / child.name)
            Path(summary["root"]).rmdir()
        return check_speech_commands(out_dir, check_counts=False) | {"version": summary["version"]}
    summary = check_speech_commands(source, check_counts)
    root = Path(summary["root"])
    files = [root / name for name in LISTS] + list(summary["noise"])
    files += [f for w in summary["words"] for f in sorted((root / w).glob("*.wav"))]
    files += [root / name for name in ("LICENSE", "README.md") if (root / name).is_file()]
    copy_tree(root, out_dir, files)
    return summary | {"root": out_dir}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 for a data error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="the unpacked Speech Commands folder, or its .tar.gz")
    parser.add_argument("--out", required=True, help="folder to write the checked copy to")
    parser.add_argument("--skip-counts", action="store_true", help="accept a subset (no count checks)")
    parser.add_argument("--skip-checksums", action="store_true", help="do not check the archive's SHA-256")
    args = parser.parse_args(argv)
    try:
        summary = prepare(args.src, args.out, not args.skip_counts, not args.skip_checksums)
    except ConvkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    lists = summary["lists"]
    print(f"Speech Commands {summary['version']} checked: {len(summary['words'])} words, "
          f"{summary['clips']} clips ({lists[LISTS[0]]} validation, {lists[LISTS[1]]} test), "
          f"{len(summary['noise'])} background noise files, written to {args.out}.")
    print(f"Train with: python -m convkit.tasks.audio train --data {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
