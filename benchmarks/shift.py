"""Speed of the temporal shifts (Shift-GCN's learnable shift op per backend, TSM's shift) against a copy.

Run: ``.venv/bin/python benchmarks/shift.py [--threads 2] [--repeat 20] [--device cpu|cuda] [--dtype ...]``.
Shape N=32, C=64, T=300, V=25 (Shift-GCN's usual T); float32 on the CPU, and float32, float16 and bfloat16 on a
GPU unless ``--dtype`` says otherwise. A shift moves memory and does (almost) no arithmetic, so its unit of time is
a plain copy of the same tensor, ``x.clone()``:

* forward / copy: the forward (under ``torch.no_grad()``) over the copy's time;
* backward / copy: the backward alone (``torch.autograd.grad`` of the input and, for the learnable shift, the
  position too) over the same copy's forward time. The least a shift's backward can do is one copy-like pass
  (the reverse shift), so 1.0 is the floor there as well; the learnable shift's backward also reads x once
  for the position gradient.

Rows are timed round-robin, one call of each per round, and every figure is the median over the rounds of
that round's time over the copy's time in the same round, so load changes on a shared machine hit every row
alike. On a GPU each figure is CUDA events around ``--calls`` calls in a row, forwards under
``torch.inference_mode()``, and the table also gives the forward's effective bandwidth (bytes read + written) as a
fraction of the copy's, and the share of rounds in which the host took as long as the GPU to issue the forwards (then
the figure is the host's, not the kernel's). There the compiled kernel is also timed alone
(``torch.ops.stviz.temporal_shift`` on offsets made once): the op as called first checks that the positions are
finite, which waits for the GPU (one flag copied to the host), and turns them into offsets. The script prints the
worst figure against each goal and exits with status 1 if one is missed: the CPU goals (:data:`GOALS`) hold for
float32, the GPU goal (:data:`GPU_BANDWIDTH_GOAL`, on the kernel alone) for every dtype.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import torch
from torch import nn

from stviz import ops, set_seed
from stviz.cost import keep_freed_memory
from stviz.tsm import temporal_shift as tsm_shift

SHAPE = (32, 64, 300, 25)
# goal -> (max forward / copy, max backward / copy) on the CPU; rows belong to the goal their name starts with
GOALS = {"shift op, compiled": (1.5, 2.5), "shift op, pure PyTorch": (2.0, 5.0), "TSM shift": (1.3, 1.5)}
GPU_BANDWIDTH_GOAL = 0.6
"""On a GPU, the least forward bandwidth of the kernel-alone rows (:data:`KERNEL_ROWS`), over the copy's."""
KERNEL_ROWS = "CUDA kernel alone"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def timed_ms(fn, device: torch.device, calls: int = 1) -> tuple[float, float]:
    """(time of one ``fn()`` call, the host's time to issue it), in ms. On the CPU both are the wall clock; on a
    GPU the first is CUDA events around ``calls`` calls in a row, the second the host's clock over the same calls
    until the last has been issued, each divided by ``calls``."""
    if device.type != "cuda":
        start = time.perf_counter()
        fn()
        wall = 1e3 * (time.perf_counter() - start)
        return wall, wall
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize(device)
    host_start = time.perf_counter()
    begin.record()
    for _ in range(calls):
        fn()
    end.record()
    host = 1e3 * (time.perf_counter() - host_start)
    end.synchronize()
    return begin.elapsed_time(end) / calls, host / calls


