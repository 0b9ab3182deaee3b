"""The audio front end: log-mel spectrograms, MFCCs, SpecAugment and waveform augmentation.

Everything here is a torch module (or a small function) that works on a whole batch on
the module's device, so feature extraction moves to the GPU with the model and is never
the bottleneck. Waveforms are ``[N, T]`` (or ``[N, 1, T]``); spectrograms are
``[N, 1, n_mels, frames]``, i.e. one-channel images for 2D CNNs.

The numbers match librosa exactly in definition: ``LogMelSpectrogram`` equals
``librosa.power_to_db(librosa.feature.melspectrogram(...))`` and ``MFCC`` equals
``librosa.feature.mfcc`` on the same settings (checked by the tests).
"""

from __future__ import annotations

import contextlib
import math
from typing import Union

import numpy as np
import soxr
import torch
import torch.nn.functional as F
from torch import nn

from convkit.errors import ConfigError, ShapeError

Array = Union[np.ndarray, torch.Tensor]

_PAD_MODES = ("constant", "reflect")


def _waveform_batch(x: torch.Tensor, name: str) -> torch.Tensor:
    """Return ``x`` as ``[N, T]``: accepts ``[N, T]`` or ``[N, 1, T]``, else a ShapeError."""
    if x.dim() == 3 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dim() != 2 or x.shape[-1] < 1:
        raise ShapeError(f"{name} expects a waveform batch [N, T] or [N, 1, T]; "
                         f"got a tensor of shape {list(x.shape)}")
    return x


CPU_CHUNK_VALUES = 1 << 18
"""On the CPU a batch is transformed in chunks of about this many frame samples (1 MiB
of float32 frames, 5 one-second clips at 16 kHz with a hop of 10 ms): the frames, their
spectrum and its power then stay in cache; transforming 256 such clips at once is about
three times slower."""


def hann_window(win_length: int, n_fft: int) -> np.ndarray:
    """The periodic Hann window of ``win_length`` centred in ``n_fft`` zeros, float64
    ``[n_fft]`` (``scipy.signal.get_window("hann", win_length)`` padded as librosa's STFT does)."""
    n = np.arange(win_length)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)
    left = (n_fft - win_length) // 2
    return np.pad(window, (left, n_fft - win_length - left))


def _hz_to_mel(hz: np.ndarray, htk: bool) -> np.ndarray:
    if htk:
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    linear = hz / (200.0 / 3)  # Slaney: linear below 1 kHz, logarithmic above
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel: np.ndarray, htk: bool) -> np.ndarray:
    if htk:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), (200.0 / 3) * mel)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None,
                   htk: bool = False, norm: str | None = "slaney") -> np.ndarray:
    """Triangular mel filters ``[n_mels, n_fft // 2 + 1]`` float32, the same numbers as
    ``librosa.filters.mel`` (same steps, same float64 arithmetic stored in float32).
    Written here because ``librosa.filters`` imports ``scipy.signal`` (over a second),
    which building an audio model (e.g. ``info``'s trial builds) should not pay."""
    f_max = sample_rate / 2 if f_max is None else f_max
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel_points = _mel_to_hz(np.linspace(_hz_to_mel(np.float64(f_min), htk), _hz_to_mel(np.float64(f_max), htk),
                                        n_mels + 2), htk)
    gaps = np.diff(mel_points)
    ramps = np.subtract.outer(mel_points, fft_freqs)
    weights = np.zeros((n_mels, len(fft_freqs)), dtype=np.float32)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / gaps[i], ramps[i + 2] / gaps[i + 1]))
    if norm == "slaney":
        weights *= (2.0 / (mel_points[2:n_mels + 2] - mel_points[:n_mels]))[:, None]
    elif norm is not None:
        raise ConfigError(f"mel_norm must be 'slaney' or None; got {norm!r}")
    return weights


