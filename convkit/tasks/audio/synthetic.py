"""The embedded default audio data: synthetic sound events, offline and deterministic.

Ten classes that differ in time-frequency STRUCTURE, not in one energy value. Their
frequency ranges overlap, and every clip has a random onset, duration, pitch, level and
a coloured background noise at a random SNR, so a model has to read the shape of the
spectrogram:

- rising and falling chirps sweep the same bands: their time-averaged spectra (what the
  mean and spread of MFCCs over time describe) have the same distribution;
- a steady tone, a tremolo (AM) tone, a vibrato (FM) tone and a rising three-note
  sequence overlap in pitch and differ only in how energy moves in time or frequency;
- a harmonic stack, noise bursts in a low and a high band, and broadband click trains
  overlap the tones' range.

Every class is generated for all its clips at once with numpy in float32 (no loop over
clips), from one seeded ``numpy.random.Generator``. :func:`load_sound_events_dataset`
splits them like on-disk data (``data.py``); large sets are cached
(:func:`cached_sound_events`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from convkit.data.cache import cache_dir
from convkit.data.splits import DEFAULT_FRACTIONS, SPLIT_NAMES, Splits, split_indices
from convkit.errors import ConfigError
from convkit.tasks.audio.data import make_splits

SOURCE = "synthetic sound events"
"""How the generated set is named as a data source (in messages and ``Data.info``)."""

SECONDS = 1.0
"""The generated clips' length when ``data.duration`` is 0 (read from the data)."""

CLASS_NAMES = (
    "chirp_up",       # exponential sweep upwards over 1-2 octaves from 250-1500 Hz
    "chirp_down",     # the same sweeps, downwards
    "tone",           # a steady sine, 250-4000 Hz
    "harmonic",       # a steady stack of 3-8 harmonics on 150-700 Hz
    "tremolo",        # a sine with deep amplitude modulation at 4-12 Hz
    "vibrato",        # a sine with frequency modulation at 4-9 Hz, 1-2.5 semitones deep
    "noise_low",      # band-limited noise burst, band centred on 150-900 Hz
    "noise_high",     # band-limited noise burst, band centred on 1.8-6 kHz
    "click_train",    # short broadband clicks at 6-30 per second
    "steps_up",       # three notes in a row, each 3-7 semitones above the last
)

_F32 = np.float32


