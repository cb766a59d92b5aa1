"""CPU latency of the MS-G3D blocks: stviz's contraction order against the original order.

``python benchmarks/multiscale.py`` builds each stviz block, wraps the same weights in a
faithful re-implementation of the original computation order (the released code: stacked
(K*V, V) einsum, scale-major permute + copy, 1x1 conv; ``nn.Unfold`` for the windows;
Conv3d to collapse them), checks both give the same output, and times both in the same
process at N=8, C=64, T=64, V=25 with 2 threads, alternating rounds so that load from
other processes hits both alike, and keeps each one's least disturbed round. docs/numbers.md
has the originals' own timings.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from stviz import set_seed
from stviz.cost import count, latency_ms
from stviz.graph import SkeletonGraph
from stviz.multiscale import G3DBlock, MultiScaleGraphConv, MultiWindowG3D, window_padding

DOC_MS = {"MultiScale_GraphConv": 54.08, "MS_G3D": 80.99, "MultiWindow_MS_G3D": 271.03}


class OriginalOrderGraphConv(nn.Module):
    """MultiScale_GraphConv / SpatialTemporal_MS_GCN in the original order, sharing ``block``'s weights."""

    def __init__(self, block: MultiScaleGraphConv):
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.block
        n, c, t, v = x.shape
        a = b.adjacency().reshape(b.num_scales * v, v)  # (K*V, V)
        s = torch.einsum("vu,nctu->nctv", a, x)  # (N, C, T, K*V)
        s = s.view(n, c, t, b.num_scales, v).permute(0, 3, 1, 2, 4).contiguous().view(n, -1, t, v)  # (N, K*C, T, V)
        return b.act(b.bn(b.conv(s)))


class OriginalOrderG3D(nn.Module):
    """MS_G3D in the original order: nn.Unfold, window graph conv, Conv3d, BN; sharing ``block``'s weights."""

    def __init__(self, block: G3DBlock):
        super().__init__()
        self.block = block
        w, s, d = block.windows.window_size, block.windows.window_stride, block.windows.window_dilation
        self.unfold = nn.Unfold((w, 1), dilation=(d, 1), stride=(s, 1), padding=(window_padding(w, d), 0))
        self.graph_conv = OriginalOrderGraphConv(block.graph_conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v = x.shape
        w = self.block.windows.window_size
        x = self.unfold(x).view(n, c, w, -1, v).permute(0, 1, 3, 2, 4).contiguous().view(n, c, -1, w * v)
        y = self.graph_conv(x).view(n, -1, x.shape[2], w, v)  # (N, C_e, T', w, V)
        return self.block.bn(self.block.collapse(y).squeeze(3))


class OriginalOrderMultiWindow(nn.Module):
    def __init__(self, block: MultiWindowG3D):
        super().__init__()
        self.blocks = nn.ModuleList(OriginalOrderG3D(b) for b in block.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(b(x) for b in self.blocks)


def perturbed(module: nn.Module) -> nn.Module:
    """Eval mode with weights and BN statistics moved off their init, as docs/numbers.md measured."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn_like(p))
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 1.5)
    return module.eval()


def cases(channels: int) -> dict[str, tuple[nn.Module, nn.Module]]:
    a = SkeletonGraph().binary_adjacency()
    gcn = perturbed(MultiScaleGraphConv(channels, channels, a, 13))
    g3d = perturbed(G3DBlock(channels, channels, a, 6, 3))
    multi = perturbed(MultiWindowG3D(channels, channels, a, 6, (3, 5)))
    return {
        "MultiScale_GraphConv": (gcn, OriginalOrderGraphConv(gcn)),
        "MS_G3D": (g3d, OriginalOrderG3D(g3d)),
        "MultiWindow_MS_G3D": (multi, OriginalOrderMultiWindow(multi)),
    }


def measure(n: int = 8, channels: int = 64, t: int = 64, rounds: int = 3, repeat: int = 5) -> list[dict]:
    """One row per block: both latencies (best of alternating rounds of medians), speed-up, MFLOPs per sample."""
    set_seed(0)
    x = torch.randn(n, channels, t, 25)
    rows = []
    for name, (ours, original) in cases(channels).items():
        with torch.no_grad():
            torch.testing.assert_close(ours(x), original(x), atol=1e-4, rtol=1e-4)
        ours_ms, original_ms = [], []
        for _ in range(rounds):
            ours_ms.append(latency_ms(ours, x, warmup=2, repeat=repeat))
            original_ms.append(latency_ms(original, x, warmup=2, repeat=repeat))
        ours_ms, original_ms = min(ours_ms), min(original_ms)  # the least disturbed round of each
        rows.append(
            dict(
                block=name,
                ours_ms=ours_ms,
                original_order_ms=original_ms,
                speedup=original_ms / ours_ms,
                spec_ms=DOC_MS[name],
                ours_mflops=count(ours, x[:1]).flops / 1e6,
                original_mflops=count(original, x[:1]).flops / 1e6,
                params=count(ours, x[:1]).params,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'block':22} {'stviz ms':>9} {'orig-order ms':>14} {'speed-up':>9} {'numbers.md ms':>11} "
          f"{'MFLOP stviz':>12} {'MFLOP orig':>11} {'params':>8}")  # fmt: skip
    for r in measure(rounds=args.rounds, repeat=args.repeat):
        print(
            f"{r['block']:22} {r['ours_ms']:9.1f} {r['original_order_ms']:14.1f} {r['speedup']:8.2f}x "
            f"{r['spec_ms']:11.1f} {r['ours_mflops']:12.1f} {r['original_mflops']:11.1f} {r['params']:8d}"
        )


if __name__ == "__main__":
    main()
