"""Time-series classification against its peers: convkit's ROCKET classifiers and, when
aeon is installed, aeon's (MiniRocket, MultiRocket, Hydra; InceptionTime in the ``full``
profile when its deep-learning dependencies import), on the same official splits, side by
side in one process with the bench's threads:

    results["tsc"] = run_tsc("default", data_dir)

Per problem and classifier: test accuracy, fit seconds (transform and head), predict
seconds (the TEST file) and peak memory (the process's resident set sampled every few
milliseconds during fit and predict, above its size before the fit; memory an earlier
classifier freed and this one reuses is not counted). convkit's classifiers are fitted as
the time-series task fits them (:meth:`RocketClassifier.fit`: series as they are, each over
its own length, the ridge head); aeon's get the series edge-padded to the longest when the
lengths differ (aeon refuses unequal lengths), as issue 25's figures were taken. The
one-off costs are apart: convkit's ``warmup`` (loading its compiled CPU kernels from
Numba's on-disk cache, or compiling them the first time) and aeon's (Numba's compilation)
are each timed once, on a tiny problem, before the first problem.

The transform's throughput: MiniRocket (convkit's, then aeon's after its compilation) on a
random batch ``N x 1 x L`` (``1000 x 1 x 1000`` by default), fitted on it, the transform
timed (the best of a few rounds), as series x steps per second; the two outputs are
compared (``max_abs_diff``; 0.0 when they are the same features).

The default's cost as a user meets it: for each problem folder, a fresh Python process
times importing the zoo, fitting the default and predicting the TEST file (``fresh_s``:
Numba imported and the compiled kernels loaded from its cache, or compiled when the cache
is cold, inside the clock; torch's import and reading the files outside it).

The problems: every ``<Problem>`` folder of ``data_dir`` (``--tsc-data``, else
``$CONVKIT_UCR_DIR``) holding ``<Problem>_TRAIN``/``_TEST`` files; without one, the task's
embedded waveforms in a stratified split. Nothing is downloaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from convkit.errors import DataError

CONVKIT_MODELS = {"smoke": ("minirocket",), "default": ("minirocket", "multirocket", "hydra", "multirocket_hydra"),
                  "full": ("minirocket", "multirocket", "hydra", "multirocket_hydra")}
"""convkit's classifiers, by profile (the first is the time-series task's default)."""

AEON_MODELS = {"smoke": ("MiniRocketClassifier",),
               "default": ("MiniRocketClassifier", "MultiRocketClassifier", "HydraClassifier"),
               "full": ("MiniRocketClassifier", "MultiRocketClassifier", "HydraClassifier", "InceptionTimeClassifier")}
"""aeon's classifiers (``aeon.classification``), by profile, when aeon is installed."""

THROUGHPUT = {"smoke": (100, 1000), "default": (1000, 1000), "full": (1000, 1000)}
"""``(N, L)`` of the transform-throughput batch, by profile."""

ROUNDS = {"smoke": 1, "default": 3, "full": 3}
"""Timed rounds of the throughput (the best is kept), by profile."""

SEED = 0
"""The seed of every classifier (convkit's ``train.seed`` default, aeon's ``random_state``)."""


# --------------------------------------------------------------------------- problems


def problems(data_dir: str | Path | None) -> list[tuple[str, Any]]:
    """``[(name, {"train": ClassificationData, "test": ClassificationData})]``: each problem
    folder of ``data_dir`` (sorted), or the embedded waveforms when there is none."""
    from convkit.tasks.timeseries.data import ClassificationData, load_classification_splits
    from convkit.tasks.timeseries.synthetic import make_shape_series
    from convkit.data.splits import split_indices

    if data_dir:
        root = Path(data_dir)
        if not root.is_dir():
            raise DataError(f"--tsc-data {root}: no such folder")
        found = [f for f in sorted(root.iterdir())
                 if f.is_dir() and (any(f.glob("*_TRAIN.ts")) or any(f.glob("*_TRAIN.tsv")))]
        if not found:
            raise DataError(f"--tsc-data {root}: no <Problem> folder with <Problem>_TRAIN/_TEST files")
        return [(f.name, load_classification_splits(f)) for f in found]
    data = make_shape_series(seed=SEED)
    train, val, test = split_indices(data.y, seed=SEED)
    train = np.concatenate([train, val])
    part = {name: ClassificationData(data.X[i], data.y[i], list(data.class_names), "shapes")
            for name, i in (("train", train), ("test", test))}
    return [("embedded waveforms", part)]


