"""Shift-GCN's spatial shift: gather along the joint axis, pointwise linear, gather back.

Cheng et al., "Skeleton-Based Action Recognition with Shift Graph Convolutional Network", CVPR 2020.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.checks import check_nctv
from stviz.graph import SkeletonGraph
from stviz.init import kaiming_conv
from stviz.layers import add_residual, make_residual

__all__ = ["ShiftGraphConv", "cyclic_shift_indices", "cyclic_shift_sources", "local_shift_sources"]


def cyclic_shift_indices(channels: int, num_joints: int = 25) -> dict[str, torch.Tensor]:
    """Flat gather tables of the cyclic joint shift, int64 (V*C,) each: ``shift_in`` and ``shift_out``.

    ``shift_in[v*C + c]`` points at joint ``(v + c) % V`` of channel c and ``shift_out[v*C + c]`` at joint
    ``(v - c) % V``: a cyclic shift along the joint index, which ignores the skeleton's edges.
    """
    v = torch.arange(num_joints)[:, None]
    c = torch.arange(channels)[None, :]
    shift_in = ((v + c) % num_joints) * channels + c
    shift_out = ((v - c) % num_joints) * channels + c
    return {"shift_in": shift_in.reshape(-1), "shift_out": shift_out.reshape(-1)}


def cyclic_shift_sources(channels: int, num_joints: int = 25) -> tuple[torch.Tensor, torch.Tensor]:
    """Source joint of every (joint, channel) for the cyclic shift, in and out: (V, C) each.

    In: channel c of joint v reads joint ``(v + c) % V``; out: ``(v - c) % V`` (:func:`cyclic_shift_indices`).
    """
    tables = cyclic_shift_indices(channels, num_joints)
    return tuple(tables[k].view(num_joints, channels) // channels for k in ("shift_in", "shift_out"))


def local_shift_sources(graph: SkeletonGraph, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Source joint of every (joint, channel) for the paper's local shift: (V, C) each.

    Joint v with neighbours ``B_v`` (sorted) splits its channels into ``|B_v| + 1`` equal groups: group 0 keeps
    v, group i reads ``B_v[i-1]`` (Shift-GCN paper, Sec. 3.1). Used on the way in and on the way out.
    """
    adj = graph.binary_adjacency()
    src = torch.empty(graph.num_nodes, channels, dtype=torch.long)
    for v in range(graph.num_nodes):
        sources = [v] + torch.nonzero(adj[v]).flatten().tolist()
        group = torch.arange(channels) * len(sources) // channels
        src[v] = torch.tensor(sources)[group]
    return src, src.clone()


class ShiftGraphConv(nn.Module):
    """Spatial shift graph convolution ``relu(bn(shift_out(W (mask * shift_in(x)) + b)) + residual(x))``.

    Shift-GCN: ``Shift_gcn``. ``shift='cyclic'`` is the released model's shift (channel c of joint v reads joint
    (v + c) mod V, which ignores the graph); ``shift='local'`` is the paper's neighbour shift (needs ``graph``).
    The feature mask is ``tanh(feature_mask) + 1`` per (joint, channel); BatchNorm normalises each
    (joint, channel) pair; the residual is the identity or a 1x1 conv + BN. x: (N, C_in, T, V) -> (N, C_out, T, V).
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
                got = "no graph" if graph is None else f"a graph with {graph.num_nodes} joints"
                raise ValueError(
                    f"ShiftGraphConv: shift='local' needs a SkeletonGraph with {num_joints} joints, got {got}"
                )
            src_in, _ = local_shift_sources(graph, in_channels)
            _, src_out = local_shift_sources(graph, out_channels)
        else:
            raise ValueError(f"ShiftGraphConv: shift must be 'cyclic' or 'local', got {shift!r}")
        # Flat gather indices into a joint-major, channel-minor (V*C) row.
        self.register_buffer("index_in", (src_in * in_channels + torch.arange(in_channels)).flatten(), persistent=False)
        self.register_buffer(
            "index_out", (src_out * out_channels + torch.arange(out_channels)).flatten(), persistent=False
        )
        self.weight = nn.Parameter(torch.randn(in_channels, out_channels) * (1.0 / out_channels) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(1, 1, out_channels))
        self.feature_mask = nn.Parameter(torch.zeros(1, num_joints, in_channels))
        self.bn = nn.BatchNorm1d(num_joints * out_channels)
        self.residual = make_residual(in_channels, out_channels)
        if isinstance(self.residual, nn.Sequential):
            kaiming_conv(self.residual[0])

    def sources(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Source joint of each (joint, channel), in and out: (V, C_in), (V, C_out)."""
        return (
            self.index_in.view(self.num_joints, self.in_channels) // self.in_channels,
            self.index_out.view(self.num_joints, self.out_channels) // self.out_channels,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(
            x, channels=self.in_channels, num_joints=self.num_joints, block=type(self).__name__, weight=self.weight
        )
        n, c, t, v = x.shape
        h = x.permute(0, 2, 3, 1).reshape(n * t, v * c)  # (N*T, V*C), joint-major
        h = h.index_select(1, self.index_in).view(n * t, v, c)  # shift in
        h = h * (torch.tanh(self.feature_mask) + 1)
        h = torch.einsum("nwc,cd->nwd", h, self.weight) + self.bias  # pointwise linear (N*T, V, D)
        h = h.reshape(n * t, v * self.out_channels).index_select(1, self.index_out)  # shift out
        h = self.bn(h).view(n, t, v, self.out_channels).permute(0, 3, 1, 2)  # (N, D, T, V)
        return torch.relu(add_residual(h, x, self.residual))
