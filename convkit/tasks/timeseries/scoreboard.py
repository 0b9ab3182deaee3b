"""NAB's scoreboard beside a convkit run: convkit's detectors (the model and every baseline
of a run on NAB files) next to NAB's published detectors on the same files, per category
and profile, as Markdown tables.

    python -m convkit.tasks.timeseries.scoreboard RUN_DIR [--nab NAB_ROOT]

``RUN_DIR`` is a training run on a NAB root (its ``metrics.json`` holds the test split's
``nab_categories``); ``NAB_ROOT`` (default: the run's ``data.path``) holds
``labels/combined_windows.json`` and ``scoreboard/<detector>_<profile>_scores.csv``, NAB's
per-file score tables of its detectors (``Detector,Profile,File,Threshold,Score,...``, each
file's raw NAB score at the threshold NAB optimised for that detector over its corpus).

Each published detector's score for a set of files is NAB's formula on the summed raw
scores, ``100 (raw - null) / (perfect - null)``, null and perfect ``-A_FN`` and ``+A_TP``
per window (:data:`~convkit.tasks.timeseries.nab.PROFILES`); a category without windows
(``artificialNoAnomaly``) has no column, its false positives count in ``all``. convkit's
columns are its runs' ``nab_opt`` (one threshold optimised over the run's files, NAB's
scoreboard protocol) and, in a row of their own, the model at its own deployable threshold
(``nab``). A published detector whose table lacks some of the run's files is left out.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tomllib
from pathlib import Path

from convkit.errors import ConvkitError, DataError
from convkit.tasks.timeseries.nab import PROFILES, category_of, normalised_score

SCOREBOARD_PROFILES: dict[str, str] = {"standard": "", "reward_low_FP_rate": "_low_fp",
                                       "reward_low_FN_rate": "_low_fn"}
"""NAB's profiles and the suffix of convkit's metrics for each (``nab_opt`` + suffix)."""


def published_scores(root: Path, files: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """NAB's published detectors' normalised scores on ``files`` (``group/file.csv``):
    ``{detector: {profile: {category or "all": score}}}``, only detectors whose table has
    every one of ``files``.

    Raises:
        DataError: the windows file or the score tables are missing.
    """
    labels = root / "labels" / "combined_windows.json"
    board = root / "scoreboard"
    if not labels.is_file() or not board.is_dir():
        raise DataError(f"{root}: expected NAB's labels/combined_windows.json and scoreboard/ (NAB's per-file "
                        f"score tables)")
    windows = json.loads(labels.read_text())
    out: dict[str, dict[str, dict[str, float]]] = {}
    for profile in SCOREBOARD_PROFILES:
        weights = PROFILES[profile]
        for table in sorted(board.glob(f"*_{profile}_scores.csv")):
            detector = table.name[: -len(f"_{profile}_scores.csv")]
            with open(table, newline="") as f:
                raw = {r["File"]: float(r["Score"]) for r in csv.DictReader(f) if r["File"].endswith(".csv")}
            if not all(name in raw for name in files):
                continue
            groups: dict[str, list[str]] = {"all": files}
            for name in files:
                groups.setdefault(category_of(name), []).append(name)
            scores = {}
            for group, names in groups.items():
                count = sum(len(windows.get(name, [])) for name in names)
                if count:
                    scores[group] = normalised_score(sum(raw[n] for n in names), -weights["fn"] * count,
                                                     weights["tp"] * count)
            out.setdefault(detector, {})[profile] = scores
    return out


def run_scores(metrics: dict) -> dict[str, dict[str, dict[str, float]]]:
    """convkit's detectors in a run's ``metrics`` (``metrics.json``): ``{detector: {profile:
    {category or "all": score}}}`` at the corpus threshold (``nab_opt``), and the model at
    its own threshold as ``<model> at its threshold``."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    entries = [(metrics.get("model", "model"), metrics["test"], "nab_opt"),
               (f"{metrics.get('model', 'model')} at its threshold", metrics["test"], "nab")]
    entries += [(name, block["test"], "nab_opt") for name, block in metrics.get("baselines", {}).items()
                if "nab_categories" in block.get("test", {})]
    for name, test, key in entries:
        for profile, suffix in SCOREBOARD_PROFILES.items():
            metric = key + suffix
            scores = {c: v[metric] for c, v in test["nab_categories"].items()}
            scores["all"] = test[metric]
            out.setdefault(name, {})[profile] = scores
    return out


def scoreboard(run_dir: Path, root: Path | None = None) -> str:
    """Markdown tables, one per NAB profile: convkit's detectors of the run ``run_dir`` and
    NAB's published detectors on the same files (``root``: the NAB root; default the run's
    ``data.path``), per category and over all of them, best first.

    Raises:
        DataError: the run has no NAB scores, or the NAB root lacks NAB's tables.
    """
    run_dir = Path(run_dir)
    path = run_dir / "metrics.json"
    if not path.is_file():
        raise DataError(f"{path}: not found; give a finished training run on NAB files")
    metrics = json.loads(path.read_text())
    if "nab_categories" not in metrics.get("test", {}):
        raise DataError(f"{path}: the run scored no NAB files (no nab_categories in its test metrics)")
    if root is None:
        config = tomllib.loads((run_dir / "config.toml").read_text())
        root = Path(config.get("data", {}).get("path", ""))
    files = sorted(p.relative_to(root / "data").as_posix() for p in (root / "data").rglob("*.csv"))
    ours, theirs = run_scores(metrics), published_scores(root, files)
    categories = sorted(c for c in metrics["test"]["nab_categories"] if any(
        c in scores for d in theirs.values() for scores in d.values()))
    lines = [f"NAB on {len(files)} files of {root} (run {run_dir.name}); convkit: one threshold optimised over "
             f"these files (nab_opt), or its own; NAB's detectors: NAB's published per-file scores"]
    for profile in SCOREBOARD_PROFILES:
        rows = [(name, by[profile], "convkit") for name, by in ours.items()]
        rows += [(name, by[profile], "NAB") for name, by in theirs.items() if profile in by]
        rows.sort(key=lambda r: -r[1].get("all", float("-inf")))
        lines += ["", f"**{profile}**", "", "| detector | " + " | ".join(categories) + " | all |",
                  "|---|" + "---:|" * (len(categories) + 1)]
        for name, scores, source in rows:
            cells = [f"{scores[c]:.1f}" if c in scores else "–" for c in categories + ["all"]]
            label = f"**convkit {name}**" if source == "convkit" else name
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring); errors are one line and exit 2."""
    parser = argparse.ArgumentParser(prog="python -m convkit.tasks.timeseries.scoreboard",
                                     description="NAB's scoreboard beside a convkit run on NAB files")
    parser.add_argument("run", help="a training run's folder (its metrics.json)")
    parser.add_argument("--nab", default=None, help="the NAB root (default: the run's data.path)")
    args = parser.parse_args(argv)
    try:
        print(scoreboard(Path(args.run), None if args.nab is None else Path(args.nab)), end="")
    except (ConvkitError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
