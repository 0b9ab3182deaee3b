"""Data larger than memory, measured (issue 26): the image task on class folders of
generated PNGs, read lazily (``convkit.data.lazy``) and, for the smaller sets, in memory::

    results["data"] = run_data("default")

Per set size (``SIZES``; PNGs made in a temporary folder, removed afterwards):

* **peak RSS** of a training process (a fresh Python process training one epoch of the
  default model, ``lenet5``, at the task's defaults but ``train.baselines=false``; the
  pixel baselines decode up to ``task.baseline_max_train`` images, which is a baseline's
  memory, not the loader's): its resident-set high-water mark (``ru_maxrss``) with the
  images decoded per batch (the default) and with ``data.in_memory=true`` (the old path,
  up to ``IN_MEMORY_UP_TO`` images);
* on the smallest set, in this process: **loader throughput**, samples per second of the
  training split's DataLoader alone (batch 32) with 0, 1 and 2 workers, and the **fraction
  of step time waiting** for the next batch in a loop of the engine's ``train_step`` at the
  default settings (``train.num_workers=0``) and with 2 workers, for ``lenet5`` (the
  default) and ``resnet18``.

The PNGs are 64 x 64 RGB (a class's colour gradient and noise), ``CLASSES`` classes.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES: dict[str, tuple[int, ...]] = {"smoke": (300, 1200), "default": (10_000, 40_000),
                                     "full": (10_000, 40_000, 100_000)}
"""The numbers of PNGs per profile."""

IN_MEMORY_UP_TO = 40_000
"""The largest set also trained with ``data.in_memory=true`` (it decodes every image first)."""

CLASSES = 10
"""Classes (class folders) of a generated set."""

IMAGE_SIZE = 64
"""Side of the generated PNGs (the task resizes to its ``data.image_size``, 32)."""

WORKERS = (0, 1, 2)
"""Loader worker counts whose throughput is measured."""


def make_pngs(root: str | Path, count: int, seed: int = 0) -> Path:
    """``count`` PNGs ``IMAGE_SIZE x IMAGE_SIZE`` RGB in ``CLASSES`` class folders under
    ``root`` (``c0/000000.png``, ...): a per-class colour gradient and uniform noise."""
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, IMAGE_SIZE, dtype=np.float32)
    for c in range(CLASSES):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        c = i % CLASSES
        angle = 2 * np.pi * c / CLASSES
        base = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
        colour = np.array([c / CLASSES, 1 - c / CLASSES, 0.5], dtype=np.float32)
        pixels = 0.6 * base[..., None] * colour + 0.4 * rng.random((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.float32)
        Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(root / f"c{c}" / f"{i:06d}.png")
    return root


def train_peak_rss(folder: Path, in_memory: bool, cache: Path, model: str = "lenet5") -> dict:
    """Train one epoch on ``folder`` in a fresh process (one thread, the precision and
    layout table rather than a probe); ``{"peak_rss_mb", "seconds", "accuracy"}`` (its
    ``ru_maxrss``, its wall time, its test accuracy)."""
    code = ("import json, resource, sys, time; from convkit.bench.data import _train_child; "
            "print(json.dumps(_train_child(*json.loads(sys.argv[1]))))")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CONVKIT_CACHE": str(cache), "CONVKIT_RUNTIME_PROBE": "0"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, json.dumps([str(folder), in_memory, model])],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0][:300]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**out, "seconds": round(time.perf_counter() - start, 2)}


def _train_child(folder: str, in_memory: bool, model: str) -> dict:
    """(In the training process:) one epoch at the defaults, then this process's peak RSS."""
    from convkit.config import resolve_config
    from convkit.tasks.image.task import TASK
    from convkit.train.engine import fit

    cfg = resolve_config(TASK.config_class, sets=[
        f"data.path={folder}", f"data.in_memory={str(in_memory).lower()}", f"model.name={model}",
        "train.epochs=1", "train.baselines=false", "train.device=cpu", "train.threads=1", "train.loggers=[]"])
    with tempfile.TemporaryDirectory() as out:
        result = fit(TASK, cfg, out)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_rss_mb": round(peak_kb / 1024, 1), "accuracy": round(float(result.metrics["test"]["accuracy"]), 4)}


def _data(folder: Path, model: str = "lenet5", workers: int = 0):
    from convkit.config import resolve_config
    from convkit.tasks.image.task import TASK

    cfg = resolve_config(TASK.config_class, sets=[f"data.path={folder}", f"model.name={model}", "train.device=cpu",
                                                  f"train.num_workers={workers}", "train.baselines=false"])
    return TASK, cfg, TASK.build_data(cfg)


def loader_throughput(folder: Path, workers: int, batches: int = 60, batch_size: int = 32) -> float:
    """Samples per second of the training split's DataLoader alone (shuffled, as the
    engine's), after its first batch (the workers' start is left out)."""
    import torch
    from torch.utils.data import DataLoader

    _, _, data = _data(folder)
    loader = DataLoader(data.train, batch_size=batch_size, shuffle=True, num_workers=workers,
                        collate_fn=data.collate_fn, generator=torch.Generator().manual_seed(0))
    iterator = iter(loader)
    next(iterator)
    start, seen = time.perf_counter(), 0
    for _ in range(max(min(batches, len(loader) - 1), 0)):
        seen += len(next(iterator)[1])
    return seen / max(time.perf_counter() - start, 1e-9)


