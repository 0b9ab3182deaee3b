"""Audio datasets from disk as waveform tensors (the generated default is ``synthetic.py``).

Every loader decodes each file ONCE (soundfile; a thread pool), downmixes to mono,
resamples to the task's rate (soxr) and pads/crops to a fixed duration (centred), and
returns ``TensorDataset(waves float32 [N, T], labels int64 [N])`` per split: training
never decodes again. Formats, detected in this order:

- Speech Commands v1/v2: ``<word>/<file>.wav`` plus ``validation_list.txt`` and
  ``testing_list.txt``. The official lists are the val/test splits exactly (never a
  random split). ``words="all"``: every word folder is a class (30 in v1, 35 in v2);
  ``words="12"``: the ten keywords yes/no/up/down/left/right/on/off/stop/go plus
  ``_unknown_`` (the other words) and ``_silence_`` (slices of ``_background_noise_``),
  each sized like an average keyword (``unknown_ratio``/``silence_ratio``); the same
  fixed draw in every run.
- ESC-50: ``meta/esc50.csv`` with ``audio/<filename>``; one fold is the test set, one
  the validation set, the other three train (``esc10=True``: the ESC-10 subset). A
  ``filename`` outside ``audio/`` is an error (``allow_outside_paths=True`` allows it).
- ``<class>/<file>`` folders of WAV/FLAC/OGG at any rate; ``train/``, ``val/``,
  ``test/`` subfolders are the splits exactly (a missing val/test is carved from train),
  otherwise a seeded stratified 80/10/10 split.
- A manifest (``path,label[,split][,group]`` CSV) or a folder whose file names give the
  labels (``label_pattern``, e.g. FSDD's ``{label}_{speaker}_{index}``), split by
  ``convkit.data.manifest`` (``group_by``: whole speakers on one side of every split;
  ``test_group``: that speaker held out as the test split, leave one group out).

The clip length can be read from the files' headers before anything is decoded
(:func:`dataset_duration`: the longest file, rounded up to 0.1 s, at most 10 s), and a
listing's groups listed (:func:`dataset_groups`, one cross-validation fold each).

A ``_background_noise_`` folder (Speech Commands ships one; a ``<class>/<file>`` folder
may have one too) becomes the noise bank ``Splits.extras["noise"]`` ``[M, T]`` for augmentation.

A file that cannot be used (corrupt, not audio, NaN/infinite samples) is skipped, or an
error with ``strict=True``; the skipped files make ONE summary warning and are listed in
``Splits.extras["skipped"]``; a class whose every file was skipped is an error naming it.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import TensorDataset
from tqdm.auto import tqdm

from convkit.data.manifest import (
    Listing,
    check_listing_options,
    eval_listing,
    group_listing,
    leave_group_out,
    listing_for,
    listing_groups,
    split_groups,
    split_listing,
)
from convkit.data.paths import listed_path
from convkit.data.splits import (
    DEFAULT_FRACTIONS,
    SPLIT_NAMES,
    VAL_FRACTION_OF_TRAIN,
    Splits,
    carve_validation,
    existing_dir,
    find_split_dirs,
    remap_labels,
    split_indices,
)
from convkit.data.skipped import require_every_class, warn_skipped
from convkit.errors import ConfigError, DataError
from convkit.nn.audio import pad_or_crop, resample

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg"})
"""File endings read as audio (case-insensitive)."""

NOISE_DIR = "_background_noise_"
"""The folder of long background recordings (Speech Commands' name), used as the noise bank."""

KWS12_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
"""The ten keywords of the 12-class Speech Commands setting."""

UNKNOWN, SILENCE = "_unknown_", "_silence_"
"""The two extra labels of the 12-class Speech Commands setting."""

_MODE_DEFAULTS = {
    "layout": "auto",        # auto | folder | speech_commands | esc50
    "words": "all",          # Speech Commands: all | 12
    "unknown_ratio": 1.0,    # 12-class: _unknown_ clips per split = ratio * mean keyword count (None: all)
    "silence_ratio": 1.0,    # 12-class: _silence_ clips per split = ratio * mean keyword count
    "test_fold": 5,          # ESC-50
    "val_fold": 4,           # ESC-50
    "esc10": False,          # ESC-50: only the ESC-10 subset
    "allow_outside_paths": False,  # ESC-50 tables, manifests: rows may name files outside their folder
    "label_pattern": "",     # a folder of files named by a pattern, e.g. {label}_{speaker}_{index}
    "group_by": "",          # manifests, patterns: the field whose groups stay on one side of every split
    "test_group": "",        # manifests, patterns: hold this group out as the test split (leave one group out)
}
_FORMAT_HELP = ("<class>/<file> folders of .wav/.flac/.ogg, a Speech Commands folder "
                "(validation_list.txt, testing_list.txt), ESC-50 (meta/esc50.csv), a manifest .csv "
                "or a folder with data.label_pattern")


# --------------------------------------------------------------------------- single files


def load_audio(path: str | Path, sample_rate: int, num_samples: int | None = None) -> np.ndarray:
    """Decode one audio file to mono float32 ``[T]`` at ``sample_rate`` Hz.

    WAV/FLAC/OGG (anything libsndfile reads), any rate (resampled with soxr), any
    channel count (averaged). With ``num_samples`` the clip is zero-padded or cropped
    to that length, centred. Raises DataError naming the file when it is missing,
    empty, corrupt, not audio, or holds no samples or non-finite values.
    """
    file = Path(path)
    try:
        data, rate = sf.read(str(file), dtype="float32", always_2d=True)  # [T, C]
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as err:
        reason = "file not found" if not file.exists() else (
            "empty file" if file.is_file() and file.stat().st_size == 0 else str(err).strip())
        raise DataError(f"{file}: not a readable audio file ({reason}); expected WAV, FLAC or OGG") from None
    if data.shape[0] == 0:
        raise DataError(f"{file}: audio file holds no samples")
    if not np.isfinite(data).all():
        raise DataError(f"{file}: audio file holds NaN or infinite samples")
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    wave = resample(wave, int(rate), sample_rate)
    if num_samples is not None:
        wave = pad_or_crop(wave, num_samples)
    return np.ascontiguousarray(wave, dtype=np.float32)


def load_audio_files(paths: Sequence[str | Path], sample_rate: int, num_samples: int,
                     strict: bool = True, skipped: list[str] | None = None) -> tuple[torch.Tensor, list[int]]:
    """Decode many files at once (a thread pool): ``(waves float32 [N, T], kept)``.

    ``kept`` lists the indices into ``paths`` that decoded. With ``strict=True`` a bad file
    raises DataError; with ``strict=False`` it is skipped and its message
    (``"<path>: <reason>"``) appended to ``skipped`` (the caller summarises them), or,
    when ``skipped`` is None, this call warns one summary line. Used by ``predict``
    (strict) and by the dataset loaders.
    """
    if num_samples <= 0 or sample_rate <= 0:
        raise ConfigError(f"sample_rate and num_samples must be positive; got {sample_rate}, {num_samples}")

    def decode(path: str | Path) -> np.ndarray | DataError:
        try:
            return load_audio(path, sample_rate, num_samples)
        except DataError as err:
            return err

    waves = np.zeros((len(paths), num_samples), dtype=np.float32)
    kept: list[int] = []
    bad: list[str] = []
    workers = min(8, os.cpu_count() or 1, max(1, len(paths)))  # libsndfile and soxr release the GIL
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        results = tqdm(pool.map(decode, paths), total=len(paths), desc="decoding audio", unit="file",
                       disable=True if len(paths) < 2000 else None, leave=False)
        for i, result in enumerate(results):  # written in place: one copy of the data in memory
            if isinstance(result, DataError):
                if strict:
                    raise result
                bad.append(str(result))
                continue
            waves[len(kept)] = result
            kept.append(i)
    finally:
        pool.shutdown(cancel_futures=True)  # a strict error does not wait for the rest to decode
    if skipped is None:
        warn_skipped(bad, "audio files")
    else:
        skipped.extend(bad)
    return torch.from_numpy(waves[:len(kept)]), kept


# --------------------------------------------------------------------------- datasets


def load_audio_dataset(path: str | Path, sample_rate: int = 16000, duration: float = 1.0,
                       strict: bool = False, seed: int = 0, **mode) -> Splits:
    """Load an on-disk audio dataset (format detected; see the module docstring).

    Args:
        path: dataset folder, or a manifest ``.csv``.
        sample_rate: every clip is resampled to this rate (Hz).
        duration: every clip is padded/cropped (centred) to this many seconds.
        strict: a corrupt file (or one with NaN/infinite samples) raises DataError instead
            of being skipped; skipped files make ONE summary warning.
        seed: seed of the stratified split (folders without split subfolders) and of
            carving a missing val/test split. Speech Commands and ESC-50 splits are fixed.
        **mode: ``layout`` (auto|folder|speech_commands|esc50); Speech Commands: ``words``
            (all|12), ``unknown_ratio``, ``silence_ratio``; ESC-50: ``test_fold``,
            ``val_fold``, ``esc10``; ESC-50 and manifests: ``allow_outside_paths``;
            manifests and pattern folders: ``label_pattern``, ``group_by``, ``test_group``
            (``convkit.data.manifest``).

    Returns:
        Splits: waves ``[N, T]`` float32 with ``T = round(sample_rate * duration)``,
        labels int64, label names, ``extras["noise"]``: the ``_background_noise_`` bank
        ``[M, T]`` or None, ``extras["skipped"]``: every skipped file as ``"<path>: <reason>"``,
        and for a listing split by group ``extras["group_by"]`` (the field) and
        ``extras["split_groups"]`` (``{split: [groups]}``).

    Raises:
        DataError: missing path, no audio, one class, a class whose every file is
            unreadable, a corrupt file when strict, a broken Speech Commands list or ESC-50
            table (a row naming a file outside ``audio/``: the table, line and path).
        ConfigError: an unknown or invalid mode option.
    """
    options = _check_mode(mode)
    num_samples = _num_samples(sample_rate, duration)
    listing = _listing(path, options, strict)
    if listing is not None:
        decoder = _decoder(sample_rate, num_samples, strict)
        if options["test_group"]:
            listed = leave_group_out(listing, decoder, options["test_group"], seed, options["group_by"])
        else:
            listed = split_listing(listing, decoder, seed, options["group_by"])
        data = {s: (listed.decoded[i], listed.labels[i]) for s, i in listed.parts.items()}
        noise = (_noise_for(listing.source, sample_rate, num_samples, strict, None)
                 if listing.source.is_dir() else None)
        splits = make_splits(data, listed.label_names, noise, listed.source, listed.skipped)
        splits.extras.update(group_by=listed.group_by or "", split_groups=split_groups(listed))
        return splits
    if options["test_group"]:
        raise ConfigError(f"data.test_group={options['test_group']!r} needs groups: a manifest (--data FILE.csv "
                          "with a group column) or data.label_pattern naming the field, with data.group_by")
    root = existing_dir(path, _FORMAT_HELP, allow_empty=False)
    layout = options["layout"] if options["layout"] != "auto" else detect_layout(root)
    skipped: list[str] = []
    if layout == "speech_commands":
        data, names, noise = _read_speech_commands(root, sample_rate, num_samples, strict, options,
                                                   set(SPLIT_NAMES), skipped)
    elif layout == "esc50":
        data, names = _read_esc50(root, sample_rate, num_samples, strict, options, set(SPLIT_NAMES), skipped)
        noise = None
    else:
        data, names, noise = _split_folders(root, sample_rate, num_samples, strict, seed, skipped)
    warn_skipped(skipped, str(root))
    return make_splits(data, names, noise, str(root), skipped)


def load_audio_eval_set(path: str | Path, label_names: Sequence[str], sample_rate: int = 16000,
                        duration: float = 1.0, strict: bool = False, **mode) -> TensorDataset:
    """The data to score a trained model on, with labels mapped onto ``label_names`` by name.

    Speech Commands: the official testing list; ESC-50: the test fold; folders: the
    ``test/`` subfolder, else every file; a manifest: its test rows, else every row (a
    pattern folder: every file). Only those files are decoded. Returns
    ``TensorDataset(waves float32 [N, T], labels int64 [N])``; with ``test_group`` (a
    model trained with that group held out) a manifest's or pattern folder's files of that
    group. Raises DataError for a class the model does not know.
    """
    options = _check_mode(mode)
    num_samples = _num_samples(sample_rate, duration)
    listing = _listing(path, options, strict)
    if listing is not None:
        if options["test_group"]:
            listing = group_listing(listing, options["test_group"], options["group_by"])
        listed = eval_listing(listing, _decoder(sample_rate, num_samples, strict))
        labels = remap_labels(listed.labels, listed.label_names, label_names, listed.source)
        return TensorDataset(listed.decoded.float(), torch.from_numpy(labels))
    root = existing_dir(path, _FORMAT_HELP, allow_empty=False)
    layout = options["layout"] if options["layout"] != "auto" else detect_layout(root)
    skipped: list[str] = []
    if layout == "speech_commands":
        data, names, _ = _read_speech_commands(root, sample_rate, num_samples, strict, options, {"test"}, skipped)
        waves, labels = data["test"]
    elif layout == "esc50":
        data, names = _read_esc50(root, sample_rate, num_samples, strict, options, {"test"}, skipped)
        waves, labels = data["test"]
    else:
        folders = find_split_dirs(root) or {"all": root}
        folders = {"test": folders["test"]} if "test" in folders else folders
        data, names = _read_folders(root, folders, sample_rate, num_samples, strict, skipped)
        waves = torch.cat([w for w, _ in data.values()])
        labels = np.concatenate([l for _, l in data.values()])
    warn_skipped(skipped, str(root))
    index = {name: i for i, name in enumerate(label_names)}
    unknown = sorted({names[i] for i in np.unique(labels)} - set(index))
    if unknown:
        raise DataError(f"{root}: classes {unknown} are not among the model's classes {list(label_names)}")
    mapping = np.array([index.get(name, -1) for name in names], dtype=np.int64)
    return TensorDataset(waves.float(), torch.from_numpy(mapping[labels]))


def dataset_duration(path: str | Path, duration: float = 0.0, strict: bool = False, **mode) -> SizedDuration:
    """The clip length ``load_audio_dataset`` reads ``path`` at: ``duration`` when it is
    given (> 0), else :func:`auto_duration` of the dataset's files, read from their headers
    (a manifest's or pattern's files; a layout's files but the noise bank). ``mode`` as
    :func:`load_audio_dataset`."""
    options = _check_mode(mode)
    if duration > 0:
        return SizedDuration(float(duration))
    listing = _listing(path, options, strict)
    if listing is not None:
        return _sized_duration(duration, [e.path for e in listing.entries], listing.source)
    root = existing_dir(path, _FORMAT_HELP, allow_empty=False)
    return _sized_duration(duration, _dataset_audio_files(root), root)


def dataset_groups(path: str | Path, strict: bool = False, **mode) -> list[str]:
    """The groups (e.g. speakers) of a manifest's or pattern folder's files, sorted, by
    ``mode``'s ``group_by``: one leave-one-group-out fold each (no file is decoded).

    Raises:
        ConfigError: ``path`` is neither a manifest nor read by ``label_pattern``, or has
            no group field.
    """
    options = _check_mode(mode)
    listing = _listing(path, options, strict)
    if listing is None:
        raise ConfigError(f"{path}: leave-one-group-out needs groups: a manifest (--data FILE.csv with a group "
                          "column) or data.label_pattern naming the field, with data.group_by")
    return listing_groups(listing, options["group_by"])


def _listing(path: str | Path, options: dict, strict: bool) -> Listing | None:
    """The manifest or pattern listing ``path`` and the options ask for (None: a layout)."""
    return listing_for(path, options["label_pattern"], options["group_by"], _is_audio_file,
                       "audio files (" + ", ".join(sorted(AUDIO_EXTENSIONS)) + ")",
                       options["allow_outside_paths"], strict)


def _decoder(sample_rate: int, num_samples: int, strict: bool) -> Callable[[list[Path], list[str]], Any]:
    """``convkit.data.manifest``'s decode function: the listed files as waves ``[K, T]``."""
    return lambda paths, skipped: load_audio_files(paths, sample_rate, num_samples, strict, skipped)


def _is_audio_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS


def detect_layout(root: Path) -> str:
    """``"speech_commands"``, ``"esc50"`` or ``"folder"`` for a dataset folder."""
    if (root / "validation_list.txt").is_file() or (root / "testing_list.txt").is_file():
        return "speech_commands"
    if (root / "meta" / "esc50.csv").is_file():
        return "esc50"
    return "folder"


def load_noise_bank(folder: str | Path, sample_rate: int, num_samples: int,
                    strict: bool = False, skipped: list[str] | None = None) -> torch.Tensor:
    """Cut every audio file in ``folder`` into consecutive clips from its start: ``[M, num_samples]``.

    A leftover shorter than a clip is dropped; a file shorter than one clip becomes one
    clip, zero-padded on both sides. A bad file is skipped (appended to ``skipped``, or
    one summary warning when it is None) or, when ``strict``, an error. Raises DataError
    when the folder holds no readable audio.
    """
    files = _audio_files(Path(folder))
    chunks = []
    bad: list[str] = []
    for file in files:
        try:
            wave = load_audio(file, sample_rate)
        except DataError as err:
            if strict:
                raise
            bad.append(str(err))
            continue
        if len(wave) < num_samples:
            wave = pad_or_crop(wave, num_samples)
        count = len(wave) // num_samples
        chunks.append(wave[:count * num_samples].reshape(count, num_samples))
    if skipped is None:
        warn_skipped(bad, str(folder))
    else:
        skipped.extend(bad)
    if not chunks:
        raise DataError(f"{folder}: no readable audio files for the background noise bank"
                        + (f" (first: {bad[0]})" if bad else ""))
    return torch.from_numpy(np.concatenate(chunks))


# --------------------------------------------------------------------------- <class>/<file> folders


def _split_folders(root: Path, sample_rate: int, num_samples: int, strict: bool, seed: int,
                   skipped: list[str]) -> tuple[dict, list[str], torch.Tensor | None]:
    """``<class>/<file>`` folders as ``({split: (waves, labels)}, names, noise bank or None)``."""
    folders = find_split_dirs(root) or {"train": root}
    data, names = _read_folders(root, folders, sample_rate, num_samples, strict, skipped)
    if "train" not in data:
        raise DataError(f"{root}: has {'/'.join(data)}/ folders but no train/ folder")
    present = np.unique(np.concatenate([labels for _, labels in data.values()]))
    if len(present) < 2:
        raise DataError(f"{root}: found only one class ({names[int(present[0])]!r}); need at least two")
    if set(data) == {"train"}:
        waves, labels = data.pop("train")
        parts = split_indices(labels, DEFAULT_FRACTIONS, seed)
        data = {name: (waves[idx], labels[idx]) for name, idx in zip(SPLIT_NAMES, parts)}
    else:  # the given splits exactly; a missing val (or test) is carved from train
        for missing in [s for s in ("val", "test") if s not in data]:
            waves, labels = data["train"]
            keep, carved = carve_validation(labels, VAL_FRACTION_OF_TRAIN, seed)
            data["train"], data[missing] = (waves[keep], labels[keep]), (waves[carved], labels[carved])
    noise = _noise_for(root, sample_rate, num_samples, strict, skipped)
    return data, names, noise


def _read_folders(root: Path, folders: dict[str, Path], sample_rate: int, num_samples: int,
                  strict: bool, skipped: list[str]) -> tuple[dict, list[str]]:
    """Decode ``<class>/<file>`` under each folder: ``({split: (waves [N, T], labels [N])}, names)``
    with one class list (sorted names) shared by all the folders."""
    listed = {split: _list_folder(folder) for split, folder in folders.items()}
    names = sorted({name for _, _, folder_names in listed.values() for name in folder_names})
    index = {name: i for i, name in enumerate(names)}
    data = {}
    every = _Listing()
    for split, (files, labels, folder_names) in listed.items():
        waves, kept = load_audio_files(files, sample_rate, num_samples, strict, skipped)
        if not kept:
            raise DataError(f"{folders[split]}: no readable audio files; expected {_FORMAT_HELP}")
        remap = np.array([index[n] for n in folder_names], dtype=np.int64)
        every.add(files, remap[labels], kept)
        data[split] = (waves, remap[labels[kept]])
    every.require_every_class(names, str(root))
    return data, names


def _list_folder(folder: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """Audio files under ``folder/<class>/`` (recursively, sorted): ``(files, labels [N], class names)``."""
    classes = sorted(c for c in folder.iterdir() if c.is_dir() and not c.name.startswith(".")
                     and c.name != NOISE_DIR)
    files: list[Path] = []
    labels: list[int] = []
    names: list[str] = []
    for cls in classes:
        found = _audio_files(cls, recursive=True)
        if found:
            labels += [len(names)] * len(found)
            files += found
            names.append(cls.name)
    if not files:
        loose = _audio_files(folder)
        hint = (f" (found {len(loose)} audio files directly in it: put them in <class>/ subfolders)"
                if loose else "")
        raise DataError(f"{folder}: no audio files in class subfolders{hint}; expected {_FORMAT_HELP}")
    return files, np.asarray(labels, dtype=np.int64), names


def _audio_files(folder: Path, recursive: bool = False) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(f for f in found if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS
                  and not f.name.startswith("."))


def _noise_for(root: Path, sample_rate: int, num_samples: int, strict: bool,
               skipped: list[str] | None) -> torch.Tensor | None:
    folder = root / NOISE_DIR
    if not folder.is_dir() or not _audio_files(folder):
        return None
    return load_noise_bank(folder, sample_rate, num_samples, strict, skipped)


class _Listing:
    """Every file a loader tried, with its class and whether it loaded, across splits."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.labels: list[np.ndarray] = []
        self.readable: list[np.ndarray] = []

    def add(self, files: Sequence[Path], labels: Sequence[int], kept: list[int]) -> None:
        """``files [M]`` with their ``labels [M]``; ``kept``: the indices that loaded."""
        readable = np.zeros(len(files), dtype=bool)
        readable[kept] = True
        self.files += list(files)
        self.labels.append(np.asarray(labels, dtype=np.int64))
        self.readable.append(readable)

    def require_every_class(self, names: Sequence[str], where: str) -> None:
        """DataError naming a class that had files but none loaded."""
        if self.files:
            require_every_class(names, np.concatenate(self.labels), np.concatenate(self.readable),
                                self.files, where)


# --------------------------------------------------------------------------- Speech Commands


def _read_speech_commands(root: Path, sample_rate: int, num_samples: int, strict: bool, options: dict,
                          wanted: set[str], skipped: list[str]) -> tuple[dict, list[str], torch.Tensor | None]:
    """Decode the ``wanted`` splits: ``({split: (waves, labels)}, names, noise bank or None)``.

    The 12-class unknown subsample and silence clips are drawn from fixed generators
    (one per split), so the data set is the same in every run, whatever the seed.
    """
    words = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(("_", "."))
                   and _audio_files(d))
    if len(words) < 2:
        raise DataError(f"{root}: a Speech Commands folder needs at least two <word>/ folders of "
                        f"audio files; found {len(words)}")
    all_files = {f"{w}/{f.name}" for w in words for f in _audio_files(root / w)}
    lists = {"val": _read_list(root, "validation_list.txt"), "test": _read_list(root, "testing_list.txt")}
    for split, entries in lists.items():
        missing = [e for e in entries if e not in all_files]
        if missing:
            message = (f"{root}: {len(missing)} files in the {split} list are missing "
                       f"(first: {missing[0]})")
            if strict:
                raise DataError(message)
            warnings.warn(f"{message}; skipping them", stacklevel=3)
            lists[split] = [e for e in entries if e in all_files]
    overlap = set(lists["val"]) & set(lists["test"])
    if overlap:
        raise DataError(f"{root}: {len(overlap)} files are in both validation_list.txt and "
                        f"testing_list.txt (first: {sorted(overlap)[0]})")
    entries = {"train": sorted(all_files - set(lists["val"]) - set(lists["test"])),
               "val": lists["val"], "test": lists["test"]}

    kws12 = options["words"] == "12"
    if kws12:
        absent = [w for w in KWS12_WORDS if w not in words]
        if absent:
            raise DataError(f"{root}: the 12-class setting needs the word folders "
                            f"{list(KWS12_WORDS)}; missing {absent}")
        names = list(KWS12_WORDS) + [UNKNOWN, SILENCE]
    else:
        names = words
    noise = _noise_for(root, sample_rate, num_samples, strict, skipped)
    if kws12 and noise is None:
        raise DataError(f"{root}: the 12-class setting builds _silence_ from {NOISE_DIR}/, "
                        "which is missing or holds no audio")
    data = {}
    every = _Listing()
    for number, split in enumerate(SPLIT_NAMES):
        if split not in wanted:
            continue
        if kws12:
            rng = np.random.default_rng([12, number])
            files, labels, silence_count = _kws12_entries(entries[split], options, rng)
        else:
            files = entries[split]
            labels = [names.index(e.split("/")[0]) for e in files]
        paths = [root / e for e in files]
        waves, kept = load_audio_files(paths, sample_rate, num_samples, strict, skipped)
        every.add(paths, labels, kept)
        labels = np.asarray(labels, dtype=np.int64)[kept]
        if kws12:
            waves = torch.cat([waves, _silence_clips(noise, silence_count, rng)])
            labels = np.concatenate([labels, np.full(silence_count, names.index(SILENCE), dtype=np.int64)])
        data[split] = (waves, labels)
    every.require_every_class(names, str(root))
    return data, names, noise


def _read_list(root: Path, name: str) -> list[str]:
    file = root / name
    if not file.is_file():
        raise DataError(f"{root}: a Speech Commands folder needs both validation_list.txt and "
                        f"testing_list.txt; {name} is missing")
    entries = [line.strip().replace("\\", "/") for line in file.read_text().splitlines()]
    return [e for e in entries if e]


def _kws12_entries(entries: list[str], options: dict,
                   rng: np.random.Generator) -> tuple[list[str], list[int], int]:
    """12-class labels for one split: ``(files, labels, number of silence clips to add)``.

    Keywords keep their index; other words become ``_unknown_``, subsampled to
    ``unknown_ratio`` times the mean keyword count (None keeps all); silence gets
    ``silence_ratio`` times the mean keyword count.
    """
    index = {w: i for i, w in enumerate(KWS12_WORDS)}
    known = [e for e in entries if e.split("/")[0] in index]
    unknown = [e for e in entries if e.split("/")[0] not in index]
    per_word = len(known) / len(KWS12_WORDS)
    if options["unknown_ratio"] is not None:
        count = min(len(unknown), int(round(options["unknown_ratio"] * per_word)))
        unknown = [unknown[i] for i in np.sort(rng.choice(len(unknown), count, replace=False))]
    labels = [index[e.split("/")[0]] for e in known] + [len(KWS12_WORDS)] * len(unknown)
    return known + unknown, labels, int(round(options["silence_ratio"] * per_word))


def _silence_clips(noise: torch.Tensor, count: int, rng: np.random.Generator) -> torch.Tensor:
    """``count`` background-noise clips ``[count, T]``: random rows at a random volume in [0.1, 1]."""
    rows = rng.integers(0, noise.shape[0], count)
    volume = rng.uniform(0.1, 1.0, count).astype(np.float32)
    return noise[torch.from_numpy(rows)] * torch.from_numpy(volume)[:, None]


# --------------------------------------------------------------------------- ESC-50


def _read_esc50(root: Path, sample_rate: int, num_samples: int, strict: bool, options: dict,
                wanted: set[str], skipped: list[str]) -> tuple[dict, list[str]]:
    """Decode the ``wanted`` splits of ESC-50: ``({split: (waves, labels)}, category names)``."""
    table = root / "meta" / "esc50.csv"
    test_fold, val_fold = options["test_fold"], options["val_fold"]
    for key, fold in (("test_fold", test_fold), ("val_fold", val_fold)):
        if fold not in (1, 2, 3, 4, 5):
            raise ConfigError(f"ESC-50 {key} must be one of 1..5; got {fold!r}")
    if test_fold == val_fold:
        raise ConfigError(f"ESC-50 test_fold and val_fold must differ; both are {test_fold}")
    if not table.is_file():
        raise DataError(f"{table}: missing; an ESC-50 folder holds meta/esc50.csv and audio/")
    rows = _read_esc50_table(table, options["esc10"], options["allow_outside_paths"])
    categories: dict[int, str] = {}
    for _, _, target, category in rows:
        if categories.setdefault(target, category) != category:
            raise DataError(f"{table}: target {target} names two categories "
                            f"({categories[target]!r} and {category!r})")
    targets = sorted(categories)
    index = {t: i for i, t in enumerate(targets)}
    folds = {"train": set(range(1, 6)) - {test_fold, val_fold}, "val": {val_fold}, "test": {test_fold}}
    data = {}
    every = _Listing()
    names = [categories[t] for t in targets]
    for split in SPLIT_NAMES:
        if split not in wanted:
            continue
        picked = [r for r in rows if r[1] in folds[split]]
        if not picked:
            raise DataError(f"{table}: no clips in fold(s) {sorted(folds[split])} for the {split} split")
        paths = [r[0] for r in picked]
        waves, kept = load_audio_files(paths, sample_rate, num_samples, strict, skipped)
        labels = np.array([index[r[2]] for r in picked], dtype=np.int64)
        every.add(paths, labels, kept)
        data[split] = (waves, labels[kept])
    every.require_every_class(names, str(root))
    return data, names


def _read_esc50_table(table: Path, esc10: bool, allow_outside: bool = False) -> list[tuple[Path, int, int, str]]:
    """Rows ``(audio file, fold, target, category)`` of ``meta/esc50.csv`` (ESC-10 rows
    only if asked); a ``filename`` must name a file inside ``audio/`` unless
    ``allow_outside`` (:func:`convkit.data.paths.listed_path`)."""
    with open(table, newline="") as handle:
        reader = csv.DictReader(handle)
        needed = {"filename", "fold", "target", "category"} | ({"esc10"} if esc10 else set())
        absent = needed - set(reader.fieldnames or [])
        if absent:
            raise DataError(f"{table}: missing columns {sorted(absent)}; expected the ESC-50 header "
                            "filename,fold,target,category,esc10,src_file,take")
        try:
            rows = [(r["filename"], int(r["fold"]), int(r["target"]), r["category"],
                     str(r.get("esc10", "")).strip().lower() == "true", reader.line_num) for r in reader]
        except (TypeError, ValueError) as err:
            raise DataError(f"{table}: a fold or target is not a whole number ({err})") from None
    rows = [r for r in rows if r[4] or not esc10]
    if not rows:
        raise DataError(f"{table}: lists no clips{' of the ESC-10 subset' if esc10 else ''}")
    audio = table.parent.parent / "audio"
    return [(listed_path(audio, name, table, line, allow_outside), fold, target, category)
            for name, fold, target, category, _, line in rows]


# --------------------------------------------------------------------------- clip length


AUTO_DURATION_STEP = 0.1
"""The clip length read from the files (``data.duration`` 0) is rounded up to a multiple of this (seconds)."""

AUTO_DURATION_MAX = 10.0
"""... and is at most this many seconds (longer files are cropped, centred)."""


@dataclass(frozen=True)
class SizedDuration:
    """The clip length a dataset is read at: ``seconds``; ``given`` whether ``data.duration``
    set it (else read from the files by :func:`auto_duration`); ``files`` the number of
    files whose lengths were read, ``longest`` the longest of them (seconds), ``cropped``
    how many are longer than ``seconds``."""

    seconds: float
    given: bool = True
    files: int = 0
    longest: float = 0.0
    cropped: int = 0

    def describe(self) -> str:
        """One phrase for the run's log line."""
        if self.given:
            return f"data.duration {self.seconds:g} s (given)"
        crop = f"; {self.cropped} longer files cropped" if self.cropped else ""
        return (f"data.duration {self.seconds:g} s (the longest of {self.files} files, {self.longest:.3g} s, rounded "
                f"up to {AUTO_DURATION_STEP:g} s, at most {AUTO_DURATION_MAX:g} s{crop})")


def clip_seconds(paths: Sequence[str | Path]) -> np.ndarray:
    """Each file's length in seconds ``[N]`` from its header (no decoding; a thread pool);
    a file that cannot be read counts as 0 s (the decoder reports it)."""
    def seconds(path: str | Path) -> float:
        try:
            info = sf.info(str(path))
        except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError):
            return 0.0
        return info.frames / info.samplerate if info.samplerate else 0.0

    workers = min(8, os.cpu_count() or 1, max(1, len(paths)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return np.fromiter(pool.map(seconds, paths), dtype=np.float64, count=len(paths))


def auto_duration(seconds: np.ndarray) -> float:
    """The clip length for files of these lengths (seconds ``[N]``): the longest, rounded up
    to :data:`AUTO_DURATION_STEP`, at most :data:`AUTO_DURATION_MAX`, so that no clip is
    cut unless it is longer than that (a shorter clip is padded with silence, centred)."""
    longest = float(seconds.max()) if seconds.size else 0.0
    steps = max(1, math.ceil(round(longest / AUTO_DURATION_STEP, 6)))
    return min(AUTO_DURATION_MAX, round(steps * AUTO_DURATION_STEP, 6))


def _sized_duration(duration: float, paths: Sequence[str | Path], source: str | Path) -> SizedDuration:
    """``duration`` when given (> 0), else :func:`auto_duration` of ``paths``' lengths
    (``source``: the dataset, for messages)."""
    if duration > 0:
        return SizedDuration(float(duration))
    if not paths:
        raise DataError(f"{source}: no audio files; expected {_FORMAT_HELP}")
    lengths = clip_seconds(paths)
    if lengths.max() <= 0:
        raise DataError(f"{source}: no readable audio file to read the clip length from ({len(paths)} files, "
                        "none readable); set data.duration")
    seconds = auto_duration(lengths)
    return SizedDuration(seconds, False, len(lengths), float(lengths.max()), int((lengths > seconds + 1e-9).sum()))


def _dataset_audio_files(root: Path) -> list[Path]:
    """The audio files a layout's examples come from (every file below ``root`` but the
    background-noise bank): what ``data.duration`` 0 reads the clip length from."""
    return [f for f in _audio_files(root, recursive=True) if NOISE_DIR not in f.relative_to(root).parts]


# --------------------------------------------------------------------------- helpers


def _check_mode(mode: dict) -> dict:
    unknown = sorted(set(mode) - set(_MODE_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown audio data option(s) {unknown}; valid: {sorted(_MODE_DEFAULTS)}")
    options = {**_MODE_DEFAULTS, **mode}
    if options["layout"] not in ("auto", "folder", "speech_commands", "esc50"):
        raise ConfigError(f"audio data layout must be auto, folder, speech_commands or esc50; "
                          f"got {options['layout']!r}")
    if not isinstance(options["allow_outside_paths"], bool):
        raise ConfigError(f"allow_outside_paths must be true or false; got {options['allow_outside_paths']!r}")
    check_listing_options(options["label_pattern"], options["group_by"])
    options["words"] = str(options["words"])
    if options["words"] not in ("all", "12"):
        raise ConfigError(f"Speech Commands words must be 'all' or '12'; got {options['words']!r}")
    for key in ("unknown_ratio", "silence_ratio"):
        value = options[key]
        if (value is not None or key == "silence_ratio") and not (
                isinstance(value, (int, float)) and value >= 0):
            raise ConfigError(f"{key} must be a number >= 0{' or None' if key == 'unknown_ratio' else ''}; "
                              f"got {value!r}")
    return options


def _num_samples(sample_rate: int, duration: float) -> int:
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ConfigError(f"sample_rate must be a positive whole number of Hz; got {sample_rate!r}")
    if not duration > 0:
        raise ConfigError(f"duration must be positive (seconds); got {duration!r}")
    return max(1, int(round(sample_rate * duration)))



def make_splits(data: dict, names: list[str], noise: torch.Tensor | None, source: str,
                skipped: list[str] | None = None) -> Splits:
    """``Splits`` of ``{split: (waves [N, T], labels [N])}`` for train, val and test, with
    ``extras["noise"]`` (the noise bank ``[M, T]`` or None) and ``extras["skipped"]``.

    Raises:
        DataError: a split is empty (naming ``source``).
    """
    datasets = {}
    for split in SPLIT_NAMES:
        waves, labels = data[split]
        if len(labels) == 0:
            raise DataError(f"{source}: the {split} split is empty; need at least 3 clips of some "
                            "class for a train/val/test split")
        datasets[split] = TensorDataset(waves.contiguous().float(),
                                        torch.as_tensor(labels, dtype=torch.int64))
    return Splits(label_names=list(names), extras={"noise": noise, "skipped": list(skipped or [])}, **datasets)
