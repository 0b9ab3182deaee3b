"""The point-cloud task's on-disk data: the readers of its formats and the datasets
(the generated solids, the offline default, are ``synthetic.py``).

Every cloud becomes ``[C, P]`` float32 (``C = channels``: xyz, then optional per-point
features such as normals), centred on its centroid and scaled into the unit sphere (the
ModelNet convention), with its points in random order so that order never carries signal.

On-disk formats (DESIGN.md "On-disk data formats"), detected from the folder:

* ModelNet layout: ``<class>/train/*.off`` and ``<class>/test/*.off`` (ModelNet10/40);
  meshes are surface-sampled (area-weighted, uniform on the surface).
* ``<class>/.../<sample>`` files: ``.off`` meshes, ``.npy`` arrays ``[P, 3+]``,
  ``.txt``/``.xyz`` rows of numbers (spaces or commas), ``.ply`` vertices (ASCII or
  binary). Any ``P``: each cloud is resampled to ``sample_points`` (with replacement
  when it has fewer; said once in a warning).
* ``train/``, ``val/``, ``test/`` subfolders around ``<class>/`` folders.
* One ``.npz`` with ``points [S, P, 3+]`` and ``labels [S]`` (optional ``label_names
  [K]`` and ``split [S]`` of "train"/"val"/"test").
* A manifest ``.csv`` (``path,label``, optional ``split``, ``group``) or a folder whose
  file names give the labels (``label_pattern``), read and split by
  ``convkit.data.manifest`` (``group_by``: the scans of one object or one session on one
  side of every split); not cached.

Given splits are used as they are (a missing val split is carved from train, 10%,
stratified); otherwise a seeded stratified 80/10/10 split. A folder load is cached as
one ``.npz`` under ``cache_dir`` (default ``convkit.data.cache.cache_dir("pointcloud")``:
never next to the data, which may be read-only), keyed by the files' names, sizes and
times and the settings. A file that cannot be used (bad header, faces that index missing
vertices, no faces, NaN coordinates, all points identical) is skipped with a warning
naming it and why; ``strict=True`` makes that an error.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import warnings
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from convkit.data import cache
from convkit.data.manifest import Listing, eval_listing, listing_for, split_groups, split_listing
from convkit.data.splits import (
    DEFAULT_FRACTIONS,
    SPLIT_NAMES,
    VAL_FRACTION_OF_TRAIN,
    Splits,
    carve_validation,
    check_split_parts,
    existing_dir,
    find_split_dirs,
    remap_labels,
    split_indices,
)
from convkit.errors import ConfigError, DataError

MESH_EXTENSIONS = frozenset({".off"})
"""File endings read as triangle meshes (surface-sampled)."""
POINT_EXTENSIONS = frozenset({".npy", ".txt", ".xyz", ".ply"})
"""File endings read as point clouds ``[P, 3+]``."""
CLOUD_EXTENSIONS = MESH_EXTENSIONS | POINT_EXTENSIONS

_CACHE_VERSION = 1  # bump when sampling or normalisation changes
_FORMAT_HELP = ("ModelNet (<class>/train|test/*.off), <class>/<sample> files (.off .npy .txt .xyz .ply), "
                "or one .npz with points [S, P, 3+] and labels [S]")


# ----------------------------------------------------------------------------- the dataset


class PointCloudDataset(Dataset):
    """Clouds ``points [S, Q, C]`` with labels ``[S]``; item ``i`` is ``(cloud [C, P],
    label)`` with ``P = num_points <= Q``.

    With ``Q > P`` and ``resample_per_epoch`` (training), each epoch draws a fresh
    subset of ``P`` of the ``Q`` stored points per cloud, from ``(seed, epoch, i)``, so
    a resumed run sees the same subsets; otherwise the first ``P`` (stored order is
    random). ``set_epoch`` is called by the engine before each epoch.
    """

    def __init__(self, points: Tensor, labels: Tensor, num_points: int | None = None,
                 resample_per_epoch: bool = False, seed: int = 0, names: Sequence[str] | None = None) -> None:
        if points.dim() != 3 or labels.shape != points.shape[:1]:
            raise DataError(f"PointCloudDataset needs points [S, Q, C] and labels [S]; "
                            f"got {list(points.shape)} and {list(labels.shape)}")
        self.points, self.labels = points.float().contiguous(), labels.long()
        self.num_points = points.shape[1] if num_points is None else int(num_points)
        if not 1 <= self.num_points <= points.shape[1]:
            raise ConfigError(f"num_points must be between 1 and the {points.shape[1]} stored points; "
                              f"got {self.num_points}")
        self.resample_per_epoch, self.seed, self.epoch = resample_per_epoch, seed, 0
        self.names = list(names) if names is not None else None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def channels(self) -> int:
        """Channels per point (3 for xyz)."""
        return int(self.points.shape[2])

    def set_epoch(self, epoch: int) -> None:
        """Pick the epoch whose point subsets ``__getitem__`` returns."""
        self.epoch = int(epoch)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        cloud = self.points[i]
        if self.resample_per_epoch and self.num_points < cloud.shape[0]:
            g = torch.Generator().manual_seed(_mix(self.seed, self.epoch, int(i)))
            cloud = cloud[torch.randperm(cloud.shape[0], generator=g)[: self.num_points]]
        else:
            cloud = cloud[: self.num_points]
        return cloud.t().contiguous(), self.labels[i]


def _mix(*values: int) -> int:
    """One 63-bit seed from several ints (stable across runs and platforms)."""
    return int.from_bytes(hashlib.sha256(repr(values).encode()).digest()[:8], "little") >> 1


# ----------------------------------------------------------------------------- readers


def read_off(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an OFF mesh -> ``(vertices [V, 3] float64, faces [F, 3] int64)``; polygons
    are fan-triangulated. Accepts ``#`` comments, colour/normal variants (``COFF``,
    ``NOFF``: extra columns ignored) and ModelNet's header glued to the counts
    (``OFF490 518 0``).

    Raises:
        DataError: naming the file: not an OFF header, counts missing, the file ends
            early, a bad number, no faces, or a face that indexes a missing vertex.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror})") from None
    lines = [ln.split("#", 1)[0].split() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines or not re.fullmatch(r"(ST)?C?N?OFF(\d.*)?", lines[0][0]):
        got = " ".join(lines[0])[:40] if lines else "an empty file"
        raise DataError(f"{path}: not an OFF mesh; expected the header 'OFF', got {got!r}")
    first = lines[0][0]
    rest = ([first[first.index("OFF") + 3:]] if not first.endswith("OFF") else []) + lines[0][1:]
    body = lines[1:]
    if not rest:
        if not body:
            raise DataError(f"{path}: OFF header without the counts line 'vertices faces edges'")
        rest, body = body[0], body[1:]
    try:
        n_vertices, n_faces = int(rest[0]), int(rest[1])
    except (ValueError, IndexError):
        raise DataError(f"{path}: expected the counts 'vertices faces edges' after OFF; got {' '.join(rest)!r}") from None
    if n_faces <= 0:
        raise DataError(f"{path}: the mesh has no faces; expected a triangle mesh "
                        "(for points use .npy/.txt/.xyz/.ply)")
    if len(body) < n_vertices + n_faces:
        raise DataError(f"{path}: ends early: {len(body)} lines for {n_vertices} vertices and {n_faces} faces")
    try:
        vertices = np.array([ln[:3] for ln in body[:n_vertices]], dtype=np.float64)
        faces = _triangulate([[int(t) for t in ln] for ln in body[n_vertices:n_vertices + n_faces]], path)
    except ValueError as err:
        raise DataError(f"{path}: bad number in the mesh ({err})") from None
    if vertices.shape != (n_vertices, 3):
        raise DataError(f"{path}: every vertex needs 3 coordinates")
    if faces.size and (faces.min() < 0 or faces.max() >= n_vertices):
        bad = int(faces.max()) if faces.max() >= n_vertices else int(faces.min())
        raise DataError(f"{path}: a face indexes vertex {bad}, but the mesh has {n_vertices} vertices (0..{n_vertices - 1})")
    return vertices, faces


def _triangulate(rows: list[list[int]], path: Path) -> np.ndarray:
    """Face rows ``[n, i1, ..., in, (colour...)]`` -> triangles ``[F, 3]`` (fans)."""
    if all(len(r) == 4 and r[0] == 3 for r in rows):  # the common all-triangles case
        return np.array(rows, dtype=np.int64)[:, 1:]
    tris = []
    for r in rows:
        n = r[0]
        if n < 3 or len(r) < n + 1:
            raise DataError(f"{path}: a face needs at least 3 vertex indices; got {' '.join(map(str, r))!r}")
        tris += [(r[1], r[i], r[i + 1]) for i in range(2, n)]
    return np.array(tris, dtype=np.int64).reshape(-1, 3)


def sample_surface(vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform on a triangle mesh's surface: triangles drawn with probability
    proportional to area, then a uniform point in each (reflected barycentric
    coordinates). ``vertices [V, 3]``, ``faces [F, 3]`` -> ``[n, 3]`` float64."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    total = area.sum()
    if not np.isfinite(total) or total <= 0:
        raise DataError("the mesh has zero surface area (every face is degenerate)")
    tri = rng.choice(len(faces), size=n, p=area / total)
    u, v = rng.random((2, n, 1))
    flip = (u + v) > 1
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    return a[tri] + u * (b[tri] - a[tri]) + v * (c[tri] - a[tri])


def read_ply(path: str | Path) -> np.ndarray:
    """The vertices of a PLY file (ASCII or binary) -> ``[P, C]`` float64: x, y, z first,
    then the vertex's other scalar properties in file order (e.g. nx, ny, nz).

    Written by hand (about 40 lines) because no PLY library is a dependency; it reads the
    vertex element only, which must come first in binary files.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror})") from None
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise DataError(f"{path}: not a PLY file; expected 'ply' ... 'end_header'")
    header = raw[:end].decode("ascii", errors="replace").splitlines()
    body = raw[raw.index(b"\n", end) + 1:]
    fmt, elements, current = None, [], None
    for line in header:
        words = line.split()
        if words[:1] == ["format"]:
            fmt = words[1]
        elif words[:1] == ["element"]:
            current = [words[1], int(words[2]), []]
            elements.append(current)
        elif words[:1] == ["property"] and current is not None:
            current[2].append(("list",) if words[1] == "list" else (words[2], words[1]))
    vertex = next((e for e in elements if e[0] == "vertex"), None)
    if vertex is None or fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise DataError(f"{path}: expected a PLY 'vertex' element and format ascii or binary; got {fmt!r}")
    names = [p[0] for p in vertex[2] if p != ("list",)]
    if not {"x", "y", "z"} <= set(names) or ("list",) in vertex[2]:
        raise DataError(f"{path}: PLY vertices need scalar x, y, z properties; got {names}")
    order = ["x", "y", "z"] + [n for n in names if n not in ("x", "y", "z")]
    count = vertex[1]
    if fmt == "ascii":
        rows = body.decode("ascii", errors="replace").split("\n")[:count]
        try:
            table = np.array([r.split()[:len(names)] for r in rows], dtype=np.float64)
        except ValueError:
            raise DataError(f"{path}: bad or missing vertex rows (expected {count} rows of {len(names)} numbers)") from None
        if table.shape != (count, len(names)):
            raise DataError(f"{path}: expected {count} vertex rows of {len(names)} numbers")
        cols = {n: table[:, i] for i, n in enumerate(names)}
    else:
        if elements[0] is not vertex:
            raise DataError(f"{path}: binary PLY files must list the vertex element first")
        endian = "<" if fmt == "binary_little_endian" else ">"
        try:
            dtype = np.dtype([(n, endian + _PLY_TYPES[t]) for n, t in vertex[2]])
        except KeyError as err:
            raise DataError(f"{path}: unknown PLY property type {err.args[0]!r}") from None
        if len(body) < count * dtype.itemsize:
            raise DataError(f"{path}: truncated: {count} vertices need {count * dtype.itemsize} bytes")
        table = np.frombuffer(body, dtype=dtype, count=count)
        cols = {n: table[n].astype(np.float64) for n in names}
    return np.stack([cols[n] for n in order], axis=1)


