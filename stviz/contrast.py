"""The contrast table: every block by the axis it models, and every full model, with measured cost.

``python -m stviz.contrast`` prints both tables (``--help`` for the shape, T and latency options).
Blocks are measured at (N, C, T, V) = (8, 64, 64, 25), as the originals' reference measurements were (MS-G3D's
MS-TCN at C=96); MACs are per sample (N=1). Models are counted per sample of T frames and 2 persons, as the
published tables do.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch
from torch import nn

from stviz.channel import AttentionLayer, SpatialTemporalJointAttention
from stviz.cost import Cost, count, count_shapes, latency_ms, model_input
from stviz.graph import SkeletonGraph
from stviz.models import MODEL_NAMES, STGCNBlock, build_model
from stviz.multiscale import G3DBlock, MultiScaleGraphConv, MultiWindowG3D
from stviz.multiscale_teaching import contraction_table
from stviz.reconcile import model_cost, reconcile
from stviz.shift import ShiftTCN
from stviz.spatial import ChannelTopologyUnit, EfficientGraphLayer, PartitionGraphConv, ShiftGraphConv
from stviz.temporal import (
    MSG3DTemporalConv,
    MultiScaleTemporalConv,
    TemporalBasicLayer,
    TemporalBottleneckLayer,
    TemporalSandglassLayer,
    TemporalSepLayer,
)
from stviz.tsm import TemporalShift

__all__ = ["Block", "BLOCKS", "USUAL_FRAMES", "block_rows", "model_rows", "contraction_rows", "format_table", "main"]


@dataclass(frozen=True)
class Block:
    """One row of the block table: what the block computes and what in it is fixed, learned or per sample."""

    axis: str  # spatial, temporal, channel, multi-scale, shift; "spatial + temporal" for a whole layer
    name: str  # "repo: upstream class"
    computes: str
    fixed: str
    learned: str
    per_sample: str
    build: Callable[[SkeletonGraph], nn.Module]
    channels: int = 64


BLOCKS = (
    Block("spatial", "ST-GCN: ConvTemporalGraphical", "sum_k W_k x A_k (3 partitions)", "A (3 partitions)",
          "W", "-", lambda g: PartitionGraphConv(64, 64, g.stgcn_partition("spatial", 1, centre_distance="official"))),
    Block("spatial + temporal", "ST-GCN: st_gcn", "graph conv + 9x1 temporal conv", "A", "W, temporal conv",
          "-", lambda g: STGCNBlock(64, 64, g.stgcn_partition("spatial", 1, centre_distance="official"))),
    Block("spatial", "EfficientGCN: Spatial_Graph_Layer", "sum_k W_k x (A_k * E_k), hops 0-2", "A[:3], 10-hop norm.",
          "W, edge mask E", "-", lambda g: EfficientGraphLayer(64, 64, g.hop_partition(10))),
    Block("spatial", "CTR-GCN: unit_gcn", "per-channel topology A + alpha*T(x)", "-",
          "PA, alpha, embeddings", "T(x) per channel", lambda g: ChannelTopologyUnit(64, 64, g.inward_outward())),
    Block("spatial", "Shift-GCN: Shift_gcn", "cyclic joint shift, pointwise linear", "shift pattern",
          "W, feature mask", "-", lambda g: ShiftGraphConv(64, 64)),
    Block("temporal", "CTR-GCN: MultiScale_TemporalConv", "4 branches: k5 d1/d2, max-pool, 1x1", "-",
          "convs", "-", lambda g: MultiScaleTemporalConv(64, 64, 5, dilations=(1, 2), residual=False)),
    Block("temporal", "MS-G3D: MultiScale_TemporalConv (C=96)", "6 branches: k3 d1-4, max-pool, 1x1", "-",
          "convs", "-", lambda g: MSG3DTemporalConv(96, 96), channels=96),
    Block("temporal", "EfficientGCN: Temporal_Basic_Layer", "full 5x1 conv", "-", "conv", "-",
          lambda g: TemporalBasicLayer(64, 5)),
    Block("temporal", "EfficientGCN: Temporal_Sep_Layer", "expand, depthwise 5x1, project", "-", "convs", "-",
          lambda g: TemporalSepLayer(64, 5, 2)),
    Block("temporal", "EfficientGCN: Temporal_Bottleneck_Layer", "reduce, 5x1, expand", "-", "convs", "-",
          lambda g: TemporalBottleneckLayer(64, 5, 4)),
    Block("temporal", "EfficientGCN: Temporal_SG_Layer", "depthwise, reduce, expand, depthwise", "-", "convs",
          "-", lambda g: TemporalSandglassLayer(64, 5, 4)),
    Block("channel", "EfficientGCN: Attention_Layer (stja)", "x * frame gate * joint gate", "-", "gate convs",
          "gates", lambda g: AttentionLayer(64, SpatialTemporalJointAttention(64, 4), "swish")),
    Block("multi-scale", "MS-G3D: MultiScale_GraphConv (13)", "13 disentangled k-hop scales, 1x1 conv",
          "k-hop graphs", "W, A_res", "-", lambda g: MultiScaleGraphConv(64, 64, g.binary_adjacency(), 13)),
    Block("multi-scale", "MS-G3D: MS_G3D (w=3, 6 scales)", "graph over 3-frame windows", "window graphs",
          "W, A_res, window conv", "-", lambda g: G3DBlock(64, 64, g.binary_adjacency(), 6, 3)),
    Block("multi-scale", "MS-G3D: MultiWindow_MS_G3D (3, 5)", "sum of G3D with w=3 and w=5", "window graphs",
          "W, A_res, window convs", "-", lambda g: MultiWindowG3D(64, 64, g.binary_adjacency(), 6)),
    Block("shift", "Shift-GCN: Shift_tcn", "learned fractional shift per channel, 1x1", "-",
          "shift positions, 1x1 conv", "-", lambda g: ShiftTCN(64, 64)),
    Block("shift", "TSM: TemporalShift (fold_div=8)", "1/8 channels from t+1, 1/8 from t-1", "shift pattern",
          "-", "-", lambda g: TemporalShift(8)),
)  # fmt: skip

USUAL_FRAMES = {"stgcn": 300, "ctrgcn": 64, "shiftgcn": 300, "msg3d": 300}  # EfficientGCN: 288


@cache
def _block_cost(block: Block, frames: int, joints: int) -> Cost:
    """``block`` counted once per process at (1, C, ``frames``, ``joints``): counts depend on shapes alone."""
    graph = SkeletonGraph("ntu-rgb+d")

    def measure(module: nn.Module, device: str) -> Cost:
        return count(module, torch.zeros(1, block.channels, frames, joints, device=device))

    return count_shapes(lambda: block.build(graph), measure)


def block_rows(
    batch: int = 8, frames: int = 64, joints: int = 25, latency: bool = True, repeat: int = 10, threads: int = 2
) -> list:
    """One dict per block: params, MACs per sample (N=1) split by kind, and latency at (batch, C, frames, joints)."""
    graph, rows = SkeletonGraph("ntu-rgb+d"), []
    for block in BLOCKS:
        cost = _block_cost(block, frames, joints)
        row = {"axis": block.axis, "block": block.name, "computes": block.computes, "fixed": block.fixed,
               "learned": block.learned, "per sample": block.per_sample, "params": cost.params,
               "MMAC": cost.macs / 1e6, "conv MMAC": cost.conv_macs / 1e6,
               "einsum/matmul MMAC": cost.graph_macs / 1e6}  # fmt: skip
        if latency:
            torch.manual_seed(0)
            module = block.build(graph).eval()
            x = torch.randn(batch, block.channels, frames, joints)
            row["ms"] = latency_ms(module, x, warmup=2, repeat=repeat, threads=threads)
        rows.append(row)
    return rows


def model_rows(
    frames: int | None = 64, persons: int = 2, latency: bool = False, repeat: int = 5, threads: int = 2
) -> list:
    """One dict per model at ``frames`` (None: each model's usual T), one sample of ``persons`` persons."""
    rows = []
    for name in MODEL_NAMES:
        t = frames or USUAL_FRAMES.get(name, 288)
        cost = model_cost(name, t, persons)
        row = {"model": name, "T": t, "params": cost.params, "thop params": cost.thop_params,
               "GMAC": cost.macs / 1e9, "conv GMAC": cost.conv_macs / 1e9,
               "einsum/matmul GMAC": cost.graph_macs / 1e9}  # fmt: skip
        if latency:
            torch.manual_seed(0)
            model = build_model(name).eval()
            x = model_input(model, t, persons).tensor()
            row["ms"] = latency_ms(model, x, warmup=1, repeat=repeat, threads=threads)
        rows.append(row)
    return rows


def contraction_rows(model: nn.Module, frames: int = 64) -> list[dict]:
    """One dict per MS-G3D graph layer of ``model``: the contraction order it takes, and why.

    MACs are those of ``W · concat_k(A_k x)`` alone, per skeleton sequence (one person) of ``frames`` frames, in
    each order (:func:`stviz.multiscale_teaching.contraction_table`); a layer projects first only when that needs
    fewer. ``graph channels`` are those that enter and leave the graph contraction, which can differ from the
    block's: a G3D block after the first stage widens its channels in the window collapse, after the contraction.
    """
    rows = []
    for row in contraction_table(model, frames):
        first, project = row.aggregate_first, row.project_first
        if project < first:
            why = f"project-first needs {100 * (1 - project / first):.0f} % fewer MACs"
        elif project == first:
            why = "a tie: the original order is kept"
        else:
            why = f"project-first would need {project / first:.1f}x the MACs"
        rows.append({"layer": row.layer, "kind": row.kind, "scales": row.scales,
                     "graph channels": f"{row.in_channels} -> {row.out_channels}", "order": row.chosen,
                     "aggregate-first MMAC": first / 1e6, "project-first MMAC": project / 1e6, "why": why})  # fmt: skip
    return rows


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 100 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A plain-text table with a header line, a rule and one line per row."""
    columns = columns or list(rows[0])
    cells = [[_cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r.get(c), (int, float)) for r in rows) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append(
            "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(row, widths, numeric, strict=True))
        )
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stviz.contrast", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64, help="T for the models (0: each model's usual T)")
    parser.add_argument("--no-latency", action="store_true", help="skip CPU latency (counting only, a few seconds)")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs per block (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads while timing (the reference used 2)")
    args = parser.parse_args(argv)
    latency = not args.no_latency
    blocks = block_rows(latency=latency, repeat=args.repeat, threads=args.threads)
    block_columns = [
        "axis",
        "block",
        "computes",
        "fixed",
        "learned",
        "per sample",
        "params",
        "MMAC",
        "einsum/matmul MMAC",
    ]
    print("Blocks at (N, C, T, V) = (8, 64, 64, 25); MMAC per sample" + ("; ms = median CPU latency" * latency))
    print(format_table(blocks, block_columns + ["ms"] * latency))
    models = model_rows(
        frames=args.frames or None, latency=latency, repeat=max(1, args.repeat // 2), threads=args.threads
    )
    model_columns = ["model", "T", "params", "thop params", "GMAC", "conv GMAC", "einsum/matmul GMAC"]
    print(
        "\nModels, one sample of 2 persons, in stviz's contraction orders: conv GMAC counts the ops stviz runs as "
        "convolutions (MS-G3D's 1x1 projections run as matrix products); the published figures below use thop's"
    )
    print(format_table(models, model_columns + ["ms"] * latency))
    print(
        "\nPublished figures, each counted under the convention that explains it; counted: in the figure's unit "
        "(M = 1e6 parameters, G = 1e9 MACs); rounded: to the figure's decimals; match: rounded == published; "
        "gap %: 100 * (published / counted - 1)"
    )
    columns = ["model", "published", "counted", "rounded", "match", "gap %", "convention", "source"]
    print(format_table(reconcile(), columns))


if __name__ == "__main__":
    main()
