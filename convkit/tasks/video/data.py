"""The video task's on-disk data: decoding, a uint8 cache, and clip sampling (the
generated default videos are ``synthetic.py``).

Sources (each video becomes uint8 ``[T, H, W, 3]``, decoded ONCE, resized once, then
cached, so epochs after the first never decode again):

- video files ``.mp4/.avi/.mkv/.mov/.webm``, decoded with PyAV (the ``video`` extra:
  ``pip install convkit[video]``; without it, one line says so). Grey-scale videos come
  out as RGB; frames whose size changes mid-stream are rescaled to the first frame's.
- ``.npy`` clips ``[T, H, W, C]`` uint8 with C 3 (or 1 / no channel axis: grey, repeated).
- folders of frames (``.png/.jpg/.jpeg``, sorted by name; all of one size).

Layouts: ``<class>/<clip>`` folders (``train/``, ``val/``, ``test/`` subfolders are the
splits; otherwise a seeded stratified 80/10/10 split); UCF101 (``ucfTrainTestlist/`` with
``classInd.txt``, ``trainlistNN.txt``, ``testlistNN.txt``; videos in ``UCF-101/`` or the
root) and HMDB51 (``*_test_splitN.txt`` lists; 1 = train, 2 = test), whose official split
``split`` (1-3) is the test set; validation is carved from train by GROUP (UCF101's
``gNN`` clips of one actor never straddle train and val). A manifest ``.csv``
(``path,label``, optional ``split``, ``group``) or a folder whose clip names give the
labels (``label_pattern``) is read and split by ``convkit.data.manifest`` (``group_by``:
a video's clips or an actor on one side of every split).

Clip sampling (``VideoClips``): ``clip_len`` frames ``stride`` apart; in training one
random start and random crop per video per epoch, drawn from (seed, epoch, index)
(``set_epoch``), so resumed runs are exact; in evaluation ``clips_per_video`` uniformly
spaced clips with a centre crop. A video shorter than the clip's span is looped (said
once in the log). Clips are normalised per channel and laid out ``[C, T, H, W]``.

Cache memory: ``sum over videos of T * H * W * 3`` bytes at the cached size. UCF101 in
C3D's setting (128×171, all ~2.5M frames) is about 165 GB; with ``frame_step=2`` and
``max_frames=64`` about 56 GB. Beyond memory, ``cache_dir`` keeps each decoded video as a
memory-mapped ``.npy`` file on disk (decoded on the first run only).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from convkit.data.manifest import Listing, eval_listing, listing_for, split_groups, split_listing
from convkit.data.paths import listed_path
from convkit.data.splits import (
    DEFAULT_FRACTIONS,
    SPLIT_NAMES,
    Splits,
    carve_validation,
    check_classes,
    check_split_parts,
    existing_dir,
    find_split_dirs,
    remap_labels,
    split_indices,
)
from convkit.errors import ConfigError, DataError

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm"})
"""File endings decoded with PyAV (case-insensitive)."""
FRAME_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg"})
"""Image files read as the frames of a frame folder."""
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
"""Per-channel mean/std of Kinetics-400 (torchvision's video models), on [0, 1] pixels."""

Layout = Literal["auto", "folder", "ucf101", "hmdb51"]
"""How a video dataset folder is laid out (``auto``: :func:`detect_layout`)."""
LAYOUTS: tuple[str, ...] = get_args(Layout)

_FORMAT_HELP = ("<class>/<clip> folders of .mp4/.avi/.mkv videos, .npy [T,H,W,C] uint8 clips or "
                "folders of frames; or UCF101 / HMDB51 with their split lists")


# --------------------------------------------------------------------------- one video


def require_av():
    """The ``av`` module (PyAV), or a one-line DataError saying how to install it."""
    try:
        import av
    except ImportError:
        raise DataError("reading video files needs PyAV: install convkit[video] "
                        "(pip install 'convkit[video]')") from None
    return av


def read_video_file(path: str | Path) -> np.ndarray:
    """Decode every frame of a video file to uint8 ``[T, H, W, 3]`` (RGB; grey-scale and
    other pixel formats converted; frames of another size rescaled to the first's)."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such video file")
    if file.stat().st_size == 0:
        raise DataError(f"{file}: empty file (0 bytes); expected a video")
    av = require_av()
    frames: list[np.ndarray] = []
    try:
        with av.open(str(file)) as container:
            if not container.streams.video:
                raise DataError(f"{file}: holds no video stream")
            for frame in container.decode(video=0):
                if frames:
                    h, w = frames[0].shape[:2]
                    frames.append(frame.to_ndarray(format="rgb24", width=w, height=h))
                else:
                    frames.append(frame.to_ndarray(format="rgb24"))
    except DataError:
        raise
    except Exception as err:  # PyAV raises its own FFmpeg error classes (and OSError/ValueError)
        raise DataError(f"{file}: cannot decode video ({type(err).__name__}: {str(err).strip()})") from None
    if not frames:
        raise DataError(f"{file}: video holds no frames")
    return np.stack(frames)


def read_npy_clip(path: str | Path) -> np.ndarray:
    """A ``.npy`` clip ``[T, H, W, 3]`` uint8 (``[T, H, W]`` or ``[T, H, W, 1]`` grey is
    repeated to 3 channels)."""
    file = Path(path)
    try:
        clip = np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"{file}: not a readable .npy array ({str(err).strip() or 'empty file'})") from None
    if clip.ndim == 3:
        clip = clip[..., None]
    if clip.dtype != np.uint8 or clip.ndim != 4 or clip.shape[-1] not in (1, 3) or 0 in clip.shape:
        raise DataError(f"{file}: expected a uint8 clip [T, H, W, C] with C 1 or 3; "
                        f"got {clip.dtype} {list(clip.shape)}")
    return np.repeat(clip, 3, axis=-1) if clip.shape[-1] == 1 else clip


def read_frame_folder(path: str | Path) -> np.ndarray:
    """The images of a folder, sorted by name, as uint8 ``[T, H, W, 3]``; all frames must
    have one size."""
    from PIL import Image

    folder = Path(path)
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in FRAME_EXTENSIONS)
    if not files:
        raise DataError(f"{folder}: folder holds no frames (.png/.jpg/.jpeg)")
    frames = []
    for f in files:
        try:
            with Image.open(f) as image:
                frames.append(np.asarray(image.convert("RGB")))
        except OSError as err:
            raise DataError(f"{f}: not a readable image ({str(err).strip()})") from None
        if frames[-1].shape != frames[0].shape:
            raise DataError(f"{f}: frame of size {frames[-1].shape[1]}x{frames[-1].shape[0]}, but "
                            f"{files[0].name} is {frames[0].shape[1]}x{frames[0].shape[0]}; "
                            "expected every frame of a clip to have one size")
    return np.stack(frames)


def is_clip_source(path: Path) -> bool:
    """Whether ``path`` is a video file, a ``.npy`` clip or a folder of frames."""
    if path.is_dir():
        return any(f.suffix.lower() in FRAME_EXTENSIONS for f in path.iterdir())
    return path.suffix.lower() in VIDEO_EXTENSIONS | {".npy"}


def read_clip(path: str | Path) -> np.ndarray:
    """Any clip source (video file, ``.npy``, frame folder) as uint8 ``[T, H, W, 3]``."""
    path = Path(path)
    if path.is_dir():
        return read_frame_folder(path)
    if path.suffix.lower() == ".npy":
        return read_npy_clip(path)
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return read_video_file(path)
    raise DataError(f"{path}: not a clip; expected a video file ({', '.join(sorted(VIDEO_EXTENSIONS))}), "
                    "a .npy array or a folder of frames")


def resize_video(video: np.ndarray, size: int | Sequence[int] | None) -> np.ndarray:
    """Resize uint8 ``[T, H, W, 3]``: ``size`` an int sets the SHORT side (aspect kept),
    ``(h, w)`` sets both, None keeps it. Bilinear with antialiasing."""
    if size is None or size == 0:
        return video
    t, h, w, _ = video.shape
    if isinstance(size, int):
        scale = size / min(h, w)
        out_hw = (max(1, round(h * scale)), max(1, round(w * scale)))
    else:
        out_hw = (int(size[0]), int(size[1]))
    if out_hw == (h, w):
        return video
    x = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=out_hw, mode="bilinear", antialias=True, align_corners=False)
    return y.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def prepare_video(path: str | Path, resize=None, frame_step: int = 1, max_frames: int | None = None,
                  cache_dir: str | Path | None = None) -> np.ndarray:
    """Read a clip source, keep every ``frame_step``-th frame (at most ``max_frames``, a
    centred window), resize; with ``cache_dir`` the result is stored as ``.npy`` there
    (keyed by path, size, mtime and these settings) and returned memory-mapped."""
    path = Path(path)
    cache_file = None
    if cache_dir:
        st = path.stat()
        key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{resize}|{frame_step}|{max_frames}"
        cache_file = Path(cache_dir) / (hashlib.sha1(key.encode()).hexdigest() + ".npy")
        if cache_file.exists():
            return np.load(cache_file, mmap_mode="r")
    video = read_clip(path)[::max(1, frame_step)]
    if max_frames and len(video) > max_frames:
        start = (len(video) - max_frames) // 2
        video = video[start:start + max_frames]
    video = np.ascontiguousarray(resize_video(video, resize))
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, video)
        os.replace(tmp, cache_file)
        return np.load(cache_file, mmap_mode="r")
    return video


def load_videos(paths: Sequence[str | Path], strict: bool = False, skipped: list[str] | None = None,
                **prepare) -> tuple[list[np.ndarray], list[int]]:
    """Prepare many clip sources at once (a thread pool; FFmpeg releases the GIL):
    ``(videos, kept)`` with ``kept`` the indices into ``paths`` that decoded. A bad source
    is skipped with a warning naming it (with ``skipped``: its ``"<path>: <reason>"``
    appended there instead, for the caller's one summary), or raises DataError when
    ``strict``."""

    def one(path):
        try:
            return prepare_video(path, **prepare)
        except DataError as err:
            return err

    videos, kept = [], []
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1, max(1, len(paths)))) as pool:
        for i, result in enumerate(pool.map(one, paths)):
            if isinstance(result, DataError):
                if strict:
                    raise result
                if skipped is not None:
                    skipped.append(str(result))
                else:
                    warnings.warn(f"skipping {result}", stacklevel=2)
                continue
            videos.append(result)
            kept.append(i)
    return videos, kept


# --------------------------------------------------------------------------- clip sampling


def clip_indices(num_frames: int, clip_len: int, stride: int, start: int) -> np.ndarray:
    """Frame indices ``[clip_len]`` of a clip from ``start``, ``stride`` apart, looping
    past the end of a short video."""
    return (start + np.arange(clip_len) * stride) % num_frames


def uniform_starts(num_frames: int, clip_len: int, stride: int, count: int) -> list[int]:
    """``count`` evenly spaced clip starts covering the video (one: the centred clip)."""
    free = max(0, num_frames - ((clip_len - 1) * stride + 1))
    if count == 1:
        return [free // 2]
    return [int(round(free * k / (count - 1))) for k in range(count)]


class DecodedVideos(Dataset):
    """Decoded videos (the uint8 cache): ``videos`` a list of ``[T, H, W, 3]`` arrays (or
    memory maps), ``labels [V]`` int64, ``sources`` where each came from. Item ``i`` is
    ``(video, label)``."""

    def __init__(self, videos: list[np.ndarray], labels: np.ndarray, sources: list[str]) -> None:
        self.videos, self.labels, self.sources = videos, np.asarray(labels, dtype=np.int64), sources

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int):
        return self.videos[i], int(self.labels[i])

    def subset(self, idx: Sequence[int]) -> "DecodedVideos":
        """The videos at ``idx``."""
        return DecodedVideos([self.videos[i] for i in idx], self.labels[idx], [self.sources[i] for i in idx])


class VideoClips(Dataset):
    """Clips for the model from decoded videos: ``(clip float32 [3, clip_len, H', W'],
    label int64)``, normalised by ``mean``/``std`` (on [0, 1] pixels).

    ``train=True``: one item per video, a random start, a random ``crop`` and (with
    ``flip``) a random horizontal flip, drawn from (``seed``, epoch, index): call
    ``set_epoch`` each epoch. ``train=False``: ``clips_per_video`` items per video
    (uniform starts, centre crop); ``video_index [len]`` says which video each came from,
    for video-level accuracy. ``crop`` None keeps the full frame (every video must then
    have one size to batch).
    """

    def __init__(self, videos: DecodedVideos, clip_len: int = 16, stride: int = 1, crop: int | None = None,
                 train: bool = False, clips_per_video: int = 1, flip: bool = False, seed: int = 0,
                 mean: Sequence[float] = KINETICS_MEAN, std: Sequence[float] = KINETICS_STD) -> None:
        if clip_len < 1 or stride < 1 or clips_per_video < 1:
            raise ConfigError(f"clip_len, stride and clips_per_video must be >= 1; "
                              f"got {clip_len}, {stride}, {clips_per_video}")
        self.videos, self.clip_len, self.stride, self.crop = videos, clip_len, stride, crop
        self.train, self.flip, self.seed, self.epoch = train, flip, seed, 0
        self.clips_per_video = 1 if train else clips_per_video
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1, 1) * 255
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1, 1) * 255
        self.video_index = np.repeat(np.arange(len(videos)), self.clips_per_video)
        span = (clip_len - 1) * stride + 1
        short = sum(len(v) < span for v in videos.videos)
        if short:
            log.warning("%d of %d videos are shorter than a clip (%d frames at stride %d); they are looped",
                        short, len(videos), clip_len, stride)

    def set_epoch(self, epoch: int) -> None:
        """Pick this epoch's random clips (training): they derive from (seed, epoch, index)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.video_index)

    def __getitem__(self, i: int):
        v = int(self.video_index[i])
        video, label = self.videos[v]
        t, h, w, _ = video.shape
        ch, cw = (h, w) if self.crop is None else (min(self.crop, h), min(self.crop, w))
        flip = False
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            free = max(0, t - ((self.clip_len - 1) * self.stride + 1))
            start = int(rng.integers(free + 1))
            top, left = int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1))
            flip = self.flip and bool(rng.integers(2))
        else:
            start = uniform_starts(t, self.clip_len, self.stride, self.clips_per_video)[i % self.clips_per_video]
            top, left = (h - ch) // 2, (w - cw) // 2
        frames = np.asarray(video[clip_indices(t, self.clip_len, self.stride, start), top:top + ch, left:left + cw])
        clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float()  # [3, T, H, W]
        if flip:
            clip = clip.flip(-1)
        return (clip - self.mean) / self.std, label


