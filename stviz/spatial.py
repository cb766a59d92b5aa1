"""Graph convolutions over the joint axis: ST-GCN, EfficientGCN, CTR-GCN, Shift-GCN.

Every graph convolution maps (N, C_in, T, V) to (N, C_out, T, V); the full layers
(:class:`STGCNBlock`, :class:`ChannelTopologyBlock`) add a temporal part that can stride,
giving (N, C_out, T', V). Two aggregation
conventions appear (SPEC.md pitfall 1):

* columns are targets (ST-GCN, EfficientGCN): ``y[w] = sum_v x[v] A[v, w]``,
  einsum ``nkctv,kvw->nctw``;
* rows are targets (CTR-GCN): ``y[u] = sum_v M[u, v] x[v]``, einsum
  ``ncuv,nctv->nctu``, i.e. ``x @ M.transpose(-1, -2)``.

Papers: Yan et al., AAAI 2018 (ST-GCN); Song et al., arXiv 2106.15125
(EfficientGCN); Chen et al., ICCV 2021 (CTR-GCN); Cheng et al., CVPR 2020
(Shift-GCN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stviz.checks import check_nctv
from stviz.graph import SkeletonGraph
from stviz.official import shift_indices
from stviz.temporal import MultiScaleTemporalConv, TemporalConvBN, _conv_bn, make_activation

__all__ = [
    "PartitionGraphConv",
    "STGCNBlock",
    "EfficientGraphLayer",
    "efficientgcn_activation",
    "ChannelTopologyConv",
    "ChannelTopologyUnit",
    "ChannelTopologyBlock",
    "ShiftGraphConv",
    "cyclic_shift_sources",
    "local_shift_sources",
]


EFFICIENTGCN_ACTIVATIONS = ("swish", "hswish", "relu", "relu6")


def _init_conv(conv: nn.Conv2d) -> None:
    """Kaiming-normal weights (fan_out, relu gain), zero bias: CTR-GCN's ``conv_init`` (also used for Shift-GCN)."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class _Zero(nn.Module):
    """The 'no residual' branch: returns 0."""

    def forward(self, x: torch.Tensor) -> int:
        return 0


# ----------------------------------------------------------------------------
# ST-GCN and EfficientGCN: K partitions, columns are targets.
# ----------------------------------------------------------------------------


