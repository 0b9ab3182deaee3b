"""The audio task on recordings grouped by speaker: leave-one-speaker-out cross-validation
(data.cv=logo, data.test_group) reported as mean ± std with the MFCC + SVM baseline the
same way; clip length, batch and epochs sized from the data in one log line; the defaults
of a run on recordings against the embedded data's and the recipes'."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from convkit.cli import main
from convkit.data.manifest import NO_GROUPS
from convkit.tasks.audio.data import AUTO_DURATION_MAX, auto_duration, dataset_duration, dataset_groups
from convkit.tasks.audio.task import FILES_TASK, TASK, AudioFilesRunConfig, AudioRunConfig
from convkit.train.task import resolve_task_config

SR = 8000
SPEAKERS = ("ann", "bob", "cy")
PATTERN = "data.label_pattern={label}_{speaker}_{index}"
FAST = ("data.sample_rate=8000", "task.n_fft=256", "task.hop_length=80", "task.n_mels=32",
        "model.options.channels=[8, 16, 32]", "train.threads=1")


def _sweep(f0: float, seconds: float, rising: bool, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    f = f0 * 2 ** ((t if rising else seconds - t) / seconds)
    wave = 0.3 * np.sin(2 * np.pi * np.cumsum(f) / SR) + 0.01 * rng.standard_normal(len(t))
    return wave.astype(np.float32)


def make_speakers(root: Path, per_class: int = 8) -> Path:
    """``root/{up,down}_{speaker}_{i}.wav``: rising or falling sweeps, each speaker at a pitch
    of its own, 0.3-0.75 s long (the longest 0.75 s)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for s, speaker in enumerate(SPEAKERS):
        for label in ("up", "down"):
            for i in range(per_class):
                seconds = 0.75 if (s, label, i) == (0, "up", 0) else rng.uniform(0.3, 0.7)
                wave = _sweep(250 * 1.25 ** s * rng.uniform(0.95, 1.05), seconds, label == "up", rng)
                sf.write(root / f"{label}_{speaker}_{i}.wav", wave, SR)
    return root


