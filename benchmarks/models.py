"""CPU cost of TSM's shift and of the full models.

``python benchmarks/models.py`` times, with 2 threads:

* TSM's shift at (N, C, T, V) = (8, 64, 64, 25) in both layouts (stviz's (N, C, T, V) and the original's
  (N·T, C, V, 1) through ``stviz.official``), beside docs/numbers.md's timing of the original (0.33 ms) and a copy
  of the same tensor (the memory-traffic floor);
* every full model on one sample of T frames and 2 persons: trainable parameters, GMAC and median latency.

The machine is shared: compare ratios measured in the same run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse

import torch

from stviz import official, set_seed
from stviz.cost import count_model, latency_ms, model_input
from stviz.models import MODEL_NAMES, build_model
from stviz.tsm import TemporalShift

DOC_TSM_MS = 0.33  # docs/numbers.md: TemporalShift.shift(fold_div=8) on (N·T, C, V, 1), N=8, C=64, T=64


def tsm_rows(repeat: int, threads: int = 2) -> list[tuple[str, float]]:
    n, c, t, v = 8, 64, 64, 25
    x = torch.randn(n, c, t, v)
    native = x.permute(0, 2, 1, 3).reshape(n * t, c, v, 1).contiguous()
    return [
        ("stviz TemporalShift (N, C, T, V)", latency_ms(TemporalShift(8), x, repeat=repeat, threads=threads)),
        ("official tsm shift (N*T, C, V, 1)", latency_ms(official.build("tsm", "shift", n_segment=t, fold_div=8),
                                                          native, repeat=repeat, threads=threads)),
        ("copy of the same tensor", latency_ms(lambda y: y.clone(), x, repeat=repeat, threads=threads)),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=30, help="timed runs for the shift (models: repeat // 10)")
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=list(MODEL_NAMES))
    parser.add_argument("--threads", type=int, default=2, help="torch threads (docs/numbers.md used 2)")
    args = parser.parse_args(argv)
    set_seed(0)
    print(f"TSM shift at (8, 64, 64, 25); docs/numbers.md original: {DOC_TSM_MS} ms")
    for name, ms in tsm_rows(args.repeat, args.threads):
        print(f"  {name:36s} {ms:7.3f} ms   ({ms / DOC_TSM_MS:.2f}x the documented timing)")
    print(f"\nModels, one sample of T={args.frames} frames and 2 persons")
    print(f"  {'model':16s} {'params':>10s} {'GMAC':>7s} {'ms':>9s}")
    for name in args.models:
        set_seed(0)
        model = build_model(name).eval()
        cost = count_model(model, frames=args.frames)
        x = model_input(model, args.frames).tensor()
        ms = latency_ms(model, x, warmup=1, repeat=max(1, args.repeat // 10), threads=args.threads)
        print(f"  {name:16s} {cost.params:10,d} {cost.macs / 1e9:7.3f} {ms:9.1f}")


if __name__ == "__main__":
    main()
