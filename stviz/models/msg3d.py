"""MS-G3D: its layer (multi-scale GCN path + G3D path, then an MS-TCN) and its model.

Liu et al., "Disentangling and Unifying Graph Convolutions for Skeleton-Based Action Recognition", CVPR 2020.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.checks import check_nctv
from stviz.graph import SkeletonGraph
from stviz.models.base import SkeletonModel
from stviz.models.registry import register_model
from stviz.multiscale import MultiScaleGraphConv, MultiWindowG3D
from stviz.persons import fold_persons, pool_persons
from stviz.temporal import MSG3DTemporalConv

__all__ = ["MSG3DStage", "MSG3D"]


class MSG3DStage(nn.Module):
    """One MS-G3D stage ``tcn(relu(sgcn(x) + gcn3d(x)))``.

    ``gcn3d`` is the sum of G3D blocks with windows 3 and 5; ``sgcn`` is a multi-scale GCN then two MS-TCNs
    (the first strided and widening, the last without its final ReLU); ``tcn`` a last MS-TCN. With
    ``widen_in_gcn`` the multi-scale GCN path widens in its graph convolution, with ``widen_in_g3d`` the G3D
    path does (else in its collapse conv). The first stage, on raw coordinates, widens in both.
    x: (N, C_in, T, V) -> (N, C_out, T', V).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        adjacency: torch.Tensor,
        num_gcn_scales: int = 13,
        num_g3d_scales: int = 6,
        stride: int = 1,
        widen_in_gcn: bool = False,
        widen_in_g3d: bool = False,
    ):
        super().__init__()
        self.in_channels = in_channels
        gcn_width = out_channels if widen_in_gcn else in_channels
        self.gcn3d = MultiWindowG3D(
            in_channels, out_channels, adjacency, num_g3d_scales, window_stride=stride,
            graph_channels=out_channels if widen_in_g3d else None,
        )  # fmt: skip
        self.sgcn = nn.Sequential(
            MultiScaleGraphConv(in_channels, gcn_width, adjacency, num_gcn_scales),
            MSG3DTemporalConv(gcn_width, out_channels, stride=stride),
            MSG3DTemporalConv(out_channels, out_channels, activation=None),
        )
        self.tcn = MSG3DTemporalConv(out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, block=type(self).__name__, weight=self.tcn)
        return self.tcn(torch.relu(self.sgcn(x) + self.gcn3d(x)))


@register_model("msg3d")
class MSG3D(SkeletonModel):
    """MS-G3D, NTU configuration by default.

    Three :class:`MSG3DStage` (96, 192/2, 384/2), the first widening in its graph convolutions (its G3D path
    only when ``widen_first_g3d``); data BN over M*V*C; head: GAP, mean over persons, linear.
    ``adjacency`` defaults to the NTU binary graph. x: (N, C, T, V, M) -> (N, num_classes).
    """

    def __init__(
        self,
        num_classes: int = 60,
        in_channels: int = 3,
        num_persons: int = 2,
        num_gcn_scales: int = 13,
        num_g3d_scales: int = 6,
        adjacency: torch.Tensor | None = None,
        widths: tuple[int, int, int] = (96, 192, 384),
        widen_first_g3d: bool = True,
    ):
        adjacency = SkeletonGraph("ntu-rgb+d").binary_adjacency() if adjacency is None else adjacency
        super().__init__(in_channels, adjacency.shape[-1])
        self.num_persons = num_persons
        self.data_bn = nn.BatchNorm1d(num_persons * self.num_joints * in_channels)
        self.stages = nn.ModuleList()
        last = in_channels
        for i, width in enumerate(widths):
            self.stages.append(
                MSG3DStage(
                    last,
                    width,
                    adjacency,
                    num_gcn_scales,
                    num_g3d_scales,
                    stride=1 if i == 0 else 2,
                    widen_in_gcn=i == 0,
                    widen_in_g3d=i == 0 and widen_first_g3d,
                )  # fmt: skip
            )
            last = width
        self.fc = nn.Linear(last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        n = x.shape[0]
        x = fold_persons(x, self.data_bn)  # (N*M, C, T, V)
        for stage in self.stages:
            x = stage(x)
        return self.fc(pool_persons(x, n))
