"""MS-G3D's temporal windows: the w frames around each output frame gathered side by side, with a backward that adds
each window's gradient back onto its frames in place.

PyTorch's backward of ``unfold`` (``unfold_backward``) sums, for every input frame, the windows that read it one
element at a time; adding each window frame's whole gradient slice onto the frames it came from is one strided sum
per window frame. On a 2-core Zen 5 EPYC the windows' forward and backward took 0.3-0.5 of their time at MS-G3D's
sizes, (8, 96-192, 32-64, 25) with windows of 3 and 5 frames.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

__all__ = ["unfold_frames", "UnfoldFrames"]


def unfold_frames(x: torch.Tensor, window_size: int, stride: int, dilation: int, padding: int) -> torch.Tensor:
    """Windows of ``window_size`` frames every ``stride`` frames, ``dilation`` apart, after ``padding`` zero frames
    at each end: x (N, C, T, V) -> (N, C, T', w*V), node ``i*V + v`` joint v of window frame i. On the CPU through
    :class:`UnfoldFrames`; elsewhere, where its backward has not been timed, with ``unfold``'s own."""
    if x.device.type == "cpu":
        return UnfoldFrames.apply(x, window_size, stride, dilation, padding)
    return _windows(x, window_size, stride, dilation, padding)


def _windows(x: torch.Tensor, w: int, s: int, d: int, padding: int) -> torch.Tensor:
    """The windows as a strided view of the zero-padded x, copied once: (N, C, T, V) -> (N, C, T', w*V)."""
    n, c, _, v = x.shape
    windows = F.pad(x, (0, 0, padding, padding)).unfold(2, d * (w - 1) + 1, s)[..., ::d]  # (N, C, T', V, w)
    return windows.permute(0, 1, 2, 4, 3).reshape(n, c, windows.shape[2], w * v)


class UnfoldFrames(torch.autograd.Function):
    """:func:`unfold_frames`. Forward: a strided view of the zero-padded input, copied once into (N, C, T', w*V).
    Backward: window frame i's gradient (N, C, T', V) added onto padded frames ``d*i, d*i + s, ...`` (one strided sum
    per window frame), the window frames taken last to first so that each frame's shares are added in the order of
    the windows, as ``unfold``'s backward adds them: the gradient is the same bit for bit."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, window_size: int, stride: int, dilation: int, padding: int) -> torch.Tensor:
        ctx.geometry = x.shape[2], window_size, stride, dilation, padding
        return _windows(x, window_size, stride, dilation, padding)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None, None]:
        t, w, s, d, p = ctx.geometry
        n, c, t_out, nodes = grad.shape
        per_frame = grad.reshape(n, c, t_out, w, nodes // w)
        grad_padded = grad.new_zeros(n, c, t + 2 * p, nodes // w)
        for i in reversed(range(w)):  # a frame's later windows read it at an earlier window frame
            grad_padded[:, :, d * i : d * i + s * (t_out - 1) + 1 : s] += per_frame[:, :, :, i]
        return grad_padded[:, :, p : p + t], None, None, None, None
