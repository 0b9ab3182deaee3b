"""convkit from Python (``convkit.api``): the README's script trains a model of its own on a
TensorDataset and the command line uses that run in new processes; runs come back with
``load_run`` and score, predict and export as the command line does; a model class is
rebuilt from its recorded import path and nothing else (a crafted checkpoint cannot call
anything that is not an ``nn.Module`` subclass); data given from Python is split and
described as the task needs, and its run says in one line that its data is not a path; a
task from outside convkit, named by import path, is found again by ``load_run``."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

import convkit
from convkit.errors import CheckpointError, ConfigError, DataError
from convkit.train import checkpoint as checkpoints
from convkit.train.inference import evaluate_checkpoint, load_trained
from plugin_toy import env_with, python, write_toy_plugin

README = Path(__file__).resolve().parents[1] / "README.md"

NET = '''
from torch import nn


class Net(nn.Module):
    """Images [N, 1, H, W] -> logits [N, classes]."""

    def __init__(self, classes=2, width=8):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                                 nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, classes))

    def forward(self, x):
        return self.net(x)
'''


def readme_python_section() -> tuple[dict[str, str], list[str]]:
    """The README's "Use convkit from Python": ``({file name: code}, shell commands)``: each
    python block belongs to the file named in backticks on the text line before it."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Use convkit from Python", 1)[1].split("\n## ", 1)[0]
    files, commands = {}, []
    for before, lang, code in re.findall(r"([^\n]*)\n\n?```(\w+)\n(.*?)```", section, re.S):
        if lang == "python":
            files[re.findall(r"`([\w.]+\.py)`", before)[-1]] = code
        elif lang == "bash":
            commands += [line for line in code.splitlines() if line.strip()]
    return files, commands