def candidates(device: torch.device, dtype: torch.dtype, channels: int) -> dict:
    """name -> forward(x) -> (output, the inputs the backward differentiates), for x of ``dtype`` with ``channels``
    channels (the shift's positions stay float32, as in a model under autocast)."""
    c = channels
    ypos = (torch.rand(c, device=device) * 6 - 3).requires_grad_()
    depthwise = nn.Conv2d(c, c, (9, 1), padding=(4, 0), groups=c).to(device, dtype)
    backends = {"compiled": ops.temporal_shift, "pure PyTorch": ops.temporal_shift_reference}
    rows = {"copy (x.clone())": lambda x: (x.clone(), [x])}
    if ops.backend(device) == "pytorch-fallback":
        backends.pop("compiled")
    for label, fn in backends.items():
        for stride in (1, 2):
            rows[f"shift op, {label}, stride {stride}"] = lambda x, fn=fn, s=stride: (fn(x, ypos, stride=s), [x, ypos])
        rows[f"shift op, {label}, official grad"] = lambda x, fn=fn: (fn(x, ypos, grad_mode="official"), [x, ypos])
    if device.type == "cuda" and ops.backend(device) == "cuda-extension":
        for stride in (1, 2):
            offset = (ypos.detach() + (0.5 if stride != 1 else 0.0)).requires_grad_()  # what the op passes on
            rows[f"{KERNEL_ROWS}, stride {stride}"] = lambda x, s=stride, o=offset: (
                torch.ops.stviz.temporal_shift(x, o, s),
                [x, o],
            )
    rows["TSM shift (fold_div 8)"] = lambda x: (tsm_shift(x, 8), [x])
    rows["depthwise temporal conv (9, 1), for scale"] = lambda x: (depthwise(x), [x, depthwise.weight])
    return rows


def run(
    device: torch.device,
    threads: int,
    warmup: int,
    repeat: int,
    dtype: torch.dtype = torch.float32,
    shape=SHAPE,
    calls: int = 1,
) -> list[tuple]:
    """(name, forward ms, backward ms, forward / copy, backward / copy, bytes the forward moves, share of rounds
    whose forward the host took as long to issue as the device to run) per row, for x of ``shape`` (N, C, T, V) and
    ``dtype``, each figure over ``calls`` calls in a row on a GPU; the first row is the copy."""
    torch.set_num_threads(threads)
    set_seed(0)
    x = torch.randn(shape, device=device, dtype=dtype)
    rows = candidates(device, dtype, shape[1])
    times = {name: ([], [], []) for name in rows}
    grads = {}  # one upstream gradient per output shape, made once: a fresh one would still be in the caches
    # on a GPU, forwards skip autograd's dispatch altogether, which a custom op's Python autograd wrapper would run
    no_grad = torch.inference_mode if device.type == "cuda" else torch.no_grad
    for round_ in range(warmup + repeat):
        for name, forward in rows.items():
            with no_grad():
                ms_fwd, host_fwd = timed_ms(lambda f=forward: f(x), device, calls)
            xg = x.detach().requires_grad_()
            out, inputs = forward(xg)
            if out.shape not in grads:
                grads[out.shape] = torch.ones_like(out)
            grad = grads[out.shape]
            ms_bwd, _ = timed_ms(
                lambda o=out, i=inputs, g=grad: torch.autograd.grad(o, i, g, retain_graph=calls > 1), device, calls
            )
            if round_ >= warmup:
                times[name][0].append(ms_fwd)
                times[name][1].append(ms_bwd)
                times[name][2].append(host_fwd >= 0.9 * ms_fwd)
    copy_fwd = times["copy (x.clone())"][0]
    results = []
    for name, forward in rows.items():
        fwd, bwd, host_bound = times[name]
        with torch.no_grad():
            out_frames = forward(x)[0].shape[2]
        nbytes = x.numel() * x.element_size() * (1 + out_frames / shape[2])  # read x, write the output
        ratio_fwd = statistics.median(f / c for f, c in zip(fwd, copy_fwd, strict=True))
        ratio_bwd = statistics.median(b / c for b, c in zip(bwd, copy_fwd, strict=True))
        share_host_bound = sum(host_bound) / len(host_bound)
        results.append(
            (name, statistics.median(fwd), statistics.median(bwd), ratio_fwd, ratio_bwd, nbytes, share_host_bound)
        )
    return results


def bandwidth_fraction(row: tuple, copy: tuple) -> float:
    """A row's forward bandwidth (bytes read and written per second) over the copy's."""
    return (row[5] / row[1]) / (copy[5] / copy[1])