def waiting_fraction(folder: Path, model: str, workers: int, steps: int = 12) -> dict:
    """The engine's ``train_step`` on batches from the training split's loader (as the
    engine builds it, ``train.num_workers=workers``): ``{"wait", "step_s"}``, the fraction
    of each step's wall time spent waiting for its batch and the mean step time (after 2
    warm-up steps)."""
    import torch
    from torch.utils.data import DataLoader

    from convkit.train.engine import make_optimizer, train_step
    from convkit.train.inference import build_model
    from convkit.train.runtime import Placement, grad_scaler

    task, cfg, data = _data(folder, model, workers)
    device = torch.device("cpu")
    placement = Placement.of(device, 2, "fp32", False)
    net = placement.model(build_model(task, cfg, data)).train()
    optimizer, scaler = make_optimizer(net, cfg.train), grad_scaler(device, "fp32")
    augment = task.augmentation(cfg, data)
    loader = DataLoader(data.train, batch_size=cfg.train.batch_size, shuffle=True, num_workers=workers,
                        collate_fn=data.collate_fn, generator=torch.Generator().manual_seed(0), drop_last=True)
    iterator = iter(loader)
    waited = total = 0.0
    for step in range(steps + 2):
        start = time.perf_counter()
        batch = next(iterator)
        got = time.perf_counter()
        train_step(task, net, batch, optimizer, scaler, placement, cfg.train.clip_grad_norm, augment)
        if step >= 2:
            waited += got - start
            total += time.perf_counter() - start
    return {"wait": round(waited / total, 4), "step_s": round(total / steps, 4)}


def run_data(profile: str = "default", sizes: tuple[int, ...] | None = None, root: str | Path | None = None) -> dict:
    """The data section (module docstring): ``{"sizes": [{"count", "lazy", "in_memory",
    "generate_s"}], "throughput": {workers: samples/s}, "waiting": [{"model", "workers",
    "wait", "step_s"}], "free_disk_gb"}``. The PNGs go to a temporary folder under
    ``root`` (None: the system's), removed at the end."""
    sizes = sizes or SIZES.get(profile, SIZES["default"])
    work = Path(tempfile.mkdtemp(prefix="convkit-bench-data-", dir=root))
    out: dict = {"sizes": [], "image_size": IMAGE_SIZE, "classes": CLASSES,
                 "free_disk_gb": round(shutil.disk_usage(work).free / 1e9, 1)}
    cache = os.environ.get("CONVKIT_CACHE")
    try:
        for count in sizes:
            folder = work / f"pngs{count}"
            start = time.perf_counter()
            make_pngs(folder, count)
            row: dict = {"count": count, "generate_s": round(time.perf_counter() - start, 1)}
            row["lazy"] = train_peak_rss(folder, False, work / "cache")
            row["in_memory"] = train_peak_rss(folder, True, work / "cache") if count <= IN_MEMORY_UP_TO else None
            out["sizes"].append(row)
            if count != sizes[0]:
                shutil.rmtree(folder, ignore_errors=True)
        smallest = work / f"pngs{sizes[0]}"
        os.environ["CONVKIT_CACHE"] = str(work / "cache")  # (the index of this process's reads: removed below)
        out["throughput"] = {str(w): round(loader_throughput(smallest, w), 1) for w in WORKERS}
        out["waiting"] = [{"model": m, "workers": w, **waiting_fraction(smallest, m, w)}
                          for m in ("lenet5", "resnet18") for w in (0, 2)]
    finally:
        if cache is None:
            os.environ.pop("CONVKIT_CACHE", None)
        else:
            os.environ["CONVKIT_CACHE"] = cache
        shutil.rmtree(work, ignore_errors=True)
    lazy = [r["lazy"].get("peak_rss_mb") for r in out["sizes"]]
    if len(lazy) > 1 and all(isinstance(v, float) for v in lazy):
        out["lazy_growth"] = round(lazy[-1] / lazy[0] - 1, 4)
    return out


def markdown(section: dict) -> list[str]:
    """The section's lines for ``results.md``."""
    lines = ["", "## Data larger than memory (image task, generated PNGs)", "",
             "| PNGs | generate s | lazy: peak RSS MB | lazy: epoch s | in memory: peak RSS MB | in memory: epoch s |",
             "|---|---|---|---|---|---|"]
    for row in section["sizes"]:
        lazy, mem = row["lazy"], row.get("in_memory") or {}
        lines.append(f"| {row['count']:,} | {row['generate_s']} | {lazy.get('peak_rss_mb', lazy.get('error'))} | "
                     f"{lazy.get('seconds', '')} | {mem.get('peak_rss_mb', mem.get('error', 'not run'))} | "
                     f"{mem.get('seconds', '')} |")
    if "lazy_growth" in section:
        lines += ["", f"Lazy peak RSS growth from the smallest to the largest set: {section['lazy_growth']:.1%}."]
    if section.get("throughput"):
        lines += ["", "Loader alone (batch 32): " + ", ".join(
            f"{w} worker{'s' if w != '1' else ''} {v:,.0f} samples/s" for w, v in section["throughput"].items()) + "."]
    for row in section.get("waiting", []):
        lines.append(f"- {row['model']}, {row['workers']} workers: {row['wait']:.1%} of step time waiting for data "
                     f"(step {row['step_s'] * 1000:.1f} ms)")
    return lines
