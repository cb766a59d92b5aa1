"""stviz blocks against the originals' forward, timed interleaved in one process on the same weights.

Run: ``.venv/bin/python benchmarks/originals.py [--repeat 40] [--threads 2]``.

SPEC.md §7's absolute timings come from another moment on a shared machine whose medians move by up to 2x, so
comparing against them says little. Here each original forward is written out as the original computes it (SPEC.md
§4-§5: the same op sequence, in-place swish ``x.mul_(x.sigmoid())`` where EfficientGCN uses it), applied to the
stviz module's own parameters, checked equal to the stviz output, and timed call by call alternating with the stviz
block. The ratio column is stviz / original: below 1 means stviz is faster. N=8, C=64, T=64, V=25, eval mode.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from stviz import official, set_seed
from stviz.spatial import ChannelTopologyUnit, PartitionGraphConv, ShiftGraphConv
from stviz.temporal import TemporalBasicLayer, TemporalBottleneckLayer, TemporalSandglassLayer, TemporalSepLayer


def _swish(x: torch.Tensor) -> torch.Tensor:
    return x.mul_(x.sigmoid())  # EfficientGCN's Swish(inplace=True)


def conv_temporal_graphical(m: PartitionGraphConv, x: torch.Tensor) -> torch.Tensor:
    """ST-GCN ``ConvTemporalGraphical``: 1x1 conv to K*C, then einsum('nkctv,kvw->nctw')."""
    x = m.conv(x)
    n, kc, t, v = x.size()
    x = x.view(n, m.num_subsets, kc // m.num_subsets, t, v)
    return torch.einsum("nkctv,kvw->nctw", (x, m.graph())).contiguous()


def unit_gcn(m: ChannelTopologyUnit, x: torch.Tensor) -> torch.Tensor:
    """CTR-GCN ``unit_gcn``: three CTRGCs summed one after another, then relu(bn(y) + down(x))."""
    y = None
    for k, conv in enumerate(m.convs):
        x1, x2, x3 = conv.embed_u(x).mean(-2), conv.embed_v(x).mean(-2), conv.value(x)
        x1 = torch.tanh(x1.unsqueeze(-1) - x2.unsqueeze(-2))
        x1 = conv.expand(x1) * m.alpha + m.topology[k].unsqueeze(0).unsqueeze(0)
        z = torch.einsum("ncuv,nctv->nctu", x1, x3)
        y = z + y if y is not None else z
    return torch.relu(m.bn(y) + m.down(x))


def shift_gcn(m: ShiftGraphConv, x0: torch.Tensor) -> torch.Tensor:
    """Shift-GCN ``Shift_gcn``: index_select shift in, mask, einsum linear, shift out, BN1d, residual."""
    n, c, t, v = x0.size()
    x = x0.permute(0, 2, 3, 1).contiguous().view(n * t, v * c)
    x = torch.index_select(x, 1, m.index_in).view(n * t, v, c)
    x = x * (torch.tanh(m.feature_mask) + 1)
    x = torch.einsum("nwc,cd->nwd", (x, m.weight)).contiguous() + m.bias
    x = torch.index_select(x.view(n * t, -1), 1, m.index_out)
    x = m.bn(x).view(n, t, v, m.out_channels).permute(0, 3, 1, 2)
    return torch.relu(x + m.down(x0))


def basic_layer(m: TemporalBasicLayer, x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN ``Temporal_Basic_Layer``: act(bn(conv(x)) + res)."""
    return _swish(m.bn(m.conv(x)) + x)


def bottleneck_layer(m: TemporalBottleneckLayer, x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN ``Temporal_Bottleneck_Layer``."""
    h = _swish(m.reduct_conv(x))
    h = _swish(m.conv(h))
    return _swish(m.expand_conv(h) + x)


def sep_layer(m: TemporalSepLayer, x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN ``Temporal_Sep_Layer``: no activation after the residual sum."""
    h = _swish(m.expand_conv(x))
    h = _swish(m.depth_conv(h))
    return m.point_conv(h) + x


def sandglass_layer(m: TemporalSandglassLayer, x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN ``Temporal_SG_Layer``: no activation after the residual sum."""
    h = _swish(m.depth_conv1(x))
    h = m.point_conv1(h)
    h = _swish(m.point_conv2(h))
    return m.depth_conv2(h) + x


def pairs(c: int = 64) -> dict[str, tuple[torch.nn.Module, object]]:
    """Each block (eval mode) and the original forward transcribed above."""
    a_st, a_ctr = official.adjacency("stgcn"), official.adjacency("ctrgcn")
    unit = ChannelTopologyUnit(c, c, a_ctr)
    with torch.no_grad():
        unit.alpha.fill_(0.5)  # a non-zero refinement, as after training
        unit.bn.weight.fill_(1.0)
    blocks = {
        "stgcn ConvTemporalGraphical": (PartitionGraphConv(c, c, a_st), conv_temporal_graphical),
        "ctrgcn unit_gcn": (unit, unit_gcn),
        "shiftgcn Shift_gcn": (ShiftGraphConv(c, c), shift_gcn),
        "effgcn Temporal_Basic_Layer(k5)": (TemporalBasicLayer(c, 5), basic_layer),
        "effgcn Temporal_Bottleneck_Layer(k5, r4)": (TemporalBottleneckLayer(c, 5, 4), bottleneck_layer),
        "effgcn Temporal_Sep_Layer(k5, e2)": (TemporalSepLayer(c, 5, 2), sep_layer),
        "effgcn Temporal_SG_Layer(k5, r4)": (TemporalSandglassLayer(c, 5, 4), sandglass_layer),
    }
    return {name: (m.eval(), fn) for name, (m, fn) in blocks.items()}


def interleaved(block, original, x: torch.Tensor, repeat: int, warmup: int = 5) -> tuple[float, float]:
    """Median ms of ``block(x)`` and ``original(block, x)``, timed call by call in turns."""
    ours, theirs = [], []
    with torch.no_grad():
        for _ in range(warmup):
            block(x)
            original(block, x)
        for _ in range(repeat):
            start = time.perf_counter()
            block(x)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            original(block, x)
            theirs.append(time.perf_counter() - start)
    return 1e3 * statistics.median(ours), 1e3 * statistics.median(theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    set_seed(0)
    x = torch.randn(8, 64, 64, 25)
    print(f"torch {torch.__version__}, {args.threads} threads, N, C, T, V = {tuple(x.shape)}, median of {args.repeat}")
    print(f"{'block':42s} {'stviz ms':>9s} {'original ms':>12s} {'ratio':>6s}")
    for name, (block, original) in pairs().items():
        with torch.no_grad():
            torch.testing.assert_close(block(x), original(block, x.clone()), atol=1e-4, rtol=1e-4)
        ours, theirs = interleaved(block, original, x, args.repeat)
        print(f"{name:42s} {ours:9.2f} {theirs:12.2f} {ours / theirs:6.2f}")


if __name__ == "__main__":
    main()
