"""The bench's files: ``results.json`` (every figure), ``results.md`` (one table, a row per
task, plus the probes and scaling) and four plots: ``quality_vs_params.png``,
``throughput.png``, ``inductive_bias.png``, ``scaling.png``."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

FILES = ("results.json", "results.md", "quality_vs_params.png", "throughput.png", "inductive_bias.png",
         "scaling.png")
"""What ``write_report`` writes into the output folder."""


def git_revision() -> str | None:
    """``git describe --always --dirty`` of the checkout convkit runs from (None outside git)."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def machine() -> dict:
    """The machine the figures were measured on: OS, CPU, cores, Python, torch, CUDA device."""
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


# --------------------------------------------------------------------------- formatting


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def _si(value: Any) -> str:
    """``1.2M``-style figures for counts and rates."""
    if value is None:
        return "–"
    value = float(value)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def _probe_text(probes: dict | None) -> str:
    if not probes or not probes.get("probe") or not probes.get("cnn"):
        reported = (probes or {}).get("reported") or {}
        return "; ".join(f"{k} {v:.3f}" for k, v in reported.items()) or "–"
    cnn, mlp = probes["cnn"], probes.get("mlp")
    text = f"{probes['probe']}: CNN {cnn['clean']:.3f}→{cnn['perturbed']:.3f}"
    if mlp:
        text += f", MLP {mlp['clean']:.3f}→{mlp['perturbed']:.3f}"
    return text


COLUMNS = ("task", "model", "params", "metric", "quality", "linear", "mlp", "FLOPs/sample", "data s", "baselines s",
           "train s", "bar", "to bar", "train samples/s", "infer samples/s", "peak MiB", "GFLOP/s", "of peak", "probe",
           "status")
"""The columns of ``results.md``'s table."""


def table_row(row: dict) -> list[str]:
    """One task's cells, in ``COLUMNS`` order (dashes where it has no figure)."""
    if row.get("status") != "ok":
        status = row.get("status", "?") + (f" ({row.get('stage')})" if row.get("stage") else "")
        error = str(row.get("error", "")).replace("|", "/")
        return [row["task"]] + ["–"] * (len(COLUMNS) - 2) + [f"{status}: {error}"]
    base = row.get("baselines") or {}
    return [row["task"], str(row.get("model")), _si(row.get("params")), str(row.get("metric")),
            _num(row.get("quality")), _num(base.get("linear")), _num(base.get("mlp")),
            _si(row.get("flops_per_sample")), _num(row.get("data_seconds"), 1), _num(row.get("baseline_seconds"), 1),
            _num(row.get("train_seconds"), 1), *_bar_cells(row.get("time_to_bar")), _si(row.get("train_samples_per_s")),
            _si(row.get("infer_samples_per_s")), _num(row.get("peak_memory_mb"), 0), _num(row.get("achieved_gflops"), 2),
            _num(row.get("peak_fraction"), 3), _probe_text(row.get("probes")).replace("|", "/"), "ok"]


def _bar_cells(bar: dict | None) -> list[str]:
    """``["0.97", "12.3 s (ep 4)"]``: the bar and when the validation metric first reached it
    (``not reached``; dashes without a bar)."""
    if not bar:
        return ["–", "–"]
    if bar.get("epoch") is None:
        return [_num(bar["bar"], 2), "not reached"]
    return [_num(bar["bar"], 2), f"{_num(bar.get('seconds'), 1)} s (ep {bar['epoch']})"]


