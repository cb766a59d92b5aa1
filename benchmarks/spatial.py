"""Cost of the spatial blocks at N=8, C=64, T=64, V=25, beside the originals' CPU latency (docs/numbers.md).

Run: ``.venv/bin/python benchmarks/spatial.py [--repeat 30]``. Latency is the median forward time under
``torch.no_grad()`` with 2 threads, eval mode. The machine is shared, so compare the ratio to the original's
figure, not the milliseconds (the documented medians moved by up to ±30% between runs).
"""

from __future__ import annotations

import argparse

import torch

from stviz import official, set_seed
from stviz.cost import count, latency_ms
from stviz.models import ChannelTopologyBlock, STGCNBlock
from stviz.spatial import (
    ChannelTopologyConv,
    ChannelTopologyUnit,
    EfficientGraphLayer,
    PartitionGraphConv,
    ShiftGraphConv,
)

# original block -> its median CPU latency in ms and its MFLOPs per sample (docs/numbers.md)
ORIGINAL = {
    "stgcn ConvTemporalGraphical": (6.54, 54.68),
    "stgcn st_gcn": (15.08, 172.65),
    "effgcn SpatialGraphConv": (8.40, 54.68),
    "effgcn Spatial_Graph_Layer": (10.11, 54.68),
    "ctrgcn CTRGC": (4.92, 22.14),
    "ctrgcn unit_gcn": (15.93, 66.43),
    "ctrgcn TCN_GCN_unit": (25.27, 87.73),
    "shiftgcn Shift_gcn": (4.00, 13.11),
}


def spatial_blocks(channels: int = 64) -> dict[str, tuple[torch.nn.Module, tuple]]:
    """Each original block's stviz equivalent (eval mode) and its extra forward arguments."""
    a_st, a_ctr, a_eff = (official.adjacency(r) for r in ("stgcn", "ctrgcn", "effgcn"))
    c = channels
    blocks = {
        "stgcn ConvTemporalGraphical": (PartitionGraphConv(c, c, a_st), ()),
        "stgcn st_gcn": (STGCNBlock(c, c, a_st), ()),
        "effgcn SpatialGraphConv": (PartitionGraphConv(c, c, a_eff[:3], edge_importance=True), ()),
        "effgcn Spatial_Graph_Layer": (EfficientGraphLayer(c, c, a_eff), ()),
        "ctrgcn CTRGC": (ChannelTopologyConv(c, c), (a_ctr[1], torch.ones(1))),
        "ctrgcn unit_gcn": (ChannelTopologyUnit(c, c, a_ctr), ()),
        "ctrgcn TCN_GCN_unit": (ChannelTopologyBlock(c, c, a_ctr), ()),
        "shiftgcn Shift_gcn": (ShiftGraphConv(c, c), ()),
    }
    return {name: (m.eval(), args) for name, (m, args) in blocks.items()}


def cost_table(t: int = 64) -> list[dict]:
    """Per block and per sample (N=1): trainable params, MFLOPs (total, conv, matmul) and the original's MFLOPs."""
    set_seed(0)
    rows = []
    for name, (module, args) in spatial_blocks().items():
        cost = count(module, torch.randn(1, 64, t, 25), *args)
        rows.append(
            dict(
                block=name, params=cost.params, mflops=cost.flops / 1e6, conv_mflops=cost.conv_flops / 1e6,
                matmul_mflops=cost.matmul_flops / 1e6, original_mflops=ORIGINAL[name][1],
            )
        )  # fmt: skip
    return rows


def latency_table(repeat: int = 30, warmup: int = 5, n: int = 8, t: int = 64) -> list[dict]:
    """Per block: median forward ms at (N, 64, T, 25), the original's ms (docs/numbers.md) and their ratio."""
    set_seed(0)
    rows = []
    for name, (module, args) in spatial_blocks().items():
        ms = latency_ms(module, torch.randn(n, 64, t, 25), *args, warmup=warmup, repeat=repeat)
        rows.append(dict(block=name, ms=ms, original_ms=ORIGINAL[name][0], ratio=ms / ORIGINAL[name][0]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    print(f"{'block':30s} {'params':>8s} {'MFLOP':>8s} {'conv':>8s} {'matmul':>8s} {'original':>8s}")
    for r in cost_table():
        print(
            f"{r['block']:30s} {r['params']:8d} {r['mflops']:8.2f} {r['conv_mflops']:8.2f} {r['matmul_mflops']:8.2f} "
            f"{r['original_mflops']:8.2f}"
        )
    print(f"\n{'block':30s} {'ms':>7s} {'orig ms':>8s} {'ratio':>6s}")
    for r in latency_table(args.repeat):
        print(f"{r['block']:30s} {r['ms']:7.2f} {r['original_ms']:8.2f} {r['ratio']:6.2f}")


if __name__ == "__main__":
    main()
