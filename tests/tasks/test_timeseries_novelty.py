"""The forecaster's feature novelty (task.novelty): each step's distance to the nearest
features of the training part (``train``) or of the rest of the series (``series``), one
more error column; the same values in a training run's scoring chunks, in detect and in
streaming; refused where it cannot apply."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convkit import config as config_io
from convkit.errors import ConfigError
from convkit.models.tcn import tcn_forecaster
from convkit.tasks.timeseries.config import TimeSeriesRunConfig
from convkit.tasks.timeseries.detection import SeriesDetectionTask
from convkit.tasks.timeseries.calibration import Calibration, errors_to_scores
from convkit.tasks.timeseries.scores import feature_bank, local_znorm, series_novelty
from convkit.tasks.timeseries.streaming import StreamingDetector
from convkit.train.engine import fit
from convkit.train.inference import evaluate_split




def sine_with_a_stuck_stretch(length: int = 2000, stuck: tuple[int, int] = (1500, 1540)) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.sin(2 * np.pi * np.arange(length) / 40) + 0.05 * rng.standard_normal(length)
    x[stuck[0]:stuck[1]] = x[stuck[0]]
    return x


def test_novelty_is_highest_where_the_series_is_unlike_its_training_part(one_thread) -> None:
    torch.manual_seed(0)
    model = tcn_forecaster(1, context=40, channels=8).eval()
    x = torch.from_numpy(sine_with_a_stuck_stretch()[None].astype(np.float32))
    novelty = series_novelty(model, x, (0, 1000))
    warm = model.receptive_field - 1
    assert np.isnan(novelty[:warm]).all() and np.isfinite(novelty[warm:]).all()
    assert 1500 <= int(np.nanargmax(novelty)) < 1540 + warm
    assert np.nanmedian(novelty[warm:1000]) < 2e-3  # the training part is its own bank (all of it: < 2048)
    # chunked passes equal one pass
    np.testing.assert_allclose(series_novelty(model, x, (0, 1000), chunk=300), novelty, rtol=1e-6, atol=1e-6)
    bank = feature_bank(model, x[:, :1000], 1000, size=100)
    assert bank.shape == (-(-(1000 - warm) // -(-(1000 - warm) // 100)), 8)


def test_the_series_novelty_is_a_discord_blind_to_the_level(one_thread) -> None:
    torch.manual_seed(0)
    model = tcn_forecaster(1, context=40, channels=8).eval()
    values = sine_with_a_stuck_stretch()
    drifted = values + np.where(np.arange(len(values)) >= 1200, 3.0, 0.0)  # a level never seen in training
    warm = model.receptive_field - 1
    for series in (values, drifted):
        x = torch.from_numpy(series[None].astype(np.float32))
        novelty = series_novelty(model, x, (0, 1000), mode="series")
        assert np.isnan(novelty[:warm]).all() and np.isfinite(novelty[warm:]).all()
        assert 1500 <= int(np.nanargmax(novelty[1300:])) + 1300 < 1540 + warm  # the stuck stretch, not the level
        np.testing.assert_allclose(series_novelty(model, x, (0, 1000), chunk=300, mode="series"), novelty,
                                   rtol=1e-9, atol=1e-9)
    x = torch.from_numpy(drifted[None].astype(np.float32))
    train = series_novelty(model, x, (0, 1000), mode="train")
    assert not 1500 <= int(np.nanargmax(train[1300:])) + 1300 < 1540 + warm  # the training bank sees the level


def test_local_znorm_sees_shape_not_level_or_scale() -> None:
    x = torch.sin(torch.arange(300.0) / 7)[None]
    np.testing.assert_allclose(local_znorm(5 * x + 100, 40), local_znorm(x, 40), atol=1e-4)
    assert float(local_znorm(torch.ones(1, 50), 10).abs().max()) == 0.0  # a constant is 0, not noise / 0


def test_the_novelty_is_one_more_column() -> None:
    errors = np.array([[1.0, 3.0, 10.0], [2.0, 2.0, 0.0]])
    centre, scale = np.array([0.0, 0.0, 2.0]), np.array([1.0, 1.0, 2.0])
    np.testing.assert_allclose(errors_to_scores(errors, centre, scale, "mean", 1), [(1 + 3 + 4) / 3, (2 + 2 - 1) / 3])
    np.testing.assert_allclose(errors_to_scores(errors, centre, scale, "max", 1), [4.0, 2.0])


def test_a_run_with_the_series_novelty_scores_like_detect_and_refuses_streaming(tmp_path, one_thread) -> None:
    path = tmp_path / "001_UCR_Anomaly_stuck_1000_1501_1540.txt"
    path.write_text("\n".join(f"{v:.5f}" for v in sine_with_a_stuck_stretch()))
    cfg = config_io.resolve_config(TimeSeriesRunConfig, sets=[
        f"data.path={path}", "task.context=30", "task.window=128", "model.options.channels=8",
        "train.epochs=2", "train.baselines=false", "train.device=cpu", "train.checkpoint_every=0"])
    task = SeriesDetectionTask()
    result = fit(task, cfg, out_dir=tmp_path)
    cal = Calibration.from_dict(result.task_state["calibration"])
    assert cal.novelty == "series" and len(cal.centre) == 2  # the value's error, then the novelty (auto: series)
    assert result.metrics["test"]["ucr_hit"] in (0.0, 1.0)
    # detect on the run's own file gives the run's test scores
    rows = task.predict(_trained(result, cfg, tmp_path), task.load_inputs(cfg, _spec(task, cfg), [str(path)]))
    scored = np.loadtxt(rows[0]["csv"], delimiter=",", skiprows=1, usecols=1)
    data = task.build_data(cfg)
    _, collected = evaluate_split(task, result.model, data.test, data, torch.device("cpu"), cfg.train, desc="test")
    from convkit.tasks.timeseries.series import score_split
    span = score_split(collected, data.test)[0]
    skip = cal.smooth  # the span's moving average starts at its own first step
    np.testing.assert_allclose(scored[span.start + skip:span.end], span.scores[skip:], rtol=1e-3, atol=5e-3)
    with pytest.raises(ConfigError, match="compares each step with the whole series"):
        StreamingDetector(result.model, np.zeros(1), np.ones(1), cal)


def test_novelty_needs_the_forecaster(tmp_path) -> None:
    cfg = config_io.resolve_config(TimeSeriesRunConfig, sets=["task.novelty=series", "task.objective=reconstruct"])
    with pytest.raises(ConfigError, match="task.novelty compares the forecaster's features; it needs "
                                          "task.objective=forecast"):
        SeriesDetectionTask().build_data(cfg)


def _spec(task, cfg):
    return task.build_data(cfg)


def _trained(result, cfg, tmp_path):
    from convkit.train.task import Trained

    spec = _spec(SeriesDetectionTask(), cfg)
    trained = Trained(cfg, spec, result.model.eval(), torch.device("cpu"), result.task_state)
    trained.out_dir = tmp_path / "detect"
    return trained


@pytest.mark.parametrize("mode", ["past", "series", "train"])
def test_the_novelty_is_float32_in_a_bf16_run(tmp_path, one_thread, mode) -> None:
    # a run whose precision is bf16 scores its novelty as detect does (float32): bf16
    # features blur the near-zero distances between repeating stretches
    from torch.utils.data import default_collate

    path = tmp_path / "001_UCR_Anomaly_stuck_1000_1501_1540.txt"
    path.write_text("\n".join(f"{v:.5f}" for v in sine_with_a_stuck_stretch()))
    cfg = config_io.resolve_config(TimeSeriesRunConfig, sets=[
        f"data.path={path}", "task.context=30", "task.window=128", "model.options.channels=8",
        f"task.novelty={mode}", "task.score_chunk=512"])
    task = SeriesDetectionTask()
    data = task.build_data(cfg)
    torch.manual_seed(0)
    model = task.build_model(cfg, data).eval()
    batch = default_collate([data.test[i] for i in range(len(data.test))])
    with torch.no_grad():
        plain = task.evaluation_step(model, batch)["err"]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            blurred = task.evaluation_step(model, batch)["err"]
    assert not torch.equal(plain[:, 0].float(), blurred[:, 0].float())  # the forecast error did run in bf16
    torch.testing.assert_close(blurred[:, -1].double(), plain[:, -1].double(), equal_nan=True)