def frontend_text(front: dict | None) -> list[str]:
    """``results.md``'s front-end section (empty without a ``frontend`` result)."""
    if not front:
        return []
    if "error" in front:
        return ["", "## Log-mel front end vs librosa", "", f"failed: {front['error']}"]
    loop, batch, settings = front["loop"], front["batch"], front["settings"]
    return ["", "## Log-mel front end vs librosa", "",
            f"{front['clips']} one-second clips at {settings['sample_rate']} Hz, the audio task's settings (n_fft "
            f"{settings['n_fft']}, hop {settings['hop_length']}, {settings['n_mels']} mels), librosa "
            f"{front['librosa']}, {front['threads']} thread(s), best of {front['rounds']} round(s):", "",
            "| call | convkit s | librosa s | speed-up | target |", "|---|---|---|---|---|",
            f"| per-clip loop | {loop['convkit_s']:.4f} | {loop['librosa_s']:.4f} | {loop['speedup']:.2f}x | "
            f"{front['targets']['loop']:g}x |",
            f"| one batched call | {batch['convkit_s']:.4f} | {batch['librosa_s']:.4f} | {batch['speedup']:.2f}x | "
            f"{front['targets']['batch']:g}x |", "",
            f"Same output: max |difference| {front['max_abs_db']:.2e} dB; max relative difference of the mel "
            f"power {front['max_rel_power']:.2e} (cells within 80 dB of their clip's peak)."]


def markdown(results: dict) -> str:
    """``results.md``: the run's header, the task table, notes and the scaling exponents."""
    peak = results.get("matmul_peak") or {}
    lines = [f"# convkit bench ({results['profile']} profile)", "",
             f"`{results['command']}` on {results['device']} ({results['threads']} thread(s)), torch "
             f"{results['torch']}, git {results.get('git') or '?'}; {results['machine'].get('cpu') or results['machine']['processor']}"
             f"{', ' + results['machine']['gpu'] if results['machine'].get('gpu') else ''}. "
             f"Matmul peak {_num(peak.get('gflops'), 1)} GFLOP/s ({peak.get('dtype')}, n={peak.get('size')}). "
             f"Wall time {results['wall_seconds']:.1f} s.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(table_row(row)) + " |" for row in results["tasks"]]
    lines += ["", "quality: the task's monitored test metric; linear, mlp: the shared baselines from the run's "
              "metrics.json (the same metric where they report it, else accuracy); FLOPs: 2 per multiply-add, "
              "one evaluation step per sample; GFLOP/s: the training step's counted FLOPs times its measured "
              "throughput, of peak: that over the matmul peak; a sample of a node task is a node; peak MiB: "
              + ("CUDA max allocated" if results["device"].startswith("cuda") else "resident-set high-water mark")
              + "; probe: the monitored metric clean→perturbed (MLP: a parameter-matched MLP on the flattened "
              "input, accuracy)."]
    lines += ["", "data s: building the task's data (generating or decoding; a cached generator's is a read); "
              "baselines s: fitting the shared and the task's own baselines; train s: the training loop's wall time "
              "(validation included); bar: the quality bar of the monitored validation metric, to bar: the training "
              "seconds and epoch at which it first reached it."]
    notes = [(row["task"], n) for row in results["tasks"] for n in (row.get("probes") or {}).get("notes", [])]
    if notes:
        lines += [""] + [f"- {task}: {note}" for task, note in notes]
    lines += frontend_text(results.get("frontend"))
    if results.get("tsc"):
        from convkit.bench import tsc  # its own text; imported here, where it is needed

        lines += tsc.markdown(results["tsc"])
    if results.get("scaling"):
        lines += ["", "## Scaling (training step time, log-log fit)", "", "| curve | model | axis | sizes | seconds | "
                  "exponent | expected |", "|---|---|---|---|---|---|---|"]
        for curve in results["scaling"]:
            if "skipped" in curve:
                lines.append(f"| {curve['name']} | {curve['model']} | skipped: {curve['skipped']} | | | | |")
            else:
                lines.append(f"| {curve['name']} | {curve['model']} | {curve['axis']} | "
                             f"{', '.join(map(str, curve['sizes']))} | {', '.join(f'{s:.4f}' for s in curve['seconds'])} | "
                             f"{curve['exponent']:.2f} | {curve['expected']} |")
    if results.get("data"):
        from convkit.bench import data  # its own text; imported here, where it is needed

        lines += data.markdown(results["data"])
    if results.get("compute"):
        from convkit.bench import compute  # its own text; imported here, where it is needed

        lines += ["", compute.markdown(results["compute"]).rstrip("\n")]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- plots


def _ok(results: dict) -> list[dict]:
    return [row for row in results["tasks"] if row.get("status") == "ok"]


def _empty(ax: Any, text: str = "no task finished") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)