class PartitionGraphConv(nn.Module):
    """Partitioned graph convolution ``y = sum_k (W_k x) (A_k * E_k)``.

    ST-GCN: ``ConvTemporalGraphical``; EfficientGCN: ``SpatialGraphConv``.
    One 1x1 conv gives K*C_out channels (K-major), then
    ``einsum('nkctv,kvw->nctw')`` sums over partitions and source joints v, so
    column w of ``A_k`` lists what joint w receives. ``E`` is the learnable edge
    importance (ones at init) when ``edge_importance`` is true.

    A: (K, V, V) fixed partition, or None when the caller passes A to forward
    (ST-GCN's blocks receive ``A * importance`` from the model).
    x: (N, C_in, T, V) -> (N, C_out, T, V).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        A: torch.Tensor | None = None,
        num_subsets: int | None = None,
        edge_importance: bool = False,
        bias: bool = True,
    ):
        super().__init__()
        if A is None and num_subsets is None:
            raise ValueError("PartitionGraphConv needs A (K, V, V) or num_subsets when A comes with each call")
        if A is not None:
            if A.dim() != 3 or A.shape[1] != A.shape[2]:
                raise ValueError(f"A must have shape (K, V, V), got {tuple(A.shape)}")
            if num_subsets is not None and num_subsets != A.shape[0]:
                raise ValueError(f"num_subsets={num_subsets} but A has {A.shape[0]} partitions")
            num_subsets = A.shape[0]
            self.register_buffer("A", A.detach().clone().float(), persistent=False)
        else:
            self.A = None
        self.in_channels, self.out_channels, self.num_subsets = in_channels, out_channels, num_subsets
        self.conv = nn.Conv2d(in_channels, out_channels * num_subsets, 1, bias=bias)
        if edge_importance:
            if A is None:
                raise ValueError("edge_importance needs A at construction (its shape is A's)")
            self.edge_importance = nn.Parameter(torch.ones_like(self.A))
        else:
            self.edge_importance = None

    def graph(self, A: torch.Tensor | None = None) -> torch.Tensor:
        """The matrices actually applied, ``A * E``: (K, V, V)."""
        A = self.A if A is None else A
        if A is None:
            raise ValueError("PartitionGraphConv was built without A: pass A (K, V, V) to forward")
        return A if self.edge_importance is None else A * self.edge_importance

    def forward(self, x: torch.Tensor, A: torch.Tensor | None = None) -> torch.Tensor:
        a = self.graph(A)
        if a.dim() != 3 or a.shape[0] != self.num_subsets:
            raise ValueError(f"A must have shape ({self.num_subsets}, V, V), got {tuple(a.shape)}")
        check_nctv(x, channels=self.in_channels, num_joints=a.shape[-1], block=type(self).__name__)
        n, c, t, v = x.shape
        x = self.conv(x).view(n, self.num_subsets, self.out_channels, t, v)  # (N, K, C, T, V)
        return torch.einsum("nkctv,kvw->nctw", x, a)  # (N, C, T, V)


class STGCNBlock(nn.Module):
    """ST-GCN block ``relu(tcn(gcn(x)) + residual(x))``.

    ST-GCN: ``st_gcn``. gcn = :class:`PartitionGraphConv`; tcn = BN, ReLU,
    (k x 1) conv with temporal stride, BN, Dropout; residual = 0, identity or
    1x1 conv + BN. x: (N, C_in, T, V) -> (N, C_out, T', V), T' = floor((T-1)/stride)+1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        A: torch.Tensor | None = None,
        num_subsets: int | None = None,
        temporal_kernel: int = 9,
        stride: int = 1,
        dropout: float = 0.0,
        residual: bool = True,
        edge_importance: bool = False,
    ):
        super().__init__()
        if temporal_kernel % 2 != 1:
            raise ValueError(f"temporal_kernel must be odd, got {temporal_kernel}")
        self.in_channels = in_channels
        self.gcn = PartitionGraphConv(in_channels, out_channels, A, num_subsets, edge_importance)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, (temporal_kernel, 1), (stride, 1), ((temporal_kernel - 1) // 2, 0)),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(dropout),
        )
        if not residual:
            self.residual = _Zero()
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = _conv_bn(in_channels, out_channels, 1, stride)  # 1x1 conv (temporal stride) + BN

    def forward(self, x: torch.Tensor, A: torch.Tensor | None = None) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, block=type(self).__name__)
        return torch.relu(self.tcn(self.gcn(x, A)) + self.residual(x))


def efficientgcn_activation(name: str) -> nn.Module:
    """EfficientGCN's ``act_type`` by name: 'swish' (x*sigmoid(x), i.e. SiLU), 'hswish', 'relu', 'relu6'."""
    if name not in EFFICIENTGCN_ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {EFFICIENTGCN_ACTIVATIONS}")
    return make_activation(name)


