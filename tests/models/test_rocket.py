"""The ROCKET family (convkit.models.rocket): the convolution it computes, features that are
the reference implementation's (aeon, when installed), the CPU kernels against the torch
code path, unequal lengths, the ridge head against scikit-learn, bad input, and accuracy."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convkit.errors import ConfigError, DataError
from convkit.models import create_model
from convkit.models.rocket import (
    Hydra,
    MiniRocket,
    MultiRocket,
    RocketClassifier,
    fit_ridge_loo,
    minirocket_weights,
    multirocket_pool,
)
from convkit.tasks.timeseries.synthetic import make_shape_series

REPO = Path(__file__).resolve().parents[2]
UCR = REPO.parent / "shared" / "data" / "ucr"
HAS_AEON = importlib.util.find_spec("aeon") is not None


def series(n: int = 6, channels: int = 1, length: int = 40, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((n, channels, length)).astype(np.float32))


def torch_path(model: MiniRocket, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """MiniRocket's torch code path (the one CUDA tensors take), run on the CPU."""
    out = torch.zeros(len(x), model.num_features)
    model._transform(x, lengths, out)
    return out


@pytest.mark.parametrize("channels", [1, 3])
def test_the_kernel_bank_is_the_convolution_with_minirockets_weights(channels):
    x = series(4, channels, 50)
    bank = MiniRocket(channels, num_features=840).fit(x, seed=1).bank
    weights = minirocket_weights()
    every = torch.arange(84)
    for j, d in enumerate(bank.dilations.tolist()):
        ours = bank.outputs(x, j, every)  # [N, 84, L], each kernel summed over its channel combination
        mask = torch.zeros(84, channels)
        for k in range(84):
            combo = bank.combos[j * 84 + k][: int(bank.sizes[j * 84 + k])]
            mask[k, combo] = 1.0
        reference = F.conv1d(x.double(), (mask[:, :, None] * weights[:, None, :]).double(), padding=4 * d, dilation=d)
        torch.testing.assert_close(ours.double(), reference, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("channels", [1, 4])
def test_the_cpu_kernels_and_the_torch_path_give_the_same_features_bit_for_bit(channels):
    x = series(7, channels, 60, seed=2)
    lengths = torch.tensor([60, 23, 60, 10, 41, 60, 17])
    mini = MiniRocket(channels, num_features=1680).fit(x, lengths, seed=3)
    assert torch.equal(mini(x, lengths), torch_path(mini, *_zeroed(x, lengths)))
    multi = MultiRocket(channels, num_kernels=840).fit(x, lengths, seed=3)
    cpu = multi(x, lengths)
    xz, lz = _zeroed(x, lengths)
    raw = multirocket_pool(multi.bank, xz, lz, 0).reshape(len(x), -1)
    assert torch.equal(cpu[:, : raw.shape[1]], raw)


def _zeroed(x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    steps = torch.arange(x.shape[2])[None, None, :] < lengths[:, None, None]
    return x * steps, lengths


@pytest.mark.parametrize("make", [lambda c: MiniRocket(c, num_features=840), lambda c: MultiRocket(c, num_kernels=840),
                                  lambda c: Hydra(c, kernels=4, groups=8)], ids=["minirocket", "multirocket", "hydra"])
@pytest.mark.parametrize("channels", [1, 3])
def test_a_series_has_the_same_features_alone_and_padded_among_longer_series(make, channels):
    x = series(5, channels, 80, seed=4)
    lengths = torch.tensor([80, 31, 57, 80, 12])
    transform = make(channels).fit(x, lengths, seed=0)
    together = transform(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone = transform(x[i:i + 1, :, :n])
        assert torch.equal(alone[0], together[i]), i
    padded = torch.cat([x, torch.randn(5, channels, 30)], dim=2)  # whatever follows a series is not read
    assert torch.equal(transform(padded, lengths), together)


@pytest.mark.skipif(not HAS_AEON or not UCR.is_dir(), reason="aeon or ../shared/data/ucr is absent")
@pytest.mark.parametrize("problem", ["UnitTest", "BasicMotions"])
def test_features_and_predictions_are_aeons_on_the_same_seed(problem):
    from aeon.classification.convolution_based import MiniRocketClassifier
    from aeon.transformations.collection.convolution_based import HydraTransformer
    from aeon.transformations.collection.convolution_based import MiniRocket as AeonMiniRocket
    from aeon.transformations.collection.convolution_based import MultiRocket as AeonMultiRocket

    from convkit.tasks.timeseries.data import load_classification_splits

    pair = load_classification_splits(UCR / problem)
    xtr, xte = (pair[s].X.astype(np.float32) for s in ("train", "test"))
    c = xtr.shape[1]
    for seed in (0, 7):
        ours = MiniRocket(c).fit(torch.from_numpy(xtr), seed=seed)
        theirs = AeonMiniRocket(random_state=seed, n_jobs=1).fit(xtr)
        assert np.array_equal(ours.bank.biases.numpy(), theirs.parameters[4])
        assert np.array_equal(ours(torch.from_numpy(xte)).numpy(), theirs.transform(xte))
    ours = MultiRocket(c).fit(torch.from_numpy(xtr), seed=0)(torch.from_numpy(xte)).numpy()
    theirs = AeonMultiRocket(random_state=0, n_jobs=1).fit(xtr).transform(xte)
    blocks = ours.shape[1] // 8  # PPV, LSPV, MPV, MIPV of the series, then of its difference
    for b in range(8):
        part = slice(b * blocks, (b + 1) * blocks)
        if b % 4 == 2:  # the mean of positive values: a float64 sum whose order is the reference's compiler's
            np.testing.assert_allclose(ours[:, part], theirs[:, part], rtol=1e-6)
        else:
            assert np.array_equal(ours[:, part], theirs[:, part]), b
    ours = Hydra(c).fit(torch.from_numpy(xtr), seed=0)
    assert np.array_equal(ours(torch.from_numpy(xte)).numpy(),
                          HydraTransformer(random_state=0, n_jobs=1).fit(xtr).transform(xte).numpy())
    model = create_model("minirocket", 1, c, len(pair["train"].class_names)).eval()
    model.fit(torch.from_numpy(xtr), torch.from_numpy(pair["train"].y), seed=0)
    with torch.no_grad():
        predicted = model(torch.from_numpy(xte)).argmax(1).numpy()
    aeon = MiniRocketClassifier(random_state=0, n_jobs=1).fit(xtr, pair["train"].y).predict(xte)
    assert np.array_equal(predicted, aeon)


@pytest.mark.parametrize("n, f, classes", [(30, 200, 2), (30, 200, 4), (120, 40, 3)])
def test_the_ridge_head_is_scikit_learns_ridge_classifier_cv(n, f, classes):
    from sklearn.linear_model import RidgeClassifierCV

    rng = np.random.default_rng(n + f)
    x = rng.standard_normal((n, f))
    y = np.arange(n) % classes
    x[:, :5] += y[:, None]  # some signal: the choice of alpha matters
    weight, bias, alpha, _ = fit_ridge_loo(torch.from_numpy(x), torch.from_numpy(y), classes)
    reference = RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)).fit(x, y)
    assert alpha == pytest.approx(reference.alpha_)
    test = rng.standard_normal((25, f))
    ours = (torch.from_numpy(test).float() @ weight.T + bias).numpy()
    theirs = reference.decision_function(test)
    if classes == 2:  # scikit-learn keeps one column, the second class's
        theirs = np.stack([-theirs, theirs], 1)
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=1e-4)