def table(results: list[tuple], device: torch.device) -> str:
    gpu = device.type == "cuda"
    head = "| op | forward ms | fwd / copy | backward ms | bwd / copy |"
    head += " fwd bandwidth / copy | fwd host-bound |" if gpu else ""
    lines = [head, "|---|---|---|---|---|" + ("---|---|" if gpu else "")]
    for i, row in enumerate(results):
        name, fwd, bwd, ratio_fwd, ratio_bwd = row[:5]
        # clone's backward only hands the gradient through: no figure for the copy row
        backward = "— | —" if i == 0 else f"{bwd:.2f} | {ratio_bwd:.2f}"
        line = f"| {name} | {fwd:.2f} | {ratio_fwd:.2f} | {backward} |"
        if gpu:
            line += f" {bandwidth_fraction(row, results[0]):.0%} | {row[6]:.0%} of rounds |"
        lines.append(line)
    return "\n".join(lines)


def check_gpu_goal(results: list[tuple], dtype: str) -> list[str]:
    """The CUDA kernel's least forward bandwidth against :data:`GPU_BANDWIDTH_GOAL`; MISSED if below."""
    rows = [r for r in results if r[0].startswith(KERNEL_ROWS)]
    if not rows:
        return [f"MISSED: {dtype}: no compiled shift op on the GPU (the fallback ran)"]
    worst = min(rows, key=lambda r: bandwidth_fraction(r, results[0]))
    fraction = bandwidth_fraction(worst, results[0])
    verdict = "ok" if fraction >= GPU_BANDWIDTH_GOAL else "MISSED"
    host = f"; the host was as slow as the GPU in {worst[6]:.0%} of its rounds" if worst[6] else ""
    return [f"{verdict}: {dtype}: {KERNEL_ROWS}, forward: least bandwidth {fraction:.0%} of the copy's "
            f"({worst[0]}), goal >= {GPU_BANDWIDTH_GOAL:.0%}{host}"]  # fmt: skip


def check_goals(results: list[tuple]) -> list[str]:
    """One line per CPU goal and direction with the worst ratio of its rows; the missed ones start with MISSED."""
    lines = []
    for goal, limits in GOALS.items():
        rows = [r for r in results if r[0].startswith(goal)]
        if not rows:
            continue
        for direction, column, limit in (("forward", 3, limits[0]), ("backward", 4, limits[1])):
            worst = max(rows, key=lambda r: r[column])
            verdict = "ok" if worst[column] <= limit else "MISSED"
            lines.append(f"{verdict}: {goal} {direction}: worst {worst[column]:.2f}x ({worst[0]}), goal <= {limit}x")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", nargs="+", choices=list(DTYPES), help="default: float32 on the CPU, all on a GPU")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--calls", type=int, default=10, help="calls in a row per figure on a GPU (1 on the CPU)")
    parser.add_argument("--fresh-pages", action="store_true", help="leave glibc's allocator at its defaults")
    args = parser.parse_args()
    if args.calls < 1 or args.repeat < 1 or args.warmup < 0:
        parser.error("--calls and --repeat must be at least 1, --warmup at least 0")
    heap = False if args.fresh_pages else keep_freed_memory()
    device = torch.device(args.device)
    dtypes = args.dtype or (list(DTYPES) if device.type == "cuda" else ["float32"])
    info = ops.load_extension(verbose=True)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(
        f"torch {torch.__version__}, {where}, {args.threads} threads, backend {ops.backend(device)}, "
        f"N, C, T, V = {SHAPE}, freed memory reused: {heap} "
        f"(build {info.build_seconds:.1f} s, compiled now: {info.compiled})"
    )
    verdicts = []
    for dtype in dtypes:
        calls = args.calls if device.type == "cuda" else 1
        results = run(device, args.threads, args.warmup, args.repeat, DTYPES[dtype], calls=calls)
        print(f"\n{dtype}\n{table(results, device)}")
        if device.type == "cuda":
            verdicts += check_gpu_goal(results, dtype)
        elif dtype == "float32":
            verdicts += check_goals(results)
    print("\n" + "\n".join(verdicts))
    if any(v.startswith("MISSED") for v in verdicts):
        sys.exit(1)


if __name__ == "__main__":
    main()
