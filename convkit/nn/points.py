"""Point-set blocks: neighbourhoods, sampling and the layers of PointNet and DGCNN.

Everything is dense, batched torch (``torch.cdist`` + ``topk``) rather than
torch-geometric's ``knn_graph``/``fps``: those need pyg-lib or torch-cluster, which have
no wheels for this torch (DESIGN.md "Dependencies"). Dense code is also what runs fast
on a GPU for the cloud sizes of classification (1k-4k points); its cost is the
``[B, M, P]`` distance matrix, ``4 * B * M * P`` bytes in float32 (see :func:`knn`).

Two layouts appear, each where it is natural:

* coordinates for the neighbourhood functions: ``[B, P, D]`` (points in rows, as
  ``torch.cdist`` takes them);
* features for the networks: ``[B, C, P]`` (channels first, the 1D-conv layout, so the
  shared per-point MLP is ``convkit.nn.conv(1, ..., kernel_size=1)``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from convkit.errors import ConfigError, ShapeError
from convkit.nn import layers


def _check_points(x: Tensor, name: str, what: str = "[B, P, D]") -> None:
    if x.dim() != 3:
        raise ShapeError(f"{name} expects points {what}; got a tensor of shape {list(x.shape)}")


def square_distance(a: Tensor, b: Tensor) -> Tensor:
    """Squared Euclidean distances between two point sets: ``a [B, M, D]``,
    ``b [B, P, D]`` -> ``[B, M, P]``.

    ``torch.cdist`` uses the matrix-product form ``|a|^2 + |b|^2 - 2ab`` for larger sets
    (fast, float rounding of about ``1e-6 * |a|^2``), so tiny distances may come out a
    little off; the result is clamped at 0.
    """
    _check_points(a, "square_distance")
    _check_points(b, "square_distance")
    return torch.cdist(a, b).pow(2).clamp_min_(0.0)


def knn(x: Tensor, k: int, query: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The ``k`` nearest points of ``x [B, P, D]`` to each query ``[B, M, D]`` (default:
    the points themselves, so each point is its own nearest neighbour, as in DGCNN).

    Returns ``(distances [B, M, k], indices [B, M, k])``, nearest first; distances are
    squared Euclidean and carry no gradient (a neighbourhood is a choice, not a
    function to differentiate). Memory is one dense ``[B, M, P]`` float32 distance
    matrix, squared in place: per cloud 4 MiB for 1024 points, 64 MiB for 4096
    (``tests/nn/test_points.py`` holds the extra peak memory to the matrix size).
    """
    _check_points(x, "knn")
    query = x if query is None else query
    if not 1 <= k <= x.shape[1]:
        raise ConfigError(f"knn: k must be between 1 and the number of points {x.shape[1]}; got {k}")
    with torch.no_grad():
        dist = torch.cdist(query, x).pow_(2)
        return dist.topk(k, dim=-1, largest=False, sorted=True)


