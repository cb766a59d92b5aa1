"""Full skeleton action-recognition models, assembled from the stviz blocks (NTU-60 joint configuration).

Every model takes (N, C, T, V, M) (EfficientGCN: (N, I, C, T, V, M), I input branches) and returns logits
(N, num_classes). Persons are folded into the batch person-minor (``n*M + m``) after the input BatchNorm,
and the head averages pooled features over persons (SPEC.md §3).

Papers: Yan et al., AAAI 2018 (ST-GCN); Chen et al., ICCV 2021 (CTR-GCN); Cheng et al., CVPR 2020
(Shift-GCN); Song et al., TPAMI 2022 / arXiv 2106.15125 (EfficientGCN); Liu et al., CVPR 2020 (MS-G3D).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch
from torch import nn

from stviz.channel import AttentionLayer, SpatialTemporalJointAttention
from stviz.checks import check_nctv, check_nctvm
from stviz.graph import SkeletonGraph
from stviz.multiscale import MultiScaleGraphConv, MultiWindowG3D
from stviz.shift import ShiftTCN
from stviz.spatial import (
    ChannelTopologyBlock,
    EfficientGraphLayer,
    ShiftGraphConv,
    STGCNBlock,
    efficientgcn_activation,
)
from stviz.temporal import (
    MSG3DTemporalConv,
    TemporalBasicLayer,
    TemporalBottleneckLayer,
    TemporalConvBN,
    TemporalSandglassLayer,
    TemporalSepLayer,
    _efficientgcn_init,
)

__all__ = [
    "STGCN",
    "CTRGCN",
    "ShiftGCNUnit",
    "ShiftGCN",
    "EfficientGCN",
    "efficientgcn_block_args",
    "MSG3D",
    "build_model",
    "MODEL_NAMES",
]

# Stage widths and temporal strides shared by ST-GCN, CTR-GCN and Shift-GCN: 10 layers.
_TEN_LAYERS = ((64, 1), (64, 1), (64, 1), (64, 1), (128, 2), (128, 1), (128, 1), (256, 2), (256, 1), (256, 1))


def _ntu_graph() -> SkeletonGraph:
    return SkeletonGraph("ntu-rgb+d")


def fold_persons(x: torch.Tensor, data_bn: nn.BatchNorm1d) -> torch.Tensor:
    """Input BatchNorm, then persons into the batch: (N, C, T, V, M) -> (N*M, C, T, V).

    ``data_bn`` has M*V*C features (CTR-GCN, Shift-GCN, MS-G3D: index ``m*V*C + v*C + c``) or V*C features
    (ST-GCN: shared by the persons).
    """
    n, c, t, v, m = x.shape
    if data_bn.num_features == m * v * c:
        x = data_bn(x.permute(0, 4, 3, 1, 2).reshape(n, m * v * c, t))  # (N, M*V*C, T)
    elif data_bn.num_features == v * c:
        x = data_bn(x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t))  # (N*M, V*C, T)
    else:
        raise ValueError(f"data_bn has {data_bn.num_features} features; expected M*V*C={m * v * c} or V*C={v * c}")
    return x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)  # (N*M, C, T, V)


def _pool_persons(x: torch.Tensor, n: int) -> torch.Tensor:
    """Global average over (T, V), then over persons: (N*M, C, T, V) -> (N, C)."""
    return x.view(n, -1, x.shape[1], x.shape[2] * x.shape[3]).mean(3).mean(1)


class _NTUModel(nn.Module):
    """Shared input check: x (N, C, T, V, M) with ``in_channels`` channels and ``num_joints`` joints."""

    in_channels: int
    num_joints: int

    def _check(self, x: torch.Tensor) -> None:
        check_nctvm(x, self.in_channels, self.num_joints, type(self).__name__)


class _LayerStackModel(_NTUModel):
    """data BN and person folding, ``layers`` in sequence, GAP, mean over persons, (dropout), ``fc``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        n = x.shape[0]
        x = fold_persons(x, self.data_bn)  # (N*M, C, T, V)
        for layer in self.layers:
            x = layer(x)
        return self.fc(self.dropout(_pool_persons(x, n)))


