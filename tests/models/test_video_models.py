"""Video models: torchvision's video ResNet counts through the one ResNet, the conv-type
strategies' geometry (what each does to the time axis), C3D's published geometry, and a
training step for every video model (inflated I3D included) on small clips."""

import pytest
import torch
import torch.nn.functional as F

from convkit.errors import ConfigError
from convkit.models import create_model, inflate
from convkit.models.resnet import ResNet
from convkit.nn.blocks import Factorised2Plus1D, FullConv, SpatialConv, matched_mid_channels

TORCHVISION_VIDEO_COUNTS = {"r3d_18": 33_371_472, "mc3_18": 11_695_440, "r2plus1d_18": 31_505_325}


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(TORCHVISION_VIDEO_COUNTS))
def test_video_resnets_have_torchvision_counts_and_are_the_one_resnet(name):
    model = create_model(name, num_classes=400)
    assert type(model) is ResNet
    assert n_params(model) == TORCHVISION_VIDEO_COUNTS[name]


def _last_stage_shape(model, clip):
    out = {}
    stage4 = model.features[-2]

    def hook(module, inputs, output):
        out["shape"] = tuple(output.shape)

    stage4.register_forward_hook(hook)
    model.eval()(clip)
    return out["shape"]


def test_conv_types_decide_what_happens_to_time():
    clip = torch.randn(1, 3, 8, 32, 32)
    slim = dict(widths=(8, 8, 8, 16))
    # R3D and R(2+1)D stride time with space (8 -> 1); MC3's 2D stages never touch time
    assert _last_stage_shape(create_model("r3d_18", num_classes=5, **slim), clip) == (1, 16, 1, 2, 2)
    assert _last_stage_shape(create_model("r2plus1d_18", num_classes=5, **slim), clip) == (1, 16, 1, 2, 2)
    assert _last_stage_shape(create_model("mc3_18", num_classes=5, **slim), clip) == (1, 16, 8, 2, 2)

    mc3 = create_model("mc3_18", num_classes=5)
    assert mc3.features[3][0].conv1.kernel_size == (3, 3, 3)          # stage 1: full 3D
    assert mc3.features[4][0].conv1.kernel_size == (1, 3, 3)          # stages 2-4: 2D only
    assert mc3.features[4][0].downsample[0].stride == (1, 2, 2)
    r2p1 = create_model("r2plus1d_18", num_classes=5)
    stem = r2p1.features
    assert (stem[0].kernel_size, stem[0].out_channels, stem[3].kernel_size) == ((1, 7, 7), 45, (3, 1, 1))
    block = r2p1.features[7][0]                                       # stage 2, 64 -> 128
    mid = matched_mid_channels(3, 64, 128)
    assert mid == 230 and block.conv1[0].out_channels == mid and block.conv2[0].out_channels == mid


def test_conv_type_strategies_directly():
    x = torch.randn(2, 4, 8, 8, 8)
    assert FullConv().build(3, 4, 6, stride=2)(x).shape == (2, 6, 4, 4, 4)
    assert SpatialConv().build(3, 4, 6, stride=2)(x).shape == (2, 6, 8, 4, 4)
    assert Factorised2Plus1D().build(3, 4, 6, stride=2, mid_channels=5)(x).shape == (2, 6, 4, 4, 4)
    assert SpatialConv().shortcut_stride(3, 2) == (1, 2, 2)
    with pytest.raises(ConfigError, match="spatial_dims must be 2 or 3"):
        SpatialConv().build(1, 4, 6)
    # a conv type by name, and one per stage that does not match the stage count
    named = create_model("resnet18", spatial_dims=3, num_classes=3, widths=(8, 8, 8, 8), conv_type="2plus1d")
    assert named.features[4][0].conv1[0].kernel_size == (1, 3, 3)
    with pytest.raises(ConfigError, match="conv_type must be one of full, spatial, 2plus1d; got 'xy'"):
        create_model("resnet18", spatial_dims=3, conv_type="xy")
    with pytest.raises(ConfigError, match=r"one entry per stage \(4\); got 2"):
        create_model("resnet18", spatial_dims=3, conv_type=("full", "spatial"))


def test_c3d_published_geometry_and_small_clips():
    model = create_model("c3d", num_classes=101).eval()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert all(c.kernel_size == (3, 3, 3) for c in convs)
    pools = [m for m in model.modules() if isinstance(m, torch.nn.MaxPool3d)]
    assert [p.kernel_size for p in pools] == [(1, 2, 2), 2, 2, 2, 2]
    fc6, fc7 = [m for m in model.features if isinstance(m, torch.nn.Linear)]
    assert (fc6.in_features, fc6.out_features, fc7.out_features) == (512 * 4 * 4, 4096, 4096)
    with torch.no_grad():  # pool5 on the published 16x112x112 clip is 512 x 1 x 4 x 4
        assert model.features[:-8](torch.zeros(1, 3, 16, 112, 112)).shape == (1, 512, 1, 4, 4)
    small = create_model("c3d", num_classes=4, width_mult=0.125, pool_size=1, hidden=32)
    assert [m.out_channels for m in small.modules() if isinstance(m, torch.nn.Conv3d)][:2] == [8, 16]
    assert small(torch.randn(2, 3, 4, 8, 8)).shape == (2, 4)     # ceil-mode pools: tiny clips run


VIDEO_MODELS = [
    ("r3d_18", dict(widths=(8, 8, 8, 8))),
    ("mc3_18", dict(widths=(8, 8, 8, 8))),
    ("r2plus1d_18", dict(widths=(8, 8, 8, 8))),
    ("c3d", dict(width_mult=0.0625, pool_size=1, hidden=16, dropout=0.0)),
    ("c3d_small", dict(dropout=0.0)),
    ("separable_cnn", dict(stem_width=8, widths=(8, 16), dropout=0.0)),
]


@pytest.mark.parametrize("name,options", VIDEO_MODELS)
def test_every_video_model_takes_a_training_step(name, options):
    torch.manual_seed(0)
    model = create_model(name, spatial_dims=3, in_channels=3, num_classes=4, **options)
    _assert_learns(model)


def test_inflated_i3d_takes_a_training_step():
    torch.manual_seed(0)
    model_2d = create_model("resnet18", in_channels=3, num_classes=4, widths=(8, 8, 8, 8))
    _assert_learns(inflate(model_2d, spatial_dims=3))


def test_separable_cnn_is_depthwise_then_pointwise():
    model = create_model("separable_cnn", num_classes=3, stem_width=8, widths=(16,))
    block = model.features[1]
    assert block.depthwise[0].groups == 8 and block.depthwise[0].kernel_size == (3, 3, 3)
    assert block.pointwise[0].kernel_size == (1, 1, 1)
    assert model.features[0][0].stride == (1, 2, 2)


def _assert_learns(model):
    """One training step on a batch of small clips: logits ``[4, 4]``, and a finite,
    non-zero gradient for every parameter tensor."""
    clips, labels = torch.randn(4, 3, 8, 16, 16), torch.tensor([0, 1, 2, 3])
    logits = model.train()(clips)
    assert logits.shape == (4, 4)
    F.cross_entropy(logits, labels).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
