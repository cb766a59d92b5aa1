"""Which input frames reach each output frame: temporal receptive fields of blocks and stacks.

A receptive field here is a boolean (or weight) matrix ``R`` of shape (T_out, T_in): ``R[t, s]`` says whether
input frame s influences output frame t. Two ways to get it:

* analytically, per layer (:func:`conv_frames`, :func:`multiscale_frames`, :func:`shift_frames`) and composed
  for stacks with :func:`stack_frames` (a boolean matrix product, last layer on the left);
* measured from any block with :func:`jacobian_frames`: the autograd Jacobian of the block's output with respect
  to its input on random probes, summed over channels and joints.

The tests check that both agree on every block of :mod:`stviz.temporal` and on the learnable shift.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from stviz.layers import temporal_padding

__all__ = [
    "conv_frames",
    "multiscale_frames",
    "shift_weights",
    "shift_frames",
    "stack_frames",
    "jacobian_frames",
    "frame_span",
]


def conv_frames(
    num_frames: int, kernel_size: int, stride: int = 1, dilation: int = 1, padding: int | None = None
) -> torch.Tensor:
    """(T_out, T_in) bool: input frames read by a (k, 1) convolution, ``t*stride - pad + j*dilation`` for j < k.

    ``padding`` defaults to the "same" padding of every repo, ``(k + (k-1)(d-1) - 1) // 2``.
    """
    pad = temporal_padding(kernel_size, dilation) if padding is None else padding
    t_out = (num_frames + 2 * pad - dilation * (kernel_size - 1) - 1) // stride + 1
    src = torch.arange(t_out)[:, None] * stride - pad + torch.arange(kernel_size)[None, :] * dilation  # (T_out, k)
    mask = torch.zeros(t_out, num_frames, dtype=torch.bool)
    for t, frames in enumerate(src.tolist()):
        mask[t, [s for s in frames if 0 <= s < num_frames]] = True
    return mask


def multiscale_frames(
    num_frames: int, kernel_size: int | Sequence[int], dilations: Sequence[int], stride: int = 1
) -> torch.Tensor:
    """(T_out, T_in) bool for a multi-scale temporal convolution: the union of its branches.

    Dilated (k, 1) branches, the 3-frame max-pool branch and the strided 1x1 branch (CTR-GCN / MS-G3D).
    """
    sizes = [kernel_size] * len(dilations) if isinstance(kernel_size, int) else list(kernel_size)
    mask = conv_frames(num_frames, 3, stride)  # the max-pool branch reads the same frames as a k=3 conv
    for k, d in zip(sizes, dilations, strict=True):
        mask |= conv_frames(num_frames, k, stride, d)
    return mask


def shift_weights(num_frames: int, ypos: torch.Tensor | float, stride: int = 1) -> torch.Tensor:
    """(C, T_out, T_in) interpolation weights of Shift-GCN's temporal shift, written as an explicit formula.

    Output frame t of channel c reads position ``p = t*stride + ypos[c]`` (``+ 0.5`` when ``stride != 1``):
    weight ``1 - (p - floor p)`` on frame ``floor p`` and ``p - floor p`` on frame ``floor p + 1``, dropping
    frames outside ``[0, T)``. ``T_out = T // stride``.
    """
    ypos = torch.as_tensor(ypos, dtype=torch.float64).reshape(-1).detach()
    t_out = num_frames // stride
    pos = torch.arange(t_out, dtype=torch.float64)[None, :] * stride + ypos[:, None] + (0.5 if stride != 1 else 0.0)
    lo = torch.floor(pos)
    frac = pos - lo  # (C, T_out)
    frames = torch.arange(num_frames, dtype=torch.float64)[None, None, :]  # (1, 1, T_in)
    return (frames == lo[..., None]) * (1 - frac[..., None]) + (frames == lo[..., None] + 1) * frac[..., None]


def shift_frames(num_frames: int, ypos: torch.Tensor | float, stride: int = 1) -> torch.Tensor:
    """(T_out, T_in) bool: frames that any channel of a learnable shift reads with a non-zero weight."""
    return (shift_weights(num_frames, ypos, stride) != 0).any(dim=0)


def stack_frames(*layers: torch.Tensor) -> torch.Tensor:
    """Receptive field of a stack, first layer first: ``R = R_L @ ... @ R_1`` as a boolean product."""
    if not layers:
        raise ValueError("stack_frames needs at least one layer")
    mask = layers[0].bool()
    for layer in layers[1:]:
        if layer.shape[1] != mask.shape[0]:
            raise ValueError(
                f"layer maps {layer.shape[1]} frames but the layer before outputs {mask.shape[0]}: shapes "
                f"{tuple(layer.shape)} after {tuple(mask.shape)}"
            )
        mask = (layer.double() @ mask.double()) > 0
    return mask


def jacobian_frames(
    block: nn.Module,
    num_frames: int,
    channels: int,
    num_joints: int = 3,
    probes: int = 4,
    seed: int = 0,
) -> torch.Tensor:
    """(T_out, T_in) float: ``sum |d y[:, :, t] / d x[:, :, s]|`` of ``block`` on random probes, in eval mode.

    Each row is one backward pass of a random projection of output frame t, so frames reached only through a
    max-pool or an activation that is inactive for all ``probes`` inputs could be missed; with several probes and
    many channels that does not happen in practice (the tests compare with the analytic masks). BatchNorm runs
    on its running statistics: in training mode its batch statistics would connect every frame to every other.
    Use ``> 0`` for the boolean receptive field.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(probes, channels, num_frames, num_joints, generator=gen, dtype=torch.float64)
    x.requires_grad_(True)
    was_training = block.training
    param_dtype = next(iter(block.parameters()), torch.empty(0)).dtype
    block.eval()
    try:
        y = block(x.to(param_dtype))  # (P, C', T_out, V)
        proj = torch.randn(y.shape, generator=gen, dtype=y.dtype)
        rows = []
        for t in range(y.shape[2]):
            (grad,) = torch.autograd.grad((y[:, :, t] * proj[:, :, t]).sum(), x, retain_graph=True)
            rows.append(grad.abs().sum(dim=(0, 1, 3)))  # (T_in,)
    finally:
        block.train(was_training)
    return torch.stack(rows)


def frame_span(mask: torch.Tensor) -> torch.Tensor:
    """(T_out, 2) int: first and last input frame that reaches each output frame (-1, -1 where none)."""
    mask = mask.bool()
    frames = torch.arange(mask.shape[1])
    first = torch.where(mask, frames, mask.shape[1]).amin(dim=1)
    last = torch.where(mask, frames, -1).amax(dim=1)
    empty = ~mask.any(dim=1)
    return torch.stack([first.masked_fill(empty, -1), last], dim=1)
