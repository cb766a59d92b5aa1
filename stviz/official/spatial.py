"""Adapters for the original spatial blocks (ST-GCN, CTR-GCN, EfficientGCN, Shift-GCN) and their layers.

Each ``@register``'d builder takes the original constructor's arguments and returns the stviz block; each
:class:`~stviz.official.keys.KeyMap` renames the original keys. Index tables and fixed adjacencies that stviz
recomputes are checked and dropped.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.init import efficientgcn_init
from stviz.models.ctrgcn import ChannelTopologyBlock
from stviz.models.shiftgcn import ShiftGCNUnit
from stviz.models.stgcn import STGCNBlock
from stviz.multiscale import PointwiseConvBN
from stviz.official import register
from stviz.official.keys import KeyMap, nested, prefixes
from stviz.official.shift import SHIFT_TCN_KEYS, with_inert_xpos
from stviz.spatial import (
    ChannelTopologyConv,
    ChannelTopologyUnit,
    EfficientGraphLayer,
    PartitionGraphConv,
    ShiftGraphConv,
    cyclic_shift_indices,
)
from stviz.temporal import TemporalBasicLayer

# The residual projection: stviz stores ``Sequential(conv, BN)`` (keys 0, 1); some originals a unit_tcn / tcn.
RESIDUAL_UNIT = {"residual.conv.": "residual.0.", "residual.bn.": "residual.1."}


def activation_name(act) -> str | None:
    """An original activation argument (a name or a module instance) as an stviz activation name."""
    if act is None or isinstance(act, str):
        return act
    names = {nn.SiLU: "swish", nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardswish: "hswish", nn.Identity: None}
    if type(act) not in names:
        raise ValueError(f"unsupported activation module {type(act).__name__}; expected one of {list(names)}")
    return names[type(act)]


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


def ctrgcn_rel_channels(in_channels: int, rel_reduction: int = 8) -> int:
    """CTR-GCN's relation channels: 8 when the input has 3 or 9 channels (raw coordinates), else C_in // r."""
    rel_channels = 8 if in_channels in (3, 9) else in_channels // rel_reduction
    if rel_channels < 1:
        raise ValueError(
            f"CTR-GCN: in_channels={in_channels} gives in_channels // rel_reduction = {rel_channels} relation channels "
            f"(the original's rule: 8 for 3 or 9 input channels, else in_channels // {rel_reduction}); the original "
            f"builds it, and its forward fails"
        )
    return rel_channels


CTRGC_KEYS = prefixes({"conv1.": "embed_u.", "conv2.": "embed_v.", "conv3.": "value.", "conv4.": "expand."})
UNIT_GCN_KEYS = nested(
    r"convs\.(?P<i>\d+)\.",
    r"convs\.(?P<i>\d+)\.",
    lambda g: CTRGC_KEYS,
    lambda g: f"convs.{g['i']}.",
    lambda g: f"convs.{g['i']}.",
    rest=prefixes({"PA": "topology", "down.": "residual."}),
)
TCN_GCN_UNIT_KEYS = nested(
    r"gcn1\.", r"gcn1\.", lambda g: UNIT_GCN_KEYS, lambda g: "gcn1.", lambda g: "gcn1.", rest=prefixes(RESIDUAL_UNIT)
)


@register("ctrgcn", "CTRGC", keys=CTRGC_KEYS)
def _ctrgc(in_channels, out_channels, rel_reduction=8, mid_reduction=1):
    return ChannelTopologyConv(in_channels, out_channels, ctrgcn_rel_channels(in_channels, rel_reduction))


@register("ctrgcn", "unit_gcn", keys=UNIT_GCN_KEYS)
def _unit_gcn(in_channels, out_channels, A, coff_embedding=4, adaptive=True, residual=True):
    return ChannelTopologyUnit(
        in_channels, out_channels, torch.as_tensor(A), adaptive, residual, ctrgcn_rel_channels(in_channels)
    )


@register("ctrgcn", "TCN_GCN_unit", keys=TCN_GCN_UNIT_KEYS)
def _tcn_gcn_unit(
    in_channels, out_channels, A, stride=1, residual=True, adaptive=True, kernel_size=5, dilations=(1, 2)
):
    return ChannelTopologyBlock(
        in_channels, out_channels, torch.as_tensor(A), stride, residual, adaptive, kernel_size, tuple(dilations),
        rel_channels=ctrgcn_rel_channels(in_channels),
    )  # fmt: skip


# ---------------------------------------------------------------------------- EfficientGCN


