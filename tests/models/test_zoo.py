"""The zoo: torchvision's parameter counts in 2D, every model in every dimension it
supports, the classifier interface, inflation and the errors a user can cause."""

import pytest
import torch

from convkit.errors import ConfigError, ShapeError
from convkit.models import create_model, get_entry, inflate, list_models, register_model
from convkit.models.efficientnet import compound_coefficients, compound_config

TORCHVISION_COUNTS = {
    "alexnet": 61_100_840, "vgg16": 138_357_544, "vgg19": 143_667_240, "resnet18": 11_689_512,
    "resnet50": 25_557_032, "resnext50_32x4d": 25_028_904, "wide_resnet50_2": 68_883_240,
    "efficientnet_b0": 5_288_548, "efficientnet_b7": 66_347_960,
}


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(TORCHVISION_COUNTS))
def test_parameter_counts_equal_torchvision(name):
    assert n_params(create_model(name, spatial_dims=2, in_channels=3, num_classes=1000)) == TORCHVISION_COUNTS[name]


def test_lenet5_as_lecun_1998():
    model = create_model("lenet5", spatial_dims=2, in_channels=1, num_classes=10)
    assert n_params(model) == 61_706
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    assert isinstance(model.features[1], torch.nn.Tanh) and isinstance(model.features[2], torch.nn.AvgPool2d)


# Slimmer widths keep every architecture's depth and code path while the whole matrix
# (every model x 1D/2D/3D x 1 and 3 input channels) stays within a minute on two cores.
def slim_options(name):
    if name.startswith(("vgg", "alexnet")):
        return dict(width_mult=0.125, pool_size=1, hidden=16)
    if name.startswith(("resnet", "resnext", "wide_resnet")):
        return dict(widths=(16, 16, 16, 16))
    if name.startswith("efficientnet"):
        return dict(width_mult=0.1)
    return {}


ZOO = [(name, d) for name in list_models() for d in get_entry(name).spatial_dims]


@pytest.mark.parametrize("name,d", ZOO)
@pytest.mark.parametrize("in_channels", [1, 3])
def test_every_model_forward_backward(name, d, in_channels):
    torch.manual_seed(0)
    model = create_model(name, spatial_dims=d, in_channels=in_channels, num_classes=3, **slim_options(name))
    size = max(model.min_input_size, 4)
    x = torch.randn(2, in_channels, *([size] * d))
    feats = model.forward_features(x)
    assert feats.shape == (2, model.num_features)
    logits = model.forward_head(feats)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    logits.logsumexp(1).mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_full_width_resnet18_in_3d_for_one_channel():
    model = create_model("resnet18", spatial_dims=3, in_channels=1, num_classes=4).eval()
    assert model(torch.randn(1, 1, 16, 32, 32)).shape == (1, 4)


def test_reset_classifier_and_feature_extraction():
    model = create_model("resnet18", spatial_dims=1, in_channels=2, num_classes=5)
    model.reset_classifier(7)
    assert model(torch.randn(2, 2, 64)).shape == (2, 7)
    model.reset_classifier(0)
    assert model(torch.randn(2, 2, 64)).shape == (2, 512)


def test_efficientnet_compound_scaling():
    depth, width, res = compound_coefficients(1.0)
    assert (depth, width, res) == pytest.approx((1.2, 1.1, 1.15))
    assert depth * width ** 2 * res ** 2 == pytest.approx(2.0, abs=0.1)  # each phi about doubles FLOPs
    cfg = compound_config(2.0)
    assert cfg.resolution == round(224 * 1.15 ** 2)
    custom = create_model("efficientnet", phi=2.0, num_classes=10)
    b0 = create_model("efficientnet_b0", num_classes=10)
    assert n_params(custom) > n_params(b0)
    b7 = create_model("efficientnet_b7", num_classes=10)
    assert (b7.cfg.width_mult, b7.cfg.depth_mult, b7.cfg.dropout) == (2.0, 3.1, 0.5)


@pytest.mark.parametrize("name,options,size", [
    ("lenet5", {}, 32),
    ("resnet18", {}, 32),
    ("vgg11_bn", dict(width_mult=0.25, pool_size=2, hidden=32), 32),
    ("efficientnet_b0", dict(width_mult=0.5), 32),
])
def test_inflate_3d_gives_the_2d_output_on_a_constant_clip(name, options, size):
    torch.manual_seed(0)
    model_2d = create_model(name, in_channels=3, num_classes=5, **options).eval()
    image = torch.randn(2, 3, size, size)
    model_3d = inflate(model_2d, spatial_dims=3)
    assert model_3d.spatial_dims == 3
    clip = image.unsqueeze(2).repeat(1, 1, max(8, model_2d.min_input_size), 1, 1)
    expected = model_2d(image)
    torch.testing.assert_close(model_3d(clip), expected, rtol=1e-4, atol=1e-5 * expected.abs().max().item())
    # zero time padding is create_model's own twin: the edges then differ
    zeros_twin = inflate(model_2d, spatial_dims=3, time_padding="zeros")
    if name != "lenet5":  # LeNet is valid-padded: no time padding at all
        assert not torch.allclose(zeros_twin(clip), expected, rtol=1e-4, atol=1e-5 * expected.abs().max().item())


def test_inflate_1d_on_a_row_repeated_image():
    torch.manual_seed(0)
    model_2d = create_model("lenet5", in_channels=1, num_classes=4).eval()
    signal = torch.randn(3, 1, 32)
    model_1d = inflate(model_2d, spatial_dims=1)
    torch.testing.assert_close(model_1d(signal), model_2d(signal.unsqueeze(2).repeat(1, 1, 32, 1)))


def test_errors_name_what_was_expected_and_what_came():
    model = create_model("resnet18", spatial_dims=2, in_channels=3, num_classes=4)
    with pytest.raises(ShapeError, match=r"resnet18 \(spatial_dims=2\) expects input \[N, C=3, H, W\]; "
                                         r"got a tensor of shape \[2, 3, 16, 16, 16\]"):
        model(torch.randn(2, 3, 16, 16, 16))
    with pytest.raises(ShapeError, match=r"expects input \[N, C=3, H, W\]; got a tensor of shape \[2, 1, 32, 32\]"):
        model(torch.randn(2, 1, 32, 32))
    lenet = create_model("lenet5", in_channels=1, num_classes=10)
    with pytest.raises(ShapeError, match=r"lenet5 .*every spatial size >= 32; got a tensor of shape \[1, 1, 28, 28\]"):
        lenet(torch.randn(1, 1, 28, 28))
    with pytest.raises(ConfigError, match=r"unknown model 'resnet19'; did you mean resnet18"):
        create_model("resnet19")
    with pytest.raises(ConfigError, match="spatial_dims must be 1, 2 or 3; got 4"):
        create_model("resnet18", spatial_dims=4)
    with pytest.raises(ConfigError, match="model 'vgg11'"):
        create_model("vgg11", no_such_option=3)


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(ValueError, match="model 'resnet18' is already registered"):
        @register_model(name="resnet18")
        def resnet18_again(**kw):  # pragma: no cover - never built
            raise AssertionError