# ---------------------------------------------------------------------------- ST-GCN


class STGCN(_NTUModel):
    """ST-GCN: `Model` (yysijie/st-gcn ``net/st_gcn.py``), 'spatial' partition, edge importance.

    10 :class:`~stviz.spatial.STGCNBlock` layers (64, 64, 64, 64, 128/2, 128, 128, 256/2, 256, 256), the first
    without residual or dropout; data BN over V*C shared by the persons; head: GAP, mean over persons, 1x1
    conv. x: (N, C, T, V, M) -> (N, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 60,
        in_channels: int = 3,
        A: torch.Tensor | None = None,
        edge_importance: bool = True,
        dropout: float = 0.5,
        temporal_kernel: int = 9,
    ):
        super().__init__()
        A = _ntu_graph().stgcn_partition("spatial", max_hop=1, centre_distance="official") if A is None else A
        self.in_channels, self.num_joints = in_channels, A.shape[-1]
        self.data_bn = nn.BatchNorm1d(in_channels * self.num_joints)
        layers, last = [], in_channels
        for i, (width, stride) in enumerate(_TEN_LAYERS):
            layers.append(
                STGCNBlock(
                    last,
                    width,
                    A,
                    temporal_kernel=temporal_kernel,
                    stride=stride,
                    dropout=0.0 if i == 0 else dropout,
                    residual=i > 0,
                    edge_importance=edge_importance,
                )
            )
            last = width
        self.layers = nn.ModuleList(layers)
        self.classifier = nn.Conv2d(last, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        n = x.shape[0]
        x = fold_persons(x, self.data_bn)  # (N*M, C, T, V)
        for layer in self.layers:
            x = layer(x)
        x = _pool_persons(x, n)  # (N, C)
        return self.classifier(x[:, :, None, None]).flatten(1)


# ---------------------------------------------------------------------------- CTR-GCN


class CTRGCN(_LayerStackModel):
    """CTR-GCN: `Model` (Uason-Chen/CTR-GCN ``model/ctrgcn.py``).

    Data BN over M*V*C; 10 :class:`~stviz.spatial.ChannelTopologyBlock` layers; head: GAP, mean over persons,
    dropout, linear.
    x: (N, C, T, V, M) -> (N, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 60,
        in_channels: int = 3,
        num_persons: int = 2,
        A: torch.Tensor | None = None,
        dropout: float = 0.0,
        adaptive: bool = True,
    ):
        super().__init__()
        A = _ntu_graph().inward_outward() if A is None else A
        self.in_channels, self.num_joints = in_channels, A.shape[-1]
        self.data_bn = nn.BatchNorm1d(num_persons * self.num_joints * in_channels)
        layers, last = [], in_channels
        for i, (width, stride) in enumerate(_TEN_LAYERS):
            layers.append(ChannelTopologyBlock(last, width, A, stride=stride, residual=i > 0, adaptive=adaptive))
            last = width
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(last, num_classes)
        nn.init.normal_(self.fc.weight, 0, math.sqrt(2.0 / num_classes))


# ---------------------------------------------------------------------------- Shift-GCN