def test_minirocket_classifies_the_embedded_waveforms():
    data = make_shape_series(seed=0)
    x, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
    train, test = np.arange(len(y)) % 4 != 0, np.arange(len(y)) % 4 == 0
    model = create_model("minirocket", 1, 1, len(data.class_names), num_features=2016).eval()
    assert model.fit(x[train], y[train], seed=0) == "ridge"
    assert not any(p.requires_grad for p in model.parameters())  # nothing left to train
    with torch.no_grad():
        accuracy = float((model(x[test]).argmax(1) == y[test]).float().mean())
    assert accuracy >= 0.9, accuracy


@pytest.mark.parametrize("name", ["minirocket", "multirocket", "hydra", "multirocket_hydra"])
def test_a_fitted_model_restores_from_its_state_dict_alone(name):
    small = {"minirocket": {"num_features": 840}, "multirocket": {"num_kernels": 840},
             "hydra": {"groups": 8}, "multirocket_hydra": {"groups": 8, "num_kernels": 840}}[name]
    x, y = series(12, 2, 30, seed=5), torch.arange(12) % 3
    model = create_model(name, 1, 2, 3, **small).eval()
    model.fit(x, y, seed=2)
    fresh = create_model(name, 1, 2, 3, **small).eval()
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(fresh(x[:4]), model(x[:4]))