def _lengths(d: Any) -> np.ndarray:
    return d.lengths if d.lengths is not None else np.full(len(d.y), d.X.shape[2], dtype=np.int64)


def edge_padded(d: Any) -> np.ndarray:
    """``d.X`` float64 with each series' last value repeated after its length (for aeon)."""
    x = d.X.astype(np.float64)
    for i, n in enumerate(_lengths(d)):
        x[i, :, n:] = x[i, :, n - 1:n]
    return x


# --------------------------------------------------------------------------- measuring


class PeakMemory:
    """The process's peak resident set (``/proc/self/statm``, sampled every ``interval``
    seconds in a thread) while the ``with`` block runs, above its size on entry
    (``mib``; None where ``/proc`` is absent)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval, self.mib = interval, None
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _rss(self) -> int | None:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * self._page
        except OSError:
            return None

    def __enter__(self) -> "PeakMemory":
        self._start = self._rss()
        self._peak = self._start or 0
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            rss = self._rss()
            if rss is not None and rss > self._peak:
                self._peak = rss
        rss = self._rss()
        self._peak = max(self._peak, rss or 0)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._start is not None:
            self.mib = round((self._peak - self._start) / 2**20, 1)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def convkit_row(name: str, train: Any, test: Any) -> dict:
    """convkit's ``name`` fitted on ``train`` and scored on ``test``: accuracy, fit and
    predict seconds, peak MiB."""
    from convkit.models import create_model

    x, xt = (torch.from_numpy(np.ascontiguousarray(d.X, dtype=np.float32)) for d in (train, test))
    lengths, test_lengths = (torch.from_numpy(_lengths(d)) for d in (train, test))
    model = create_model(name, 1, x.shape[1], len(train.class_names)).eval()
    with PeakMemory() as memory:
        head, fit_s = _timed(lambda: model.fit(x, torch.from_numpy(train.y), lengths, seed=SEED))
        with torch.no_grad():
            logits, predict_s = _timed(lambda: model(xt, test_lengths))
    accuracy = float((logits.argmax(1).numpy() == test.y).mean())
    return {"library": "convkit", "model": name, "accuracy": round(accuracy, 4), "fit_s": round(fit_s, 3),
            "predict_s": round(predict_s, 3), "peak_mib": memory.mib, "head": head,
            "alpha": float(model.alpha) if head == "ridge" else None}


FRESH = """
import sys, time, numpy as np, torch
torch.set_num_threads(int(sys.argv[3]))
from convkit.tasks.timeseries.data import load_classification_splits
pair = load_classification_splits(sys.argv[1])
tr, te = pair["train"], pair["test"]
steps = lambda d: torch.from_numpy(d.lengths if d.lengths is not None else np.full(len(d.y), d.X.shape[2]))
start = time.perf_counter()
from convkit.models import create_model
model = create_model(sys.argv[2], 1, tr.X.shape[1], len(tr.class_names)).eval()
model.fit(torch.from_numpy(tr.X), torch.from_numpy(tr.y), steps(tr), seed=0)
with torch.no_grad():
    predicted = model(torch.from_numpy(te.X), steps(te)).argmax(1).numpy()
print(time.perf_counter() - start, float((predicted == te.y).mean()))
"""
"""The fresh process of :func:`fresh_seconds` (argv: problem folder, model, threads)."""


def fresh_seconds(folder: Path, model: str, threads: int) -> float | None:
    """Seconds a fresh process takes to import the zoo, fit ``model`` on ``folder``'s TRAIN
    file and predict its TEST file (None if it fails)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-c", FRESH, str(folder), model, str(threads)], capture_output=True,
                          text=True, env=env, timeout=600)
    if done.returncode != 0:
        return None
    return round(float(done.stdout.split()[-2]), 3)