class EfficientGraphLayer(nn.Module):
    """EfficientGCN spatial layer ``act(bn(gcn(x)) + residual(x))``.

    EfficientGCN: ``Spatial_Graph_Layer``. gcn = :class:`PartitionGraphConv` on
    ``A[:max_graph_distance+1]`` of the 10-hop partition with edge importance;
    residual = identity (C_in = C_out), 1x1 conv + BN, or 0.
    x: (N, C_in, T, V) -> (N, C_out, T, V).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        A: torch.Tensor,
        max_graph_distance: int = 2,
        edge_importance: bool = True,
        bias: bool = True,
        residual: bool = True,
        act: str = "swish",
    ):
        super().__init__()
        if A.shape[0] < max_graph_distance + 1:
            raise ValueError(f"A has {A.shape[0]} hop partitions, max_graph_distance={max_graph_distance} needs more")
        self.in_channels = in_channels
        a = A[: max_graph_distance + 1]
        self.conv = PartitionGraphConv(in_channels, out_channels, a, None, edge_importance, bias)
        self.bn = nn.BatchNorm2d(out_channels)
        if not residual:
            self.residual = _Zero()
        elif in_channels == out_channels:
            self.residual = nn.Identity()
        else:
            self.residual = _conv_bn(in_channels, out_channels, bias=bias)
        self.act = efficientgcn_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, block=type(self).__name__)
        return self.act(self.bn(self.conv(x)) + self.residual(x))


# ----------------------------------------------------------------------------
# CTR-GCN: channel-wise topologies, rows are targets.
# ----------------------------------------------------------------------------


class ChannelTopologyConv(nn.Module):
    """Channel-wise topology refinement ``y_c = x3_c @ (A + alpha * T_c)^T``.

    CTR-GCN: ``CTRGC``. From the time-averaged embeddings ``x1, x2`` (R channels)
    it builds ``tanh(x1[u] - x2[v])`` (N, R, V, V), expands R to C_out channels
    with a 1x1 conv (``expand``), scales by alpha and adds the shared topology A:
    ``M[n, c, u, v]``. Aggregation ``einsum('ncuv,nctv->nctu', M, x3)``: row u of
    M lists what joint u receives (SPEC.md pitfall 1).
    x: (N, C_in, T, V), A: (V, V) or None -> (N, C_out, T, V).
    """

    def __init__(self, in_channels: int, out_channels: int, rel_reduction: int = 8):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.rel_channels = 8 if in_channels in (3, 9) else in_channels // rel_reduction
        if self.rel_channels < 1:
            raise ValueError(f"in_channels={in_channels} // rel_reduction={rel_reduction} leaves no relation channels")
        self.embed_u = nn.Conv2d(in_channels, self.rel_channels, 1)
        self.embed_v = nn.Conv2d(in_channels, self.rel_channels, 1)
        self.value = nn.Conv2d(in_channels, out_channels, 1)
        self.expand = nn.Conv2d(self.rel_channels, out_channels, 1)
        for conv in (self.embed_u, self.embed_v, self.value, self.expand):
            _init_conv(conv)

    def refinement(self, x: torch.Tensor) -> torch.Tensor:
        """The sample's channel-specific part ``T = expand(tanh(x1_u - x2_v))``: (N, C_out, V, V)."""
        x1 = self.embed_u(x).mean(-2)  # (N, R, V)
        x2 = self.embed_v(x).mean(-2)  # (N, R, V)
        return self.expand(torch.tanh(x1.unsqueeze(-1) - x2.unsqueeze(-2)))  # (N, C, V, V)

    def topology(self, x: torch.Tensor, A: torch.Tensor | None = None, alpha: torch.Tensor | float = 1.0):
        """``M = alpha * T + A``, the per-sample, per-channel matrices: (N, C_out, V, V), rows are targets."""
        m = self.refinement(x) * alpha
        return m if A is None else m + A[None, None]

    def forward(
        self, x: torch.Tensor, A: torch.Tensor | None = None, alpha: torch.Tensor | float = 1.0
    ) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, num_joints=None if A is None else A.shape[-1], block="CTRGC")
        m = self.topology(x, A, alpha)  # (N, C, U, V)
        return torch.einsum("ncuv,nctv->nctu", m, self.value(x))  # (N, C, T, U)