def test_bad_input_is_one_clear_line():
    x = series(4, 1, 30)
    model = MiniRocket(1, num_features=840)
    with pytest.raises(DataError, match="series 1 .* has 8 steps; it needs at least 9"):
        model.fit(x, torch.tensor([30, 8, 30, 30]))
    nan = x.clone()
    nan[2, 0, 5] = float("nan")
    with pytest.raises(DataError, match=r"series 2 \(0-based\), channel 0, step 5 is nan"):
        model.fit(nan)
    with pytest.raises(ConfigError, match="minirocket is not fitted"):
        model(x)
    model.fit(x)
    with pytest.raises(DataError, match="built for 1 channel"):
        model(series(2, 3, 30))
    padded = x.clone()
    padded[2, 0, 29] = float("nan")  # a NaN after a series' length is padding, never read
    assert torch.equal(model(padded[2:3], torch.tensor([9])), model(x[2:3, :, :9]))
    classifier = create_model("minirocket", 1, 1, 2, num_features=840).eval()
    with pytest.raises(ConfigError, match="not fitted"):
        classifier(x)


def test_a_series_too_short_for_a_combinations_unpadded_part_pools_its_padded_output():
    # Fitted on length 120, the largest dilation spans 113 steps: a series of 20 steps has no
    # unpadded part at most dilations. Those combinations pool the padded output (the
    # documented rule) instead of a constant: the features still vary with the series.
    x = series(8, 1, 120, seed=6)
    model = MiniRocket(1, num_features=840).fit(x, seed=0)
    short = series(30, 1, 20, seed=7)
    features = model(short)
    assert torch.isfinite(features).all()
    varying = (features.std(0) > 0).float().mean()
    assert varying > 0.9, varying


def test_a_class_with_one_training_series_is_fitted_and_its_series_predicted():
    # The documented behaviour: it trains. Leave-one-out is defined (left out, that series
    # is predicted as another class, and its error counts in the choice of alpha); the head
    # learns the class from its one series, which it then predicts.
    data = make_shape_series(seed=1)
    x, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
    lone = int(torch.nonzero(y == 3)[0, 0])
    keep = torch.cat([torch.nonzero(y != 3)[:, 0], torch.tensor([lone])])
    model = create_model("minirocket", 1, 1, len(data.class_names), num_features=840).eval()
    model.fit(x[keep], y[keep], seed=0)
    with torch.no_grad():
        logits = model(x[keep])
    assert torch.isfinite(logits).all() and np.isfinite(float(model.alpha))
    assert int(logits[-1].argmax()) == 3
    assert float((logits[:-1].argmax(1) == y[keep][:-1]).float().mean()) >= 0.9


def test_an_unfitted_classifier_in_training_mode_fits_itself_to_its_first_batch_as_a_lazy_module():
    model = create_model("hydra", 1, 2, 3, groups=8)
    x = series(4, 2, 33)
    logits = model(x)  # fits the transform and the standardisation, head left to gradient steps
    assert logits.shape == (4, 3) and model.fitted and model.head[-1].weight.requires_grad
    assert model.num_features == model.transform.num_features > 0


def test_chunks_of_series_give_the_same_features_as_one_batch():
    # the torch code path holds at most chunk_elements convolution outputs at once
    x = series(9, 2, 70, seed=8)
    lengths = torch.tensor([70, 12, 44, 70, 30, 10, 70, 51, 66])
    whole = MiniRocket(2, num_features=840, chunk_elements=1 << 24).fit(x, lengths, seed=1)
    small = MiniRocket(2, num_features=840, chunk_elements=84 * 70)  # one series per chunk
    small.load_state_dict(whole.state_dict())
    xz, lz = _zeroed(x, lengths)
    assert torch.equal(torch_path(whole, xz, lz), torch_path(small, xz, lz))
    hydra = Hydra(2, groups=8).fit(x, lengths, seed=1)
    together = hydra(x, lengths)
    hydra.chunk_elements = 1
    assert torch.equal(hydra(x, lengths), together)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", ["minirocket", "multirocket", "hydra"])
def test_cuda_gives_the_cpus_features_and_predictions(name):
    small = {"minirocket": {"num_features": 840}, "multirocket": {"num_kernels": 840}, "hydra": {"groups": 8}}[name]
    x, y = series(16, 2, 50, seed=9), torch.arange(16) % 2
    lengths = torch.tensor([50, 20] * 8)
    cpu = create_model(name, 1, 2, 2, **small).eval()
    cpu.fit(x, y, lengths, seed=0)
    gpu = create_model(name, 1, 2, 2, **small).cuda().eval()
    gpu.fit(x.cuda(), y.cuda(), lengths.cuda(), seed=0)
    with torch.no_grad():
        features_cpu, features_gpu = cpu.transform(x, lengths), gpu.transform(x.cuda(), lengths.cuda()).cpu()
        if name == "hydra":  # cuDNN's convolution sums in its own order
            torch.testing.assert_close(features_gpu, features_cpu, atol=1e-4, rtol=1e-4)
        else:
            assert torch.equal(features_gpu, features_cpu)
        assert torch.equal(gpu(x.cuda(), lengths.cuda()).argmax(1).cpu(), cpu(x, lengths).argmax(1))
