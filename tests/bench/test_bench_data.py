"""The bench's data section (issue 26) on tiny PNG sets: every figure is there, the lazy
path's peak memory does not grow with the set, and nothing generated is left behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

from convkit.bench import data


def test_data_section_measures_memory_throughput_and_waiting_and_cleans_up(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "WORKERS", (0, 1))
    monkeypatch.setattr(data, "IN_MEMORY_UP_TO", 60)
    monkeypatch.setattr(data, "waiting_fraction", lambda folder, model, workers: {"wait": 0.5, "step_s": 0.01})
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    section = data.run_data("smoke", sizes=(60, 240), root=tmp_path)
    assert list(tmp_path.iterdir()) == []  # the PNGs, the index cache and the run folders are gone
    small, large = section["sizes"]
    assert (small["count"], large["count"]) == (60, 240)
    assert small["in_memory"]["peak_rss_mb"] > 100 and large["in_memory"] is None
    for row in (small, large):
        assert row["lazy"]["peak_rss_mb"] > 100, row
    assert section["lazy_growth"] < 0.10
    assert set(section["throughput"]) == {"0", "1"} and min(section["throughput"].values()) > 0
    text = "\n".join(data.markdown(section))
    assert "| 240 |" in text and "Loader alone" in text


def test_generated_pngs_are_class_folders_of_rgb_images(tmp_path):
    from PIL import Image

    root = data.make_pngs(tmp_path / "p", 25)
    files = sorted(Path(root).rglob("*.png"))
    assert len(files) == 25 and len({f.parent.name for f in files}) == data.CLASSES
    with Image.open(files[0]) as img:
        assert img.size == (data.IMAGE_SIZE, data.IMAGE_SIZE) and img.mode == "RGB"
