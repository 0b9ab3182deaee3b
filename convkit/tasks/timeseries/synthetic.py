"""The embedded defaults of time series, offline and deterministic by seed: the sensor series
of anomaly mode (:func:`make_sensor_series`) and the waveforms of classify mode
(:func:`make_shape_series`).

Sensor series: multivariate sensor-like data with labelled anomalies. Each channel mixes
shared latent factors (a daily profile with an evening peak, a weekly cycle, a slow shared
wander), so channels are correlated, plus its own fast cycle, a slow trend and noise; then
anomalies of six kinds are injected after the training part, which stays clean.
Everything is vectorised numpy over the whole series.

One sample every 15 minutes: a day is :data:`STEPS_PER_DAY` = 96 steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convkit.tasks.timeseries.data import ClassificationData, SeriesData
from convkit.errors import ConfigError

ANOMALY_KINDS: tuple[str, ...] = (
    "spike",
    "level_shift",
    "frequency_change",
    "flatline",
    "noise_burst",
    "contextual",
)
"""Every kind the generator injects, in a fixed order."""

STEPS_PER_DAY = 96
"""Samples per day (one every 15 minutes)."""

STEP = np.timedelta64(15, "m")
"""Time between samples."""

START_TIME = np.datetime64("2024-01-01T00:00", "ns")
"""Timestamp of the first sample."""

PEAK_PHASE = 0.8
"""Where in the day (0..1) the daily peak normally falls (about 19:00)."""

CONTEXTUAL_PEAK_PHASE = 0.2
"""Where the peak falls on a contextual-anomaly day (about 05:00): the daily base level there equals
the one at :data:`PEAK_PHASE`, so the peak reaches its usual height, at the wrong time."""

PEAK_WIDTH = 0.03
"""Width (standard deviation, in days) of the daily peak."""

PEAK_JITTER = 0.02
"""Each channel's peak falls up to this much (in days) before or after :data:`PEAK_PHASE`."""

FAST_PERIOD = 12
"""Period in steps of each channel's own fast cycle (3 hours)."""

_NOMINAL_DURATION = {  # anomaly length in steps before fitting to the slot
    "spike": 3,
    "level_shift": 200,
    "frequency_change": 2 * STEPS_PER_DAY,
    "flatline": 120,
    "noise_burst": 100,
    "contextual": STEPS_PER_DAY,
}
_MIN_SLOT = STEPS_PER_DAY + 64  # a contextual day plus margins must fit into each anomaly's slot
_PEAK_REACH = 3 * PEAK_WIDTH + PEAK_JITTER  # days either side of a peak that are labelled with it


def min_sensor_length(train_fraction: float = 0.5, anomaly_kinds: Sequence[str] = ANOMALY_KINDS,
                      rounds: int | None = None) -> int:
    """The shortest ``length`` :func:`make_sensor_series` makes with these settings: every
    anomaly (``rounds`` rounds of ``anomaly_kinds``; by default 2 rounds, which is what a
    series this short gets) needs a slot of at least ``STEPS_PER_DAY + 64`` steps after
    the training part."""
    need = (2 if rounds is None else rounds) * len(anomaly_kinds) * _MIN_SLOT  # steps after training
    length = int(np.ceil(need / (1.0 - train_fraction)))
    while length - int(round(train_fraction * length)) < need:
        length += 1
    while length > 1 and (length - 1) - int(round(train_fraction * (length - 1))) >= need:
        length -= 1
    return length


def sensor_channel_names(channels: int) -> list[str]:
    """The channel names of a sensor series of ``channels`` channels: ``sensor_0``, ``sensor_1``, ..."""
    return [f"sensor_{c}" for c in range(channels)]