_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
              "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
              "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}


def read_points(path: str | Path) -> np.ndarray:
    """A point file -> ``[P, C]`` float64 (``C >= 3``): ``.npy`` ``[P, C]``, ``.txt``/``.xyz``
    rows of numbers separated by spaces or commas, ``.ply`` vertices."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".ply":
        points = read_ply(path)
    elif suffix == ".npy":
        try:
            points = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise DataError(f"{path}: not a readable .npy array ({err})") from None
    elif suffix in (".txt", ".xyz"):
        try:
            rows = [r.replace(",", " ").split() for r in path.read_text(encoding="utf-8").splitlines()]
            rows = [r for r in rows if r and not r[0].startswith("#")]
            points = np.array(rows, dtype=np.float64) if rows else np.zeros((0, 3))
        except (OSError, UnicodeDecodeError) as err:
            raise DataError(f"{path}: cannot read ({err})") from None
        except ValueError:
            raise DataError(f"{path}: expected rows of numbers 'x y z ...' with the same count on every row") from None
    else:
        raise DataError(f"{path}: unknown point file type {suffix!r}; expected one of {sorted(CLOUD_EXTENSIONS)}")
    if points.ndim != 2 or points.shape[1] < 3 or len(points) == 0:
        raise DataError(f"{path}: expected points [P, 3+]; got an array of shape {list(points.shape)}")
    return points.astype(np.float64, copy=False)


def read_cloud(path: str | Path, num_points: int, channels: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One file as a cloud ``[num_points, channels]`` float32, normalised (see
    :func:`normalize`) and in random order; meshes are surface-sampled. Also returns
    the file's own point count (``num_points`` for a mesh); a file with fewer points
    has the rest drawn again with replacement.

    Raises:
        DataError: naming the file: unreadable, too few channels, NaN/inf coordinates,
            or every point identical.
    """
    path = Path(path)
    if path.suffix.lower() in MESH_EXTENSIONS:
        if channels != 3:
            raise DataError(f"{path}: a mesh gives xyz only; data.channels must be 3 for .off files, got {channels}")
        vertices, faces = read_off(path)
        if not np.isfinite(vertices).all():
            raise DataError(f"{path}: has NaN or infinite coordinates")
        try:
            points = sample_surface(vertices, faces, num_points, rng)
        except DataError as err:
            raise DataError(f"{path}: {err}") from None
        count = num_points
    else:
        points = read_points(path)
        if points.shape[1] < channels:
            raise DataError(f"{path}: has {points.shape[1]} values per point; data.channels asks for {channels}")
        points = points[:, :channels]
        count = len(points)
    if not np.isfinite(points).all():
        raise DataError(f"{path}: has NaN or infinite coordinates")
    if np.ptp(points[:, :3], axis=0).max() == 0:
        raise DataError(f"{path}: every point is the same; a cloud needs some extent")
    return normalize(resample(points, num_points, rng)).astype(np.float32), count


