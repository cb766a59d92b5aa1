"""CTR-GCN's channel-wise topology refinement: per-sample, per-channel matrices, rows are targets.

``M[n, c] = A + alpha * T[n, c]`` with ``T = expand(tanh(x1_u - x2_v))`` from time-averaged embeddings; the
aggregation is ``einsum('ncuv,nctv->nctu', M, value(x))``: row u of M lists what joint u receives.
Chen et al., "Channel-wise Topology Refinement Graph Convolution", ICCV 2021.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stviz.checks import check_adjacency, check_nctv, check_positive_int
from stviz.init import kaiming_conv
from stviz.layers import (
    add_residual,
    batchnorm_affine,
    conv1x1,
    conv_forward,
    make_residual,
    residual_forward,
)

__all__ = ["ChannelTopologyConv", "ChannelTopologyUnit"]


def default_rel_channels(in_channels: int) -> int:
    """CTRGC's relation channels when none are given: ``max(C_in // 8, 1)``."""
    return max(in_channels // 8, 1)


class ChannelTopologyConv(nn.Module):
    """Channel-wise topology refinement ``y_c = x3_c @ (A + alpha * T_c)^T``.

    CTR-GCN: ``CTRGC``. From the time-averaged embeddings ``x1, x2`` (``rel_channels`` = R channels, by default
    ``max(in_channels // 8, 1)``) it builds ``tanh(x1[u] - x2[v])`` (N, R, V, V), expands R to C_out channels with a 1x1
    conv (``expand``), scales by alpha and adds the shared topology A: ``M[n, c, u, v]``.
    x: (N, C_in, T, V), A: (V, V) or None -> (N, C_out, T, V).
    """

    def __init__(self, in_channels: int, out_channels: int, rel_channels: int | None = None):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.rel_channels = default_rel_channels(in_channels) if rel_channels is None else rel_channels
        check_positive_int(self.rel_channels, "rel_channels", block="ChannelTopologyConv")
        self.embed_u = nn.Conv2d(in_channels, self.rel_channels, 1)
        self.embed_v = nn.Conv2d(in_channels, self.rel_channels, 1)
        self.value = nn.Conv2d(in_channels, out_channels, 1)
        self.expand = nn.Conv2d(self.rel_channels, out_channels, 1)
        for conv in (self.embed_u, self.embed_v, self.value, self.expand):
            kaiming_conv(conv)

    def _check(self, x: torch.Tensor, A: torch.Tensor | None) -> None:
        if A is not None:
            check_adjacency(A, "A", block=type(self).__name__)
        num_joints = None if A is None else A.shape[-1]
        check_nctv(x, channels=self.in_channels, num_joints=num_joints, block=type(self).__name__, weight=self.value)

    def refinement(self, x: torch.Tensor, embed_pooled: bool = True) -> torch.Tensor:
        """The sample's channel-specific part ``T = expand(tanh(x1_u - x2_v))``: (N, C_out, V, V).

        The original embeds every frame and then averages over T (``embed_pooled=False``); a 1x1 conv commutes with
        that mean, so by default the embeddings are computed once from the time-averaged input (1/T of the MACs, the
        same values).
        """
        if embed_pooled:
            pooled = x.mean(2, keepdim=True)  # (N, C_in, 1, V)
            x1, x2 = self.embed_u(pooled).squeeze(2), self.embed_v(pooled).squeeze(2)  # (N, R, V)
        else:
            x1, x2 = self.embed_u(x).mean(-2), self.embed_v(x).mean(-2)  # (N, R, V)
        return self.expand(torch.tanh(x1.unsqueeze(-1) - x2.unsqueeze(-2)))  # (N, C, V, V)

    def topology(
        self,
        x: torch.Tensor,
        A: torch.Tensor | None = None,
        alpha: torch.Tensor | float = 1.0,
        embed_pooled: bool = True,
    ) -> torch.Tensor:
        """``M = alpha * T + A``, the per-sample, per-channel matrices: (N, C_out, V, V), rows are targets."""
        m = self.refinement(x, embed_pooled) * alpha
        return m if A is None else m + A[None, None]

    def explicit(
        self, x: torch.Tensor, A: torch.Tensor | None = None, alpha: torch.Tensor | float = 1.0
    ) -> torch.Tensor:
        """The original's order: embed every frame, then average over T (T times the embeddings' MACs of
        :meth:`forward`), and ``einsum('ncuv,nctv->nctu')``. (N, C_in, T, V) -> (N, C_out, T, V)."""
        self._check(x, A)
        return torch.einsum("ncuv,nctv->nctu", self.topology(x, A, alpha, embed_pooled=False), self.value(x))

    def forward(
        self, x: torch.Tensor, A: torch.Tensor | None = None, alpha: torch.Tensor | float = 1.0
    ) -> torch.Tensor:
        self._check(x, A)
        m = self.topology(x, A, alpha)  # (N, C, U, V)
        value = conv_forward(x, self.value)  # (N, C, T, V)
        n, c, t, v = value.shape
        # einsum('ncuv,nctv->nctu') as one batched product per (sample, channel): (T, V) @ (V, U)
        y = torch.bmm(value.view(n * c, t, v), m.reshape(n * c, v, v).transpose(1, 2).to(value.dtype))
        return y.view(n, c, t, v)  # (N, C, T, U)


class ChannelTopologyUnit(nn.Module):
    """CTR-GCN graph unit ``relu(bn(sum_k CTRGC_k(x, PA_k, alpha)) + residual(x))``.

    CTR-GCN: ``unit_gcn``. ``topology`` (PA) starts as the (K, V, V) inward / outward partition and is learned
    when ``adaptive``; ``alpha`` is one scalar shared by the K CTRGCs, starting at 0; ``bn`` starts at weight
    1e-6, so at initialisation the unit is about ``relu(residual(x))``. ``rel_channels`` goes to every
    :class:`ChannelTopologyConv`. x: (N, C_in, T, V) -> (N, C_out, T, V).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        A: torch.Tensor,
        adaptive: bool = True,
        residual: bool = True,
        rel_channels: int | None = None,
    ):
        super().__init__()
        check_adjacency(A, "A", block="ChannelTopologyUnit", stacked=True)
        self.in_channels, self.num_joints = in_channels, A.shape[-1]
        self.convs = nn.ModuleList(
            ChannelTopologyConv(in_channels, out_channels, rel_channels) for _ in range(A.shape[0])
        )
        if adaptive:
            self.topology = nn.Parameter(A.detach().clone().float())
        else:
            self.register_buffer("topology", A.detach().clone().float(), persistent=False)
        self.alpha = nn.Parameter(torch.zeros(1))
        self.bn = nn.BatchNorm2d(out_channels)
        nn.init.constant_(self.bn.weight, 1e-6)
        self.residual = make_residual(in_channels, out_channels, 1, residual)
        if isinstance(self.residual, nn.Sequential):
            kaiming_conv(self.residual[0])

    def _check(self, x: torch.Tensor) -> None:
        check_nctv(x, channels=self.in_channels, num_joints=self.num_joints, block=type(self).__name__, weight=self.bn)

    def topologies(self, x: torch.Tensor) -> torch.Tensor:
        """Every matrix the unit applies to this input: (N, K, C_out, V, V), rows are targets."""
        self._check(x)
        pairs = zip(self.convs, self.topology, strict=True)
        return torch.stack([conv.topology(x, a, self.alpha) for conv, a in pairs], 1)  # (N, K, C, V, V)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``sum_k CTRGC_k(x, PA_k, alpha)``, then BN, residual and ReLU; the same result in fewer passes.

        The K subsets' embeddings are one 1x1 conv applied to the time-averaged input (a 1x1 conv commutes with the
        mean over T, so this is the original's ``conv(x).mean(T)`` for 1/T of its MACs); each subset's product
        accumulates into one output. In eval mode the BatchNorm scale is folded into the value convs.
        """
        self._check(x)
        n, _, t, v = x.shape
        k, r, c = len(self.convs), self.convs[0].rel_channels, self.convs[0].out_channels
        embed = [layer for m in self.convs for layer in (m.embed_u, m.embed_v)]
        weight, bias = torch.cat([e.weight for e in embed]), torch.cat([e.bias for e in embed])
        e = F.conv2d(x.mean(2, keepdim=True), weight, bias).view(n, k, 2 * r, v)  # (N, K, 2R, V)
        relation = torch.tanh(e[:, :, :r].unsqueeze(-1) - e[:, :, r:].unsqueeze(-2))  # (N, K, R, U, V)
        folded = batchnorm_affine(self.bn)  # (scale, shift) or None in training
        y = None
        for i, m in enumerate(self.convs):
            topology = m.expand(relation[:, i]) * self.alpha + self.topology[i]  # (N, C, U, V)
            if folded is None:
                value = conv1x1(x, m.value.weight, m.value.bias)  # (N, C, T, V)
            else:
                value = conv1x1(x, m.value.weight * folded[0].view(c, 1, 1, 1), m.value.bias * folded[0])
            value, topology = value.view(n * c, t, v), topology.view(n * c, v, v).transpose(1, 2)
            # under autocast y and value are float16 or bfloat16 and topology float32; baddbmm_ needs one dtype
            y = torch.bmm(value, topology) if y is None else y.baddbmm_(value, topology.to(y.dtype))  # (N*C, T, U)
        y = y.view(n, c, t, v)
        if folded is None:
            return torch.relu_(add_residual(self.bn(y), x, self.residual))
        y.add_(folded[1].view(1, c, 1, 1))
        if self.residual is not None:
            y.add_(residual_forward(self.residual, x))
        return torch.relu_(y)
