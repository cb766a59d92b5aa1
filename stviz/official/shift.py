"""Shift-GCN's temporal adapters: the CUDA ``Shift`` op module and ``Shift_tcn``, with the original's inert xpos.

Both use ``grad_mode="official"``: the position gradient is the original CUDA backward's
batch mean followed by ``0.01·sign`` (``1e-4`` where it is 0). The input gradient is the exact
adjoint, as in the original.

The original's shift also stores ``xpos``, a second position (uniform in ±1e-8) along the joint
index: it moves the sample by less than float32 can resolve, and its gradient is forced to 0. stviz's
:class:`~stviz.shift.LearnableTemporalShift` has no such parameter; :class:`ShiftWithInertXpos` adds it
here, so that the original's checkpoints load strictly and its parameter count is matched.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.official import register
from stviz.official.keys import prefixes
from stviz.ops import check_finite_positions
from stviz.shift import LearnableTemporalShift, ShiftTCN

__all__ = ["ShiftWithInertXpos", "with_inert_xpos"]

# Shift_tcn's original keys -> ShiftTCN's keys (by prefix).
SHIFT_TCN_KEYS = prefixes({"bn.": "bn_in.", "temporal_linear.": "pointwise.", "bn2.": "bn_out."})


class _InertXpos(torch.autograd.Function):
    """Identity on ypos (C,); the original's backward gives xpos (C,) a zero gradient."""

    @staticmethod
    def forward(ypos, xpos):
        return ypos.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.xpos_like = inputs[1].detach()

    @staticmethod
    def backward(ctx, grad):
        return grad, torch.zeros_like(ctx.xpos_like)


class ShiftWithInertXpos(LearnableTemporalShift):
    """:class:`~stviz.shift.LearnableTemporalShift` plus the original's ``xpos`` (C,): no effect, zero gradient.

    (N, C, T, V) -> (N, C, T // stride, V), exactly as the core module.
    """

    def __init__(self, channels: int, stride: int = 1, init_scale: float = 3.0, grad_mode: str = "official"):
        super().__init__(channels, stride=stride, init_scale=init_scale, grad_mode=grad_mode)
        self.xpos = nn.Parameter(torch.empty(channels).uniform_(-1e-8, 1e-8))

    def positions(self) -> torch.Tensor:
        """``ypos`` (C,), through a function that gives ``xpos`` its zero gradient. A NaN xpos is refused."""
        check_finite_positions("ShiftWithInertXpos", "xpos", self.xpos)
        return _InertXpos.apply(self.ypos, self.xpos) if self.xpos.requires_grad else self.ypos


def with_inert_xpos(module: nn.Module) -> nn.Module:
    """Replace every :class:`~stviz.shift.LearnableTemporalShift` inside ``module`` by a
    :class:`ShiftWithInertXpos` with the same positions and options, in place; returns ``module``."""
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if type(child) is LearnableTemporalShift:
                shift = ShiftWithInertXpos(child.channels, child.stride, child.init_scale, child.grad_mode)
                with torch.no_grad():
                    shift.ypos.copy_(child.ypos)
                setattr(parent, name, shift)
    return module


@register("shiftgcn", "Shift")
def _shift(channel: int, stride: int = 1, init_scale: float = 3) -> nn.Module:
    return ShiftWithInertXpos(channel, stride=stride, init_scale=float(init_scale))


@register("shiftgcn", "Shift_tcn", keys=SHIFT_TCN_KEYS)
def _shift_tcn(in_channels: int, out_channels: int, kernel_size: int = 9, stride: int = 1) -> nn.Module:
    # kernel_size is accepted and unused, as in the original.
    return with_inert_xpos(ShiftTCN(in_channels, out_channels, stride=stride, grad_mode="official"))