# --------------------------------------------------------------------------- datasets


def detect_layout(root: Path) -> str:
    """``ucf101`` (a ``classInd.txt``/``trainlist01.txt``), ``hmdb51`` (``*_test_split1.txt``
    lists) or ``folder``."""
    if _ucf_list_dir(root) is not None:
        return "ucf101"
    if _hmdb_list_dir(root) is not None:
        return "hmdb51"
    return "folder"


def load_video_dataset(path: str | Path, layout: str = "auto", split: int = 1, strict: bool = False,
                       seed: int = 0, allow_outside_paths: bool = False, label_pattern: str = "",
                       group_by: str = "", **prepare) -> Splits:
    """An on-disk video dataset as ``Splits`` of ``DecodedVideos`` (see the module
    docstring). ``prepare``: ``resize``, ``frame_step``, ``max_frames``, ``cache_dir``.
    ``allow_outside_paths``: UCF101/HMDB51 list lines and manifest rows may name clips
    outside the folder they are listed against (else such a line is an error).
    ``label_pattern``, ``group_by``: a folder's labels from its clip names and the field
    whose groups stay on one side of every split (``convkit.data.manifest``; ``extras``
    then hold ``group_by`` and ``split_groups``).

    Raises:
        DataError: no clips, none readable, a list line outside the data folder, or
            training data of fewer than two classes (before and after decoding; the
            message names the list, folder or file and the class).
    """
    listing = _listing(path, label_pattern, group_by, allow_outside_paths, strict)
    if listing is not None:
        listed = split_listing(listing, _decoder(strict, prepare), seed, group_by)
        data = DecodedVideos(listed.decoded, listed.labels, [str(e.path) for e in listed.entries])
        return Splits(*(data.subset(listed.parts[s]) for s in SPLIT_NAMES), listed.label_names,
                      {"source": listed.source, "group_by": listed.group_by or "",
                       "split_groups": split_groups(listed)})
    root = existing_dir(path, _FORMAT_HELP, allow_empty=False)
    layout = detect_layout(root) if layout == "auto" else layout
    if layout in ("ucf101", "hmdb51"):
        items, names = (_ucf_items if layout == "ucf101" else _hmdb_items)(root, split, allow_outside_paths)
        where = str(_ucf_list_dir(root) / f"trainlist0{split}.txt" if layout == "ucf101" else _hmdb_list_dir(root))
        check_classes(items["train"][1], names, where)
        decoded = {part: _decode(root, paths, labels, strict, prepare) for part, (paths, labels) in items.items()}
        train_val = decoded["train"]
        tr, va = _carve_by_group(train_val)
        check_classes(train_val.labels[tr], names, where)
        return Splits(train_val.subset(tr), train_val.subset(va), decoded["test"], names,
                      {"source": f"{layout} split {split}"})
    if layout != "folder":
        raise ConfigError(f"data.layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    dirs = find_split_dirs(root)
    if dirs is None:
        paths, labels, names = list_clip_folders(root)
        check_classes(labels, names, str(root))
        data = _decode(root, paths, labels, strict, prepare)
        parts = split_indices(data.labels, DEFAULT_FRACTIONS, seed)
        check_classes(data.labels[parts[0]], names, str(root))
        check_split_parts(parts, data.labels, names, str(root))
        return Splits(*(data.subset(p) for p in parts), names, {"source": str(root)})
    if "train" not in dirs:
        raise DataError(f"{root}: has {', '.join(sorted(dirs))}/ but no train/ folder")
    listed = {part: list_clip_folders(folder) for part, folder in dirs.items()}
    names = sorted({n for _, _, ns in listed.values() for n in ns})
    listed = {part: (paths, remap_labels(labels, ns, names, str(dirs[part])))
              for part, (paths, labels, ns) in listed.items()}
    check_classes(listed["train"][1], names, str(dirs["train"]))
    data = {part: _decode(root, paths, labels, strict, prepare) for part, (paths, labels) in listed.items()}
    for missing in (p for p in ("val", "test") if p not in data):
        keep, carved = carve_validation(data["train"].labels, 0.1, seed)
        data[missing], data["train"] = data["train"].subset(carved), data["train"].subset(keep)
    check_classes(data["train"].labels, names, str(dirs["train"]))
    return Splits(data["train"], data["val"], data["test"], names, {"source": str(root)})


def load_video_eval_set(path: str | Path, label_names: Sequence[str], layout: str = "auto", split: int = 1,
                        strict: bool = False, allow_outside_paths: bool = False, label_pattern: str = "",
                        **prepare) -> DecodedVideos:
    """The videos to score a trained model on (the official test list, the ``test/``
    folder, a manifest's test rows, or every clip), labelled by name onto ``label_names``."""
    listing = _listing(path, label_pattern, "", allow_outside_paths, strict)
    if listing is not None:
        listed = eval_listing(listing, _decoder(strict, prepare))
        return DecodedVideos(listed.decoded, remap_labels(listed.labels, listed.label_names, label_names,
                                                          listed.source),
                             [str(e.path) for e in listed.entries])
    root = existing_dir(path, _FORMAT_HELP, allow_empty=False)
    layout = detect_layout(root) if layout == "auto" else layout
    if layout in ("ucf101", "hmdb51"):
        items, names = (_ucf_items if layout == "ucf101" else _hmdb_items)(root, split, allow_outside_paths)
        paths, labels = items["test"]
    else:
        folder = (find_split_dirs(root) or {}).get("test", root)
        paths, labels, names = list_clip_folders(folder)
    return _decode(root, paths, remap_labels(labels, names, label_names, str(root)), strict, prepare)


def list_clip_folders(root: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """``<class>/<clip>`` sources under ``root``: ``(paths, labels [N], class names)``."""
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith((".", "_")))
    paths, labels, names = [], [], []
    for d in classes:
        clips = sorted(p for p in d.iterdir() if not p.name.startswith(".") and is_clip_source(p))
        if clips:
            labels += [len(names)] * len(clips)
            names.append(d.name)
            paths += clips
    if not paths:
        raise DataError(f"{root}: no clips found; expected {_FORMAT_HELP}")
    return paths, np.asarray(labels, dtype=np.int64), names


def _listing(path: str | Path, label_pattern: str, group_by: str, allow_outside: bool,
             strict: bool) -> Listing | None:
    """The manifest or pattern listing ``--data path`` asks for (None: a layout)."""
    return listing_for(path, label_pattern, group_by, is_clip_source,
                       "clips (video files, .npy clips, folders of frames)", allow_outside, strict)


def _decoder(strict: bool, prepare: dict) -> Callable[[list[Path], list[str]], tuple[list[np.ndarray], list[int]]]:
    """``convkit.data.manifest``'s decode function: the listed clip sources, prepared."""
    return lambda paths, skipped: load_videos(paths, strict, skipped, **prepare)


def _decode(root: Path, paths: list[Path], labels: np.ndarray, strict: bool, prepare: dict) -> DecodedVideos:
    videos, kept = load_videos(paths, strict, **prepare)
    if not videos:
        raise DataError(f"{root}: none of {len(paths)} clips could be read")
    return DecodedVideos(videos, np.asarray(labels)[kept], [str(paths[i]) for i in kept])


def _carve_by_group(data: DecodedVideos, fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Train/val indices with whole UCF101/HMDB groups (``_gNN_``) in val: the highest
    group numbers, about ``fraction`` of the clips; a plain stratified carve otherwise."""
    groups = [re.search(r"_g(\d+)_", Path(s).name) for s in data.sources]
    if not all(groups):
        return carve_validation(data.labels, fraction, 0)
    ids = np.array([int(g.group(1)) for g in groups])
    cut = np.quantile(ids, 1 - fraction)
    val = ids > cut if (ids > cut).any() else ids >= cut
    return np.flatnonzero(~val), np.flatnonzero(val)


def _ucf_list_dir(root: Path) -> Path | None:
    for d in (root / "ucfTrainTestlist", root):
        if (d / "classInd.txt").is_file() and (d / "trainlist01.txt").is_file():
            return d
    return None


def _ucf_items(root: Path, split: int, allow_outside: bool = False) -> tuple[dict, list[str]]:
    """UCF101's official ``split``: ``({"train"|"test": (paths, labels [N])}, class names)``;
    list lines must name clips inside the videos folder unless ``allow_outside``."""
    lists = _ucf_list_dir(root)
    if split not in (1, 2, 3):
        raise ConfigError(f"data.split must be 1, 2 or 3; got {split}")
    names = [line.split()[1] for line in (lists / "classInd.txt").read_text().splitlines() if line.strip()]
    index = {n.lower(): i for i, n in enumerate(names)}
    videos = root / "UCF-101" if (root / "UCF-101").is_dir() else root
    items = {}
    for part, file in (("train", f"trainlist0{split}.txt"), ("test", f"testlist0{split}.txt")):
        paths, labels = [], []
        for n, line in enumerate((lists / file).read_text().splitlines(), 1):
            if not line.strip():
                continue
            rel = line.split()[0]
            path = listed_path(videos, rel, lists / file, n, allow_outside)
            cls = rel.split("/")[0].lower()
            if cls not in index:
                raise DataError(f"{lists / file}:{n}: class {rel.split('/')[0]!r} is not in classInd.txt")
            paths.append(path)
            labels.append(index[cls])
        items[part] = (paths, np.asarray(labels, dtype=np.int64))
    return items, names


def _hmdb_list_dir(root: Path) -> Path | None:
    for d in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        if any(d.glob("*_test_split1.txt")):
            return d
    return None


def _hmdb_items(root: Path, split: int, allow_outside: bool = False) -> tuple[dict, list[str]]:
    """HMDB51's official ``split`` (per-class lists, 1 = train, 2 = test): as
    :func:`_ucf_items`; clips must lie inside their class folder unless ``allow_outside``."""
    lists = _hmdb_list_dir(root)
    if split not in (1, 2, 3):
        raise ConfigError(f"data.split must be 1, 2 or 3; got {split}")
    files = sorted(lists.glob(f"*_test_split{split}.txt"))
    names = [f.name[: -len(f"_test_split{split}.txt")] for f in files]
    items = {"train": ([], []), "test": ([], [])}
    for label, (name, file) in enumerate(zip(names, files)):
        for n, line in enumerate(file.read_text().splitlines(), 1):
            parts = line.split()
            if len(parts) == 2 and parts[1] in ("1", "2"):
                part = "train" if parts[1] == "1" else "test"
                items[part][0].append(listed_path(root / name, parts[0], file, n, allow_outside))
                items[part][1].append(label)
    return {k: (p, np.asarray(l, dtype=np.int64)) for k, (p, l) in items.items()}, names


__all__ = [
    "DecodedVideos", "KINETICS_MEAN", "KINETICS_STD", "LAYOUTS", "Layout", "VideoClips", "clip_indices",
    "detect_layout", "is_clip_source", "list_clip_folders", "load_video_dataset", "load_video_eval_set",
    "load_videos", "prepare_video", "read_clip", "read_frame_folder", "read_npy_clip", "read_video_file",
    "require_av", "resize_video", "uniform_starts",
]
