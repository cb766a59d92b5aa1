"""Adapters for the temporal blocks: CTR-GCN's and MS-G3D's ``MultiScale_TemporalConv`` and EfficientGCN's
``Temporal_Basic_Layer``, ``Temporal_Bottleneck_Layer``, ``Temporal_Sep_Layer`` and ``Temporal_SG_Layer``.

The stviz blocks keep the original module layout (``branches.<i>.<j>``, ``residual.conv``, ``reduct_conv.0``,
``depth_conv.1``, ...), so original checkpoints load with their keys unchanged (``convert=None``).
EfficientGCN's ``act`` is given by name (``"swish"``, ``"hswish"``, ``"relu"``, ``"relu6"``); its layers swallow
unrelated keyword arguments through ``**kwargs`` (the network passes ``reduct_ratio`` and ``expand_ratio`` to
every layer), and so does :func:`stviz.official.build`.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from stviz.official import register
from stviz.temporal import (
    MSG3DTemporalConv,
    MultiScaleTemporalConv,
    TemporalBasicLayer,
    TemporalBottleneckLayer,
    TemporalSandglassLayer,
    TemporalSepLayer,
)


@register("ctrgcn", "MultiScale_TemporalConv")
def _ctrgcn_mstcn(
    in_channels: int,
    out_channels: int,
    kernel_size: int | Sequence[int] = 3,
    stride: int = 1,
    dilations: Sequence[int] = (1, 2, 3, 4),
    residual: bool = True,
    residual_kernel_size: int = 1,
) -> nn.Module:
    # No activation after the sum; weights_init draws BN weights from N(1, 0.02) (SPEC.md pitfall 7).
    return MultiScaleTemporalConv(
        in_channels,
        out_channels,
        kernel_size=kernel_size,
        stride=stride,
        dilations=dilations,
        residual=residual,
        residual_kernel_size=residual_kernel_size,
    )


@register("msg3d", "MultiScale_TemporalConv")
def _msg3d_mstcn(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    dilations: Sequence[int] = (1, 2, 3, 4),
    residual: bool = True,
    residual_kernel_size: int = 1,
    activation: str | None = "relu",
) -> nn.Module:
    return MSG3DTemporalConv(
        in_channels,
        out_channels,
        kernel_size=kernel_size,
        stride=stride,
        dilations=dilations,
        residual=residual,
        residual_kernel_size=residual_kernel_size,
        activation=activation,
    )


@register("effgcn", "Temporal_Basic_Layer")
def _temporal_basic(
    channel: int, temporal_window_size: int, bias: bool, stride: int = 1, residual: bool = True, act="swish", **_
) -> nn.Module:
    return TemporalBasicLayer(channel, temporal_window_size, stride=stride, residual=residual, bias=bias, act=act)


@register("effgcn", "Temporal_Bottleneck_Layer")
def _temporal_bottleneck(
    channel: int,
    temporal_window_size: int,
    bias: bool,
    reduct_ratio: int,
    stride: int = 1,
    residual: bool = True,
    act="swish",
    **_,
) -> nn.Module:
    return TemporalBottleneckLayer(
        channel, temporal_window_size, reduct_ratio, stride=stride, residual=residual, bias=bias, act=act
    )


@register("effgcn", "Temporal_Sep_Layer")
def _temporal_sep(
    channel: int,
    temporal_window_size: int,
    bias: bool,
    expand_ratio: int,
    stride: int = 1,
    residual: bool = True,
    act="swish",
    **_,
) -> nn.Module:
    return TemporalSepLayer(
        channel, temporal_window_size, expand_ratio, stride=stride, residual=residual, bias=bias, act=act
    )


@register("effgcn", "Temporal_SG_Layer")
def _temporal_sg(
    channel: int,
    temporal_window_size: int,
    bias: bool,
    reduct_ratio: int,
    stride: int = 1,
    residual: bool = True,
    act="swish",
    **_,
) -> nn.Module:
    return TemporalSandglassLayer(
        channel, temporal_window_size, reduct_ratio, stride=stride, residual=residual, bias=bias, act=act
    )
