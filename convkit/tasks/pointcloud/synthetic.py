"""Generated solids: the point-cloud task's embedded, offline default data.

Eight solids (sphere, ellipsoid, cube, cylinder, cone, torus, pyramid, capsule), each a
random instance (proportions drawn per cloud) sampled on its surface, in a random pose
(upright or uniform), at a random scale and position, with non-uniform density and noise,
then normalised as every cloud is (``data.normalize``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from convkit.data.splits import DEFAULT_FRACTIONS, SPLIT_NAMES, Splits, split_indices
from convkit.errors import ConfigError
from convkit.tasks.pointcloud.data import cloud_splits, normalize, sample_surface

SOLID_CLASSES = ("sphere", "ellipsoid", "cube", "cylinder", "cone", "torus", "pyramid", "capsule")
"""The generated solids, one class each."""

Pose = Literal["upright", "so3"]
"""Random poses of the generated solids: ``upright`` (any turn about the up axis z and a
tilt of up to 15 degrees, as scanned or modelled objects stand) or ``so3`` (uniform)."""
POSES: tuple[str, ...] = get_args(Pose)


def _revolve(profile: np.ndarray, segments: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """A closed surface of revolution about z from a profile ``[K, 2]`` of (radius, z)
    running from the bottom axis point to the top one -> ``(vertices, faces)``."""
    angles = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    r, z = profile[:, :1], profile[:, 1:]
    vertices = np.stack([r * np.cos(angles), r * np.sin(angles), np.broadcast_to(z, r.shape[:1] + angles.shape)], -1)
    k = len(profile)
    ring = lambda i, j: i * segments + j % segments  # noqa: E731
    faces = [(ring(i, j), ring(i + 1, j), ring(i + 1, j + 1)) for i in range(k - 1) for j in range(segments)]
    faces += [(ring(i, j), ring(i + 1, j + 1), ring(i, j + 1)) for i in range(k - 1) for j in range(segments)]
    return vertices.reshape(-1, 3), np.array(faces, dtype=np.int64)


def _arc(t0: float, t1: float, radius: float, z0: float, steps: int = 8) -> np.ndarray:
    t = np.linspace(t0, t1, steps)
    return np.stack([radius * np.sin(t), z0 - radius * np.cos(t)], 1)


def _box() -> tuple[np.ndarray, np.ndarray]:
    v = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    return v, np.array([(a, b, c) for a, b, c, d in quads] + [(a, c, d) for a, b, c, d in quads], dtype=np.int64)


def solid_mesh(name: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random instance of a generated solid (proportions drawn from ``rng``) ->
    ``(vertices [V, 3], faces [F, 3])``, upright along z, before pose and scale."""
    u = rng.uniform
    if name == "sphere":
        return _revolve(_arc(0, np.pi, 1.0, 0.0, 12))
    if name == "ellipsoid":  # elongated well past what anisotropic augmentation does to a sphere
        v, f = _revolve(_arc(0, np.pi, 1.0, 0.0, 12))
        return v * np.array([u(0.3, 0.45), u(0.3, 0.45), 1.0]), f
    if name == "cylinder":
        r, h = 0.5, u(0.4, 1.0)
        return _revolve(np.array([[0, -h], [r, -h], [r, h], [0, h]]))
    if name == "cone":
        r, h = 0.5, u(0.4, 1.0)
        return _revolve(np.array([[0, -h], [r, -h], [0, h]]))
    if name == "capsule":
        r, h = 0.5, u(0.3, 0.8)
        return _revolve(np.concatenate([_arc(0, np.pi / 2, r, -h), _arc(np.pi / 2, np.pi, r, h)]))
    if name == "torus":
        r = u(0.25, 0.45)
        t = np.linspace(-np.pi, np.pi, 17)
        v, f = _revolve(np.stack([1 + r * np.cos(t), r * np.sin(t)], 1))
        return v, f
    if name == "cube":
        return _box()
    if name == "pyramid":
        h = u(0.7, 1.5)
        v = np.array([[-1, -1, -h / 2], [1, -1, -h / 2], [1, 1, -h / 2], [-1, 1, -h / 2], [0, 0, h / 2]], dtype=np.float64)
        f = np.array([[0, 2, 1], [0, 3, 2], [0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]], dtype=np.int64)
        return v, f
    raise ConfigError(f"unknown solid {name!r}; valid: {', '.join(SOLID_CLASSES)}")


