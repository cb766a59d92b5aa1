"""TSM adapters: ``TemporalShift.shift`` on TSM's native (N·T, C, H, W) layout."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from stviz.checks import check_float, check_positive_int
from stviz.official import register
from stviz.tsm import temporal_shift


class NativeTemporalShift(nn.Module):
    """TSM: ``TemporalShift.shift(x, n_segment, fold_div)``: (N·T, C, H, W) -> (N·T, C, H, W).

    Views the input as (N, C, T, H·W) and calls :func:`stviz.tsm.temporal_shift`.
    """

    def __init__(self, n_segment: int, fold_div: int = 3):
        super().__init__()
        check_positive_int(n_segment, "n_segment", block="TemporalShift.shift")
        self.n_segment = n_segment
        self.fold_div = fold_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_float(x, "TemporalShift.shift: x")
        if x.dim() != 4 or x.shape[0] % self.n_segment:
            raise ValueError(
                f"TemporalShift.shift: x must have shape (N*T, C, H, W) with N*T a multiple of "
                f"n_segment={self.n_segment}, got {tuple(x.shape)}"
            )
        nt, c, h, w = x.shape
        if c < self.fold_div:  # folds of C // fold_div = 0 channels: the original returns a copy
            warnings.warn(
                f"TemporalShift.shift: C={c} < fold_div={self.fold_div}: no channel shifts (as in the original)",
                stacklevel=2,
            )
            return x.clone()
        n, t = nt // self.n_segment, self.n_segment
        y = x.reshape(n, t, c, h * w).permute(0, 2, 1, 3)  # (N, C, T, H·W)
        y = temporal_shift(y, self.fold_div)
        return y.permute(0, 2, 1, 3).reshape(nt, c, h, w)  # (N·T, C, H, W)


@register("tsm", "shift")
def _shift(n_segment: int, fold_div: int = 3, inplace: bool = False) -> nn.Module:
    # The staticmethod's own default is fold_div=3; the module's default n_div is 8.
    if inplace:
        raise NotImplementedError("TSM's in-place shift is disabled upstream (since 2019-11-07); use inplace=False")
    return NativeTemporalShift(n_segment, fold_div)
