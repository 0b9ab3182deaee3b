"""The scikit-learn estimators for time series (convkit.tasks.timeseries.estimators): they pass
scikit-learn's estimator checks but for the ones listed (and why) in SKIPPED; clone and
cross_val_score work; and they equal the CLI on the same data, settings and seed: the
classifier's cross_val_score equals, fold by fold, the CLI's test accuracy on each fold's
<P>_TRAIN.ts/<P>_TEST.ts (the CLI's weights and predictions too), the detector's
decision_function and predict equal the score and flag columns `detect` writes."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import sklearn
import torch

from convkit.tasks.timeseries.data import load_classification_splits
from convkit.tasks.timeseries.estimators import SeriesAnomalyDetector, SeriesClassifier
from convkit.tasks.timeseries.synthetic import make_shape_series
from convkit.tasks.timeseries.task import TASK
from convkit.train import checkpoint as checkpoints

REPO = Path(__file__).resolve().parents[2]
UCR = REPO.parent / "shared" / "data" / "ucr"

NEW_CHECKS = tuple(int(p) for p in sklearn.__version__.split(".")[:2]) >= (1, 6)
"""scikit-learn 1.6 brought the tags and the check generator these tests use."""

SKIPPED: dict[str, dict[str, str]] = {
    "SeriesClassifier": {
        "check_n_features_in": "a 2D X's columns are time steps, whose number predict does not fix (series of any "
                               "length are classified, shorter ones zero-padded as the CLI pads TEST to TRAIN); "
                               "n_features_in_ is not set",
        "check_n_features_in_after_fitting": "as check_n_features_in: predict takes series of any length",
        "check_classifiers_train": "it asks predict to refuse X.T, which is two series of another length, and for "
                                   "accuracy on tabular blobs whose rows, z-normalised as series (the task's "
                                   "protocol), keep only their shape",
        "check_fit2d_1feature": "ten series of one step: the TSC papers' batch rule (a tenth of the series) "
                                "makes batches of one, and batch normalisation needs more than one value per "
                                "channel; a ValueError naming that, not the one feature",
    },
    "SeriesAnomalyDetector": {
        "check_outliers_train": "scikit-learn's outlier convention (predict -1/1, decision_function negative for "
                                "outliers); the detector follows PyOD's (0/1, higher = more anomalous)",
        "check_outliers_fit_predict": "as check_outliers_train: PyOD's 0/1 labels",
        "check_methods_subset_invariance": "rows are time steps: a step's score depends on the steps before it",
        "check_methods_sample_order_invariance": "rows are time steps: reordering them is another series",
    },
}
"""The estimator checks that do not apply to a 3D-input (or time-step-row) deep estimator, and why."""

TINY_CLASSIFIER = dict(model="fcn", model_options={"channels": 4}, epochs=1, min_steps=2, seed=0, threads=1,
                       device="cpu")
TINY_DETECTOR = dict(context=2, window=8, stride=4, epochs=1, seed=0, threads=1, device="cpu",
                     model_options={"channels": 4, "kernel_size": 2})


def _check_cases():
    if not NEW_CHECKS:
        return []
    from sklearn.utils.estimator_checks import estimator_checks_generator

    cases = []
    for estimator in (SeriesClassifier(**TINY_CLASSIFIER), SeriesAnomalyDetector(**TINY_DETECTOR)):
        owner = type(estimator).__name__
        for i, (est, check) in enumerate(estimator_checks_generator(estimator, legacy=True)):
            name = getattr(check, "func", check).__name__
            reason = SKIPPED[owner].get(name)
            cases.append(pytest.param(est, check, id=f"{owner}-{name}-{i}",
                                      marks=[pytest.mark.skip(reason=reason)] if reason else []))
    return cases


@pytest.mark.skipif(not NEW_CHECKS, reason="scikit-learn < 1.6 has no estimator_checks_generator")
@pytest.mark.parametrize("estimator, check", _check_cases())
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_every_skipped_check_is_one_scikit_learn_runs_and_the_docstring_names():
    # a skip names a check scikit-learn yields for that estimator (none stale or misspelt),
    # and the estimator's docstring lists it with the reason
    if not NEW_CHECKS:
        pytest.skip("scikit-learn < 1.6")
    from sklearn.utils.estimator_checks import estimator_checks_generator

    for estimator in (SeriesClassifier(), SeriesAnomalyDetector()):
        names = {getattr(c, "func", c).__name__ for _, c in estimator_checks_generator(estimator, legacy=True)}
        skipped = SKIPPED[type(estimator).__name__]
        assert set(skipped) <= names
        documented = set(re.findall(r"``(check_\w+)``", type(estimator).__doc__))
        assert documented == set(skipped)


# ----------------------------------------------------------------------------- the CLI beside the estimator


def write_ts(path: Path, X: np.ndarray | list, labels: list[str], classes: list[str], name: str) -> None:
    """A .ts file of series ``X`` ([n, C, L] or a list of [C, L_i]); every value written so
    that it reads back to the same float32."""
    lengths = {np.shape(x)[-1] for x in X}
    lines = [f"@problemName {name}", "@timeStamps false", "@missing false",
             f"@univariate {'true' if np.shape(X[0])[0] == 1 else 'false'}",
             f"@equalLength {'true' if len(lengths) == 1 else 'false'}",
             f"@classLabel true {' '.join(classes)}", "@data"]
    for x, label in zip(X, labels):
        dims = [",".join(repr(float(v)) for v in channel) for channel in np.asarray(x)]
        lines.append(":".join(dims) + f":{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def cli(argv: list[str], capsys) -> list[dict]:
    """Run ``python -m convkit.tasks.timeseries ARGV`` in this process; its JSON lines."""
    from convkit.cli import main

    capsys.readouterr()
    assert main(TASK, argv) == 0, capsys.readouterr().err
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def cli_fold(folder: Path, X, y, train, test, classes, settings: list[str], capsys) -> tuple[float, list, dict]:
    """The CLI on one fold: ``train --data`` a folder of ``P_TRAIN.ts``/``P_TEST.ts``, then
    ``predict`` on ``P_TEST.ts``: (test accuracy, predicted labels, best.pt's weights)."""
    folder.mkdir(parents=True)
    write_ts(folder / "P_TRAIN.ts", [X[i] for i in train], [y[i] for i in train], classes, "P")
    write_ts(folder / "P_TEST.ts", [X[i] for i in test], [y[i] for i in test], classes, "P")
    (run,) = cli(["train", "--data", str(folder), "--out", str(folder / "out"), "--seed", "0", "--device", "cpu",
                  *settings], capsys)
    best = Path(run["run_dir"]) / "best.pt"
    (predicted,) = cli(["predict", "--checkpoint", str(best), str(folder / "P_TEST.ts"), "--threads", "1",
                        "--device", "cpu"], capsys)
    return run["test"]["accuracy"], predicted["labels"], checkpoints.load_checkpoint(best, "timeseries")["model"]


def assert_same_weights(model: torch.nn.Module, state: dict) -> None:
    ours = model.state_dict()
    assert ours.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(ours[key].cpu(), value.cpu()), key


def equal_to_the_cli_fold_by_fold(tmp_path: Path, X, y, classifier: SeriesClassifier, cli_settings: list[str],
                                  capsys, folds: int = 3) -> tuple[list, list[float]]:
    """Cross-validate ``classifier`` (``cross_validate``, what ``cross_val_score`` runs) and
    the CLI on the same stratified folds; assert that each fold's accuracy, weights and test
    predictions are the CLI's. Returns the folds and the accuracies."""
    from sklearn.model_selection import StratifiedKFold, cross_validate

    classes = sorted(set(y))
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=0).split(np.zeros(len(y)), y))
    found = cross_validate(classifier, X, np.asarray(y), cv=splits, return_estimator=True)
    for k, (train, test) in enumerate(splits):
        accuracy, labels, weights = cli_fold(tmp_path / f"fold{k}", X, y, train, test, classes, cli_settings, capsys)
        assert found["test_score"][k] == pytest.approx(accuracy, abs=1e-6)  # counts over the same test series
        assert_same_weights(found["estimator"][k].model_, weights)
        test_x = X[test] if isinstance(X, np.ndarray) else [X[i] for i in test]
        assert list(found["estimator"][k].predict(test_x)) == labels
    return splits, list(found["test_score"])


