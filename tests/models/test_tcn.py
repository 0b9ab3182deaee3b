"""The TCN family (convkit.models.tcn): receptive field by formula and by perturbing one
input step, causality, streaming with cached state against the offline pass, the
autoencoder's reach, the zoo entry and its errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convkit.errors import ConfigError, ShapeError
from convkit.models import create_model, get_entry, list_models
from convkit.models.tcn import (
    TCNStream,
    levels_for_context,
    tcn_autoencoder,
    tcn_forecaster,
    tcn_receptive_field,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Small models run fastest on one thread (and do not fight a parallel test worker)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def changed_steps(model: torch.nn.Module, x: torch.Tensor, step: int) -> torch.Tensor:
    """Output time steps (last axis) that change when input ``step`` changes (all channels)."""
    with torch.no_grad():
        base = model(x)
        bumped = x.clone()
        bumped[..., step] += 3.0
        diff = (model(bumped) - base).abs()
    per_step = diff.reshape(-1, diff.shape[-1]).amax(0)
    return torch.nonzero(per_step > 0).flatten()


@given(context=st.integers(1, 5000), kernel=st.integers(2, 7))
@settings(max_examples=60, deadline=None)
def test_levels_are_the_fewest_whose_receptive_field_covers_the_context(context, kernel):
    levels = levels_for_context(context, kernel)
    assert tcn_receptive_field(levels, kernel) >= context
    assert levels == 1 or tcn_receptive_field(levels - 1, kernel) < context


def test_receptive_field_formula():
    # 1 + 2 (k - 1) (1 + 2 + ... + 2^(n-1)): two convs per block
    assert [tcn_receptive_field(n, 3) for n in (1, 2, 3, 4, 5)] == [5, 13, 29, 61, 125]
    assert tcn_receptive_field(3, 5) == 1 + 2 * 4 * 7
    assert levels_for_context(96) == 5 and levels_for_context(61) == 4 and levels_for_context(62) == 5


@pytest.mark.parametrize("norm", ["weight", "batch", None])
@pytest.mark.parametrize("context,kernel", [(30, 3), (61, 3), (20, 5)])
def test_perturbing_one_step_changes_exactly_the_receptive_field_after_it(norm, context, kernel):
    torch.manual_seed(0)
    model = tcn_forecaster(in_channels=2, horizon=1, context=context, kernel_size=kernel, norm=norm,
                           dropout=0.0, residual=False).eval()
    rf = model.receptive_field
    assert rf == tcn_receptive_field(levels_for_context(context, kernel), kernel) >= context
    length, step = 3 * rf, rf + 7
    changed = changed_steps(model, torch.randn(2, 2, length), step)
    # causal: nothing before the step; it reaches exactly rf - 1 steps ahead, all of them
    assert changed.tolist() == list(range(step, step + rf))


def test_perturbation_reach_of_the_zoo_tcn_and_a_given_number_of_levels():
    torch.manual_seed(1)
    model = create_model("tcn", in_channels=1, num_classes=3, levels=3, dropout=0.0).eval()
    assert model.levels == 3 and model.receptive_field == 29
    changed = changed_steps(model.forward_sequence, torch.randn(1, 1, 100), 40)
    assert changed.tolist() == list(range(40, 69))
    # a non-causal TCN looks (rf - 1) / 2 steps both ways
    sym = create_model("tcn", in_channels=1, num_classes=3, levels=3, causal=False, dropout=0.0).eval()
    assert changed_steps(sym.forward_sequence, torch.randn(1, 1, 100), 50).tolist() == list(range(36, 65))


def test_autoencoder_reach_stays_within_its_lookahead():
    torch.manual_seed(0)
    model = tcn_autoencoder(in_channels=3, context=20, downsample=4, dropout=0.0).eval()
    assert model(torch.randn(2, 3, 101)).shape == (2, 3, 101)  # any length
    ahead = model.lookahead
    assert ahead % 4 == 0 and model.receptive_field == 2 * ahead + 1
    step = 400
    changed = changed_steps(model, torch.randn(1, 3, 800), step)
    assert changed.min() >= step - ahead and changed.max() <= step + ahead
    assert changed.min() < step < changed.max()  # non-causal: it looks both ways


@pytest.mark.parametrize("norm,horizon", [("weight", 1), ("batch", 3)])
def test_streaming_with_cached_state_equals_the_offline_pass(norm, horizon):
    torch.manual_seed(0)
    model = tcn_forecaster(in_channels=3, horizon=horizon, context=40, norm=norm, dropout=0.2)
    if norm == "batch":  # give batch norm non-trivial running statistics
        model.train()
        model(torch.randn(8, 3, 200) * 2 + 1)
    model.eval()
    x = torch.randn(2, 3, 400)
    offline = model(x)
    assert offline.shape == (2, 3, horizon, 400)
    stream = TCNStream(model)
    sizes = [1, 1, 5, 37, 1, 100, 2, 64, 189]  # one step or a chunk at a time
    assert sum(sizes) == 400
    outputs, start = [], 0
    for size in sizes:
        outputs.append(stream(x[..., start:start + size]))
        start += size
    torch.testing.assert_close(torch.cat(outputs, dim=-1), offline, rtol=1e-5, atol=1e-5)
    stream.reset()  # a new series starts from zeros again
    torch.testing.assert_close(stream(x[..., :50]), offline[..., :50], rtol=1e-5, atol=1e-5)


def test_forecaster_output_is_causal_and_residual_adds_the_last_value():
    torch.manual_seed(0)
    model = tcn_forecaster(in_channels=2, horizon=2, context=10, dropout=0.0).eval()
    plain = tcn_forecaster(in_channels=2, horizon=2, context=10, dropout=0.0, residual=False).eval()
    plain.load_state_dict(model.state_dict())
    x = torch.randn(1, 2, 50)
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x) + x.unsqueeze(2))
        future = x.clone()
        future[..., 30:] = 100.0
        torch.testing.assert_close(model(future)[..., :30], model(x)[..., :30])


def test_zoo_entry_and_classifier_interface():
    assert "tcn" in list_models(domain="timeseries") and get_entry("tcn").spatial_dims == (1,)
    torch.manual_seed(0)
    model = create_model("tcn", in_channels=3, num_classes=4, context=50, channels=16)
    assert model.build_args == {"name": "tcn", "in_channels": 3, "num_classes": 4, "context": 50, "channels": 16,
                                "spatial_dims": 1}
    x = torch.randn(2, 3, 70)
    assert model.forward_sequence(x).shape == (2, 16, 70)
    assert model.forward_features(x).shape == (2, 16) and model(x).shape == (2, 4)
    last = create_model("tcn", in_channels=3, num_classes=4, context=50, pool="last").eval()
    with torch.no_grad():
        torch.testing.assert_close(last.forward_features(x), last.forward_sequence(x)[..., -1])


def test_errors_are_one_clear_line():
    with pytest.raises(ConfigError, match=r"model 'tcn' supports spatial_dims \[1\]; got 2"):
        create_model("tcn", spatial_dims=2)
    with pytest.raises(ConfigError, match="TCN norm must be 'weight', 'batch' or none; got 'group'"):
        create_model("tcn", norm="group")
    with pytest.raises(ConfigError, match="context must be at least 1 step; got 0"):
        tcn_forecaster(context=0)
    with pytest.raises(ConfigError, match="a forecaster must be causal"):
        tcn_forecaster(causal=False)
    with pytest.raises(ConfigError, match="horizon must be at least 1 step; got 0"):
        tcn_forecaster(horizon=0)
    with pytest.raises(ShapeError, match=r"expects input \[N, C=2, L\]; got a tensor of shape \[1, 3, 20\]"):
        tcn_forecaster(in_channels=2)(torch.randn(1, 3, 20))
    with pytest.raises(ShapeError, match=r"TCNStream .* got a tensor of shape \[3, 20\]"):
        TCNStream(tcn_forecaster(in_channels=3))(torch.randn(3, 20))
    with pytest.raises(ConfigError, match="streaming needs a causal TCNForecaster; got TCNAutoencoder"):
        TCNStream(tcn_autoencoder())