def make_sensor_series(
    length: int = 20000,
    channels: int = 4,
    seed: int = 0,
    train_fraction: float = 0.5,
    anomaly_kinds: Sequence[str] = ANOMALY_KINDS,
    rounds: int | None = None,
) -> SeriesData:
    """Generate one labelled multivariate sensor series.

    The part after ``train_end = round(train_fraction * length)`` holds ``rounds``
    rounds of anomalies; each round holds every kind in ``anomaly_kinds`` once, in a
    seeded random order, each in its own slot of equal size. The default number of
    rounds is even (2 per 10 000 post-training steps, at least 2), so splitting the
    post-training part in half gives validation and test parts that both hold every kind.

    Kinds: ``spike`` (1-3 steps, 4-7 channel std), ``level_shift`` (1.5-2.5 std on
    1-2 channels), ``frequency_change`` (the daily cycle runs 3x faster on one
    channel), ``flatline`` (a stuck sensor repeats its value), ``noise_burst`` (noise
    6-10x the channel's own), ``contextual`` (the daily peak comes before dawn on
    every channel: each value is normal, its time is not; labelled where the peak
    appears and where it is missing).

    Returns:
        SeriesData with values float32 ``[T, C]``, labels int64 ``[T]``, timestamps
        datetime64[ns] ``[T]``, channel names ``sensor_0..``, ``train_end``, and
        ``kinds``: the anomaly segments ``(start, end, kind)`` sorted by start, ``end`` exclusive.
    """
    length, channels = int(length), int(channels)
    if channels < 1:
        raise ConfigError(f"channels must be at least 1; got {channels}")
    if not 0.0 < train_fraction < 1.0:
        raise ConfigError(f"train_fraction must lie strictly between 0 and 1; got {train_fraction}")
    kinds = list(anomaly_kinds)
    unknown = [k for k in kinds if k not in ANOMALY_KINDS]
    if unknown or not kinds:
        raise ConfigError(f"anomaly kinds must be a non-empty subset of {list(ANOMALY_KINDS)}; got {kinds}")
    train_end = int(round(train_fraction * length))
    tail = length - train_end
    if rounds is None:
        rounds = 2 * max(1, tail // 10000)
    if rounds < 1:
        raise ConfigError(f"rounds must be at least 1; got {rounds}")
    slot = tail // (rounds * len(kinds))
    if slot < _MIN_SLOT:
        raise ConfigError(
            f"length={length} leaves {tail} steps after training for {rounds * len(kinds)} anomalies of at "
            f"least {_MIN_SLOT} steps each; use length >= {min_sensor_length(train_fraction, kinds, rounds)} "
            "or fewer rounds/kinds"
        )

    rng = np.random.default_rng(seed)
    plan = _plan_anomalies(rng, kinds, rounds, train_end, slot, channels)
    values, noise = _clean_series(rng, length, channels, plan, train_end)
    _inject(rng, values, noise, plan, train_end)

    labels = np.zeros(length, dtype=np.int64)
    segments: list[tuple[int, int, str]] = []
    for anomaly in plan:
        for start, end in anomaly["labelled"]:
            labels[start:end] = 1
            segments.append((start, end, anomaly["kind"]))
    return SeriesData(
        values=values.astype(np.float32),
        labels=labels,
        timestamps=START_TIME + np.arange(length) * STEP.astype("timedelta64[ns]"),
        channel_names=sensor_channel_names(channels),
        train_end=train_end,
        name="synthetic_sensors",
        kinds=sorted(segments),
    )


def _plan_anomalies(
    rng: np.random.Generator, kinds: list[str], rounds: int, train_end: int, slot: int, channels: int
) -> list[dict]:
    """Where each anomaly goes: kind, [start, end), channels, labelled segments."""
    plan = []
    order = [k for _ in range(rounds) for k in rng.permutation(kinds).tolist()]
    margin = slot // 8
    for i, kind in enumerate(order):
        lo, hi = train_end + i * slot + margin, train_end + (i + 1) * slot - margin
        if kind == "contextual":
            start = _contextual_start(rng, lo, hi)
            end = start + STEPS_PER_DAY
            labelled = [(start + first, start + last) for first, last in _peak_spans(start)]
            chosen = np.arange(channels)
        else:
            nominal = _NOMINAL_DURATION[kind]
            shortest = 1 if kind == "spike" else nominal * 3 // 4
            duration = int(rng.integers(shortest, nominal + 1))
            duration = min(duration, hi - lo)
            start = int(rng.integers(lo, hi - duration + 1))
            end = start + duration
            labelled = [(start, end)]
            n_chosen = int(rng.integers(1, min(2, channels) + 1)) if kind == "level_shift" else 1
            chosen = np.sort(rng.choice(channels, size=n_chosen, replace=False))
        plan.append({"kind": kind, "start": start, "end": end, "channels": chosen, "labelled": labelled})
    return plan


def _peak_spans(start: int) -> list[tuple[int, int]]:
    """Where a contextual day starting at step ``start`` is labelled, as ``[first, last)``
    offsets into the day: around the early peak it gains and the evening peak it loses."""
    phase = (start % STEPS_PER_DAY) / STEPS_PER_DAY
    spans = []
    for peak in (CONTEXTUAL_PEAK_PHASE, PEAK_PHASE):
        at = (peak - phase) % 1.0  # days from the start to the peak
        spans.append((int(np.floor((at - _PEAK_REACH) * STEPS_PER_DAY)),
                      int(np.ceil((at + _PEAK_REACH) * STEPS_PER_DAY))))
    return spans


def _contextual_start(rng: np.random.Generator, lo: int, hi: int) -> int:
    """The first step of a contextual day inside ``[lo, hi)``: a midnight where one fits;
    else (a short slot) any step whose day holds both peaks' labelled spans whole, so the
    shifted peak never starts or ends inside a peak."""
    first_day = -(-lo // STEPS_PER_DAY)
    last_day = (hi - STEPS_PER_DAY) // STEPS_PER_DAY
    if first_day <= last_day:
        return int(rng.integers(first_day, last_day + 1)) * STEPS_PER_DAY
    fits = [s for s in range(lo, hi - STEPS_PER_DAY + 1)
            if all(0 <= first and last <= STEPS_PER_DAY for first, last in _peak_spans(s))]
    if not fits:  # _MIN_SLOT leaves room for one: the labelled spans are a fifth of a day each
        raise ValueError(f"no contextual day fits steps [{lo}, {hi})")
    return int(rng.choice(fits))


def _daily_profile(phase: np.ndarray, peak: np.ndarray) -> np.ndarray:
    """Low at night, high by day, with a sharp peak at ``peak``; ``phase`` in days (any real), same shape."""
    distance = (phase - peak + 0.5) % 1.0 - 0.5
    return -0.7 * np.cos(2 * np.pi * phase) + 1.2 * np.exp(-0.5 * (distance / PEAK_WIDTH) ** 2)


def _clean_series(
    rng: np.random.Generator, length: int, channels: int, plan: list[dict], train_end: int
) -> tuple[np.ndarray, np.ndarray]:
    """The series before additive anomalies, float64 ``[T, C]`` (frequency and contextual anomalies
    built in), and each channel's noise level ``[C]`` in output units."""
    t = np.arange(length)
    phase = np.repeat((t / STEPS_PER_DAY)[:, None], channels, axis=1)  # [T, C], in days
    peak = np.repeat((PEAK_PHASE + rng.uniform(-PEAK_JITTER, PEAK_JITTER, channels))[None, :], length, axis=0)
    for anomaly in plan:
        s, e = anomaly["start"], anomaly["end"]
        if anomaly["kind"] == "frequency_change":
            c = anomaly["channels"][0]
            phase[s:e, c] = s / STEPS_PER_DAY + 3.0 * (t[s:e] - s) / STEPS_PER_DAY
        elif anomaly["kind"] == "contextual":
            peak[s:e, :] += CONTEXTUAL_PEAK_PHASE - PEAK_PHASE

    daily = _daily_profile(phase, peak)  # [T, C]
    weekly = 0.4 * np.sin(2 * np.pi * t / (7 * STEPS_PER_DAY))  # [T]
    from scipy.signal import lfilter  # on use: importing the task stays light

    wander = lfilter([1.0], [1.0, -0.995], rng.normal(0.0, 0.015, length))  # shared slow AR(1), [T]
    wander -= wander[:train_end].mean()

    w_daily = rng.uniform(0.7, 1.2, channels)
    w_weekly = rng.uniform(0.3, 1.0, channels)
    w_wander = rng.uniform(0.5, 1.0, channels)
    fast_amp = rng.uniform(0.05, 0.15, channels)
    fast_phase = rng.uniform(0, 2 * np.pi, channels)
    trend = rng.uniform(-0.4, 0.4, channels)  # change over the whole series
    noise_std = rng.uniform(0.04, 0.08, channels)
    offset = rng.uniform(-5.0, 25.0, channels)
    scale = rng.uniform(0.5, 4.0, channels)

    signal = (
        w_daily * daily
        + w_weekly * weekly[:, None]
        + w_wander * wander[:, None]
        + fast_amp * np.sin(2 * np.pi * t[:, None] / FAST_PERIOD + fast_phase)
        + trend * (t[:, None] / length)
        + noise_std * rng.standard_normal((length, channels))
    )
    return offset + scale * signal, noise_std * scale


def _inject(
    rng: np.random.Generator, values: np.ndarray, noise: np.ndarray, plan: list[dict], train_end: int
) -> None:
    """Add spikes, level shifts, noise bursts and flat-lines to ``values [T, C]`` in place;
    ``noise [C]`` is each channel's own noise level."""
    channel_std = values[:train_end].std(axis=0)
    for anomaly in plan:
        s, e, chosen, kind = anomaly["start"], anomaly["end"], anomaly["channels"], anomaly["kind"]
        sign = rng.choice([-1.0, 1.0], size=len(chosen))
        if kind == "spike":
            values[s:e, chosen] += sign * rng.uniform(4.0, 7.0, len(chosen)) * channel_std[chosen]
        elif kind == "level_shift":
            values[s:e, chosen] += sign * rng.uniform(1.5, 2.5, len(chosen)) * channel_std[chosen]
        elif kind == "noise_burst":
            burst = rng.uniform(6.0, 10.0, len(chosen)) * noise[chosen]
            values[s:e, chosen] += burst * rng.standard_normal((e - s, len(chosen)))
        elif kind == "flatline":
            values[s:e, chosen] = values[s, chosen]


# ----------------------------------------------------------------------------- classify mode's waveforms


SHAPES: tuple[str, ...] = ("sine", "square", "sawtooth", "bump")
"""The classes of the embedded waveforms, in label order."""

SHAPE_LENGTH = 128
"""The length of each embedded waveform (what classify mode's input declares without making them)."""


def make_shape_series(n: int = 600, length: int = SHAPE_LENGTH, seed: int = 0,
                      noise: float = 0.3) -> ClassificationData:
    """``n`` univariate series ``[n, 1, length]`` of the four :data:`SHAPES` (balanced, shuffled).

    Waveforms have 2-6 periods per series, a random phase, amplitude 0.5-2 and offset
    in [-1, 1]; the bump class is Gaussian noise plus one bump (width 3-8% of the series)
    at a random place. ``noise`` is the standard deviation of the added white noise.
    """
    if n < len(SHAPES) or length < 16:
        raise ConfigError(f"shape series need n >= {len(SHAPES)} and length >= 16; got n={n}, length={length}")
    from scipy import signal

    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(SHAPES))
    t = np.linspace(0.0, 1.0, length, endpoint=False)[None, :]
    periods = rng.uniform(2.0, 6.0, (n, 1))
    phase = 2 * np.pi * (periods * t + rng.uniform(0, 1, (n, 1)))
    amplitude = rng.uniform(0.5, 2.0, (n, 1))
    wave = np.select([y[:, None] == 0, y[:, None] == 1, y[:, None] == 2],
                     [np.sin(phase), signal.square(phase), signal.sawtooth(phase)], default=0.0)
    centre, width = rng.uniform(0.1, 0.9, (n, 1)), rng.uniform(0.03, 0.08, (n, 1))
    bump = 2.5 * np.exp(-0.5 * ((t - centre) / width) ** 2)
    wave = np.where(y[:, None] == 3, bump, wave)
    x = amplitude * wave + rng.uniform(-1, 1, (n, 1)) + noise * rng.standard_normal((n, length))
    return ClassificationData(X=x[:, None, :].astype(np.float32), y=y.astype(np.int64),
                              class_names=list(SHAPES), name="shapes")