class LogMelSpectrogram(nn.Module):
    """Waveform ``[N, T]`` or ``[N, 1, T]`` -> log-mel spectrogram in dB ``[N, 1, n_mels, frames]``.

    STFT (periodic Hann window of ``win_length`` centred in ``n_fft``), power ``|X|**power``,
    a Slaney mel filterbank, then ``power_to_db``: ``10 log10(max(S, amin) / ref)`` with
    ``ref`` 1.0 (a float) or ``"max"`` (each example's own maximum), and values clipped to
    ``top_db`` below each example's peak (``None``: no clipping). With ``center=True`` the
    signal is padded by ``n_fft // 2`` on both sides (``pad_mode`` "constant" = zeros, as
    librosa >= 0.10 does by default), giving ``frames = 1 + T // hop_length``.
    ``log=False`` returns the mel power spectrogram itself.

    How it is computed (each step chosen by measurement against librosa, see the bench's
    ``frontend`` section): the frames are a strided view of the padded signal times the
    window, ``torch.fft.rfft`` of all frames at once, the power as ``re² + im²`` of the
    spectrum's real view (a complex ``abs()`` costs 2.5x the FFT), and the mel projection
    as ONE matmul ``[frames, 2F] @ [2F, n_mels]`` whose rows pair each bin's ``re²`` and
    ``im²`` with the same filter weight (no separate sum over the pair). On the CPU a big
    batch goes through in cache-sized chunks (:data:`CPU_CHUNK_VALUES`).

    The window (padded to ``n_fft``) and the filterbank (:func:`mel_filterbank`, equal to
    ``librosa.filters.mel``) are non-persistent buffers: they follow ``.to(device)`` but
    stay out of ``state_dict``, so checkpoints hold only learned weights.

    ``warp``: a module applied to each chunk's power spectra ``[n, frames, F]`` before the
    mel projection (:class:`VTLP`, :class:`SpectralPitchShift`: training-time augmentation
    that is the identity in eval mode); None: none.
    """

    def __init__(self, sample_rate: int = 16000, n_fft: int = 512, win_length: int | None = None,
                 hop_length: int | None = None, n_mels: int = 64, f_min: float = 0.0,
                 f_max: float | None = None, power: float = 2.0, center: bool = True,
                 pad_mode: str = "constant", top_db: float | None = 80.0,
                 ref: float | str = 1.0, amin: float = 1e-10, htk: bool = False,
                 mel_norm: str | None = "slaney", log: bool = True, warp: nn.Module | None = None) -> None:
        super().__init__()
        win_length = n_fft if win_length is None else win_length
        hop_length = win_length // 4 if hop_length is None else hop_length
        f_max = sample_rate / 2 if f_max is None else f_max
        if sample_rate <= 0 or n_fft <= 0 or hop_length <= 0 or n_mels <= 0:
            raise ConfigError("LogMelSpectrogram: sample_rate, n_fft, hop_length and n_mels must "
                              f"be positive; got {sample_rate}, {n_fft}, {hop_length}, {n_mels}")
        if not 0 < win_length <= n_fft:
            raise ConfigError(f"LogMelSpectrogram: win_length must be in 1..n_fft={n_fft}; "
                              f"got {win_length}")
        if not 0 <= f_min < f_max <= sample_rate / 2:
            raise ConfigError(f"LogMelSpectrogram: need 0 <= f_min < f_max <= sample_rate/2 = "
                              f"{sample_rate / 2:g}; got f_min={f_min}, f_max={f_max}")
        if pad_mode not in _PAD_MODES:
            raise ConfigError(f"LogMelSpectrogram: pad_mode must be one of {_PAD_MODES}; "
                              f"got {pad_mode!r}")
        if not (ref == "max" or (isinstance(ref, (int, float)) and ref > 0)):
            raise ConfigError(f"LogMelSpectrogram: ref must be a positive number or 'max'; got {ref!r}")
        if top_db is not None and top_db < 0:
            raise ConfigError(f"LogMelSpectrogram: top_db must be >= 0 or None; got {top_db}")
        self.sample_rate, self.n_fft, self.win_length = sample_rate, n_fft, win_length
        self.hop_length, self.n_mels, self.power = hop_length, n_mels, power
        self.center, self.pad_mode, self.top_db = center, pad_mode, top_db
        self.ref, self.amin, self.log = ref, amin, log
        # torch.tensor (not from_numpy) honours a default-device context such as
        # ``with torch.device("meta")``, where the CLI's shape check builds models.
        self.register_buffer("window", torch.tensor(hann_window(win_length, n_fft), dtype=torch.float32),
                             persistent=False)  # [n_fft]
        mel = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max, htk, mel_norm)
        self.register_buffer("mel_basis", torch.tensor(mel, dtype=torch.float32), persistent=False)  # [M, F]
        self.warp = warp

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a waveform of ``num_samples`` samples."""
        if self.center:
            return 1 + num_samples // self.hop_length
        return 1 + (num_samples - self.n_fft) // self.hop_length

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, T]`` centre-padded (when ``center``); ShapeError when shorter than ``n_fft``."""
        x = _waveform_batch(x, type(self).__name__)
        if self.center:
            pad = self.n_fft // 2
            x = F.pad(x, (pad, pad)) if self.pad_mode == "constant" else \
                F.pad(x[:, None], (pad, pad), mode=self.pad_mode)[:, 0]
        if x.shape[-1] < self.n_fft:
            raise ShapeError(f"{type(self).__name__} needs at least n_fft={self.n_fft} samples "
                             f"(after centre padding); got a waveform of shape {list(x.shape)}")
        return x

    def _window(self, dtype: torch.dtype) -> torch.Tensor:
        if dtype == torch.float64:  # a float32 window leaks at -160 dB; exact for float64 input
            return torch.tensor(hann_window(self.win_length, self.n_fft), dtype=dtype, device=self.window.device)
        return self.window.to(dtype)

    def _spectrum_power(self, x: torch.Tensor) -> torch.Tensor:
        """Padded waveforms ``[n, T']`` -> ``re² + im²`` of every frame's bins ``[n, frames, F]``."""
        frames = x.unfold(-1, self.n_fft, self.hop_length) * self._window(x.dtype)  # [n, frames, n_fft]
        spec = torch.view_as_real(torch.fft.rfft(frames))  # [n, frames, F, 2]
        return spec[..., 0].square().add_(spec[..., 1].square())

    def power_spectrogram(self, x: torch.Tensor) -> torch.Tensor:
        """Waveform ``[N, T]`` -> ``|STFT|**power`` ``[N, n_fft // 2 + 1, frames]``."""
        x = self._padded(x)
        if torch.onnx.is_in_onnx_export():  # the exporter has no complex tensors nor rfft
            spec = torch.stft(x, self.n_fft, self.hop_length, self.n_fft, self._window(x.dtype), center=False,
                              return_complex=False)
            power = spec.square().sum(-1)
        else:
            power = self._spectrum_power(x).transpose(1, 2)
        return power if self.power == 2.0 else power.pow(self.power / 2.0)

    def _mel(self, x: torch.Tensor) -> torch.Tensor:
        """Padded waveforms ``[n, T']`` -> mel power ``[n, M, frames]`` (the filterbank
        times each clip's power ``[F, frames]``)."""
        power = self._spectrum_power(x)
        if self.warp is not None:
            power = self.warp(power)
        if self.power != 2.0:
            power = power.pow_(self.power / 2.0)
        return torch.matmul(self.mel_basis.to(power.dtype), power.transpose(1, 2))

    def _chunks(self, x: torch.Tensor) -> list[slice]:
        """Slices of the batch ``[N, T']`` (padded) that are transformed together."""
        if x.device.type != "cpu":
            return [slice(0, len(x))]
        frames = 1 + (x.shape[-1] - self.n_fft) // self.hop_length
        size = max(1, CPU_CHUNK_VALUES // (frames * self.n_fft))
        return [slice(i, i + size) for i in range(0, len(x), size)]

    def _run(self, x: torch.Tensor, log: bool) -> torch.Tensor:
        """Waveform ``[N, T]`` -> ``[N, n_mels, frames]``, mel power or dB, chunk by chunk
        into one output (every step of a chunk stays in cache)."""
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        with _no_autocast(x.device.type):
            if torch.onnx.is_in_onnx_export():
                mel = torch.matmul(self.mel_basis.to(x.dtype), self.power_spectrogram(x))
                return self.to_db(mel) if log else mel
            x = self._padded(x)
            chunks = self._chunks(x)
            if len(chunks) == 1:
                mel = self._mel(x)
                return self._to_db_(mel) if log else mel
            frames = 1 + (x.shape[-1] - self.n_fft) // self.hop_length
            out = torch.empty(len(x), self.n_mels, frames, dtype=x.dtype, device=x.device)
            for part in chunks:
                mel = self._mel(x[part])
                out[part] = self._to_db_(mel) if log else mel
            return out

    def mel_spectrogram(self, x: torch.Tensor) -> torch.Tensor:
        """Waveform ``[N, T]`` -> mel power spectrogram ``[N, n_mels, frames]`` (no log).

        Always computed in float32 (or float64 for float64 input), also under autocast:
        power spectra overflow float16 (a full-scale sine reaches ~(n_fft/4)**2).
        """
        return self._run(x, log=False)

    def to_db(self, mel: torch.Tensor) -> torch.Tensor:
        """Mel power ``[N, n_mels, frames]`` -> dB, exactly as ``librosa.power_to_db`` per example."""
        return self._to_db_(mel.clone())

    def _to_db_(self, mel: torch.Tensor) -> torch.Tensor:
        """:meth:`to_db` in place of ``mel`` (a tensor the caller owns)."""
        peak = mel.amax(dim=(-2, -1), keepdim=True) if self.ref == "max" else None
        db = mel.clamp_(min=self.amin).log10_().mul_(10.0)
        if peak is not None:
            db = db.sub_(10.0 * torch.log10(peak.clamp(min=self.amin)))
        elif float(self.ref) != 1.0:
            db = db.sub_(10.0 * math.log10(max(self.amin, float(self.ref))))
        if self.top_db is not None:
            db = db.clamp_(min=db.amax(dim=(-2, -1), keepdim=True) - self.top_db)
        return db

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Waveform ``[N, T]`` or ``[N, 1, T]`` -> ``[N, 1, n_mels, frames]`` (dB unless log=False)."""
        return self._run(x, self.log).unsqueeze(1)

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, win_length={self.win_length}, "
                f"hop_length={self.hop_length}, n_mels={self.n_mels}, top_db={self.top_db}")


def _no_autocast(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast switched off on ``device_type``; a no-op where it is off already (no context
    to enter per call) or does not exist (the meta device, used to check shapes without memory)."""
    if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


def dct_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """The orthonormal DCT-II as a matrix ``[n_out, n_in]`` (``scipy.fft.dct(..., norm='ortho')``)."""
    k, n = np.arange(n_out)[:, None], np.arange(n_in)[None, :]
    matrix = np.sqrt(2.0 / n_in) * np.cos(np.pi / n_in * (n + 0.5) * k)
    matrix[0] /= np.sqrt(2.0)
    return torch.tensor(matrix)


class MFCC(nn.Module):
    """Waveform ``[N, T]`` or ``[N, 1, T]`` -> MFCCs ``[N, n_mfcc, frames]``, as ``librosa.feature.mfcc``.

    The orthonormal DCT-II over the mel axis of the log-mel from ``LogMelSpectrogram``
    (all its options pass through ``**logmel_options``; librosa's mfcc uses ref=1.0 and
    top_db=80, the defaults here), optionally liftered (``lifter > 0``). The output is
    laid out ``[N, C, L]`` with the coefficients as channels, ready for a 1D model.
    """

    def __init__(self, n_mfcc: int = 20, lifter: float = 0.0, **logmel_options) -> None:
        super().__init__()
        self.logmel = LogMelSpectrogram(**logmel_options)
        if not 0 < n_mfcc <= self.logmel.n_mels:
            raise ConfigError(f"MFCC: n_mfcc must be in 1..n_mels={self.logmel.n_mels}; got {n_mfcc}")
        if lifter < 0:
            raise ConfigError(f"MFCC: lifter must be >= 0; got {lifter}")
        self.n_mfcc = n_mfcc
        self.register_buffer("dct", dct_matrix(self.logmel.n_mels, n_mfcc).float(), persistent=False)
        weights = torch.ones(n_mfcc, dtype=torch.float64)
        if lifter > 0:
            weights = 1 + (lifter / 2) * torch.sin(math.pi * torch.arange(1, n_mfcc + 1,
                                                                       dtype=torch.float64) / lifter)
        self.register_buffer("lifter_weights", weights.float()[:, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Waveform ``[N, T]`` or ``[N, 1, T]`` -> ``[N, n_mfcc, frames]``."""
        db = self.logmel(x)[:, 0]  # [N, n_mels, frames]
        coeffs = torch.matmul(self.dct.to(db.dtype), db)
        return coeffs * self.lifter_weights.to(db.dtype)

    def stats(self, x: torch.Tensor) -> torch.Tensor:
        """Waveform ``[N, T]`` -> per-clip MFCC mean and std over time ``[N, 2 * n_mfcc]``.

        The fixed-length summary a classical baseline (e.g. logistic regression) uses.
        """
        coeffs = self.forward(x)
        return torch.cat([coeffs.mean(-1), coeffs.std(-1, correction=0)], dim=1)


def _interpolate(values: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``values [N, ..., L]`` read at fractional positions ``source [N, L']`` along the last
    axis (the same positions for every middle index), linearly interpolated; a position
    outside ``[0, L - 1]`` reads 0. Returns ``[N, ..., L']``."""
    length = values.shape[-1]
    low = source.floor().clamp(0, length - 1)
    frac = (source - low).to(values.dtype)
    low_i = low.long()
    high_i = (low_i + 1).clamp(max=length - 1)
    view = [source.shape[0]] + [1] * (values.dim() - 2) + [source.shape[-1]]
    shape = list(values.shape[:-1]) + [source.shape[-1]]
    a = values.gather(-1, low_i.view(view).expand(shape))
    b = values.gather(-1, high_i.view(view).expand(shape))
    outside = ((source < 0) | (source > length - 1)).view(view)
    return torch.lerp(a, b, frac.view(view)).masked_fill(outside, 0.0)


def _uniform_factors(n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
    """``[n]`` factors uniform in ``[low, high]`` from torch's RNG on ``device``."""
    return low + (high - low) * torch.rand(n, device=device)


class SpeedPerturb(nn.Module):
    """Speed perturbation of waveforms ``[N, T]`` / ``[N, 1, T]`` (Ko et al., 2015): each
    clip is played back at a speed uniform in ``[1 - max_change, 1 + max_change]``, which
    shifts its pitch and formants by that factor and changes its tempo by its inverse.

    Resampled about the window's centre by linear interpolation (a centred clip stays
    centred), zeros where the slowed clip leaves the window; the length ``T`` is kept
    (a slowed clip longer than the window loses its ends). Ko et al. draw 0.9, 1.0 or
    1.1 per copy of the data; here every batch draws a fresh factor per clip. Training
    mode only (identity in eval); torch's RNG on the input's device.
    """

    def __init__(self, max_change: float = 0.1) -> None:
        super().__init__()
        if not 0 <= max_change < 1:
            raise ConfigError(f"SpeedPerturb: max_change must be in [0, 1); got {max_change}")
        self.max_change = max_change

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, T]`` or ``[N, 1, T]`` -> the same shape."""
        wave = _waveform_batch(x, type(self).__name__)
        if not self.training or self.max_change == 0:
            return x
        n, t = wave.shape
        speed = _uniform_factors(n, 1 - self.max_change, 1 + self.max_change, x.device)
        centre = (t - 1) / 2
        source = centre + (torch.arange(t, device=x.device, dtype=speed.dtype)[None, :] - centre) * speed[:, None]
        return _interpolate(wave, source).reshape(x.shape)

    def extra_repr(self) -> str:
        return f"max_change={self.max_change}"


class VTLP(nn.Module):
    """Vocal tract length perturbation (Jaitly & Hinton, 2013) of power spectra
    ``[N, frames, F]`` (``F = n_fft // 2 + 1`` bins; :class:`LogMelSpectrogram`'s ``warp``).

    Each clip draws a warp factor ``alpha`` uniform in ``[1 - max_change, 1 + max_change]``
    and its frequency axis is warped piecewise linearly: ``f -> alpha f`` up to
    ``boundary_hz * min(alpha, 1) / alpha``, then the straight line that keeps the Nyquist
    frequency fixed, so a filterbank reads the spectrum at the warped frequencies (a
    shorter or longer vocal tract moves the formants by about that factor). The boundary
    is the paper's 4,800 Hz, at most 0.6 of the Nyquist frequency. Training mode only;
    torch's RNG on the input's device.
    """

    def __init__(self, sample_rate: int, n_fft: int, max_change: float = 0.1,
                 boundary_hz: float = 4800.0) -> None:
        super().__init__()
        if not 0 <= max_change < 1:
            raise ConfigError(f"VTLP: max_change must be in [0, 1); got {max_change}")
        self.sample_rate, self.n_fft, self.max_change = sample_rate, n_fft, max_change
        self.boundary_hz = min(boundary_hz, 0.6 * sample_rate / 2)

    def source_bins(self, alpha: torch.Tensor) -> torch.Tensor:
        """The fractional bin each output bin reads for warp factors ``alpha [N]``: ``[N, F]``."""
        nyquist = self.sample_rate / 2
        freqs = torch.linspace(0, nyquist, self.n_fft // 2 + 1, device=alpha.device, dtype=alpha.dtype)[None, :]
        alpha = alpha[:, None]
        knee = self.boundary_hz * alpha.clamp(max=1) / alpha  # [N, 1]
        upper = nyquist - (nyquist - self.boundary_hz * alpha.clamp(max=1)) / (nyquist - knee) * (nyquist - freqs)
        warped = torch.where(freqs <= knee, freqs * alpha, upper)
        return warped * (self.n_fft / self.sample_rate)

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        """``[N, frames, F]`` -> the same shape, warped in training mode."""
        if not self.training or self.max_change == 0:
            return power
        alpha = _uniform_factors(power.shape[0], 1 - self.max_change, 1 + self.max_change, power.device)
        return _interpolate(power, self.source_bins(alpha.to(torch.float64)).to(power.dtype))

    def extra_repr(self) -> str:
        return f"max_change={self.max_change}, boundary_hz={self.boundary_hz:g}"


class SpectralPitchShift(nn.Module):
    """Pitch shift of power spectra ``[N, frames, F]`` (:class:`LogMelSpectrogram`'s
    ``warp``): each clip draws ``s`` uniform in ``[-semitones, semitones]`` and every
    frequency ``f`` moves to ``f * 2 ** (s / 12)`` (content pushed past the Nyquist
    frequency is dropped, the top of a spectrum shifted down is silent).

    This is what a pitch shift at constant duration (e.g. ``librosa.effects.pitch_shift``:
    a time stretch, then resampling) does to the magnitude spectrum, harmonics and formants
    alike, without the phase vocoder, whose phases a log-mel front end discards. Training
    mode only; torch's RNG on the input's device.
    """

    def __init__(self, semitones: float = 2.0) -> None:
        super().__init__()
        if semitones < 0:
            raise ConfigError(f"SpectralPitchShift: semitones must be >= 0; got {semitones}")
        self.semitones = semitones

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        """``[N, frames, F]`` -> the same shape, shifted in training mode."""
        if not self.training or self.semitones == 0:
            return power
        n, _, bins = power.shape
        shift = _uniform_factors(n, -self.semitones, self.semitones, power.device)
        ratio = torch.pow(2.0, shift / 12.0)[:, None]
        source = torch.arange(bins, device=power.device, dtype=ratio.dtype)[None, :] / ratio
        return _interpolate(power, source.to(power.dtype))

    def extra_repr(self) -> str:
        return f"semitones={self.semitones}"


class CMVN(nn.Module):
    """Per-utterance mean and variance normalisation of spectrograms ``[N, C, F, T]``: each
    clip's every (channel, frequency) row standardised over time (CMVN, as speech front ends
    normalise features per utterance), which removes a fixed per-band gain such as a
    microphone's or a room's response. ``variance=False`` subtracts the mean only (CMN).

    The statistics are those of the utterance's own frames: frames whose every value is
    the clip's minimum (the floor a log-mel gives digital silence, such as the zeros a
    short clip is padded with) are left out of them, so that padding does not move them
    (a clip of nothing but such frames uses all). Rows whose frames all equal become zeros.
    """

    def __init__(self, variance: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.variance, self.eps = variance, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, F, T]`` -> the same shape."""
        if x.dim() != 4:
            raise ShapeError(f"CMVN expects spectrograms [N, C, F, T]; got a tensor of shape {list(x.shape)}")
        floor = x.amin(dim=(1, 2, 3), keepdim=True)
        own = (x > floor).any(dim=(1, 2), keepdim=True)  # [N, 1, 1, T]: frames above the floor somewhere
        own = own | ~own.any(dim=-1, keepdim=True)  # a clip without any: all its frames
        weight = own.to(x.dtype)
        count = weight.sum(-1, keepdim=True)
        mean = (x * weight).sum(-1, keepdim=True) / count
        centred = x - mean
        if not self.variance:
            return centred
        std = ((centred.square() * weight).sum(-1, keepdim=True) / count).sqrt()
        return centred / (std + self.eps)

    def extra_repr(self) -> str:
        return f"variance={self.variance}"


def _interval_mask(size: int, max_width: int, count: int, batch: int,
                   device: torch.device) -> torch.Tensor:
    """``[batch, size]`` bool: the union of ``count`` random intervals per row, each of width
    uniform in ``0..max_width`` at a uniform start (as in SpecAugment)."""
    max_width = min(max_width, size)
    width = (torch.rand(batch, count, device=device) * (max_width + 1)).long()
    start = (torch.rand(batch, count, device=device) * (size - width + 1)).long()
    pos = torch.arange(size, device=device)[None, None, :]
    inside = (pos >= start[..., None]) & (pos < (start + width)[..., None])
    return inside.any(dim=1)


class SpecAugment(nn.Module):
    """Frequency and time masking of spectrograms ``[N, 1, F, T]`` (Park et al., 2019).

    In training mode each example gets ``freq_masks`` bands of up to ``freq_mask_param``
    mel bins and ``time_masks`` spans of up to ``time_mask_param`` frames, drawn from
    torch's RNG on the input's device (so ``torch.manual_seed`` makes it repeatable);
    all examples at once, no loop. Masked cells become ``mask_value`` (``None``: each
    example's own mean, which suits dB values). In eval mode it returns the input as is.
    """

    def __init__(self, freq_mask_param: int = 8, time_mask_param: int = 20, freq_masks: int = 2,
                 time_masks: int = 2, mask_value: float | None = None) -> None:
        super().__init__()
        if min(freq_mask_param, time_mask_param, freq_masks, time_masks) < 0:
            raise ConfigError("SpecAugment: mask parameters and counts must be >= 0; got "
                              f"{freq_mask_param}, {time_mask_param}, {freq_masks}, {time_masks}")
        self.freq_mask_param, self.time_mask_param = freq_mask_param, time_mask_param
        self.freq_masks, self.time_masks, self.mask_value = freq_masks, time_masks, mask_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, F, T]`` -> the same shape, masked in training mode."""
        if x.dim() != 4:
            raise ShapeError(f"SpecAugment expects spectrograms [N, C, F, T]; got a tensor of "
                             f"shape {list(x.shape)}")
        if not self.training:
            return x
        n, _, n_freq, n_time = x.shape
        mask = torch.zeros(n, n_freq, n_time, dtype=torch.bool, device=x.device)
        if self.freq_masks and self.freq_mask_param:
            mask |= _interval_mask(n_freq, self.freq_mask_param, self.freq_masks, n, x.device)[:, :, None]
        if self.time_masks and self.time_mask_param:
            mask |= _interval_mask(n_time, self.time_mask_param, self.time_masks, n, x.device)[:, None, :]
        if self.mask_value is None:
            value = x.mean(dim=(1, 2, 3), keepdim=True)
        else:
            value = torch.full_like(x[:, :1, :1, :1], self.mask_value)
        return torch.where(mask[:, None], value, x)

    def extra_repr(self) -> str:
        return (f"freq_mask_param={self.freq_mask_param}, time_mask_param={self.time_mask_param}, "
                f"freq_masks={self.freq_masks}, time_masks={self.time_masks}")


class RandomGain(nn.Module):
    """Scale each waveform of ``[N, T]`` / ``[N, 1, T]`` by a gain uniform in ``[min_db, max_db]`` dB.

    Training mode only (identity in eval); torch's RNG on the input's device.
    """

    def __init__(self, min_db: float = -6.0, max_db: float = 6.0) -> None:
        super().__init__()
        if min_db > max_db:
            raise ConfigError(f"RandomGain: min_db must be <= max_db; got {min_db} > {max_db}")
        self.min_db, self.max_db = min_db, max_db

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, T]`` or ``[N, 1, T]`` -> the same shape."""
        wave = _waveform_batch(x, type(self).__name__)
        if not self.training:
            return x
        db = self.min_db + (self.max_db - self.min_db) * torch.rand(wave.shape[0], 1,
                                                                    device=x.device, dtype=x.dtype)
        return (wave * 10.0 ** (db / 20.0)).reshape(x.shape)


class RandomTimeShift(nn.Module):
    """Shift each waveform of ``[N, T]`` / ``[N, 1, T]`` by a random whole number of samples.

    The shift is uniform in ``[-max_shift, max_shift]`` where ``max_shift`` is a fraction
    of T (a float < 1) or a number of samples (an int). ``mode="roll"`` wraps around;
    ``mode="zero"`` fills the gap with silence. Training mode only; batched gather.
    """

    def __init__(self, max_shift: float | int = 0.1, mode: str = "zero") -> None:
        super().__init__()
        if mode not in ("roll", "zero"):
            raise ConfigError(f"RandomTimeShift: mode must be 'roll' or 'zero'; got {mode!r}")
        if max_shift < 0:
            raise ConfigError(f"RandomTimeShift: max_shift must be >= 0; got {max_shift}")
        self.max_shift, self.mode = max_shift, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, T]`` or ``[N, 1, T]`` -> the same shape."""
        wave = _waveform_batch(x, type(self).__name__)
        if not self.training:
            return x
        n, t = wave.shape
        limit = int(self.max_shift * t) if isinstance(self.max_shift, float) else int(self.max_shift)
        limit = min(limit, t - 1)
        shift = torch.randint(-limit, limit + 1, (n, 1), device=x.device)
        source = torch.arange(t, device=x.device)[None, :] - shift  # out[i] = in[i - shift]
        out = wave.gather(1, source % t)
        if self.mode == "zero":
            out = out.masked_fill((source < 0) | (source >= t), 0.0)
        return out.reshape(x.shape)


class BackgroundNoise(nn.Module):
    """Mix a random slice of a noise bank into each waveform at a random SNR.

    ``noise`` is a bank ``[M, L]`` (e.g. Speech Commands' ``_background_noise_``, cut into
    rows). For each of the N examples (with probability ``p``) a row and an offset are
    drawn and the slice is scaled so that ``signal RMS / noise RMS`` equals an SNR uniform
    in ``snr_db`` (dB); a silent example gets the noise at its own level. Batched gather;
    training mode only. The bank is a non-persistent buffer (follows ``.to(device)``,
    stays out of checkpoints). Rows shorter than T are tiled.
    """

    def __init__(self, noise: torch.Tensor, snr_db: tuple[float, float] = (0.0, 20.0),
                 p: float = 0.8) -> None:
        super().__init__()
        if noise.dim() != 2 or noise.shape[0] < 1 or noise.shape[1] < 1:
            raise ShapeError(f"BackgroundNoise expects a noise bank [M, L]; got a tensor of "
                             f"shape {list(noise.shape)}")
        if snr_db[0] > snr_db[1] or not 0.0 <= p <= 1.0:
            raise ConfigError(f"BackgroundNoise: need snr_db=(low, high) with low <= high and "
                              f"0 <= p <= 1; got snr_db={snr_db}, p={p}")
        self.snr_db, self.p = (float(snr_db[0]), float(snr_db[1])), p
        self.register_buffer("noise", noise.detach().float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, T]`` or ``[N, 1, T]`` -> the same shape."""
        wave = _waveform_batch(x, type(self).__name__)
        if not self.training:
            return x
        n, t = wave.shape
        bank = self.noise.to(wave.dtype)
        if bank.shape[1] < t:
            bank = bank.repeat(1, math.ceil(t / bank.shape[1]))
        row = torch.randint(0, bank.shape[0], (n,), device=x.device)
        offset = (torch.rand(n, device=x.device) * (bank.shape[1] - t + 1)).long()
        index = offset[:, None] + torch.arange(t, device=x.device)[None, :]
        noise = bank[row[:, None], index]  # [N, T]
        snr = self.snr_db[0] + (self.snr_db[1] - self.snr_db[0]) * torch.rand(n, 1, device=x.device)
        signal_rms = wave.pow(2).mean(1, keepdim=True).sqrt()
        noise_rms = noise.pow(2).mean(1, keepdim=True).sqrt().clamp(min=1e-8)
        target = torch.where(signal_rms > 0, signal_rms / 10.0 ** (snr / 20.0), noise_rms)
        apply = (torch.rand(n, 1, device=x.device) < self.p).to(wave.dtype)
        return (wave + apply * noise * (target / noise_rms)).reshape(x.shape)


