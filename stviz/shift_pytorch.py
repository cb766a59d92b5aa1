"""Shift-GCN's learnable temporal shift in plain PyTorch: the fallback of :mod:`stviz.ops`.

Every output row of the shift (one frame of one channel, V values) is a weighted sum of at most two input
rows, and so is every row of its input gradient. Each is therefore one ``F.embedding_bag`` call: a gather of
whole rows that adds them with per-row weights, in one pass over memory. A row outside the clip, or one whose
weight is 0, is left out of its bag, so it is never read (an empty bag gives 0), exactly as in the compiled
kernels. The backward gathers, in the same call, the rows of grad_out whose dot product with x gives the
position gradient.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


def _taps(offset: torch.Tensor, frames: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """First tap of output frame 0 per channel, int64 (C,), and the weight ``frac`` of the second tap, (C,)."""
    offset = offset.detach().cpu().numpy()
    floor = np.floor(offset)
    span = (frames // stride) * stride
    start = np.clip(floor, -(span + 2), frames + 1).astype(np.int64)  # beyond that, every tap is outside
    return start, offset - floor


def _join(arrays: list[np.ndarray]) -> np.ndarray:
    """``np.concatenate`` without the copy of a single array (these arrays are megabytes)."""
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


class _Gather:
    """One ``F.embedding_bag`` call that builds P tensors (N, C, R, V) from one source (N, C, rows_in, V).

    rows: (C, R, 2): the two source rows (within their plane) of each of the R output rows per channel; one
    ``keep`` mask (C, R, 2) per output tells which of them count there. Each output row is the weighted sum of
    its kept source rows. The index arrays repeat one sample's pattern over the batch and are built once per
    plan; the tap weights change with the positions, so one sample's are computed on every call and repeated
    over the batch by one broadcasting copy. The indices are int32 (half the bytes of int64) while every index
    fits.
    """

    def __init__(self, rows: np.ndarray, keeps: list[np.ndarray], shape: tuple, device: torch.device):
        n, c, rows_in, _ = shape
        index_type = np.int32 if max(n * c * rows_in, 2 * n * rows.size) < 2**31 else np.int64
        sample = np.arange(n, dtype=index_type)[:, None]
        flat_rows = rows + rows_in * np.arange(c)[:, None, None]
        indices, offsets, done = [], [], 0
        for keep in keeps:
            pattern = flat_rows[keep].astype(index_type)  # one sample, bag by bag
            counts = keep.sum(-1).ravel()  # entries per bag: 0, 1 or 2
            starts = (np.cumsum(counts) - counts).astype(index_type)
            indices.append((pattern + sample * (c * rows_in)).ravel())
            offsets.append((starts + sample * len(pattern)).ravel() + done)
            done += n * len(pattern)
        self.indices = torch.from_numpy(_join(indices)).to(device)
        self.offsets = torch.from_numpy(_join(offsets)).to(device)
        self.keeps, self.rows_out = keeps, rows.shape[1]

    def __call__(self, src: torch.Tensor, weights: list[np.ndarray]) -> torch.Tensor:
        """(N, C, rows_in, V) -> (P, N, C, R, V), with one array of tap weights (C, R, 2) per output."""
        n, c, _, v = src.shape
        weight_type = np.float64 if src.dtype == torch.float64 else np.float32
        per_sample, done = src.new_empty(len(self.indices)), 0
        for w, keep in zip(weights, self.keeps, strict=True):  # one sample's weights, repeated over the batch
            sample = torch.from_numpy(w[keep].astype(weight_type)).to(src.device, src.dtype)
            per_sample[done : done + n * len(sample)].view(n, -1).copy_(sample)
            done += n * len(sample)
        rows = src.detach().reshape(-1, v)  # detached: embedding_bag does extra bookkeeping for a weight needing grad
        out = F.embedding_bag(self.indices, rows, self.offsets, mode="sum", per_sample_weights=per_sample)
        return out.view(len(self.keeps), n, c, self.rows_out, v)


_PLANS: dict = {}  # (direction, shape, stride, device, integer taps, zero weights, parts) -> _Gather
_MAX_PLANS = 8


def _plan(key: tuple, build) -> _Gather:
    """The gather plan for ``key``, built by ``build()`` on a miss. A plan depends only on the integer parts of
    the positions (and on which weights are exactly 0), which change rarely during training, so the index arrays
    are built once per pattern; the blend weights are computed on every call."""
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.pop(next(iter(_PLANS)))
        plan = _PLANS[key] = build()
    return plan


def _blend(frac: np.ndarray) -> np.ndarray:
    """Weights (C, 1, 2) of the two taps: ``1 - frac`` and ``frac``."""
    return np.stack([1 - frac, frac], -1)[:, None, :]


_SIGNS = np.array([-1.0, 1.0])  # d/d frac of the blend: the second tap minus the first


def shift_forward(x: torch.Tensor, offset: torch.Tensor, stride: int) -> torch.Tensor:
    """(N, C, T, V) -> (N, C, T // stride, V): frame t of channel c is x interpolated at ``t·stride + offset[c]``."""
    frames = x.shape[2]
    start, frac = _taps(offset, frames, stride)
    blend = _blend(frac)

    def build():
        rows = start[:, None, None] + (stride * np.arange(frames // stride))[:, None] + np.arange(2)  # (C, T', 2)
        keep = (rows >= 0) & (rows < frames) & (np.broadcast_to(blend, rows.shape) != 0)
        return _Gather(rows, [keep], x.shape, x.device)

    key = ("forward", tuple(x.shape), stride, x.device, start.tobytes(), (blend == 0).tobytes())
    gather = _plan(key, build)
    return gather(x, [np.broadcast_to(blend, (len(start), gather.rows_out, 2))])[0]


def shift_backward(
    grad_out: torch.Tensor, x: torch.Tensor, offset: torch.Tensor, stride: int, need_x: bool, need_offset: bool
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The input gradient (N, C, T, V) and the offset gradient (C,) from grad_out (N, C, T // stride, V).

    Input frame i received weight ``1 - frac`` from output frame ``(i - start) / stride`` and ``frac`` from
    ``(i - start - 1) / stride``, where the division is exact and lands in the output: the input gradient
    gathers those rows of grad_out. The offset gradient is the sum over n, t, v of
    ``grad_out[t] · (x[hi] - x[lo])``; read from the input's side that is ``<x, E>`` with
    ``E[i] = grad_out[(i - start - 1) / stride] - grad_out[(i - start) / stride]``, which the same call gathers.
    """
    n, c, frames, v = x.shape
    start, frac = _taps(offset, frames, stride)
    blend = _blend(frac)

    def build():
        delta = np.arange(frames)[:, None] - start[:, None, None] - np.arange(2)  # (C, T, 2)
        valid = (delta >= 0) & (delta % stride == 0) & (delta < grad_out.shape[2] * stride)
        keeps = ([valid & (np.broadcast_to(blend, delta.shape) != 0)] if need_x else []) + (
            [valid] if need_offset else []
        )
        return _Gather(delta // stride, keeps, grad_out.shape, grad_out.device)

    key = ("backward", tuple(x.shape), stride, x.device, start.tobytes(), (blend == 0).tobytes(), need_x, need_offset)
    weights = ([np.broadcast_to(blend, (c, frames, 2))] if need_x else []) + (
        [np.broadcast_to(_SIGNS, (c, frames, 2))] if need_offset else []
    )
    gathered = _plan(key, build)(grad_out, weights)  # (P, N, C, T, V)
    grad_x = gathered[0] if need_x else None
    grad_offset = None
    if need_offset:
        # one dot product per (n, c) plane; matmul with a transposed row view runs at memory speed
        e = gathered[-1].reshape(n * c, 1, -1)
        grad_offset = (x.detach().reshape(n * c, 1, -1) @ e.transpose(1, 2)).view(n, c).sum(0)
    return grad_x, grad_offset


class GatherShift(torch.autograd.Function):
    """The shift with its exact gradients in x and offset: ``GatherShift.apply(x, offset, stride)``."""

    @staticmethod
    def forward(x, offset, stride):
        return shift_forward(x, offset, stride)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, offset, stride = inputs
        ctx.stride = stride
        ctx.save_for_backward(x, offset)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, offset = ctx.saved_tensors
        need_x, need_offset = ctx.needs_input_grad[:2]
        grad_x, grad_offset = shift_backward(grad_out.contiguous(), x, offset, ctx.stride, need_x, need_offset)
        return grad_x, None if grad_offset is None else grad_offset.to(offset.dtype), None
