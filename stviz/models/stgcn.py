"""ST-GCN: its layer (partitioned graph conv + (9, 1) temporal conv + residual) and its model.

Yan et al., "Spatial Temporal Graph Convolutional Networks for Skeleton-Based Action Recognition", AAAI 2018.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.checks import check_nctv, check_odd_kernel
from stviz.graph import SkeletonGraph
from stviz.layers import conv_bn_forward, dropout_, make_residual, residual_forward, temporal_conv
from stviz.models.base import LayerStackModel, scaled_layers
from stviz.models.registry import register_model
from stviz.spatial import PartitionGraphConv

__all__ = ["STGCNBlock", "STGCN"]


class STGCNBlock(nn.Module):
    """ST-GCN layer ``relu(tcn(gcn(x)) + residual(x))``.

    ST-GCN: ``st_gcn``. gcn = :class:`~stviz.spatial.PartitionGraphConv`; tcn = BN, ReLU, (k x 1) conv with
    temporal stride, BN, Dropout; residual = None, identity or 1x1 conv + BN.
    x: (N, C_in, T, V) -> (N, C_out, T', V), T' = floor((T-1)/stride)+1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        A: torch.Tensor | None = None,
        num_subsets: int | None = None,
        temporal_kernel: int = 9,
        stride: int = 1,
        dropout: float = 0.0,
        residual: bool = True,
        edge_importance: bool = False,
    ):
        super().__init__()
        check_odd_kernel(temporal_kernel, "temporal_kernel", block="STGCNBlock")
        self.in_channels = in_channels
        self.gcn = PartitionGraphConv(in_channels, out_channels, A, num_subsets, edge_importance)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            temporal_conv(out_channels, out_channels, temporal_kernel, stride),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(dropout),
        )
        self.residual = make_residual(in_channels, out_channels, stride, residual)

    def forward(self, x: torch.Tensor, A: torch.Tensor | None = None) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, block=type(self).__name__, weight=self.gcn.conv)
        bn_in, _, conv, bn_out, dropout = self.tcn  # eval: each BN folded into the conv before it
        y = dropout_(conv_bn_forward(torch.relu_(self.gcn(x, A, bn=bn_in)), conv, bn_out), dropout.p, self.training)
        if self.residual is not None:
            y += residual_forward(self.residual, x)  # y is a fresh tensor
        return torch.relu_(y)


@register_model("stgcn")
class STGCN(LayerStackModel):
    """ST-GCN: 'spatial' partition, edge importance; NTU-60 configuration by default.

    10 :class:`STGCNBlock` layers (64, 64, 64, 64, 128/2, 128, 128, 256/2, 256, 256), the first without residual
    or dropout; data BN over V*C shared by the persons; head: GAP, mean over persons, 1x1 conv.
    ``A`` defaults to the NTU 'spatial' partition (:meth:`~stviz.graph.SkeletonGraph.stgcn_partition`).
    x: (N, C, T, V, M) -> (N, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 60,
        in_channels: int = 3,
        A: torch.Tensor | None = None,
        edge_importance: bool = True,
        dropout: float = 0.5,
        temporal_kernel: int = 9,
        base_channels: int = 64,
    ):
        if A is None:
            A = SkeletonGraph("ntu-rgb+d").stgcn_partition("spatial", max_hop=1, centre_distance="official")
        super().__init__(in_channels, A.shape[-1])
        self.data_bn = nn.BatchNorm1d(in_channels * self.num_joints)
        layers, last = [], in_channels
        for i, (width, stride) in enumerate(scaled_layers(base_channels)):
            layers.append(
                STGCNBlock(
                    last,
                    width,
                    A,
                    temporal_kernel=temporal_kernel,
                    stride=stride,
                    dropout=0.0 if i == 0 else dropout,
                    residual=i > 0,
                    edge_importance=edge_importance,
                )
            )
            last = width
        self.layers = nn.ModuleList(layers)
        self.classifier = nn.Conv2d(last, num_classes, 1)

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """The 1x1 conv head: (N, C) -> (N, num_classes)."""
        return self.classifier(pooled[:, :, None, None]).flatten(1)
