"""TSM's temporal shift on skeleton features (N, C, T, V).

Lin, Gan, Han, "TSM: Temporal Shift Module for Efficient Video Understanding", ICCV 2019.
With ``fold = C // fold_div``, channels ``[0, fold)`` read the next frame, channels
``[fold, 2·fold)`` the previous frame (both zero-filled at the clip's ends) and the
rest pass through. No parameters, no multiplications: only memory traffic.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.checks import check_nctv, check_nctvm
from stviz.graph import SkeletonGraph
from stviz.persons import fold_persons, mean_over_persons
from stviz.spatial import PartitionGraphConv

__all__ = [
    "temporal_shift",
    "source_frames",
    "fold_swap_permutation",
    "TemporalShift",
    "ResidualShiftBlock",
    "TSMSkeletonNet",
]

PLACES = ("blockres", "block")


def _check_fold_div(fold_div: int) -> None:
    if not isinstance(fold_div, int) or fold_div < 2:
        raise ValueError(f"fold_div must be an int >= 2 (two folds must fit in C), got {fold_div!r}")


def _check_fold_fits(channels: int, fold_div: int, where: str) -> None:
    """A fold of ``channels // fold_div`` channels must not be empty: with none, nothing would shift."""
    if channels < fold_div:
        raise ValueError(
            f"{where} C={channels} channels, fewer than fold_div={fold_div}: each shifted fold would hold "
            f"C // fold_div = 0 channels and nothing would shift; expected C >= fold_div"
        )


def _shift_slices(x: torch.Tensor, fold: int, reverse: bool) -> torch.Tensor:
    """The shift as three strided copies into one new tensor, then the vacated border frames zeroed: each element
    is read and written once, on every thread, as in a copy. (N, C, T, V) -> (N, C, T, V)."""
    out = torch.empty_like(x)
    ahead, behind = (slice(0, fold), slice(fold, 2 * fold))[:: -1 if reverse else 1]
    out[:, ahead, :-1].copy_(x[:, ahead, 1:])  # frame t takes x[t + 1]
    out[:, ahead, -1:].zero_()
    out[:, behind, 1:].copy_(x[:, behind, :-1])  # frame t takes x[t - 1]
    out[:, behind, :1].zero_()
    out[:, 2 * fold :].copy_(x[:, 2 * fold :])
    return out


class _Shift(torch.autograd.Function):
    """TSM's shift; its backward is the reverse shift (each way one copy-like pass over memory)."""

    @staticmethod
    def forward(x, fold, reverse):
        return _shift_slices(x, fold, reverse)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, ctx.fold, ctx.reverse = inputs

    @staticmethod
    def backward(ctx, grad_out):
        return _Shift.apply(grad_out, ctx.fold, not ctx.reverse), None, None


