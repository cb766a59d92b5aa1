"""Where a stack of TSM blocks reads its input frames from, for each placement of the shift.

A stack of :class:`stviz.tsm.ResidualShiftBlock` around 1x1 convolutions (which mix channels between shifts)
is run on random clips; the sensitivity of the middle output frame to each input frame is the squared
Jacobian summed over channels, samples and joints. Normalised per depth, it says which share of that output
frame comes from the frame itself and which from frames k steps away.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.checks import check_positive_int
from stviz.tsm import PLACES, ResidualShiftBlock

__all__ = ["shift_stack", "frame_influence"]


def shift_stack(depth: int, channels: int = 32, fold_div: int = 8, place: str = "blockres", seed: int = 0):
    """``depth`` ResidualShiftBlocks around bias-free 1x1 convolutions (PyTorch's default init, seeded).

    (N, C, T, V) -> (N, C, T, V). The same seed gives the same weights for both placements.
    """
    check_positive_int(depth, "depth", block="shift_stack")
    check_positive_int(channels, "channels", minimum=2, block="shift_stack")
    if place not in PLACES:
        raise ValueError(f"shift_stack: place must be one of {PLACES}, got {place!r}")
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        blocks = [
            ResidualShiftBlock(nn.Conv2d(channels, channels, 1, bias=False), fold_div, place) for _ in range(depth)
        ]
    finally:
        torch.random.set_rng_state(gen_state)
    return nn.Sequential(*blocks)


def frame_influence(
    depth: int, place: str, channels: int = 16, frames: int = 15, fold_div: int = 8, samples: int = 4, seed: int = 0
) -> torch.Tensor:
    """Share of the middle output frame's sensitivity that comes from each input frame, after 1, ..., ``depth`` blocks.

    float64 (depth, frames), each row summing to 1. Row ``d - 1``, entry ``t``: ``sum (d y_d[:, :, mid] /
    d x[:, :, t])^2`` over samples, channels and joints, divided by the row's total, where ``y_d`` is the output of
    the first d blocks of ``shift_stack(depth, channels, fold_div, place, seed)`` on ``samples`` random clips
    (N, C, T, 5) and ``mid = frames // 2``. Entry ``mid + k`` is the input frame k steps after the output frame.
    Runs on one thread.
    """
    check_positive_int(frames, "frames", block="frame_influence")
    check_positive_int(samples, "samples", block="frame_influence")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only waits, and stalls on a loaded machine
    try:
        return _frame_influence(
            shift_stack(depth, channels, fold_div, place, seed).double(), channels, frames, samples, seed
        )
    finally:
        torch.set_num_threads(previous)


def _frame_influence(stack: nn.Sequential, channels: int, frames: int, samples: int, seed: int) -> torch.Tensor:
    x = torch.randn(samples, channels, frames, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    x.requires_grad_(True)
    mid, h, rows = frames // 2, x, []
    for block in stack:
        h = block(h)
        energy = torch.zeros(frames, dtype=torch.float64)
        for c in range(channels):
            (grad,) = torch.autograd.grad(h[:, c, mid].sum(), x, retain_graph=True)
            # samples and joints never mix in this stack, so each gradient entry belongs to one (sample, joint)
            energy += grad.pow(2).sum((0, 1, 3))
        rows.append(energy / energy.sum())
    return torch.stack(rows)