def to_mono(wave: Array) -> Array:
    """Average the channels of ``[C, T]`` into ``[T]``; a ``[T]`` waveform is returned as is."""
    if wave.ndim == 1:
        return wave
    if wave.ndim != 2:
        raise ShapeError(f"to_mono expects a waveform [T] or [C, T]; got shape {list(wave.shape)}")
    return wave.mean(0)


def resample(wave: Array, orig_sr: int, target_sr: int) -> Array:
    """Resample ``[..., T]`` from ``orig_sr`` to ``target_sr`` Hz; returns ``[..., T']``.

    Uses soxr (high quality, the resampler librosa itself uses by default): about 3-4x
    faster than ``scipy.signal.resample_poly`` at equal quality. Tensors go through the
    CPU and come back on their device; the same rate returns the input unchanged.
    """
    if orig_sr <= 0 or target_sr <= 0:
        raise ConfigError(f"resample: sample rates must be positive; got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return wave
    if isinstance(wave, torch.Tensor):
        out = resample(wave.detach().cpu().numpy(), orig_sr, target_sr)
        return torch.from_numpy(out).to(device=wave.device, dtype=wave.dtype)
    array = np.asarray(wave)
    dtype = array.dtype if array.dtype in (np.float32, np.float64) else np.float32
    flat = array.reshape(-1, array.shape[-1]).astype(dtype, copy=False)
    out = soxr.resample(np.ascontiguousarray(flat.T), orig_sr, target_sr, quality="HQ").T
    return np.ascontiguousarray(out).reshape(*array.shape[:-1], out.shape[-1])


def pad_or_crop(wave: Array, num_samples: int, random: bool = False,
                rng: np.random.Generator | torch.Generator | None = None) -> Array:
    """Pad with zeros or crop ``[..., T]`` to ``[..., num_samples]``.

    ``random=False`` keeps the clip centred: a long clip loses equal parts at both ends, a
    short one gets equal silence on both sides. ``random=True`` places the crop window
    (or the clip inside the padding) at a uniform random offset, drawn from ``rng``
    (a numpy Generator for arrays, a torch Generator for tensors; ``None``: a fresh one).
    """
    if num_samples <= 0:
        raise ConfigError(f"pad_or_crop: num_samples must be positive; got {num_samples}")
    length = wave.shape[-1]
    extra = abs(length - num_samples)
    if extra == 0:
        return wave
    if not random:
        offset = extra // 2
    elif isinstance(wave, torch.Tensor):
        offset = int(torch.randint(0, extra + 1, (1,), generator=rng).item())
    else:
        offset = int((rng if rng is not None else np.random.default_rng()).integers(0, extra + 1))
    if length > num_samples:
        return wave[..., offset:offset + num_samples]
    if isinstance(wave, torch.Tensor):
        return F.pad(wave, (offset, extra - offset))
    widths = [(0, 0)] * (wave.ndim - 1) + [(offset, extra - offset)]
    return np.pad(wave, widths)
