"""MS-G3D: multi-scale graph convolution, unfolded temporal windows and the G3D block.

Liu et al., "Disentangling and Unifying Graph Convolutions for Skeleton-Based Action
Recognition", CVPR 2020. The blocks compute what the released code computes
(SPEC.md §5.5, pitfall 9) but contract in a cheaper order: the 1x1 convolution runs
first, on each frame once, and the graph aggregation then becomes one matrix
product (a 1-D convolution over time for the G3D window), with no scale-major
copy and no ``nn.Unfold``. Each block's ``explicit`` keeps the original order, for
teaching, for tests and for train-mode dropout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stviz.checks import check_nctv
from stviz.graph import k_adjacency, normalize_symmetric
from stviz.temporal import temporal_padding

__all__ = [
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


def multiscale_adjacency(a_binary: torch.Tensor, num_scales: int, disentangled: bool = True) -> torch.Tensor:
    """MS-G3D's stack of scales (K, V, V) for a binary graph (V, V), each symmetrically normalised.

    Disentangled: ``normalize(exactly-k-hop + I)``, ``I`` for k=0. Otherwise the powers
    ``normalize(A with self-loops)^k``, which weight close joints far more than distant ones.
    """
    if num_scales < 1:
        raise ValueError(f"num_scales must be >= 1, got {num_scales}")
    eye = torch.eye(a_binary.shape[-1], dtype=a_binary.dtype)
    if disentangled:
        return torch.stack([normalize_symmetric(k_adjacency(a_binary, k, with_self=True)) for k in range(num_scales)])
    base = normalize_symmetric(torch.maximum(a_binary, eye).double())
    return torch.stack([torch.linalg.matrix_power(base, k) for k in range(num_scales)]).to(a_binary.dtype)


def window_adjacency(a_binary: torch.Tensor, window_size: int) -> torch.Tensor:
    """G3D window graph ``tile(A + I, (w, w))`` (wV, wV); node ``i*V + v`` is joint v in window frame i."""
    eye = torch.eye(a_binary.shape[-1], dtype=a_binary.dtype)
    return (a_binary + eye).repeat(window_size, window_size)


def window_padding(window_size: int, window_dilation: int = 1) -> int:
    """Zero frames padded on each side of T so windows are centred: ``(w + (w-1)(d-1) - 1) // 2``.

    The "same" padding of a (w, 1) convolution with dilation d, i.e. :func:`stviz.temporal.temporal_padding`.
    """
    return temporal_padding(window_size, window_dilation)


class PointwiseConvBN(nn.Module):
    """1x1 convolution, BatchNorm and an optional ReLU. MS-G3D: a one-layer `MLP`. (N, C, T, V) -> (N, C', T, V)."""

    def __init__(self, in_channels: int, out_channels: int, activation: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.activation = nn.ReLU() if activation else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.conv.in_channels, block=type(self).__name__)
        return self.activation(self.bn(self.conv(x)))


class MultiScaleGraphConv(nn.Module):
    """Multi-scale graph convolution over K adjacency scales. MS-G3D: `MultiScale_GraphConv`.

    ``out = act(BN(W · concat_k (A_k + A_res_k) x) + residual(x))`` with the K aggregated copies
    stacked scale-major (channel ``k*C + c``) before the 1x1 convolution W.
    Input (N, C, T, V), output (N, C_out, T, V). ``adjacency`` is the binary (V, V) graph.
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
        activation: bool = True,
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.num_scales = in_channels, out_channels, num_scales
        scales = multiscale_adjacency(adjacency.float(), num_scales, disentangled)  # (K, V, V)
        self.register_buffer("scales", scales, persistent=False)  # MS-G3D keeps it out of state_dict too
        self.offset = nn.Parameter(torch.empty_like(scales).uniform_(-1e-6, 1e-6)) if learnable_offset else None
        self.dropout = nn.Dropout(dropout) if dropout > 0.001 else None
        self.conv = nn.Conv2d(num_scales * in_channels, out_channels, 1)
        self.bn = nn.BatchNorm2d(out_channels)
        if not residual:
            self.residual = None
        elif in_channels == out_channels:
            self.residual = nn.Identity()
        else:
            self.residual = PointwiseConvBN(in_channels, out_channels, activation=False)
        self.activation = nn.ReLU() if activation else nn.Identity()

    @property
    def num_nodes(self) -> int:
        return self.scales.shape[-1]

    def adjacency(self) -> torch.Tensor:
        """The K matrices actually used, fixed scales plus the learned offset (K, V, V)."""
        return self.scales if self.offset is None else self.scales + self.offset

    def aggregate(self, x: torch.Tensor) -> torch.Tensor:
        """Explicit aggregation, scale-major: (N, C, T, V) -> (N, K*C, T, V)."""
        n, c, t, v = x.shape
        s = torch.einsum("kvu,nctu->nkctv", self.adjacency(), x)  # (N, K, C, T, V)
        return s.reshape(n, self.num_scales * c, t, v)

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        """The 1x1 conv's K slices applied before aggregation: (N, C, T, U) -> (N*C_out, K*U, T), no bias."""
        n, c, t, u = x.shape
        k, o = self.num_scales, self.out_channels
        weight = self.conv.weight.view(o * k, c)  # rows o*K + k: scale-major input channels k*C + c
        z = torch.matmul(weight, x.transpose(2, 3).reshape(n, c, u * t))  # (N, O*K, U*T)
        return z.view(n * o, k * u, t)

    def _project_then_aggregate(self, x: torch.Tensor) -> torch.Tensor:
        """``W · A x`` as ``A (W x)``: one 1x1 conv per frame, then one matrix product. (N, C_out, T, V)."""
        n, c, t, v = x.shape
        k, o = self.num_scales, self.out_channels
        z = self._project(x)  # (N*O, K*U, T)
        graph = self.adjacency().transpose(0, 1).reshape(v, k * v)  # (V, K*U)
        y = torch.matmul(graph, z).view(n, o, v, t) + self.conv.bias.view(1, o, 1, 1)  # (N, O, V, T)
        return y.transpose(2, 3)

    def _finish(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(y)
        if self.residual is not None:
            y = y + self.residual(x)
        return self.activation(y).contiguous()

    def explicit(self, x: torch.Tensor) -> torch.Tensor:
        """The original order: aggregate all K scales, stack scale-major, then the 1x1 conv. (N, C_out, T, V)."""
        s = self.aggregate(x)  # (N, K*C, T, V)
        if self.dropout is not None:
            s = self.dropout(s)
        return self._finish(self.conv(s), x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, num_joints=self.num_nodes, block=type(self).__name__)
        if self.dropout is not None and self.training:  # dropout acts on the stacked scales
            return self.explicit(x)
        return self._finish(self._project_then_aggregate(x), x)


class TemporalWindows(nn.Module):
    """Gather w frames around each output frame into one graph. MS-G3D: `UnfoldTemporalWindows`.

    (N, C, T, V) -> (N, C, T', w*V); node ``i*V + v`` is joint v at window frame i,
    ``T' = (T + 2 pad - d(w-1) - 1) // s + 1``. Uses a strided view, not ``nn.Unfold``.
    """

    def __init__(self, window_size: int, window_stride: int = 1, window_dilation: int = 1):
        super().__init__()
        self.window_size, self.window_stride, self.window_dilation = window_size, window_stride, window_dilation
        self.padding = window_padding(window_size, window_dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, block=type(self).__name__)
        n, c, t, v = x.shape
        w, s, d = self.window_size, self.window_stride, self.window_dilation
        x = F.pad(x, (0, 0, self.padding, self.padding))
        span = d * (w - 1) + 1
        windows = x.unfold(2, span, s)[..., ::d]  # (N, C, T', V, w)
        return windows.permute(0, 1, 2, 4, 3).reshape(n, c, windows.shape[2], w * v)  # (N, C, T', w*V)


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

    def windowed(self, x: torch.Tensor, windows: TemporalWindows) -> torch.Tensor:
        """``self(windows(x))`` without building the windows: (N, C, T, V) -> (N, C_out, w*V, T'), BN and ReLU done.

        The 1x1 conv runs once per frame instead of once per window copy, and the window
        aggregation is a 1-D convolution over time with the graph as its kernel.
        """
        n, c, t, v = x.shape
        k, o, w = self.num_scales, self.out_channels, self.window_size
        z = self._project(x)  # (N*O, K*U, T)
        graph = self.adjacency().view(k, w * v, w, v).permute(1, 0, 3, 2).reshape(w * v, k * v, w)  # (wV, K*U, w)
        y = F.conv2d(  # a (w, 1) convolution over (T, 1): faster than conv1d on CPU
            z.unsqueeze(-1),
            graph.unsqueeze(-1),
            stride=(windows.window_stride, 1),
            padding=(windows.padding, 0),
            dilation=(windows.window_dilation, 1),
        )  # (N*O, w*V, T', 1)
        y = y.view(n, o, w * v, -1) + self.conv.bias.view(1, o, 1, 1)  # (N, O, w*V, T')
        return self.activation(self.bn(y))


class G3DBlock(nn.Module):
    """Unified spatial-temporal graph convolution over windows of w frames. MS-G3D: `MS_G3D`.

    Optional 1x1 embedding, :class:`TemporalWindows`, :class:`WindowGraphConv`, then a
    (1, w, 1) convolution collapsing each window to one frame and BatchNorm (no activation).
    (N, C, T, V) -> (N, C_out, T', V).
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
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.num_nodes = in_channels, out_channels, adjacency.shape[-1]
        if embed_factor == 1:
            self.embed = None
            embed_in = embed_out = in_channels
            if in_channels == 3:  # the first block widens in the graph conv, as MS-G3D does
                embed_out = out_channels
        else:
            embed_in = embed_out = out_channels // embed_factor
            self.embed = PointwiseConvBN(in_channels, embed_in)
        self.windows = TemporalWindows(window_size, window_stride, window_dilation)
        self.graph_conv = WindowGraphConv(embed_in, embed_out, adjacency, num_scales, window_size)
        self.collapse = nn.Conv3d(embed_out, out_channels, (1, window_size, 1))
        self.bn = nn.BatchNorm2d(out_channels)

    def explicit(self, x: torch.Tensor) -> torch.Tensor:
        """The original order: unfold, window graph conv, Conv3d over the window. (N, C_out, T', V)."""
        if self.embed is not None:
            x = self.embed(x)
        n, v, w = x.shape[0], x.shape[-1], self.windows.window_size
        y = self.graph_conv.explicit(self.windows(x))  # (N, C_e, T', w*V)
        y = y.view(n, y.shape[1], -1, w, v)  # (N, C_e, T', w, V)
        return self.bn(self.collapse(y).squeeze(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, num_joints=self.num_nodes, block=type(self).__name__)
        if self.graph_conv.dropout is not None and self.training:
            return self.explicit(x)
        if self.embed is not None:
            x = self.embed(x)
        n, v, w = x.shape[0], x.shape[-1], self.windows.window_size
        y = self.graph_conv.windowed(x, self.windows)  # (N, C_e, w*V, T')
        c_e, t_out = y.shape[1], y.shape[-1]
        weight = self.collapse.weight.view(self.out_channels, c_e * w, 1, 1)
        y = F.conv2d(y.view(n, c_e * w, v, t_out), weight, self.collapse.bias)  # (N, C_out, V, T')
        return self.bn(y.transpose(2, 3)).contiguous()


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
    ):
        super().__init__()
        if len(window_sizes) != len(window_dilations):
            raise ValueError(f"window_sizes {window_sizes} and window_dilations {window_dilations} differ in length")
        self.in_channels, self.num_nodes = in_channels, adjacency.shape[-1]
        self.blocks = nn.ModuleList(
            G3DBlock(in_channels, out_channels, adjacency, num_scales, w, window_stride, d)
            for w, d in zip(window_sizes, window_dilations, strict=True)
        )

    def explicit(self, x: torch.Tensor) -> torch.Tensor:
        """The original order in every window block. (N, C_out, T', V)."""
        return sum(block.explicit(x) for block in self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, num_joints=self.num_nodes, block=type(self).__name__)
        return sum(block(x) for block in self.blocks)