class ChannelTopologyUnit(nn.Module):
    """CTR-GCN graph unit ``relu(bn(sum_k CTRGC_k(x, PA_k, alpha)) + down(x))``.

    CTR-GCN: ``unit_gcn``. ``topology`` (PA) starts as the (K, V, V) inward /
    outward partition and is learned when ``adaptive``; ``alpha`` is one scalar
    shared by the K CTRGCs, starting at 0; ``bn`` starts at weight 1e-6, so at
    initialisation the unit is about ``relu(down(x))``.
    x: (N, C_in, T, V) -> (N, C_out, T, V).
    """

    def __init__(
        self, in_channels: int, out_channels: int, A: torch.Tensor, adaptive: bool = True, residual: bool = True
    ):
        super().__init__()
        if A.dim() != 3 or A.shape[1] != A.shape[2]:
            raise ValueError(f"A must have shape (K, V, V), got {tuple(A.shape)}")
        self.in_channels, self.num_joints = in_channels, A.shape[-1]
        self.convs = nn.ModuleList(ChannelTopologyConv(in_channels, out_channels) for _ in range(A.shape[0]))
        if adaptive:
            self.topology = nn.Parameter(A.detach().clone().float())
        else:
            self.register_buffer("topology", A.detach().clone().float(), persistent=False)
        self.alpha = nn.Parameter(torch.zeros(1))
        self.bn = nn.BatchNorm2d(out_channels)
        nn.init.constant_(self.bn.weight, 1e-6)
        if not residual:
            self.down = _Zero()
        elif in_channels == out_channels:
            self.down = nn.Identity()
        else:
            self.down = _conv_bn(in_channels, out_channels)
            _init_conv(self.down[0])

    def topologies(self, x: torch.Tensor) -> torch.Tensor:
        """Every matrix the unit applies to this input: (N, K, C_out, V, V), rows are targets."""
        check_nctv(x, channels=self.in_channels, num_joints=self.num_joints, block="unit_gcn")
        pairs = zip(self.convs, self.topology, strict=True)
        return torch.stack([conv.topology(x, a, self.alpha) for conv, a in pairs], 1)  # (N, K, C, V, V)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``sum_k CTRGC_k(x, PA_k, alpha)`` computed with the K subsets batched (same result, fewer kernels)."""
        check_nctv(x, channels=self.in_channels, num_joints=self.num_joints, block="unit_gcn")
        n, _, t, v = x.shape
        k, r, c = len(self.convs), self.convs[0].rel_channels, self.convs[0].out_channels
        # the K subsets' embed_u, embed_v and value convs as one 1x1 conv
        layers = [layer for m in self.convs for layer in (m.embed_u, m.embed_v, m.value)]
        weight = torch.cat([layer.weight for layer in layers])
        bias = torch.cat([layer.bias for layer in layers])
        h = F.conv2d(x, weight, bias).view(n, k, 2 * r + c, t, v)  # (N, K, 2R + C, T, V)
        x12 = h[:, :, : 2 * r].mean(-2)  # (N, K, 2R, V)
        relation = torch.tanh(x12[:, :, :r].unsqueeze(-1) - x12[:, :, r:].unsqueeze(-2))  # (N, K, R, V, V)
        expand_w = torch.cat([m.expand.weight for m in self.convs])
        expand_b = torch.cat([m.expand.bias for m in self.convs])
        refinement = F.conv2d(relation.reshape(n, k * r, v, v), expand_w, expand_b, groups=k)  # (N, K*C, V, V)
        m = refinement.view(n, k, c, v, v) * self.alpha + self.topology[None, :, None]  # (N, K, C, U, V)
        y = torch.einsum("nkcuv,nkctv->nctu", m, h[:, :, 2 * r :])  # (N, C, T, U)
        return torch.relu(self.bn(y) + self.down(x))


class ChannelTopologyBlock(nn.Module):
    """CTR-GCN layer ``relu(mstcn(unit_gcn(x)) + residual(x))``.

    CTR-GCN: ``TCN_GCN_unit``. The temporal part is CTR-GCN's
    :class:`~stviz.temporal.MultiScaleTemporalConv` (4 branches, kernel 5,
    dilations 1 and 2, no residual of its own); residual = 0, identity or a
    strided 1x1 conv + BN. x: (N, C_in, T, V) -> (N, C_out, floor((T-1)/stride)+1, V).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        A: torch.Tensor,
        stride: int = 1,
        residual: bool = True,
        adaptive: bool = True,
        temporal_kernel: int = 5,
        dilations: tuple[int, ...] = (1, 2),
    ):
        super().__init__()
        self.in_channels = in_channels
        self.gcn1 = ChannelTopologyUnit(in_channels, out_channels, A, adaptive=adaptive)
        self.tcn1 = MultiScaleTemporalConv(
            out_channels, out_channels, temporal_kernel, stride, dilations, residual=False, init="ctrgcn"
        )
        if not residual:
            self.residual = _Zero()
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = TemporalConvBN(in_channels, out_channels, 1, stride)
            _init_conv(self.residual.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, block="TCN_GCN_unit")
        return torch.relu(self.tcn1(self.gcn1(x)) + self.residual(x))


# ----------------------------------------------------------------------------
# Shift-GCN: gather along the joint axis, pointwise linear, gather back.
# ----------------------------------------------------------------------------


def cyclic_shift_sources(channels: int, num_joints: int = 25) -> tuple[torch.Tensor, torch.Tensor]:
    """Source joint of every (joint, channel) for Shift-GCN's released 'non-local' shift: (V, C) each.

    In: channel c of joint v reads joint ``(v + c) % V``; out: ``(v - c) % V``.
    The rule is :func:`stviz.official.shift_indices`; this decodes its flat tables.
    """
    tables = shift_indices(channels, num_joints)
    return tuple(tables[k].view(num_joints, channels) // channels for k in ("shift_in", "shift_out"))


def local_shift_sources(graph: SkeletonGraph, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Source joint of every (joint, channel) for the paper's local shift: (V, C) each.

    Joint v with neighbours ``B_v`` (sorted) splits its channels into
    ``|B_v| + 1`` equal groups: group 0 keeps v, group i reads ``B_v[i-1]``
    (Shift-GCN paper, Sec. 3.1). Used on the way in and on the way out.
    """
    adj = graph.binary_adjacency()
    src = torch.empty(graph.num_nodes, channels, dtype=torch.long)
    for v in range(graph.num_nodes):
        sources = [v] + torch.nonzero(adj[v]).flatten().tolist()
        group = torch.arange(channels) * len(sources) // channels
        src[v] = torch.tensor(sources)[group]
    return src, src.clone()


