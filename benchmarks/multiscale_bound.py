"""How much of an MS-G3D ``MultiScale_GraphConv`` training step its own products take, against the original's step.

``python benchmarks/multiscale_bound.py`` builds one configuration of ``benchmarks/originals.py`` (by default the
4-scale powers variant at 64 -> 64, held there to 0.7 of the original) and times three training steps (forward,
then backward from a fixed output gradient) in pairs, call by call in turns in one process:

* stviz's block against the original's forward written out op by op;
* stviz's products alone against the same original: the aggregation and the 1x1 convolution with its bias,
  forward and backward (:func:`stviz.multiscale_kernels.aggregate_project_frames`), without BatchNorm and ReLU;
* the products alone against stviz's block.

Each ratio is the fastest call of one side over the fastest of the other, from the same pairs. The products alone
over the original bound what any BatchNorm and ReLU fused into the products could reach: even at no cost they
leave that ratio.
"""

from __future__ import annotations

import argparse
import runpy
from pathlib import Path

import torch

from stviz import set_seed
from stviz.cost import interleaved_times, keep_freed_memory
from stviz.multiscale import MultiScaleGraphConv
from stviz.multiscale_kernels import aggregate_project_frames

ORIGINALS = runpy.run_path(str(Path(__file__).with_name("originals.py")))
DEFAULT_CASE = "msg3d MultiScale_GraphConv(4, powers) 64->64"


def products(block: MultiScaleGraphConv, x: torch.Tensor) -> torch.Tensor:
    """``conv(concat_k(A_k x))`` with the conv's bias, before BatchNorm and ReLU: (N, C, T, V) -> (N, C_out, T, V)."""
    return aggregate_project_frames(x, block.adjacency(), block.conv.weight, block.conv.bias)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case", default=DEFAULT_CASE, help="the start of a MultiScale_GraphConv case's name, K*C_in > C_out"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--budget", type=float, default=3.0, help="seconds of timing per pair of sides")
    parser.add_argument("--keep-freed-memory", action="store_true", help="as in benchmarks/originals.py")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    heap = keep_freed_memory() if args.keep_freed_memory else False
    cases = [c for name, c in ORIGINALS["all_cases"](n=args.batch, t=args.frames).items() if name.startswith(args.case)]
    if len(cases) != 1 or "MultiScale_GraphConv" not in cases[0].name:
        raise SystemExit(f"--case must name one MultiScale_GraphConv case of originals.py, got {args.case!r}")
    set_seed(0)
    block, ours, theirs, shape = cases[0].make()
    if block.out_channels >= block.num_scales * block.in_channels:
        raise SystemExit(f"{cases[0].name}: a stack no wider than the output is not made by aggregate_project_frames")
    block.train()
    x = torch.randn(shape, requires_grad=True)
    with torch.no_grad():
        grad = torch.randn_like(ours(x))
    params = list(block.parameters())
    calls = {"block": ours, "original": theirs, "products": lambda x: products(block, x)}
    steps = {name: ORIGINALS["_runner"](fn, x, params, grad) for name, fn in calls.items()}
    setup = f"torch {torch.__version__}, {args.threads} threads, freed memory kept: {heap}"
    print(f"{cases[0].name}, training step; {setup}")
    ratios = {}
    for first, second in (("block", "original"), ("products", "original"), ("products", "block")):
        a, b = interleaved_times(steps[first], steps[second], args.budget, min_pairs=10)
        ratios[f"{first} / {second}"] = min(a) / min(b)
        print(f"{first:>8} {1e3 * min(a):7.2f} ms  {second:>8} {1e3 * min(b):7.2f} ms  ratio {min(a) / min(b):.2f}")
    return ratios


if __name__ == "__main__":
    main()
