"""MS-G3D: multi-scale graph convolution, unfolded temporal windows and the G3D block.

Liu et al., "Disentangling and Unifying Graph Convolutions for Skeleton-Based Action
Recognition", CVPR 2020. The blocks compute what the released code computes, ``W · concat_k(A_k x)``
(the K aggregated scales stacked, then a 1x1 convolution W), in one of two contraction orders, chosen per
layer from its channel counts (:func:`contraction_macs`, :func:`choose_contraction_order`):

* ``"aggregate-first"``, the original order: aggregate the C_in input channels over every scale, then project
  K*C_in channels to C_out. Done without the original's ``nn.Unfold`` (windows are a strided view of the input)
  and, where it is the larger copy, without its scale-major stack.
* ``"project-first"``: apply the 1x1 convolution's K slices first, on each frame once, then aggregate the
  K*C_out projected channels. The graph work scales with C_out instead of C_in, so this is cheaper only when
  channels shrink (and, for the G3D windows, when projecting each frame once beats projecting each window copy).

A layer takes project-first only when that needs fewer multiply-accumulates; otherwise (3 -> 96 channels in the
first layer: 13 scales of 96 channels instead of 3) it keeps the original order, so its MACs are never above the
original's. ``contraction_order`` says which, ``contraction_costs()`` gives both counts. In eval mode BatchNorm
is folded into the convolution before it. A layer that aggregates first, with a scale-major stack wider than its
output, makes the stack in cache-sized chunks: a plain graph conv sample by sample in x's own layout (no permuted
copies), a G3D block in training in a rows layout. When the stack is narrower it is copied once, with a channel of
ones that carries the bias, and in training BatchNorm is folded from the stack's statistics
(:mod:`stviz.multiscale_kernels`, :mod:`stviz.multiscale_stack`). A plain graph
conv that projects first keeps that order with BatchNorm on its output. A G3D block whose stack is wider than its
output takes the original order in training even where ``contraction_order`` is project-first, so its MACs equal the
original's. Each block's ``explicit`` keeps the original order and its intermediate tensors, for teaching, for tests
and for train-mode dropout.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.checks import check_adjacency, check_nctv, check_positive_int
from stviz.contraction_order import CONTRACTION_ORDERS, choose_contraction_order, contraction_macs
from stviz.frame_windows import unfold_frames
from stviz.graph import multiscale_adjacency
from stviz.layers import (
    add_residual,
    fold_batchnorm,
    make_activation,
    make_residual,
    pointwise_conv,
    temporal_padding,
    uses_batch_statistics,
)
from stviz.multiscale_kernels import aggregate_project_frames, g3d_aggregate_first, g3d_project_first, g3d_rows
from stviz.multiscale_stack import aggregate_scale_major, pointwise_conv_stack, projection_batch_norm

__all__ = [
    "CONTRACTION_ORDERS",
    "contraction_macs",
    "choose_contraction_order",
    "multiscale_adjacency",
    "window_adjacency",
    "window_padding",
    "PointwiseConvBN",
    "MultiScaleGraphConv",
    "TemporalWindows",
    "WindowGraphConv",
    "G3DBlock",
    "MultiWindowG3D",
]


def window_adjacency(a_binary: torch.Tensor, window_size: int) -> torch.Tensor:
    """G3D window graph ``tile(A + I, (w, w))`` (wV, wV); node ``i*V + v`` is joint v in window frame i."""
    check_adjacency(a_binary, "adjacency", block="G3D window graph", binary=True)
    check_positive_int(window_size, "window_size", block="G3D window graph")
    eye = torch.eye(a_binary.shape[-1], dtype=a_binary.dtype)
    return torch.maximum(a_binary, eye).repeat(window_size, window_size)  # A + I, self-loops in A kept at 1


def window_padding(window_size: int, window_dilation: int = 1) -> int:
    """Zero frames padded on each side of T so windows are centred: ``(w + (w-1)(d-1) - 1) // 2``.

    The "same" padding of a (w, 1) convolution with dilation d, i.e. :func:`stviz.layers.temporal_padding`.
    """
    return temporal_padding(window_size, window_dilation)


class PointwiseConvBN(nn.Module):
    """1x1 convolution, BatchNorm and an activation. MS-G3D: a one-layer `MLP`. (N, C, T, V) -> (N, C', T, V)."""

    def __init__(self, in_channels: int, out_channels: int, activation: str | None = "relu"):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = make_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.conv.in_channels, block=type(self).__name__, weight=self.conv)
        return self.act(self.bn(self.conv(x)))


