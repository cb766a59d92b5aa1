"""MS-G3D adapters (kenziyuliu/MS-G3D): the multi-scale GCN, unfolded windows and G3D blocks.

Original key layout: a one-layer ``MLP`` stores its conv at ``layers.0`` and its
BatchNorm at ``layers.1`` (one later when a Dropout comes first); ``A_res`` is a
stacked (K*V, V) matrix. ``A_powers`` / ``A_scales`` are not in the original
state_dict (SPEC.md pitfall 9), and stviz keeps its scales out of state_dict too.
"""

from __future__ import annotations

import torch

from stviz.multiscale import G3DBlock, MultiScaleGraphConv, MultiWindowG3D, TemporalWindows, WindowGraphConv
from stviz.official import register

_MLP_PARTS = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}


def _mlp_key(rest: str, dropout: float, prefix: str) -> str:
    """``layers.{i}.<param>`` of a one-layer MLP -> ``{prefix}conv.<param>`` or ``{prefix}bn.<param>``."""
    first = 1 if dropout > 0.001 else 0
    layer, _, param = rest.partition(".")[2].partition(".")
    if not rest.startswith("layers.") or param not in _MLP_PARTS or int(layer) not in (first, first + 1):
        raise KeyError(f"unexpected MS-G3D MLP key {rest!r}")
    return f"{prefix}{'conv' if int(layer) == first else 'bn'}.{param}"


def _convert_graph_conv(sd: dict, num_scales: int, dropout: float = 0.0, prefix: str = "", **_) -> dict:
    """MultiScale_GraphConv / SpatialTemporal_MS_GCN keys -> MultiScaleGraphConv / WindowGraphConv keys."""
    out = {}
    for key, value in sd.items():
        if key == "A_res":
            out[f"{prefix}offset"] = value.reshape(num_scales, -1, value.shape[-1])
        elif key.startswith("mlp."):
            out[_mlp_key(key[4:], dropout, prefix)] = value
        elif key.startswith("residual."):
            out[_mlp_key(key[9:], 0.0, f"{prefix}residual.")] = value
        else:
            raise KeyError(f"unexpected MS-G3D graph conv key {key!r}")
    return out


def _convert_ms_g3d(sd: dict, num_scales: int, prefix: str = "", **_) -> dict:
    """MS_G3D keys -> G3DBlock keys."""
    out, graph_conv = {}, {}
    for key, value in sd.items():
        head, _, rest = key.partition(".")
        if key.startswith("gcn3d.1."):
            graph_conv[key[len("gcn3d.1.") :]] = value
        elif head == "in1x1":
            out[_mlp_key(rest, 0.0, f"{prefix}embed.")] = value
        elif head == "out_conv":
            out[f"{prefix}collapse.{rest}"] = value
        elif head == "out_bn":
            out[f"{prefix}bn.{rest}"] = value
        else:
            raise KeyError(f"unexpected MS-G3D MS_G3D key {key!r}")
    out.update(_convert_graph_conv(graph_conv, num_scales, prefix=f"{prefix}graph_conv."))
    return out


def _convert_multi_window(sd: dict, num_scales: int, **_) -> dict:
    """MultiWindow_MS_G3D keys (``gcn3d.{j}.<MS_G3D key>``) -> MultiWindowG3D keys."""
    per_block: dict[str, dict] = {}
    for key, value in sd.items():
        head, index, rest = key.split(".", 2)
        if head != "gcn3d" or not index.isdigit():
            raise KeyError(f"unexpected MS-G3D MultiWindow_MS_G3D key {key!r}")
        per_block.setdefault(index, {})[rest] = value
    out = {}
    for index, block_sd in per_block.items():
        out.update(_convert_ms_g3d(block_sd, num_scales, prefix=f"blocks.{index}."))
    return out


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@register("msg3d", "MultiScale_GraphConv", convert=_convert_graph_conv)
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
        dropout=dropout,
        activation=activation == "relu",
    )


@register("msg3d", "UnfoldTemporalWindows")
def _unfold_temporal_windows(window_size: int, window_stride: int, window_dilation: int = 1):
    return TemporalWindows(window_size, window_stride, window_dilation)


@register("msg3d", "SpatialTemporal_MS_GCN", convert=_convert_graph_conv)
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
        dropout=dropout,
        residual=residual,
    )


@register("msg3d", "MS_G3D", convert=_convert_ms_g3d)
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
    )


@register("msg3d", "MultiWindow_MS_G3D", convert=_convert_multi_window)
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
    )
