"""Adapters for the original spatial blocks (ST-GCN, CTR-GCN, EfficientGCN, Shift-GCN).

Each ``@register``'d builder takes the original constructor's arguments and
returns the stviz block; each converter maps the original key names onto it.
Index tables and fixed adjacencies that stviz recomputes are checked and dropped.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.official import register, shift_indices
from stviz.spatial import (
    ChannelTopologyBlock,
    ChannelTopologyConv,
    ChannelTopologyUnit,
    EfficientGraphLayer,
    PartitionGraphConv,
    ShiftGraphConv,
    STGCNBlock,
)
from stviz.temporal import _efficientgcn_init

# ---------------------------------------------------------------------------- ST-GCN


class _TakesA(nn.Module):
    """Mixin for ST-GCN's calling convention: ``m(x, A) -> (y, A)``."""

    def forward(self, x: torch.Tensor, A: torch.Tensor):
        return super().forward(x, A), A


class _ConvTemporalGraphical(_TakesA, PartitionGraphConv):
    pass


class _StGcn(_TakesA, STGCNBlock):
    pass


@register("stgcn", "ConvTemporalGraphical")
def _conv_temporal_graphical(
    in_channels, out_channels, kernel_size, t_kernel_size=1, t_stride=1, t_padding=0, t_dilation=1, bias=True
):
    if (t_kernel_size, t_stride, t_padding, t_dilation) != (1, 1, 0, 1):
        raise NotImplementedError("stviz builds ConvTemporalGraphical with its 1x1 temporal kernel only")
    return _ConvTemporalGraphical(in_channels, out_channels, num_subsets=kernel_size, bias=bias)


@register("stgcn", "st_gcn")
def _st_gcn(in_channels, out_channels, kernel_size, stride=1, dropout=0, residual=True):
    temporal_kernel, num_subsets = kernel_size
    return _StGcn(
        in_channels,
        out_channels,
        num_subsets=num_subsets,
        temporal_kernel=temporal_kernel,
        stride=stride,
        dropout=dropout,
        residual=residual,
    )


# ---------------------------------------------------------------------------- CTR-GCN

_CTRGC_KEYS = {"conv1": "embed_u", "conv2": "embed_v", "conv3": "value", "conv4": "expand"}


def _rename_ctrgc(key: str) -> str:
    head, _, rest = key.partition(".")
    if head in _CTRGC_KEYS:
        return f"{_CTRGC_KEYS[head]}.{rest}"
    if head == "gcn1":  # TCN_GCN_unit: gcn1.<unit_gcn key>
        return f"gcn1.{_rename_ctrgc(rest)}"
    if head == "convs":  # convs.<i>.conv1.weight
        i, _, rest = rest.partition(".")
        return f"convs.{i}.{_rename_ctrgc(rest)}"
    if key == "PA":
        return "topology"
    if head == "A":
        raise KeyError("unit_gcn(adaptive=False) keeps A outside its state_dict; this key should not be here")
    return key


def _convert_ctrgc(sd, **kwargs):
    return {_rename_ctrgc(k): v for k, v in sd.items()}


@register("ctrgcn", "CTRGC", convert=_convert_ctrgc)
def _ctrgc(in_channels, out_channels, rel_reduction=8, mid_reduction=1):
    return ChannelTopologyConv(in_channels, out_channels, rel_reduction)


@register("ctrgcn", "unit_gcn", convert=_convert_ctrgc)
def _unit_gcn(in_channels, out_channels, A, coff_embedding=4, adaptive=True, residual=True):
    return ChannelTopologyUnit(in_channels, out_channels, torch.as_tensor(A), adaptive=adaptive, residual=residual)


@register("ctrgcn", "TCN_GCN_unit", convert=_convert_ctrgc)
def _tcn_gcn_unit(
    in_channels, out_channels, A, stride=1, residual=True, adaptive=True, kernel_size=5, dilations=(1, 2)
):
    return ChannelTopologyBlock(
        in_channels, out_channels, torch.as_tensor(A), stride, residual, adaptive, kernel_size, tuple(dilations)
    )


# ---------------------------------------------------------------------------- EfficientGCN


def _rename_effgcn(key: str) -> str | None:
    """``A`` is recomputed (dropped), ``edge`` is edge importance, ``gcn`` is the 1x1 conv."""
    prefix, _, leaf = key.rpartition(".")
    prefix = f"{prefix}." if prefix else ""
    if leaf == "A":
        return None
    if leaf == "edge":
        return f"{prefix}edge_importance"
    return key.replace("gcn.", "conv.") if key.startswith(("gcn.", "conv.gcn.")) else key


def _convert_effgcn(sd, A=None, max_graph_distance=2, **kwargs):
    out = {}
    for key, value in sd.items():
        new = _rename_effgcn(key)
        if new is None:
            if A is not None and not torch.allclose(value, torch.as_tensor(A)[: max_graph_distance + 1]):
                raise ValueError(f"{key} differs from the A given to build: the checkpoint used another graph")
            continue
        out[new] = value
    return out


@register("effgcn", "SpatialGraphConv", convert=_convert_effgcn)
def _spatial_graph_conv(in_channel, out_channel, max_graph_distance, bias, edge, A, act=None):
    A = torch.as_tensor(A)[: max_graph_distance + 1]
    return PartitionGraphConv(in_channel, out_channel, A, edge_importance=edge, bias=bias).apply(_efficientgcn_init)


@register("effgcn", "Spatial_Graph_Layer", convert=_convert_effgcn)
def _spatial_graph_layer(in_channel, out_channel, max_graph_distance, bias, act, A, edge=True, residual=True):
    if isinstance(act, nn.Module):
        act = {nn.SiLU: "swish", nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardswish: "hswish"}[type(act)]
    layer = EfficientGraphLayer(
        in_channel, out_channel, torch.as_tensor(A), max_graph_distance, edge, bias, residual, act
    )
    return layer.apply(_efficientgcn_init)  # the network's init_param


# ---------------------------------------------------------------------------- Shift-GCN

_SHIFT_GCN_KEYS = {"Linear_weight": "weight", "Linear_bias": "bias", "Feature_Mask": "feature_mask"}


def _convert_shift_gcn(sd, in_channels=None, out_channels=None, **kwargs):
    out = {}
    for key, value in sd.items():
        if key in ("shift_in", "shift_out"):
            channels = in_channels if key == "shift_in" else out_channels
            if channels is not None and not torch.equal(value.long(), shift_indices(channels)[key]):
                raise ValueError(f"{key} is not Shift-GCN's cyclic table for {channels} channels")
            continue
        out[_SHIFT_GCN_KEYS.get(key, key)] = value
    return out


@register("shiftgcn", "Shift_gcn", convert=_convert_shift_gcn)
def _shift_gcn(in_channels, out_channels, A=None, coff_embedding=4, num_subset=3):
    return ShiftGraphConv(in_channels, out_channels, num_joints=25, shift="cyclic")
