"""CTR-GCN: its layer (channel-wise topology unit + multi-scale temporal conv + residual) and its model.

Chen et al., "Channel-wise Topology Refinement Graph Convolution for Skeleton-Based Action Recognition", ICCV 2021.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from stviz.checks import check_nctv
from stviz.graph import SkeletonGraph
from stviz.init import kaiming_conv
from stviz.layers import add_residual, make_residual
from stviz.models.base import LayerStackModel, scaled_layers
from stviz.models.registry import register_model
from stviz.spatial import ChannelTopologyUnit
from stviz.temporal import MultiScaleTemporalConv

__all__ = ["ChannelTopologyBlock", "CTRGCN"]


class ChannelTopologyBlock(nn.Module):
    """CTR-GCN layer ``relu(mstcn(unit(x)) + residual(x))``.

    CTR-GCN: ``TCN_GCN_unit``. unit = :class:`~stviz.spatial.ChannelTopologyUnit`; the temporal part is
    :class:`~stviz.temporal.MultiScaleTemporalConv` (4 branches, kernel 5, dilations 1 and 2, no residual of
    its own); residual = None, identity or a strided 1x1 conv + BN. ``rel_channels`` goes to the unit.
    x: (N, C_in, T, V) -> (N, C_out, floor((T-1)/stride)+1, V).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        A: torch.Tensor,
        stride: int = 1,
        residual: bool = True,
        adaptive: bool = True,
        temporal_kernel: int = 5,
        dilations: tuple[int, ...] = (1, 2),
        rel_channels: int | None = None,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.gcn1 = ChannelTopologyUnit(in_channels, out_channels, A, adaptive=adaptive, rel_channels=rel_channels)
        self.tcn1 = MultiScaleTemporalConv(
            out_channels, out_channels, temporal_kernel, stride, dilations, residual=False, init="ctrgcn"
        )
        self.residual = make_residual(in_channels, out_channels, stride, residual)
        if isinstance(self.residual, nn.Sequential):
            kaiming_conv(self.residual[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, block=type(self).__name__, weight=self.gcn1.bn)
        return torch.relu(add_residual(self.tcn1(self.gcn1(x)), x, self.residual))


@register_model("ctrgcn")
class CTRGCN(LayerStackModel):
    """CTR-GCN, NTU-60 configuration by default.

    Data BN over M*V*C; 10 :class:`ChannelTopologyBlock` layers (the first without residual, with
    ``first_rel_channels`` relation channels since it reads raw coordinates); head: GAP, mean over persons,
    dropout, linear. ``A`` defaults to the NTU (self, inward, outward) partition.
    x: (N, C, T, V, M) -> (N, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 60,
        in_channels: int = 3,
        num_persons: int = 2,
        A: torch.Tensor | None = None,
        dropout: float = 0.0,
        adaptive: bool = True,
        first_rel_channels: int = 8,
        base_channels: int = 64,
    ):
        A = SkeletonGraph("ntu-rgb+d").inward_outward() if A is None else A
        super().__init__(in_channels, A.shape[-1])
        self.num_persons = num_persons
        self.data_bn = nn.BatchNorm1d(num_persons * self.num_joints * in_channels)
        layers, last = [], in_channels
        for i, (width, stride) in enumerate(scaled_layers(base_channels)):
            rel_channels = first_rel_channels if i == 0 else None
            layers.append(
                ChannelTopologyBlock(
                    last, width, A, stride=stride, residual=i > 0, adaptive=adaptive, rel_channels=rel_channels
                )
            )
            last = width
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(last, num_classes)
        nn.init.normal_(self.fc.weight, 0, math.sqrt(2.0 / num_classes))
