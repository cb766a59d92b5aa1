"""The CUDA kernels' threads, run on the host: on a machine without a GPU the CUDA kernels cannot run, but what each
of their threads computes (csrc/cuda/temporal_shift_plane.cuh) is plain C++. tests/shift_kernels_on_host.cpp runs every
thread of the kernels' grids in turn; here that must give the CPU kernels' forward, input gradient and offset gradient,
in float32 and float64, at strides 1 to 3, for offsets inside, at the edges of and far outside the clip. (Half and
bfloat16 are the same code with another type; the GPU tests in tests/test_shift_op.py cover them.)
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# fractional, whole, negative, beyond T either way, and -1e-9: frac rounds to 1 in float32, so the low tap weighs 0
OFFSETS = [0.3, -1.7, 2.0, -3.0, 4.25, 11.6, -12.4, 0.0, -1e-9, 1e-9, 7.999, -40.0]
SHAPES = [(2, 9, 5), (1, 8, 25), (3, 1, 3), (2, 16, 1), (1, 90, 25)]  # (N, T, V), C = len(OFFSETS); 90 * 25: 3 blocks
C_TYPES = {torch.float32: "float", torch.float64: "double"}


@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory):
    compiler = shutil.which(os.environ.get("CXX", "c++"))
    if compiler is None:
        pytest.skip("no C++ compiler on this machine")
    library = tmp_path_factory.mktemp("host_kernels") / "shift_kernels_on_host.so"
    source = ROOT / "tests" / "shift_kernels_on_host.cpp"
    flags = ["-O2", "-std=c++17", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", "-I", str(ROOT / "csrc" / "cuda")]
    command = [compiler, *flags, str(source), "-o", str(library)]
    built = subprocess.run(command, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    return ctypes.CDLL(str(library))


def _call(library, name, dtype, *args, grid_y: int):
    """``name_float`` or ``name_double`` of tests/shift_kernels_on_host.cpp: its tensors (contiguous) as pointers,
    then (planes or N, C) as int64, (T, V, stride) as int and the grid's rows of blocks as int64."""
    tensors, (rows, channels, frames, joints, stride) = args[:-5], args[-5:]
    assert all(a.is_contiguous() and a.dtype == dtype for a in tensors)
    kernel = getattr(library, f"{name}_{C_TYPES[dtype]}")
    kernel.argtypes = [ctypes.c_void_p] * len(tensors) + [ctypes.c_int64] * 2 + [ctypes.c_int] * 3 + [ctypes.c_int64]
    kernel.restype = None
    kernel(*(a.data_ptr() for a in tensors), rows, channels, frames, joints, stride, grid_y)


def _inputs(shape, stride, dtype):
    n, t, v = shape
    gen = torch.Generator().manual_seed(t * 100 + v * 10 + stride)
    x = torch.randn(n, len(OFFSETS), t, v, generator=gen, dtype=torch.float64).to(dtype)
    grad = torch.randn(n, len(OFFSETS), t // stride, v, generator=gen, dtype=torch.float64).to(dtype)
    return x, grad, torch.tensor(OFFSETS, dtype=dtype)


@pytest.mark.parametrize("dtype", list(C_TYPES), ids=str)
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "N{}_T{}_V{}".format(*s))
def test_cuda_threads_on_host_equal_cpu_kernels(host_kernels, compiled, shape, stride, dtype):
    """Every thread of the kernels' grids, run in turn: one row of blocks per plane (as up to 65535 planes get) and
    three rows that each walk several planes (as more planes do)."""
    n, t, v = shape
    if t < stride:
        pytest.skip("no output frame")
    c = len(OFFSETS)
    x, grad, offset = _inputs(shape, stride, dtype)
    ops = torch.ops.stviz
    for grid_y in (n * c, 3):
        out = torch.full_like(grad, float("nan"))  # an element no thread writes stays NaN
        _call(host_kernels, "forward", dtype, x, offset, out, n * c, c, t, v, stride, grid_y=grid_y)
        torch.testing.assert_close(out, ops.temporal_shift(x, offset, stride), rtol=0, atol=0)

        grad_x = torch.full_like(x, float("nan"))
        _call(host_kernels, "adjoint", dtype, grad, offset, grad_x, n * c, c, t, v, stride, grid_y=grid_y)
        torch.testing.assert_close(grad_x, ops.temporal_shift_adjoint(grad, offset, stride, t), rtol=0, atol=0)

    grad_offset = torch.empty_like(offset)
    _call(host_kernels, "offset_grad", dtype, grad, x, offset, grad_offset, n, c, t, v, stride, grid_y=0)
    # summed in another order than the CPU kernel's (which sums in double): equal up to rounding
    torch.testing.assert_close(grad_offset, ops.temporal_shift_offset_grad(grad, x, offset, stride))


def test_a_tap_with_weight_zero_is_not_read(host_kernels, compiled):
    """An infinite input value where a tap's weight is 0 (a whole offset, or -1e-9 in float32) stays out of the
    result, as on the CPU: 0 * inf would be NaN."""
    x = torch.zeros(1, 2, 4, 1)
    x[0, :, 3] = float("inf")  # the frame after the last output's low tap
    offset = torch.tensor([0.0, -1e-9])  # float32: floor = -1, frac = 1 - 1e-9 rounds to 1
    out = torch.empty(1, 2, 4, 1)
    _call(host_kernels, "forward", torch.float32, x, offset, out, 2, 2, 4, 1, 1, grid_y=2)
    want = torch.ops.stviz.temporal_shift(x, offset, 1)
    assert torch.isfinite(out[0, :, :3]).all() and torch.equal(out, want)


def test_a_nan_offset_reads_no_tap(host_kernels):
    """A NaN offset (which stviz.ops refuses before it reaches a kernel) is clamped far outside the clip, as the CPU
    kernels' fmin/fmax clamp does, so every tap lies outside and the output is 0, with no undefined cast."""
    x = torch.ones(1, 2, 5, 3)
    offset = torch.tensor([float("nan"), 1.0])
    out = torch.full((1, 2, 5, 3), float("nan"))
    _call(host_kernels, "forward", torch.float32, x, offset, out, 2, 2, 5, 3, 1, grid_y=2)
    assert torch.equal(out[0, 0], torch.zeros(5, 3)) and torch.equal(out[0, 1, :4], torch.ones(4, 3))
