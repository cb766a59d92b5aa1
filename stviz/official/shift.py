"""Shift-GCN's temporal adapters: the CUDA ``Shift`` op module and ``Shift_tcn``.

Both use ``grad_mode="official"``: the position gradient is the original CUDA backward's
batch mean followed by ``0.01·sign`` (``1e-4`` where it is 0), and xpos gets 0 (SPEC.md
§5.4). The input gradient is the exact adjoint, as in the original.
"""

from __future__ import annotations

from torch import nn

from stviz.official import register
from stviz.shift import LearnableTemporalShift, ShiftTCN

# Shift_tcn's original keys -> ShiftTCN's keys (by prefix).
_SHIFT_TCN_PREFIXES = {
    "bn.": "bn_in.",
    "shift_in.": "shift_in.",
    "temporal_linear.": "pointwise.",
    "shift_out.": "shift_out.",
    "bn2.": "bn_out.",
}


def _convert_shift_tcn(state_dict: dict, **kwargs) -> dict:
    converted = {}
    for key, value in state_dict.items():
        prefix = next((p for p in _SHIFT_TCN_PREFIXES if key.startswith(p)), None)
        if prefix is None:
            raise KeyError(f"Shift_tcn: unexpected key {key!r}; expected one under {sorted(_SHIFT_TCN_PREFIXES)}")
        converted[_SHIFT_TCN_PREFIXES[prefix] + key[len(prefix) :]] = value
    return converted


@register("shiftgcn", "Shift")
def _shift(channel: int, stride: int = 1, init_scale: float = 3) -> nn.Module:
    return LearnableTemporalShift(channel, stride=stride, init_scale=float(init_scale), grad_mode="official")


@register("shiftgcn", "Shift_tcn", convert=_convert_shift_tcn)
def _shift_tcn(in_channels: int, out_channels: int, kernel_size: int = 9, stride: int = 1) -> nn.Module:
    # kernel_size is accepted and unused, as in the original.
    return ShiftTCN(in_channels, out_channels, stride=stride, grad_mode="official")
