"""PointNet and DGCNN in the zoo: layout and parameter counts, the regulariser that
training mode returns, the permutation probe (point order never matters, while it does
for an MLP on flattened coordinates), segmentation, and learning held-out shapes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convkit.errors import ConfigError, ShapeError
from convkit.models import create_model, get_entry, list_models
from convkit.nn.points import orthogonality_loss
from convkit.tasks.pointcloud.synthetic import make_solids
from convkit.train.baselines import fit_matched_mlp

POINT_MODELS = ["pointnet", "pointnet_seg", "dgcnn"]


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", POINT_MODELS)
def test_registered_as_point_models(name):
    entry = get_entry(name)
    assert entry.spatial_dims == () and entry.domain == "pointcloud" and entry.input_kind == "points"
    assert name in list_models(input_kind="points") and name not in list_models(input_kind="grid")


def test_pointnet_layout_as_the_paper():
    # Without T-Nets the count follows from the paper's widths: shared MLP 3-64-64 | 64-128-1024
    # (1x1 convs without bias, each with a BatchNorm), FC 1024-512-256 with BatchNorm, 256-40.
    plain = create_model("pointnet", num_classes=40, input_transform=False, feature_transform=False)
    convs = 3 * 64 + 64 * 64 + 64 * 64 + 64 * 128 + 128 * 1024
    norms = 2 * (64 + 64 + 64 + 128 + 1024 + 512 + 256)
    assert n_params(plain) == convs + norms + 1024 * 512 + 512 * 256 + 256 * 40 + 40
    full = create_model("pointnet", num_classes=40)
    assert n_params(full) == 3_473_969  # + input T-Net (3x3) and feature T-Net (64x64)
    assert isinstance(full.head[0], torch.nn.Dropout) and full.head[0].p == 0.3
    assert n_params(create_model("dgcnn", num_classes=40)) == 1_809_320


def test_eval_returns_logits_and_training_returns_the_weighted_regulariser():
    torch.manual_seed(0)
    model = create_model("pointnet", in_channels=3, num_classes=5)
    x = torch.randn(4, 3, 64)
    logits, aux = model(x)
    assert logits.shape == (4, 5) and aux.item() == 0.0  # T-Nets start as the identity
    torch.nn.init.normal_(model.feature_tnet.transform.weight, std=0.05)
    seen = []
    model.feature_tnet.register_forward_hook(lambda m, i, o: seen.append(o))
    logits, aux = model(x)
    assert aux.item() > 0
    assert aux.item() == pytest.approx(0.001 * orthogonality_loss(seen[-1]).item(), rel=1e-6)
    aux.backward()
    assert model.feature_tnet.transform.weight.grad.abs().sum() > 0
    model.eval()
    out = model(x)
    assert isinstance(out, torch.Tensor) and out.shape == (4, 5)
    no_reg = create_model("pointnet", num_classes=5, feature_transform=False)
    assert isinstance(no_reg(x), torch.Tensor)  # nothing to add to the loss


def _probe_clouds():
    points, labels, _ = make_solids(3, 64, seed=1)
    return torch.from_numpy(points).transpose(1, 2).contiguous(), labels


@pytest.mark.parametrize("name,options", [("pointnet", {}), ("dgcnn", dict(k=8))])
def test_permutation_probe_point_models_ignore_point_order(name, options):
    torch.manual_seed(0)
    model = create_model(name, in_channels=3, num_classes=8, **options)
    clouds, _ = _probe_clouds()
    model.train()
    for _ in range(2):  # move BatchNorm statistics off their initial values
        model(clouds)
    model.eval()
    perm = torch.randperm(clouds.shape[2])
    with torch.no_grad():
        out, shuffled = model(clouds), model(clouds[:, :, perm])
    torch.testing.assert_close(shuffled, out, rtol=1e-4, atol=1e-5)
    assert out.std() > 0  # not a constant output


def test_permutation_probe_mlp_on_flattened_coordinates_depends_on_order():
    points, labels, _ = make_solids(12, 64, seed=2)
    flat = points.reshape(len(points), -1)
    mlp = fit_matched_mlp(flat, labels, params=20_000, num_classes=8, seed=0)
    perm = np.random.default_rng(0).permutation(64)
    shuffled = points[:, perm].reshape(len(points), -1)
    assert np.abs(mlp.predict_proba(flat) - mlp.predict_proba(shuffled)).max() > 1e-2


def test_extra_channels_pass_the_input_transform():
    torch.manual_seed(0)
    model = create_model("pointnet", in_channels=6, num_classes=3).eval()
    assert model.input_tnet.k == 3 and model.mlp1[0].in_channels == 6
    assert model(torch.randn(2, 6, 32)).shape == (2, 3)
    dg = create_model("dgcnn", in_channels=6, num_classes=3, k=4).eval()
    assert dg(torch.randn(2, 6, 32)).shape == (2, 3)


def test_segmentation_head_labels_every_point_in_order():
    torch.manual_seed(0)
    model = create_model("pointnet_seg", in_channels=3, num_classes=4)
    x = torch.randn(2, 3, 40)
    logits, aux = model(x)
    assert logits.shape == (2, 4, 40) and aux.shape == ()
    model.eval()
    perm = torch.randperm(40)
    with torch.no_grad():
        torch.testing.assert_close(model(x[:, :, perm]), model(x)[:, :, perm], rtol=1e-4, atol=1e-5)
    model.reset_classifier(7)
    assert model(x).shape == (2, 7, 40)


def test_classifier_interface_and_errors():
    model = create_model("dgcnn", num_classes=5, k=4).eval()
    x = torch.randn(2, 3, 16)
    assert model.forward_features(x).shape == (2, model.num_features) == (2, 256)
    model.reset_classifier(0)
    assert model(x).shape == (2, 256)
    with pytest.raises(ShapeError, match=r"\[N, C=3, L\] with every spatial size >= 4"):
        model(torch.randn(2, 3, 3))
    with pytest.raises(ShapeError, match="pointnet"):
        create_model("pointnet", num_classes=2)(torch.randn(2, 4, 10))
    with pytest.raises(ConfigError, match="xyz"):
        create_model("pointnet", in_channels=2)
    with pytest.raises(ConfigError, match="unexpected keyword"):
        create_model("dgcnn", widths=3)


def test_small_pointnet_learns_held_out_shapes():
    torch.manual_seed(0)
    points, labels, _ = make_solids(40, 64, seed=3, classes=("sphere", "cube", "torus", "cone"))
    x, y = torch.from_numpy(points).transpose(1, 2).contiguous(), torch.from_numpy(labels)
    test = torch.arange(len(y)) % 4 == 0
    model = create_model("pointnet", num_classes=4, mlp1=[32, 32], mlp2=[32, 64, 128], head=[64, 32],
                         tnet_mlp=[32, 64, 128], tnet_fc=[64, 32])
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 100)
    xtr, ytr = x[~test], y[~test]
    for step in range(100):
        idx = torch.randint(0, len(ytr), (32,))
        logits, aux = model(xtr[idx])
        loss = F.cross_entropy(logits, ytr[idx]) + aux
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x[test]).argmax(1) == y[test]).float().mean().item()
    assert accuracy >= 0.85  # measured 0.925
