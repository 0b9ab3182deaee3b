"""Bad inputs for the image and audio data (issue 9, items 4, 8, 9, 12): a class whose files
are all unreadable is an error naming it; skipped files make ONE summary warning and are
all listed; NaN/Inf pixels or samples are caught at load naming the file; sizes that
cannot fit their input are refused before any data is decoded; the audio models fit on
the meta device."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from convkit.cli import models_that_fit
from convkit.config import resolve_config
from convkit.data.skipped import SHOWN
from convkit.errors import ConfigError, DataError
from convkit.nn import LogMelSpectrogram
from convkit.tasks.audio.data import load_audio_dataset, load_audio_files
from convkit.tasks.audio.task import TASK as AUDIO
from convkit.tasks.image.data import load_image_dataset, load_image_files
from convkit.tasks.image.task import TASK as IMAGE

SR = 8000


def _pngs(root: Path, counts: dict[str, int]) -> None:
    rng = np.random.default_rng(0)
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(root / name / f"{i}.png")


def _wavs(root: Path, counts: dict[str, int]) -> None:
    rng = np.random.default_rng(0)
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            sf.write(root / name / f"{i}.wav", rng.uniform(-0.5, 0.5, SR // 4).astype(np.float32), SR)


def _one_warning(record: list[warnings.WarningMessage]) -> str:
    messages = [str(w.message) for w in record]
    assert len(messages) == 1, messages
    assert "\n" not in messages[0]
    return messages[0]


# --------------------------------------------------------------------------- item 4


def test_image_class_with_only_unreadable_files_is_an_error_naming_it(tmp_path: Path) -> None:
    _pngs(tmp_path, {"cat": 6, "dog": 6})
    (tmp_path / "owl").mkdir()
    for i in range(7):
        (tmp_path / "owl" / f"{i}.png").write_bytes(b"junk")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match=r"class 'owl' has 7 files and none could be used "
                                            r"\(first: .*owl/0\.png\)") as info:
            load_image_dataset(tmp_path)
    assert "\n" not in str(info.value)


def test_image_skipped_files_are_one_summary_line_and_all_listed(tmp_path: Path) -> None:
    _pngs(tmp_path, {"cat": 10, "dog": 10})
    for i in range(6):
        (tmp_path / "dog" / f"bad{i}.png").write_bytes(b"junk")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        splits = load_image_dataset(tmp_path)
    message = _one_warning(record)
    assert "skipped 6 files" in message and f"and {6 - SHOWN} more" in message
    assert sum(f"bad{i}.png" in message for i in range(6)) == SHOWN
    assert len(splits.extras["skipped"]) == 6
    assert all("corrupt or unreadable image" in s for s in splits.extras["skipped"])
    assert splits.label_names == ["cat", "dog"] and len(splits.train) + len(splits.val) + len(splits.test) == 20


def test_audio_class_with_only_unreadable_files_is_an_error_naming_it(tmp_path: Path) -> None:
    _wavs(tmp_path, {"bird": 6, "car": 6})
    (tmp_path / "dog").mkdir()
    for i in range(63):
        (tmp_path / "dog" / f"{i:02d}.wav").write_text("not audio")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(DataError, match=r"class 'dog' has 63 files and none could be used "
                                            r"\(first: .*dog/00\.wav\)"):
            load_audio_dataset(tmp_path, SR, duration=0.25)
    assert len(record) <= 1  # never 63 warning lines


def test_audio_skipped_files_are_one_summary_line_and_all_listed(tmp_path: Path) -> None:
    _wavs(tmp_path, {"bird": 10, "car": 10})
    for i in range(5):
        (tmp_path / "car" / f"bad{i}.wav").write_text("not audio")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        splits = load_audio_dataset(tmp_path, SR, duration=0.25)
    message = _one_warning(record)
    assert "skipped 5 files" in message and "and 2 more" in message
    assert sorted(Path(s.split(": ")[0]).name for s in splits.extras["skipped"]) == [f"bad{i}.wav" for i in range(5)]
    assert len(splits.train) + len(splits.val) + len(splits.test) == 20


# --------------------------------------------------------------------------- item 9


def _float_tiff(path: Path, value: float) -> None:
    array = np.full((8, 8), 0.5, dtype=np.float32)
    array[3, 4] = value
    Image.fromarray(array, mode="F").save(path)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_image_nan_or_inf_pixels_are_caught_at_load(tmp_path: Path, value: float) -> None:
    _pngs(tmp_path, {"cat": 5, "dog": 5})
    _float_tiff(tmp_path / "cat" / "hot.tif", value)
    with pytest.warns(UserWarning, match=r"skipped 1 file .*hot\.tif: image holds 1 NaN or infinite pixel value"):
        splits = load_image_dataset(tmp_path)
    images = torch.cat([d.tensors[0] for d in (splits.train, splits.val, splits.test)])
    assert len(images) == 10 and torch.isfinite(images).all()
    with pytest.raises(DataError, match=r"hot\.tif: image holds 1 NaN or infinite pixel value"):
        load_image_dataset(tmp_path, strict=True)
    with pytest.raises(DataError, match=r"hot\.tif: image holds"):
        load_image_files([tmp_path / "cat" / "hot.tif"], 8, 1)


def test_audio_nan_samples_are_caught_at_load(tmp_path: Path) -> None:
    _wavs(tmp_path, {"bird": 5, "car": 5})
    wave = np.zeros(SR // 4, dtype=np.float32)
    wave[100] = np.nan
    sf.write(tmp_path / "bird" / "nan.wav", wave, SR, subtype="FLOAT")
    with pytest.warns(UserWarning, match=r"skipped 1 file .*nan\.wav: audio file holds NaN or infinite samples"):
        splits = load_audio_dataset(tmp_path, SR, duration=0.25)
    waves = torch.cat([d.tensors[0] for d in (splits.train, splits.val, splits.test)])
    assert len(waves) == 10 and torch.isfinite(waves).all()
    with pytest.raises(DataError, match=r"nan\.wav: audio file holds NaN"):
        load_audio_dataset(tmp_path, SR, duration=0.25, strict=True)
    with pytest.raises(DataError, match=r"nan\.wav"):
        load_audio_files([tmp_path / "bird" / "nan.wav"], SR, SR // 4, strict=True)


# --------------------------------------------------------------------------- item 8


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["task.n_fft=32768"], r"task\.n_fft \(32768\) is longer than the clip: .* 8000 samples"),
        (["task.hop_length=9000", "task.n_fft=512"], r"task\.hop_length \(9000\) is longer than the clip"),
    ],
)
def test_audio_sizes_longer_than_the_clip_are_refused_before_decoding(sets: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):  # at config time: before a million clips are made
        resolve_config(AUDIO.config_class, sets=["data.sample_rate=8000", "data.n_per_class=100000", *sets])


def test_audio_more_mel_bands_than_fft_bins_is_refused_at_config_time() -> None:
    with pytest.raises(ConfigError, match=r"task\.n_mels \(200\) is more than the 129 frequency bins"):
        resolve_config(AUDIO.config_class, sets=["task.n_mels=200", "task.n_fft=256"])


def test_audio_model_minimum_is_refused_before_decoding(tmp_path: Path) -> None:
    cfg = resolve_config(AUDIO.config_class, sets=["model.name=alexnet", "data.path=" + str(tmp_path / "nowhere")])
    with pytest.raises(ConfigError, match=r"model alexnet needs every spatial size >= 63, but task\.n_mels is 40"):
        AUDIO.build_data(cfg)  # the missing folder is never looked at


def test_image_size_below_the_model_minimum_is_refused_before_decoding(tmp_path: Path) -> None:
    cfg = resolve_config(IMAGE.config_class, sets=["data.image_size=16", "data.path=" + str(tmp_path / "nowhere")])
    with pytest.raises(ConfigError, match=r"model lenet5 needs every spatial size >= 32, but data\.image_size is 16"):
        IMAGE.build_data(cfg)
    _pngs(tmp_path / "small", {"a": 5, "b": 5})  # native 8x8 images, no resize
    cfg = resolve_config(IMAGE.config_class, sets=["data.image_size=none", f"data.path={tmp_path / 'small'}"])
    with pytest.raises(ConfigError, match=r"but the images' height is 8 and width is 8; set data\.image_size"):
        IMAGE.build_data(cfg)


# --------------------------------------------------------------------------- item 12


def test_logmel_runs_on_the_meta_device() -> None:
    with torch.device("meta"):
        front = LogMelSpectrogram(SR, n_fft=256, hop_length=80, n_mels=32)
        out = front(torch.empty(2, SR))
    assert out.device.type == "meta" and out.shape == (2, 1, 32, 1 + SR // 80)


def test_audio_info_lists_the_models_that_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    import convkit.models

    real = convkit.models.list_models
    few = {"alexnet", "audio_cnn", "resnet18", "lenet5", "m5"}  # the CLI's own filter, on a few (fast)
    monkeypatch.setattr(convkit.models, "list_models", lambda **kw: [n for n in real(**kw) if n in few])
    cfg = resolve_config(AUDIO.config_class, sets=["data.n_per_class=3", "data.sample_rate=8000"])
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, name=cfg.model.name or AUDIO.default_model))
    data = AUDIO.build_data(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = models_that_fit(AUDIO, cfg, data)
    assert fits == ["audio_cnn", "lenet5", "resnet18"]  # alexnet needs 63 > 40 mel bands; m5 is 1D
