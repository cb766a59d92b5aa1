"""Input validation shared by every block and model: errors that say what was expected and what was got."""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "check_float",
    "check_nctv",
    "check_nctvm",
    "check_adjacency",
    "check_positive_int",
    "check_odd_kernel",
    "check_choice",
    "check_in_range",
]


def _first_tensor(weight: nn.Module | torch.Tensor | None) -> torch.Tensor | None:
    if weight is None or isinstance(weight, torch.Tensor):
        return weight
    first = next(iter(weight.parameters()), None)
    return first if first is not None else next(iter(weight.buffers()), None)


def check_float(x: torch.Tensor, name: str = "x", weight: nn.Module | torch.Tensor | None = None) -> None:
    """Raise ``TypeError`` unless ``x`` is a floating-point tensor with the dtype and device of ``weight``'s
    parameters (when given): blocks never cast silently."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    w = _first_tensor(weight)
    if w is not None and w.is_floating_point() and w.device.type != "meta" and x.device.type != "meta":
        # under autocast, activations come in the autocast dtype (float16, bfloat16) while the weights stay float32
        autocast = torch.is_autocast_enabled(x.device.type) and x.dtype == torch.get_autocast_dtype(x.device.type)
        if x.dtype != w.dtype and not autocast:
            raise TypeError(
                f"{name} has dtype {x.dtype} but the weights are {w.dtype}: convert one of them "
                f"(x.to({w.dtype}) or module.to({x.dtype}))"
            )
        if x.device != w.device:
            raise TypeError(f"{name} is on device {x.device} but the weights are on {w.device}: move one of them")


def _check_extent(where: str, name: str, x: torch.Tensor, want: str, min_frames: int) -> None:
    n, t = x.shape[0], x.shape[-3] if want.endswith("M)") else x.shape[2]
    if n == 0:
        raise ValueError(f"{where}{name} is an empty batch (N=0, shape {want} = {tuple(x.shape)}): expected N >= 1")
    if t < min_frames:
        raise ValueError(
            f"{where}{name} has T={t} frames, expected at least {min_frames} (shape {want} = {tuple(x.shape)})"
        )


def check_nctv(
    x: torch.Tensor,
    channels: int | None = None,
    num_joints: int | None = None,
    name: str = "x",
    block: str | None = None,
    weight: nn.Module | torch.Tensor | None = None,
    min_frames: int = 1,
) -> None:
    """Check a block input of shape (N, C, T, V) with N >= 1 and T >= ``min_frames``.

    Raises ``TypeError`` for a non-float tensor or one whose dtype / device differs from ``weight``'s, and
    ``ValueError`` for a wrong rank, channel count, joint count, an empty batch or too few frames.
    """
    where = f"{block}: " if block else ""
    check_float(x, f"{where}{name}", weight)
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
    _check_extent(where, name, x, "(N, C, T, V)", min_frames)


def check_nctvm(
    x: torch.Tensor,
    channels: int,
    num_joints: int,
    model: str,
    branches: int | None = None,
    weight: nn.Module | torch.Tensor | None = None,
    min_frames: int = 1,
    persons: int | None = None,
) -> None:
    """Check a model input (N, C, T, V, M), or (N, I, C, T, V, M) when ``branches`` is given.

    Raises ``TypeError`` for a non-float tensor or a dtype / device other than ``weight``'s, and ``ValueError``
    for a wrong rank, channel, joint, branch or (when ``persons`` is given) person count, an empty batch or fewer
    than ``min_frames`` frames.
    """
    check_float(x, f"{model}: x", weight)
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
    if x.shape[-1] == 0:
        raise ValueError(f"{model}: x has M=0 persons (shape {want} = {tuple(x.shape)}): expected M >= 1")
    if persons is not None and x.shape[-1] != persons:
        raise ValueError(
            f"{model}: x has M={x.shape[-1]} persons, expected {persons}: the input BatchNorm holds statistics per "
            f"person (shape {want} = {tuple(x.shape)})"
        )
    _check_extent(f"{model}: ", "x", x, want, min_frames)


def check_adjacency(
    a: torch.Tensor, name: str = "A", block: str | None = None, stacked: bool = False, binary: bool = False
) -> None:
    """Check a graph argument: a tensor of shape (V, V), or (K, V, V) when ``stacked``; with ``binary``, of 0s and 1s
    only (a normalised matrix where a 0/1 one is expected would count hops wrongly, without an error)."""
    where = f"{block}: " if block else ""
    want = "(K, V, V)" if stacked else "(V, V)"
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"{where}{name} must be a torch.Tensor of shape {want}, got {type(a).__name__}")
    if a.dim() != (3 if stacked else 2) or a.shape[-1] != a.shape[-2] or a.shape[-1] == 0:
        raise ValueError(f"{where}{name} must have shape {want} with V >= 1, got {tuple(a.shape)}")
    if stacked and a.shape[0] == 0:
        raise ValueError(f"{where}{name} must have at least one matrix (K >= 1), got shape {tuple(a.shape)}")
    if binary and a.device.type != "meta" and not ((a == 0) | (a == 1)).all():
        others = torch.unique(a[(a != 0) & (a != 1)].float())[:3].tolist()
        raise ValueError(
            f"{where}{name} must be a binary (0/1) adjacency matrix, got other values such as "
            f"{[round(v, 4) for v in others]}: pass the graph's edges, not a normalised matrix"
        )


def check_positive_int(value, name: str, minimum: int = 1, block: str | None = None) -> None:
    """Raise ``ValueError`` unless ``value`` is an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        where = f"{block}: " if block else ""
        raise ValueError(f"{where}{name} must be an integer >= {minimum}, got {value!r}")


def reduced_channels(channels: int, ratio: int, name: str, block: str) -> int:
    """``channels // ratio``, a bottleneck's width, refused below 1; ``ratio`` must be a positive int named ``name``."""
    check_positive_int(ratio, name, block=block)
    if channels // ratio < 1:
        raise ValueError(f"{block}: channels // {name} must be >= 1, got {channels} // {ratio}")
    return channels // ratio


def check_odd_kernel(kernel_size, name: str = "kernel_size", block: str | None = None) -> None:
    """Raise ``ValueError`` unless ``kernel_size`` is a positive odd int: "same" padding keeps T only for odd k."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        where = f"{block}: " if block else ""
        raise ValueError(
            f"{where}{name} must be an odd integer >= 1 (the padding keeps T only for odd kernels), got {kernel_size!r}"
        )


def check_choice(value, options, name: str, where: str | None = None) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``options``, naming the value and every valid option."""
    options = list(options)
    if value not in options:
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}{name}={value!r} is not a valid option; expected one of {options}")


def check_in_range(value, low: int, high: int, name: str, where: str | None = None, step: int = 1) -> None:
    """Raise ``ValueError`` unless ``value`` is an int in ``low..high`` on the grid ``low + i*step``."""
    valid = list(range(low, high + 1, step))
    if isinstance(value, bool) or not isinstance(value, int) or value not in valid:
        prefix = f"{where}: " if where else ""
        grid = f" in steps of {step}" if step != 1 else ""
        raise ValueError(f"{prefix}{name} must be an integer in {low}..{high}{grid}, got {value!r}")


def read_torch_file(path, expected: str, label: str = ""):
    """``torch.load(path, weights_only=True)`` on the CPU; a file it cannot read is a ValueError naming ``expected``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a file that is not a checkpoint
        first_line = (str(error).splitlines() or [""])[0]
        raise ValueError(
            f"{label}{path}: expected {expected}, but it could not be read ({type(error).__name__}: {first_line})"
        ) from error
