"""The CPU kernels of :mod:`convkit.models.rocket`: MiniRocket's convolution and pooling fused
per series, compiled by Numba (a dependency of convkit's through stumpy) and cached on disk,
so the first use in a process costs a fraction of a second after the first ever (which
compiles).

Why not torch on the CPU: a ROCKET transform compares every convolution output with
several biases (about nine thousand comparisons per step of a series for MiniRocket's
10,000 features); torch runs each comparison as a separate pass over memory, and
``torch.compile`` starts in seconds per process, more than the whole fit of a small
problem. These kernels do one pass per kernel and bias inside the cache, as the reference
code does, in the very arithmetic of the torch code path (``rocket.minirocket_outputs``,
which CUDA tensors take), so both give the same features bit for bit.

Arrays: ``X [N, C, T]`` float32 (series after their ``lengths`` are ignored), ``lengths
[N]`` int64, ``dilations``/``per_dilation`` ``[D]`` int64, ``biases [F]`` float32 in the
reference order (dilation, kernel, bias), ``combos [D * 84, 9]`` int64 (each kernel's
channels, in the order they are summed), ``sizes [D * 84]`` int64, ``indices [84, 3]``
int64, ``pairs [36, 2]`` int64 (the pairs of first two taps of weight 2) and ``pair_of [84]``
(each kernel's pair), ``padded [D * 84]`` bool (pool the whole output; else the part computed without
padding when the series is long enough). Outputs are written into ``out``.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _alpha_gamma(x: np.ndarray, d: int, shift: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """MiniRocket's ``C_alpha [C, L]`` (the sum of -x at the nine taps, in the reference's
    order: the centre, the four left taps from the farthest, the four right taps from the
    nearest) and ``C_gamma [9, C, L]`` (3x at each tap, zero beyond the series) for
    ``x [C, L]``; ``shift`` moves the four left taps one step right (MultiRocket's
    reference transform of the differenced series does)."""
    channels, length = x.shape
    alpha = np.empty((channels, length), dtype=np.float32)
    gamma = np.zeros((9, channels, length), dtype=np.float32)
    for c in range(channels):
        for t in range(length):
            v = x[c, t]
            alpha[c, t] = -v
            gamma[4, c, t] = (v + v) + v
    for tap in range(9):
        if tap == 4:
            continue
        offset = (tap - 4) * d + (shift if tap < 4 else 0)  # output t reads input t + offset
        lo = max(0, -offset)
        hi = min(length, length - offset)
        for c in range(channels):
            for t in range(lo, hi):
                v = x[c, t + offset]
                alpha[c, t] = alpha[c, t] + (-v)
                gamma[tap, c, t] = (v + v) + v
    return alpha, gamma


@numba.njit(cache=True, nogil=True)
def _pair_sums(alpha: np.ndarray, gamma: np.ndarray, pairs: np.ndarray) -> np.ndarray:  # pragma: no cover
    """``[P, C, L]``: ``(alpha + gamma[i0]) + gamma[i1]`` for each pair ``(i0, i1)`` of
    ``pairs [P, 2]``, the part of a kernel's output its first two taps of weight 2 share
    with other kernels (each kernel then adds its third)."""
    channels, length = alpha.shape
    out = np.empty((pairs.shape[0], channels, length), dtype=np.float32)
    for p in range(pairs.shape[0]):
        i0, i1 = pairs[p, 0], pairs[p, 1]
        for c in range(channels):
            for t in range(length):
                out[p, c, t] = (alpha[c, t] + gamma[i0, c, t]) + gamma[i1, c, t]
    return out


@numba.njit(cache=True, nogil=True)
def _kernel_output(shared: np.ndarray, gamma: np.ndarray, i2: int, channels: np.ndarray, size: int,
                   out: np.ndarray) -> None:  # pragma: no cover (compiled)
    """One kernel's output over the channels of its combination, summed in their order,
    each channel's as the reference transform adds it: ``((alpha + g0) + g1) + g2`` with
    ``shared [C, L]`` the kernel's pair sum (:func:`_pair_sums`)."""
    length = out.shape[0]
    for m in range(size):
        ch = channels[m]
        s, g2 = shared[ch], gamma[i2, ch]
        if m == 0:
            for t in range(length):
                out[t] = s[t] + g2[t]
        else:
            for t in range(length):
                out[t] = out[t] + (s[t] + g2[t])


