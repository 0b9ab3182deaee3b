"""Point-set models: PointNet (Qi et al. 2017) and DGCNN (Wang et al. 2019).

Both take clouds as ``[N, C, P]``: ``C = 3 + F`` channels (xyz first, then optional
per-point features such as normals) for ``P`` points, in any order; both are invariant
to that order (a shared per-point MLP or EdgeConv, then a symmetric max/avg over points).
Registered with ``input_kind="points"`` and no ``spatial_dims`` (they are not grid
models).

PointNet's feature-transform regulariser has to reach the loss. ``model(x)`` returns
logits ``[N, classes]`` in eval mode (what metrics, predict and export use); in training
mode a PointNet with a feature transform returns ``(logits, aux_loss)``, the weighted
regulariser as a scalar, and the point-cloud task adds it to the cross-entropy. The
loss is thus found without looking into a (possibly DDP-wrapped) model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from convkit.errors import ConfigError
from convkit.models.base import Classifier
from convkit.models.registry import register_model
from convkit.nn import conv
from convkit.nn.points import EdgeConv, TNet, fc_norm_act, knn, orthogonality_loss, shared_mlp

_XYZ = 3


# ----------------------------------------------------------------------------- PointNet


@dataclass(frozen=True)
class PointNetConfig:
    """PointNet's layout (defaults: the paper's classification network).

    ``mlp1`` runs before the feature transform, ``mlp2`` after it (the last width is
    the global feature); ``head``: the FC widths after max pooling, each followed by
    dropout ``dropout`` (the reference's keep probability 0.7). ``reg_weight``: the
    feature-transform regulariser's weight (0.001 in the reference code).
    ``segmentation``: a per-point head (point feature ⊕ global feature → ``seg_head``
    → classes) returning ``[N, classes, P]`` instead of one label per cloud.
    ``tnet_mlp``/``tnet_fc``: the widths of both T-Nets.
    """

    mlp1: tuple[int, ...] = (64, 64)
    mlp2: tuple[int, ...] = (64, 128, 1024)
    head: tuple[int, ...] = (512, 256)
    dropout: float = 0.3
    input_transform: bool = True
    feature_transform: bool = True
    reg_weight: float = 0.001
    segmentation: bool = False
    seg_head: tuple[int, ...] = (512, 256, 128)
    tnet_mlp: tuple[int, ...] = (64, 128, 1024)
    tnet_fc: tuple[int, ...] = (512, 256)


class PointNet(Classifier):
    """PointNet: ``[N, 3 + F, P] -> [N, classes]`` (or ``[N, classes, P]`` with
    ``segmentation``). In training mode with a feature transform it returns
    ``(logits, aux_loss)`` (see the module docstring).

    The input T-Net transforms the xyz channels only; extra features pass through.
    ``forward_features`` gives the last FC features ``[N, head[-1]]`` (classification)
    or the per-point features ``[N, seg_head[-1], P]`` (segmentation).
    """

    spatial_dims = 1  # the input layout [N, C, P] is a 1D layout

    def __init__(self, cfg: PointNetConfig, in_channels: int = 3, num_classes: int = 40) -> None:
        super().__init__()
        if in_channels < _XYZ:
            raise ConfigError(f"pointnet needs at least the 3 xyz channels; got in_channels={in_channels}")
        if not cfg.mlp1 or not cfg.mlp2:
            raise ConfigError("pointnet: mlp1 and mlp2 need at least one width each")
        self.cfg, self.in_channels = cfg, in_channels
        self.input_tnet = TNet(_XYZ, cfg.tnet_mlp, cfg.tnet_fc) if cfg.input_transform else None
        self.mlp1 = shared_mlp(in_channels, cfg.mlp1)
        self.feature_tnet = TNet(cfg.mlp1[-1], cfg.tnet_mlp, cfg.tnet_fc) if cfg.feature_transform else None
        self.mlp2 = shared_mlp(cfg.mlp1[-1], cfg.mlp2)
        if cfg.segmentation:
            self.seg_mlp = shared_mlp(cfg.mlp1[-1] + cfg.mlp2[-1], cfg.seg_head)
            self.num_features = cfg.seg_head[-1]
        else:
            layers: list[nn.Module] = []
            width = cfg.mlp2[-1]
            for i, w in enumerate(cfg.head):
                layers.append(fc_norm_act(width, w))
                if i < len(cfg.head) - 1:
                    layers.append(nn.Dropout(cfg.dropout))
                width = w
            self.fc = nn.Sequential(*layers)
            self.num_features = width
        self._init_head(self.num_features, num_classes, cfg.dropout)

    def _init_head(self, num_features: int, num_classes: int, dropout: float = 0.0) -> None:
        if not self.cfg.segmentation:
            return super()._init_head(num_features, num_classes, dropout)
        self.num_features, self.num_classes, self.head_dropout = num_features, num_classes, dropout
        self.head = conv(1, num_features, num_classes, 1) if num_classes > 0 else nn.Identity()

    def _encode(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Features (see ``forward_features``) and the feature transform ``[N, k, k]``."""
        self.check_input(x)
        if self.input_tnet is not None:
            a = self.input_tnet(x[:, :_XYZ])
            xyz = torch.bmm(a.transpose(1, 2), x[:, :_XYZ])              # rows: points @ A
            x = torch.cat([xyz, x[:, _XYZ:]], dim=1)
        local = self.mlp1(x)
        transform = None
        if self.feature_tnet is not None:
            transform = self.feature_tnet(local)
            local = torch.bmm(transform.transpose(1, 2), local)
        glob = self.mlp2(local).amax(dim=-1)                              # the symmetric function
        if self.cfg.segmentation:
            per_point = torch.cat([local, glob.unsqueeze(-1).expand(-1, -1, local.shape[-1])], dim=1)
            return self.seg_mlp(per_point), transform
        return self.fc(glob), transform

    def forward_features(self, x: Tensor) -> Tensor:
        """``[N, C, P] -> [N, num_features]`` (segmentation: ``[N, num_features, P]``)."""
        return self._encode(x)[0]

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """Logits ``[N, classes]`` (``[N, classes, P]`` for segmentation); in training
        mode with a feature transform, ``(logits, reg_weight * orthogonality_loss)``."""
        features, transform = self._encode(x)
        logits = self.forward_head(features)
        if self.training and transform is not None and self.cfg.reg_weight > 0:
            return logits, self.cfg.reg_weight * orthogonality_loss(transform)
        return logits


@register_model(domain="pointcloud", input_kind="points")
def pointnet(in_channels: int = 3, num_classes: int = 40, **options) -> PointNet:
    """PointNet classifier as Qi et al. 2017 (options override ``PointNetConfig``
    fields; lists are taken as tuples)."""
    return PointNet(PointNetConfig(**_tuples(options)), in_channels, num_classes)


@register_model(domain="pointcloud", input_kind="points")
def pointnet_seg(in_channels: int = 3, num_classes: int = 50, **options) -> PointNet:
    """PointNet with the per-point segmentation head: ``[N, C, P] -> [N, classes, P]``."""
    return PointNet(PointNetConfig(**{**_tuples(options), "segmentation": True}), in_channels, num_classes)


# ----------------------------------------------------------------------------- DGCNN


@dataclass(frozen=True)
class DGCNNConfig:
    """DGCNN's layout (defaults: the reference classification network). ``k``
    neighbours; ``edge_widths``: the EdgeConv layers, each on a graph rebuilt in its
    input's feature space (the first on xyz); ``emb_dims``: the 1x1 conv on their
    concatenation, pooled by max and mean; ``head``: FC widths with ``dropout``."""

    k: int = 20
    edge_widths: tuple[int, ...] = (64, 64, 128, 256)
    emb_dims: int = 1024
    head: tuple[int, ...] = (512, 256)
    dropout: float = 0.5


class DGCNN(Classifier):
    """DGCNN: ``[N, 3 + F, P] -> [N, classes]`` with ``P >= k``. The first EdgeConv's
    graph is the k-NN graph of the xyz channels; later ones use their input features.
    ``forward_features`` gives the last FC features ``[N, head[-1]]``."""

    spatial_dims = 1

    def __init__(self, cfg: DGCNNConfig, in_channels: int = 3, num_classes: int = 40) -> None:
        super().__init__()
        if in_channels < _XYZ:
            raise ConfigError(f"dgcnn needs at least the 3 xyz channels; got in_channels={in_channels}")
        if cfg.k < 1 or not cfg.edge_widths:
            raise ConfigError(f"dgcnn: k must be >= 1 and edge_widths non-empty; got k={cfg.k}")
        self.cfg, self.in_channels, self.min_input_size = cfg, in_channels, cfg.k
        act = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        self.edge_convs = nn.ModuleList()
        c = in_channels
        for w in cfg.edge_widths:
            self.edge_convs.append(EdgeConv(c, w, cfg.k))
            c = w
        self.embed = nn.Sequential(conv(1, sum(cfg.edge_widths), cfg.emb_dims, 1, bias=False),
                                   nn.BatchNorm1d(cfg.emb_dims), act())
        layers: list[nn.Module] = []
        width = 2 * cfg.emb_dims
        for i, w in enumerate(cfg.head):
            layers.append(fc_norm_act(width, w, act=act()))
            if i < len(cfg.head) - 1:
                layers.append(nn.Dropout(cfg.dropout))
            width = w
        self.fc = nn.Sequential(*layers)
        self._init_head(width, num_classes, cfg.dropout)

    def forward_features(self, x: Tensor) -> Tensor:
        """``[N, C, P] -> [N, num_features]``."""
        self.check_input(x)
        idx = knn(x[:, :_XYZ].transpose(1, 2), self.cfg.k)[1]
        outs = []
        for i, edge_conv in enumerate(self.edge_convs):
            x = edge_conv(x, idx if i == 0 else None)
            outs.append(x)
        emb = self.embed(torch.cat(outs, dim=1))
        pooled = torch.cat([emb.amax(dim=-1), emb.mean(dim=-1)], dim=1)
        return self.fc(pooled)


@register_model(domain="pointcloud", input_kind="points")
def dgcnn(in_channels: int = 3, num_classes: int = 40, **options) -> DGCNN:
    """DGCNN classifier as Wang et al. 2019 (options override ``DGCNNConfig`` fields)."""
    return DGCNN(DGCNNConfig(**_tuples(options)), in_channels, num_classes)


def _tuples(options: dict) -> dict:
    """Config options with lists (as TOML gives them) turned into tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