def random_rotation(rng: np.random.Generator, pose: Pose = "so3") -> np.ndarray:
    """A random rotation matrix ``[3, 3]``: uniform on SO(3) (QR of a Gaussian matrix,
    signs fixed), or for ``pose="upright"`` a uniform turn about z after a tilt of up to
    15 degrees about a random horizontal axis."""
    if pose == "so3":
        q, r = np.linalg.qr(rng.standard_normal((3, 3)))
        q = q * np.sign(np.diag(r))
        if np.linalg.det(q) < 0:
            q[:, 0] = -q[:, 0]
        return q
    if pose != "upright":
        raise ConfigError(f"pose must be one of {', '.join(POSES)}; got {pose!r}")
    axis_angle, tilt, yaw = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(0, 15)), rng.uniform(0, 2 * np.pi)
    k = np.array([np.cos(axis_angle), np.sin(axis_angle), 0.0])
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    tilt_m = np.eye(3) + np.sin(tilt) * cross + (1 - np.cos(tilt)) * cross @ cross  # Rodrigues
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ tilt_m


def make_solid_cloud(name: str, num_points: int, rng: np.random.Generator, pose: Pose = "upright") -> np.ndarray:
    """One generated cloud ``[num_points, 3]`` (not normalised): a random instance of the
    solid, in a random pose (see :data:`Pose`), at a random scale (0.5 to 2) and
    position, with non-uniform density (points thinned by ``exp(s * <p, d>)`` for a
    random direction ``d`` and strength ``s`` up to 3) and Gaussian noise (sigma up to
    2% of the size)."""
    vertices, faces = solid_mesh(name, rng)
    candidates = sample_surface(vertices, faces, 4 * num_points, rng)
    candidates /= np.linalg.norm(candidates, axis=1).max()
    direction = rng.standard_normal(3)
    weight = np.exp(rng.uniform(0, 3) * candidates @ (direction / np.linalg.norm(direction)))
    points = candidates[rng.choice(len(candidates), num_points, replace=False, p=weight / weight.sum())]
    points = points + rng.normal(0, rng.uniform(0, 0.02), points.shape)
    return (points @ random_rotation(rng, pose).T) * rng.uniform(0.5, 2.0) + rng.uniform(-1, 1, 3)


def make_solids(n_per_class: int, num_points: int, seed: int = 0, classes: Sequence[str] = SOLID_CLASSES,
                pose: Pose = "upright") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Generated clouds of every solid -> ``(points [S, num_points, 3] float32
    normalised, labels [S] int64, class names)``, ``S = n_per_class * len(classes)``;
    the same seed always gives the same clouds."""
    if n_per_class < 1 or num_points < 8:
        raise ConfigError(f"need n_per_class >= 1 and num_points >= 8; got {n_per_class}, {num_points}")
    rng = np.random.default_rng(seed)
    points, labels = [], []
    for label, name in enumerate(classes):
        for _ in range(n_per_class):
            points.append(normalize(make_solid_cloud(name, num_points, rng, pose)))
            labels.append(label)
    return np.stack(points).astype(np.float32), np.array(labels, dtype=np.int64), list(classes)


def load_solids_dataset(n_per_class: int = 100, num_points: int = 256, seed: int = 0,
                        sample_points: int | None = None, pose: Pose = "upright") -> Splits:
    """The offline default: generated solids (:func:`make_solids`) in a seeded stratified
    80/10/10 split. ``sample_points`` (>= ``num_points``) stored per cloud; training then
    draws a fresh ``num_points`` subset each epoch."""
    stored = max(num_points, sample_points or num_points)
    points, labels, names = make_solids(n_per_class, stored, seed, pose=pose)
    parts = dict(zip(SPLIT_NAMES, split_indices(labels, DEFAULT_FRACTIONS, seed)))
    return cloud_splits({s: (points[i], labels[i]) for s, i in parts.items()}, names, num_points, seed,
                        "generated solids")
