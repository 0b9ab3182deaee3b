"""A non-editable install (the package as pip installs it, run outside the checkout) carries
every task's recipes: it lists them by name and trains one by name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import convkit

REPO = Path(convkit.__file__).parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package installed with pip (not editable) from a clean copy of the source."""
    if not (REPO / "pyproject.toml").is_file():
        pytest.skip("not a source checkout")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "convkit", src / "convkit", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(src)], check=True, capture_output=True)
    return target


def run(code_or_args: list[str], target: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *code_or_args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_an_installed_package_lists_and_runs_every_tasks_recipes_by_name(installed: Path, tmp_path: Path):
    code = ("import convkit, json\n"
            "from convkit.tasks import TASK_NAMES, load_task\n"
            "from convkit.train.task import resolve_task_config\n"
            "out = {'file': convkit.__file__, 'recipes': {}}\n"
            "for name in TASK_NAMES:\n"
            "    task = load_task(name)\n"
            "    out['recipes'][name] = sorted(task.recipes())\n"
            "    for recipe in task.recipes():\n"
            "        resolve_task_config(task, [task.recipe(recipe)])\n"
            "print(json.dumps(out))\n")
    listed = run(["-c", code], installed, tmp_path)
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert Path(found["file"]).is_relative_to(installed)  # the installed copy, not the checkout
    assert found["recipes"] == {
        "image": ["cifar10", "default", "imagenet_resnet18", "mnist"], "text": ["default", "mr", "sst2"],
        "timeseries": ["csv", "default", "nab", "ucr_anomaly", "ucr_classification"],
        "audio": ["default", "esc50", "imagenet_resnet18", "speech_commands"],
        "video": ["default", "kinetics_r2plus1d", "ucf101"],
        "pointcloud": ["default", "modelnet40"], "graph": ["citeseer", "cora", "default", "pubmed"]}
    trained = run(["-m", "convkit.tasks.graph", "train", "--recipe", "default", "--epochs", "2", "--out",
                   str(tmp_path), "--set", "train.name=r", "train.baselines=false"], installed, tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout.splitlines()[-1])["run_dir"].endswith("r")
    info = run(["-m", "convkit.tasks.audio", "info"], installed, tmp_path)
    assert info.returncode == 0 and "recipes (--recipe NAME):\n  default, esc50, imagenet_resnet18, speech_commands" in info.stdout
