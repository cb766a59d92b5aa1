"""Adapters for the temporal blocks: CTR-GCN's and MS-G3D's ``MultiScale_TemporalConv`` and EfficientGCN's
``Temporal_Basic_Layer``, ``Temporal_Bottleneck_Layer``, ``Temporal_Sep_Layer`` and ``Temporal_SG_Layer``.

The stviz blocks keep the original module layout (``branches.<i>.<j>``, ``reduct_conv.0``, ``depth_conv.1``,
...); only the multi-scale TCNs' residual projection moves from ``residual.conv`` / ``residual.bn`` to
``residual.0`` / ``residual.1``. EfficientGCN's ``act`` is given by name (``"swish"``, ``"hswish"``, ``"relu"``,
``"relu6"``) or as a module; its layers swallow unrelated keyword arguments through ``**kwargs`` (the network
passes ``reduct_ratio`` and ``expand_ratio`` to every layer), and so does :func:`stviz.official.build`.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from stviz.init import kaiming_conv
from stviz.models.efficientgcn import temporal_layer
from stviz.official import register
from stviz.official.keys import prefixes
from stviz.official.spatial import RESIDUAL_UNIT, activation_name
from stviz.temporal import MSG3DTemporalConv, MultiScaleTemporalConv, TemporalConvBN


@register("ctrgcn", "MultiScale_TemporalConv", keys=prefixes(RESIDUAL_UNIT))
def _ctrgcn_mstcn(
    in_channels: int, out_channels: int, kernel_size: int | Sequence[int] = 3, stride: int = 1,
    dilations: Sequence[int] = (1, 2, 3, 4), residual: bool = True, residual_kernel_size: int = 1,
) -> nn.Module:  # fmt: skip
    # No activation after the sum; weights_init draws BN weights from N(1, 0.02) (init="ctrgcn").
    args = (in_channels, out_channels, kernel_size, stride, dilations, residual, residual_kernel_size)
    return MultiScaleTemporalConv(*args, activation=None, init="ctrgcn")


@register("msg3d", "MultiScale_TemporalConv", keys=prefixes(RESIDUAL_UNIT))
def _msg3d_mstcn(
    in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, dilations: Sequence[int] = (1, 2, 3, 4),
    residual: bool = True, residual_kernel_size: int = 1, activation: str | None = "relu",
) -> nn.Module:  # fmt: skip
    # The original's one activation acts inside the branches and after the sum.
    args = (in_channels, out_channels, kernel_size, stride, dilations, residual, residual_kernel_size)
    return MSG3DTemporalConv(*args, activation=activation, branch_activation=activation)


def _effgcn_temporal(layer_type: str):
    """The adapter of one EfficientGCN temporal layer class (``Temporal_<type>_Layer``)."""

    def build(
        channel: int, temporal_window_size: int, bias: bool, stride: int = 1, residual: bool = True, act="swish",
        expand_ratio: int = 2, reduct_ratio: int = 4, **_,
    ) -> nn.Module:  # fmt: skip
        return temporal_layer(
            layer_type, channel, temporal_window_size, stride, expand_ratio, reduct_ratio, bias, activation_name(act),
            residual,
        )  # fmt: skip

    return build


for _name, _layer_type in {
    "Temporal_Basic_Layer": "Basic",
    "Temporal_Sep_Layer": "Sep",
    "Temporal_Bottleneck_Layer": "Bottleneck",
    "Temporal_SG_Layer": "SG",
}.items():
    register("effgcn", _name)(_effgcn_temporal(_layer_type))


# ---------------------------------------------------------------------------- plain temporal convolutions


@register("ctrgcn", "TemporalConv")
@register("msg3d", "TemporalConv")
def _temporal_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1):
    # A (k, 1) conv with "same" padding, then BN; PyTorch's default init (the MS-TCN that holds it re-initialises).
    return TemporalConvBN(in_channels, out_channels, kernel_size, stride, dilation)


def _conv_bn_initialised(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> TemporalConvBN:
    # CTR-GCN's unit_tcn and Shift-GCN's tcn: conv_init (Kaiming, fan-out) and BN 1 / 0 in their constructors.
    block = TemporalConvBN(in_channels, out_channels, kernel_size, stride)
    kaiming_conv(block.conv)
    return block


@register("ctrgcn", "unit_tcn")
@register("shiftgcn", "tcn")
def _unit_tcn(in_channels: int, out_channels: int, kernel_size: int = 9, stride: int = 1):
    return _conv_bn_initialised(in_channels, out_channels, kernel_size, stride)


# ---------------------------------------------------------------------------- EfficientGCN's activation modules


@register("effgcn", "Swish")
def _swish(inplace: bool = False):
    return nn.SiLU(inplace=inplace)


@register("effgcn", "HardSwish")
def _hard_swish(inplace: bool = False):
    return nn.Hardswish(inplace=inplace)
