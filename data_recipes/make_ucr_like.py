"""Make series like the UCR Time Series Anomaly Archive's, to measure detectors on when the archive is absent.

Source:   generated here (no download): what the archive's paper describes (Wu & Keogh,
          "Current Time Series Anomaly Detection Benchmarks are Flawed and are Creating the
          Illusion of Progress", IEEE TKDE 2021): one univariate series per file, a clean
          training part, then exactly one short anomaly after it.
Licence:  the generated files are yours (MIT, like convkit).
Expected: for every base x kind pair (3 x 5 by default) one series of --length steps
          (+-25%), the training part its first ~35%, one anomaly of 8-40 steps placed at
          random after the training part (never within 5% of the end):
            bases  sine   two harmonics of a random period (30-120 steps) plus noise;
                   ecg    heartbeats (P, QRS, T bumps) of a random period (60-160 steps,
                          +-3% jitter per beat) plus noise;
                   walk   a slow random walk plus a daily-like cycle (40-140 steps) plus noise;
            kinds  spike  one to three steps pushed 3-5 standard deviations of the base;
                   shift  the segment moved by 1-1.5 standard deviations of the base;
                   freq   the segment played 1.6-2.2x faster (a faster cycle);
                   flat   the segment held at its first value (a stuck sensor);
                   noise  noise of 0.4-0.6 standard deviations of the base added.
Output:   files named with the archive's convention, 1-based inclusive positions:
              NNN_UCR_Anomaly_<base><kind>_<train end>_<begin>_<end>.txt
          one value a line; then
              python -m convkit.tasks.timeseries train --data OUT
          trains one model over the folder and reports ucr_hit_rate, with a per-series
          ucr_series.csv in the run folder (the model's and every baseline's top step and hit).

Usage:    python data_recipes/make_ucr_like.py --out DIR [--length 4000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

BASES: tuple[str, ...] = ("sine", "ecg", "walk")
"""The normal behaviours (see the module docstring)."""

KINDS: tuple[str, ...] = ("spike", "shift", "freq", "flat", "noise")
"""The anomaly kinds (see the module docstring)."""

TRAIN_SHARE = 0.35
"""The share of each series, from its start, that is the training part."""


def base_series(kind: str, length: int, rng: np.random.Generator) -> np.ndarray:
    """A normal series ``[length]`` of the base ``kind`` (see the module docstring)."""
    t = np.arange(length, dtype=np.float64)
    if kind == "sine":
        period = rng.uniform(30, 120)
        phase = 2 * np.pi * t / period
        values = np.sin(phase) + 0.4 * np.sin(2 * phase + rng.uniform(0, 2 * np.pi))
        return values + 0.05 * rng.standard_normal(length)
    if kind == "ecg":
        period = rng.uniform(60, 160)
        values = np.zeros(length)
        beat = rng.uniform(0, period)
        while beat < length + period:
            for offset, width, height in ((-0.2, 0.04, 0.15), (0.0, 0.012, 1.0), (0.03, 0.015, -0.25),
                                          (0.3, 0.06, 0.3)):
                centre = beat + offset * period
                values += height * np.exp(-0.5 * ((t - centre) / (width * period)) ** 2)
            beat += period * rng.uniform(0.97, 1.03)
        return values + 0.02 * rng.standard_normal(length)
    if kind == "walk":
        period = rng.uniform(40, 140)
        walk = np.cumsum(0.02 * rng.standard_normal(length))
        return walk + np.sin(2 * np.pi * t / period) + 0.1 * rng.standard_normal(length)
    raise ValueError(f"unknown base {kind!r}; expected one of {', '.join(BASES)}")


def implant(values: np.ndarray, kind: str, begin: int, size: int,
            rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    """``values`` with one anomaly of ``kind`` starting at ``begin`` (0-based); returns the
    new values and the anomaly's 0-based inclusive ``(first, last)`` step."""
    out = values.copy()
    scale = float(values.std())
    if kind == "spike":
        size = int(rng.integers(1, 4))
        out[begin:begin + size] += rng.choice([-1, 1]) * rng.uniform(3, 5) * scale
    elif kind == "shift":
        out[begin:begin + size] += rng.choice([-1, 1]) * rng.uniform(1.0, 1.5) * scale
    elif kind == "freq":  # the series from ``begin`` on, played faster, its level kept where it starts
        source = np.minimum(begin + np.arange(size) * rng.uniform(1.6, 2.2), len(values) - 1)
        replay = np.interp(source, np.arange(len(values)), values)
        out[begin:begin + size] = replay - replay[0] + values[begin]
    elif kind == "flat":
        out[begin:begin + size] = out[begin]
    elif kind == "noise":
        out[begin:begin + size] += rng.uniform(0.4, 0.6) * scale * rng.standard_normal(size)
    else:
        raise ValueError(f"unknown anomaly kind {kind!r}; expected one of {', '.join(KINDS)}")
    return out, begin, begin + size - 1


def make_series(base: str, kind: str, length: int, rng: np.random.Generator) -> tuple[np.ndarray, int, int, int]:
    """One archive-like series: ``(values [T], train_end, first, last)`` (0-based, inclusive anomaly)."""
    values = base_series(base, length, rng)
    train_end = int(round(TRAIN_SHARE * length))
    size = int(rng.integers(8, 41))
    begin = int(rng.integers(train_end + length // 10, length - length // 20 - size))
    values, first, last = implant(values, kind, begin, size, rng)
    return values, train_end, first, last


def make_ucr_like(out: str | Path, length: int = 4000, seed: int = 0, bases: tuple[str, ...] = BASES,
                  kinds: tuple[str, ...] = KINDS) -> list[Path]:
    """Write one series per ``bases x kinds`` pair into ``out`` (see the module docstring);
    lengths vary by +-25% around ``length``. Returns the paths, numbered from 001."""
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for number, (base, kind) in enumerate(((b, k) for b in bases for k in kinds), start=1):
        size = int(length * rng.uniform(0.75, 1.25))
        values, train_end, first, last = make_series(base, kind, size, rng)
        # the archive's names are 1-based and inclusive: train end, anomaly begin, anomaly end
        path = out_dir / f"{number:03d}_UCR_Anomaly_{base}{kind}_{train_end}_{first + 1}_{last + 1}.txt"
        path.write_text("\n".join(f"{v:.6g}" for v in values) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write the series into")
    parser.add_argument("--length", type=int, default=4000, help="typical series length (+-25%%)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.length < 400:
        print("error: --length must be at least 400", file=sys.stderr)
        return 2
    paths = make_ucr_like(args.out, args.length, args.seed)
    print(f"wrote {len(paths)} series to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