def aeon_row(name: str, train: Any, test: Any) -> dict:
    """aeon's classifier ``name`` (``aeon.classification``) on the edge-padded series."""
    import aeon.classification.convolution_based as convolution
    import aeon.classification.deep_learning as deep

    cls = getattr(convolution, name, None) or getattr(deep, name)
    kwargs = {"random_state": SEED}
    if "n_jobs" in cls.__init__.__code__.co_varnames:
        kwargs["n_jobs"] = 1
    clf = cls(**kwargs)
    x, xt = edge_padded(train), edge_padded(test)
    with PeakMemory() as memory:
        _, fit_s = _timed(lambda: clf.fit(x, train.y))
        predicted, predict_s = _timed(lambda: clf.predict(xt))
    accuracy = float((np.asarray(predicted).astype(np.int64) == test.y).mean())
    return {"library": "aeon", "model": name, "accuracy": round(accuracy, 4), "fit_s": round(fit_s, 3),
            "predict_s": round(predict_s, 3), "peak_mib": memory.mib}


def aeon_version() -> str | None:
    """aeon's version, or None when it is not installed."""
    try:
        import aeon
    except ImportError:
        return None
    return str(aeon.__version__)


def _set_numba_threads(threads: int) -> None:
    """Numba's threads (aeon's parallel loops) to ``threads``, and torch's back to it:
    starting Numba's OpenMP layer resets the OpenMP thread count torch reads."""
    try:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    except Exception:  # noqa: BLE001 - Numba's threading layer is optional; aeon then runs as it runs
        pass
    torch.set_num_threads(threads)


def warmups(aeon: bool, profile: str) -> dict:
    """The one-off costs of each classifier the profile runs, in order, on a tiny problem
    (``{library: {model: seconds}}``): convkit's (the first: the default, its compiled CPU
    kernels loaded from Numba's cache, or compiled the first time; then what the others add)
    and aeon's (Numba compiling)."""
    rng = np.random.default_rng(SEED)
    tiny = [rng.standard_normal((8, c, 32)).astype(np.float32) for c in (1, 3)]  # univariate and multivariate code
    y = np.arange(8) % 2
    from convkit.models import create_model

    out: dict = {"convkit": {}}
    for name in CONVKIT_MODELS[profile]:
        start = time.perf_counter()
        for x in tiny:
            model = create_model(name, 1, x.shape[1], 2).eval()
            model.fit(torch.from_numpy(x), torch.from_numpy(y), seed=SEED)
            with torch.no_grad():
                model(torch.from_numpy(x))
        out["convkit"][name] = round(time.perf_counter() - start, 3)
    if aeon:
        import aeon.classification.convolution_based as convolution

        out["aeon"] = {}
        for name in AEON_MODELS[profile]:
            cls = getattr(convolution, name, None)
            if cls is not None:
                start = time.perf_counter()
                for x in tiny:
                    cls(random_state=SEED, n_jobs=1).fit(x.astype(np.float64), y).predict(x.astype(np.float64))
                out["aeon"][name] = round(time.perf_counter() - start, 3)
    return out


def throughput(profile: str, aeon: bool) -> dict:
    """MiniRocket's transform on a random ``N x 1 x L`` batch: convkit's and (when
    installed) aeon's seconds (the best of :data:`ROUNDS`), series x steps per second, and
    the largest difference between the two outputs."""
    from convkit.models.rocket import MiniRocket

    n, length = THROUGHPUT[profile]
    x = np.random.default_rng(SEED).standard_normal((n, 1, length)).astype(np.float32)
    ours = MiniRocket(1).fit(torch.from_numpy(x), seed=SEED)
    ours(torch.from_numpy(x[:2]))  # the kernels loaded before the clock
    rounds = ROUNDS[profile]
    out: dict = {"n": n, "channels": 1, "length": length, "rounds": rounds}
    times, features = [], None
    for _ in range(rounds):
        features, seconds = _timed(lambda: ours(torch.from_numpy(x)))
        times.append(seconds)
    out["convkit_s"] = round(min(times), 4)
    out["convkit_per_s"] = round(n * length / min(times))
    if aeon:
        from aeon.transformations.collection.convolution_based import MiniRocket as AeonMiniRocket

        theirs = AeonMiniRocket(random_state=SEED, n_jobs=1).fit(x)
        theirs.transform(x[:2])  # compiled before the clock
        times, reference = [], None
        for _ in range(rounds):
            reference, seconds = _timed(lambda: theirs.transform(x))
            times.append(seconds)
        out["aeon_s"] = round(min(times), 4)
        out["aeon_per_s"] = round(n * length / min(times))
        out["speedup"] = round(out["aeon_s"] / out["convkit_s"], 2)
        out["max_abs_diff"] = float(np.abs(np.asarray(reference) - features.numpy()).max())
    return out


