"""Cost of the temporal blocks at N=8, C=64, T=64, V=25, beside the originals' CPU latency (docs/numbers.md).

Run: ``.venv/bin/python benchmarks/temporal.py [--repeat 30]``. Latency is the median forward time under
``torch.no_grad()`` with 2 threads, eval mode, weights perturbed away from the init. The machine is shared, so
compare the ratio to the original's figure, not the milliseconds (the documented medians moved by up to ±30%
between runs). MS-G3D's default MS-TCN needs C % 6 == 0, so it runs at C=96 as in docs/numbers.md.
The shift rows time the learnable shift op alone with each backend (no original figure: the original is CUDA-only).
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from stviz import set_seed
from stviz.cost import count, latency_ms
from stviz.shift import LearnableTemporalShift, ShiftTCN
from stviz.temporal import (
    MSG3DTemporalConv,
    MultiScaleTemporalConv,
    TemporalBasicLayer,
    TemporalBottleneckLayer,
    TemporalSandglassLayer,
    TemporalSepLayer,
)

# original block -> its median CPU latency in ms and its MFLOPs per sample (docs/numbers.md); None where not measured
ORIGINAL = {
    "ctrgcn MultiScale_TemporalConv(k5, d12, no res)": (8.94, 21.30),
    "msg3d MultiScale_TemporalConv(d12)": (6.53, 18.02),
    "msg3d MultiScale_TemporalConv(96) default": (10.03, 39.32),
    "effgcn Temporal_Basic_Layer(k5)": (6.81, 65.54),
    "effgcn Temporal_Sep_Layer(k5, e2)": (11.95, 54.48),
    "effgcn Temporal_Bottleneck_Layer(k5, r4)": (4.08, 10.65),
    "effgcn Temporal_SG_Layer(k5, r4)": (5.84, 8.60),
    "shiftgcn Shift_tcn (gather CPU shift)": (18.23, 13.11),
    "shift op, compiled": (None, None),
    "shift op, pure PyTorch": (None, None),
}


class _ReferenceShift(LearnableTemporalShift):
    """The learnable shift forced onto the pure-PyTorch implementation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from stviz.ops import temporal_shift_reference

        return temporal_shift_reference(x, self.ypos, stride=self.stride)


def perturb(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BN statistics (running_var in [0.5, 1.5)), eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                r = torch.rand(t.shape, generator=g)
                t.copy_(0.5 + r if name.endswith("running_var") else (r - 0.5) * 0.6)
    return module.eval()


def temporal_blocks() -> dict[str, tuple[nn.Module, int]]:
    """Each original block's stviz equivalent (eval mode, perturbed) and its channel count."""
    c = 64
    blocks = {
        "ctrgcn MultiScale_TemporalConv(k5, d12, no res)": (
            MultiScaleTemporalConv(c, c, 5, dilations=(1, 2), residual=False), c
        ),
        "msg3d MultiScale_TemporalConv(d12)": (MSG3DTemporalConv(c, c, dilations=(1, 2)), c),
        "msg3d MultiScale_TemporalConv(96) default": (MSG3DTemporalConv(96, 96), 96),
        "effgcn Temporal_Basic_Layer(k5)": (TemporalBasicLayer(c, 5), c),
        "effgcn Temporal_Sep_Layer(k5, e2)": (TemporalSepLayer(c, 5, 2), c),
        "effgcn Temporal_Bottleneck_Layer(k5, r4)": (TemporalBottleneckLayer(c, 5, 4), c),
        "effgcn Temporal_SG_Layer(k5, r4)": (TemporalSandglassLayer(c, 5, 4), c),
        "shiftgcn Shift_tcn (gather CPU shift)": (ShiftTCN(c, c), c),
        "shift op, compiled": (LearnableTemporalShift(c), c),
        "shift op, pure PyTorch": (_ReferenceShift(c), c),
    }  # fmt: skip
    return {name: (perturb(m), ch) for name, (m, ch) in blocks.items()}


def measure(repeat: int = 30, n: int = 8, t: int = 64, threads: int = 2) -> list[dict]:
    """One row per block: params, per-sample MFLOPs, stviz and original latency and their ratio."""
    set_seed(0)
    rows = []
    for name, (module, c) in temporal_blocks().items():
        cost = count(module, torch.randn(1, c, t, 25))
        ms = latency_ms(module, torch.randn(n, c, t, 25), repeat=repeat, threads=threads)
        original_ms, original_mflops = ORIGINAL[name]
        rows.append(
            dict(
                block=name, params=cost.params, mflops=cost.flops / 1e6, original_mflops=original_mflops, ms=ms,
                original_ms=original_ms, ratio=None if original_ms is None else ms / original_ms,
            )
        )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2, help="docs/numbers.md: 2; 1 is steadier when busy")
    args = parser.parse_args()
    print(f"{'block':50s} {'params':>7s} {'MFLOP':>7s} {'orig':>7s} {'ms':>7s} {'orig ms':>8s} {'ratio':>6s}")
    for r in measure(args.repeat, threads=args.threads):
        orig_mflops = "-" if r["original_mflops"] is None else f"{r['original_mflops']:.2f}"
        orig_ms = "-" if r["original_ms"] is None else f"{r['original_ms']:.2f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        print(f"{r['block']:50s} {r['params']:7d} {r['mflops']:7.2f} {orig_mflops:>7s} {r['ms']:7.2f} "
              f"{orig_ms:>8s} {ratio:>6s}")  # fmt: skip


if __name__ == "__main__":
    main()