class MultiScaleGraphConv(nn.Module):
    """Multi-scale graph convolution over K adjacency scales. MS-G3D: `MultiScale_GraphConv`.

    ``out = act(BN(W · concat_k (A_k + A_res_k) x) + residual(x))`` with the K aggregated copies
    stacked scale-major (channel ``k*C + c``) before the 1x1 convolution W. ``dropout`` (on the stacked scales)
    is active when > 0. Input (N, C, T, V), output (N, C_out, T, V). ``adjacency`` is the binary (V, V) graph.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        adjacency: torch.Tensor,
        num_scales: int,
        disentangled: bool = True,
        learnable_offset: bool = True,
        dropout: float = 0.0,
        residual: bool = False,
        activation: str | None = "relu",
    ):
        super().__init__()
        check_adjacency(adjacency, "adjacency", block=type(self).__name__)
        check_positive_int(num_scales, "num_scales", block=type(self).__name__)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1), got {dropout!r}")
        self.in_channels, self.out_channels, self.num_scales = in_channels, out_channels, num_scales
        scales = multiscale_adjacency(adjacency.float(), num_scales, disentangled)  # (K, V, V)
        self.register_buffer("scales", scales, persistent=False)  # MS-G3D keeps it out of state_dict too
        self.offset = nn.Parameter(torch.empty_like(scales).uniform_(-1e-6, 1e-6)) if learnable_offset else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.conv = nn.Conv2d(num_scales * in_channels, out_channels, 1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.residual = make_residual(in_channels, out_channels, 1, residual)
        self.act = make_activation(activation)
        # which order forward() contracts W · A x in, and why: contraction_costs()
        self.contraction_order = choose_contraction_order(in_channels, out_channels, num_scales, self.num_nodes)

    def contraction_costs(self) -> dict[str, int]:
        """MACs per sample and frame of each contraction order (:func:`contraction_macs`) at this layer's sizes."""
        return contraction_macs(self.in_channels, self.out_channels, self.num_scales, self.num_nodes)

    @property
    def num_nodes(self) -> int:
        return self.scales.shape[-1]

    def adjacency(self) -> torch.Tensor:
        """The K matrices actually used, fixed scales plus the learned offset (K, V, V)."""
        return self.scales if self.offset is None else self.scales + self.offset

    def rows_in_training(self) -> bool:
        """Whether a :class:`G3DBlock` runs this graph conv in rows (:func:`~stviz.multiscale_kernels.g3d_rows`): BN
        on batch statistics, and a stack wider than the output."""
        return uses_batch_statistics(self.bn) and self.out_channels < self.num_scales * self.in_channels

    def aggregate(self, x: torch.Tensor) -> torch.Tensor:
        """Explicit aggregation, scale-major: (N, C, T, V) -> (N, K*C, T, V)."""
        n, c, t, v = x.shape
        s = torch.einsum("kvu,nctu->nkctv", self.adjacency(), x)  # (N, K, C, T, V)
        return s.reshape(n, self.num_scales * c, t, v)

    def _project(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The 1x1 conv's K slices applied before aggregation: (N, C, T, U) -> (N*C_out, K*U, T), no bias.

        ``weight`` is the conv's (C_out, K*C) weight, scale-major input channels ``k*C + c``."""
        n, c, t, u = x.shape
        k, o = self.num_scales, self.out_channels
        z = pointwise_conv(x.transpose(2, 3).reshape(n, c, u * t), weight.reshape(o * k, c), None)  # (N, O*K, U*T)
        return z.view(n * o, k * u, t)

    def _project_then_aggregate(self, x: torch.Tensor, act: nn.Module | None) -> torch.Tensor:
        """``W · A x`` as ``A (W x)``: one 1x1 conv per frame, then one matrix product. (N, C_out, T, V), BN and
        ``act`` (when given) done."""
        n, c, t, v = x.shape
        k, o = self.num_scales, self.out_channels
        folded = fold_batchnorm(self.conv.weight, self.conv.bias, self.bn)
        weight, bias = folded if folded is not None else (self.conv.weight, self.conv.bias)
        z = self._project(x, weight)  # (N*O, K*U, T)
        graph = self.adjacency().transpose(0, 1).reshape(v, k * v)  # (V, K*U)
        y = torch.bmm(graph.expand(n * o, v, k * v), z).view(n, o, v, t) + bias.view(1, o, 1, 1)  # (N, O, V, T)
        y = y if folded is not None else self.bn(y)
        return (y if act is None else act(y)).transpose(2, 3)

    def _aggregate_then_project(self, x: torch.Tensor, act: nn.Module | None) -> torch.Tensor:
        """The original order, ``W (A x)``, without its copies where they can be avoided. (N, C_out, T, V), BN and
        ``act`` (when given) done.

        With a scale-major stack wider than the output (K*C_in > C_out) it runs sample by sample in x's layout
        (:func:`~stviz.multiscale_kernels.aggregate_project_frames`), BN folded in eval and after it in training.
        Otherwise the stack is copied scale-major once, as the original does, with a channel of ones for the bias,
        and projected as one matrix product (:func:`~stviz.multiscale_stack.pointwise_conv_stack`); in training
        BN is folded from the stack's own statistics (:func:`~stviz.multiscale_stack.projection_batch_norm`).
        """
        n, c, t, v = x.shape
        k, o = self.num_scales, self.out_channels
        folded = fold_batchnorm(self.conv.weight, self.conv.bias, self.bn)
        if o < k * c:  # the stack is wider than the output: sample by sample, in x's layout
            weight, bias = folded if folded is not None else (self.conv.weight, self.conv.bias)
            y = aggregate_project_frames(x, self.adjacency(), weight, bias)  # (N, O, T, V)
            y = y if folded is not None else self.bn(y)
            return y if act is None else act(y)
        if folded is None:  # batch statistics from the (narrow) stack's covariance
            weight = self.conv.weight.view(o, k * c)
            y = projection_batch_norm(x, weight, self.conv.bias, self.bn, act, adjacency=self.adjacency())
            return y.view(n, o, t, v)
        s = aggregate_scale_major(x, self.adjacency())  # (N, K, C, T, V)
        weight, bias = folded
        return pointwise_conv_stack(s, weight.view(o, k * c), bias, act).view(n, o, t, v)

    def _finish(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Residual and activation on the normalised ``y``: (N, C_out, T, V), contiguous."""
        return self.act(add_residual(y, x, self.residual)).contiguous()

    def explicit(self, x: torch.Tensor) -> torch.Tensor:
        """The original order: aggregate all K scales, stack scale-major, then the 1x1 conv. (N, C_out, T, V)."""
        s = self.aggregate(x)  # (N, K*C, T, V)
        if self.dropout is not None:
            s = self.dropout(s)
        return self._finish(self.bn(self.conv(s)), x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, num_joints=self.num_nodes, block=type(self).__name__, weight=self.conv)
        if self.dropout is not None and self.training:  # dropout acts on the stacked scales
            return self.explicit(x)
        # Without a residual the paths activate their output before reshaping it: an activation in place on the
        # reshaped view would make autograd copy the view's whole base in the backward.
        act = self.act if self.residual is None else None
        order = (
            self._project_then_aggregate if self.contraction_order == "project-first" else self._aggregate_then_project
        )
        y = order(x, act)
        return y.contiguous() if act is not None else self._finish(y, x)


class TemporalWindows(nn.Module):
    """Gather w frames around each output frame into one graph. MS-G3D: `UnfoldTemporalWindows`.

    (N, C, T, V) -> (N, C, T', w*V); node ``i*V + v`` is joint v at window frame i,
    ``T' = (T + 2 pad - d(w-1) - 1) // s + 1``. A strided view, not ``nn.Unfold``
    (:func:`~stviz.frame_windows.unfold_frames`, whose backward adds each window frame's gradient in place).
    """

    def __init__(self, window_size: int, window_stride: int = 1, window_dilation: int = 1):
        super().__init__()
        for value, name in (
            (window_size, "window_size"),
            (window_stride, "window_stride"),
            (window_dilation, "window_dilation"),
        ):
            check_positive_int(value, name, block=type(self).__name__)
        self.window_size, self.window_stride, self.window_dilation = window_size, window_stride, window_dilation
        self.padding = window_padding(window_size, window_dilation)
        self.min_frames = 1 if self.output_frames(1) else 2  # the fewest frames that hold a window (2: even span)

    def output_frames(self, frames: int) -> int:
        """T' for an input of T = ``frames`` (0: too short for one window of ``d(w-1) + 1`` frames)."""
        span = self.window_dilation * (self.window_size - 1) + 1
        return max(0, (frames + 2 * self.padding - span) // self.window_stride + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, block=type(self).__name__, weight=self, min_frames=self.min_frames)
        return unfold_frames(x, self.window_size, self.window_stride, self.window_dilation, self.padding)


class WindowGraphConv(MultiScaleGraphConv):
    """Multi-scale graph convolution on the G3D window graph. MS-G3D: `SpatialTemporal_MS_GCN`.

    Input: unfolded windows (N, C, T', w*V) from :class:`TemporalWindows`; output (N, C_out, T', w*V).
    ``adjacency`` is the binary skeleton (V, V); the window graph is ``tile(A + I, (w, w))``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        adjacency: torch.Tensor,
        num_scales: int,
        window_size: int,
        disentangled: bool = True,
        learnable_offset: bool = True,
        dropout: float = 0.0,
        residual: bool = False,
    ):
        super().__init__(
            in_channels,
            out_channels,
            window_adjacency(adjacency.float(), window_size),
            num_scales,
            disentangled=disentangled,
            learnable_offset=learnable_offset,
            dropout=dropout,
            residual=residual,
        )
        self.window_size = window_size


class G3DBlock(nn.Module):
    """Unified spatial-temporal graph convolution over windows of w frames. MS-G3D: `MS_G3D`.

    Optional 1x1 embedding, :class:`TemporalWindows`, :class:`WindowGraphConv`, then a
    (1, w, 1) convolution collapsing each window to one frame and BatchNorm (no activation).
    The window graph conv works at ``out_channels // embed_factor`` channels after a 1x1 embedding, or, with
    ``embed_factor=1``, maps ``in_channels`` to ``graph_channels`` (default ``in_channels``: the collapse conv
    widens). (N, C, T, V) -> (N, C_out, T', V).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        adjacency: torch.Tensor,
        num_scales: int,
        window_size: int,
        window_stride: int = 1,
        window_dilation: int = 1,
        embed_factor: int = 1,
        graph_channels: int | None = None,
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.num_nodes = in_channels, out_channels, adjacency.shape[-1]
        check_positive_int(embed_factor, "embed_factor", block=type(self).__name__)
        if embed_factor == 1:
            self.embed = None
            embed_in, embed_out = in_channels, in_channels if graph_channels is None else graph_channels
        else:
            if graph_channels is not None:
                raise ValueError(f"G3DBlock: graph_channels is set by embed_factor={embed_factor}; leave it None")
            embed_in = embed_out = out_channels // embed_factor
            self.embed = PointwiseConvBN(in_channels, embed_in)
        self.windows = TemporalWindows(window_size, window_stride, window_dilation)
        self.graph_conv = WindowGraphConv(embed_in, embed_out, adjacency, num_scales, window_size)
        self.collapse = nn.Conv3d(embed_out, out_channels, (1, window_size, 1))
        self.bn = nn.BatchNorm2d(out_channels)
        # which order forward() contracts the window graph conv in (in eval; see the module docstring for training),
        # and why: contraction_costs()
        self.contraction_order = choose_contraction_order(*self._contraction_sizes())

    def _contraction_sizes(self) -> tuple[int, int, int, int, int, int]:
        gc, stride = self.graph_conv, self.windows.window_stride
        return gc.in_channels, gc.out_channels, gc.num_scales, self.num_nodes, gc.window_size, stride

    def contraction_costs(self) -> dict[str, int]:
        """MACs per sample and output frame of the window graph conv in each order (:func:`contraction_macs`)."""
        return contraction_macs(*self._contraction_sizes())

    def explicit(self, x: torch.Tensor) -> torch.Tensor:
        """The original order: unfold, window graph conv, Conv3d over the window. (N, C_out, T', V)."""
        if self.embed is not None:
            x = self.embed(x)
        n, v, w = x.shape[0], x.shape[-1], self.windows.window_size
        y = self.graph_conv.explicit(self.windows(x))  # (N, C_e, T', w*V)
        y = y.view(n, y.shape[1], -1, w, v)  # (N, C_e, T', w, V)
        return self.bn(self.collapse(y).squeeze(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fewest = self.windows.min_frames
        check_nctv(x, self.in_channels, self.num_nodes, block=type(self).__name__, weight=self, min_frames=fewest)
        if self.graph_conv.dropout is not None and self.training:
            return self.explicit(x)
        if self.embed is not None:
            x = self.embed(x)
        gc = self.graph_conv
        if gc.rows_in_training():
            return g3d_rows(x, self)  # BN on batch statistics, stack wider than the graph conv's output: in rows
        if self.contraction_order == "aggregate-first":
            return g3d_aggregate_first(x, self)
        return g3d_project_first(x, self)


class MultiWindowG3D(nn.Module):
    """Sum of G3D blocks with different window sizes. MS-G3D: `MultiWindow_MS_G3D`.

    (N, C, T, V) -> (N, C_out, T', V).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        adjacency: torch.Tensor,
        num_scales: int,
        window_sizes: tuple[int, ...] = (3, 5),
        window_stride: int = 1,
        window_dilations: tuple[int, ...] = (1, 1),
        graph_channels: int | None = None,
    ):
        super().__init__()
        if len(window_sizes) != len(window_dilations):
            raise ValueError(
                f"MultiWindowG3D: window_sizes {window_sizes} and window_dilations {window_dilations} differ in length"
            )
        self.in_channels, self.num_nodes = in_channels, adjacency.shape[-1]
        self.blocks = nn.ModuleList(
            G3DBlock(
                in_channels, out_channels, adjacency, num_scales, w, window_stride, d, graph_channels=graph_channels
            )
            for w, d in zip(window_sizes, window_dilations, strict=True)
        )

    def explicit(self, x: torch.Tensor) -> torch.Tensor:
        """The original order in every window block. (N, C_out, T', V)."""
        self._check(x)
        return sum(block.explicit(x) for block in self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return sum(block(x) for block in self.blocks)

    def _check(self, x: torch.Tensor) -> None:
        check_nctv(x, channels=self.in_channels, num_joints=self.num_nodes, block=type(self).__name__, weight=self)
        lengths = [block.windows.output_frames(x.shape[2]) for block in self.blocks]
        if len(set(lengths)) > 1:  # the pathways are summed; a window spanning an even number of frames drops one
            raise ValueError(f"MultiWindowG3D: its windows give {lengths} output frames for T={x.shape[2]}, not one T'")
