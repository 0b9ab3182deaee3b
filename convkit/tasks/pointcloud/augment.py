"""Point-cloud augmentation on the batch, drawing only from the global torch RNG (which
checkpoints save, so a resumed run is exact). Clouds are ``[N, C, P]`` with xyz in
channels 0-2; with 6 channels, 3-5 are taken as normals and turn with a rotation.

Defaults follow DGCNN's recipe (anisotropic scale in [2/3, 3/2] and translation in
[-0.2, 0.2] per axis) plus PointNet's clipped jitter; rotation (about the up axis, as the
ModelNet recipes do, or uniform SO(3)) and PointNet++'s random point dropout are options,
off by default so that a data set whose classes differ by orientation keeps its frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor

from convkit.errors import ConfigError

Rotation = Literal["none", "up", "so3"]
"""Random rotation: none, a uniform turn about the up axis, or uniform on SO(3)."""
ROTATIONS: tuple[str, ...] = get_args(Rotation)
Axis = Literal["x", "y", "z"]
"""A coordinate axis (the up axis of ``rotate="up"``)."""
AXES: dict[str, int] = {axis: i for i, axis in enumerate(get_args(Axis))}


@dataclass(frozen=True)
class PointAugment:
    """Batch augmentation ``[N, C, P] -> [N, C, P]`` (see the module docstring).

    ``scale``: per-axis factors drawn uniformly in ``(low, high)`` ((1, 1): off);
    ``translate``: per-axis shift in ``[-t, t]``; ``jitter``: Gaussian sigma per
    coordinate, clipped at ``jitter_clip``; ``rotate``: "none" | "up" (uniform turn about
    ``up_axis``) | "so3"; ``point_dropout``: drop up to this fraction of each cloud's
    points (the drop ratio is drawn per cloud; dropped points become copies of the first
    point, so shapes stay fixed); ``shuffle``: permute the point order of the batch.
    """

    scale: tuple[float, float] = (2 / 3, 3 / 2)
    translate: float = 0.2
    jitter: float = 0.01
    jitter_clip: float = 0.05
    rotate: Rotation = "none"
    up_axis: Axis = "z"
    point_dropout: float = 0.0
    shuffle: bool = True

    def __post_init__(self) -> None:
        if self.rotate not in ROTATIONS:
            raise ConfigError(f"task.rotate must be one of {', '.join(ROTATIONS)}; got {self.rotate!r}")
        if self.up_axis not in AXES:
            raise ConfigError(f"task.up_axis must be x, y or z; got {self.up_axis!r}")
        low, high = self.scale
        if not 0 < low <= high:
            raise ConfigError(f"task.scale_low/scale_high must satisfy 0 < low <= high; got {low}, {high}")
        if self.translate < 0 or self.jitter < 0 or self.jitter_clip < 0:
            raise ConfigError("task.translate, task.jitter and task.jitter_clip must be >= 0")
        if not 0 <= self.point_dropout < 1:
            raise ConfigError(f"task.point_dropout must be in [0, 1); got {self.point_dropout}")

    def __call__(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        points, labels = batch
        return self.apply(points), labels

    def apply(self, points: Tensor) -> Tensor:
        """The augmented clouds ``[N, C, P]`` (a new tensor)."""
        n, c, p = points.shape
        dev, dt = points.device, points.dtype
        x = points.clone()
        if self.rotate != "none":
            r = (random_up_rotation(n, AXES[self.up_axis], dev, dt) if self.rotate == "up"
                 else random_so3(n, dev, dt))
            x[:, :3] = r @ x[:, :3]
            if c >= 6:
                x[:, 3:6] = r @ x[:, 3:6]
        low, high = self.scale
        if (low, high) != (1.0, 1.0):
            x[:, :3] = x[:, :3] * torch.empty(n, 3, 1, device=dev, dtype=dt).uniform_(low, high)
        if self.translate > 0:
            x[:, :3] = x[:, :3] + torch.empty(n, 3, 1, device=dev, dtype=dt).uniform_(-self.translate, self.translate)
        if self.jitter > 0:
            noise = torch.randn(n, 3, p, device=dev, dtype=dt) * self.jitter
            x[:, :3] = x[:, :3] + noise.clamp(-self.jitter_clip, self.jitter_clip)
        if self.point_dropout > 0:
            ratio = torch.rand(n, 1, device=dev) * self.point_dropout
            drop = (torch.rand(n, p, device=dev) < ratio).unsqueeze(1)
            x = torch.where(drop, x[:, :, :1].expand_as(x), x)
        if self.shuffle:
            x = x[:, :, torch.randperm(p, device=dev)]
        return x


def random_up_rotation(n: int, axis: int, device: torch.device | None = None,
                       dtype: torch.dtype = torch.float32) -> Tensor:
    """``n`` rotations ``[n, 3, 3]`` by uniform angles about coordinate ``axis`` (0, 1, 2)."""
    theta = torch.rand(n, device=device, dtype=dtype) * (2 * math.pi)
    c, s = torch.cos(theta), torch.sin(theta)
    i, j = [a for a in range(3) if a != axis]
    r = torch.zeros(n, 3, 3, device=device, dtype=dtype)
    r[:, axis, axis] = 1
    r[:, i, i], r[:, i, j], r[:, j, i], r[:, j, j] = c, -s, s, c
    return r


def random_so3(n: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """``n`` rotations ``[n, 3, 3]`` uniform on SO(3) (QR of Gaussian matrices, signs fixed)."""
    q, r = torch.linalg.qr(torch.randn(n, 3, 3, device=device, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=1, dim2=2)).unsqueeze(1)
    flip = torch.det(q) < 0
    q[flip, :, 0] = -q[flip, :, 0]
    return q.to(dtype)
