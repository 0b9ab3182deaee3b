"""Generated motion videos: the video task's embedded, offline default data.

Each video shows one striped shape carrying an off-centre black or white dot on a
textured background; its class is the MOTION
only: moving right, left, down or up, rotating clockwise or counter-clockwise, growing,
shrinking, or still. Shape (ellipse, bar, triangle, cross), colours, size, start pose,
speed, background texture and pixel noise are random and drawn the same way for every
class; opposite motions draw their end points from one distribution and run them in
opposite orders, so the set of frames of a "left" video is distributed like that of a
"right" one. No single frame tells the class; the order of the frames does.

Frames are rendered at twice the resolution and average-pooled (anti-aliased, so
sub-pixel motion shows).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convkit.data.splits import DEFAULT_FRACTIONS, Splits, split_indices
from convkit.tasks.video.data import DecodedVideos

MOTIONS = ("right", "left", "down", "up", "rotate_cw", "rotate_ccw", "grow", "shrink", "still")
"""The nine classes, in label order."""

SHAPES = ("ellipse", "bar", "triangle", "cross")

MARK = (0.62, -0.2, 0.3)
"""The off-centre mark ``(u, v, radius)`` in object coordinates (unit radius): a black or
white dot on every shape, so that rotation moves a small high-contrast spot along an arc
(the shapes themselves are nearly symmetric under some turns)."""


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Membership of object coordinates ``(u, v)`` (unit radius) in ``shape``."""
    if shape == "ellipse":
        return u ** 2 + (v / 0.55) ** 2 <= 1.0
    if shape == "bar":
        return (np.abs(u) <= 1.0) & (np.abs(v) <= 0.45)
    if shape == "triangle":
        return (v >= -0.5) & (v <= 1.0 - 1.732 * np.abs(u))
    return ((np.abs(u) <= 1.0) & (np.abs(v) <= 0.3)) | ((np.abs(u) <= 0.3) & (np.abs(v) <= 1.0))


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random colour texture ``[size, size, 3]`` in [0, 1]: a coarse random grid,
    bilinearly upsampled, plus a faint fine grain."""
    grid = rng.uniform(0.15, 0.85, (5, 5, 3))
    pos = np.linspace(0, 4, size)
    i0 = np.clip(pos.astype(int), 0, 3)
    f = (pos - i0)[:, None]
    rows = grid[i0] * (1 - f)[..., None] + grid[i0 + 1] * f[..., None]          # [size, 5, 3]
    cols = rows[:, i0] * (1 - f.T)[..., None] + rows[:, i0 + 1] * f.T[..., None]  # [size, size, 3]
    return np.clip(cols + rng.normal(0, 0.03, cols.shape), 0, 1)


def _poses(motion: str, rng: np.random.Generator, frames: int, size: float) -> np.ndarray:
    """Per-frame ``(cx, cy, angle, radius)`` ``[frames, 4]`` in pixels/radians."""
    t = np.linspace(0.0, 1.0, frames)
    radius = np.full(frames, rng.uniform(0.2, 0.28) * size)
    angle = np.full(frames, rng.uniform(0, 2 * np.pi))
    margin = 0.6 * radius[0]  # the shape may touch the border, never leave the frame entirely
    cx = np.full(frames, rng.uniform(margin, size - margin))
    cy = np.full(frames, rng.uniform(margin, size - margin))
    if motion in ("right", "left", "down", "up"):
        travel = rng.uniform(0.3, 0.5) * size
        a = rng.uniform(margin, size - margin - travel)
        path = a + travel * (t if motion in ("right", "down") else 1 - t)
        if motion in ("right", "left"):
            cx = path
        else:
            cy = path
    elif motion in ("rotate_cw", "rotate_ccw"):
        turn = rng.uniform(1.0, 1.5) * np.pi * (1 if motion == "rotate_cw" else -1)
        angle = angle + turn * t
    elif motion in ("grow", "shrink"):
        small, large = rng.uniform(0.09, 0.13) * size, rng.uniform(0.24, 0.32) * size
        radius = small + (large - small) * (t if motion == "grow" else 1 - t)
        cx = np.full(frames, rng.uniform(large, size - large))
        cy = np.full(frames, rng.uniform(large, size - large))
    return np.stack([cx, cy, angle, radius], axis=1)


def render_motion_clip(motion: str, rng: np.random.Generator, frames: int = 16, size: int = 32,
                       noise: float = 0.015) -> np.ndarray:
    """One video of ``motion`` (see ``MOTIONS``) as uint8 ``[frames, size, size, 3]``."""
    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r}; valid: {', '.join(MOTIONS)}")
    shape = SHAPES[rng.integers(len(SHAPES))]
    colour = rng.uniform(0, 1, 3)
    stripe = colour * rng.uniform(0.2, 0.5)
    mark_colour = np.where(colour.mean() > 0.5, 0.0, 1.0) * np.ones(3)        # black on light, white on dark
    period = rng.uniform(0.45, 0.7)
    background = _background(rng, size)
    poses = _poses(motion, rng, frames, float(size))
    hi = 2 * size  # supersampled grid, pixel centres in output-pixel units, every frame at once
    coords = ((np.arange(hi) + 0.5) / 2.0).astype(np.float32)
    cx, cy, angle, radius = (poses[:, i, None, None].astype(np.float32) for i in range(4))
    dx, dy = coords[None, None, :] - cx, coords[None, :, None] - cy           # [F, 1, hi], [F, hi, 1]
    c, s = np.cos(angle), np.sin(angle)
    u, v = (c * dx + s * dy) / radius, (-s * dx + c * dy) / radius           # [F, hi, hi]
    mark = (u - MARK[0]) ** 2 + (v - MARK[1]) ** 2 <= MARK[2] ** 2            # the off-centre mark
    mask = _inside(shape, u, v) & ~mark
    lit = mask & (np.floor(u / period) % 2 == 0)                               # the bright stripes

    def pooled(m: np.ndarray) -> np.ndarray:  # share of each output pixel's 2x2 samples, [F, size, size, 1]
        return m.reshape(frames, size, 2, size, 2).mean((2, 4), dtype=np.float32)[..., None]

    cover, bright, dot = pooled(mask), pooled(lit), pooled(mark)
    out = background[None] * (1 - cover - dot) + bright * colour + (cover - bright) * stripe + dot * mark_colour
    out += rng.normal(0, noise, out.shape)
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def make_motion_clips(n_per_class: int = 160, frames: int = 20, size: int = 32, seed: int = 0,
                      motions: Sequence[str] = MOTIONS) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``n_per_class`` videos of every motion in ``motions`` (default all nine): ``(videos
    uint8 [N, frames, size, size, 3], labels int64 [N] indexing ``motions``, names)``,
    class-interleaved; the same seed gives the same videos."""
    unknown = [m for m in motions if m not in MOTIONS]
    if unknown or len(set(motions)) < 2 or len(set(motions)) != len(motions):
        raise ValueError(f"motions must be at least two distinct of {', '.join(MOTIONS)}; got {list(motions)}")
    rng = np.random.default_rng(seed)
    videos = np.empty((n_per_class * len(motions), frames, size, size, 3), dtype=np.uint8)
    labels = np.empty(len(videos), dtype=np.int64)
    for i in range(len(videos)):
        labels[i] = i % len(motions)
        videos[i] = render_motion_clip(motions[labels[i]], rng, frames, size)
    return videos, labels, list(motions)


def load_motion_dataset(n_per_class: int = 160, frames: int = 20, size: int = 32, seed: int = 0,
                        motions: Sequence[str] = MOTIONS) -> Splits:
    """The embedded default: generated motion videos (:func:`make_motion_clips`; ``motions``
    the classes, default all nine) in a seeded stratified 80/10/10 split of ``DecodedVideos``."""
    videos, labels, names = make_motion_clips(n_per_class, frames, size, seed, motions)
    parts = split_indices(labels, DEFAULT_FRACTIONS, seed)
    all_videos = DecodedVideos(list(videos), labels, [f"generated:{i}" for i in range(len(labels))])
    train, val, test = (all_videos.subset(idx) for idx in parts)
    return Splits(train, val, test, names, {"source": "generated motion clips"})
