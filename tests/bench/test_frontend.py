"""The bench's front-end comparison and fixed costs: the front end gives librosa's numbers
on the audio task's settings, the section reports both sides and their differences,
time-to-bar reads the run's epochs, and the generated sound events are cached exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from convkit.bench import frontend, report, suite
from convkit.nn.audio import LogMelSpectrogram
from convkit.tasks.audio import synthetic as audio_data
from convkit.tasks.audio.synthetic import make_sound_events


def test_front_end_equals_librosa_on_the_task_settings_clip_by_clip_and_batched():
    settings = frontend.audio_settings()
    assert settings == {"sample_rate": 16000, "n_fft": 512, "hop_length": 160, "n_mels": 40}
    waves = frontend.clips(12, settings["sample_rate"])
    assert waves.shape == (12, 16000) and waves.dtype == np.float32
    ref = frontend.librosa_log_mel(waves, settings)
    front = LogMelSpectrogram(**settings)
    batched = front(torch.from_numpy(waves))[:, 0].numpy()
    one_by_one = np.stack([front(torch.from_numpy(w[None]))[0, 0].numpy() for w in waves])
    assert batched.shape == ref.shape == (12, 40, 101)
    np.testing.assert_allclose(batched, ref, atol=1e-3, rtol=0)
    np.testing.assert_array_equal(batched, one_by_one)  # chunking never changes a clip


def test_chunked_batches_equal_one_chunk(monkeypatch):
    waves = torch.from_numpy(frontend.clips(7, 16000, seed=3))
    front = LogMelSpectrogram(16000, 512, hop_length=160, n_mels=40)
    whole = front(waves)
    monkeypatch.setattr("convkit.nn.audio.CPU_CHUNK_VALUES", 2 * 101 * 512)  # chunks of 2 clips
    assert len(front._chunks(front._padded(waves))) == 4
    torch.testing.assert_close(front(waves), whole, rtol=0, atol=0)


def test_frontend_section_reports_both_sides_and_the_differences():
    result = frontend.run_frontend("smoke", count=6, rounds=1)
    assert result["clips"] == 6 and result["rounds"] == 1 and result["targets"] == {"loop": 4.0, "batch": 2.0}
    for call in ("loop", "batch"):
        pair = result[call]
        assert pair["convkit_s"] > 0 and pair["librosa_s"] > 0
        assert pair["speedup"] == pytest.approx(pair["librosa_s"] / pair["convkit_s"], rel=1e-2)
    assert result["max_abs_db"] < 1e-3 and result["max_rel_power"] < 1e-4
    lines = report.frontend_text(result)
    assert "## Log-mel front end vs librosa" in lines
    assert sum(line.startswith("| per-clip loop |") or line.startswith("| one batched call |") for line in lines) == 2
    assert "x (target 4x)" in frontend.summary(result) and "x (target 2x)" in frontend.summary(result)
    assert report.frontend_text({"error": "ImportError: no librosa"})[-1] == "failed: ImportError: no librosa"


def test_time_to_bar_is_the_first_epoch_at_the_bar(tmp_path):
    lines = [{"epoch": 1, "seconds": 2.0, "val": {"accuracy": 0.5, "loss": 1.0}},
             {"epoch": 2, "seconds": 4.5, "val": {"accuracy": 0.96, "loss": 0.3}},
             {"epoch": 3, "seconds": 7.0, "val": {"accuracy": 0.99, "loss": 0.2}}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert suite.time_to_bar(tmp_path, "accuracy", "max", 0.95) == \
        {"bar": 0.95, "metric": "accuracy", "epoch": 2, "seconds": 4.5}
    assert suite.time_to_bar(tmp_path, "accuracy", "max", 0.995)["epoch"] is None
    assert suite.time_to_bar(tmp_path, "loss", "min", 0.25)["epoch"] == 3
    assert suite.time_to_bar(tmp_path, "accuracy", "max", None) is None
    row = {"task": "image", "status": "ok", "data_seconds": 0.5, "baseline_seconds": 1.25,
           "time_to_bar": suite.time_to_bar(tmp_path, "accuracy", "max", 0.95)}
    cells = dict(zip(report.COLUMNS, report.table_row(row)))
    assert (cells["data s"], cells["baselines s"], cells["bar"], cells["to bar"]) == ("0.5", "1.2", "0.95",
                                                                                    "4.5 s (ep 2)")


def test_every_task_has_a_quality_bar():
    assert set(suite.QUALITY_BARS) == set(suite.TASK_NAMES)
    assert all(0 < bar <= 1 for bar in suite.QUALITY_BARS.values())


def test_generated_sound_events_are_cached_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(audio_data, "CACHE_MIN_SAMPLES", 1)
    file = audio_data.sound_events_cache_file(3, 8000, 0.5, 7)
    assert file.parent == tmp_path / "sound_events" and not file.exists()
    made = audio_data.cached_sound_events(3, 8000, 0.5, 7)
    assert file.exists()
    np.save(file, np.load(file) + 1)  # from now on a read is told apart from a regeneration
    again = audio_data.cached_sound_events(3, 8000, 0.5, 7)
    np.testing.assert_array_equal(again[0], made[0] + 1)
    np.testing.assert_array_equal(again[1], made[1])
    assert again[2] == made[2]
    reference = make_sound_events(3, 8000, 0.5, 7)
    np.testing.assert_array_equal(made[0], reference[0])
    assert audio_data.sound_events_cache_file(3, 8000, 0.5, 8) != file  # another seed, another file


def test_small_generated_sets_are_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVKIT_CACHE", str(tmp_path))
    audio_data.cached_sound_events(3, 8000, 0.5, 7)
    assert not (tmp_path / "sound_events").exists()
