"""How many CPU threads to train with, measured: ``python -m convkit.bench.threads``.

Times a TCN training step (batch 16, 4 channels, 256 steps; the time-series default's
model) with 1 .. N threads, with OpenMP's idle threads spinning (its default, which
convkit keeps) and sleeping (``OMP_WAIT_POLICY=PASSIVE``), on the machine as it is and
with a busy-loop process holding one core. Each setting runs in a fresh process (the OpenMP wait
policy is read when torch loads) and reports the median of 40 steps after 10 warm-up
steps. This is the measurement behind ``train.threads=0`` (one thread per idle core);
it is a benchmark that prints figures, never a test.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys

STEP = r"""
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
from convkit.models.tcn import tcn_forecaster
model = tcn_forecaster(4, 1, context=96, dropout=0.0)
opt = torch.optim.AdamW(model.parameters(), 1e-3)
x = torch.randn(16, 4, 256)
times = []
for i in range(50):
    t = time.perf_counter()
    loss = (model(x) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    times.append(time.perf_counter() - t)
times = sorted(times[10:])
print(times[len(times) // 2] * 1000)
"""


def _busy() -> None:  # holds one core until terminated
    while True:
        pass


def step_ms(threads: int, wait_policy: str) -> float:
    """Median milliseconds of one TCN training step in a fresh process."""
    env = {**os.environ, "OMP_WAIT_POLICY": wait_policy}
    out = subprocess.run([sys.executable, "-c", STEP, str(threads)], capture_output=True, text=True, env=env,
                         check=True)
    return float(out.stdout.strip())


def measure(max_threads: int) -> list[dict]:
    """Rows ``{"load", "threads", "wait", "ms"}`` for an idle machine and one busy core."""
    rows = []
    for load in ("as is", "one core busy"):
        busy = multiprocessing.Process(target=_busy, daemon=True) if load != "as is" else None
        if busy is not None:
            busy.start()
        try:
            for threads in range(1, max_threads + 1):
                for wait in ("ACTIVE", "PASSIVE"):
                    rows.append({"load": load, "threads": threads, "wait": wait, "ms": step_ms(threads, wait)})
                    print(json.dumps(rows[-1]), flush=True)
        finally:
            if busy is not None:
                busy.terminate()
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print one JSON line per setting and a Markdown table."""
    parser = argparse.ArgumentParser(prog="python -m convkit.bench.threads", description=__doc__.splitlines()[0])
    parser.add_argument("--max-threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    rows = measure(args.max_threads)
    print("\n| machine | threads | idle OpenMP threads | ms per step |\n|---|---|---|---|")
    for row in rows:
        wait = "sleep (PASSIVE)" if row["wait"] == "PASSIVE" else "spin (ACTIVE)"
        print(f"| {row['load']} | {row['threads']} | {wait} | {row['ms']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