def _effgcn_graph_keys(A=None, max_graph_distance=2, prefix: str = "", **_) -> KeyMap:
    """``A`` is recomputed (checked against the A given to build, then dropped), ``edge`` is the edge importance,
    ``gcn`` the 1x1 conv; ``prefix`` is where the SpatialGraphConv sits (``conv.`` inside Spatial_Graph_Layer)."""

    def check_a(value: torch.Tensor) -> None:
        if A is not None and not torch.allclose(value, torch.as_tensor(A, dtype=value.dtype)[: max_graph_distance + 1]):
            raise ValueError(f"{prefix}A differs from the A given to build: the checkpoint used another graph")

    table = {f"{prefix}edge": f"{prefix}edge_importance", f"{prefix}gcn.": f"{prefix}conv."}
    return prefixes(table, dropped={f"{prefix}A": check_a})


@register("effgcn", "SpatialGraphConv", keys=_effgcn_graph_keys)
def _spatial_graph_conv(in_channel, out_channel, max_graph_distance, bias, edge, A, act=None):
    A = torch.as_tensor(A)[: max_graph_distance + 1]
    return PartitionGraphConv(in_channel, out_channel, A, edge_importance=edge, bias=bias).apply(efficientgcn_init)


@register("effgcn", "Spatial_Graph_Layer", keys=lambda **kw: _effgcn_graph_keys(prefix="conv.", **kw))
def _spatial_graph_layer(in_channel, out_channel, max_graph_distance, bias, act, A, edge=True, residual=True):
    return EfficientGraphLayer(
        in_channel, out_channel, torch.as_tensor(A), max_graph_distance, edge, bias, residual, activation_name(act)
    )


@register("effgcn", "Basic_Layer")
def _basic_layer(in_channel, out_channel, residual, bias, act, **_) -> nn.Module:
    """``act(bn(conv1x1(x)) + res)``, res the identity or 0: the base of EfficientGCN's layers."""
    if in_channel == out_channel:
        return TemporalBasicLayer(in_channel, 1, residual=residual, bias=bias, activation=activation_name(act))
    if residual:
        raise ValueError(f"Basic_Layer: an identity residual needs in_channel == out_channel, got {in_channel} and "
                         f"{out_channel}")  # fmt: skip
    if not bias:
        raise NotImplementedError("stviz builds Basic_Layer(in_channel != out_channel) with bias=True only")
    return PointwiseConvBN(in_channel, out_channel, activation_name(act))


class _ZeroLayer(nn.Module):
    """EfficientGCN: ``Zero_Layer``, the disabled residual: returns 0 for any input (stviz writes ``residual=None``)."""

    def forward(self, x: torch.Tensor) -> int:
        return 0


@register("effgcn", "Zero_Layer")
def _zero_layer() -> nn.Module:
    return _ZeroLayer()


# ---------------------------------------------------------------------------- Shift-GCN


def _shift_gcn_keys(in_channels=None, out_channels=None, **_) -> KeyMap:
    def table_check(key: str, channels: int | None):
        def check(value: torch.Tensor) -> None:
            if channels is not None and not torch.equal(value.long(), cyclic_shift_indices(channels)[key]):
                raise ValueError(f"Shift_gcn: {key} is not the cyclic shift table for {channels} channels")

        return check

    table = {"Linear_weight": "weight", "Linear_bias": "bias", "Feature_Mask": "feature_mask", "down.": "residual."}
    dropped = {"shift_in": table_check("shift_in", in_channels), "shift_out": table_check("shift_out", out_channels)}
    return prefixes(table, dropped=dropped)


@register("shiftgcn", "Shift_gcn", keys=_shift_gcn_keys)
def _shift_gcn(in_channels, out_channels, A=None, coff_embedding=4, num_subset=3):
    return ShiftGraphConv(in_channels, out_channels, num_joints=25, shift="cyclic")


def shift_unit_keys(in_channels: int, out_channels: int) -> KeyMap:
    """Shift-GCN ``TCN_GCN_unit`` keys: ``gcn1`` (Shift_gcn), ``tcn1`` (Shift_tcn), ``residual`` (a tcn)."""
    parts = {"gcn1": _shift_gcn_keys(in_channels, out_channels), "tcn1": SHIFT_TCN_KEYS}
    return nested(
        r"(?P<part>gcn1|tcn1)\.",
        r"(?P<part>gcn1|tcn1)\.",
        lambda g: parts[g["part"]],
        lambda g: f"{g['part']}.",
        lambda g: f"{g['part']}.",
        rest=prefixes(RESIDUAL_UNIT),
    )


@register(
    "shiftgcn", "TCN_GCN_unit", keys=lambda in_channels, out_channels, **_: shift_unit_keys(in_channels, out_channels)
)
def _shift_tcn_gcn_unit(in_channels, out_channels, A=None, stride=1, residual=True):
    unit = ShiftGCNUnit(in_channels, out_channels, stride, residual, num_joints=25, grad_mode="official")
    return with_inert_xpos(unit)