def run_tsc(profile: str, data_dir: str | Path | None = None, threads: int | None = None) -> dict:
    """The section: ``{"problems": [{"name", "train", "test", "channels", "length",
    "rows": [...]}], "warmup": {...}, "throughput": {...}, "aeon": version or None,
    "threads", "data"}``. A classifier that fails is a row with its ``error``."""
    threads = threads or torch.get_num_threads()
    _set_numba_threads(threads)
    version = aeon_version()
    data_dir = data_dir or os.environ.get("CONVKIT_UCR_DIR") or None
    section: dict = {"aeon": version, "threads": threads, "data": str(data_dir) if data_dir else "embedded waveforms",
                     "warmup": warmups(version is not None, profile), "problems": []}
    for name, pair in problems(data_dir):
        train, test = pair["train"], pair["test"]
        folder = Path(data_dir) / name if data_dir else None
        entry = {"name": name, "train": len(train.y), "test": len(test.y), "channels": int(train.X.shape[1]),
                 "length": int(max(_lengths(train).max(), _lengths(test).max())),
                 "equal_length": train.equal_length and test.equal_length, "rows": []}
        jobs = [("convkit", m, convkit_row) for m in CONVKIT_MODELS[profile]]
        if version is not None:
            jobs += [("aeon", m, aeon_row) for m in AEON_MODELS[profile]]
        for library, model, run in jobs:
            try:
                entry["rows"].append(run(model, train, test))
            except Exception as err:  # noqa: BLE001 - one classifier's failure is its row, the rest still run
                entry["rows"].append({"library": library, "model": model, "error": " ".join(str(err).split())[:300]})
        if folder is not None:  # the default as a user meets it: a fresh process, warm-up inside the clock
            entry["rows"][0]["fresh_s"] = fresh_seconds(folder, CONVKIT_MODELS[profile][0], threads)
        section["problems"].append(entry)
    section["throughput"] = throughput(profile, version is not None)
    return section


# --------------------------------------------------------------------------- report


def markdown(section: dict | None) -> list[str]:
    """``results.md``'s time-series classification section (empty without one)."""
    if not section:
        return []
    warm = section["warmup"]
    costs = "; ".join(f"{library} " + ", ".join(f"{m} {s:.2f} s" for m, s in models.items())
                      for library, models in warm.items())
    lines = ["", "## Time-series classification against aeon", "",
             f"Data: {section['data']}; {section['threads']} thread(s); aeon {section['aeon'] or 'not installed'}. "
             f"One-off costs before the first problem, in order (convkit: its compiled kernels loaded from Numba's "
             f"cache, or compiled the first time; aeon: Numba compiling): {costs}.", "",
             "| problem | library | model | accuracy | fit s | predict s | fit + predict s | fresh process s | peak MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for problem in section["problems"]:
        label = (f"{problem['name']} ({problem['train']}/{problem['test']}, {problem['channels']} ch, "
                 f"{'' if problem['equal_length'] else 'up to '}{problem['length']} steps)")
        for row in problem["rows"]:
            if "error" in row:
                lines.append(f"| {label} | {row['library']} | {row['model']} | failed: {row['error']} | | | | | |")
                continue
            fresh = row.get("fresh_s")
            lines.append(f"| {label} | {row['library']} | {row['model']} | {row['accuracy']:.3f} | {row['fit_s']:.3f} | "
                         f"{row['predict_s']:.3f} | {row['fit_s'] + row['predict_s']:.3f} | "
                         f"{'–' if fresh is None else f'{fresh:.3f}'} | {'–' if row['peak_mib'] is None else row['peak_mib']} |")
    t = section["throughput"]
    lines += ["", "fresh process s: the default in a new process, importing the zoo, fitting and predicting (Numba's "
                  "import and the compiled kernels' loading, or compiling, included; torch's import and the files' "
                  "reading not)."]
    lines += ["", f"MiniRocket's transform of a {t['n']} x {t['channels']} x {t['length']} batch (best of "
                  f"{t['rounds']}): convkit {t['convkit_s']:.3f} s ({t['convkit_per_s']:,} series x steps/s)"
              + (f", aeon {t['aeon_s']:.3f} s ({t['aeon_per_s']:,}/s, after compiling): convkit "
                 f"{t['speedup']:.2f}x aeon's speed; max |difference| of the features {t['max_abs_diff']:.1e}"
                 if "aeon_s" in t else "") + "."]
    return lines