class ShiftGCNUnit(nn.Module):
    """Shift-GCN layer ``relu(tcn(gcn(x)) + residual(x))``. Shift-GCN: `TCN_GCN_unit`.

    gcn = :class:`~stviz.spatial.ShiftGraphConv` (the released cyclic shift); tcn = :class:`~stviz.shift.ShiftTCN`;
    residual = 0, identity or a strided 1x1 conv + BN. x: (N, C_in, T, V) -> (N, C_out, T // stride, V).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        residual: bool = True,
        num_joints: int = 25,
        grad_mode: str = "exact",
    ):
        super().__init__()
        self.in_channels = in_channels
        self.gcn1 = ShiftGraphConv(in_channels, out_channels, num_joints)
        self.tcn1 = ShiftTCN(out_channels, out_channels, stride, grad_mode)
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = TemporalConvBN(in_channels, out_channels, 1, stride)
            nn.init.kaiming_normal_(self.residual.conv.weight, mode="fan_out")
            nn.init.zeros_(self.residual.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, block="TCN_GCN_unit")
        y = self.tcn1(self.gcn1(x))
        return torch.relu(y if self.residual is None else y + self.residual(x))


class ShiftGCN(_LayerStackModel):
    """Shift-GCN: `Model` (kchengiva/Shift-GCN ``model/shift_gcn.py``), one stream.

    Data BN over M*V*C; 10 :class:`ShiftGCNUnit` layers; head: GAP, mean over persons, linear (no dropout).
    ``grad_mode`` is the temporal shift's position gradient (``"exact"``, or the original's ``"official"``).
    x: (N, C, T, V, M) -> (N, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 60,
        in_channels: int = 3,
        num_persons: int = 2,
        num_joints: int = 25,
        grad_mode: str = "exact",
    ):
        super().__init__()
        self.in_channels, self.num_joints = in_channels, num_joints
        self.data_bn = nn.BatchNorm1d(num_persons * num_joints * in_channels)
        layers, last = [], in_channels
        for i, (width, stride) in enumerate(_TEN_LAYERS):
            layers.append(ShiftGCNUnit(last, width, stride, residual=i > 0, num_joints=num_joints, grad_mode=grad_mode))
            last = width
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Identity()  # Shift-GCN has no dropout
        self.fc = nn.Linear(last, num_classes)
        nn.init.normal_(self.fc.weight, 0, math.sqrt(2.0 / num_classes))


# ---------------------------------------------------------------------------- EfficientGCN

_EFFICIENTGCN_BASE = ((48, 1, 0.5), (24, 1, 0.5), (64, 2, 1), (128, 2, 1))
_TEMPORAL_LAYERS = {
    "Basic": lambda c, k, s, e, r, bias, act: TemporalBasicLayer(c, k, stride=s, bias=bias, act=act),
    "Sep": lambda c, k, s, e, r, bias, act: TemporalSepLayer(c, k, e, stride=s, bias=bias, act=act),
    "Bottleneck": lambda c, k, s, e, r, bias, act: TemporalBottleneckLayer(c, k, r, stride=s, bias=bias, act=act),
    "SG": lambda c, k, s, e, r, bias, act: TemporalSandglassLayer(c, k, r, stride=s, bias=bias, act=act),
}


def efficientgcn_block_args(
    level: int, base: Sequence[Sequence[float]] = _EFFICIENTGCN_BASE, scale: tuple[float, float] = (1.2, 1.35)
) -> list[tuple[int, int, int]]:
    """EfficientGCN-B<level>'s ``[channels, stride, depth]`` per block: compound scaling with Python's round().

    ``channels = max(round(c * 1.2**x / 16) * 16, 16)``, ``depth = round(d * 1.35**x)``; round() is half-to-even,
    so B0's depth 0.5 becomes 0 and its 24 channels become 32 (SPEC.md pitfall 4).
    """
    width, depth = scale[0] ** level, scale[1] ** level
    return [(max(int(round(c * width / 16)) * 16, 16), int(s), int(round(d * depth))) for c, s, d in base]


