"""K-fold cross-validation of the text task (Kim 2014 reports MR as 10-fold CV):

    python -m convkit.tasks.text.cv --config tasks/text/mr.toml --data DIR [--set data.cv_folds=10 ...]

Trains one ordinary run per fold (``data.fold`` = 0 .. ``data.cv_folds - 1``; each run's
folder as ``train`` writes it, named ``<name>-fold<k>``), then prints and writes
``cv.json`` beside them: every fold's test block and the mean and standard deviation of
each test metric (and of the baselines). The shared CLI's ``train`` runs one fold.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path

from convkit.cli import add_train_options, config_from_args, guarded
from convkit.errors import ConfigError
from convkit.tasks.text.task import TASK


def summarize(blocks: list[dict]) -> dict[str, dict[str, float]]:
    """``{metric: {"mean", "std"}}`` over fold blocks' float metrics (population std)."""
    keys = [k for k, v in blocks[0].items() if isinstance(v, float)]
    return {k: {"mean": statistics.fmean(b[k] for b in blocks), "std": statistics.pstdev([b[k] for b in blocks])}
            for k in keys}


def cross_validate(args: argparse.Namespace) -> dict:
    """Run every fold of ``data.cv_folds`` and return the summary written to ``cv.json``."""
    from convkit.train.engine import fit

    cfg = config_from_args(TASK, args)
    folds = cfg.data.cv_folds
    if folds < 2:
        raise ConfigError(f"data.cv_folds must be at least 2 for cross-validation; got {folds}")
    name = cfg.train.name or f"{cfg.model.name}-cv{folds}"
    tests, baselines, run_dirs = [], [], []
    for fold in range(folds):
        fold_cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, fold=fold),
                                       train=dataclasses.replace(cfg.train, name=f"{name}-fold{fold}"))
        result = fit(TASK, fold_cfg, out_dir=args.out)
        tests.append({k: v for k, v in result.metrics["test"].items() if isinstance(v, float)})
        baselines.append({b: block["test"] for b, block in result.metrics.get("baselines", {}).items()})
        run_dirs.append(str(result.run_dir))
        print(json.dumps({"fold": fold, "test": tests[-1]}), flush=True)
    summary = {"folds": folds, "test": summarize(tests),
               "baselines": {b: summarize([f[b] for f in baselines]) for b in baselines[0]},
               "per_fold": tests, "run_dirs": run_dirs}
    out = Path(run_dirs[0]).parent / f"{name}-cv.json"
    out.write_text(json.dumps(summary, indent=1))
    print(json.dumps({"cv": str(out), "test": summary["test"], "baselines": summary["baselines"]}), flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 for a user error)."""
    parser = argparse.ArgumentParser(prog="python -m convkit.tasks.text.cv", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_train_options(parser)
    args = parser.parse_args(argv)
    args.resume = None
    return guarded(lambda: cross_validate(args), args.debug)


if __name__ == "__main__":
    sys.exit(main())
