"""Input validation shared by every block: errors that say what was expected."""

from __future__ import annotations

import torch

__all__ = ["check_nctv", "check_nctvm", "check_float"]


def check_float(x: torch.Tensor, name: str = "x") -> None:
    """Raise ``TypeError`` unless ``x`` is a floating-point tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def check_nctv(
    x: torch.Tensor,
    channels: int | None = None,
    num_joints: int | None = None,
    name: str = "x",
    block: str | None = None,
) -> None:
    """Check a block input of shape (N, C, T, V).

    Raises ``TypeError`` for a non-float tensor and ``ValueError`` for a wrong
    rank, channel count or joint count, naming what was expected.
    """
    where = f"{block}: " if block else ""
    check_float(x, f"{where}{name}")
    if x.dim() != 4:
        raise ValueError(f"{where}{name} must have shape (N, C, T, V), got {x.dim()} dims {tuple(x.shape)}")
    n, c, t, v = x.shape
    if channels is not None and c != channels:
        raise ValueError(
            f"{where}{name} has C={c} channels, expected {channels} (shape (N, C, T, V) = {tuple(x.shape)})"
        )
    if num_joints is not None and v != num_joints:
        raise ValueError(
            f"{where}{name} has V={v} joints, but the graph has {num_joints} (shape (N, C, T, V) = {tuple(x.shape)})"
        )


def check_nctvm(x: torch.Tensor, channels: int, num_joints: int, model: str, branches: int | None = None) -> None:
    """Check a model input (N, C, T, V, M), or (N, I, C, T, V, M) when ``branches`` is given.

    Raises ``TypeError`` for a non-float tensor and ``ValueError`` for a wrong rank, channel, joint or branch count.
    """
    check_float(x, f"{model}: x")
    want = "(N, C, T, V, M)" if branches is None else "(N, I, C, T, V, M)"
    if x.dim() != (5 if branches is None else 6):
        raise ValueError(f"{model}: x must have shape {want}, got {x.dim()} dims {tuple(x.shape)}")
    c, v = x.shape[-4], x.shape[-2]
    if branches is not None and x.shape[1] != branches:
        raise ValueError(f"{model}: x has I={x.shape[1]} input branches, expected {branches} (shape {tuple(x.shape)})")
    if c != channels:
        raise ValueError(f"{model}: x has C={c} channels, expected {channels} (shape {want} = {tuple(x.shape)})")
    if v != num_joints:
        raise ValueError(
            f"{model}: x has V={v} joints, but the graph has {num_joints} (shape {want} = {tuple(x.shape)})"
        )
