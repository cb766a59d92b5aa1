"""A 1x1 convolution two ways on this CPU: MKL's batched matrix product against oneDNN's convolution.

Run: ``.venv/bin/python benchmarks/pointwise.py [--threads 2] [--budget 0.5] [--keep-freed-memory]``.

stviz runs its 1x1 convolutions (projections, residuals, the multi-scale stacks) as whichever of the two is faster
on the CPU at hand (:mod:`stviz.cpu`); this script measures what that choice rests on. For each (C_in, C_out, T) of
the models' layers, at N=8 sequences of V=25 joints, it times ``torch.baddbmm`` (one product per sample, MKL) and
``F.conv2d`` with a 1x1 kernel (oneDNN, which reorders into a blocked layout and back) in turns, in eval (no_grad)
and as a training step (forward and backward to input, weight and bias), and prints matmul / conv: above 1 the
convolution is faster. The last line says which kernel :mod:`stviz.cpu` picks here. With glibc's defaults the page
faults of oneDNN's reorder buffers can cost more than the arithmetic (on 2026-12-02's AMD EPYC the convolution then
took 1-4x its time, from one call to the next); ``--keep-freed-memory`` measures the kernels alone.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from stviz import cpu
from stviz.cost import interleaved_times, keep_freed_memory

# (C_in, C_out, T) of the 1x1 convolutions the models use at T=64, plus small inputs (the first layers, G3D stacks)
# and input channels on and off oneDNN's blocks of 16 (stviz.cpu.CONV_CHANNEL_BLOCK)
SHAPES = [
    (3, 64, 64),
    (12, 64, 64),
    (24, 64, 64),
    (32, 64, 64),
    (32, 96, 64),
    (36, 96, 64),
    (39, 96, 64),
    (44, 96, 64),
    (48, 96, 64),
    (56, 96, 64),
    (64, 64, 64),
    (64, 192, 64),
    (96, 96, 64),
    (64, 128, 32),
    (96, 192, 32),
    (128, 128, 32),
    (128, 256, 16),
    (256, 256, 16),
    (832, 96, 64),
]


def matmul_1x1(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x (N, D, T, V), weight (O, D, 1, 1) -> (N, O, T, V) as one MKL product per sample."""
    n, d = x.shape[:2]
    o = weight.shape[0]
    y = torch.baddbmm(bias.view(1, o, 1), weight.view(1, o, d).expand(n, o, d), x.reshape(n, d, -1))
    return y.view(n, o, *x.shape[2:])


def step(kernel, x, weight, bias, grad):
    """A training step's share of the kernel: forward, then backward to x, weight and bias."""

    def run():
        kernel(x, weight, bias).backward(grad)
        for t in (x, weight, bias):
            t.grad = None

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=0.5, help="seconds of timing per shape and mode")
    parser.add_argument("--keep-freed-memory", action="store_true", help="stviz.cost.keep_freed_memory first")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.keep_freed_memory:
        keep_freed_memory()
    torch.manual_seed(0)
    family = cpu.cpu_family_model()
    processor = cpu.cpu_vendor() if family is None else f"{cpu.cpu_vendor()} family {family[0]} model {family[1]}"
    print(f"{processor}, {torch.backends.cpu.get_cpu_capability()}, {args.threads} threads, N=8, V=25")
    print(f"{'C_in':>5} {'C_out':>5} {'T':>3}  {'eval matmul/conv':>16}  {'train matmul/conv':>17}")
    for c_in, c_out, t in SHAPES:
        x = torch.randn(8, c_in, t, 25)
        weight = torch.randn(c_out, c_in, 1, 1) / c_in**0.5
        bias = torch.randn(c_out)
        torch.testing.assert_close(matmul_1x1(x, weight, bias), F.conv2d(x, weight, bias), rtol=1e-4, atol=1e-4)
        with torch.no_grad():
            mm, conv = interleaved_times(
                lambda x=x, w=weight, b=bias: matmul_1x1(x, w, b),
                lambda x=x, w=weight, b=bias: F.conv2d(x, w, b),
                args.budget,
                10,
            )
        eval_ratio = min(mm) / min(conv)
        leaves = [t.clone().requires_grad_() for t in (x, weight, bias)]
        grad = torch.randn(8, c_out, t, 25)
        mm, conv = interleaved_times(step(matmul_1x1, *leaves, grad), step(F.conv2d, *leaves, grad), args.budget, 10)
        print(f"{c_in:5d} {c_out:5d} {t:3d}  {eval_ratio:16.2f}  {min(mm) / min(conv):17.2f}")
    print(f"stviz.cpu picks {cpu.POINTWISE_KERNEL!r} here: {cpu.POINTWISE_REASON}")


if __name__ == "__main__":
    main()
