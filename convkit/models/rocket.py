"""The ROCKET family on convkit's convolutions: fixed-weight dilated 1D kernels whose
outputs are pooled into features, and a linear classifier on them.

* :class:`MiniRocket` (Dempster, Schmidt & Webb 2021): the 84 kernels of length 9 with
  weights -1 and 2 (three 2s), dilations spaced exponentially up to the series' length,
  biases from quantiles of the convolution of random training series, padding on every
  other (kernel, dilation) combination, pooled by the proportion of positive values (PPV).
* :class:`MultiRocket` (Tan et al. 2022): MiniRocket's kernels on the series and on its
  first difference, each pooled four ways (PPV, the longest stretch of positive values,
  the mean of positive values, the mean of their indices).
* :class:`Hydra` (Dempster, Schmidt & Webb 2023): groups of random kernels that compete
  at each step; each group counts which kernel matched best (a soft count of its
  response) and worst (a hard count), on the series and on its first difference.

Each transform maps series ``x [N, C, L]`` (with ``lengths [N]`` when they are zero-padded
to a common ``L``) to features ``[N, F]``. Everything it fits lives in buffers (saved in
``state_dict`` and restored into a fresh module of any size: :class:`FittedModule`), so a
transform fitted on one machine transforms on another, on CPU or CUDA.

**As the reference implementations.** With the same ``seed``, :class:`MiniRocket`,
:class:`MultiRocket` and :class:`Hydra` draw what aeon 1.6 draws (``numpy.random.RandomState``
for the channel combinations and the training series each bias comes from; torch's
generator for Hydra's kernels) and compute aeon's features bit for bit: MiniRocket's
convolution is computed as its paper and code compute it (``C_alpha + C_gamma``) in the
reference's order of additions, so that outputs tie with biases exactly where they do in
the reference (:class:`KernelBank`); MultiRocket's mean of positive values agrees to
float32 rounding (a float64 sum whose order is the reference's compiler's). The reference
code's own quirks are kept, so that the features are the reference's: MultiRocket's
transform of the differenced series reads its left taps one step late and uses the
series' channel combinations. ``tests/models/test_rocket.py`` checks all of it against
aeon when it is installed.

**Two code paths, one result.** On the CPU, MiniRocket's and MultiRocket's convolution and
pooling run fused, one series at a time, in kernels compiled by Numba
(:mod:`convkit.models._rocket_cpu`: torch would make a pass over memory per comparison,
and ``torch.compile`` starts in seconds per process); on other devices (CUDA) in torch ops
over chunks of series (:func:`multirocket_pool`, :meth:`MiniRocket._transform`). Both give
the same features bit for bit (a test). Hydra is ``torch.nn.functional.conv1d`` on every
device.

**Unequal lengths.** A series' features never depend on its padding or on the other
series of its batch: each is computed from the series' own ``lengths[i]`` steps, as if it
were alone (MiniRocket's "variable length" code by its authors, which pads every
combination; aeon refuses unequal lengths). A transform fitted on unequal-length series
(or told ``padding="all"``) pads every combination; one fitted on equal lengths alternates
as the papers do, and a series too short for a combination's unpadded part (shorter than
the span of that dilation) pools that combination over its padded output instead.

**Bad input** is one :class:`~convkit.errors.DataError` line: a NaN or infinite value
within a series, or a series shorter than 9 steps (the kernel's span at the smallest
dilation; 10 for MultiRocket and Hydra, whose first difference needs 9).

**Memory** is bounded: the CPU kernels hold one series' convolutions at a time; the torch
paths take chunks of series of at most ``chunk_elements`` convolution outputs, whatever
``N`` and ``L``.

:class:`RocketClassifier` joins a transform, the papers' standardisation and a linear
head: ridge regression whose regularisation is chosen by exact leave-one-out error among
``alphas`` (scikit-learn's ``RidgeClassifierCV``, as the papers use it) when the training
set is small, or logistic regression trained by gradient steps for large ones (the
papers' rule, :data:`RIDGE_MAX_TRAIN`).
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from convkit.errors import ConfigError, DataError
from convkit.models.base import Classifier
from convkit.models.registry import register_model

KERNEL_LENGTH = 9
"""MiniRocket's (and Hydra's) kernel length: the span of a kernel at dilation d is 8d + 1 steps."""

MINIROCKET_INDICES: tuple[tuple[int, int, int], ...] = tuple(itertools.combinations(range(KERNEL_LENGTH), 3))
"""The 84 kernels: the positions of the three weights 2 among nine (the other six are -1)."""

RIDGE_MAX_TRAIN = 10_000
"""``head="auto"``: ridge regression below this many training series, logistic regression
from it (the MiniRocket authors' advice for 10,000+ training examples)."""

ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 3, 10))
"""The ridge regularisation strengths tried by leave-one-out error (``np.logspace(-3, 3, 10)``, the papers')."""

CHUNK_ELEMENTS = 1 << 22
"""Default bound on the convolution outputs held at once (floats): series x kernels x steps."""

PaddingRule = Literal["auto", "alternate", "all"]

ROCKET_MODELS: tuple[str, ...] = ("minirocket", "multirocket", "hydra", "multirocket_hydra")
"""The zoo's ROCKET classifiers (registered below). They take series as they are: their
papers do not z-normalise the input (MiniRocket's authors: it "does not require" it)."""


def minirocket_weights() -> torch.Tensor:
    """The 84 MiniRocket kernels ``[84, 9]``: -1 everywhere, 2 at :data:`MINIROCKET_INDICES`."""
    w = torch.full((len(MINIROCKET_INDICES), KERNEL_LENGTH), -1.0)
    for k, idx in enumerate(MINIROCKET_INDICES):
        w[k, list(idx)] = 2.0
    return w


