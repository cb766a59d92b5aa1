"""Speed of the learnable temporal shift op, per backend, against a copy, a depthwise conv and TSM's shift.

Run: ``.venv/bin/python benchmarks/shift.py [--threads 2] [--repeat 20] [--device cpu|cuda]``.
Shape N=32, C=64, T=300, V=25 (Shift-GCN's usual T, float32). Each row is the median time of the forward
(under ``torch.no_grad()``) and of the backward alone (input and position gradients), and both as a ratio to a
plain copy of the input (``x.clone()``) forward. The machine is shared: compare ratios, not milliseconds. On a GPU, the
forward's effective bandwidth (bytes read + written) is also given as a fraction of the copy's.
Targets (issue 5): compiled forward within 1.5x of a copy on CPU, pure PyTorch within 4x; on a GPU the CUDA
forward at 60% or more of copy bandwidth.
"""

from __future__ import annotations

import argparse
import ctypes
import platform
import statistics
import time

import torch
from torch import nn

from stviz import ops, set_seed
from stviz.tsm import temporal_shift as tsm_shift

SHAPE = (32, 64, 300, 25)


def keep_freed_memory() -> bool:
    """Ask glibc to serve large tensors from its heap and keep freed memory (Linux only).

    By default each fresh 61 MB output is a new mmap that the kernel must zero on first touch; that page-fault
    cost then dominates every row (copy included) and varies with the allocator's state. With this, every row
    measures its memory traffic and arithmetic.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, 1 << 31))


def timed_ms(fn, device: torch.device, arg=None) -> float:
    """Wall time of one ``fn(arg)`` call in ms (synchronising a GPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn(arg)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return 1e3 * (time.perf_counter() - start)


def candidates(device: torch.device):
    """name -> (forward(x, with_grad) -> (out, inputs needing grads), bytes the forward moves per element)."""
    c = SHAPE[1]
    ypos = (torch.rand(c, device=device) * 6 - 3).requires_grad_()
    depthwise = nn.Conv2d(c, c, (9, 1), padding=(4, 0), groups=c).to(device)
    backends = {"compiled": ops.temporal_shift, "pure PyTorch": ops.temporal_shift_reference}
    rows = {"copy (x.clone())": lambda x: (x.clone(), [x])}
    if ops.backend(device) == "pytorch-fallback":
        backends.pop("compiled")
    for label, fn in backends.items():
        for stride in (1, 2):
            rows[f"shift op, {label}, stride {stride}"] = lambda x, fn=fn, s=stride: (fn(x, ypos, stride=s), [x, ypos])
        rows[f"shift op, {label}, official grad"] = lambda x, fn=fn: (fn(x, ypos, grad_mode="official"), [x, ypos])
    rows["depthwise temporal conv (9, 1)"] = lambda x: (depthwise(x), [x, depthwise.weight])
    rows["TSM shift (fold_div 8)"] = lambda x: (tsm_shift(x, 8), [x])
    return rows


def run(device: torch.device, threads: int, warmup: int, repeat: int) -> list[tuple]:
    """Rows are timed round-robin (one call of each per round) so that load changes on a shared machine hit every
    row alike; each figure is the median over the rounds after ``warmup``."""
    torch.set_num_threads(threads)
    set_seed(0)
    x = torch.randn(SHAPE, device=device)
    rows = candidates(device)

    def with_graph(forward):
        xg = x.detach().requires_grad_()
        out, inputs = forward(xg)
        return out, [xg if t is x else t for t in inputs], torch.ones_like(out)

    fwd = {name: [] for name in rows}
    bwd = {name: [] for name in rows}
    for round_ in range(warmup + repeat):
        for name, forward in rows.items():
            with torch.no_grad():
                ms = timed_ms(lambda _, f=forward: f(x), device)
            graph = with_graph(forward)
            ms_bwd = timed_ms(lambda a: torch.autograd.grad(a[0], a[1], a[2]), device, graph)
            if round_ >= warmup:
                fwd[name].append(ms)
                bwd[name].append(ms_bwd)
    results = []
    for name, forward in rows.items():
        with torch.no_grad():
            out_frames = forward(x)[0].shape[2]
        nbytes = x.numel() * x.element_size() * (1 + out_frames / SHAPE[2])  # read x, write the output
        results.append((name, statistics.median(fwd[name]), statistics.median(bwd[name]), nbytes))
    return results


def table(results: list[tuple], device: torch.device) -> str:
    copy_fwd = results[0][1]
    copy_bw = results[0][3] / copy_fwd
    gpu = device.type == "cuda"
    head = "| op | forward ms | fwd / copy | backward ms | bwd / copy |" + (" fwd bandwidth / copy |" if gpu else "")
    lines = [head, "|---|---|---|---|---|" + ("---|" if gpu else "")]
    for i, (name, fwd, bwd, nbytes) in enumerate(results):
        # clone's backward only hands the gradient through: no figure for the copy row
        backward = "— | —" if i == 0 else f"{bwd:.2f} | {bwd / copy_fwd:.2f}"
        line = f"| {name} | {fwd:.2f} | {fwd / copy_fwd:.2f} | {backward} |"
        if gpu:
            line += f" {nbytes / fwd / copy_bw:.0%} |"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--fresh-pages", action="store_true", help="leave glibc's allocator at its defaults")
    args = parser.parse_args()
    heap = False if args.fresh_pages else keep_freed_memory()
    device = torch.device(args.device)
    info = ops.load_extension(verbose=True)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(
        f"torch {torch.__version__}, {where}, {args.threads} threads, backend {ops.backend(device)}, "
        f"N, C, T, V = {SHAPE}, float32, freed memory reused: {heap} "
        f"(build {info.build_seconds:.1f} s, compiled now: {info.compiled})"
    )
    print(table(run(device, args.threads, args.warmup, args.repeat), device))


if __name__ == "__main__":
    main()
