"""Shift-GCN's temporal modelling: a learnable per-channel shift in time, and ``Shift_tcn``.

Cheng et al., "Skeleton-Based Action Recognition with Shift Graph Convolutional Network",
CVPR 2020. Instead of a (9, 1) temporal convolution, each channel slides along time by a
learned real number of frames (linear interpolation between the two neighbouring
frames), and a 1x1 convolution mixes the channels. The op itself is :mod:`stviz.ops`.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.checks import check_nctv, check_positive_int
from stviz.ops import GRAD_MODES, temporal_shift

__all__ = ["LearnableTemporalShift", "ShiftTCN"]


class LearnableTemporalShift(nn.Module):
    """Shift every channel along time by a learned offset: (N, C, T, V) -> (N, C, T // stride, V).

    Shift-GCN: ``Shift`` (``model/Temporal_shift``). Channel c of output frame t is the
    input linearly interpolated at frame ``t·stride + ypos[c]`` (``+ 0.5`` when
    ``stride != 1``), zero outside the clip. ``ypos`` starts uniform in
    ``±init_scale``. (The original also stores an ``xpos`` that has no effect;
    ``stviz.official`` adds it for checkpoints.) ``grad_mode``: ``"exact"`` (true gradient, default) or
    ``"official"`` (the original's batch-mean ``0.01·sign`` rule); see :mod:`stviz.ops`.
    """

    def __init__(self, channels: int, stride: int = 1, init_scale: float = 3.0, grad_mode: str = "exact"):
        super().__init__()
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(f"LearnableTemporalShift: stride must be a positive int, got {stride!r}")
        if grad_mode not in GRAD_MODES:
            raise ValueError(f"LearnableTemporalShift: grad_mode must be one of {GRAD_MODES}, got {grad_mode!r}")
        check_positive_int(channels, "channels", block="LearnableTemporalShift")
        if not (isinstance(init_scale, int | float) and init_scale >= 0):
            raise ValueError(f"LearnableTemporalShift: init_scale must be a number >= 0 (frames), got {init_scale!r}")
        self.channels = channels
        self.stride = stride
        self.init_scale = init_scale
        self.grad_mode = grad_mode
        self.ypos = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.ypos.uniform_(-self.init_scale, self.init_scale)

    def positions(self) -> torch.Tensor:
        """The per-channel frame offsets the op samples at, (C,)."""
        return self.ypos

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.channels, block=type(self).__name__, weight=self.ypos, min_frames=self.stride)
        return temporal_shift(x, self.positions(), stride=self.stride, grad_mode=self.grad_mode)

    def extra_repr(self) -> str:
        return f"{self.channels}, stride={self.stride}, init_scale={self.init_scale}, grad_mode={self.grad_mode!r}"


class ShiftTCN(nn.Module):
    """Shift-GCN's temporal block: BN, shift, 1x1 conv, ReLU, shift (with the stride), BN.

    Shift-GCN: ``Shift_tcn``. x: (N, C_in, T, V) -> (N, C_out, T // stride, V). The 1x1
    convolution runs at full T; the temporal downsampling happens in the second shift.
    Both shifts start with ``init_scale=1``. The original's last BN has
    ``in_channels`` features; it is used only with ``in == out``, where that equals ours.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, grad_mode: str = "exact"):
        super().__init__()
        self.in_channels = in_channels
        self.bn_in = nn.BatchNorm2d(in_channels)
        self.shift_in = LearnableTemporalShift(in_channels, stride=1, init_scale=1.0, grad_mode=grad_mode)
        self.pointwise = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.shift_out = LearnableTemporalShift(out_channels, stride=stride, init_scale=1.0, grad_mode=grad_mode)
        self.bn_out = nn.BatchNorm2d(out_channels)
        nn.init.kaiming_normal_(self.pointwise.weight, mode="fan_out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(
            x, channels=self.in_channels, block="ShiftTCN", weight=self.pointwise, min_frames=self.shift_out.stride
        )
        x = self.shift_in(self.bn_in(x))
        x = torch.relu(self.pointwise(x))
        return self.bn_out(self.shift_out(x))  # (N, C_out, T // stride, V)
