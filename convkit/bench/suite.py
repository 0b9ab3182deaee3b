"""Running the tasks: one row per task, each trained through the engine's ``fit``.

A task's config is ``resolve_config(task.config_class, sets=task.profiles[profile] +
["train.device=...", ...])``: the bench holds no copy of any task's settings. The tasks
are the built-in ones and the plug-ins (``task_names``; a plug-in task needs a ``smoke``
profile like the others). A task whose package is not there is reported as ``missing``;
one whose import, data, training or measurement fails is reported as ``failed`` with its
error line; the others still run.
"""

from __future__ import annotations

import importlib
import json
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from convkit.bench import perf, probes
from convkit.config import RunConfig, resolve_config
from convkit.errors import ConfigError, Interrupted
from convkit.tasks import TASK_NAMES as ALL_TASKS
from convkit.tasks import plugin_tasks
from convkit.train.engine import count_params, fit
from convkit.train.runtime import select_device
from convkit.train.task import Task

TASK_NAMES: tuple[str, ...] = ALL_TASKS
"""The built-in tasks the bench runs by default, in DESIGN.md's order (:func:`task_names`
adds the plug-ins)."""


def task_names() -> list[str]:
    """Every task the bench knows: :data:`TASK_NAMES`, then the plug-in tasks (entry point
    group ``convkit.tasks``), sorted."""
    return list(TASK_NAMES) + sorted(name for name in plugin_tasks() if name not in TASK_NAMES)

PROFILES = ("smoke", "default", "full")
"""``smoke``: every task's tiny profile; ``default``: the task's defaults; ``full``: the
task's ``full`` profile where it has one, else its default."""

THROUGHPUT_BATCHES = 4
"""Training batches (from the start of the training split) the throughput is timed on."""

MEASURE_SECONDS = {"smoke": 0.3, "default": 1.0, "full": 2.0}
"""Least seconds of timed steps per throughput figure, by profile."""

QUALITY_BARS: dict[str, float] = {"image": 0.97, "text": 0.95, "timeseries": 0.70, "audio": 0.95, "video": 0.90,
                                  "pointcloud": 0.85, "graph": 0.90}
"""The quality bar of each task's default: the value of its monitored VALIDATION metric
(accuracy; PR-AUC for time series; video accuracy for video) that time-to-bar waits for.
Each default run in the README clears its bar on the test split too."""


class BaselineClock:
    """The task that runs a config, with its ``baselines`` call timed (``seconds``), so the
    bench reports the baselines apart from training. Everything else is the task's own:
    ``fit`` gets this object as its task (``for_config`` returns it)."""

    def __init__(self, task: Task) -> None:
        self.task, self.seconds = task, None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.task, name)

    def for_config(self, cfg: RunConfig) -> "BaselineClock":
        return self

    def baselines(self, cfg: RunConfig, data: Any, params: int) -> dict:
        """The task's baselines; ``seconds`` is the time they took."""
        start = time.perf_counter()
        try:
            return self.task.baselines(cfg, data, params)
        finally:
            self.seconds = round(time.perf_counter() - start, 3)


def time_to_bar(run_dir: str | Path, metric: str, mode: str, bar: float | None) -> dict | None:
    """``{"bar", "metric", "epoch", "seconds"}``: the first epoch of ``run_dir/metrics.jsonl``
    whose validation ``metric`` reached ``bar`` (``>=``; ``<=`` for ``mode="min"``) and the
    training seconds until then (``epoch``/``seconds`` None when it never did); None
    without a bar."""
    if bar is None:
        return None
    out: dict[str, Any] = {"bar": bar, "metric": metric, "epoch": None, "seconds": None}
    path = Path(run_dir) / "metrics.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        record = json.loads(line)
        value = (record.get("val") or {}).get(metric)
        if isinstance(value, (int, float)) and (value >= bar if mode == "max" else value <= bar):
            out.update(epoch=record["epoch"], seconds=record.get("seconds"))
            break
    return out


class MissingTask(Exception):
    """The task's package ``convkit.tasks.<name>`` is not there."""


def load_task(name: str) -> Task:
    """A plug-in task's ``Task``, else ``convkit.tasks.<name>.task.TASK``. Raises
    :class:`MissingTask` when the package (or its ``task`` module) does not exist; any
    other import error propagates."""
    plugins = plugin_tasks()
    if name in plugins:
        return plugins[name]
    module = f"convkit.tasks.{name}.task"
    try:
        return importlib.import_module(module).TASK
    except ModuleNotFoundError as err:
        if err.name is not None and module.startswith(err.name):
            raise MissingTask(f"{err.name} does not exist") from None
        raise


def profile_sets(task: Task, profile: str) -> list[str]:
    """The ``--set`` overrides of ``task``'s ``profile`` (``full`` falls back to
    ``default``, ``default`` to none). ConfigError if the task has no ``smoke`` profile."""
    profiles = task.profiles or {}
    if profile == "full" and "full" not in profiles:
        profile = "default"
    if profile == "default":
        return list(profiles.get("default", []))
    if profile not in profiles:
        raise ConfigError(f"task {task.name!r} has no {profile!r} profile (it has: {', '.join(profiles) or 'none'})")
    return list(profiles[profile])


def task_config(task: Task, profile: str, device: str, threads: int | None = None) -> tuple[RunConfig, list[str]]:
    """The resolved run config of ``task`` under ``profile`` on ``device`` and the overrides
    that made it."""
    sets = profile_sets(task, profile) + [f"train.device={device}"]
    if threads is not None:
        sets.append(f"train.threads={threads}")
    return resolve_config(task.config_class, sets=sets), sets


