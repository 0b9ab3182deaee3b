"""Recipes are installed with each task's package and selectable by name: every recipe of
every task loads and validates, ``default`` equals the defaults, ``--recipe`` runs one and
an unknown name is one line listing the task's recipes."""

from __future__ import annotations

import dataclasses

import pytest

from convkit import config as config_io
from convkit.cli import build_parser, config_from_args, info_text, main
from convkit.tasks import TASK_NAMES, load_task
from convkit.train.task import resolve_task_config


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_recipe_loads_and_validates_and_default_equals_the_defaults(name: str) -> None:
    task = load_task(name)
    recipes = task.recipes()
    assert "default" in recipes and len(recipes) >= 2, recipes  # the defaults plus a real dataset's
    for recipe, file in recipes.items():
        runner, cfg = resolve_task_config(task, [file])
        config_io.validate(cfg)
        assert isinstance(cfg, runner.config_class), recipe
    _, default = resolve_task_config(task, [recipes["default"]])
    _, plain = resolve_task_config(task)
    # a recipe may spell out the model's own option defaults ({} in the plain config)
    assert dataclasses.replace(default, model=dataclasses.replace(default.model, options={})) == plain
    assert f"recipes (--recipe NAME):\n  {', '.join(recipes)}" in info_text(task)


def test_recipe_by_name_on_the_command_line_then_config_flags_and_set_over_it(tmp_path) -> None:
    task = load_task("image")
    extra = tmp_path / "extra.toml"
    extra.write_text("[train]\nbatch_size = 7\nepochs = 3\n")
    args = build_parser(task).parse_args(["train", "--recipe", "mnist", "--config", str(extra), "--epochs", "2",
                                          "--set", "train.lr=0.5"])
    _, cfg = config_from_args(task, args)
    _, mnist = resolve_task_config(task, [task.recipe("mnist")])
    assert (cfg.train.batch_size, cfg.train.epochs, cfg.train.lr) == (7, 2, 0.5)
    assert dataclasses.replace(cfg, train=mnist.train) == mnist  # everything else is the recipe's


def test_unknown_recipe_is_one_line_listing_the_recipes(capsys) -> None:
    code = main(load_task("image"), ["train", "--recipe", "imagenet"])
    assert code == 2
    assert capsys.readouterr().err == ("error: unknown recipe 'imagenet' for the image task; valid: cifar10, "
                                       "default, imagenet_resnet18, mnist (or --config FILE.toml)\n")
