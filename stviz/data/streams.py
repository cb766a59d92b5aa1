"""The bone and motion input streams of multi-stream skeleton models, as CTR-GCN's feeder computes them.

Both work on one sample (C, T, V, M) or a batch (N, C, T, V, M), as torch tensors or numpy arrays, and return the
same type and shape. CTR-GCN's feeder applies the bone transform first, then motion, so the bone-motion stream is
``motion_stream(bone_stream(x))``.
"""

from __future__ import annotations

import numpy as np
import torch

from stviz.graph import SkeletonGraph

__all__ = ["bone_stream", "motion_stream"]

_NTU_PARENT = SkeletonGraph().bone_parent


def _check(x, name: str, num_joints: int | None = None) -> None:
    if not isinstance(x, torch.Tensor | np.ndarray):
        raise TypeError(f"{name}: x must be a torch.Tensor or numpy array, got {type(x).__name__}")
    if x.ndim not in (4, 5):
        raise ValueError(f"{name}: x must have shape (C, T, V, M) or (N, C, T, V, M), got {tuple(x.shape)}")
    if not (x.is_floating_point() if isinstance(x, torch.Tensor) else np.issubdtype(x.dtype, np.floating)):
        raise TypeError(f"{name}: x must hold float coordinates, got dtype {x.dtype} (integer differences wrap)")
    if num_joints is not None and x.shape[-2] != num_joints:
        raise ValueError(f"{name}: x has V={x.shape[-2]} joints but the parent list has {num_joints}")


def bone_stream(x, parent: tuple[int, ...] = _NTU_PARENT):
    """Bones ``x[..., v, :] - x[..., parent[v], :]`` along V; the centre (its own parent) gives 0.

    ``parent`` defaults to ``SkeletonGraph().bone_parent``, CTR-GCN's NTU bone pairs.
    """
    _check(x, "bone_stream", len(parent))
    return x - x[..., list(parent), :]


def motion_stream(x):
    """Frame differences ``x[t + 1] - x[t]`` along T; the last frame is 0, as in CTR-GCN's feeder."""
    _check(x, "motion_stream")
    out = torch.zeros_like(x) if isinstance(x, torch.Tensor) else np.zeros_like(x)
    out[..., :-1, :, :] = x[..., 1:, :, :] - x[..., :-1, :, :]
    return out