def resample(points: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` of the rows of ``points [P, C]`` in random order: a random subset when
    ``P >= n``; otherwise every point once plus ``n - P`` drawn again with replacement."""
    p = len(points)
    if p >= n:
        return points[rng.permutation(p)[:n]]
    extra = rng.integers(0, p, n - p)
    return points[rng.permutation(np.concatenate([np.arange(p), extra]))]


def normalize(points: np.ndarray) -> np.ndarray:
    """Centre the xyz of ``points [P, C]`` on their centroid and scale them into the unit
    sphere (farthest point at distance 1); other channels are left as they are."""
    out = np.array(points, dtype=np.float64)
    xyz = out[:, :3] - out[:, :3].mean(0)
    radius = np.linalg.norm(xyz, axis=1).max()
    out[:, :3] = xyz / radius if radius > 0 else xyz
    return out


def point_count(path: str | Path) -> int | None:
    """How many points the cloud file ``path`` holds, read as cheaply as its format allows
    (a ``.npy``'s shape, a ``.ply`` header's vertex count, a ``.txt``/``.xyz`` file's rows
    of numbers); None for a mesh (sampled to any count) or a file that cannot be read (the
    loader names it)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
            return int(shape[0]) if len(shape) == 2 else None
        if suffix == ".ply":
            with path.open("rb") as stream:
                for raw in stream:
                    words = raw.split()
                    if words[:2] == [b"element", b"vertex"] and len(words) > 2:
                        return int(words[2])
                    if words[:1] == [b"end_header"]:
                        return None
            return None
        if suffix in (".txt", ".xyz"):
            with path.open("rb") as stream:
                return sum(1 for raw in stream if raw.strip() and not raw.lstrip().startswith(b"#"))
    except (OSError, ValueError):
        return None
    return None


def stored_point_counts(path: str | Path, label_pattern: str = "", allow_outside_paths: bool = False,
                        strict: bool = False) -> list[int | None]:
    """The points each cloud of the dataset at ``path`` holds (see :func:`point_count`;
    an ``.npz``'s clouds all have its ``points`` array's second axis), without decoding
    the clouds. Raises what the loader raises for a path it cannot list."""
    listing = _listing(path, label_pattern, "", allow_outside_paths, strict)
    if listing is not None:
        return [point_count(entry.path) for entry in listing.entries]
    root = Path(path)
    if root.is_file() and root.suffix.lower() == ".npz":
        try:
            with np.load(root, allow_pickle=False) as z:
                shape = z["points"].shape if "points" in z.files else ()
        except (OSError, ValueError):
            return []
        return [int(shape[1])] * int(shape[0]) if len(shape) == 3 else []
    root = existing_dir(root, f"a point-cloud dataset: {_FORMAT_HELP}", allow_empty=False)
    files, _ = _list_files(root)
    return [point_count(f) for entries in files.values() for f, _ in entries]


# ----------------------------------------------------------------------------- on-disk datasets


def load_pointcloud_dataset(path: str | Path, num_points: int = 1024, channels: int = 3,
                            sample_points: int | None = None, cache_dir: str | Path | None = None,
                            strict: bool = False, seed: int = 0, label_pattern: str = "", group_by: str = "",
                            allow_outside_paths: bool = False) -> Splits:
    """Load an on-disk point-cloud dataset (format detected; see the module docstring).

    Args:
        path: a dataset folder, one ``.npz`` file, or a manifest ``.csv``.
        num_points: points per cloud the model sees.
        channels: values per point (3: xyz; 6: xyz + normals where the files have them).
        sample_points: points stored per cloud (default ``num_points``); when larger,
            training draws a fresh ``num_points`` subset each epoch.
        cache_dir: where the folder's sampled arrays are cached (None: the default).
        strict: a bad file is an error instead of being skipped with a warning.
        seed: surface sampling, resampling and the split.
        label_pattern, group_by, allow_outside_paths: a folder's labels from its file
            names, the field whose groups stay on one side of every split, manifest rows
            outside the manifest's folder (``convkit.data.manifest``).

    Returns:
        ``Splits`` of :class:`PointCloudDataset` (items ``([channels, num_points], label)``);
        for a listing split by group, ``extras["group_by"]`` and ``extras["split_groups"]``.

    Raises:
        DataError: missing path, no clouds, only one class, a bad ``.npz``, or (strict) a bad file.
    """
    _check_counts(num_points, channels, sample_points)
    stored = max(num_points, sample_points or num_points)
    listing = _listing(path, label_pattern, group_by, allow_outside_paths, strict)
    if listing is not None:
        listed = split_listing(listing, _decoder(stored, channels, strict, seed), seed, group_by)
        parts = {s: (listed.decoded[i], listed.labels[i]) for s, i in listed.parts.items()}
        splits = cloud_splits(parts, listed.label_names, num_points, seed, listed.source)
        splits.extras.update(group_by=listed.group_by or "", split_groups=split_groups(listed))
        return splits
    root = Path(path)
    if root.is_file() and root.suffix.lower() == ".npz":
        parts, names = _read_npz(root, stored, channels, seed)
    else:
        root = existing_dir(root, f"a point-cloud dataset: {_FORMAT_HELP}", allow_empty=False)
        parts, names = _read_folder_cached(root, stored, channels, strict, seed, cache_dir)
    present = np.unique(np.concatenate([labels for _, labels in parts.values()]))
    if len(present) < 2:
        raise DataError(f"{root}: found only one class ({names[int(present[0])]!r}); need at least two")
    if "train" not in parts:
        raise DataError(f"{root}: has {'/'.join(parts)} data but no training split")
    if set(parts) == {"train"}:
        points, labels = parts["train"]
        split = split_indices(labels, DEFAULT_FRACTIONS, seed)
        check_split_parts(split, labels, names, str(root))
        parts = {s: (points[i], labels[i]) for s, i in zip(SPLIT_NAMES, split)}
    for missing in [s for s in ("val", "test") if s not in parts]:
        points, labels = parts["train"]
        keep, carved = carve_validation(labels, VAL_FRACTION_OF_TRAIN, seed)
        check_split_parts((keep, carved), labels, names, str(root), ("train", missing))
        parts["train"], parts[missing] = (points[keep], labels[keep]), (points[carved], labels[carved])
    return cloud_splits(parts, names, num_points, seed, str(root))


def load_pointcloud_eval_set(path: str | Path, label_names: Sequence[str], num_points: int = 1024,
                             channels: int = 3, cache_dir: str | Path | None = None,
                             strict: bool = False, seed: int = 0, label_pattern: str = "",
                             allow_outside_paths: bool = False) -> PointCloudDataset:
    """The data to score a trained model on: the test split when ``path`` has one (a
    manifest's test rows), else all of it, with labels mapped onto the model's
    ``label_names`` by name."""
    _check_counts(num_points, channels, None)
    listing = _listing(path, label_pattern, "", allow_outside_paths, strict)
    if listing is not None:
        listed = eval_listing(listing, _decoder(num_points, channels, strict, seed))
        labels = remap_labels(listed.labels, listed.label_names, label_names, listed.source)
        return PointCloudDataset(torch.from_numpy(listed.decoded), torch.from_numpy(labels), num_points)
    root = Path(path)
    if root.is_file() and root.suffix.lower() == ".npz":
        parts, names = _read_npz(root, num_points, channels, seed)
    else:
        root = existing_dir(root, f"a point-cloud dataset: {_FORMAT_HELP}", allow_empty=False)
        parts, names = _read_folder_cached(root, num_points, channels, strict, seed, cache_dir)
    points, labels = parts["test"] if "test" in parts else _concat(list(parts.values()))
    labels = remap_labels(labels, names, label_names, str(root))
    return PointCloudDataset(torch.from_numpy(points), torch.from_numpy(labels), num_points)


def load_point_files(paths: Sequence[str | Path], num_points: int, channels: int = 3,
                     seed: int = 0) -> Tensor:
    """Files for ``predict`` -> clouds ``[N, channels, num_points]``; a bad file is an
    error naming it."""
    clouds = []
    for i, p in enumerate(paths):
        p = Path(p)
        if not p.is_file():
            raise DataError(f"{p}: no such file; expected a point cloud ({', '.join(sorted(CLOUD_EXTENSIONS))})")
        clouds.append(read_cloud(p, num_points, channels, np.random.default_rng(_mix(seed, i)))[0])
    return torch.from_numpy(np.stack(clouds)).transpose(1, 2).contiguous()


def _listing(path: str | Path, label_pattern: str, group_by: str, allow_outside: bool,
             strict: bool) -> Listing | None:
    """The manifest or pattern listing ``--data path`` asks for (None: a layout)."""
    return listing_for(path, label_pattern, group_by, _is_cloud_file,
                       "point clouds (" + ", ".join(sorted(CLOUD_EXTENSIONS)) + ")", allow_outside, strict)


def _is_cloud_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in CLOUD_EXTENSIONS


def _decoder(num_points: int, channels: int, strict: bool,
             seed: int) -> Callable[[list[Path], list[str]], tuple[np.ndarray, list[int]]]:
    """``convkit.data.manifest``'s decode function: the listed files as clouds
    ``[K, num_points, channels]`` (each file's draws seeded by ``seed`` and its path)."""

    def decode(paths: list[Path], skipped: list[str]) -> tuple[np.ndarray, list[int]]:
        clouds, kept = [], []
        for i, path in enumerate(paths):
            rng = np.random.default_rng(_mix(seed, zlib.crc32(path.as_posix().encode())))
            try:
                clouds.append(read_cloud(path, num_points, channels, rng)[0])
            except DataError as err:
                if strict:
                    raise
                skipped.append(str(err))
                continue
            kept.append(i)
        empty = np.zeros((0, num_points, channels), dtype=np.float32)
        return (np.stack(clouds) if clouds else empty), kept

    return decode


def _check_counts(num_points: int, channels: int, sample_points: int | None) -> None:
    if num_points < 1 or channels < 3:
        raise ConfigError(f"data.num_points must be >= 1 and data.channels >= 3; got {num_points}, {channels}")
    if sample_points is not None and sample_points < 0:
        raise ConfigError(f"data.sample_points must be >= 0 (0: num_points); got {sample_points}")


def cloud_splits(parts: dict[str, tuple[np.ndarray, np.ndarray]], names: Sequence[str], num_points: int,
                 seed: int, source: str) -> Splits:
    """``Splits`` of :class:`PointCloudDataset` from ``{"train"|"val"|"test": (points [S, Q, C],
    labels [S])}``: ``num_points`` per item, the training split drawing a fresh subset of
    the ``Q`` stored points each epoch (from ``seed``); ``source`` goes to ``extras``."""
    sets = {s: PointCloudDataset(torch.from_numpy(np.ascontiguousarray(parts[s][0])),
                                 torch.from_numpy(np.asarray(parts[s][1])), num_points,
                                 resample_per_epoch=(s == "train"), seed=seed)
            for s in SPLIT_NAMES}
    return Splits(sets["train"], sets["val"], sets["test"], list(names), {"source": source})


def _concat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p for p, _ in parts]), np.concatenate([y for _, y in parts])


def _read_npz(path: Path, num_points: int, channels: int, seed: int) -> tuple[dict, list[str]]:
    """One ``.npz`` -> ``({split: (points, labels)}, names)``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable .npz ({err})") from None
    if "points" not in arrays or "labels" not in arrays:
        raise DataError(f"{path}: expected arrays 'points' [S, P, 3+] and 'labels' [S]; found {sorted(arrays)}")
    points, labels = arrays["points"], arrays["labels"]
    if points.ndim != 3 or points.shape[2] < channels or labels.shape != points.shape[:1]:
        raise DataError(f"{path}: expected points [S, P, {channels}+] and labels [S]; got "
                        f"{list(points.shape)} and {list(labels.shape)}")
    if labels.dtype.kind in "US":
        names = sorted(set(labels.tolist()))
        labels = np.array([names.index(x) for x in labels.tolist()], dtype=np.int64)
    else:
        labels = labels.astype(np.int64)
        k = int(labels.max()) + 1 if labels.size else 0
        names = [str(n) for n in arrays["label_names"]] if "label_names" in arrays else [str(i) for i in range(k)]
        if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
            raise DataError(f"{path}: labels must be 0..{len(names) - 1}; got {labels.min()}..{labels.max()}")
    rng = np.random.default_rng(seed)
    clouds, keep = [], []
    for i, cloud in enumerate(points[:, :, :channels].astype(np.float64)):
        if not np.isfinite(cloud).all() or np.ptp(cloud[:, :3], axis=0).max() == 0:
            warnings.warn(f"{path}: skipping cloud {i}: " + ("NaN or infinite coordinates"
                          if not np.isfinite(cloud).all() else "every point is the same"), stacklevel=3)
            continue
        clouds.append(normalize(resample(cloud, num_points, rng)))
        keep.append(i)
    if not clouds:
        raise DataError(f"{path}: no usable clouds")
    if points.shape[1] < num_points:
        warnings.warn(f"{path}: clouds have {points.shape[1]} points, fewer than {num_points}; "
                      "drew the rest again with replacement", stacklevel=3)
    cloud_arr, labels = np.stack(clouds).astype(np.float32), labels[keep]
    if "split" not in arrays:
        return {"train": (cloud_arr, labels)}, names
    split = np.array([str(s).lower() for s in arrays["split"]])[keep]
    bad = sorted(set(split) - set(SPLIT_NAMES))
    if bad:
        raise DataError(f"{path}: 'split' values must be train, val or test; got {bad}")
    return {s: (cloud_arr[split == s], labels[split == s]) for s in SPLIT_NAMES if (split == s).any()}, names


def _list_files(root: Path) -> tuple[dict[str, list[tuple[Path, str]]], list[str]]:
    """``{split: [(file, class name)]}`` and the sorted class names of a folder dataset."""
    split_dirs = find_split_dirs(root)
    files: dict[str, list[tuple[Path, str]]] = {}
    if split_dirs is not None:  # train/<class>/...
        for split, folder in split_dirs.items():
            files[split] = [(f, c.name) for c in _class_dirs(folder) for f in _cloud_files(c)]
    else:
        classes = _class_dirs(root)
        modelnet = any(find_split_dirs(c) for c in classes)
        for c in classes:
            if modelnet:  # <class>/train/..., <class>/test/...
                for split, folder in (find_split_dirs(c) or {}).items():
                    files.setdefault(split, []).extend((f, c.name) for f in _cloud_files(folder))
            else:
                files.setdefault("train", []).extend((f, c.name) for f in _cloud_files(c))
    files = {s: v for s, v in files.items() if v}
    if not files:
        raise DataError(f"{root}: no point clouds found; expected {_FORMAT_HELP}")
    names = sorted({name for entries in files.values() for _, name in entries})
    return files, names


def _class_dirs(folder: Path) -> list[Path]:
    """Class subfolders (not hidden ones, nor the ``__MACOSX`` folder some zip archives carry)."""
    return sorted(c for c in folder.iterdir()
                  if c.is_dir() and not c.name.startswith(".") and c.name != "__MACOSX")


def _cloud_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.rglob("*") if f.suffix.lower() in CLOUD_EXTENSIONS and f.is_file()
                  and not f.name.startswith("."))


def _read_folder_cached(root: Path, num_points: int, channels: int, strict: bool, seed: int,
                        cache_dir: str | Path | None) -> tuple[dict, list[str]]:
    """The folder's clouds, from the cache when the same files and settings were read before."""
    files, names = _list_files(root)
    h = hashlib.sha256(repr((_CACHE_VERSION, str(root.resolve()), num_points, channels, seed, strict)).encode())
    for split in sorted(files):
        for f, c in files[split]:
            st = f.stat()
            h.update(f"{split}/{c}/{f.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    folder = Path(cache_dir) if cache_dir else cache.cache_dir("pointcloud")
    cache_file = folder / f"{root.name or 'data'}-{h.hexdigest()[:16]}.npz"
    parts = None
    if cache_file.is_file():
        try:
            with np.load(cache_file, allow_pickle=False) as z:
                parts = {s: (z[f"{s}_points"], z[f"{s}_labels"]) for s in SPLIT_NAMES if f"{s}_points" in z.files}
                names, messages = [str(n) for n in z["label_names"]], [str(m) for m in z["messages"]]
        except (OSError, ValueError, KeyError):
            parts = None  # a damaged cache entry is rebuilt
    if parts is None:
        parts, messages = _read_files(root, files, names, num_points, channels, strict, seed)
        _write_cache(cache_file, parts, names, messages)
    for message in messages:  # said again on a cache hit: the same files are still skipped
        warnings.warn(message, stacklevel=3)
    return parts, names


def _read_files(root: Path, files: dict, names: list[str], num_points: int, channels: int, strict: bool,
                seed: int) -> tuple[dict, list[str]]:
    """Read every file -> ``({split: (points, labels)}, warning messages)``."""
    index = {n: i for i, n in enumerate(names)}
    parts, skipped, counts = {}, [], []
    for split, entries in files.items():
        clouds, labels = [], []
        for f, c in entries:
            rel = str(f.relative_to(root))
            rng = np.random.default_rng(_mix(seed, zlib.crc32(rel.encode())))  # per file: stable when files change
            try:
                cloud, count = read_cloud(f, num_points, channels, rng)
            except DataError as err:
                if strict:
                    raise
                skipped.append(str(err))
                continue
            clouds.append(cloud)
            labels.append(index[c])
            counts.append(count)
        if clouds:
            parts[split] = (np.stack(clouds), np.array(labels, dtype=np.int64))
    messages = [f"skipping {m}" for m in skipped[:20]]
    if len(skipped) > 20:
        messages.append(f"{root}: skipped {len(skipped)} files in all (first 20 named above)")
    counts_arr = np.array(counts)
    resampled = counts_arr != num_points
    if resampled.any():
        short = int((counts_arr < num_points).sum())
        messages.append(f"{root}: resampled {int(resampled.sum())} clouds of {counts_arr[resampled].min()}.."
                        f"{counts_arr[resampled].max()} points to {num_points}"
                        + (f" ({short} with fewer: the rest drawn again with replacement)" if short else ""))
    if not parts:
        raise DataError(f"{root}: none of the files could be read (first: {skipped[0] if skipped else '-'})")
    return parts, messages


def _write_cache(cache_file: Path, parts: dict, names: list[str], messages: list[str]) -> None:
    """Write the cache atomically (temp file, rename); an unwritable cache is only a warning."""
    arrays = {"label_names": np.array(names), "messages": np.array(messages, dtype=str)}
    for s, (points, labels) in parts.items():
        arrays[f"{s}_points"], arrays[f"{s}_labels"] = points, labels
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_file.parent, suffix=".tmp", delete=False) as tmp:
            np.savez(tmp, **arrays)
        os.replace(tmp.name, cache_file)
    except OSError as err:
        warnings.warn(f"could not cache point clouds in {cache_file.parent} ({err.strerror}); "
                      "set data.cache_dir to a writable folder to skip re-sampling next time", stacklevel=4)