def shapes(n: int, length: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """The task's embedded waveforms (four classes), labels as class names."""
    from convkit.tasks.timeseries.synthetic import SHAPES

    data = make_shape_series(n=n, length=length, seed=seed)
    return data.X, [SHAPES[i] for i in data.y]


def test_cross_val_score_equals_the_cli_on_each_fold_of_generated_series(tmp_path, capsys, one_thread):
    X, y = shapes(48, 32, seed=5)
    # the task's default model, whatever it is
    classifier = SeriesClassifier(epochs=3, min_steps=30, seed=0, threads=1, device="cpu")
    _, scores = equal_to_the_cli_fold_by_fold(
        tmp_path, X, y, classifier, ["--epochs", "3", "--set", "task.min_steps=30", "train.threads=1"], capsys)
    assert np.mean(scores) >= 0.6  # four classes: chance is 0.25


def test_unequal_lengths_as_a_list_equal_the_cli(tmp_path, capsys, one_thread):
    X, y = shapes(24, 40, seed=2)
    rng = np.random.default_rng(0)
    series = [x[:, : int(n)] for x, n in zip(X, rng.integers(24, 41, len(X)))]
    series[0] = X[0]  # the longest is in every TRAIN part below: the CLI pads TEST to it
    classifier = SeriesClassifier(epochs=2, min_steps=10, seed=0, threads=1, device="cpu")
    equal_to_the_cli_fold_by_fold(tmp_path, series, y, classifier,
                                  ["--epochs", "2", "--set", "task.min_steps=10", "train.threads=1"], capsys, folds=2)


@pytest.mark.skipif(not (UCR / "UnitTest").is_dir(), reason="../shared/data/ucr/UnitTest is absent")
def test_cross_val_score_on_ucr_unittest_equals_the_cli_fold_by_fold(tmp_path, capsys, one_thread):
    # all 42 series of UnitTest (its TRAIN and TEST files), three stratified folds
    pair = load_classification_splits(UCR / "UnitTest")
    X = np.concatenate([pair["train"].X, pair["test"].X])
    y = [pair["train"].class_names[i] for i in np.concatenate([pair["train"].y, pair["test"].y])]
    from sklearn.model_selection import cross_val_score

    classifier = SeriesClassifier(epochs=3, min_steps=30, seed=0, threads=1, device="cpu")
    folds, cli_accuracy = equal_to_the_cli_fold_by_fold(
        tmp_path, X, y, classifier, ["--epochs", "3", "--set", "task.min_steps=30", "train.threads=1"], capsys)
    assert list(cross_val_score(classifier, X, np.asarray(y), cv=folds)) == cli_accuracy
    assert np.mean(cli_accuracy) >= 0.7  # two classes; 1-NN reaches 19/22 on the official split


# ----------------------------------------------------------------------------- the classifier's interface


def test_clone_pipeline_and_grid_search_work_on_series(one_thread):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = shapes(32, 32, seed=1)
    tiny = SeriesClassifier(**TINY_CLASSIFIER)
    copy = clone(tiny)
    assert copy.get_params() == tiny.get_params() and not hasattr(copy, "model_")
    pipe = make_pipeline(FunctionTransformer(lambda x: 2.0 * x), tiny).fit(X, y)  # z-normalised: scale is lost
    assert np.array_equal(pipe.predict(X), clone(tiny).fit(X, y).predict(X))
    search = GridSearchCV(tiny, {"epochs": [1, 2]}, cv=2).fit(X, y)
    assert search.best_params_["epochs"] in (1, 2) and search.predict(X).shape == (32,)


def test_fit_predict_shapes_and_classes(one_thread):
    X, y = shapes(32, 32, seed=3)
    clf = SeriesClassifier(**TINY_CLASSIFIER).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (32, 4) and np.allclose(proba.sum(1), 1.0)
    assert list(clf.classes_) == sorted(set(y)) and set(clf.predict(X)) <= set(y)
    assert clf.n_channels_ == 1 and clf.length_ == 32 and clf.run_dir_ is None
    assert np.array_equal(clf.predict(X[:, 0, :]), clf.predict(X))  # [n, L]: univariate series
    assert clf.predict(X[:3, :, :20]).shape == (3,)  # shorter series are zero-padded
    with pytest.raises(ValueError, match="X has 2 channels, but SeriesClassifier was fitted on series of 1"):
        clf.predict(np.repeat(X, 2, axis=1))


def test_out_dir_keeps_a_run_the_cli_evaluates(tmp_path, capsys, one_thread):
    X, y = shapes(24, 32, seed=4)
    clf = SeriesClassifier(**TINY_CLASSIFIER, out_dir=str(tmp_path)).fit(X, y)
    run = Path(clf.run_dir_)
    assert run.parent == tmp_path / "runs" / "timeseries" and (run / "best.pt").is_file()
    write_ts(tmp_path / "S.ts", X, y, sorted(set(y)), "S")
    (predicted,) = cli(["predict", "--checkpoint", str(run / "best.pt"), str(tmp_path / "S.ts"), "--device", "cpu"],
                       capsys)
    assert predicted["labels"] == list(clf.predict(X))


def test_bad_parameters_and_inputs_are_one_line_value_errors():
    X, y = shapes(8, 16, seed=0)
    with pytest.raises(ValueError, match=r"unknown config key 'train.epochz'.*SeriesClassifier parameters"):
        SeriesClassifier(settings={"train.epochz": 2}).fit(X, y)
    with pytest.raises(ValueError, match="train.epochs"):
        SeriesClassifier(epochs=0).fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        SeriesClassifier().fit(np.where(np.arange(16) == 3, np.nan, X), y)
    with pytest.raises(ValueError, match="only one class"):
        SeriesClassifier().fit(X, ["a"] * len(X))
    with pytest.raises(ValueError, match=r"X\[1\]: 2 channels, but X\[0\] has 1"):
        SeriesClassifier().fit([np.zeros((1, 5)), np.zeros((2, 6))], ["a", "b"])
    with pytest.raises(ValueError, match="contamination"):
        SeriesAnomalyDetector(contamination=0.7).fit(np.zeros((50, 1)))


# ----------------------------------------------------------------------------- the detector beside `detect`


def sensor(length: int, seed: int, anomaly: int | None = None) -> np.ndarray:
    """Two channels of noisy sines ``[length, 2]``, with a jump of 3 at ``anomaly`` (5 steps)."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    x = np.stack([np.sin(t / 5), np.cos(t / 7)], axis=1) + 0.05 * rng.normal(size=(length, 2))
    if anomaly is not None:
        x[anomaly:anomaly + 5] += 3.0
    return x


def write_csv(path: Path, values: np.ndarray) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["a", "b"])
        writer.writerows([[repr(float(v)) for v in row] for row in values])


def read_detect_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return np.array([float(r["score"]) for r in rows]), np.array([int(r["flag"]) for r in rows])


def test_the_detector_equals_train_and_detect_and_finds_the_anomaly(tmp_path, capsys, one_thread):
    fitted, new = sensor(600, seed=0), sensor(400, seed=1, anomaly=300)
    write_csv(tmp_path / "fitted.csv", fitted)
    write_csv(tmp_path / "new.csv", new)
    settings = ["--seed", "0", "--device", "cpu", "--epochs", "2",
                "--set", "task.context=8", "task.window=32", "task.stride=8", "train.threads=1"]
    (run,) = cli(["train", "--data", str(tmp_path / "fitted.csv"), "--out", str(tmp_path / "out"), *settings], capsys)
    best = Path(run["run_dir"]) / "best.pt"
    cli(["detect", "--checkpoint", str(best), str(tmp_path / "fitted.csv"), str(tmp_path / "new.csv"),
         "--out", str(tmp_path / "detect"), "--threads", "1", "--device", "cpu"], capsys)

    detector = SeriesAnomalyDetector(context=8, window=32, stride=8, epochs=2, seed=0, threads=1,
                                     device="cpu").fit(fitted)
    assert_same_weights(detector.model_, checkpoints.load_checkpoint(best, "timeseries")["model"])
    for values, name in ((fitted, "fitted"), (new, "new")):
        scores, flags = read_detect_csv(tmp_path / "detect" / f"{name}.csv")
        ours = detector.decision_function(values)
        np.testing.assert_allclose(ours, scores, rtol=1e-5, atol=1e-9)  # detect writes 6 significant digits
        assert np.array_equal(detector.predict(values), flags)
    assert np.array_equal(detector.decision_scores_, detector.decision_function(fitted))
    assert np.array_equal(detector.labels_, detector.predict(fitted))
    assert 300 <= int(np.argmax(detector.decision_function(new))) < 310  # the jump, where the model is surprised


def test_contamination_sets_pyods_threshold_and_a_fitted_detector_pickles(one_thread):
    import pickle

    values = sensor(300, seed=2)
    detector = SeriesAnomalyDetector(**TINY_DETECTOR, contamination=0.1).fit(values)
    assert detector.threshold_ == pytest.approx(np.percentile(detector.decision_scores_, 90))
    assert np.array_equal(detector.labels_, (detector.decision_scores_ > detector.threshold_).astype(int))
    assert abs(detector.labels_.mean() - 0.1) <= 0.01
    assert set(np.unique(detector.predict(values))) <= {0, 1}
    copy = pickle.loads(pickle.dumps(detector))  # the TCN's weight norm pickles only as weights
    assert np.array_equal(copy.decision_function(values), detector.decision_scores_)


def test_the_discord_baseline_leaves_torchs_thread_count_as_set():
    # numba's OpenMP layer, started by a process's first stumpy call, resets the OpenMP thread
    # count torch shares: the CLI's training after its baselines then ran on other threads
    # than train.threads (and differed from the estimator's, which fits no baselines)
    import subprocess
    import sys

    code = ("import numpy as np, torch; torch.set_num_threads(1)\n"
            "from convkit.tasks.timeseries.baselines import discord_scores\n"
            "discord_scores(np.random.default_rng(0).normal(size=(200, 2)), 10)\n"
            "print(torch.get_num_threads())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