def plot_quality_vs_params(results: dict, path: Path) -> None:
    """Each task's model (and its parameter-matched MLP) at (parameters, quality)."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    rows = [r for r in _ok(results) if r.get("quality") is not None and r.get("params")]
    for row in rows:
        ax.scatter(row["params"], row["quality"], marker="o")
        ax.annotate(f"{row['task']} ({row['model']})", (row["params"], row["quality"]), fontsize=8)
        base = row.get("baselines") or {}
        if base.get("mlp") is not None and base.get("mlp_params"):
            ax.scatter(base["mlp_params"], base["mlp"], marker="x", color="grey")
            ax.plot([row["params"], base["mlp_params"]], [row["quality"], base["mlp"]], color="grey", lw=0.5)
    if rows:
        ax.set_xscale("log")
    else:
        _empty(ax)
    ax.set_xlabel("parameters")
    ax.set_ylabel("test quality (task's metric)")
    ax.set_title("quality vs parameters (o: model, x: matched MLP)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_throughput(results: dict, path: Path) -> None:
    """Training and inference samples per second per task (log scale)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    rows = [r for r in _ok(results) if r.get("train_samples_per_s")]
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [r["train_samples_per_s"] for r in rows], width=0.4, label="training")
    ax.bar([i + 0.2 for i in x], [r.get("infer_samples_per_s") or 0 for r in rows], width=0.4, label="inference")
    ax.set_xticks(list(x), [r["task"] for r in rows])
    if rows:
        ax.set_yscale("log")
        ax.legend()
    else:
        _empty(ax)
    ax.set_ylabel("samples / s")
    ax.set_title(f"throughput on {results['device']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_inductive_bias(results: dict, path: Path) -> None:
    """Per task with a probe: the CNN's and the MLP's score clean and perturbed."""
    rows = [r for r in _ok(results) if (r.get("probes") or {}).get("cnn")]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(rows) + 2), 4))
    labels, width = [], 0.2
    for i, row in enumerate(rows):
        p = row["probes"]
        ax.bar(i - 1.5 * width, p["cnn"]["clean"], width, color="tab:blue", label="CNN clean" if i == 0 else None)
        ax.bar(i - 0.5 * width, p["cnn"]["perturbed"], width, color="lightsteelblue",
               label="CNN perturbed" if i == 0 else None)
        if p.get("mlp"):
            ax.bar(i + 0.5 * width, p["mlp"]["clean"], width, color="tab:orange", label="MLP clean")
            ax.bar(i + 1.5 * width, p["mlp"]["perturbed"], width, color="navajowhite", label="MLP perturbed")
        labels.append(f"{row['task']}\n{p['probe']}")
    ax.set_xticks(range(len(rows)), labels)
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles))
    if rows:
        ax.legend(unique.values(), unique.keys(), fontsize=8)
    else:
        _empty(ax, "no probe ran")
    ax.set_ylabel("test score (task's metric; MLP: accuracy)")
    ax.set_title("inductive-bias probes: clean vs perturbed input")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scaling(results: dict, path: Path) -> None:
    """One log-log panel per curve with its fitted exponent."""
    curves = [c for c in results.get("scaling") or [] if "skipped" not in c]
    fig, axes = plt.subplots(1, max(1, len(curves)), figsize=(3.2 * max(1, len(curves)), 3.2), squeeze=False)
    for ax, curve in zip(axes[0], curves):
        ax.loglog(curve["sizes"], curve["seconds"], "o-")
        ax.set_title(f"{curve['model']}: exponent {curve['exponent']:.2f}\n(expected {curve['expected']})", fontsize=9)
        ax.set_xlabel(curve["axis"])
        ax.set_ylabel("s / training step")
    if not curves:
        _empty(axes[0][0], "scaling not run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: dict, out_dir: str | Path) -> list[Path]:
    """Write every file of :data:`FILES` into ``out_dir`` (created); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (out / "results.md").write_text(markdown(results))
    plot_quality_vs_params(results, out / "quality_vs_params.png")
    plot_throughput(results, out / "throughput.png")
    plot_inductive_bias(results, out / "inductive_bias.png")
    plot_scaling(results, out / "scaling.png")
    return [out / name for name in FILES]