def gather_points(x: Tensor, idx: Tensor) -> Tensor:
    """Rows of ``x [B, P, C]`` picked per batch by ``idx [B, *S]`` -> ``[B, *S, C]``."""
    _check_points(x, "gather_points", "[B, P, C]")
    b = x.shape[0]
    flat = idx.reshape(b, -1)
    out = torch.gather(x, 1, flat.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    return out.reshape(*idx.shape, x.shape[-1])


def farthest_point_sample(xyz: Tensor, m: int, start: Tensor | None = None) -> Tensor:
    """Farthest-point sampling (PointNet++): ``m`` indices ``[B, m]`` into ``xyz
    [B, P, D]``, each the point farthest from all picked so far. ``start [B]`` is the
    first pick per cloud (default 0, so the result is deterministic; pass
    ``torch.randint(P, (B,))`` for the random start of the reference code). Ties go to
    the lowest index. Cost: ``m`` passes over ``[B, P]``, no ``P x P`` matrix.
    """
    _check_points(xyz, "farthest_point_sample")
    b, p, _ = xyz.shape
    if not 1 <= m <= p:
        raise ConfigError(f"farthest_point_sample: m must be between 1 and the number of points {p}; got {m}")
    idx = torch.empty(b, m, dtype=torch.long, device=xyz.device)
    nearest = torch.full((b, p), float("inf"), dtype=xyz.dtype, device=xyz.device)
    current = (torch.zeros(b, dtype=torch.long, device=xyz.device) if start is None
               else start.to(device=xyz.device, dtype=torch.long))
    rows = torch.arange(b, device=xyz.device)
    for i in range(m):
        idx[:, i] = current
        d = (xyz - xyz[rows, current].unsqueeze(1)).pow(2).sum(-1)
        nearest = torch.minimum(nearest, d)
        current = nearest.argmax(-1)
    return idx


def ball_query(xyz: Tensor, centers: Tensor, radius: float, k: int) -> Tensor:
    """Up to ``k`` points of ``xyz [B, P, D]`` within ``radius`` of each of ``centers
    [B, M, D]`` -> indices ``[B, M, k]``.

    As in PointNet++: the first ``k`` points in index order inside the ball; a ball with
    fewer repeats its first point to fill ``k``. A ball with no point at all (a center
    that is not itself a point) takes its nearest point instead.
    """
    _check_points(xyz, "ball_query")
    _check_points(centers, "ball_query")
    if radius <= 0 or k < 1:
        raise ConfigError(f"ball_query: radius must be > 0 and k >= 1; got {radius}, {k}")
    p = xyz.shape[1]
    dist = square_distance(centers, xyz)                                   # [B, M, P]
    inside = dist <= radius * radius
    order = torch.arange(p, device=xyz.device).expand_as(dist)
    keyed = torch.where(inside, order, torch.full_like(order, p))          # outside sorts last
    first = keyed.topk(min(k, p), dim=-1, largest=False, sorted=True).values  # [B, M, k']
    nearest = dist.argmin(-1, keepdim=True)
    head = torch.where(first[..., :1] == p, nearest, first[..., :1])      # empty ball: nearest
    idx = torch.where(first == p, head, first)
    if idx.shape[-1] < k:
        idx = torch.cat([idx, head.expand(*head.shape[:-1], k - idx.shape[-1])], -1)
    return idx


def edge_features(x: Tensor, k: int, idx: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """DGCNN's edge features: for every point ``i`` and each of its ``k`` nearest
    neighbours ``j`` (in the space of ``x`` itself unless ``idx [B, P, k]`` is given),
    ``concat(x_j - x_i, x_i)``. ``x [B, C, P]`` -> ``([B, 2C, P, k], idx [B, P, k])``."""
    if x.dim() != 3:
        raise ShapeError(f"edge_features expects features [B, C, P]; got a tensor of shape {list(x.shape)}")
    rows = x.transpose(1, 2).contiguous()                                  # [B, P, C]
    if idx is None:
        idx = knn(rows, k)[1]
    neighbours = gather_points(rows, idx)                                  # [B, P, k, C]
    centre = rows.unsqueeze(2).expand_as(neighbours)
    edges = torch.cat([neighbours - centre, centre], dim=-1)               # [B, P, k, 2C]
    return edges.permute(0, 3, 1, 2).contiguous(), idx


class EdgeConv(nn.Module):
    """EdgeConv (Wang et al. 2019): a shared MLP on every edge ``concat(x_j - x_i, x_i)``
    of the k-nearest-neighbour graph, then the max over each point's ``k`` edges.
    ``[B, C_in, P] -> [B, C_out, P]``. The graph is rebuilt from the input features on
    every call (the "dynamic" graph), unless ``idx [B, P, k]`` is passed.

    The MLP is a 1x1 2D conv over ``[B, 2C, P, k]`` + norm + LeakyReLU(0.2), as in the
    reference code.
    """

    def __init__(self, in_channels: int, out_channels: int, k: int = 20, norm: str | None = "batch",
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.k = in_channels, out_channels, k
        self.mlp = nn.Sequential(
            layers.conv(2, 2 * in_channels, out_channels, 1, bias=norm in (None, "none")),
            layers.norm(2, norm, out_channels),
            nn.LeakyReLU(negative_slope, inplace=True))

    def forward(self, x: Tensor, idx: Tensor | None = None) -> Tensor:
        layers.check_input(x, 1, self.in_channels, "EdgeConv", min_size=self.k)
        edges, _ = edge_features(x, self.k, idx)
        return self.mlp(edges).amax(dim=-1)


def shared_mlp(in_channels: int, widths: tuple[int, ...], norm: str | None = "batch",
               act: str | None = "relu") -> nn.Sequential:
    """PointNet's shared per-point MLP: 1x1 1D conv-norm-act per width.
    ``[B, C_in, P] -> [B, widths[-1], P]``."""
    from convkit.nn.blocks import ConvNormAct

    modules, c = [], in_channels
    for w in widths:
        modules.append(ConvNormAct(1, c, w, kernel_size=1, norm=norm, act=act))
        c = w
    return nn.Sequential(*modules)


def fc_norm_act(in_features: int, out_features: int, norm: bool = True, act: nn.Module | None = None) -> nn.Sequential:
    """Linear (no bias before a norm) → BatchNorm1d → activation (ReLU by default):
    ``[B, F_in] -> [B, F_out]``. The fully connected layers of PointNet and DGCNN."""
    modules: list[nn.Module] = [nn.Linear(in_features, out_features, bias=not norm)]
    if norm:
        modules.append(nn.BatchNorm1d(out_features))
    modules.append(act if act is not None else nn.ReLU(inplace=True))
    return nn.Sequential(*modules)


class TNet(nn.Module):
    """PointNet's transform net: predicts a ``k x k`` matrix from a point set.
    ``[B, k, P] -> [B, k, k]``; apply it as ``x' = A^T x`` (the reference code's
    ``points @ A`` on ``[B, P, k]`` rows).

    Shared MLP ``mlp`` (64, 128, 1024) → max over points → FC ``fc`` (512, 256) → a
    linear layer to ``k*k`` whose weights start at zero and whose bias is the identity,
    so the net starts as the identity transform (as in the reference code).
    """

    def __init__(self, k: int, mlp: tuple[int, ...] = (64, 128, 1024), fc: tuple[int, ...] = (512, 256),
                 norm: str | None = "batch") -> None:
        super().__init__()
        if not mlp or not fc:
            raise ConfigError(f"TNet needs at least one MLP and one FC width; got {mlp}, {fc}")
        self.k = k
        self.mlp = shared_mlp(k, mlp, norm)
        widths = (mlp[-1],) + tuple(fc)
        self.fc = nn.Sequential(*[fc_norm_act(a, b, norm is not None) for a, b in zip(widths, widths[1:])])
        self.transform = nn.Linear(fc[-1], k * k)
        nn.init.zeros_(self.transform.weight)
        with torch.no_grad():
            self.transform.bias.copy_(torch.eye(k).flatten())

    def forward(self, x: Tensor) -> Tensor:
        layers.check_input(x, 1, self.k, "TNet")
        g = self.mlp(x).amax(dim=-1)
        return self.transform(self.fc(g)).view(-1, self.k, self.k)


def orthogonality_loss(transform: Tensor) -> Tensor:
    """PointNet's feature-transform regulariser as in the reference code:
    ``sum over the batch of ||A A^T - I||_F^2 / 2`` (``tf.nn.l2_loss``), for ``A [B, k, k]``.
    The reference weights it by 0.001 and adds it to the mean cross-entropy."""
    if transform.dim() != 3 or transform.shape[1] != transform.shape[2]:
        raise ShapeError(f"orthogonality_loss expects square matrices [B, k, k]; got {list(transform.shape)}")
    eye = torch.eye(transform.shape[1], device=transform.device, dtype=transform.dtype)
    diff = transform @ transform.transpose(1, 2) - eye
    return diff.pow(2).sum() / 2
