"""Mixup (Zhang et al., 2018, "mixup: Beyond Empirical Risk Minimization"): a batch
augmentation for classification that trains on convex combinations of pairs of examples
and of their one-hot labels. Works on inputs of any shape (waveforms, spectrograms,
images); the soft targets it returns are what ``torch.nn.functional.cross_entropy`` takes
as class probabilities."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from convkit.errors import ConfigError, ShapeError


def mixup(inputs: Tensor, targets: Tensor, num_classes: int, alpha: float) -> tuple[Tensor, Tensor]:
    """Mix each example of ``inputs [N, ...]`` with a random other one of the batch.

    Every example ``i`` draws ``lam_i ~ Beta(alpha, alpha)`` and a partner ``j`` (a random
    permutation of the batch) and becomes ``lam_i x_i + (1 - lam_i) x_j``, its target
    ``lam_i y_i + (1 - lam_i) y_j`` (one-hot ``y``). Draws come from torch's global RNG.

    Args:
        inputs: a batch ``[N, ...]`` of floating-point inputs.
        targets: class indices ``[N]`` (int64) or class probabilities ``[N, num_classes]``.
        num_classes: the number of classes.
        alpha: the Beta distribution's parameter (> 0; small values mix little).

    Returns:
        ``(mixed inputs [N, ...], soft targets [N, num_classes] float32)``.
    """
    if alpha <= 0:
        raise ConfigError(f"mixup: alpha must be > 0; got {alpha}")
    n = inputs.shape[0]
    soft = targets.float() if targets.dim() == 2 else F.one_hot(targets.long(), num_classes).float()
    if soft.shape != (n, num_classes):
        raise ShapeError(f"mixup: targets must be [N] or [N, {num_classes}] for inputs [N={n}, ...]; "
                         f"got {list(targets.shape)}")
    beta = torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(alpha)))
    lam = beta.sample((n,)).to(inputs.device)
    partner = torch.randperm(n, device=inputs.device)
    shape = [n] + [1] * (inputs.dim() - 1)
    mixed = torch.lerp(inputs[partner], inputs, lam.view(shape).to(inputs.dtype))
    soft = soft.to(inputs.device)
    return mixed, torch.lerp(soft[partner], soft, lam[:, None])
