"""The time-series classification zoo (FCN, TSC ResNet, InceptionTime): shapes for any
length, parameter counts of the published layouts, the ensemble's mixture, learning."""

from __future__ import annotations

import pytest
import torch

from convkit.models import create_model, list_models


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", ["fcn", "tsc_resnet", "inceptiontime"])
def test_any_length_and_channels_give_logits(name):
    model = create_model(name, spatial_dims=1, in_channels=3, num_classes=5).eval()
    for length in (7, 50):
        assert model(torch.randn(2, 3, length)).shape == (2, 5)
    assert name in list_models(spatial_dims=1)


def test_parameter_counts_follow_the_papers():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # FCN: convs 1->128 (k8), 128->256 (k5), 256->128 (k3), no bias before BN; BN; 128 x 2 head
    fcn = create_model("fcn", spatial_dims=1, in_channels=1, num_classes=2)
    assert count(fcn) == (128 * 8 + 128 * 256 * 5 + 256 * 128 * 3) + 2 * (128 + 256 + 128) + 128 * 2 + 2
    # InceptionTime: the first module has no bottleneck (one channel), 4 x 32 = 128 features
    it = create_model("inceptiontime", spatial_dims=1, in_channels=1, num_classes=2)
    assert it.num_features == it.member_features == 128
    first = it.members[0].modules_[0]
    assert isinstance(first.bottleneck, torch.nn.Identity)
    assert [b.kernel_size[0] for b in first.branches] == [40, 20, 10]
    assert len(it.members[0].shortcuts) == 2  # depth 6, a shortcut every 3 modules


def test_ensemble_output_is_the_log_of_the_mean_member_probability():
    torch.manual_seed(0)
    model = create_model("inceptiontime", spatial_dims=1, in_channels=2, num_classes=3, ensemble=3,
                         depth=3, filters=4, bottleneck=4, kernels=(5, 3, 1)).eval()
    x = torch.randn(4, 2, 20)
    members = model.member_logits(x)
    assert members.shape == (3, 4, 3)
    expected = torch.softmax(members, dim=2).mean(0).log()
    torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize("name", ["fcn", "tsc_resnet"])
def test_learns_rising_from_falling_ramps(name):
    torch.manual_seed(0)
    y = torch.arange(32) % 2
    x = torch.linspace(-1, 1, 24)[None, None, :] * (2 * y[:, None, None] - 1) + 0.3 * torch.randn(32, 1, 24)
    model = create_model(name, spatial_dims=1, in_channels=1, num_classes=2, widths=(8, 8, 8))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert (model(x).argmax(1) == y).float().mean() == 1.0