def run_command(line: str, cwd: Path) -> subprocess.CompletedProcess:
    argv = shlex.split(line)
    assert argv[0] == "python", line
    return subprocess.run([sys.executable, *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    """The README's files written to a folder and its commands run there, each in a new
    process: ``(folder, [(command, completed process)])``."""
    folder = tmp_path_factory.mktemp("readme")
    files, commands = readme_python_section()
    for name, code in files.items():
        (folder / name).write_text(code, encoding="utf-8")
    return folder, [(line, run_command(line, folder)) for line in commands]


def test_the_readme_script_is_15_lines_and_trains_a_module_of_its_own(readme_run):
    files, commands = readme_python_section()
    assert set(files) == {"tinynet.py", "train.py"}
    assert len([line for line in files["train.py"].splitlines() if line.strip()]) <= 15
    assert "TensorDataset" in files["train.py"] and "convkit.fit(" in files["train.py"]
    assert commands[0] == "python train.py"
    assert [c.split()[2:4] for c in commands[1:]] == [["convkit.tasks.image", "evaluate"],
                                                      ["convkit.tasks.image", "predict"],
                                                      ["convkit.tasks.image", "export"]]
    folder, results = readme_run
    line, done = results[0]
    assert done.returncode == 0, done.stderr[-2000:]
    run_dir, accuracy = done.stdout.split()
    assert float(accuracy) >= 0.9
    metrics = json.loads((folder / run_dir / "metrics.json").read_text())
    assert metrics["model"] == "tinynet:TinyNet"
    state = checkpoints.load_checkpoint(folder / run_dir / "best.pt")
    recorded = state["config"]["model"]
    assert (recorded["name"], recorded["options"], recorded["pretrained"]) == ("tinynet:TinyNet", {"classes": 2}, "")


def test_the_cli_evaluates_predicts_and_exports_the_readme_run_in_new_processes(readme_run):
    folder, results = readme_run
    for line, done in results[1:]:
        assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
    evaluate, predict, export = (r[1].stdout.strip().splitlines() for r in results[1:])
    assert json.loads(evaluate[0])["accuracy"] >= 0.9  # the 20 new images, read from files
    rows = [json.loads(row) for row in predict]
    assert [row["label"] for row in rows] == [Path(row["input"]).parent.name for row in rows] == ["vertical",
                                                                                                 "horizontal"]
    out = json.loads(export[0])
    assert (folder / "tiny.onnx").stat().st_size > 0 and out["max_abs_diff"] <= 1e-4
    assert json.loads((folder / "tiny.onnx.json").read_text())["model"] == "tinynet:TinyNet"


def test_evaluating_the_readme_run_without_data_says_its_data_came_from_python(readme_run):
    folder, _ = readme_run
    done = run_command("python -m convkit.tasks.image evaluate --checkpoint runs/image/tiny/best.pt", folder)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: data.path: this run's data came from Python")
    assert "--data" in lines[0]


# ---- in this process: a series model of a module of its own


@pytest.fixture
def net_module(tmp_path, monkeypatch):
    """A module ``usernet`` holding ``Net`` (a user's model), importable from ``tmp_path``."""
    (tmp_path / "usernet.py").write_text(NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("usernet", None)
    yield __import__("usernet")
    sys.modules.pop("usernet", None)


def bars(n: int, seed: int) -> TensorDataset:
    """Images ``[n, 1, 8, 8]`` in [0, 1] of horizontal (class 0) or vertical bars (class 1) on noise."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.rand(n, 1, 8, 8, generator=g) / 2, torch.arange(n) % 2
    x[y == 0, :, ::3] = x[y == 1, :, :, ::3] = 1
    return TensorDataset(x, y)


QUICK = dict(epochs=6, lr=0.05, batch_size=16, settings={"train.baselines": False, "train.threads": 1, "data.augment": False})


def test_a_tuple_of_splits_trains_and_load_run_scores_the_test_split_as_the_run_did(net_module, tmp_path, one_thread):
    train, val, test = bars(160, 0), bars(40, 1), bars(40, 2)
    run = convkit.fit("image", net_module.Net, (train, val, test), model_options={"classes": 2, "width": 8},
                      label_names=("horizontal", "vertical"), out=tmp_path, **QUICK)
    assert run.metrics["test"]["accuracy"] >= 0.9
    assert isinstance(run.model, net_module.Net) and run.config.model.options == {"classes": 2, "width": 8}
    assert run.config.data.path == "<python: TensorDataset, 240 examples>"

    again = convkit.load_run(run.run_dir)
    assert (again.checkpoint.name, again.task.name, again.metrics) == ("best.pt", "image", run.metrics)
    scored = again.evaluate(test)
    assert scored["accuracy"] == run.metrics["test"]["accuracy"]
    assert scored["loss"] == pytest.approx(run.metrics["test"]["loss"], rel=1e-5)
    rows = again.predict(test.tensors[0][:6])
    assert [r["input"] for r in rows] == list(range(6))
    assert [r["label"] for r in rows] == [["horizontal", "vertical"][int(y)] for y in test.tensors[1][:6]]
    with torch.no_grad():
        assert torch.equal(again.model(test.tensors[0]).argmax(1), run.model.cpu().eval()(test.tensors[0]).argmax(1))
    exported = again.export(tmp_path / "net.pt", format="torchscript")
    assert exported["max_abs_diff"] <= 1e-4 and (tmp_path / "net.pt").is_file()

    with pytest.raises(DataError, match=r"^data.path: this run's data came from Python .*evaluate --data"):
        again.evaluate()


def test_one_dataset_is_split_80_10_10_by_label_with_its_classes_as_label_names(net_module, tmp_path, one_thread):
    class Bars(Dataset):  # a map-style dataset that is no TensorDataset, with torchvision's `classes`
        classes = ["horizontal", "vertical"]

        def __init__(self) -> None:
            self.inner = bars(200, 3)

        def __len__(self) -> int:
            return len(self.inner)

        def __getitem__(self, i: int):
            x, y = self.inner[i]
            return x, int(y)

    run = convkit.fit("image", net_module.Net, Bars(), out=tmp_path, **QUICK)
    state = checkpoints.load_checkpoint(run.checkpoint)
    spec = state["data"]
    assert (spec["label_names"], spec["input_kind"], spec["spatial_dims"], spec["in_channels"],
            spec["input_shape"]) == (["horizontal", "vertical"], "grid", 2, 1, [1, 8, 8])
    assert run.metrics["test"]["confusion_matrix"] in ([[10, 0], [0, 10]], [[9, 1], [0, 10]], [[10, 0], [1, 9]],
                                                       [[9, 1], [1, 9]])  # 20 test series, 10 per class
    assert run.metrics["test"]["accuracy"] >= 0.9


def test_an_instance_trains_as_given_and_warns_when_its_class_and_options_do_not_rebuild_it(net_module, tmp_path,
                                                                                            one_thread):
    data = (bars(64, 0), bars(16, 1), bars(16, 2))
    quick = {**QUICK, "epochs": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # width 8 is the default: the class rebuilds it
        run = convkit.fit("image", net_module.Net(), data, out=tmp_path / "a", **quick)
    assert run.config.model.name == "usernet:Net" and run.config.model.options == {}
    loaded = load_trained(run.task, run.checkpoint)
    assert isinstance(loaded.model, net_module.Net)

    with pytest.warns(UserWarning, match=r"records its model as 'usernet:Net', but Net\(\*\*model_options\) "
                                         r"with model_options=\{\} does not have the given model's parameters"):
        convkit.fit("image", net_module.Net(width=4), data, out=tmp_path / "b", **quick)


def test_a_class_that_another_process_cannot_import_is_a_warning_then_one_line(tmp_path, one_thread, monkeypatch):
    monkeypatch.chdir(tmp_path)

    class Local(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(64, 2)

        def forward(self, x):
            return self.fc(x.flatten(1))

    with pytest.warns(UserWarning, match="defined inside a function"):
        run = convkit.fit("image", Local, (bars(32, 0), bars(8, 1), bars(8, 2)), out=tmp_path,
                          **{**QUICK, "epochs": 1})
    assert run.metrics["test"]["accuracy"] is not None  # it trained
    with pytest.raises(CheckpointError, match="cannot rebuild its model.*defined inside a function"):
        load_trained(run.task, run.checkpoint)


def test_a_script_class_in_main_says_so_in_the_script_and_in_a_new_process(tmp_path):
    script = NET + '''
import convkit, torch
from torch.utils.data import TensorDataset
x, y = torch.rand(48, 1, 8, 8), torch.arange(48) % 2
run = convkit.fit("image", Net, TensorDataset(x, y), epochs=1, settings={"train.name": "main", "train.baselines": False})
print(run.predict(x[:2])[0]["label"])  # in this process it rebuilds
'''
    (tmp_path / "script.py").write_text(script)
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() in ("0", "1")
    assert "records its model as '__main__:Net', but it is defined in __main__" in done.stderr
    other = run_command("python -m convkit image evaluate --checkpoint runs/image/main/best.pt --data x", tmp_path)
    assert other.returncode == 2
    assert other.stderr.strip().splitlines() == [
        "error: runs/image/main/best.pt: cannot rebuild its model: model '__main__:Net': module '__main__' has no "
        "'Net' (it is defined in __main__ (a script or notebook), which another process cannot import; move it to "
        "a module of its own (e.g. a .py file beside the script) and import it from there)"]


@pytest.mark.parametrize("name, why", [
    ("os:system", "not a subclass of torch.nn.Module"),
    ("builtins:eval", "not a subclass of torch.nn.Module"),
    ("convkit.train.task:Task", "not a subclass of torch.nn.Module"),
    ("os.path:join", "not a subclass of torch.nn.Module"),
    ("no_such_module_here:Net", "no module named 'no_such_module_here'"),
    ("torch.nn;import os:Linear", "expected an import path module:name"),
    ("antigravity:Net", "refused: antigravity is a standard library module not yet imported"),
    ("this:Net", "refused: this is a standard library module not yet imported"),
])
def test_a_crafted_checkpoint_cannot_make_a_load_call_anything_but_a_module_class(name, why, net_module, tmp_path,
                                                                                   one_thread, monkeypatch):
    run = convkit.fit("image", net_module.Net, (bars(32, 0), bars(8, 1), bars(8, 2)), out=tmp_path,
                      **{**QUICK, "epochs": 1})
    state = checkpoints.load_checkpoint(run.checkpoint)
    state["config"]["model"] = {"name": name, "options": {"command": "touch pwned"}}
    crafted = tmp_path / "crafted.pt"
    checkpoints.save_checkpoint(state, crafted)
    calls = []
    monkeypatch.setattr("os.system", lambda *a: calls.append(a))
    with pytest.raises(CheckpointError, match=re.escape(why)) as err:
        evaluate_checkpoint(run.task, crafted, dataset=bars(8, 3))
    assert str(err.value).startswith(f"{crafted}: cannot rebuild its model") and "\n" not in str(err.value)
    assert calls == [] and not (tmp_path / "pwned").exists()
    assert "antigravity" not in sys.modules and "this" not in sys.modules


def test_settings_flags_and_resume_go_through_the_cli_s_config(net_module, tmp_path, one_thread, capsys):
    data = (bars(64, 0), bars(16, 1), bars(16, 2))
    settings = {"train.name": "r", "train.baselines": False, "train": {"threads": 1}, "data.augment": False,
                "train.schedule": "none"}
    run = convkit.fit("image", net_module.Net, data, out=tmp_path, epochs=2, lr=0.02, batch_size=8,
                      settings=settings)
    c = run.config.train
    assert (c.epochs, c.lr, c.batch_size, c.name, c.baselines, c.threads, c.schedule) == \
        (2, 0.02, 8, "r", False, 1, "none")
    assert run.run_dir == tmp_path / "runs" / "image" / "r"

    more = convkit.fit("image", net_module.Net, data, out=tmp_path, resume=run.run_dir / "last.pt", epochs=3,
                       lr=0.02, batch_size=8, settings=settings)
    assert more.run_dir == run.run_dir
    history = (run.run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in history] == [1, 2, 3]

    from convkit.cli import main
    from convkit.tasks.image.task import TASK

    capsys.readouterr()
    assert main(TASK, ["train", "--resume", str(run.run_dir / "last.pt"), "--epochs", "4"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        "error: data.path: this run's data came from Python (<python: TensorDataset, 96 examples>)")


def test_bad_arguments_are_one_line_each(net_module, tmp_path):
    data = (bars(16, 0), bars(4, 1), bars(4, 2))
    with pytest.raises(ConfigError, match="unknown settings epoch; valid: epochs, batch_size, lr, seed, device"):
        convkit.fit("image", net_module.Net, data, out=tmp_path, epoch=3)
    with pytest.raises(ConfigError, match="unknown task 'imag'"):
        convkit.fit("imag", net_module.Net, data, out=tmp_path)
    with pytest.raises(ConfigError, match="model must be a model's name, an nn.Module subclass or an nn.Module"):
        convkit.fit("image", 3, data, out=tmp_path)
    with pytest.raises(ConfigError, match="convkit.fit trains one run"):
        convkit.fit("image", net_module.Net, data, out=tmp_path, settings={"train.seeds": 2})
    with pytest.raises(DataError, match=r"labels must be class indices 0..0, one per label name \(one\); found 0..1"):
        convkit.fit("image", net_module.Net, bars(40, 0), out=tmp_path, label_names=["one"])
    with pytest.raises(DataError, match="example 0 must be a pair"):
        convkit.fit("image", net_module.Net, [torch.zeros(1, 32)] * 10, out=tmp_path)
    with pytest.raises(DataError, match=r"cannot tell what the model takes from an input of shape \[32\]"):
        convkit.fit("image", net_module.Net, TensorDataset(torch.zeros(30, 32), torch.arange(30) % 2), out=tmp_path)
    with pytest.raises(DataError, match="only one class"):
        convkit.fit("image", net_module.Net, TensorDataset(torch.zeros(30, 1, 8, 8), torch.zeros(30).long()),
                    out=tmp_path)
    with pytest.raises(CheckpointError, match="no best.pt or last.pt"):
        convkit.load_run(tmp_path)
    assert not (tmp_path / "runs").exists()  # nothing half-written


def test_import_convkit_stays_cheap_and_exposes_the_api_lazily():
    code = "import sys, convkit; print('torch' in sys.modules); convkit.fit; print('convkit.api' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]
    assert convkit.fit is convkit.api.fit and convkit.Run is convkit.api.Run and "load_run" in dir(convkit)


def run_plugin(args: list[str], folder: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env_with(folder), capture_output=True, text=True, timeout=300)


def ok(done: subprocess.CompletedProcess) -> list:
    """The JSON lines a command printed (it must have succeeded)."""
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_a_task_by_import_path_trains_and_load_run_finds_it_in_a_new_process(tmp_path):
    site = write_toy_plugin(tmp_path / "site", dist_info=False)  # importable, not installed
    (trained,) = ok(run_plugin(python("-m", "convkit", "toyplug.task:TASK", "train", "--model", "fcn", "--epochs",
                                      "2", "--set", "train.name=r", "train.threads=1"), site, tmp_path))
    assert trained["run_dir"] == "runs/toyseries/r"
    code = ("import convkit; run = convkit.load_run('runs/toyseries/r'); "
            "print(type(run.task).__module__, run.task.name, run.evaluate()['accuracy'])")
    done = run_plugin(python("-c", code), site, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["toyplug.task", "toyseries", str(trained["test"]["accuracy"])]
    unknown = run_plugin(python("-m", "convkit", "toyseries", "info"), site, tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        "error: unknown task 'toyseries'; valid: image, text, timeseries, audio, video, pointcloud, graph "
        "(or module:attr of a Task)"]