class ShiftGraphConv(nn.Module):
    """Spatial shift graph convolution ``relu(bn(shift_out(W (mask * shift_in(x)) + b)) + down(x))``.

    Shift-GCN: ``Shift_gcn``. ``shift='cyclic'`` is the released model's shift
    (channel c of joint v reads joint (v + c) mod V, which ignores the graph);
    ``shift='local'`` is the paper's neighbour shift (needs ``graph``). The
    feature mask is ``tanh(feature_mask) + 1`` per (joint, channel); BatchNorm
    normalises each (joint, channel) pair. x: (N, C_in, T, V) -> (N, C_out, T, V).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_joints: int = 25,
        shift: str = "cyclic",
        graph: SkeletonGraph | None = None,
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.num_joints, self.shift = in_channels, out_channels, num_joints, shift
        if shift == "cyclic":
            src_in, _ = cyclic_shift_sources(in_channels, num_joints)
            _, src_out = cyclic_shift_sources(out_channels, num_joints)
        elif shift == "local":
            if graph is None or graph.num_nodes != num_joints:
                raise ValueError(f"shift='local' needs a SkeletonGraph with {num_joints} joints")
            src_in, _ = local_shift_sources(graph, in_channels)
            _, src_out = local_shift_sources(graph, out_channels)
        else:
            raise ValueError(f"shift must be 'cyclic' or 'local', got {shift!r}")
        # Flat gather indices into a joint-major, channel-minor (V*C) row.
        self.register_buffer("index_in", (src_in * in_channels + torch.arange(in_channels)).flatten(), persistent=False)
        self.register_buffer(
            "index_out", (src_out * out_channels + torch.arange(out_channels)).flatten(), persistent=False
        )
        self.weight = nn.Parameter(torch.randn(in_channels, out_channels) * (1.0 / out_channels) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(1, 1, out_channels))
        self.feature_mask = nn.Parameter(torch.zeros(1, num_joints, in_channels))
        self.bn = nn.BatchNorm1d(num_joints * out_channels)
        if in_channels == out_channels:
            self.down = nn.Identity()
        else:
            self.down = _conv_bn(in_channels, out_channels)
            _init_conv(self.down[0])

    def sources(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Source joint of each (joint, channel), in and out: (V, C_in), (V, C_out)."""
        return (
            self.index_in.view(self.num_joints, self.in_channels) // self.in_channels,
            self.index_out.view(self.num_joints, self.out_channels) // self.out_channels,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, num_joints=self.num_joints, block="Shift_gcn")
        n, c, t, v = x.shape
        h = x.permute(0, 2, 3, 1).reshape(n * t, v * c)  # (N*T, V*C), joint-major
        h = h.index_select(1, self.index_in).view(n * t, v, c)  # shift in
        h = h * (torch.tanh(self.feature_mask) + 1)
        h = torch.einsum("nwc,cd->nwd", h, self.weight) + self.bias  # pointwise linear (N*T, V, D)
        h = h.reshape(n * t, v * self.out_channels).index_select(1, self.index_out)  # shift out
        h = self.bn(h).view(n, t, v, self.out_channels).permute(0, 3, 1, 2)  # (N, D, T, V)
        return torch.relu(h + self.down(x))
