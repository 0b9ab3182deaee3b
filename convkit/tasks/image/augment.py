"""Image augmentation as batched tensor ops on ``[N, C, H, W]`` (any device).

Random draws use the global torch RNG of the batch's device, which checkpoints save,
so a resumed run sees the same augmentations as an uninterrupted one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def shift_images(images: Tensor, dy: Tensor | int, dx: Tensor | int) -> Tensor:
    """Translate each image by whole pixels, filling the uncovered border with zeros.

    Args:
        images: ``[N, C, H, W]``.
        dy, dx: shifts down/right (negative: up/left), one int for all or int64 ``[N]``.

    Returns:
        ``[N, C, H, W]`` with ``out[n, :, i, j] = images[n, :, i - dy[n], j - dx[n]]``
        (zero where that falls outside the image).
    """
    n, _, h, w = images.shape
    dy = torch.as_tensor(dy, device=images.device).expand(n)
    dx = torch.as_tensor(dx, device=images.device).expand(n)
    m = int(max(dy.abs().max(), dx.abs().max())) if n else 0
    if m == 0:
        return images
    padded = F.pad(images, (m, m, m, m))
    rows = (m - dy)[:, None] + torch.arange(h, device=images.device)  # [N, H]
    cols = (m - dx)[:, None] + torch.arange(w, device=images.device)  # [N, W]
    batch = torch.arange(n, device=images.device)[:, None, None]
    # Advanced indices around a slice: the result is [N, H, W, C]; back to [N, C, H, W].
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def random_shift(images: Tensor, max_shift: int) -> Tensor:
    """Shift each image of ``[N, C, H, W]`` by a uniform random ``dy, dx`` in
    ``[-max_shift, max_shift]`` (zero-padded random crop)."""
    if max_shift <= 0:
        return images
    n = images.shape[0]
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2, n), device=images.device)
    return shift_images(images, dy, dx)


def random_hflip(images: Tensor) -> Tensor:
    """Mirror a random half of ``[N, C, H, W]`` left-right."""
    flip = torch.rand(images.shape[0], device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def augment_batch(batch: tuple[Tensor, Tensor], max_shift: int, flip: bool) -> tuple[Tensor, Tensor]:
    """Augment a training batch ``(images [N, C, H, W], labels [N])``: random shift by up
    to ``max_shift`` pixels, then (if ``flip``) random horizontal flips."""
    images, labels = batch
    images = random_shift(images, max_shift)
    if flip:
        images = random_hflip(images)
    return images, labels
