"""Point-set blocks against brute-force references: k nearest neighbours, farthest-point
sampling, ball query, edge features; EdgeConv's and the T-Net's behaviour; the
orthogonality regulariser; the memory of dense knn."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from convkit.errors import ConfigError, ShapeError
from convkit.nn.points import (
    EdgeConv,
    TNet,
    ball_query,
    edge_features,
    farthest_point_sample,
    gather_points,
    knn,
    orthogonality_loss,
    square_distance,
)


def brute_sq_dist(a, b):
    return np.array([[[float(((p - q) ** 2).sum()) for q in bb] for p in aa] for aa, bb in zip(a, b)])


def test_square_distance_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 30, 3, generator=g), torch.randn(2, 40, 3, generator=g)
    np.testing.assert_allclose(square_distance(a, b).numpy(), brute_sq_dist(a.numpy(), b.numpy()), atol=1e-5)


@pytest.mark.parametrize("dims", [3, 16])
def test_knn_matches_brute_force(dims):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 50, dims, generator=g, dtype=torch.float64)
    q = torch.randn(3, 7, dims, generator=g, dtype=torch.float64)
    for query in (None, q):
        dist, idx = knn(x, 5, query)
        qq = x if query is None else query
        ref = brute_sq_dist(qq.numpy(), x.numpy())
        ref_idx = np.argsort(ref, axis=-1, kind="stable")[..., :5]
        assert torch.equal(idx, torch.from_numpy(ref_idx))
        np.testing.assert_allclose(dist.numpy(), np.take_along_axis(ref, ref_idx, -1), atol=1e-9)
    assert torch.equal(knn(x, 1)[1].squeeze(-1), torch.arange(50).expand(3, 50))  # each point is its own nearest


def test_knn_rejects_k_larger_than_the_cloud_and_bad_shapes():
    with pytest.raises(ConfigError, match="k must be between 1 and the number of points 4"):
        knn(torch.randn(1, 4, 3), 5)
    with pytest.raises(ShapeError, match=r"\[B, P, D\]"):
        knn(torch.randn(4, 3), 2)


def test_gather_points_picks_rows_per_batch():
    x = torch.arange(2 * 5 * 2).reshape(2, 5, 2)
    idx = torch.tensor([[[4, 0]], [[1, 1]]])
    out = gather_points(x, idx)
    assert out.shape == (2, 1, 2, 2)
    assert out[0, 0].tolist() == [x[0, 4].tolist(), x[0, 0].tolist()]
    assert out[1, 0].tolist() == [x[1, 1].tolist(), x[1, 1].tolist()]


def brute_fps(xyz, m, start):
    picked = [start]
    nearest = ((xyz - xyz[start]) ** 2).sum(-1)
    while len(picked) < m:
        nxt = int(np.argmax(nearest))  # first index among ties
        picked.append(nxt)
        nearest = np.minimum(nearest, ((xyz - xyz[nxt]) ** 2).sum(-1))
    return picked


def test_farthest_point_sample_matches_brute_force():
    g = torch.Generator().manual_seed(2)
    xyz = torch.randn(3, 64, 3, generator=g, dtype=torch.float64)
    start = torch.tensor([0, 5, 63])
    idx = farthest_point_sample(xyz, 10, start)
    for b in range(3):
        assert idx[b].tolist() == brute_fps(xyz[b].numpy(), 10, int(start[b]))
    assert len(set(idx[0].tolist())) == 10  # distinct points
    # the corners of a square are found first among points inside it
    square = torch.tensor([[[0.5, 0.5, 0], [0, 0, 0], [1, 1, 0], [0.4, 0.6, 0], [1, 0, 0], [0, 1, 0]]])
    assert sorted(farthest_point_sample(square, 4, torch.tensor([1]))[0].tolist()) == [1, 2, 4, 5]


def brute_ball_query(xyz, centers, radius, k):
    out = []
    for c in centers:
        d = ((xyz - c) ** 2).sum(-1)
        inside = [j for j in range(len(xyz)) if d[j] <= radius ** 2][:k]
        if not inside:
            inside = [int(np.argmin(d))]
        out.append(inside + [inside[0]] * (k - len(inside)))
    return out


def test_ball_query_matches_brute_force():
    g = torch.Generator().manual_seed(3)
    xyz = torch.rand(2, 80, 3, generator=g, dtype=torch.float64)
    centers = torch.cat([xyz[:, :6], torch.full((2, 1, 3), 5.0, dtype=torch.float64)], 1)  # one far centre
    for radius, k in ((0.2, 8), (0.5, 16), (0.05, 4)):
        idx = ball_query(xyz, centers, radius, k)
        assert idx.shape == (2, 7, k)
        for b in range(2):
            assert idx[b].tolist() == brute_ball_query(xyz[b].numpy(), centers[b].numpy(), radius, k)
    assert ball_query(xyz, centers, 0.2, 200).shape == (2, 7, 200)  # k above P pads


def test_edge_features_are_neighbour_minus_centre_and_centre():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 4, 12, generator=g, dtype=torch.float64)           # [B, C, P]
    edges, idx = edge_features(x, 3)
    assert edges.shape == (2, 8, 12, 3) and idx.shape == (2, 12, 3)
    rows = x.transpose(1, 2).numpy()
    for b in range(2):
        ref = np.argsort(brute_sq_dist(rows[b:b + 1], rows[b:b + 1])[0], axis=-1, kind="stable")[:, :3]
        assert idx[b].tolist() == ref.tolist()
        i, j = 7, int(ref[7, 2])
        np.testing.assert_allclose(edges[b, :4, i, 2].numpy(), rows[b, j] - rows[b, i])
        np.testing.assert_allclose(edges[b, 4:, i, 2].numpy(), rows[b, i])


def test_edgeconv_is_permutation_equivariant_and_checks_its_input():
    torch.manual_seed(0)
    block = EdgeConv(3, 16, k=4).eval()
    x = torch.randn(2, 3, 32)
    perm = torch.randperm(32)
    out = block(x)
    assert out.shape == (2, 16, 32)
    torch.testing.assert_close(block(x[:, :, perm]), out[:, :, perm], rtol=1e-5, atol=1e-6)
    with pytest.raises(ShapeError, match="EdgeConv"):
        block(torch.randn(2, 4, 32))
    with pytest.raises(ShapeError, match="spatial size >= 4"):
        block(torch.randn(2, 3, 3))


def test_tnet_starts_as_the_identity_and_is_order_invariant():
    torch.manual_seed(0)
    net = TNet(3)
    x = torch.randn(4, 3, 50)
    assert torch.equal(net(x), torch.eye(3).expand(4, 3, 3))
    torch.nn.init.normal_(net.transform.weight, std=0.1)
    net.eval()
    torch.testing.assert_close(net(x[:, :, torch.randperm(50)]), net(x), rtol=1e-5, atol=1e-6)


def test_orthogonality_loss_is_the_reference_l2_loss():
    g = torch.Generator().manual_seed(5)
    q, _ = torch.linalg.qr(torch.randn(3, 5, 5, generator=g, dtype=torch.float64))
    assert orthogonality_loss(q).item() == pytest.approx(0.0, abs=1e-12)
    twice = 2 * torch.eye(3).expand(4, 3, 3)
    assert orthogonality_loss(twice).item() == pytest.approx(4 * 3 * (4 - 1) ** 2 / 2)  # sum over batch, /2
    a = torch.randn(2, 4, 4, generator=g, dtype=torch.float64)
    ref = sum(((m @ m.T - np.eye(4)) ** 2).sum() / 2 for m in a.numpy())
    assert orthogonality_loss(a).item() == pytest.approx(ref)


_MEMORY_PROBE = """
import json, sys, torch
from convkit.nn.points import knn

def high_water_mark():  # peak resident memory since the last reset, in bytes
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))

torch.set_num_threads(1)
p = int(sys.argv[1])
x = torch.randn(1, p, 3)
knn(torch.randn(1, 64, 3), 20)  # warm up
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the high-water mark to the current resident size
before = high_water_mark()
knn(x, 20)
print(json.dumps(high_water_mark() - before))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc/self/status")
def test_knn_memory_is_the_distance_matrix():
    """Peak memory of ``knn`` on one cloud of 4096 points, measured in a fresh process:
    about one dense ``4 * P * P``-byte distance matrix (64 MiB), nothing more."""
    p = 4096
    out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(p)], capture_output=True, text=True, check=True)
    peak, matrix = json.loads(out.stdout), 4 * p * p
    assert 0.75 * matrix <= peak <= 2 * matrix + (16 << 20), (peak, matrix)
