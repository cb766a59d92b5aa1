"""Shift-GCN's spatial shift: gather along the joint axis, pointwise linear, gather back.

Cheng et al., "Skeleton-Based Action Recognition with Shift Graph Convolutional Network", CVPR 2020.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.checks import check_nctv
from stviz.graph import SkeletonGraph
from stviz.init import kaiming_conv
from stviz.layers import linear_rows, make_residual, residual_forward, using_reference_kernels

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
    """Source joint of every (joint, channel) for the cyclic shift (the paper's non-local one), in and out: (V, C) each.

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


def _columns(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x.index_select(1, index)`` for a 2-D x, as ``gather`` with the index broadcast over the rows (on the CPU
    about 1.2x faster than ``index_select`` along dimension 1)."""
    return x.gather(1, index.expand(x.shape[0], -1))


class _PermutationGather(torch.autograd.Function):
    """``x.index_select(1, index)`` for a permutation ``index`` of x's columns: the backward is the gather by the
    inverse permutation, not the scatter-add (``index_add_``) that ``index_select``'s backward has to be."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, index: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(inverse)
        return _columns(x, index)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (inverse,) = ctx.saved_tensors
        return _columns(grad, inverse), None, None


class _JointShiftIn(torch.autograd.Function):
    """The shift-in gather straight from x (N, C, T, V) to joint-major rows (N, T*V*C), for a permutation
    ``index``; the backward gathers by ``inverse`` ((T, V, C) order) and hands back x's gradient in the
    (N, T, V, C) memory layout of the residual path's gradient, so the two add without a layout change."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, index: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(inverse)
        ctx.shape = x.shape
        return _columns(x.reshape(x.shape[0], -1), index)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (inverse,) = ctx.saved_tensors
        n, c, t, v = ctx.shape
        return _columns(grad, inverse).view(n, t, v, c).permute(0, 3, 1, 2), None, None


def _inverse_permutation(index: torch.Tensor) -> torch.Tensor | None:
    """The inverse of ``index`` when it is a permutation of ``0..len-1``, else None (and on the meta device, where
    shapes alone are computed)."""
    identity = torch.arange(index.numel(), device=index.device) if index.device.type != "meta" else None
    if identity is None or not torch.equal(index.sort().values, identity):
        return None
    return torch.empty_like(index).scatter_(0, index, identity)


def _gather_columns(x: torch.Tensor, index: torch.Tensor, inverse: torch.Tensor | None) -> torch.Tensor:
    """``x.index_select(1, index)`` for a 2-D x, with :class:`_PermutationGather`'s backward when ``inverse``."""
    return x.index_select(1, index) if inverse is None else _PermutationGather.apply(x, index, inverse)


class ShiftGraphConv(nn.Module):
    """Spatial shift graph convolution ``relu(bn(shift_out(W (mask * shift_in(x)) + b)) + residual(x))``.

    Shift-GCN: ``Shift_gcn``. ``shift='cyclic'`` is the paper's non-local shift, used by its main model and by the
    released code (channel c of joint v reads joint (v + c) mod V, which ignores the graph); ``shift='local'`` is the
    paper's local variant, over each joint's graph neighbours (needs ``graph``).
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
        self._frame_index: dict = {}  # (frames, device) -> gather index and inverse, built on first use
        self._inverse_out_cache: tuple | None = None
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

    def _inverse_out(self, device: torch.device) -> torch.Tensor | None:
        """The inverse of the shift-out permutation (None when it is not one), on ``device``."""
        if self._inverse_out_cache is None or self._inverse_out_cache[0] != device:
            self._inverse_out_cache = (device, _inverse_permutation(self.index_out.to(device)))
        return self._inverse_out_cache[1]

    def frame_index(self, frames: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The shift-in gather straight from the (C, T, V) input of one sample, and its inverse permutation in
        (T, V, C) order (None when the shift is not a permutation): (T*V*C,) int64 each. Position ``(t, v, c)`` holds
        ``c*T*V + t*V + source(v, c)``, so one gather gives the joint-major rows (T, V, C)."""
        key = (frames, device)
        if key not in self._frame_index:
            src = (self.index_in // self.in_channels).view(1, self.num_joints, self.in_channels)
            c = torch.arange(self.in_channels, device=src.device).view(1, 1, -1)
            t = torch.arange(frames, device=src.device).view(-1, 1, 1)
            index = (c * frames * self.num_joints + t * self.num_joints + src).flatten().to(device)
            inverse = _inverse_permutation(index)
            if inverse is not None:  # in (T, V, C) order: the backward writes x's gradient joint-major
                inverse = inverse.view(self.in_channels, frames, self.num_joints).permute(1, 2, 0).flatten()
            self._frame_index = {key: (index, inverse)}  # one entry: T rarely changes
        return self._frame_index[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The original's permute + gather, linear, gather, BN, with the permuted copy of the input folded
        into the first gather and the bias into the matrix product."""
        check_nctv(
            x, channels=self.in_channels, num_joints=self.num_joints, block=type(self).__name__, weight=self.weight
        )
        n, c, t, v = x.shape
        d = self.out_channels
        index, inverse = self.frame_index(t, x.device)
        if inverse is None:
            h = x.reshape(n, c * t * v).index_select(1, index)  # shift in: (N, T*V*C)
        else:
            h = _JointShiftIn.apply(x, index, inverse)
        h = h.view(n * t, v, c) * (torch.tanh(self.feature_mask) + 1)  # (N*T, V, C)
        if using_reference_kernels():
            h = torch.einsum("nwc,cd->nwd", h, self.weight) + self.bias  # the original's linear (N*T, V, D)
        else:
            h = linear_rows(h.view(n * t * v, c), self.weight, self.bias)  # linear (N*T*V, D)
        h = _gather_columns(h.view(n * t, v * d), self.index_out, self._inverse_out(x.device))  # shift out
        h = self.bn(h).view(n, t, v, d).permute(0, 3, 1, 2)  # (N, D, T, V), a fresh tensor
        if not torch.is_grad_enabled():  # in place on the fresh BN output
            return torch.relu_(h if self.residual is None else h.add_(residual_forward(self.residual, x)))
        if self.residual is not None:
            h = h + residual_forward(self.residual, x)  # in h's (N, T, V, D) memory layout, as the original
        return torch.relu(h)