@numba.njit(cache=True, nogil=True, fastmath=True)
def _ppv(c: np.ndarray, biases: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover (compiled)
    """``out[f]``: the proportion of the values of ``c`` above ``biases[f]``. The count
    is a float32 sum of ones (exact below 2**24 steps), which vectorises."""
    n = c.shape[0]
    for f in range(biases.shape[0]):
        b = biases[f]
        count = np.float32(0)
        for t in range(n):
            count += np.float32(1) if c[t] > b else np.float32(0)
        out[f] = count / n


@numba.njit(cache=True, nogil=True)
def minirocket_transform(X: np.ndarray, lengths: np.ndarray, dilations: np.ndarray, per_dilation: np.ndarray,
                         biases: np.ndarray, combos: np.ndarray, sizes: np.ndarray, indices: np.ndarray,
                         pairs: np.ndarray, pair_of: np.ndarray, padded: np.ndarray,
                         out: np.ndarray) -> None:  # pragma: no cover (compiled)
    """MiniRocket's PPV features ``out [N, F]``."""
    kernels = indices.shape[0]
    buffer = np.empty(X.shape[2], dtype=np.float32)
    for i in range(X.shape[0]):
        length = lengths[i]
        x = X[i, :, :length]
        feature = 0
        for j in range(dilations.shape[0]):
            d = dilations[j]
            alpha, gamma = _alpha_gamma(x, d, 0)
            shared = _pair_sums(alpha, gamma, pairs)
            nf = per_dilation[j]
            pad = 4 * d
            for k in range(kernels):
                combination = j * kernels + k
                c = buffer[:length]
                _kernel_output(shared[pair_of[k]], gamma, indices[k, 2], combos[combination], sizes[combination], c)
                lo, hi = 0, length
                if not padded[combination] and length - 2 * pad >= 1:
                    lo, hi = pad, length - pad
                _ppv(c[lo:hi], biases[feature:feature + nf], out[i, feature:feature + nf])
                feature += nf


@numba.njit(cache=True, nogil=True)
def multirocket_transform(X: np.ndarray, lengths: np.ndarray, dilations: np.ndarray, per_dilation: np.ndarray,
                          biases: np.ndarray, combos: np.ndarray, sizes: np.ndarray, indices: np.ndarray,
                          pairs: np.ndarray, pair_of: np.ndarray, padded: np.ndarray, shift: int,
                          out: np.ndarray) -> None:  # pragma: no cover (compiled)
    """MultiRocket's four poolings of one representation, ``out [N, 4, F]``: PPV, the
    longest stretch of positive values (LSPV), the mean of positive values (MPV, of
    ``C + bias`` as the reference computes it; 0 when none) and the mean of their indices
    (MIPV, -1 when none)."""
    kernels = indices.shape[0]
    buffer = np.empty(X.shape[2], dtype=np.float32)
    for i in range(X.shape[0]):
        length = lengths[i]
        x = X[i, :, :length]
        feature = 0
        for j in range(dilations.shape[0]):
            d = dilations[j]
            alpha, gamma = _alpha_gamma(x, d, shift)
            shared = _pair_sums(alpha, gamma, pairs)
            nf = per_dilation[j]
            pad = 4 * d
            for k in range(kernels):
                combination = j * kernels + k
                c = buffer[:length]
                _kernel_output(shared[pair_of[k]], gamma, indices[k, 2], combos[combination], sizes[combination], c)
                lo, hi = 0, length
                if not padded[combination] and length - 2 * pad >= 1:
                    lo, hi = pad, length - pad
                for f in range(nf):
                    bias = biases[feature + f]
                    ppv = 0
                    last = 0
                    stretch_max = 0
                    index_sum = 0
                    total = 0.0
                    for t in range(hi - lo):
                        value = c[lo + t]
                        if value > bias:
                            ppv += 1
                            index_sum += t
                            total += value + bias
                        elif value < bias:
                            if t - last > stretch_max:
                                stretch_max = t - last
                            last = t
                    if hi - lo - 1 - last > stretch_max:
                        stretch_max = hi - lo - 1 - last
                    out[i, 0, feature + f] = ppv / (hi - lo)
                    out[i, 1, feature + f] = stretch_max
                    out[i, 2, feature + f] = total / ppv if ppv > 0 else 0.0
                    out[i, 3, feature + f] = index_sum / ppv if ppv > 0 else -1.0
                feature += nf