def fit_dilations(reference_length: int, num_features: int,
                  max_dilations_per_kernel: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """MiniRocket's dilations for series of ``reference_length`` steps: up to
    ``max_dilations_per_kernel`` values spaced exponentially from 1 to ``(L - 1) / 8`` (so
    the longest span fits), and how many features (biases) each dilation gets so that the
    84 kernels give ``84 * (num_features // 84)`` features. Returns ``(dilations [D],
    features_per_dilation [D])``, int64."""
    per_kernel = num_features // len(MINIROCKET_INDICES)
    true_max = min(per_kernel, max_dilations_per_kernel)
    multiplier = per_kernel / true_max
    max_exponent = np.log2((reference_length - 1) / (KERNEL_LENGTH - 1))
    dilations, counts = np.unique(np.logspace(0, max_exponent, true_max, base=2).astype(np.int32),
                                  return_counts=True)
    counts = (counts * multiplier).astype(np.int32)
    remainder = per_kernel - int(counts.sum())
    i = 0
    while remainder > 0:
        counts[i] += 1
        remainder -= 1
        i = (i + 1) % len(counts)
    return dilations.astype(np.int64), counts.astype(np.int64)


def golden_quantiles(n: int) -> np.ndarray:
    """The low-discrepancy quantiles ``(k * phi) mod 1`` for ``k = 1..n`` (float32) that
    MiniRocket assigns to its biases."""
    return np.array([(k * ((np.sqrt(5) + 1) / 2)) % 1 for k in range(1, n + 1)], dtype=np.float32)


def reference_quantiles(rows: torch.Tensor, lengths: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``q [R, Q]`` quantiles of each row of ``rows [R, T]`` over its first ``lengths[r]``
    values, linearly interpolated between the two closest ranks in float64 as the reference
    code computes them (Numba's ``np.quantile``), returned as float32 ``[R, Q]``."""
    rows = rows.double()
    steps = torch.arange(rows.shape[1], device=rows.device)
    ordered = torch.where(steps < lengths[:, None], rows, torch.inf).sort(dim=1).values
    n = lengths[:, None].double()
    rank = 1 + (n - 1) * ((q.double() * 100.0) / 100.0)
    below = torch.floor(rank)
    m = rank - below
    lo = (below.long() - 1).clamp(min=0)
    hi = torch.minimum(lo + 1, lengths[:, None] - 1)
    lower, upper = ordered.gather(1, lo), ordered.gather(1, hi)
    return (lower * (1 - m) + upper * m).float()


def check_series(x: torch.Tensor, lengths: torch.Tensor | None, name: str, min_length: int = KERNEL_LENGTH) -> None:
    """DataError (one line naming ``name``) for a non-finite value within a series, or a
    series shorter than ``min_length`` steps; ShapeError-like DataError for a bad layout."""
    if x.dim() != 3:
        raise DataError(f"{name} expects series [N, C, L]; got a tensor of shape {list(x.shape)}")
    full = x.shape[2]
    if lengths is not None:
        if lengths.shape != (x.shape[0],):
            raise DataError(f"{name}: lengths must be [N] = [{x.shape[0]}]; got shape {list(lengths.shape)}")
        if len(lengths) and (int(lengths.max()) > full or int(lengths.min()) < 1):
            raise DataError(f"{name}: lengths must lie in [1, {full}]; got {int(lengths.min())}..{int(lengths.max())}")
        valid = torch.arange(full, device=x.device)[None, None, :] < lengths.to(x.device)[:, None, None]
        bad = ~torch.isfinite(x) & valid
    else:
        bad = ~torch.isfinite(x)
    if bool(bad.any()):
        n, c, t = (int(v) for v in bad.nonzero()[0])
        raise DataError(f"{name}: series {n} (0-based), channel {c}, step {t} is {float(x[n, c, t])}; "
                        "interpolate or drop missing values before the transform")
    shortest = int(lengths.min()) if lengths is not None and len(lengths) else full
    if len(x) and shortest < min_length:
        n = int(torch.argmin(lengths)) if lengths is not None else 0
        within = ", in its first difference" if min_length > KERNEL_LENGTH else ""
        raise DataError(f"{name}: series {n} (0-based) has {shortest} steps; it needs at least {min_length} "
                        f"(the span of a length-{KERNEL_LENGTH} kernel at dilation 1{within})")


def _steps_mask(lengths: torch.Tensor, length: int) -> torch.Tensor:
    """``[N, 1, L]`` True at the steps within each series' length."""
    return torch.arange(length, device=lengths.device)[None, None, :] < lengths[:, None, None]


class FittedModule(nn.Module):
    """A module whose fitted state is buffers of data-dependent sizes: loading a
    ``state_dict`` resizes each buffer to the stored one first, so a fresh module restores
    a fitted one of any size (the checkpoint alone rebuilds it)."""

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any, **kwargs: Any) -> None:
        for name, buf in list(self._buffers.items()):
            stored = state_dict.get(prefix + name)
            if buf is not None and stored is not None and stored.shape != buf.shape:
                self._buffers[name] = torch.empty(stored.shape, dtype=buf.dtype, device=buf.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class KernelBank(FittedModule):
    """MiniRocket's kernels at its fitted dilations on one representation of the series
    (the series, or MultiRocket's first difference): the convolution the ROCKET transforms
    share, its padding rule and its biases.

    Buffers: ``dilations``/``features_per_dilation`` ``[D]``; ``combos [D * 84, 9]`` (the
    channels each (dilation, kernel) combination sums, in the reference's order; -1 pads)
    and ``sizes [D * 84]``; ``biases [84 * sum(features_per_dilation)]`` in the reference
    order (dilation, kernel, bias); ``alternate`` (pad every other combination, else all).

    The convolution is computed as MiniRocket's paper and code compute it (``C = C_alpha +
    C_gamma``: the sum of -x at the nine taps plus 3x at the three taps of weight 2) in the
    reference's order of additions, so that outputs tie with biases exactly where they do
    in the reference (series with repeated values tie often): it is the convolution of
    ``x`` with :func:`minirocket_weights` at dilation d, zero-padded by 4d on each side
    (``tests/models/test_rocket.py`` checks it against ``torch.nn.functional.conv1d``). The
    reference adds the three ``C_gamma`` terms in one order when fitting the biases
    (``alpha + ((g0 + g1) + g2)``) and in another when transforming (``((alpha + g0) + g1)
    + g2``; aeon 1.6 compiled by Numba 0.63 on x86-64); both are kept (``order``).
    """

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.register_buffer("dilations", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("features_per_dilation", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("combos", torch.zeros(0, 9, dtype=torch.int64))
        self.register_buffer("sizes", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("biases", torch.zeros(0))
        self.register_buffer("alternate", torch.tensor(True))

    @property
    def num_biases(self) -> int:
        """84 x the biases per kernel (0 before fitting)."""
        return int(self.biases.numel())

    def fit(self, x: torch.Tensor, lengths: torch.Tensor, reference_length: int, num_features: int,
            max_dilations_per_kernel: int, seed: int, alternate: bool,
            rng: np.random.RandomState | None = None) -> "KernelBank":
        """Draw the channel combinations from ``rng`` (None: a stream seeded with ``seed``)
        and fit the biases to ``x [N, C, L]`` (each series over its ``lengths``), drawing as
        the reference code does with ``seed``."""
        dilations, counts = fit_dilations(reference_length, num_features, max_dilations_per_kernel)
        n_kernels, n_dil = len(MINIROCKET_INDICES), len(dilations)
        rng = np.random.RandomState(seed) if rng is None else rng
        channels = x.shape[1]
        sizes = (2 ** rng.uniform(0, np.log2(min(channels, 9) + 1), n_kernels * n_dil)).astype(np.int64)
        table = np.full((n_kernels * n_dil, 9), -1, dtype=np.int64)
        for combination, size in enumerate(sizes):
            table[combination, :size] = rng.choice(channels, size, replace=False)
        self.combos, self.sizes = torch.from_numpy(table).to(x.device), torch.from_numpy(sizes).to(x.device)
        self.dilations = torch.from_numpy(dilations).to(x.device)
        self.features_per_dilation = torch.from_numpy(counts).to(x.device)
        quantiles = torch.from_numpy(golden_quantiles(n_kernels * int(counts.sum()))).to(x.device)
        picks = np.random.RandomState(seed)  # the reference seeds a stream of its own for the picks
        every = torch.arange(n_kernels, device=x.device)
        biases, start = [], 0
        for j in range(n_dil):
            examples = torch.from_numpy(np.array([picks.randint(len(x)) for _ in range(n_kernels)])).to(x.device)
            out = self.outputs(x[examples], j, every, order="fit", diagonal=True)  # kernel k on series examples[k]
            nf = int(counts[j])
            q = quantiles[start:start + n_kernels * nf].view(n_kernels, nf)
            biases.append(reference_quantiles(out, lengths[examples], q).reshape(-1))
            start += n_kernels * nf
        self.biases = torch.cat(biases)
        self.alternate = torch.tensor(bool(alternate), device=x.device)
        return self

    def outputs(self, x: torch.Tensor, j: int, kernels: torch.Tensor, shift: int = 0,
                order: Literal["fit", "transform"] = "transform", diagonal: bool = False) -> torch.Tensor:
        """``[N, K, L]``: the outputs of ``kernels`` (indices into the 84) at dilation index
        ``j`` on ``x [N, C, L]`` (zeros after each series' end), each summed over its
        channel combination; ``diagonal`` (``N == K``): ``[K, L]``, kernel k on series k
        only. ``order``: the reference's order of additions when it fits or transforms (see
        the class); ``shift``: see :func:`~convkit.models._rocket_cpu._alpha_gamma`."""
        d, length = int(self.dilations[j]), x.shape[2]
        a = -x
        g = x + x + x
        alpha = a.clone()
        gamma = torch.zeros((9,) + tuple(x.shape), dtype=x.dtype, device=x.device)
        gamma[4] = g
        start, end = d, length - 4 * d + shift
        for tap in range(4):
            if end > 0:
                alpha[..., length - end:] = alpha[..., length - end:] + a[..., :end]
                gamma[tap, ..., length - end:] = g[..., :end]
            end += d
        for tap in range(5, 9):
            if start < length:
                alpha[..., :length - start] = alpha[..., :length - start] + a[..., start:]
                gamma[tap, ..., :length - start] = g[..., start:]
            start += d
        idx = torch.tensor(MINIROCKET_INDICES, device=x.device)[kernels]  # [K, 3]
        combos = self.combos[j * len(MINIROCKET_INDICES) + kernels]  # [K, 9]
        sizes = self.sizes[j * len(MINIROCKET_INDICES) + kernels]
        out = None
        for m in range(int(sizes.max())):
            ch = combos[:, m].clamp(min=0)  # [K]
            if diagonal:  # [K, L]: series k, its channel ch[k], kernel k's taps
                rows = torch.arange(len(kernels), device=x.device)
                a, g = alpha[rows, ch], [gamma[idx[:, i], rows, ch] for i in range(3)]
            else:  # [N, K, L]
                a, g = alpha[:, ch], [gamma[idx[:, i], :, ch].transpose(0, 1) for i in range(3)]
            term = a + ((g[0] + g[1]) + g[2]) if order == "fit" else ((a + g[0]) + g[1]) + g[2]
            if out is None:
                out = term
            else:
                grow = (m < sizes)[:, None] if diagonal else (m < sizes)[None, :, None]
                out = torch.where(grow, out + term, out)
        return out

    def padded(self, j: int) -> torch.Tensor:
        """``[84]`` bool: which kernels at dilation index ``j`` pool their whole (padded)
        output; the others pool the part computed without padding."""
        k = torch.arange(len(MINIROCKET_INDICES), device=self.dilations.device)
        return torch.ones_like(k, dtype=torch.bool) if not bool(self.alternate) else (j + k) % 2 == 0

    def padded_all(self) -> torch.Tensor:
        """``[D * 84]`` bool: :meth:`padded` for every combination, in the reference order."""
        return torch.cat([self.padded(j) for j in range(len(self.dilations))])


def pooling_ranges(bank: KernelBank, j: int, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lo, hi) [N, 84]``: the steps each series pools for each kernel at dilation index
    ``j``: ``[0, length)`` for a padded kernel, ``[4d, length - 4d)`` for the others (its
    padded output when that part is empty)."""
    pad = 4 * int(bank.dilations[j])
    padded = bank.padded(j)[None, :]
    length = lengths[:, None]
    inner = (length - 2 * pad >= 1) & ~padded
    lo = torch.where(inner, pad, 0)
    hi = torch.where(inner, length - pad, length)
    return lo, hi


def count_above(out: torch.Tensor, biases: torch.Tensor) -> torch.Tensor:
    """``[N, K, Q]``: for each row of ``out [N, K, T]``, how many of its values exceed each
    of the kernel's ``Q`` biases (``biases [K, Q]``); NaN never does (masked steps)."""
    return torch.stack([torch.sum(out > biases[:, f:f + 1], dim=2) for f in range(biases.shape[1])], dim=2)


def _in_range(out: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """``out [N, K, T]`` with NaN outside each row's steps ``[lo, hi)`` (``[N, K]``)."""
    steps = torch.arange(out.shape[2], device=out.device)[None, None, :]
    inside = (steps >= lo[:, :, None]) & (steps < hi[:, :, None])
    return out.masked_fill(~inside, float("nan"))


def _cpu_kernels() -> Any:
    """The compiled CPU kernels (:mod:`convkit.models._rocket_cpu`), imported on first use."""
    from convkit.models import _rocket_cpu

    return _rocket_cpu


_PAIRS: tuple[tuple[int, int], ...] = tuple(sorted({(a, b) for a, b, _ in MINIROCKET_INDICES}))
"""The 36 pairs of first two taps of weight 2 among the 84 kernels."""


def _bank_arrays(bank: KernelBank) -> tuple:
    """The bank's buffers as the CPU kernels take them (C-contiguous: one compiled
    signature, found in Numba's cache)."""
    pair_of = np.array([_PAIRS.index((a, b)) for a, b, _ in MINIROCKET_INDICES], dtype=np.int64)
    arrays = (bank.dilations, bank.features_per_dilation, bank.biases, bank.combos, bank.sizes)
    return (*(np.ascontiguousarray(a.cpu().numpy()) for a in arrays), np.array(MINIROCKET_INDICES, dtype=np.int64),
            np.array(_PAIRS, dtype=np.int64), pair_of, np.ascontiguousarray(bank.padded_all().cpu().numpy()))


def _cpu_series(x: torch.Tensor, lengths: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``x`` float32 and ``lengths`` int64 as C-contiguous arrays for the CPU kernels."""
    return (np.ascontiguousarray(x.numpy(), dtype=np.float32),
            np.ascontiguousarray(lengths.numpy(), dtype=np.int64))


class MiniRocket(FittedModule):
    """MiniRocket: ``[N, C, L]`` (and ``lengths [N]``) -> PPV features ``[N, 84 * (num_features // 84)]``.

    ``fit(x, lengths, seed)`` picks the dilations for the longest training series, the
    channel combinations (multivariate: 1 to 9 channels per kernel and dilation, summed)
    and the biases; ``forward`` transforms. ``padding``: ``alternate`` (the papers' rule),
    ``all`` (every combination pooled over its padded output, the authors' code for
    unequal lengths) or ``auto`` (alternate when the training series have equal lengths).
    On the CPU the transform runs in a compiled kernel (:mod:`~convkit.models._rocket_cpu`)
    one series at a time; elsewhere (CUDA) in torch over chunks of series of at most
    ``chunk_elements`` convolution outputs; both give the same features.
    """

    def __init__(self, in_channels: int = 1, num_features: int = 10_000, max_dilations_per_kernel: int = 32,
                 padding: PaddingRule = "auto", chunk_elements: int = CHUNK_ELEMENTS) -> None:
        super().__init__()
        if num_features < len(MINIROCKET_INDICES):
            raise ConfigError(f"minirocket: num_features must be at least {len(MINIROCKET_INDICES)}; got {num_features}")
        if padding not in ("auto", "alternate", "all"):
            raise ConfigError(f"minirocket: padding must be auto, alternate or all; got {padding!r}")
        self.in_channels, self.num_features_asked = in_channels, num_features
        self.max_dilations_per_kernel, self.padding, self.chunk_elements = max_dilations_per_kernel, padding, chunk_elements
        self.bank = KernelBank(in_channels)

    @property
    def num_features(self) -> int:
        """The number of features: 84 x (num_features // 84)."""
        return len(MINIROCKET_INDICES) * (self.num_features_asked // len(MINIROCKET_INDICES))

    @property
    def fitted(self) -> bool:
        """Whether ``fit`` has run (or a fitted state was loaded)."""
        return self.bank.num_biases > 0

    def fit(self, x: torch.Tensor, lengths: torch.Tensor | None = None, seed: int = 0) -> "MiniRocket":
        """Fit to training series ``x [N, C, L]`` (each over its ``lengths``; None: all
        ``L``). Returns ``self``."""
        x, lengths = _prepare(x, lengths, "minirocket", self.in_channels)
        self.bank.fit(x, lengths, int(lengths.max()), self.num_features, self.max_dilations_per_kernel, seed,
                      _alternates(self.padding, lengths, x.shape[2]))
        return self

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, C, L]`` (each series over its ``lengths``) -> ``[N, F]`` PPV features."""
        _check_fitted(self.fitted, "minirocket")
        x, lengths = _prepare(x, lengths, "minirocket", self.in_channels)
        if x.device.type == "cpu":
            out = np.zeros((len(x), self.num_features), dtype=np.float32)
            _cpu_kernels().minirocket_transform(*_cpu_series(x, lengths), *_bank_arrays(self.bank), out)
            return torch.from_numpy(out)
        return _chunked(x, lengths, self.num_features, self.chunk_elements, self._transform)

    def _transform(self, x: torch.Tensor, lengths: torch.Tensor, out: torch.Tensor) -> None:
        """The torch code path (CUDA): PPV of every combination for the series ``x``."""
        bank = self.bank
        n_kernels = len(MINIROCKET_INDICES)
        every = torch.arange(n_kernels, device=x.device)
        start = 0
        for j in range(len(bank.dilations)):
            nf = int(bank.features_per_dilation[j])
            biases = bank.biases[start:start + n_kernels * nf].view(n_kernels, nf)
            lo, hi = pooling_ranges(bank, j, lengths)
            counts = count_above(_in_range(bank.outputs(x, j, every), lo, hi), biases)
            out[:, start:start + n_kernels * nf] = (counts / (hi - lo)[:, :, None]).reshape(len(x), -1)
            start += n_kernels * nf


def _alternates(padding: str, lengths: torch.Tensor, length: int) -> bool:
    """Whether a bank fitted to series of these ``lengths`` alternates its padding."""
    return padding == "alternate" or (padding == "auto" and bool((lengths == length).all()))
def _prepare(x: torch.Tensor, lengths: torch.Tensor | None, name: str, channels: int,
             min_length: int = KERNEL_LENGTH) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` as float32 with exact zeros after each series' length, and ``lengths`` as an
    int64 tensor on its device (all ``L`` when None); checks the input (:func:`check_series`)."""
    x = torch.as_tensor(x)
    if x.dim() == 3 and x.shape[1] != channels:
        raise DataError(f"{name} was built for {channels} channel(s); got series [N, C, L] with C = {x.shape[1]}")
    lengths = (torch.full((x.shape[0],), x.shape[-1], dtype=torch.int64, device=x.device) if lengths is None
               else torch.as_tensor(lengths, dtype=torch.int64).to(x.device))
    check_series(x, lengths, name, min_length)
    x = x.float()
    if bool((lengths < x.shape[2]).any()):
        x = x.masked_fill(~_steps_mask(lengths, x.shape[2]), 0.0)
    return x, lengths


def _check_fitted(fitted: bool, name: str) -> None:
    if not fitted:
        raise ConfigError(f"{name} is not fitted; call fit(x) on training series first")


def _chunked(x: torch.Tensor, lengths: torch.Tensor, num_features: int, chunk_elements: int, transform: Any) -> torch.Tensor:
    """Run ``transform(x_chunk, lengths_chunk, out_chunk)`` over chunks of series (sorted
    by length, each chunk cut to its longest series) whose convolution outputs stay within
    ``chunk_elements``; returns ``[N, num_features]`` in the input order."""
    out = torch.empty(len(x), num_features, device=x.device)
    if not len(x):
        return out
    order = torch.argsort(lengths, stable=True)
    per_series = len(MINIROCKET_INDICES) * x.shape[2]
    size = max(1, chunk_elements // per_series)
    for begin in range(0, len(x), size):
        idx = order[begin:begin + size]
        longest = int(lengths[idx].max())
        chunk = torch.empty(len(idx), num_features, device=x.device)
        transform(x[idx, :, :longest], lengths[idx], chunk)
        out[idx] = chunk
    return out


class MultiRocket(FittedModule):
    """MultiRocket: ``[N, C, L]`` (and ``lengths [N]``) -> ``[N, 8 * 84 * (num_kernels // 84)]``:
    MiniRocket's kernels on the series and on its first difference (each with its own
    dilations and biases), each output pooled four ways: PPV, the longest stretch of
    positive values, the mean of positive values and the mean of their indices (the
    reference's layout: per representation the four blocks in that order).

    As the reference code: the mean of positive values is that of ``C + bias``; the
    transform of the differenced series reads its four left taps one step to the right
    (the reference's offset, kept so that the features are the reference's)."""

    def __init__(self, in_channels: int = 1, num_kernels: int = 6_250, max_dilations_per_kernel: int = 32,
                 padding: PaddingRule = "auto") -> None:
        super().__init__()
        if num_kernels < len(MINIROCKET_INDICES):
            raise ConfigError(f"multirocket: num_kernels must be at least {len(MINIROCKET_INDICES)}; got {num_kernels}")
        if padding not in ("auto", "alternate", "all"):
            raise ConfigError(f"multirocket: padding must be auto, alternate or all; got {padding!r}")
        self.in_channels, self.num_kernels, self.padding = in_channels, num_kernels, padding
        self.max_dilations_per_kernel = max_dilations_per_kernel
        self.bank = KernelBank(in_channels)
        self.diff_bank = KernelBank(in_channels)

    @property
    def per_representation(self) -> int:
        """Biases per representation: 84 x (num_kernels // 84)."""
        return len(MINIROCKET_INDICES) * (self.num_kernels // len(MINIROCKET_INDICES))

    @property
    def num_features(self) -> int:
        """2 representations x 4 poolings x :attr:`per_representation`."""
        return 8 * self.per_representation

    @property
    def fitted(self) -> bool:
        """Whether ``fit`` has run (or a fitted state was loaded)."""
        return self.bank.num_biases > 0

    def fit(self, x: torch.Tensor, lengths: torch.Tensor | None = None, seed: int = 0) -> "MultiRocket":
        """Fit both banks to training series ``x [N, C, L]`` (the difference bank to their
        first differences), as the reference does with ``seed``. Returns ``self``."""
        x, lengths = _prepare(x, lengths, "multirocket", self.in_channels, min_length=KERNEL_LENGTH + 1)
        alternate = _alternates(self.padding, lengths, x.shape[2])
        rng = np.random.RandomState(seed)  # one stream for both banks' channel combinations
        self.bank.fit(x, lengths, int(lengths.max()), self.num_kernels, self.max_dilations_per_kernel, seed,
                      alternate, rng=rng)
        dx, dlengths = _differences(x, lengths)
        self.diff_bank.fit(dx, dlengths, int(dlengths.max()), self.num_kernels, self.max_dilations_per_kernel, seed,
                           alternate, rng=rng)
        return self

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, C, L]`` -> ``[N, F]``: the series' four blocks, then the difference's."""
        _check_fitted(self.fitted, "multirocket")
        x, lengths = _prepare(x, lengths, "multirocket", self.in_channels, min_length=KERNEL_LENGTH + 1)
        dx, dlengths = _differences(x, lengths)
        parts = [self._pooled(self.bank, x, lengths, 0), self._pooled(self._difference_view(), dx, dlengths, 1)]
        return torch.cat([p.reshape(len(x), -1) for p in parts], dim=1)

    def _difference_view(self) -> KernelBank:
        """The difference bank as the reference transforms with it: its dilations and
        biases, but the series bank's channel combinations (combination by combination;
        the reference fits the difference's biases with its own)."""
        bank = KernelBank(self.in_channels)
        rows = len(self.diff_bank.combos)
        for name in ("dilations", "features_per_dilation", "biases", "alternate"):
            setattr(bank, name, getattr(self.diff_bank, name))
        bank.combos, bank.sizes = self.bank.combos[:rows], self.bank.sizes[:rows]
        return bank

    def _pooled(self, bank: KernelBank, x: torch.Tensor, lengths: torch.Tensor, shift: int) -> torch.Tensor:
        """``[N, 4, per_representation]`` poolings of one representation."""
        if x.device.type == "cpu":
            out = np.zeros((len(x), 4, self.per_representation), dtype=np.float32)
            arrays = _bank_arrays(bank)
            _cpu_kernels().multirocket_transform(*_cpu_series(x, lengths), *arrays[:-1], arrays[-1], shift, out)
            return torch.from_numpy(out)
        return multirocket_pool(bank, x, lengths, shift)


def _differences(x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First differences ``[N, C, L - 1]`` of each series over its own length (zeros
    after), and their lengths."""
    dx = torch.diff(x, dim=2)
    dlengths = lengths - 1
    if bool((dlengths < dx.shape[2]).any()):
        dx = dx.masked_fill(~_steps_mask(dlengths, dx.shape[2]), 0.0)
    return dx, dlengths


def multirocket_pool(bank: KernelBank, x: torch.Tensor, lengths: torch.Tensor, shift: int) -> torch.Tensor:
    """The torch code path of MultiRocket's four poolings of one bank (CUDA):
    ``[N, 4, 84 * sum(features_per_dilation)]``, as the CPU kernel computes them."""
    n_kernels = len(MINIROCKET_INDICES)
    every = torch.arange(n_kernels, device=x.device)
    out = torch.zeros(len(x), 4, bank.num_biases, device=x.device)
    start = 0
    for j in range(len(bank.dilations)):
        nf = int(bank.features_per_dilation[j])
        biases = bank.biases[start:start + n_kernels * nf].view(n_kernels, nf)
        lo, hi = pooling_ranges(bank, j, lengths)
        conv = _in_range(bank.outputs(x, j, every, shift=shift), lo, hi)  # [N, K, T], NaN outside
        steps = torch.arange(conv.shape[2], device=x.device)[None, None, :] - lo[:, :, None]  # index within range
        span = (hi - lo)[:, :, None]
        for f in range(nf):
            b = biases[:, f][None, :, None]
            pos, neg = conv > b, conv < b
            count = pos.sum(2)
            total = torch.where(pos, (conv + b).double(), 0.0).sum(2)  # each value + bias in float32, as the reference
            index_sum = torch.where(pos, steps, 0).sum(2)
            # the longest gap between consecutive values below the bias (from the range's
            # start, and to its end), as the reference measures stretches of positive values
            last = torch.where(neg, steps, 0).cummax(2).values
            gap = torch.where((steps >= 0) & (steps < span - 1), steps + 1 - last, 0).amax(2) if conv.shape[2] > 1 \
                else torch.zeros_like(count)
            column = torch.arange(n_kernels, device=x.device) * nf + f + start
            out[:, 0, column] = (count / span[:, :, 0]).float()
            out[:, 1, column] = gap.float()
            out[:, 2, column] = torch.where(count > 0, total / count.clamp(min=1), 0.0).float()
            out[:, 3, column] = torch.where(count > 0, index_sum / count.clamp(min=1), -1.0).float()
        start += n_kernels * nf
    return out


class Hydra(FittedModule):
    """Hydra: ``[N, C, L]`` (and ``lengths [N]``) -> ``[N, D * 2 * 2 * groups * kernels]``.

    ``groups`` groups of ``kernels`` random kernels of length 9 (zero-mean, unit absolute
    sum) per dilation (powers of 2 up to the longest span that fits the series), half the
    groups on the series and half on its first difference (multivariate: each group on
    the sum of a random subset of channels); at each step the kernel with the largest
    response in a group adds that response to its count, the one with the smallest adds
    one. Drawn from torch's generator seeded with ``seed`` as aeon's ``HydraTransformer``
    draws them; the convolutions are ``torch.nn.functional.conv1d``, over chunks of series
    of at most ``chunk_elements`` convolution outputs."""

    def __init__(self, in_channels: int = 1, kernels: int = 8, groups: int = 64, max_num_channels: int = 8,
                 chunk_elements: int = CHUNK_ELEMENTS) -> None:
        super().__init__()
        if kernels < 1 or groups < 1:
            raise ConfigError(f"hydra: kernels and groups must be at least 1; got {kernels}, {groups}")
        self.in_channels, self.kernels, self.groups, self.max_num_channels = in_channels, kernels, groups, max_num_channels
        self.chunk_elements = chunk_elements
        self.divisor = min(2, groups)
        self.per_group = groups // self.divisor
        self.register_buffer("dilations", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("weights", torch.zeros(0, self.divisor, kernels * self.per_group, 1, KERNEL_LENGTH))
        self.register_buffer("channels", torch.zeros(0, self.divisor, self.per_group, 1, dtype=torch.int64))

    @property
    def fitted(self) -> bool:
        """Whether ``fit`` has run (or a fitted state was loaded)."""
        return len(self.dilations) > 0

    @property
    def num_features(self) -> int:
        """Features for the fitted dilations (0 before fitting)."""
        return len(self.dilations) * self.divisor * 2 * self.per_group * self.kernels

    @property
    def sparse_features(self) -> int:
        """The leading features that are counts (all): Hydra's scaler standardises them."""
        return self.num_features

    def fit(self, x: torch.Tensor, lengths: torch.Tensor | None = None, seed: int = 0) -> "Hydra":
        """Draw the kernels for series as long as the longest of ``x``. Returns ``self``."""
        x, lengths = _prepare(x, lengths, "hydra", self.in_channels, min_length=KERNEL_LENGTH + 1)
        generator_state = torch.get_rng_state()
        torch.manual_seed(seed)
        try:
            max_exponent = np.log2((int(lengths.max()) - 1) / (KERNEL_LENGTH - 1))
            dilations = 2 ** torch.arange(int(max_exponent) + 1)
            w = torch.randn(len(dilations), self.divisor, self.kernels * self.per_group, 1, KERNEL_LENGTH)
            w = w - w.mean(-1, keepdims=True)
            w = w / w.abs().sum(-1, keepdims=True)
            per = int(np.clip(self.in_channels // 2, 2, self.max_num_channels))
            channels = torch.stack([torch.randint(0, self.in_channels, (self.divisor, self.per_group, per))
                                    for _ in range(len(dilations))])
        finally:
            torch.set_rng_state(generator_state)
        self.dilations, self.weights, self.channels = (t.to(x.device) for t in (dilations, w, channels))
        return self

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, C, L]`` -> ``[N, F]`` counts (per dilation: the series' max and min
        counts, then the difference's), each series over its own length."""
        if not self.fitted:
            _check_fitted(False, "hydra")
        x, lengths = _prepare(x, lengths, "hydra", self.in_channels, min_length=KERNEL_LENGTH + 1)
        per_series = self.kernels * self.per_group * x.shape[2]
        size = max(1, self.chunk_elements // per_series)
        if len(x) > size:  # memory bounded: chunks of series (each series' features are its own)
            return torch.cat([self(x[i:i + size], lengths[i:i + size]) for i in range(0, len(x), size)])
        dx, dlengths = _differences(x, lengths)
        n, h, k = len(x), self.per_group, self.kernels
        out = []
        for j in range(len(self.dilations)):
            d = int(self.dilations[j])
            for diff in range(self.divisor):
                z, zl = (x, lengths) if diff == 0 else (dx, dlengths)
                if self.in_channels > 1:
                    z = z[:, self.channels[j, diff]].sum(2)  # [N, h, T]: each group's channel sum
                    response = F.conv1d(z, self.weights[j, diff], dilation=d, padding=4 * d, groups=h)
                else:
                    response = F.conv1d(z, self.weights[j, diff], dilation=d, padding=4 * d)
                response = response.view(n, h, k, -1)
                top, top_at = response.max(2)
                low, low_at = response.min(2)
                count_max = torch.zeros(n, h, k, device=x.device)
                count_min = torch.zeros(n, h, k, device=x.device)
                if bool((zl == response.shape[-1]).all()):  # every series spans every step
                    count_max.scatter_add_(-1, top_at, top)
                    count_min.scatter_add_(-1, low_at, torch.ones_like(low))
                else:  # the steps after a series' end count for nothing
                    valid = _steps_mask(zl, response.shape[-1])  # [N, 1, T]
                    count_max.scatter_add_(-1, top_at, torch.where(valid, top, 0.0))
                    count_min.scatter_add_(-1, low_at, valid.expand_as(low).to(low.dtype))
                out += [count_max, count_min]
        return torch.cat(out, 1).view(n, -1)


class FeatureScaler(FittedModule):
    """The papers' standardisation of a transform's features ``[N, F]``: ``(f - mean) /
    scale``, where the mean is 0 before MiniRocket's and MultiRocket's ridge (they scale by
    the standard deviation only, as aeon does) and ``scale + 1e-8`` before logistic
    regression (the MiniRocket authors' ``softmax.py``); the first ``sparse`` features
    (Hydra's counts) as Hydra's scaler: ``sqrt(max(f, 0))`` standardised where it is not
    zero, 0 where it is. Buffers ``mean``/``scale`` ``[F]`` and ``sparse``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(0))
        self.register_buffer("scale", torch.ones(0))
        self.register_buffer("sparse", torch.tensor(0))

    def fit(self, features: torch.Tensor, sparse: int, center: bool, epsilon: float = 0.0) -> "FeatureScaler":
        """Fit to training features ``[N, F]`` whose first ``sparse`` are Hydra's counts;
        ``center``: subtract the mean of the others; ``epsilon``: added to their scale
        (0: a constant feature's scale is 1)."""
        f = features.double()
        mean = torch.zeros(f.shape[1], dtype=torch.float64, device=f.device)
        scale = torch.ones(f.shape[1], dtype=torch.float64, device=f.device)
        if sparse:
            root = f[:, :sparse].clamp(min=0).sqrt()
            eps = (root == 0).double().mean(0) ** 4 + 1e-8
            mean[:sparse] = root.mean(0)
            scale[:sparse] = (root.std(0) if len(f) > 1 else torch.zeros_like(eps)) + eps
        dense = f[:, sparse:]
        if dense.shape[1]:
            std = dense.std(0, unbiased=False)
            if center:
                mean[sparse:] = dense.mean(0)
            scale[sparse:] = std + epsilon if epsilon else torch.where(std > 0, std, 1.0)
        self.mean, self.scale = mean.float(), scale.float()
        self.sparse = torch.tensor(int(sparse), device=f.device)
        return self

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``[N, F]`` -> standardised ``[N, F]``."""
        s = int(self.sparse)
        if not s:
            return (features - self.mean) / self.scale
        root = features[:, :s].clamp(min=0).sqrt()
        head = (root - self.mean[:s]) * (root != 0) / self.scale[:s]
        return torch.cat([head, (features[:, s:] - self.mean[s:]) / self.scale[s:]], dim=1)


def fit_ridge_loo(features: torch.Tensor, targets: torch.Tensor, num_classes: int,
                  alphas: tuple[float, ...] = ALPHAS) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """Ridge regression of ``±1`` class indicators on ``features [N, F]`` with an
    unpenalised intercept, the regularisation chosen among ``alphas`` by the exact
    leave-one-out squared error (the first of the best), as scikit-learn's
    ``RidgeClassifierCV`` chooses it, from one eigendecomposition of the smaller Gram
    matrix (float64, on the features' device).

    Returns ``(weight [num_classes, F], bias [num_classes], alpha, loo_error)``.
    """
    x = features.double()
    y = torch.full((len(x), num_classes), -1.0, dtype=torch.float64, device=x.device)
    y[torch.arange(len(x), device=x.device), targets.long()] = 1.0
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc, yc = x - x_mean, y - y_mean
    n, f = xc.shape
    if n <= f:  # the Gram matrix of the series: xc xc^T = U diag(s) U^T
        s, u = torch.linalg.eigh(xc @ xc.T)
        s = s.clamp(min=0)
    else:  # xc = U diag(sv) V^T
        u, sv, vt = torch.linalg.svd(xc, full_matrices=False)
        s = sv ** 2
    uty = u.T @ yc
    best = None
    for alpha in alphas:
        shrink = s / (s + alpha)  # the hat matrix of the centred part: U diag(shrink) U^T
        fitted = u @ (shrink[:, None] * uty)
        hat = 1.0 / n + (u ** 2) @ shrink  # its diagonal, with the intercept's 1/n
        loo = ((yc - fitted) / (1.0 - hat)[:, None]) ** 2
        error = float(loo.mean())
        if best is None or error < best[1]:
            best = (alpha, error)
    alpha, error = best
    if n <= f:
        coef = xc.T @ (u @ (uty / (s + alpha)[:, None]))  # [F, classes]
    else:
        coef = vt.T @ ((torch.sqrt(s) / (s + alpha))[:, None] * uty)
    bias = y_mean - x_mean @ coef
    return coef.T.float(), bias.float(), float(alpha), error


class MultiRocketHydra(FittedModule):
    """Hydra and MultiRocket side by side (Dempster et al. 2023's strongest combination):
    ``[N, C, L] -> [N, hydra features + multirocket features]``, Hydra's first."""

    def __init__(self, in_channels: int = 1, kernels: int = 8, groups: int = 64, num_kernels: int = 6_250,
                 max_dilations_per_kernel: int = 32, padding: PaddingRule = "auto") -> None:
        super().__init__()
        self.in_channels = in_channels
        self.hydra = Hydra(in_channels, kernels, groups)
        self.multirocket = MultiRocket(in_channels, num_kernels, max_dilations_per_kernel, padding)

    @property
    def fitted(self) -> bool:
        """Whether ``fit`` has run (or a fitted state was loaded)."""
        return self.hydra.fitted and self.multirocket.fitted

    @property
    def num_features(self) -> int:
        """Hydra's features (0 before fitting) plus MultiRocket's."""
        return self.hydra.num_features + self.multirocket.num_features

    @property
    def sparse_features(self) -> int:
        """The leading features that are Hydra's counts."""
        return self.hydra.num_features

    def fit(self, x: torch.Tensor, lengths: torch.Tensor | None = None, seed: int = 0) -> "MultiRocketHydra":
        """Fit both transforms with ``seed``. Returns ``self``."""
        self.hydra.fit(x, lengths, seed)
        self.multirocket.fit(x, lengths, seed)
        return self

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, C, L]`` -> ``[N, F]``: Hydra's counts, then MultiRocket's features."""
        return torch.cat([self.hydra(x, lengths), self.multirocket(x, lengths)], dim=1)


Head = Literal["auto", "ridge", "logistic"]


class RocketClassifier(Classifier):
    """A ROCKET transform, the papers' standardisation and a linear head: ``[N, C, L]``
    (and ``lengths [N]``) -> logits ``[N, num_classes]``.

    :meth:`fit` fits the transform to the training series, then the head: ``ridge``
    (closed form, the regularisation chosen by leave-one-out error among ``alphas``:
    :func:`fit_ridge_loo`; the features scaled by their standard deviation as aeon does,
    Hydra's with its own scaler) leaves nothing to train; ``logistic`` standardises the
    features (mean and deviation of the first 4,096 training series, as the MiniRocket
    authors' ``softmax.py``), zeroes the head and leaves it to gradient steps (the
    engine's loop trains it with cross-entropy); ``auto``: ridge below
    :data:`RIDGE_MAX_TRAIN` training series, logistic from it. A fitted model is plain
    buffers and weights (``state_dict``), so checkpoints and ``load_state_dict`` restore it.

    ``takes_lengths``: ``forward(x, lengths)`` takes each series' length, and a series'
    logits never depend on its padding or on the other series of its batch.
    """

    takes_lengths = True
    LOGISTIC_STATS = 4096
    """Training series whose features standardise the logistic head's input."""

    def __init__(self, transform: nn.Module, num_classes: int, head: Head = "auto",
                 alphas: tuple[float, ...] = ALPHAS) -> None:
        super().__init__()
        if head not in ("auto", "ridge", "logistic"):
            raise ConfigError(f"rocket classifier: head must be auto, ridge or logistic; got {head!r}")
        self.transform, self.head_rule, self.alphas = transform, head, tuple(float(a) for a in alphas)
        self.spatial_dims, self.in_channels = 1, transform.in_channels
        self.min_input_size = KERNEL_LENGTH if isinstance(transform, MiniRocket) else KERNEL_LENGTH + 1
        self.scaler = FeatureScaler()
        self.register_buffer("alpha", torch.tensor(float("nan")))  # the ridge's choice (NaN: logistic or unfitted)
        with warnings.catch_warnings():  # Hydra's head has 0 inputs until it is fitted (its size follows the series)
            warnings.filterwarnings("ignore", "Initializing zero-element tensors")
            self._init_head(transform.num_features, num_classes)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any, **kwargs: Any) -> None:
        """A head of the stored size first (Hydra's features depend on the series' length)."""
        stored = state_dict.get(prefix + "head.1.weight")
        if stored is not None and isinstance(self.head, nn.Sequential) and stored.shape != self.head[-1].weight.shape:
            self._init_head(stored.shape[1], stored.shape[0])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has run (or a fitted state was loaded)."""
        return bool(self.transform.fitted) and self.scaler.mean.numel() > 0

    def fit(self, x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None = None, seed: int = 0) -> str:
        """Fit the transform and the head to training series ``x [N, C, L]`` (each over
        its ``lengths``) with classes ``y [N]``; returns the head fitted (``ridge`` or
        ``logistic``, which then still has to be trained)."""
        y = torch.as_tensor(y)
        if y.shape != (len(x),):
            raise DataError(f"rocket classifier: labels must be [N] = [{len(x)}]; got shape {list(y.shape)}")
        num_classes = self.head[-1].out_features if isinstance(self.head, nn.Sequential) else 0
        if num_classes and len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
            raise DataError(f"rocket classifier: labels must lie in [0, {num_classes}); got {int(y.min())}..{int(y.max())}")
        self.transform.fit(x, lengths, seed)
        kind = self.head_rule if self.head_rule != "auto" else ("ridge" if len(x) < RIDGE_MAX_TRAIN else "logistic")
        if kind == "logistic":  # only the series that standardise the features are transformed here
            x = x[:self.LOGISTIC_STATS]
            lengths = None if lengths is None else lengths[:self.LOGISTIC_STATS]
        with torch.no_grad():
            features = self.transform(x, lengths)
        if features.shape[1] != self.num_features:  # Hydra's size depends on the series' length
            self._init_head(features.shape[1], num_classes)
            self.head.to(features.device)
        linear = self.head[-1]
        sparse = int(getattr(self.transform, "sparse_features", 0))
        if kind == "ridge":  # aeon's scalers: Hydra's sparse one, and StandardScaler beside it (with the mean)
            self.scaler.fit(features, sparse, center=bool(sparse))
            weight, bias, alpha, _ = fit_ridge_loo(self.scaler(features), y.to(features.device), num_classes,
                                                   self.alphas)
            with torch.no_grad():
                linear.weight.copy_(weight)
                linear.bias.copy_(bias)
            self.alpha = torch.tensor(alpha, device=features.device)
            linear.requires_grad_(False)
        else:
            self.scaler.fit(features, 0, center=True, epsilon=1e-8)
            with torch.no_grad():
                linear.weight.zero_()
                linear.bias.zero_()
            linear.requires_grad_(True)
        return kind

    def forward_features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, C, L]`` -> standardised features ``[N, num_features]``. An unfitted model
        in training mode first fits its transform and standardisation to this batch (seed
        0) and leaves the head to gradient steps, as a lazy module initialises on its
        first input (a loop of one's own then trains it like any zoo model; :meth:`fit`
        is the papers' way); in evaluation mode it refuses (ConfigError)."""
        if not self.fitted:
            if not self.training:
                _check_fitted(False, type(self.transform).__name__.lower())
            self._fit_lazily(x, lengths)
        with torch.no_grad():
            features = self.transform(x, lengths)
        return self.scaler(features)

    def _fit_lazily(self, x: torch.Tensor, lengths: torch.Tensor | None) -> None:
        """Fit the transform and a logistic head's standardisation to the batch ``x``."""
        with torch.no_grad():
            self.transform.fit(x, lengths, 0)
            features = self.transform(x, lengths)
        if features.shape[1] != self.num_features:
            self._init_head(features.shape[1], self.head[-1].out_features)
            self.head.to(features.device)
        self.scaler.fit(features, 0, center=True, epsilon=1e-8)

    @property
    def export_refusal(self) -> str:
        """Why the model cannot be exported to ONNX or TorchScript (the exporters trace it)."""
        return (f"{type(self.transform).__name__} cannot be exported to ONNX or TorchScript (its transform loops "
                "over each series' own length, on the CPU in a compiled kernel); use the checkpoint with "
                "evaluate/predict, convkit.tasks.timeseries.rocket from Python, or --format safetensors (the weights)")

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, C, L]`` (each series over its ``lengths``) -> logits ``[N, num_classes]``.
        Not traceable (:attr:`export_refusal`; ConfigError, one line)."""
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            raise ConfigError(self.export_refusal)
        return self.forward_head(self.forward_features(x, lengths))


@register_model(spatial_dims=(1,), domain="timeseries")
def minirocket(spatial_dims: int = 1, in_channels: int = 1, num_classes: int = 2, num_features: int = 10_000,
               max_dilations_per_kernel: int = 32, padding: PaddingRule = "auto", head: Head = "auto") -> RocketClassifier:
    """MiniRocket (Dempster et al. 2021, 10,000 features) with a ridge or logistic head."""
    _one_dim(spatial_dims, "minirocket")
    return RocketClassifier(MiniRocket(in_channels, num_features, max_dilations_per_kernel, padding), num_classes, head)


@register_model(spatial_dims=(1,), domain="timeseries")
def multirocket(spatial_dims: int = 1, in_channels: int = 1, num_classes: int = 2, num_kernels: int = 6_250,
                max_dilations_per_kernel: int = 32, padding: PaddingRule = "auto", head: Head = "auto") -> RocketClassifier:
    """MultiRocket (Tan et al. 2022, about 50,000 features) with a ridge or logistic head."""
    _one_dim(spatial_dims, "multirocket")
    return RocketClassifier(MultiRocket(in_channels, num_kernels, max_dilations_per_kernel, padding), num_classes,
                            head)


@register_model(spatial_dims=(1,), domain="timeseries")
def hydra(spatial_dims: int = 1, in_channels: int = 1, num_classes: int = 2, kernels: int = 8, groups: int = 64,
          head: Head = "auto") -> RocketClassifier:
    """Hydra (Dempster et al. 2023: 64 groups of 8 kernels per dilation) with a ridge or logistic head."""
    _one_dim(spatial_dims, "hydra")
    return RocketClassifier(Hydra(in_channels, kernels, groups), num_classes, head)


@register_model(spatial_dims=(1,), domain="timeseries")
def multirocket_hydra(spatial_dims: int = 1, in_channels: int = 1, num_classes: int = 2, kernels: int = 8,
                      groups: int = 64, num_kernels: int = 6_250, head: Head = "auto") -> RocketClassifier:
    """Hydra + MultiRocket (Dempster et al. 2023) with a ridge or logistic head."""
    _one_dim(spatial_dims, "multirocket_hydra")
    return RocketClassifier(MultiRocketHydra(in_channels, kernels, groups, num_kernels), num_classes, head)


def _one_dim(spatial_dims: int, name: str) -> None:
    if spatial_dims != 1:
        raise ConfigError(f"{name} takes series (spatial_dims=1); got spatial_dims={spatial_dims}")
