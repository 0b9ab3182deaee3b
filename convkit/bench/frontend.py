"""The log-mel front end against librosa, the reference it matches: the same clips, the
audio task's own STFT and mel settings, timed per clip in a loop and as one batched call,
with the largest difference between the two outputs.

    results["frontend"] = run_frontend("default")   # 256 one-second clips

librosa per clip is ``power_to_db(melspectrogram(y=clip, ...), ref=1.0, top_db=80)``;
over the batch it is one ``melspectrogram(y=waves [N, T])`` then ``power_to_db`` per clip
(its ``top_db`` acts per clip, as the front end's does). Both sides run on the CPU with the
threads the bench set. Each figure is the best of a few rounds (the rounds alternate the
two sides, so a busy neighbour slows both alike).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch

CLIPS = {"smoke": 32, "default": 256, "full": 256}
"""One-second clips compared, by profile."""

ROUNDS = {"smoke": 1, "default": 3, "full": 5}
"""Timed rounds per figure (the best is kept), by profile."""

TARGETS = {"loop": 4.0, "batch": 2.0}
"""Speed-ups over librosa the front end should reach (issue 15)."""


def audio_settings() -> dict:
    """The audio task's default log-mel settings (``sample_rate``, ``n_fft``, ``hop_length``,
    ``n_mels``), read from its config: the bench holds no copy of them."""
    from convkit.tasks.audio.task import AudioRunConfig, AudioTask

    front = AudioTask.logmel(AudioRunConfig())
    return dict(sample_rate=front.sample_rate, n_fft=front.n_fft, hop_length=front.hop_length, n_mels=front.n_mels)


def clips(count: int, sample_rate: int, seed: int = 0) -> np.ndarray:
    """``count`` one-second synthetic sound events float32 ``[count, sample_rate]`` (the
    audio task's embedded data: tones, sweeps, noise bursts at -30 to -3 dBFS)."""
    from convkit.tasks.audio.synthetic import make_sound_events

    waves, _, _ = make_sound_events(-(-count // 10), sample_rate, 1.0, seed)
    order = np.random.default_rng(seed).permutation(len(waves))[:count]  # every class, shuffled
    return np.ascontiguousarray(waves[order])


def librosa_log_mel(waves: np.ndarray, settings: dict) -> np.ndarray:
    """librosa's log-mel of ``waves [N, T]`` in one batched call: ``[N, n_mels, frames]`` dB."""
    import librosa

    mel = librosa.feature.melspectrogram(y=waves, sr=settings["sample_rate"], n_fft=settings["n_fft"],
                                         hop_length=settings["hop_length"], n_mels=settings["n_mels"])
    return np.stack([librosa.power_to_db(m, ref=1.0, amin=1e-10, top_db=80.0) for m in mel])


def _seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_frontend(profile: str = "default", count: int | None = None, rounds: int | None = None) -> dict:
    """Time the front end and librosa on ``count`` clips (by ``profile`` when None).

    Returns:
        ``{"clips", "settings", "threads", "loop": {"convkit_s", "librosa_s", "speedup"},
        "batch": {...}, "max_abs_db", "max_rel_power", "targets"}``: seconds for all clips,
        speed-up = librosa's time over the front end's; ``max_abs_db`` the largest
        difference in dB over every cell, ``max_rel_power`` the largest relative difference
        of the mel power over the cells within 80 dB of their clip's peak (below, both
        sides sit at the clip's ``top_db`` floor).
    """
    import librosa

    from convkit.nn.audio import LogMelSpectrogram

    count = count or CLIPS.get(profile, 256)
    rounds = rounds or ROUNDS.get(profile, 3)
    settings = audio_settings()
    waves = clips(count, settings["sample_rate"])
    batch = torch.from_numpy(waves)
    front = LogMelSpectrogram(**settings).eval()
    power = LogMelSpectrogram(**settings, log=False).eval()

    def librosa_loop() -> list[np.ndarray]:
        return [librosa_log_mel(w[None], settings)[0] for w in waves]

    with torch.inference_mode():
        ours = front(batch)[:, 0].numpy()
        ref = librosa_log_mel(waves, settings)
        ours_power = power(batch)[:, 0].double().numpy()
        ref_power = librosa.feature.melspectrogram(y=waves.astype(np.float64), sr=settings["sample_rate"],
                                                   n_fft=settings["n_fft"], hop_length=settings["hop_length"],
                                                   n_mels=settings["n_mels"])
        timings: dict[str, float] = {}
        for _ in range(rounds):  # alternate the sides round by round
            for name, fn in (("convkit_loop", lambda: [front(batch[i:i + 1]) for i in range(count)]),
                             ("librosa_loop", librosa_loop),
                             ("convkit_batch", lambda: front(batch)),
                             ("librosa_batch", lambda: librosa_log_mel(waves, settings))):
                timings[name] = min(timings.get(name, float("inf")), _seconds(fn))
    loud = ref_power >= ref_power.max(axis=(1, 2), keepdims=True) * 1e-8
    relative = np.abs(ours_power - ref_power) / np.maximum(ref_power, 1e-30)
    return {"clips": count, "seconds_per_clip": 1.0, "settings": settings, "threads": torch.get_num_threads(),
            "librosa": librosa.__version__, "rounds": rounds,
            "loop": _pair(timings["convkit_loop"], timings["librosa_loop"]),
            "batch": _pair(timings["convkit_batch"], timings["librosa_batch"]),
            "max_abs_db": float(np.abs(ours - ref).max()), "max_rel_power": float(relative[loud].max()),
            "targets": dict(TARGETS)}


def _pair(ours: float, librosa_s: float) -> dict:
    return {"convkit_s": round(ours, 5), "librosa_s": round(librosa_s, 5), "speedup": round(librosa_s / ours, 3)}


def summary(result: dict) -> str:
    """One line: the two speed-ups against their targets and the largest differences."""
    loop, batch = result["loop"], result["batch"]
    return (f"log-mel front end vs librosa {result['librosa']} on {result['clips']} x 1 s clips: per-clip loop "
            f"{loop['speedup']:.2f}x (target {result['targets']['loop']:g}x), one batched call "
            f"{batch['speedup']:.2f}x (target {result['targets']['batch']:g}x); max |diff| "
            f"{result['max_abs_db']:.2e} dB, max relative mel-power diff {result['max_rel_power']:.2e}")


def section(profile: str) -> dict:
    """``results.json``'s ``frontend`` entry for ``profile``: :func:`run_frontend`'s result,
    or ``{"error": "<Type>: <message>"}`` when it could not run (the suite goes on)."""
    try:
        return run_frontend(profile)
    except Exception as err:  # noqa: BLE001 - reported in the results, the suite goes on
        text = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return {"error": f"{type(err).__name__}: {text}"[:300]}