def _uniform(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    """``n`` values uniform in [low, high): float32 ``[n, 1]``."""
    return rng.uniform(low, high, n).astype(_F32)[:, None]


def _log_uniform(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    """``n`` values log-uniform in [low, high]: float32 ``[n, 1]``."""
    return np.exp(rng.uniform(np.log(low), np.log(high), n)).astype(_F32)[:, None]


class _Clock:
    """The shared time axis ``t`` float32 ``[1, T]`` (seconds) and the sample rate."""

    def __init__(self, sample_rate: int, num_samples: int) -> None:
        self.sample_rate = sample_rate
        self.duration = num_samples / sample_rate
        self.t = (np.arange(num_samples, dtype=np.float64) / sample_rate).astype(_F32)[None, :]

    def window(self, rng: np.random.Generator, n: int, min_len: float = 0.3,
               max_len: float = 0.8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A random event per clip: onset ``[n, 1]``, length ``[n, 1]`` (s) and its envelope
        ``[n, T]``: 1 inside the event, 15 ms linear ramps, 0 outside."""
        length = _uniform(rng, min_len, min(max_len, self.duration), n)
        onset = _uniform(rng, 0.0, 1.0, n) * (self.duration - length)
        ramp = _F32(1 / 0.015)
        env = np.clip((self.t - onset) * ramp, 0, 1) * np.clip((onset + length - self.t) * ramp, 0, 1)
        return onset, length, env

    def progress(self, onset: np.ndarray, length: np.ndarray) -> np.ndarray:
        """Position inside the event, 0 at its onset to 1 at its end, clipped: ``[n, T]``."""
        return np.clip((self.t - onset) / length, 0.0, 1.0)

    def phase(self, freq: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Instantaneous frequency ``[n, T]`` (Hz) -> phase ``[n, T]`` in [0, 2 pi), random start.

        The running sum of cycles is kept in float64 and only its fraction goes to float32,
        so the phase stays exact over the whole clip.
        """
        cycles = np.cumsum(np.broadcast_to(freq, (freq.shape[0], self.t.shape[1])), axis=1,
                           dtype=np.float64) / self.sample_rate
        cycles += rng.uniform(0, 1, (freq.shape[0], 1))
        return (2 * np.pi * (cycles - np.floor(cycles))).astype(_F32)

    def shaped_noise(self, rng: np.random.Generator, gain: np.ndarray) -> np.ndarray:
        """White noise ``[n, T]`` filtered in the frequency domain by ``gain`` ``[n, T // 2 + 1]``."""
        num_samples = self.t.shape[1]
        white = rng.standard_normal((gain.shape[0], num_samples), dtype=_F32)
        return np.fft.irfft(np.fft.rfft(white, axis=1) * gain, n=num_samples, axis=1).astype(_F32)

    def freqs(self) -> np.ndarray:
        """The rfft bin frequencies ``[1, T // 2 + 1]`` (Hz)."""
        return np.fft.rfftfreq(self.t.shape[1], 1.0 / self.sample_rate).astype(_F32)[None, :]


def _sweep(rng: np.random.Generator, n: int, clock: _Clock, direction: int) -> np.ndarray:
    onset, length, env = clock.window(rng, n)
    low = _log_uniform(rng, 250.0, 1500.0, n)
    octaves = _uniform(rng, 1.0, 2.0, n)
    position = clock.progress(onset, length)
    if direction < 0:
        position = 1.0 - position
    return env * np.sin(clock.phase(low * 2.0 ** (octaves * position), rng))


def _tone(rng: np.random.Generator, n: int, clock: _Clock) -> np.ndarray:
    _, _, env = clock.window(rng, n)
    return env * np.sin(clock.phase(_log_uniform(rng, 250.0, 4000.0, n), rng))


def _harmonic(rng: np.random.Generator, n: int, clock: _Clock) -> np.ndarray:
    _, _, env = clock.window(rng, n)
    f0 = _log_uniform(rng, 150.0, 700.0, n)
    count = rng.integers(3, 9, n)[:, None]
    phase = clock.phase(f0, rng)
    wave = np.zeros_like(phase)
    for k in range(1, 9):  # 8 partials at most: a loop over harmonics, not over clips
        weight = ((count >= k) & (f0 * k < clock.sample_rate / 2 - 200)).astype(_F32) / k
        wave += weight * np.sin(k * phase)
    return env * wave


def _tremolo(rng: np.random.Generator, n: int, clock: _Clock) -> np.ndarray:
    _, _, env = clock.window(rng, n, min_len=0.4)
    carrier = np.sin(clock.phase(_log_uniform(rng, 250.0, 4000.0, n), rng))
    rate, depth = _uniform(rng, 4.0, 12.0, n), _uniform(rng, 0.7, 1.0, n)
    lfo = np.sin(2 * np.pi * rate * clock.t + _uniform(rng, 0, 2 * np.pi, n))
    return env * (1.0 - depth * 0.5 * (1.0 + lfo)) * carrier


def _vibrato(rng: np.random.Generator, n: int, clock: _Clock) -> np.ndarray:
    _, _, env = clock.window(rng, n, min_len=0.4)
    centre = _log_uniform(rng, 400.0, 3500.0, n)
    rate, semitones = _uniform(rng, 4.0, 9.0, n), _uniform(rng, 1.0, 2.5, n)
    lfo = np.sin(2 * np.pi * rate * clock.t + _uniform(rng, 0, 2 * np.pi, n))
    return env * np.sin(clock.phase(centre * 2.0 ** (semitones / 12.0 * lfo), rng))


def _noise_band(rng: np.random.Generator, n: int, clock: _Clock, low: float, high: float) -> np.ndarray:
    _, _, env = clock.window(rng, n, min_len=0.15, max_len=0.6)
    centre = _log_uniform(rng, low, high, n)
    half_width = _uniform(rng, 0.25, 0.6, n)  # octaves either side of the centre
    distance = np.abs(np.log2(np.maximum(clock.freqs(), 1.0) / centre))
    gain = np.clip(1.0 - (distance - half_width) / 0.15, 0.0, 1.0)  # flat band, soft edges
    return env * clock.shaped_noise(rng, gain)


def _click_train(rng: np.random.Generator, n: int, clock: _Clock) -> np.ndarray:
    onset, _, env = clock.window(rng, n, min_len=0.4)
    rate = _uniform(rng, 6.0, 30.0, n)
    periods = (clock.t - onset) * rate  # a click at every whole period after the onset
    since_click = (periods - np.floor(periods)) / rate  # seconds
    decay = _uniform(rng, 0.0008, 0.003, n)
    clicks = np.exp(-since_click / decay) * (periods >= 0)
    return env * clicks * rng.standard_normal(clicks.shape, dtype=_F32)


def _steps_up(rng: np.random.Generator, n: int, clock: _Clock) -> np.ndarray:
    onset, length, env = clock.window(rng, n, min_len=0.45)
    start = _log_uniform(rng, 300.0, 2000.0, n)
    step = _uniform(rng, 3.0, 7.0, n)  # semitones per note
    note = np.minimum(np.floor(clock.progress(onset, length) * 3.0), 2.0)
    return env * np.sin(clock.phase(start * 2.0 ** (step * note / 12.0), rng))


_GENERATORS = (
    lambda rng, n, clock: _sweep(rng, n, clock, +1),
    lambda rng, n, clock: _sweep(rng, n, clock, -1),
    _tone,
    _harmonic,
    _tremolo,
    _vibrato,
    lambda rng, n, clock: _noise_band(rng, n, clock, 150.0, 900.0),
    lambda rng, n, clock: _noise_band(rng, n, clock, 1800.0, 6000.0),
    _click_train,
    _steps_up,
)


def _background(rng: np.random.Generator, n: int, clock: _Clock) -> np.ndarray:
    """Coloured noise ``[n, T]`` at unit RMS, spectral slope between white and beyond pink."""
    alpha = _uniform(rng, 0.0, 1.2, n)
    noise = clock.shaped_noise(rng, np.maximum(clock.freqs(), 20.0) ** (-alpha / 2))
    return noise / np.sqrt(np.mean(noise ** 2, axis=1, keepdims=True))


def make_sound_events(n_per_class: int, sample_rate: int = 16000, duration: float = 1.0,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Generate ``n_per_class`` clips of each of the ten sound-event classes.

    Returns ``(waves, labels, class_names)``: waves float32 ``[N, T]`` with
    ``N = 10 * n_per_class`` and ``T = round(sample_rate * duration)``, peak at most 1;
    labels int64 ``[N]`` indexing ``class_names`` (``CLASS_NAMES``), in class order.
    Deterministic for a given seed. Each clip: one event (random onset, 0.15-0.8 s long,
    random pitch or band) at unit RMS inside the event, coloured background noise at an
    SNR uniform in 3-20 dB, then scaled to a random peak level between -30 and -3 dBFS.
    """
    if not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise ConfigError(f"make_sound_events: n_per_class must be a whole number >= 1; got {n_per_class!r}")
    if sample_rate < 8000 or duration < 0.5:
        raise ConfigError("make_sound_events: need sample_rate >= 8000 Hz and duration >= 0.5 s; "
                          f"got {sample_rate}, {duration}")
    rng = np.random.default_rng(seed)
    clock = _Clock(sample_rate, int(round(sample_rate * duration)))
    waves = []
    for make in _GENERATORS:
        event = make(rng, n_per_class, clock)
        active = np.count_nonzero(event, axis=1)[:, None]
        event /= np.sqrt(np.maximum(np.sum(event ** 2, axis=1, keepdims=True) / np.maximum(active, 1), 1e-12))
        snr_db = _uniform(rng, 3.0, 20.0, n_per_class)
        clip = event + _background(rng, n_per_class, clock) * 10 ** (-snr_db / 20)
        level_db = _uniform(rng, -30.0, -3.0, n_per_class)
        clip *= 10 ** (level_db / 20) / np.max(np.abs(clip), axis=1, keepdims=True)
        waves.append(clip.astype(_F32))
    labels = np.repeat(np.arange(len(CLASS_NAMES), dtype=np.int64), n_per_class)
    return np.concatenate(waves), labels, list(CLASS_NAMES)


# --------------------------------------------------------------------------- the default dataset


CACHE_MIN_SAMPLES = 10_000_000
"""Generated sets of at least this many samples in all (625 one-second clips at 16 kHz)
are cached; smaller ones are made faster than they are read."""


def sound_events_cache_file(n_per_class: int, sample_rate: int, duration: float, seed: int) -> Path:
    """Where ``make_sound_events(n_per_class, sample_rate, duration, seed)`` is cached:
    ``sound_events/<key>.npy`` in convkit's cache folder (:func:`convkit.data.cache.cache_dir`,
    never next to any data). The key hashes the arguments and this module's source, so a
    changed generator never reads an old file."""
    source = Path(make_sound_events.__code__.co_filename).read_bytes()
    key = hashlib.sha256(repr((n_per_class, sample_rate, float(duration), seed)).encode() + source).hexdigest()[:24]
    return cache_dir("sound_events", f"{key}.npy")


def cached_sound_events(n_per_class: int, sample_rate: int, duration: float,
                        seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``make_sound_events``' result, read from :func:`sound_events_cache_file` when a
    run made it before (the waves only: labels and names are known). Large sets only
    (:data:`CACHE_MIN_SAMPLES`); a cache that cannot be written is skipped silently."""
    num_samples = int(round(sample_rate * duration))
    labels = np.repeat(np.arange(len(CLASS_NAMES), dtype=np.int64), n_per_class)
    if len(labels) * num_samples < CACHE_MIN_SAMPLES:
        return make_sound_events(n_per_class, sample_rate, duration, seed)
    file = sound_events_cache_file(n_per_class, sample_rate, duration, seed)
    try:
        waves = np.load(file)
        if waves.shape == (len(labels), num_samples) and waves.dtype == np.float32:
            return waves, labels, list(CLASS_NAMES)
    except (OSError, ValueError):
        pass
    waves, labels, names = make_sound_events(n_per_class, sample_rate, duration, seed)
    temporary = None
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=file.parent, suffix=".tmp", delete=False) as tmp:
            temporary = tmp.name
            np.save(tmp, waves)
        os.replace(temporary, file)  # atomic: a reader sees the old file or the whole new one
    except OSError:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    return waves, labels, names


def load_sound_events_dataset(n_per_class: int = 300, sample_rate: int = 16000,
                              duration: float = 1.0, seed: int = 0) -> Splits:
    """The embedded default: ``make_sound_events`` clips in a seeded stratified 80/10/10 split.

    Waves ``[N, T]`` with ``T = sample_rate * duration``; ten classes; no noise bank.
    Large sets come from the cache of an earlier run (:func:`cached_sound_events`).
    """
    waves, labels, names = cached_sound_events(n_per_class, sample_rate, duration, seed)
    parts = split_indices(labels, DEFAULT_FRACTIONS, seed)
    data = {name: (torch.from_numpy(waves[idx]), labels[idx]) for name, idx in zip(SPLIT_NAMES, parts)}
    return make_splits(data, names, None, SOURCE)
