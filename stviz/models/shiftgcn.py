"""Shift-GCN: its layer (spatial shift graph conv + shift temporal block + residual) and its model.

Cheng et al., "Skeleton-Based Action Recognition with Shift Graph Convolutional Network", CVPR 2020.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from stviz.checks import check_nctv
from stviz.init import kaiming_conv
from stviz.layers import add_residual, make_residual
from stviz.models.base import LayerStackModel, scaled_layers
from stviz.models.registry import register_model
from stviz.shift import ShiftTCN
from stviz.spatial import ShiftGraphConv

__all__ = ["ShiftGCNUnit", "ShiftGCN"]


class ShiftGCNUnit(nn.Module):
    """Shift-GCN layer ``relu(tcn(gcn(x)) + residual(x))``. Shift-GCN: `TCN_GCN_unit`.

    gcn = :class:`~stviz.spatial.ShiftGraphConv` (the paper's non-local shift, cyclic as released);
    tcn = :class:`~stviz.shift.ShiftTCN`; residual = None, identity or a strided 1x1 conv + BN.
    x: (N, C_in, T, V) -> (N, C_out, T // stride, V).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        residual: bool = True,
        num_joints: int = 25,
        grad_mode: str = "exact",
    ):
        super().__init__()
        self.in_channels, self.stride = in_channels, stride
        self.gcn1 = ShiftGraphConv(in_channels, out_channels, num_joints)
        self.tcn1 = ShiftTCN(out_channels, out_channels, stride, grad_mode)
        self.residual = make_residual(in_channels, out_channels, stride, residual)
        if isinstance(self.residual, nn.Sequential):
            kaiming_conv(self.residual[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(
            x, channels=self.in_channels, block=type(self).__name__, weight=self.gcn1.weight, min_frames=self.stride
        )
        y = self.tcn1(self.gcn1(x))  # T // stride frames, as the original's shift
        # a strided 1x1 residual would keep ceil(T / stride) frames: it reads only the frames the shift covers
        return torch.relu(add_residual(y, x[:, :, : y.shape[2] * self.stride], self.residual))


@register_model("shiftgcn")
class ShiftGCN(LayerStackModel):
    """Shift-GCN, one stream, NTU-60 configuration by default.

    Data BN over M*V*C; 10 :class:`ShiftGCNUnit` layers; head: GAP, mean over persons, linear (no dropout).
    ``grad_mode`` is the temporal shift's position gradient (``"exact"``, or the original's ``"official"``).
    The two stride-2 layers halve T (rounding down), so T must be at least 4.
    x: (N, C, T, V, M) -> (N, num_classes).
    """

    min_frames = 4

    def __init__(
        self,
        num_classes: int = 60,
        in_channels: int = 3,
        num_persons: int = 2,
        num_joints: int = 25,
        grad_mode: str = "exact",
        base_channels: int = 64,
    ):
        super().__init__(in_channels, num_joints)
        self.num_persons = num_persons
        self.data_bn = nn.BatchNorm1d(num_persons * num_joints * in_channels)
        layers, last = [], in_channels
        for i, (width, stride) in enumerate(scaled_layers(base_channels)):
            layers.append(ShiftGCNUnit(last, width, stride, residual=i > 0, num_joints=num_joints, grad_mode=grad_mode))
            last = width
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Identity()  # Shift-GCN has no dropout
        self.fc = nn.Linear(last, num_classes)
        nn.init.normal_(self.fc.weight, 0, math.sqrt(2.0 / num_classes))
