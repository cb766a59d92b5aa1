"""MS-G3D adapters (kenziyuliu/MS-G3D): the multi-scale GCN, unfolded windows and G3D blocks.

Original key layout: a one-layer ``MLP`` stores its conv at ``layers.0`` and its
BatchNorm at ``layers.1`` (one later when a Dropout comes first); ``A_res`` is a
stacked (K*V, V) matrix. ``A_powers`` / ``A_scales`` are not in the original
state_dict, and stviz keeps its scales out of state_dict too. The originals' quirks set here: dropout only
above 0.001, and a G3D block on 3 input channels widens in its graph convolution.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.multiscale import (
    G3DBlock,
    MultiScaleGraphConv,
    MultiWindowG3D,
    PointwiseConvBN,
    TemporalWindows,
    WindowGraphConv,
)
from stviz.official import register
from stviz.official.keys import KeyMap, nested, prefixes


def dropout_rate(dropout: float) -> float:
    """MS-G3D applies dropout only above 0.001 (its MLP adds the Dropout layer then)."""
    return dropout if dropout > 0.001 else 0.0


def graph_conv_keys(num_scales: int, dropout: float = 0.0, **_) -> KeyMap:
    """MultiScale_GraphConv / SpatialTemporal_MS_GCN keys -> MultiScaleGraphConv / WindowGraphConv keys.

    ``A_res`` (K*V, V) becomes ``offset`` (K, V, V); the MLP's conv and BN sit at ``layers.0`` / ``layers.1``,
    one later when a Dropout comes first; the residual MLP's become ``residual.0`` / ``residual.1``.
    """
    first = 1 if dropout_rate(dropout) else 0
    table = {
        "A_res": "offset",
        f"mlp.layers.{first}.": "conv.",
        f"mlp.layers.{first + 1}.": "bn.",
        "residual.layers.0.": "residual.0.",
        "residual.layers.1.": "residual.1.",
    }

    def convert_value(key: str, value: torch.Tensor) -> torch.Tensor:
        return value.reshape(num_scales, -1, value.shape[-1]) if key == "A_res" else value

    return prefixes(table, convert_value=convert_value)


def ms_g3d_keys(num_scales: int, **_) -> KeyMap:
    """MS_G3D keys -> G3DBlock keys (``gcn3d.1`` is the window graph conv after the unfold)."""
    rest = prefixes(
        {"in1x1.layers.0.": "embed.conv.", "in1x1.layers.1.": "embed.bn.", "out_conv.": "collapse.", "out_bn.": "bn."}
    )
    inner = graph_conv_keys(num_scales)
    return nested(r"gcn3d\.1\.", r"graph_conv\.", lambda g: inner, lambda g: "graph_conv.", lambda g: "gcn3d.1.", rest)


def multi_window_keys(num_scales: int, **_) -> KeyMap:
    """MultiWindow_MS_G3D keys (``gcn3d.{j}.<MS_G3D key>``) -> MultiWindowG3D keys (``blocks.{j}.``)."""
    inner = ms_g3d_keys(num_scales)
    return nested(
        r"gcn3d\.(?P<j>\d+)\.", r"blocks\.(?P<j>\d+)\.", lambda g: inner, lambda g: f"blocks.{g['j']}.",
        lambda g: f"gcn3d.{g['j']}.",
    )  # fmt: skip


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@register("msg3d", "MultiScale_GraphConv", keys=graph_conv_keys)
def _multiscale_graph_conv(
    num_scales: int,
    in_channels: int,
    out_channels: int,
    A_binary: torch.Tensor,
    disentangled_agg: bool = True,
    use_mask: bool = True,
    dropout: float = 0.0,
    activation: str = "relu",
):
    _require(activation in ("relu", "linear"), f"activation must be 'relu' or 'linear', got {activation!r}")
    return MultiScaleGraphConv(
        in_channels,
        out_channels,
        torch.as_tensor(A_binary),
        num_scales,
        disentangled=disentangled_agg,
        learnable_offset=use_mask,
        dropout=dropout_rate(dropout),
        activation="relu" if activation == "relu" else None,
    )


@register("msg3d", "UnfoldTemporalWindows")
def _unfold_temporal_windows(window_size: int, window_stride: int, window_dilation: int = 1):
    return TemporalWindows(window_size, window_stride, window_dilation)


@register("msg3d", "SpatialTemporal_MS_GCN", keys=graph_conv_keys)
def _spatial_temporal_ms_gcn(
    in_channels: int,
    out_channels: int,
    A_binary: torch.Tensor,
    num_scales: int,
    window_size: int,
    disentangled_agg: bool = True,
    use_Ares: bool = True,
    residual: bool = False,
    dropout: float = 0.0,
    activation: str = "relu",
):
    _require(activation == "relu", f"only activation='relu' is supported, got {activation!r}")
    return WindowGraphConv(
        in_channels,
        out_channels,
        torch.as_tensor(A_binary),
        num_scales,
        window_size,
        disentangled=disentangled_agg,
        learnable_offset=use_Ares,
        dropout=dropout_rate(dropout),
        residual=residual,
    )


@register("msg3d", "MS_G3D", keys=ms_g3d_keys)
def _ms_g3d(
    in_channels: int,
    out_channels: int,
    A_binary: torch.Tensor,
    num_scales: int,
    window_size: int,
    window_stride: int,
    window_dilation: int,
    embed_factor: int = 1,
    activation: str = "relu",
):
    _require(activation == "relu", f"only activation='relu' is supported, got {activation!r}")
    return G3DBlock(
        in_channels,
        out_channels,
        torch.as_tensor(A_binary),
        num_scales,
        window_size,
        window_stride,
        window_dilation,
        embed_factor,
        graph_channels=out_channels if embed_factor == 1 and in_channels == 3 else None,  # the original's rule
    )


@register("msg3d", "MultiWindow_MS_G3D", keys=multi_window_keys)
def _multiwindow_ms_g3d(
    in_channels: int,
    out_channels: int,
    A_binary: torch.Tensor,
    num_scales: int,
    window_sizes=(3, 5),
    window_stride: int = 1,
    window_dilations=(1, 1),
):
    return MultiWindowG3D(
        in_channels,
        out_channels,
        torch.as_tensor(A_binary),
        num_scales,
        tuple(window_sizes),
        window_stride,
        tuple(window_dilations),
        graph_channels=out_channels if in_channels == 3 else None,  # MS_G3D widens in its graph conv on C=3
    )


def mlp_keys(out_channels, dropout: float = 0.0, **_) -> KeyMap:
    """MLP keys: layer i's conv and BN at ``layers.{s*i + d}`` and ``layers.{s*i + d + 1}`` (s modules per layer:
    [Dropout], conv, BN, activation; d = 1 with the Dropout) -> ``{i}.conv`` / ``{i}.bn`` (``{i}.1.*`` after a
    Dropout)."""
    drop = 1 if dropout_rate(dropout) else 0
    step = 3 + drop
    table = {}
    for i in range(len(out_channels)):
        ours = f"{i}.1." if drop else f"{i}."
        table[f"layers.{step * i + drop}."] = f"{ours}conv."
        table[f"layers.{step * i + drop + 1}."] = f"{ours}bn."
    return prefixes(table)


@register("msg3d", "MLP", keys=mlp_keys)
def _mlp(in_channels: int, out_channels, activation: str = "relu", dropout: float = 0.0) -> nn.Module:
    """A stack of :class:`~stviz.multiscale.PointwiseConvBN` (1x1 conv, BN, activation), each after a Dropout
    when ``dropout > 0.001``. (N, C_in, T, V) -> (N, out_channels[-1], T, V)."""
    layers, last = [], in_channels
    for width in out_channels:
        layer = PointwiseConvBN(last, width, activation=None if activation == "linear" else activation)
        layers.append(nn.Sequential(nn.Dropout(dropout), layer) if dropout_rate(dropout) else layer)
        last = width
    return nn.Sequential(*layers)