def temporal_shift(x: torch.Tensor, fold_div: int = 8, reverse: bool = False) -> torch.Tensor:
    """Shift ``C // fold_div`` channels one frame back and as many one frame forward.

    x: (N, C, T, V) -> (N, C, T, V). ``reverse=False`` is TSM's direction: the first
    fold takes ``x[t+1]``, the second ``x[t-1]``; ``reverse=True`` swaps them. The
    gradient is the reverse shift of the output's gradient.
    """
    check_nctv(x, block="temporal_shift")
    _check_fold_div(fold_div)
    _check_fold_fits(x.shape[1], fold_div, "temporal_shift: x has")
    return _Shift.apply(x, x.shape[1] // fold_div, reverse)


def source_frames(channels: int, frames: int, fold_div: int = 8, reverse: bool = False) -> torch.Tensor:
    """Which input frame each output (channel, frame) reads: int64 (C, T), -1 where it is zero-filled."""
    _check_fold_div(fold_div)
    t = torch.arange(frames, dtype=torch.float64).expand(channels, frames)[:, None, :, None]  # (C, 1, T, 1)
    src = temporal_shift(t.permute(1, 0, 2, 3) + 1, fold_div, reverse)[0, :, :, 0]  # frame index + 1, 0 = filled
    return src.round().long() - 1


def fold_swap_permutation(channels: int, fold_div: int = 8) -> torch.Tensor:
    """The channel order that swaps the two shifted folds: int64 (C,).

    With ``p = fold_swap_permutation(C, fold_div)``, ``temporal_shift(x, fold_div, reverse=True)`` equals
    ``temporal_shift(x[:, p], fold_div)[:, p]``: the reversed direction is TSM's direction between two channel
    permutations, which the convolutions before and after can absorb into their weights.
    """
    _check_fold_div(fold_div)
    fold = channels // fold_div
    order = torch.arange(channels)
    order[:fold], order[fold : 2 * fold] = order[fold : 2 * fold].clone(), order[:fold].clone()
    return order


class TemporalShift(nn.Module):
    """TSM's shift as a block: (N, C, T, V) -> (N, C, T, V), zero parameters.

    Upstream: ``TemporalShift.shift`` (mit-han-lab/temporal-shift-module), on (N·T, C, H, W).
    """

    def __init__(self, fold_div: int = 8, reverse: bool = False):
        super().__init__()
        _check_fold_div(fold_div)
        self.fold_div = fold_div
        self.reverse = reverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return temporal_shift(x, self.fold_div, self.reverse)

    def extra_repr(self) -> str:
        return f"fold_div={self.fold_div}, reverse={self.reverse}"


class ResidualShiftBlock(nn.Module):
    """A residual block with TSM's shift, placed as ``make_temporal_shift``'s ``place`` argument names it.

    ``place='blockres'`` (TSM's default, the paper's residual shift): ``relu(x + net(shift(x)))``, the shift
    inside the residual branch, so the identity shortcut keeps each frame's own features. ``place='block'``
    (the paper's in-place shift): ``s = shift(x); relu(s + net(s))``, the shift before the whole block, so the
    shortcut carries shifted features too. x: (N, C, T, V) -> (N, C, T, V); ``net`` must keep the shape.
    ``fold_div=None`` leaves the shift out (``relu(x + net(x))``), for comparisons.
    """

    def __init__(self, net: nn.Module, fold_div: int | None = 8, place: str = "blockres"):
        super().__init__()
        if place not in PLACES:
            raise ValueError(f"ResidualShiftBlock: place must be one of {PLACES}, got {place!r}")
        self.shift = TemporalShift(fold_div) if fold_div else nn.Identity()
        self.net = net
        self.place = place

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, block="ResidualShiftBlock")
        shifted = self.shift(x)
        return torch.relu((shifted if self.place == "block" else x) + self.net(shifted))

    def extra_repr(self) -> str:
        return f"place={self.place!r}"


class TSMSkeletonNet(nn.Module):
    """A small skeleton classifier whose only temporal modelling is TSM's shift.

    Per-frame graph layers (:class:`stviz.spatial.PartitionGraphConv` on the normalised adjacency, BN, ReLU)
    wrapped in :class:`ResidualShiftBlock`, with a temporal average pool (stride 2) before the first two, so
    each block sees one more (pooled) frame on either side. ``fold_div=None`` leaves the shift out: a bag of
    poses (same parameters). x: (N, C, T, V, M) -> logits (N, num_classes).
    """

    def __init__(
        self, num_classes: int, in_channels: int = 3, hidden: int = 16, fold_div: int | None = 4, blocks: int = 3
    ):
        super().__init__()
        graph = SkeletonGraph("ntu-rgb+d")
        a = graph.normalized("digraph")[None]  # (1, V, V)
        self.in_channels, self.num_joints = in_channels, graph.num_nodes
        self.config = {"num_classes": num_classes, "hidden": hidden, "fold_div": fold_div, "blocks": blocks}
        if fold_div:
            _check_fold_div(fold_div)
            _check_fold_fits(hidden, fold_div, "TSMSkeletonNet: hidden has")
        self.min_frames = 2 ** min(blocks, 2)  # T is halved before each of the first two blocks

        def per_frame(c_in: int) -> nn.Sequential:
            return nn.Sequential(PartitionGraphConv(c_in, hidden, a), nn.BatchNorm2d(hidden), nn.ReLU())

        self.data_bn = nn.BatchNorm1d(in_channels * graph.num_nodes)
        self.embed = per_frame(in_channels)
        layers = []
        for i in range(blocks):
            if i < 2:
                layers.append(nn.AvgPool2d((2, 1)))
            layers.append(ResidualShiftBlock(per_frame(hidden), fold_div))
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctvm(x, self.in_channels, self.num_joints, "TSMSkeletonNet", weight=self.fc, min_frames=self.min_frames)
        n = x.shape[0]
        h = self.layers(self.embed(fold_persons(x, self.data_bn)))  # (N*M, hidden, T/4, V)
        return self.fc(mean_over_persons(h.mean((2, 3)), n))  # (N, num_classes)
