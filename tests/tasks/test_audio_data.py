"""Audio data: single files (rates, channels, lengths, bad files), folder / Speech Commands /
ESC-50 layouts with their splits, and the synthetic default set."""

from __future__ import annotations

import importlib.util
import tarfile
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from convkit.errors import ConfigError, DataError
from convkit.nn.audio import MFCC
from convkit.tasks.audio.data import (
    KWS12_WORDS,
    SILENCE,
    UNKNOWN,
    load_audio,
    load_audio_dataset,
    load_audio_eval_set,
    load_audio_files,
    load_noise_bank,
)
from convkit.tasks.audio.synthetic import CLASS_NAMES, load_sound_events_dataset, make_sound_events

SR = 16000
REPO = Path(__file__).resolve().parents[2]


def _recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_recipe", REPO / "data_recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def _peak_hz(wave: np.ndarray, rate: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[np.argmax(spectrum)])


def _write_id(path: Path, ident: int, seconds: float = 0.25) -> None:
    """A 16 kHz clip whose samples all equal ``ident / 1000``: its identity survives loading."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full(int(seconds * SR), ident / 1000, dtype=np.float32), SR, subtype="FLOAT")


def _ids(dataset) -> list[int]:
    waves = dataset.tensors[0]
    return sorted(int(round(v * 1000)) for v in waves[:, waves.shape[1] // 2].tolist())


# --------------------------------------------------------------------------- single files


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {
        "8k": tmp_path / "tone_8k.wav", "48k": tmp_path / "tone_48k.wav",
        "stereo": tmp_path / "stereo.wav", "short": tmp_path / "short.wav",
        "long": tmp_path / "long.flac", "ogg": tmp_path / "tone.ogg",
        "empty": tmp_path / "empty.wav", "text": tmp_path / "notes.wav",
        "no_samples": tmp_path / "no_samples.wav",
    }
    sf.write(out["8k"], _tone(1000, 1.0, 8000), 8000)
    sf.write(out["48k"], _tone(3000, 1.0, 48000), 48000)
    left, right = _tone(500, 1.0, SR, 0.4), _tone(500, 1.0, SR, 0.2)
    sf.write(out["stereo"], np.stack([left, right], axis=1), SR, subtype="FLOAT")
    sf.write(out["short"], np.full(int(0.2 * SR), 0.25, dtype=np.float32), SR, subtype="FLOAT")
    long = np.concatenate([np.full(15 * SR, 0.1), np.full(15 * SR, -0.1)]).astype(np.float32)
    sf.write(out["long"], long, SR, format="FLAC")
    sf.write(out["ogg"], _tone(2000, 1.0, 22050), 22050, format="OGG", subtype="VORBIS")
    out["empty"].write_bytes(b"")
    out["text"].write_text("this is not audio, only text with a .wav name\n")
    sf.write(out["no_samples"], np.zeros(0, dtype=np.float32), SR)
    return out


def test_load_audio_resamples_any_rate(files: dict[str, Path]) -> None:
    low = load_audio(files["8k"], SR)
    high = load_audio(files["48k"], SR)
    ogg = load_audio(files["ogg"], SR)
    assert low.shape == high.shape == ogg.shape == (SR,)
    assert low.dtype == np.float32
    assert _peak_hz(low) == pytest.approx(1000, abs=2)
    assert _peak_hz(high) == pytest.approx(3000, abs=2)
    assert _peak_hz(ogg) == pytest.approx(2000, abs=2)
    assert np.sqrt(np.mean(high[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_load_audio_downmixes_stereo(files: dict[str, Path]) -> None:
    mono = load_audio(files["stereo"], SR)
    np.testing.assert_allclose(mono, _tone(500, 1.0, SR, 0.3), atol=1e-6)


def test_load_audio_pads_short_and_crops_long_clips_centred(files: dict[str, Path]) -> None:
    short = load_audio(files["short"], SR, num_samples=SR)
    assert short.shape == (SR,)
    nonzero = np.flatnonzero(short)
    assert len(nonzero) == int(0.2 * SR) and nonzero[0] == (SR - int(0.2 * SR)) // 2
    assert np.all(short[nonzero] == 0.25)
    long = load_audio(files["long"], SR, num_samples=SR)  # the middle second of 30 s
    assert long.shape == (SR,)
    np.testing.assert_allclose(long[: SR // 2], 0.1, atol=1e-4)
    np.testing.assert_allclose(long[SR // 2:], -0.1, atol=1e-4)


@pytest.mark.parametrize("name, reason", [("empty", "empty file"), ("text", "not a readable audio file"),
                                          ("no_samples", "holds no samples")])
def test_load_audio_names_the_bad_file(files: dict[str, Path], name: str, reason: str) -> None:
    with pytest.raises(DataError, match=reason) as info:
        load_audio(files[name], SR)
    assert str(files[name]) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(DataError, match="file not found"):
        load_audio(files[name].with_name("missing.wav"), SR)


def test_load_audio_files_strict_or_skipping(files: dict[str, Path]) -> None:
    paths = [files["8k"], files["text"], files["short"]]
    with pytest.raises(DataError, match="notes.wav"):
        load_audio_files(paths, SR, SR, strict=True)
    with pytest.warns(UserWarning, match=r"skipped 1 file .*notes\.wav"):
        waves, kept = load_audio_files(paths, SR, SR, strict=False)
    assert kept == [0, 2] and waves.shape == (2, SR) and waves.dtype == torch.float32
    np.testing.assert_array_equal(waves[1].numpy(), load_audio(files["short"], SR, SR))


# --------------------------------------------------------------------------- <class>/<file> folders


def _class_folder(root: Path, per_class: int = 10) -> dict[str, list[int]]:
    """Three classes of identifiable clips; returns the ids per class."""
    ids = {}
    for c, name in enumerate(["bird", "car", "dog"]):
        ids[name] = [100 * (c + 1) + i for i in range(per_class)]
        for i in ids[name]:
            _write_id(root / name / f"{i}.wav", i)
    return ids


def test_folder_dataset_split_is_stratified_and_seeded(tmp_path: Path) -> None:
    ids = _class_folder(tmp_path / "ds")
    splits = load_audio_dataset(tmp_path / "ds", SR, duration=0.5, seed=0)
    assert splits.label_names == ["bird", "car", "dog"] and splits.extras["noise"] is None
    sizes = [len(s) for s in (splits.train, splits.val, splits.test)]
    assert sizes == [24, 3, 3]
    for dataset in (splits.train, splits.val, splits.test):
        waves, labels = dataset.tensors
        assert waves.shape[1] == SR // 2 and waves.dtype == torch.float32 and labels.dtype == torch.int64
        for wave, label in zip(waves, labels):  # every clip carries its own class
            assert int(round(float(wave[SR // 4]) * 1000)) in ids[splits.label_names[label]]
        assert torch.bincount(labels, minlength=3).tolist() == [len(labels) // 3] * 3
    every = _ids(splits.train) + _ids(splits.val) + _ids(splits.test)
    assert sorted(every) == sorted(i for v in ids.values() for i in v)
    again = load_audio_dataset(tmp_path / "ds", SR, duration=0.5, seed=0)
    other = load_audio_dataset(tmp_path / "ds", SR, duration=0.5, seed=1)
    assert _ids(again.test) == _ids(splits.test) and _ids(other.test) != _ids(splits.test)


def test_folder_dataset_background_noise_is_a_bank_not_a_class(tmp_path: Path) -> None:
    _class_folder(tmp_path / "ds", per_class=3)
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, SR).astype(np.float32)
    (tmp_path / "ds" / "_background_noise_").mkdir()
    sf.write(tmp_path / "ds" / "_background_noise_" / "hiss.wav", noise, SR, subtype="FLOAT")
    splits = load_audio_dataset(tmp_path / "ds", SR, duration=0.25)
    assert splits.label_names == ["bird", "car", "dog"]
    assert splits.extras["noise"] is not None and splits.extras["noise"].shape == (4, SR // 4)
    np.testing.assert_array_equal(splits.extras["noise"].reshape(-1).numpy(), noise)


def test_folder_dataset_honours_split_subfolders(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    for cls, base in (("a", 100), ("b", 200)):
        for i in range(8):
            _write_id(root / "train" / cls / f"{i}.wav", base + i)
        _write_id(root / "test" / cls / "t.wav", base + 50)
    splits = load_audio_dataset(root, SR, duration=0.25)
    assert _ids(splits.test) == [150, 250]
    assert len(splits.val) == 2 and set(_ids(splits.val)) <= set(range(100, 108)) | set(range(200, 208))
    assert sorted(_ids(splits.train) + _ids(splits.val)) == list(range(100, 108)) + list(range(200, 208))
    _write_id(root / "val" / "a" / "v.wav", 170)
    _write_id(root / "val" / "b" / "v.wav", 270)
    splits = load_audio_dataset(root, SR, duration=0.25)
    assert _ids(splits.val) == [170, 270] and len(splits.train) == 16


def test_folder_dataset_skips_or_rejects_corrupt_files(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _class_folder(root)
    (root / "dog" / "broken.wav").write_text("not audio")
    (root / "car" / "empty.ogg").write_bytes(b"")
    with pytest.warns(UserWarning) as caught:
        splits = load_audio_dataset(root, SR, duration=0.25)
    messages = " ".join(str(w.message) for w in caught)
    assert "broken.wav" in messages and "empty.ogg" in messages
    assert len(splits.train) + len(splits.val) + len(splits.test) == 30
    with pytest.raises(DataError, match=r"car/empty\.ogg: not a readable audio file \(empty file\)"):
        load_audio_dataset(root, SR, duration=0.25, strict=True)  # the first bad file, in sorted order


def test_folder_dataset_mixed_rates_channels_and_lengths(tmp_path: Path, files: dict[str, Path]) -> None:
    root = tmp_path / "mixed"
    for i, name in enumerate(["8k", "48k", "stereo", "short", "long", "ogg"]):
        for cls in ("x", "y"):
            target = root / cls / f"{i}{files[name].suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[name].read_bytes())
    splits = load_audio_dataset(root, SR, duration=1.0)
    assert splits.train.tensors[0].shape[1:] == (SR,)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 12


@pytest.mark.parametrize("make, message", [
    (lambda root: None, "no such folder"),
    (lambda root: root.mkdir(), "empty folder"),
    (lambda root: (root / "a").mkdir(parents=True) or (root / "a" / "x.txt").write_text("hi"),
     "no audio files in class subfolders"),
    (lambda root: root.mkdir() or sf.write(root / "loose.wav", np.zeros(100), SR),
     "found 1 audio files directly in it"),
    (lambda root: _write_id(root / "only" / "1.wav", 1), "only one class"),
])
def test_folder_dataset_errors(tmp_path: Path, make, message: str) -> None:
    root = tmp_path / "bad"
    make(root)
    with pytest.raises(DataError, match=message) as info:
        load_audio_dataset(root, SR, duration=0.25)
    assert str(root) in str(info.value)


def test_bad_options_are_config_errors(tmp_path: Path) -> None:
    _class_folder(tmp_path / "ds", per_class=3)
    with pytest.raises(ConfigError, match="unknown audio data option.*'wordz'"):
        load_audio_dataset(tmp_path / "ds", SR, wordz="all")
    with pytest.raises(ConfigError, match="words must be 'all' or '12'"):
        load_audio_dataset(tmp_path / "ds", SR, words="35")
    with pytest.raises(ConfigError, match="duration must be positive"):
        load_audio_dataset(tmp_path / "ds", SR, duration=0)


# --------------------------------------------------------------------------- Speech Commands


OTHER_WORDS = ("bed", "cat", "wow")


@pytest.fixture
def speech_commands(tmp_path: Path) -> Path:
    """Keyword folders (3 clips each, ids word*10+i) + 3 other words (4 clips each),
    official lists, and two background noise files of 2.5 s."""
    root = tmp_path / "sc"
    words = list(KWS12_WORDS) + list(OTHER_WORDS)
    val, test = [], []
    for w, word in enumerate(words):
        count = 3 if word in KWS12_WORDS else 4
        for i in range(count):
            _write_id(root / word / f"{i:04d}_nohash_0.wav", 10 * (w + 1) + i, seconds=0.5)
        val.append(f"{word}/0000_nohash_0.wav")
        test.append(f"{word}/0001_nohash_0.wav")
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    noise = root / "_background_noise_"
    noise.mkdir()
    rng = np.random.default_rng(0)
    sf.write(noise / "white_noise.wav", (0.1 * rng.standard_normal(int(2.5 * SR))).astype(np.float32), SR)
    sf.write(noise / "hum.wav", _tone(60, 2.5, 48000, 0.2), 48000)
    (noise / "README.md").write_text("noise files")
    return root


def test_speech_commands_all_words_follow_the_official_lists(speech_commands: Path) -> None:
    splits = load_audio_dataset(speech_commands, SR, duration=1.0)
    words = sorted(list(KWS12_WORDS) + list(OTHER_WORDS))
    assert splits.label_names == words
    order = list(KWS12_WORDS) + list(OTHER_WORDS)
    ident = {order.index(w): w for w in words}
    def expected(index: int) -> list[int]:
        return sorted(10 * (w + 1) + index for w in range(len(order)))
    assert _ids(splits.val) == expected(0)
    assert _ids(splits.test) == expected(1)
    # train: every file in neither list (keywords have 3 clips, other words 4)
    assert _ids(splits.train) == sorted([10 * (w + 1) + 2 for w in range(len(order))]
                                        + [10 * (w + 1) + 3 for w in range(10, len(order))])
    for dataset in (splits.train, splits.val, splits.test):  # labels name the right word
        waves, labels = dataset.tensors
        for wave, label in zip(waves, labels):
            ident_value = int(round(float(wave[SR // 2]) * 1000))
            assert ident[ident_value // 10 - 1] == splits.label_names[label]
    # the noise bank: 2.5 s files cut into whole 1 s clips, at the task's rate
    assert splits.extras["noise"] is not None and splits.extras["noise"].shape == (4, SR)


def test_speech_commands_twelve_class_setting(speech_commands: Path) -> None:
    splits = load_audio_dataset(speech_commands, SR, duration=1.0, words="12")
    assert splits.label_names == list(KWS12_WORDS) + [UNKNOWN, SILENCE]
    for dataset, index in ((splits.val, 0), (splits.test, 1)):
        waves, labels = dataset.tensors
        counts = torch.bincount(labels, minlength=12).tolist()
        assert counts == [1] * 12  # one per keyword; unknown and silence sized like a keyword
        keyword_ids = _ids(torch.utils.data.TensorDataset(waves[labels < 10]))
        assert keyword_ids == sorted(10 * (w + 1) + index for w in range(10))
        unknown_id = int(round(float(waves[labels == 10][0, SR // 2]) * 1000))
        assert unknown_id in {10 * (w + 11) + index for w in range(3)}
        silence = waves[labels == 11]
        assert silence.abs().max() > 0 and silence.shape == (1, SR)
    train_labels = splits.train.tensors[1]
    assert torch.bincount(train_labels, minlength=12).tolist() == [1] * 12
    every_unknown = load_audio_dataset(speech_commands, SR, words="12", unknown_ratio=None)
    assert torch.bincount(every_unknown.train.tensors[1], minlength=12)[10] == 3 * 2
    repeat = load_audio_dataset(speech_commands, SR, words="12", seed=5)  # the data set is fixed
    assert torch.equal(repeat.test.tensors[0], splits.test.tensors[0])


def test_speech_commands_list_problems(speech_commands: Path) -> None:
    with open(speech_commands / "testing_list.txt", "a") as handle:
        handle.write("yes/ghost.wav\n")
    with pytest.warns(UserWarning, match=r"1 files in the test list are missing \(first: yes/ghost\.wav\)"):
        splits = load_audio_dataset(speech_commands, SR)
    assert len(splits.test) == 13
    with pytest.raises(DataError, match="ghost"):
        load_audio_dataset(speech_commands, SR, strict=True)
    (speech_commands / "testing_list.txt").write_text("yes/0000_nohash_0.wav\n")
    with pytest.raises(DataError, match="in both validation_list.txt and testing_list.txt"):
        load_audio_dataset(speech_commands, SR)
    (speech_commands / "testing_list.txt").unlink()
    with pytest.raises(DataError, match="testing_list.txt is missing"):
        load_audio_dataset(speech_commands, SR)


def test_speech_commands_twelve_needs_keywords_and_noise(speech_commands: Path) -> None:
    for file in (speech_commands / "_background_noise_").iterdir():
        file.unlink()
    with pytest.raises(DataError, match="builds _silence_ from _background_noise_"):
        load_audio_dataset(speech_commands, SR, words="12")
    for file in (speech_commands / "stop").iterdir():
        file.unlink()
    with pytest.raises(DataError, match=r"missing \['stop'\]"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the lists name the removed files too
        load_audio_dataset(speech_commands, SR, words="12")


def test_eval_set_maps_labels_by_name(speech_commands: Path) -> None:
    splits = load_audio_dataset(speech_commands, SR)
    names = list(reversed(splits.label_names))
    evaluation = load_audio_eval_set(speech_commands, names, SR)
    assert _ids(evaluation) == _ids(splits.test)
    for wave, label in zip(*evaluation.tensors):
        match = (splits.test.tensors[0] == wave).all(1)
        assert names[label] == splits.label_names[splits.test.tensors[1][match][0]]
    with pytest.raises(DataError, match=r"classes \['wow'\] are not among the model's classes"):
        load_audio_eval_set(speech_commands, [n for n in names if n != "wow"], SR)


def test_eval_set_of_folders_is_test_folder_or_everything(tmp_path: Path) -> None:
    ids = _class_folder(tmp_path / "flat", per_class=3)
    evaluation = load_audio_eval_set(tmp_path / "flat", ["dog", "car", "bird"], SR, duration=0.25)
    assert _ids(evaluation) == sorted(i for v in ids.values() for i in v)
    for wave, label in zip(*evaluation.tensors):
        assert int(round(float(wave[SR // 8]) * 1000)) in ids[["dog", "car", "bird"][label]]
    for cls, base in (("a", 100), ("b", 200)):
        _write_id(tmp_path / "split" / "train" / cls / "x.wav", base)
        _write_id(tmp_path / "split" / "test" / cls / "y.wav", base + 1)
    evaluation = load_audio_eval_set(tmp_path / "split", ["a", "b"], SR, duration=0.25)
    assert _ids(evaluation) == [101, 201]


def test_noise_bank_cuts_clips(tmp_path: Path) -> None:
    sf.write(tmp_path / "n.wav", np.arange(35000, dtype=np.float32) / 1e5, SR, subtype="FLOAT")
    sf.write(tmp_path / "tiny.wav", np.ones(100, dtype=np.float32) * 0.5, SR, subtype="FLOAT")
    bank = load_noise_bank(tmp_path, SR, 10000)
    assert bank.shape == (4, 10000)
    np.testing.assert_allclose(bank[0].numpy(), np.arange(10000) / 1e5, atol=1e-7)
    assert bank[3].count_nonzero() == 100  # the short file, padded once
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "bad.wav").write_text("text")
    with pytest.warns(UserWarning, match="bad.wav"), pytest.raises(DataError, match="no readable audio"):
        load_noise_bank(tmp_path / "none", SR, 100)


# --------------------------------------------------------------------------- ESC-50


def _esc50(root: Path, seconds: float = 0.5) -> None:
    """Five folds x three categories (targets 0, 7, 12) at 44.1 kHz, ids fold*100+target."""
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    for fold in range(1, 6):
        for target, category, esc10 in ((0, "dog", True), (7, "wind", False), (12, "crackling_fire", True)):
            name = f"{fold}-{target}-A-{target}.wav"
            rows.append(f"{name},{fold},{target},{category},{esc10},{target},A")
            clip = np.full(int(seconds * 44100), (100 * fold + target) / 1000, dtype=np.float32)
            sf.write(root / "audio" / name, clip, 44100, subtype="FLOAT")
    (root / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")


def test_esc50_folds(tmp_path: Path) -> None:
    root = tmp_path / "ESC-50-master"
    _esc50(root)
    splits = load_audio_dataset(root, SR, duration=0.25)
    assert splits.label_names == ["dog", "wind", "crackling_fire"]  # ordered by target
    assert _ids(splits.test) == [500, 507, 512] and _ids(splits.val) == [400, 407, 412]
    assert _ids(splits.train) == sorted(100 * f + t for f in (1, 2, 3) for t in (0, 7, 12))
    assert splits.test.tensors[1].tolist() == [0, 1, 2]
    assert splits.train.tensors[0].shape == (9, SR // 4)
    other = load_audio_dataset(root, SR, duration=0.25, test_fold=1, val_fold=2, esc10=True)
    assert other.label_names == ["dog", "crackling_fire"]
    assert _ids(other.test) == [100, 112] and _ids(other.val) == [200, 212]
    with pytest.raises(ConfigError, match="test_fold and val_fold must differ"):
        load_audio_dataset(root, SR, test_fold=3, val_fold=3)
    with pytest.raises(ConfigError, match="val_fold must be one of 1..5"):
        load_audio_dataset(root, SR, val_fold=6)
    (root / "audio" / "5-7-A-7.wav").write_bytes(b"RIFF garbage")
    with pytest.warns(UserWarning, match=r"5-7-A-7\.wav"):
        assert len(load_audio_dataset(root, SR, duration=0.25).test) == 2
    (root / "meta" / "esc50.csv").write_text("filename,fold,category\nx.wav,1,dog\n")
    with pytest.raises(DataError, match=r"esc50\.csv: missing columns \['target'\]"):
        load_audio_dataset(root, SR)


# --------------------------------------------------------------------------- synthetic default


def test_sound_events_are_deterministic_and_well_formed() -> None:
    start = time.perf_counter()
    waves, labels, names = make_sound_events(20, seed=3)
    assert time.perf_counter() - start < 5.0
    assert names == list(CLASS_NAMES) and len(names) >= 8
    assert waves.shape == (200, SR) and waves.dtype == np.float32 and labels.dtype == np.int64
    assert np.bincount(labels).tolist() == [20] * 10
    peaks = np.abs(waves).max(axis=1)
    assert peaks.max() <= 10 ** (-3 / 20) + 1e-6 and peaks.min() >= 10 ** (-30 / 20) - 1e-6
    again, _, _ = make_sound_events(20, seed=3)
    other, _, _ = make_sound_events(20, seed=4)
    assert np.array_equal(waves, again) and not np.array_equal(waves, other)
    with pytest.raises(ConfigError, match="n_per_class"):
        make_sound_events(0)


def test_sound_events_rising_and_falling_chirps_move_in_opposite_directions() -> None:
    waves, labels, names = make_sound_events(30, seed=0)
    for name, sign in (("chirp_up", 1), ("chirp_down", -1)):
        for wave in waves[labels == names.index(name)]:
            frames = wave[: SR - SR % 400].reshape(-1, 400) * np.hanning(400)
            energy = (frames ** 2).sum(1)
            loud = np.flatnonzero(energy > 0.25 * energy.max())
            spectra = np.abs(np.fft.rfft(frames, axis=1))[:, 5:]  # >= 200 Hz: above the rumble
            pitch = np.argmax(spectra, axis=1)[loud[0]:loud[-1] + 1]
            third = max(1, len(pitch) // 3)
            assert sign * (np.median(pitch[-third:]) - np.median(pitch[:third])) > 0


def test_sound_events_defeat_the_mfcc_statistics_baseline() -> None:
    """Time-averaged MFCCs (mean and std) with logistic regression stay well below 90%."""
    waves, labels, _ = make_sound_events(60, seed=1)
    features = MFCC(n_mfcc=20, sample_rate=SR, n_fft=512, hop_length=160, n_mels=64).stats(
        torch.from_numpy(waves)).numpy()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(labels))
    train, test = order[:450], order[450:]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(features[train], labels[train])
    accuracy = model.score(features[test], labels[test])
    assert 0.4 < accuracy < 0.85  # it learns something, but cannot tell the structure apart


def test_sound_events_dataset_splits() -> None:
    splits = load_sound_events_dataset(n_per_class=20, seed=0)
    assert [len(splits.train), len(splits.val), len(splits.test)] == [160, 20, 20]
    assert splits.num_classes == 10 and splits.input_shape[0] == SR and splits.extras["noise"] is None
    assert torch.bincount(splits.test.tensors[1]).tolist() == [2] * 10


# --------------------------------------------------------------------------- data_recipes


def test_speech_commands_recipe_checks_and_copies(speech_commands: Path, tmp_path: Path, capsys) -> None:
    recipe = _recipe("speech_commands")
    out = tmp_path / "out"
    assert recipe.main(["--src", str(speech_commands.parent), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "has 13 word folders; expected 35 (v2) or 30 (v1)" in err
    assert not out.exists()
    assert recipe.main(["--src", str(speech_commands), "--out", str(out), "--skip-counts"]) == 0
    assert "13 words, 42 clips (13 validation, 13 test), 2 background noise files" in capsys.readouterr().out
    copied = load_audio_dataset(out, SR)
    original = load_audio_dataset(speech_commands, SR)
    for a, b in zip((copied.train, copied.val, copied.test), (original.train, original.val, original.test)):
        assert torch.equal(a.tensors[0], b.tensors[0]) and torch.equal(a.tensors[1], b.tensors[1])
    # from the archive, with a top folder
    archive = tmp_path / "sc.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(speech_commands, arcname="speech_commands")
    summary = recipe.prepare(archive, tmp_path / "from_tar", check_counts=False)
    assert summary["clips"] == 42 and (tmp_path / "from_tar" / "testing_list.txt").is_file()


def test_speech_commands_recipe_rejects_bad_copies(speech_commands: Path) -> None:
    recipe = _recipe("speech_commands")
    sf.write(speech_commands / "yes" / "9999_nohash_0.wav", np.zeros(SR * 2, dtype=np.float32), SR)
    with pytest.raises(DataError, match=r"9999_nohash_0\.wav: is 16000 Hz, 1 channel\(s\), 32000 samples"):
        recipe.check_speech_commands(speech_commands, check_counts=False)
    (speech_commands / "yes" / "9999_nohash_0.wav").unlink()
    (speech_commands / "no" / "0001_nohash_0.wav").unlink()
    missing = r"testing_list\.txt: names 1 clips that are missing \(first: no/0001"
    with pytest.raises(DataError, match=missing):
        recipe.check_speech_commands(speech_commands, check_counts=False)
    with pytest.raises(DataError, match="SHA-256 [0-9a-f]{64} differs from the published af14739e"):
        archive = speech_commands.parent / "speech_commands_v0.02.tar.gz"
        archive.write_bytes(b"not the archive")
        recipe.prepare(archive, speech_commands.parent / "out")


def test_esc50_recipe_checks_and_copies(tmp_path: Path, capsys) -> None:
    recipe = _recipe("esc50")
    src = tmp_path / "download" / "ESC-50-master"
    _esc50(src, seconds=5.0)
    out = tmp_path / "out"
    assert recipe.main(["--src", str(tmp_path / "download"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "has 15 clips (expected 2000)" in err and "3 targets" in err
    assert recipe.main(["--src", str(tmp_path / "download"), "--out", str(out), "--skip-counts"]) == 0
    assert "15 clips, 3 classes (2 in ESC-10)" in capsys.readouterr().out
    splits = load_audio_dataset(out, SR, duration=5.0)
    assert _ids(splits.test) == [500, 507, 512]
    bundle = tmp_path / "ESC-50-master.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        for file in src.rglob("*"):
            archive.write(file, file.relative_to(tmp_path / "download"))
    summary = recipe.prepare(bundle, tmp_path / "from_zip", check_counts=False)
    assert len(summary["rows"]) == 15 and not (tmp_path / "from_zip" / ".unpacked").exists()
    assert sorted(p.name for p in (tmp_path / "from_zip").iterdir()) == ["audio", "meta"]
    sf.write(src / "audio" / "1-0-A-0.wav", np.zeros(44100, dtype=np.float32), 44100)
    with pytest.raises(DataError, match=r"1-0-A-0\.wav: is 44100 Hz, 1 channel\(s\), 44100 samples"):
        recipe.check_esc50(src, check_counts=False)
    (src / "meta" / "esc50.csv").write_text("filename,fold,target\n")
    header = "header is filename,fold,target; expected filename,fold,target,category"
    with pytest.raises(DataError, match=header):
        recipe.check_esc50(src, check_counts=False)