class EfficientGCN(nn.Module):
    """EfficientGCN-B<level>: `EfficientGCN` (yysijie/EfficientGCNv1 ``src/model/nets.py``).

    I input branches (J, V, B features), each: BN, stem (spatial graph layer + temporal basic layer), then
    ``block_args[:fusion_stage]``; the branch outputs are concatenated on channels and run through
    ``block_args[fusion_stage:]``. A block is a spatial graph layer, ``depth`` temporal layers (the first
    strided) and an attention layer. Head: GAP over (T, V, M), dropout, 1x1x1 conv.
    x: (N, I, C, T, V, M) -> (N, num_classes); :meth:`features` gives the last feature map.
    """

    def __init__(
        self,
        level: int = 0,
        num_classes: int = 60,
        input_branches: int = 3,
        in_channels: int = 6,
        block_args: Sequence[Sequence[int]] | None = None,
        fusion_stage: int = 2,
        stem_channels: int = 64,
        A: torch.Tensor | None = None,
        temporal_kernel: int = 5,
        max_graph_distance: int = 2,
        layer_type: str = "Sep",
        expand_ratio: int = 2,
        reduct_ratio: int = 4,
        act: str = "swish",
        bias: bool = True,
        edge_importance: bool = True,
        dropout: float = 0.25,
    ):
        super().__init__()
        if layer_type not in _TEMPORAL_LAYERS:
            raise ValueError(f"layer_type must be one of {sorted(_TEMPORAL_LAYERS)}, got {layer_type!r}")
        A = _ntu_graph().hop_partition(max_hop=10) if A is None else A
        self.block_args = [tuple(b) for b in (efficientgcn_block_args(level) if block_args is None else block_args)]
        self.in_channels, self.num_joints, self.input_branches = in_channels, A.shape[-1], input_branches

        def blocks(last: int, args, stem: bool) -> nn.Sequential:
            seq = nn.Sequential()
            if stem:
                seq.add_module("init_bn", nn.BatchNorm2d(in_channels))
                seq.add_module("stem_scn", self._graph_layer(in_channels, stem_channels))
                seq.add_module("stem_tcn", TemporalBasicLayer(stem_channels, temporal_kernel, bias=bias, act=act))
                last = stem_channels
            for i, (width, stride, depth) in enumerate(args):
                seq.add_module(f"block{i}_scn", self._graph_layer(last, width))
                for j in range(depth):
                    layer = _TEMPORAL_LAYERS[layer_type]
                    s = stride if j == 0 else 1
                    seq.add_module(
                        f"block{i}_tcn{j}", layer(width, temporal_kernel, s, expand_ratio, reduct_ratio, bias, act)
                    )
                attention = SpatialTemporalJointAttention(width, reduct_ratio, bias)
                seq.add_module(f"block{i}_att", AttentionLayer(width, attention, efficientgcn_activation(act)))
                last = width
            return seq

        self._graph_args = (A, max_graph_distance, edge_importance, bias, act)
        self.branches = nn.ModuleList(
            blocks(0, self.block_args[:fusion_stage], stem=True) for _ in range(input_branches)
        )
        fused = stem_channels if fusion_stage == 0 else self.block_args[fusion_stage - 1][0]
        self.main_stream = blocks(input_branches * fused, self.block_args[fusion_stage:], stem=False)
        last = self.block_args[-1][0] * (input_branches if fusion_stage == len(self.block_args) else 1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Conv3d(last, num_classes, 1)
        self._init_parameters()

    def _graph_layer(self, in_channels: int, out_channels: int) -> EfficientGraphLayer:
        A, distance, edge, bias, act = self._graph_args
        return EfficientGraphLayer(in_channels, out_channels, A, distance, edge, bias, act=act)

    def _init_parameters(self) -> None:
        """EfficientGCN's ``init_param``: convs kaiming-normal (fan_out, leaky_relu), BN 1/0, 3-D head N(0, 1e-3)."""
        self.apply(_efficientgcn_init)  # the head is the last module, so the random draws keep their order
        nn.init.normal_(self.fc.weight, std=0.001)
        nn.init.zeros_(self.fc.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map: (N, I, C, T, V, M) -> (N, C', T', V, M)."""
        check_nctvm(x, self.in_channels, self.num_joints, "EfficientGCN", branches=self.input_branches)
        n, i, c, t, v, m = x.shape
        x = x.permute(1, 0, 5, 2, 3, 4).reshape(i, n * m, c, t, v)  # (I, N*M, C, T, V)
        x = torch.cat([branch(xi) for branch, xi in zip(self.branches, x, strict=True)], dim=1)  # (N*M, I*C1, T, V)
        x = self.main_stream(x)  # (N*M, C', T', V)
        return x.view(n, m, *x.shape[1:]).permute(0, 2, 3, 4, 1)  # (N, C', T', V, M)

    def _logits(self, feature: torch.Tensor) -> torch.Tensor:
        """The head on :meth:`features`' output: (N, C', T', V, M) -> GAP, dropout, 1x1x1 conv -> (N, num_classes)."""
        pooled = feature.mean((2, 3, 4), keepdim=True)  # (N, C', 1, 1, 1)
        return self.fc(self.dropout(pooled)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._logits(self.features(x))


# ---------------------------------------------------------------------------- MS-G3D


class MSG3D(_NTUModel):
    """MS-G3D: `Model` (kenziyuliu/MS-G3D ``model/msg3d.py``), NTU configuration.

    Three stages (96, 192/2, 384/2), each ``relu(sgcn(x) + gcn3d(x))`` then an MS-TCN: ``gcn3d`` is the sum of
    G3D blocks with windows 3 and 5; ``sgcn`` is a multi-scale GCN then two MS-TCNs (the last without its
    final ReLU). Head: GAP, mean over persons, linear. x: (N, C, T, V, M) -> (N, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 60,
        in_channels: int = 3,
        num_persons: int = 2,
        num_gcn_scales: int = 13,
        num_g3d_scales: int = 6,
        adjacency: torch.Tensor | None = None,
        widths: tuple[int, int, int] = (96, 192, 384),
    ):
        super().__init__()
        adjacency = _ntu_graph().binary_adjacency() if adjacency is None else adjacency
        self.in_channels, self.num_joints = in_channels, adjacency.shape[-1]
        self.data_bn = nn.BatchNorm1d(num_persons * self.num_joints * in_channels)
        self.stages = nn.ModuleList()
        last = in_channels
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            gcn_width = width if i == 0 else last  # the spatial path widens in its strided MS-TCN
            last_tcn = MSG3DTemporalConv(width, width)
            last_tcn.act = nn.Identity()  # as the original: `sgcn[-1].act = nn.Identity()`
            stage = nn.ModuleDict(
                {
                    "gcn3d": MultiWindowG3D(last, width, adjacency, num_g3d_scales, window_stride=stride),
                    "sgcn": nn.Sequential(
                        MultiScaleGraphConv(last, gcn_width, adjacency, num_gcn_scales),
                        MSG3DTemporalConv(gcn_width, width, stride=stride),
                        last_tcn,
                    ),
                    "tcn": MSG3DTemporalConv(width, width),
                }
            )
            self.stages.append(stage)
            last = width
        self.fc = nn.Linear(last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        n = x.shape[0]
        x = fold_persons(x, self.data_bn)  # (N*M, C, T, V)
        for stage in self.stages:
            x = stage["tcn"](torch.relu(stage["sgcn"](x) + stage["gcn3d"](x)))
        return self.fc(_pool_persons(x, n))


# ---------------------------------------------------------------------------- one-call construction

MODEL_NAMES = ("stgcn", "ctrgcn", "shiftgcn", "msg3d", "efficientgcn-b0", "efficientgcn-b2", "efficientgcn-b4")


def build_model(name: str, num_classes: int = 60) -> nn.Module:
    """A model by name, NTU-60 configuration: ``'stgcn'``, ``'ctrgcn'``, ``'shiftgcn'``, ``'msg3d'``,
    ``'efficientgcn-b0'`` ... ``'efficientgcn-b8'``."""
    level = re.fullmatch(r"efficientgcn-b(\d)", name)
    if level:
        return EfficientGCN(level=int(level.group(1)), num_classes=num_classes)
    table = {"stgcn": STGCN, "ctrgcn": CTRGCN, "shiftgcn": ShiftGCN, "msg3d": MSG3D}
    if name not in table:
        raise ValueError(f"unknown model {name!r}; expected one of {MODEL_NAMES} (or efficientgcn-b1 ... b8)")
    return table[name](num_classes=num_classes)
