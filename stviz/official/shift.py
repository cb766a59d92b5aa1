"""Shift-GCN's temporal adapters: the CUDA ``Shift`` op module and ``Shift_tcn``.

Both use ``grad_mode="official"``: the position gradient is the original CUDA backward's
batch mean followed by ``0.01·sign`` (``1e-4`` where it is 0), and xpos gets 0.
The input gradient is the exact adjoint, as in the original.
"""

from __future__ import annotations

from torch import nn

from stviz.official import register
from stviz.official.keys import prefixes
from stviz.shift import LearnableTemporalShift, ShiftTCN

# Shift_tcn's original keys -> ShiftTCN's keys (by prefix).
SHIFT_TCN_KEYS = prefixes({"bn.": "bn_in.", "temporal_linear.": "pointwise.", "bn2.": "bn_out."})


@register("shiftgcn", "Shift")
def _shift(channel: int, stride: int = 1, init_scale: float = 3) -> nn.Module:
    return LearnableTemporalShift(channel, stride=stride, init_scale=float(init_scale), grad_mode="official")


@register("shiftgcn", "Shift_tcn", keys=SHIFT_TCN_KEYS)
def _shift_tcn(in_channels: int, out_channels: int, kernel_size: int = 9, stride: int = 1) -> nn.Module:
    # kernel_size is accepted and unused, as in the original.
    return ShiftTCN(in_channels, out_channels, stride=stride, grad_mode="official")
