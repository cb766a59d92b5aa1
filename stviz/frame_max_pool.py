"""Max-pooling along frames, ``nn.MaxPool2d((k, 1), (s, 1), (p, 0))``, as the maximum of k strided frame slices.

The multi-scale TCNs (CTR-GCN, MS-G3D) have a max-pool branch, (3, 1) with padding 1. PyTorch's ``max_pool2d``
records where each maximum lies, which costs more than the maxima themselves. On a 2-core Zen 5 EPYC, forward and
backward at the TCNs' sizes, (8, 16-64, 16-64, 25): 0.46-0.52 of ``max_pool2d``'s time at stride 1, 0.72 at stride
2; without autograd, the forward alone is several times faster.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

__all__ = ["max_pool_frames", "FramesMaxPool"]


def max_pool_frames(x: torch.Tensor, pool: nn.MaxPool2d) -> torch.Tensor:
    """``pool(x)`` for a (k, 1) max-pool along T: (N, C, T, V) -> (N, C, T', V), through :class:`FramesMaxPool`.

    The values are ``pool``'s, NaN included, and so are the gradients: a tie's goes to its first maximum. Any other
    pool (a window across joints, dilation, ``ceil_mode``) runs as ``pool`` itself, and so does any pool off the CPU,
    where this function has not been timed.
    """
    k, kw = _pair(pool.kernel_size)
    s, sw = _pair(pool.stride if pool.stride is not None else pool.kernel_size)
    p, pw = _pair(pool.padding)
    unusual = kw != 1 or sw != 1 or pw != 0 or _pair(pool.dilation) != (1, 1) or pool.ceil_mode or k < 2
    if unusual or x.device.type != "cpu":
        return pool(x)
    return FramesMaxPool.apply(x, k, s, p)


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, tuple | list) else (value, value)


class FramesMaxPool(torch.autograd.Function):
    """``max_pool2d(x, (k, 1), (s, 1), (p, 0))`` for k >= 2: x (N, C, T, V) -> (N, C, T', V).

    Forward: the elementwise maximum of the k frame slices that a window's taps read, from a copy of x padded with
    -inf. Backward: each output's gradient goes to the first tap that holds its maximum (taps in order, what is
    left after each), and the taps' shares are added up in the order of the outputs, as ``max_pool2d``'s backward
    adds them, so the gradient is its gradient bit for bit. Where the output or its gradient holds a NaN or an
    infinity (a maximum whose tap this comparison cannot tell, or a share that subtraction would make NaN), the
    backward is ``max_pool2d``'s own.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, k: int, s: int, p: int) -> torch.Tensor:
        t_out = (x.shape[2] + 2 * p - k) // s + 1
        padded = F.pad(x, (0, 0, p, p), value=float("-inf")) if p else x
        stop = s * (t_out - 1) + 1  # a tap's slice j : j + stop : s holds the T' frames it reads
        out = torch.maximum(padded[:, :, 0:stop:s], padded[:, :, 1 : 1 + stop : s])
        for j in range(2, k):
            torch.maximum(out, padded[:, :, j : j + stop : s], out=out)
        ctx.save_for_backward(padded, out)  # padded is x itself when p = 0
        ctx.window = k, s, p, stop, x.shape[2]
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        padded, out = ctx.saved_tensors
        k, s, p, stop, t = ctx.window
        if not torch.isfinite(out.sum() + grad.sum()):  # a NaN or infinity in either (or a sum too large: safe)
            with torch.enable_grad():
                leaf = padded[:, :, p : p + t].detach().requires_grad_()
                pooled = F.max_pool2d(leaf, (k, 1), (s, 1), (p, 0))
            return torch.autograd.grad(pooled, leaf, grad)[0], None, None, None
        left, shares = grad, []
        for j in range(k):  # the first tap that holds the maximum takes the gradient
            share = left * (padded[:, :, j : j + stop : s] == out)
            shares.append(share)
            if j + 1 < k:
                left = left - share
        grad_padded = grad.new_zeros(padded.shape)
        for j in reversed(range(k)):  # a frame's shares from earlier outputs first, as max_pool2d adds them
            grad_padded[:, :, j : j + stop : s] += shares[j]
        return grad_padded[:, :, p : p + t], None, None, None