def _main(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(TASK, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def folds(tmp_path_factory) -> tuple[Path, dict, Path]:
    """One leave-one-speaker-out command on the three speakers: (data, summary, folds folder)."""
    data = make_speakers(tmp_path_factory.mktemp("speakers"), per_class=16)
    out = tmp_path_factory.mktemp("runs")
    # the protocol, not the augmentation: a few steps of a small CNN on plain log-mel
    code = main(TASK, ["train", "--data", str(data), "--out", str(out), "--epochs", "12", "--batch-size", "8",
                       "--lr", "0.01", "--device", "cpu", "--set", PATTERN, "data.group_by=speaker", "data.cv=logo",
                       "task.speed=0", "task.vtlp=0", "task.normalize=clip", *FAST,
                       "model.options.channels=[16, 32, 64]"])
    assert code == 0
    base = next((out / "runs" / "audio").iterdir())
    return data, json.loads((base / "summary.json").read_text()), base


def test_leave_one_speaker_out_reports_every_fold_and_the_svm_alike(folds):
    _, summary, base = folds
    assert summary["folds"] == list(SPEAKERS)
    accuracy = summary["test"]["accuracy"]
    assert len(accuracy["values"]) == 3 and accuracy["std"] == pytest.approx(np.std(accuracy["values"], ddof=1))
    # rising vs falling sweeps read by an unheard voice (pitch): 1.0 measured on each fold
    assert accuracy["mean"] >= 0.9, accuracy
    assert {"linear", "mlp", "mfcc_svm"} <= set(summary["baselines"])
    assert len(summary["baselines"]["mfcc_svm"]["accuracy"]["values"]) == 3
    for speaker in SPEAKERS:
        groups = json.loads((base / speaker / "split_groups.json").read_text())
        assert groups["test"] == [speaker] and groups["group_by"] == "speaker"
        assert speaker not in groups["train"] and speaker not in groups["val"]
        assert sorted(groups["train"]) == sorted(set(SPEAKERS) - {speaker})  # every other voice trains
        metrics = json.loads((base / speaker / "metrics.json").read_text())
        assert metrics["test"]["accuracy"] == pytest.approx(accuracy["values"][SPEAKERS.index(speaker)])
        config = (base / speaker / "config.toml").read_text()
        assert f'test_group = "{speaker}"' in config and "duration = 0.8" in config  # sized: 0.75 s -> 0.8 s


def test_evaluate_scores_the_held_out_speaker(folds, capsys):
    data, _, base = folds
    metrics = json.loads((base / "bob" / "metrics.json").read_text())
    code, out, _ = _main(capsys, "evaluate", "--checkpoint", str(base / "bob" / "best.pt"), "--data", str(data))
    assert code == 0
    assert json.loads(out.strip().splitlines()[-1])["accuracy"] == pytest.approx(metrics["test"]["accuracy"])


def test_one_fold_and_sizing_from_the_data_in_one_line(tmp_path, capsys):
    data = make_speakers(tmp_path / "speakers")
    code, out, err = _main(capsys, "train", "--data", str(data), "--out", str(tmp_path), "--device", "cpu",
                           "--set", PATTERN, "data.group_by=speaker", "data.test_group=cy", "task.min_steps=30",
                           "train.baselines=false", *FAST)
    assert code == 0
    lines = [line for line in err.splitlines() if "sized from the data" in line]
    assert len(lines) == 1, err
    # ann's and bob's 32 clips, 4 of them carved for validation: 28 train, a batch of 2, 14 steps an epoch
    assert "data.duration 0.8 s (the longest of 48 files, 0.75 s" in lines[0]
    assert "train.batch_size 2 (64, at most a tenth of the 28 training clips)" in lines[0]
    assert "train.epochs 10 (14 steps an epoch" in lines[0]
    run_dir = Path(json.loads(out.strip().splitlines()[-1])["run_dir"])
    config = (run_dir / "config.toml").read_text()
    assert "epochs = 10" in config and "batch_size = 2" in config and "duration = 0.8" in config
    assert json.loads((run_dir / "split_groups.json").read_text())["test"] == ["cy"]

    code, _, err = _main(capsys, "train", "--data", str(data), "--out", str(tmp_path / "given"), "--device", "cpu",
                         "--epochs", "1", "--batch-size", "4", "--set", PATTERN, "data.duration=0.5",
                         "train.baselines=false", *FAST)
    assert code == 0
    assert "data.duration 0.5 s (given); train.batch_size 4 (given); train.epochs 1 (given" in err


@pytest.mark.parametrize("sets, message", [
    (["data.cv=logo"], "data.cv=logo needs groups"),
    ([PATTERN, "data.cv=logo", "data.group_by=none"], "data.cv=logo needs groups"),
    ([PATTERN, "data.group_by=speaker", "data.test_group=dan"], "no example of the group 'dan'"),
    ([PATTERN, "data.test_group=ann"], "needs groups"),
])
def test_grouping_mistakes_are_one_line(tmp_path, capsys, sets, message):
    data = make_speakers(tmp_path / "speakers", per_class=3)
    code, _, err = _main(capsys, "train", "--data", str(data), "--out", str(tmp_path / "o"), "--set", *sets)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").rglob("*.pt"))


def test_groups_and_clip_length_are_read_without_decoding(tmp_path):
    data = make_speakers(tmp_path / "speakers", per_class=2)
    assert dataset_groups(data, label_pattern="{label}_{speaker}_{index}", group_by="speaker") == list(SPEAKERS)
    sized = dataset_duration(data, 0, label_pattern="{label}_{speaker}_{index}")
    assert (sized.seconds, sized.files, sized.given, sized.cropped) == (0.8, 12, False, 0)
    assert dataset_duration(data, 0.5, label_pattern="{label}_{speaker}_{index}").given
    noise = tmp_path / "folder"
    for label in ("a", "b"):
        (noise / label).mkdir(parents=True)
        sf.write(noise / label / "x.wav", np.zeros(SR // 4, np.float32), SR)
    (noise / "_background_noise_").mkdir()
    sf.write(noise / "_background_noise_" / "long.wav", np.zeros(SR * 30, np.float32), SR)
    assert dataset_duration(noise).seconds == 0.3  # the noise bank is not a clip: 0.25 s -> 0.3 s
    assert auto_duration(np.array([0.999875, 0.2])) == 1.0 and auto_duration(np.array([1.0])) == 1.0
    assert auto_duration(np.array([61.0])) == AUTO_DURATION_MAX


def test_recordings_get_the_speaker_robust_defaults_and_the_recipes_keep_theirs():
    task, embedded = resolve_task_config(TASK)
    assert task is TASK and type(embedded) is AudioRunConfig
    assert (embedded.task.speed, embedded.task.vtlp, embedded.task.normalize, embedded.data.duration,
            embedded.train.epochs, embedded.train.batch_size) == (0.0, 0.0, "clip", 1.0, 10, 64)
    task, files = resolve_task_config(TASK, sets=["data.path=somewhere"])
    assert task is FILES_TASK and type(files) is AudioFilesRunConfig
    assert (files.data.duration, files.train.epochs, files.train.batch_size) == (0.0, 0, 0)
    assert files.task.speed > 0 and files.task.vtlp > 0 and files.task.normalize == "clip" and files.task.mixup == 0
    _, given = resolve_task_config(TASK, flags={"train.epochs": "3"}, sets=["data.path=x", "task.vtlp=0"])
    assert given.train.epochs == 3 and given.task.vtlp == 0.0  # a value given wins over every default
    for name in sorted(set(TASK.recipes()) - {"default"}):  # every recipe names its data set
        _, recipe = resolve_task_config(TASK, [TASK.recipe(name)])
        assert recipe.data.path and recipe.data.duration > 0 and recipe.train.epochs > 0
        assert (recipe.task.speed, recipe.task.vtlp, recipe.task.pitch_shift, recipe.task.mixup,
                recipe.task.normalize) == (0.0, 0.0, 0.0, 0.0, "clip"), name
    assert NO_GROUPS == "none"


def _load_recipe():
    import importlib.util

    spec = importlib.util.spec_from_file_location("fsdd_recipe", Path(__file__).resolve().parents[2]
                                                  / "data_recipes" / "fsdd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fsdd_recipe_writes_the_usual_split(tmp_path, capsys):
    from convkit.tasks.audio.data import load_audio_dataset

    recipe = _load_recipe()
    src = tmp_path / "free-spoken-digit-dataset" / "recordings"
    src.mkdir(parents=True)
    for speaker in ("ann", "bob"):
        for digit in range(10):
            for index in range(7):
                sf.write(src / f"{digit}_{speaker}_{index}.wav", np.full(800, 0.1 * (digit + 1), np.float32), SR)
    (src / "README.txt").write_text("not a recording")
    assert recipe.main(["--src", str(tmp_path), "--out", str(tmp_path / "out")]) == 2  # 7 of 50 per digit
    assert "pass --skip-counts" in capsys.readouterr().err
    assert recipe.main(["--src", str(tmp_path), "--out", str(tmp_path / "out"), "--skip-counts"]) == 0
    assert "100 are the usual test set" in capsys.readouterr().out
    manifest = tmp_path / "out" / "usual_split.csv"
    lines = manifest.read_text().splitlines()
    assert lines[0] == "path,label,speaker,split" and "recordings/0_ann_0.wav,0,ann,test" in lines
    assert "recordings/0_ann_5.wav,0,ann,train" in lines and len(lines) == 141
    splits = load_audio_dataset(manifest, SR, 0.1)
    assert len(splits.test) == 100 and len(splits.train) + len(splits.val) == 40
    sf.write(src / "nine_ann_1.wav", np.zeros(800, np.float32), SR)
    assert recipe.main(["--src", str(src), "--out", str(tmp_path / "o2"), "--skip-counts"]) == 2
    assert "nine_ann_1.wav: the name does not match" in capsys.readouterr().err
