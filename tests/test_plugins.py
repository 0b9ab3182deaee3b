"""Plug-ins: a tiny package (``plugin_toy``) installed by putting it and its ``dist-info``
on ``PYTHONPATH`` adds a model and a task through entry points. Its model is in
``list_models``, ``info`` and the bench's task list with its task; its task trains,
evaluates, predicts and exports through ``python -m convkit <task>``; its model trains in
a built-in task; a broken plug-in is one warning line."""

from __future__ import annotations

import json
import subprocess

import pytest

from plugin_toy import env_with, python, write_toy_plugin


def run(args: list[str], folder, cwd) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env_with(folder), capture_output=True, text=True, timeout=300)
    return done


def ok(done: subprocess.CompletedProcess) -> list:
    """The JSON lines a command printed (it must have succeeded)."""
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """``(site, work)``: the installed plug-in's folder and a working folder holding
    ``eval.npz`` (20 new series) and two ``.npy`` series to predict."""
    site = write_toy_plugin(tmp_path_factory.mktemp("site"))
    work = tmp_path_factory.mktemp("work")
    code = ("import sys, numpy as np; sys.path.insert(0, sys.argv[1]); from toyplug.task import waves; "
            "x, y = waves(20, 7); np.savez('eval.npz', x=x.numpy(), y=y.numpy()); "
            "np.save('sine.npy', x[0].numpy()); np.save('square.npy', x[1].numpy())")
    ok(run(python("-c", code, str(site)), site, work))
    return site, work


def test_the_plugin_s_model_and_task_are_listed_by_convkit_its_cli_and_the_bench(plugin):
    site, work = plugin
    code = ("import json; from convkit.models import list_models, get_entry; from convkit.tasks import task_names; "
            "from convkit.bench.command import parse_tasks; "
            "print(json.dumps({'models': list_models(domain='toy'), 'kind': get_entry('toy_cnn').input_kind, "
            "'tasks': task_names(), 'bench': parse_tasks('')}))")
    (listed,) = ok(run(python("-c", code), site, work))
    builtin = ["image", "text", "timeseries", "audio", "video", "pointcloud", "graph"]
    assert listed == {"models": ["toy_cnn"], "kind": "grid", "tasks": builtin + ["toyseries"],
                      "bench": builtin + ["toyseries"]}
    usage = run(python("-m", "convkit", "--help"), site, work)
    assert usage.returncode == 0 and "toyseries" in usage.stdout
    info = run(python("-m", "convkit.tasks.image", "info"), site, work)
    assert info.returncode == 0 and "toy_cnn" in info.stdout.split("models that fit")[1].split("\n")[1]


def test_a_plugin_task_trains_evaluates_predicts_and_exports_from_the_cli(plugin, tmp_path):
    site, work = plugin
    (trained,) = ok(run(python("-m", "convkit", "toyseries", "train", "--out", str(tmp_path),
                               "--set", "train.name=r", "train.threads=1"), site, work))
    best = tmp_path / "runs" / "toyseries" / "r" / "best.pt"
    assert trained["run_dir"] == str(best.parent) and trained["test"]["accuracy"] >= 0.9

    (again,) = ok(run(python("-m", "convkit", "toyseries", "evaluate", "--checkpoint", str(best)), site, work))
    assert again["accuracy"] == trained["test"]["accuracy"]  # the run's own test split, regenerated
    assert again["loss"] == pytest.approx(trained["test"]["loss"], rel=1e-5)
    (new,) = ok(run(python("-m", "convkit", "toyseries", "evaluate", "--checkpoint", str(best), "--data", "eval.npz"),
                    site, work))
    assert new["accuracy"] >= 0.9 and sum(map(sum, new["confusion_matrix"])) == 20

    rows = ok(run(python("-m", "convkit", "toyseries", "predict", "--checkpoint", str(best), "sine.npy", "square.npy"),
                  site, work))
    assert [(r["input"], r["label"]) for r in rows] == [("sine.npy", "sine"), ("square.npy", "square")]

    (exported,) = ok(run(python("-m", "convkit", "toyseries", "export", "--checkpoint", str(best), "--format", "onnx",
                                "--output", str(tmp_path / "toy.onnx")), site, work))
    assert exported["max_abs_diff"] <= 1e-4
    meta = json.loads((tmp_path / "toy.onnx.json").read_text())
    assert (meta["task"], meta["model"], meta["label_names"]) == ("toyseries", "toy_cnn", ["sine", "square"])


def test_a_plugin_model_trains_in_a_built_in_task(plugin, tmp_path):
    site, work = plugin
    (trained,) = ok(run(python("-m", "convkit.tasks.timeseries", "train", "--model", "toy_cnn", "--epochs", "4",
                               "--out", str(tmp_path), "--set", "task.mode=classify", "task.min_steps=1",
                               "train.baselines=false", "train.threads=1"), site, work))
    assert trained["test"]["accuracy"] >= 0.8  # four waveform classes (chance 0.25)


def test_the_bench_runs_a_plugin_task(plugin, tmp_path):
    site, work = plugin
    code = ("import json, sys; from convkit.bench import suite; "
            "row = suite.run_task('toyseries', 'smoke', 'cpu', sys.argv[1], 1, with_probes=False); "
            "print(json.dumps({k: row.get(k) for k in ('status', 'error', 'model', 'metric', 'quality')}))")
    (row,) = ok(run(python("-c", code, str(tmp_path)), site, work))
    assert (row["status"], row["model"], row["metric"]) == ("ok", "toy_cnn", "accuracy"), row
    assert 0 <= row["quality"] <= 1


def test_a_broken_plugin_is_one_warning_line_and_convkit_goes_on(tmp_path):
    broken = "\n[convkit.models]\nbad = no_such_plugin_module\n\n[convkit.tasks]\nnotatask = toyplug.models:toy_cnn\n"
    site = write_toy_plugin(tmp_path / "site")
    info = tmp_path / "site" / "broken-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(broken)
    code = ("from convkit.models import list_models; from convkit.tasks import task_names; "
            "print('toy_cnn' in list_models(), task_names()[-1])")
    done = run(python("-c", code), site, tmp_path)
    assert done.returncode == 0 and done.stdout.split() == ["True", "toyseries"], done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, lines
    assert "convkit plug-in 'bad' (convkit.models = no_such_plugin_module) left out: ModuleNotFoundError" in lines[0]
    assert ("convkit plug-in 'notatask' (convkit.tasks = toyplug.models:toy_cnn) left out: it is a function, not a "
            "convkit Task instance") in lines[1]


def test_messages_name_the_command_that_runs_the_task(plugin):
    """How to resume (after Ctrl-C or a full disk) names the command the task runs by:
    a plug-in's ``python -m convkit NAME``, a built-in task's own module."""
    site, work = plugin
    code = ("from convkit.tasks import load_task; "
            "print(json.dumps([load_task(n).command() for n in ('toyseries', 'image')]))")
    done = run(python("-c", "import json; " + code), site, work)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == ["python -m convkit toyseries", "python -m convkit.tasks.image"]