def one_line(err: BaseException) -> str:
    """``"<Type>: <first line of the message>"`` (at most 300 characters)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}"[:300]


def _score(block: dict, metric: str) -> tuple[float | None, str | None]:
    test = block.get("test", block) if isinstance(block, dict) else {}
    for key in (metric, "accuracy"):
        if isinstance(test.get(key), (int, float)):
            return float(test[key]), key
    return None, None


def baseline_scores(metrics: dict, metric: str) -> dict:
    """``{"linear": value, "mlp": value, "metric": name, "mlp_params": n, "extra": {name:
    value}}`` from ``metrics.json``'s ``baselines`` (the monitored metric where a baseline
    reports it, else its accuracy; None where a baseline is absent)."""
    blocks = metrics.get("baselines") or {}
    out: dict[str, Any] = {"linear": None, "mlp": None, "metric": None, "mlp_params": None, "extra": {}}
    for name, block in blocks.items():
        value, key = _score(block, metric)
        if name in ("linear", "mlp"):
            out[name] = value
            out["metric"] = out["metric"] or key
        elif value is not None:
            out["extra"][name] = value
    if isinstance(blocks.get("mlp"), dict):
        out["mlp_params"] = blocks["mlp"].get("params")
    return out


def run_task(name: str, profile: str, device: str, out_dir: str | Path, threads: int | None = None,
             with_probes: bool = True, peak_gflops: float | None = None) -> dict:
    """Train task ``name`` under ``profile`` and measure it: one result row (see
    ``report.COLUMNS``); ``status`` is ``ok``, ``missing`` or ``failed`` (with ``error``)."""
    row: dict[str, Any] = {"task": name, "status": "ok", "profile": profile}
    try:
        task = load_task(name)
    except MissingTask as err:
        return {**row, "status": "missing", "error": str(err)}
    except Exception as err:  # noqa: BLE001 - one broken task must not stop the suite
        return {**row, "status": "failed", "stage": "import", "error": one_line(err),
                "traceback": traceback.format_exc()}
    stage = "config"
    try:
        cfg, sets = task_config(task, profile, device, threads)
        row["sets"] = sets
        runner = task.for_config(cfg)
        torch_device = select_device(cfg.train.device)
        stage = "data"
        start = time.perf_counter()
        data = runner.build_data(cfg)
        row["data_seconds"] = round(time.perf_counter() - start, 3)
        stage = "fit"
        memory_kind = perf.reset_peak_memory(torch_device)
        clock = BaselineClock(runner)
        start = time.perf_counter()
        result = fit(clock, cfg, out_dir, data=data)
        row["fit_seconds"] = round(time.perf_counter() - start, 3)
        row["baseline_seconds"] = clock.seconds
        row["peak_memory_mb"] = round(perf.peak_memory_mb(torch_device, memory_kind), 1)
        row["memory_kind"] = memory_kind
        metrics, model = result.metrics, result.model
        monitor, _ = runner.monitor_of(data)
        row.update(model=metrics.get("model"), params=metrics.get("params", count_params(model)),
                   metric=monitor, quality=metrics["test"].get(monitor),
                   train_seconds=metrics.get("train_seconds"), run_dir=str(result.run_dir),
                   input_kind=data.input_kind, spatial_dims=data.spatial_dims,
                   baselines=baseline_scores(metrics, monitor))
        monitor_mode = runner.monitor_of(data)[1]
        bar = QUALITY_BARS.get(name) if monitor == runner.monitor else None  # a bar is for the task's own metric
        row["time_to_bar"] = time_to_bar(result.run_dir, monitor, monitor_mode, bar) if result.run_dir else None
        stage = "measure"
        row.update(measure(runner, cfg, data, model, torch_device, profile, peak_gflops))
        if with_probes:
            stage = "probes"
            row["probes"] = probes.run_probes(runner, data, model, torch_device, cfg.train.batch_size,
                                              int(row["params"]), metrics["test"], monitor, seed=cfg.train.seed)
    except Interrupted:  # Ctrl-C / SIGTERM stops the suite, not just this task
        raise
    except Exception as err:  # noqa: BLE001 - reported in the row, the suite goes on
        row.update(status="failed", stage=stage, error=one_line(err), traceback=traceback.format_exc())
    return row


def measure(task: Task, cfg: RunConfig, data: Any, model: torch.nn.Module, device: torch.device, profile: str,
            peak_gflops: float | None) -> dict:
    """FLOPs per sample (forward and training step), training and inference throughput,
    achieved GFLOP/s of the training step and its fraction of ``peak_gflops``."""
    seconds = MEASURE_SECONDS.get(profile, 1.0)
    size = cfg.train.batch_size
    train_batches = perf.on_device(perf.first_batches(data.train, data, size, THROUGHPUT_BATCHES), device)
    test_batches = perf.on_device(perf.first_batches(data.test, data, size, THROUGHPUT_BATCHES), device)
    out: dict[str, Any] = {"flops_per_sample": perf.forward_flops_per_sample(task, model, test_batches[0])}
    out["train_flops_per_sample"] = perf.training_flops_per_sample(task, model, train_batches[0])
    out["train_samples_per_s"] = perf.training_throughput(task, cfg, data, model, train_batches, device, seconds)
    out["infer_samples_per_s"] = perf.inference_throughput(task, cfg, data, model, test_batches, device, seconds)
    achieved = out["train_flops_per_sample"] * out["train_samples_per_s"] / 1e9
    out["achieved_gflops"] = achieved
    out["peak_fraction"] = achieved / peak_gflops if peak_gflops else None
    return out
