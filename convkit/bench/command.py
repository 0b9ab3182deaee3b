"""The bench's command line and its one entry point, :func:`run_bench`::

    python -m convkit.bench [--tasks a,b] [--profile smoke|default|full] [--device auto|cpu|cuda|mps]
                            [--out bench_results] [--threads N] [--no-scaling] [--no-probes] [--no-compute]
                            [--no-tsc] [--tsc-data UCR_FOLDER] [--with-data [--data-sizes N,N]]

Exit status: 0 when every selected task ran (missing tasks are reported, not fatal),
1 when a task failed, 2 on a bad argument.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from convkit.bench import compute, data, frontend, perf, report, scaling, suite, tsc
from convkit.errors import ConfigError, Interrupted
from convkit.train.runtime import select_device, set_threads


def parse_tasks(text: str | None) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]`` (every task, plug-ins included, when empty:
    ``suite.task_names``; none for ``none``, to run the other sections alone); ConfigError
    naming an unknown task."""
    known = suite.task_names()
    if not text:
        return known
    if text.strip() == "none":
        return []
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in known]
    if unknown:
        raise ConfigError(f"--tasks: unknown task(s) {', '.join(unknown)}; valid: {', '.join(known)}")
    return names


def run_bench(tasks: list[str], profile: str = "smoke", device: str = "auto", out_dir: str | Path = "bench_results",
              threads: int | None = None, with_scaling: bool = True, with_probes: bool = True,
              command: str = "python -m convkit.bench", with_compute: bool = True, with_tsc: bool = True,
              tsc_data: str | Path | None = None, with_data: bool = False,
              data_sizes: tuple[int, ...] | None = None) -> dict:
    """Run ``tasks`` under ``profile`` on ``device``, the scaling curves, the compute
    section (``convkit.bench.compute``), time-series classification against aeon
    (``convkit.bench.tsc``, on the problems of ``tsc_data``), and write the report into
    ``out_dir`` (the tasks' run folders go under ``out_dir/runs``); ``with_data``: the data
    section (``convkit.bench.data``: peak memory and loader throughput on generated PNG
    folders of ``data_sizes``, else the profile's).

    Returns:
        ``results.json``'s contents: ``{"profile", "device", "threads", "torch", "git",
        "machine", "matmul_peak", "tasks": [row per task], "scaling": [...], ...}``.
    """
    if profile not in suite.PROFILES:
        raise ConfigError(f"--profile must be one of {', '.join(suite.PROFILES)}; got {profile!r}")
    start = time.perf_counter()
    torch_device = select_device(device)
    used_threads = set_threads(threads if threads is not None else 0)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    peak = perf.matmul_peak_gflops(torch_device)
    rows = []
    bar = tqdm(tasks, desc="bench", unit="task", disable=None)  # quiet when stderr is not a terminal
    for name in bar:
        bar.set_postfix_str(name)
        task_start = time.perf_counter()
        row = suite.run_task(name, profile, device, out, threads, with_probes, peak["gflops"])
        row["wall_seconds"] = round(time.perf_counter() - task_start, 2)
        rows.append(row)
        if row["status"] != "ok":
            tqdm.write(f"bench: {name} {row['status']}: {row.get('error')}", file=sys.stderr)
    front = frontend.section(profile)  # the log-mel front end vs librosa, on the CPU
    tsc_section = tsc.run_tsc(profile, tsc_data, used_threads) if with_tsc else None  # vs aeon, on the CPU
    scaling_rows = scaling.run_scaling(profile, torch_device) if with_scaling else []
    again = perf.matmul_peak_gflops(torch_device)  # the peak is the best of the run, not of its first seconds
    peak = again if again["gflops"] > peak["gflops"] else peak
    compute_section = compute.run_compute(profile, torch_device, peak) if with_compute else None
    data_section = data.run_data(profile, data_sizes) if with_data else None
    peak = compute_section["peaks"]["fp32"] if compute_section else peak
    perf.set_peak_fractions(rows, peak["gflops"])
    results = {"command": command, "profile": profile, "device": str(torch_device), "threads": used_threads,
               "torch": torch.__version__, "git": report.git_revision(), "machine": report.machine(),
               "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime()), "matmul_peak": peak,
               "tasks": rows, "frontend": front, "tsc": tsc_section, "scaling": scaling_rows, "compute": compute_section,
               "data": data_section,
               "wall_seconds": round(time.perf_counter() - start, 2)}
    report.write_report(results, out)
    return results


def build_parser() -> argparse.ArgumentParser:
    """The bench's argument parser."""
    parser = argparse.ArgumentParser(prog="python -m convkit.bench",
                                     description="Run every task side by side and report quality, cost and "
                                                 "inductive-bias probes.")
    parser.add_argument("--tasks", default="", help="comma-separated subset of the tasks: "
                                                    f"{','.join(suite.task_names())} (all), or none")
    parser.add_argument("--profile", default="smoke", choices=suite.PROFILES)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    parser.add_argument("--out", default="bench_results", help="output folder (default bench_results/)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (train.threads; 0: all cores)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling curves")
    parser.add_argument("--no-probes", action="store_true", help="skip the inductive-bias probes")
    parser.add_argument("--no-compute", action="store_true", help="skip the compute section (settings side by side)")
    parser.add_argument("--no-tsc", action="store_true", help="skip time-series classification against aeon")
    parser.add_argument("--tsc-data", default=None, help="a folder of UCR/UEA <Problem> folders for the time-series "
                                                         "classification section (default $CONVKIT_UCR_DIR, else the "
                                                         "embedded waveforms)")
    parser.add_argument("--with-data", action="store_true", help="the data section: peak memory and loader "
                                                                 "throughput on generated PNG folders (minutes)")
    parser.add_argument("--data-sizes", default="", help="the PNG counts of the data section, e.g. 10000,40000,100000 "
                                                         "(default: the profile's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the bench, print the table; see the module docstring for the
    exit status."""
    args = build_parser().parse_args(argv)
    command = "python -m convkit.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        tasks = parse_tasks(args.tasks)
        sizes = tuple(int(n) for n in args.data_sizes.replace("_", "").split(",") if n.strip()) or None
        results = run_bench(tasks, args.profile, args.device, args.out, args.threads, not args.no_scaling,
                            not args.no_probes, command.strip(), not args.no_compute, not args.no_tsc, args.tsc_data,
                            args.with_data, sizes)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Interrupted as err:  # the task being trained saved its last.pt
        print(" ".join(str(err).split()), file=sys.stderr)
        return 128 + err.signum
    print(report.markdown(results))
    print(f"wrote {', '.join(report.FILES)} to {args.out}", file=sys.stderr)
    return 1 if any(row["status"] == "failed" for row in results["tasks"]) else 0
