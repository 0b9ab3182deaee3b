"""Several whole runs of one experiment, summarised: seeds (``train.seeds``) and a task's
own repeats such as cross-validation folds (``Task.repeats``).

Each run is a ``fit`` of its own in ``runs/<task>/<name>-<what>/<label>/``; the mean and
standard deviation of every scalar test metric and baseline go to ``summary.json`` there.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from convkit.config import RunConfig
from convkit.train import distributed, rundir
from convkit.train.distributed import log
from convkit.train.engine import fit
from convkit.train.metrics import to_float_dict
from convkit.train.task import Task


def fit_repeats(task: Task, cfg: RunConfig, runs: list[tuple[str, RunConfig]], out_dir: str | Path = ".",
                what: str = "runs") -> dict:
    """Several whole runs of one experiment (seeds, cross-validation folds): each ``fit``
    in ``runs/<task>/<name>-<what>/<label>/``, then the mean and standard deviation
    (ddof 1) of every scalar test metric and baseline, written to ``summary.json`` there.

    Args:
        runs: ``(label, config)`` per run, e.g. ``("seed3", cfg)`` or ``("fold2", cfg)``.
        what: the folder suffix and the word the summary uses (``seeds``, ``folds``).

    Returns:
        ``{"run_dir", what: labels, "test": {metric: {"mean", "std", "values"}},
        "baselines": {name: {metric: {...}}}}``.
    """
    name = f"{cfg.train.name or cfg.model.name or task.default_model}-{what}"
    is_main = distributed.rank_from_env() == 0  # under torchrun rank 0 alone makes and writes folders
    base = (rundir.new_run_dir(task, dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, name=name)),
                               out_dir)
            if is_main else Path(out_dir) / "runs" / task.name / name)
    results = []
    for k, (label, one) in enumerate(runs):
        if is_main:
            log(f"{label} ({k + 1} of {len(runs)})")
        results.append(fit(task, one, run_dir=base / label).metrics)

    def spread(blocks: list[dict]) -> dict:
        values: dict[str, list[float]] = defaultdict(list)
        for block in blocks:
            for key, value in to_float_dict(block).items():
                values[key].append(value)
        return {key: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                      "values": v} for key, v in values.items() if len(v) == len(blocks)}

    names = sorted(set.intersection(*(set(r["baselines"]) for r in results))) if results else []
    summary = {"run_dir": str(base), what: [label for label, _ in runs],
               "test": spread([r["test"] for r in results]),
               "baselines": {n: spread([r["baselines"][n]["test"] for r in results]) for n in names}}
    if not is_main:
        return summary
    with rundir.reporting_disk_full(base / "summary.json",
                                    lambda: f"the {len(runs)} runs are complete, each with its metrics.json in "
                                            f"{base}; free some space and train again for the summary"):
        rundir.write_text_atomic(base / "summary.json", json.dumps(summary, indent=1) + "\n")
    log(f"test over {len(runs)} {what}: "
        + ", ".join(f"{k} {v['mean']:.4f} ± {v['std']:.4f}" for k, v in summary["test"].items()))
    return summary


def fit_seeds(task: Task, cfg: RunConfig, out_dir: str | Path = ".") -> dict:
    """``train.seeds`` runs with seeds ``train.seed``, ``+1``, ... (``fit_repeats``, in
    ``runs/<task>/<name>-seeds/seed<k>/``); the summary lists the ``seeds``."""
    runs = [(f"seed{seed}", dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed, seeds=1)))
            for seed in range(cfg.train.seed, cfg.train.seed + cfg.train.seeds)]
    summary = fit_repeats(task, cfg, runs, out_dir, "seeds")
    summary["seeds"] = [int(label[4:]) for label in summary["seeds"]]
    return summary
