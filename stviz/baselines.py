"""Small reference models for the trainer and the learnability benchmark.

All take (N, C, T, V, M), fold persons into the batch person-minor (``n*M + m``), average the pooled
features over persons and end in a linear classifier. They are kept tiny so a CPU trains them in seconds:

* :class:`TinyGCN` sees joints and frames: graph convolution over CTR-GCN's three column-normalised subsets
  (self, inward, outward), then a temporal conv.
* :class:`TimeBlindGCN` averages over time before any temporal modelling: it sees the set of poses, not their
  order, so it cannot tell an action from the same action played backwards.
* :class:`SideBlindGCN` is TinyGCN on a left/right-symmetrised input: it cannot tell left from right.
* :class:`TopologyClassifier` is a small CTR-GCN-style net whose learned topologies the notebooks draw.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.checks import check_nctv
from stviz.data.synthetic import mirror_left_right
from stviz.graph import SkeletonGraph
from stviz.models.base import SkeletonModel
from stviz.persons import fold_persons, mean_over_persons, pool_persons
from stviz.spatial import ChannelTopologyUnit

__all__ = [
    "GraphTemporalLayer",
    "TinyGCN",
    "TimeBlindGCN",
    "SideBlindGCN",
    "TopologyClassifier",
    "BASELINES",
    "build_baseline",
]


class GraphTemporalLayer(nn.Module):
    """Graph conv ``sum_k W_k X A_k`` over K fixed subsets, then a (k, 1) temporal conv; BN and ReLU after each.

    ``a``: (K, V, V). (N, C_in, T, V) -> (N, C_out, ceil(T / stride), V). ``kernel_size=0`` leaves out the
    temporal conv (a per-frame layer). ST-GCN's ``st_gcn`` without residual.
    """

    def __init__(self, in_channels: int, out_channels: int, a: torch.Tensor, kernel_size: int = 9, stride: int = 1):
        super().__init__()
        self.register_buffer("a", a.clone())
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.weight = nn.Conv2d(in_channels, out_channels * a.shape[0], 1)
        self.spatial = nn.Sequential(nn.BatchNorm2d(out_channels), nn.ReLU())
        self.temporal = (
            nn.Sequential(
                nn.Conv2d(out_channels, out_channels, (kernel_size, 1), (stride, 1), ((kernel_size - 1) // 2, 0)),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            )
            if kernel_size
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(
            x, channels=self.in_channels, num_joints=self.a.shape[-1], block="GraphTemporalLayer", weight=self.weight
        )
        n, _, t, v = x.shape
        x = self.weight(x).view(n, self.a.shape[0], self.out_channels, t, v)  # (N, K, C, T, V)
        x = torch.einsum("nkctu,kuv->nctv", x, self.a)  # sum over subsets k and neighbours u: (N, C, T, V)
        return self.temporal(self.spatial(x))


class _FoldedGCN(SkeletonModel):
    """Shared skeleton: data BN, fold persons, a stack of layers, pool, mean over persons, classifier."""

    def __init__(self, num_classes: int, in_channels: int, graph: SkeletonGraph, hidden: int):
        super().__init__(in_channels, graph.num_nodes)
        self.graph = graph
        self.config = {
            "num_classes": num_classes,
            "in_channels": in_channels,
            "layout": graph.layout.name,
            "hidden": hidden,
        }
        self.data_bn = nn.BatchNorm1d(in_channels * graph.num_nodes)
        self.fc = nn.Linear(2 * hidden, num_classes)

    def _fold(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V, M) -> data BN -> (N*M, C, T, V)."""
        self.check_input(x)
        return fold_persons(x, self.data_bn)  # data_bn has V*C features: shared by the persons

    def _head(self, features: torch.Tensor, n: int) -> torch.Tensor:
        """(N*M, C') pooled features -> mean over persons -> logits (N, num_classes)."""
        return self.fc(mean_over_persons(features, n))


class TinyGCN(_FoldedGCN):
    """Three graph-temporal layers (3 -> h -> 2h -> 2h, temporal stride 2 twice), GAP, mean over persons, fc.

    A learned joint-type embedding (h, V) is added after the first layer so that pooled features still know which
    joint did what; without it, telling a left kick from a right one under random views was unreliable.

    (N, C, T, V, M) -> logits (N, num_classes). A miniature ST-GCN (Yan et al., AAAI 2018) on CTR-GCN's
    (self, inward, outward) subsets (Chen et al., ICCV 2021).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        graph: SkeletonGraph | None = None,
        hidden: int = 16,
        kernel_size: int = 5,
    ):
        graph = graph or SkeletonGraph()
        super().__init__(num_classes, in_channels, graph, hidden)
        self.config["kernel_size"] = kernel_size
        a = graph.inward_outward()  # (3, V, V): self, inward, outward
        self.layers = nn.Sequential(
            GraphTemporalLayer(in_channels, hidden, a, kernel_size, stride=2),
            GraphTemporalLayer(hidden, 2 * hidden, a, kernel_size, stride=2),
            GraphTemporalLayer(2 * hidden, 2 * hidden, a, kernel_size),
        )
        # which joint is which, added to the first layer's features (SGN's joint-type embedding)
        self.joint_embedding = nn.Parameter(torch.randn(1, hidden, 1, graph.num_nodes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        x = self.layers[0](self._fold(x)) + self.joint_embedding  # (N*M, h, T/2, V)
        x = self.layers[1:](x)  # (N*M, 2h, T/4, V)
        return self._head(x.mean((2, 3)), n)


class TimeBlindGCN(_FoldedGCN):
    """Per-frame graph layers, then the mean over time, then an MLP: a bag of poses without their order.

    (N, C, T, V, M) -> logits (N, num_classes). Cannot separate an action from its time reversal.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, graph: SkeletonGraph | None = None, hidden: int = 16):
        graph = graph or SkeletonGraph()
        super().__init__(num_classes, in_channels, graph, hidden)
        a = graph.inward_outward()  # (3, V, V): self, inward, outward
        self.layers = nn.Sequential(
            GraphTemporalLayer(in_channels, hidden, a, kernel_size=0),
            GraphTemporalLayer(hidden, 2 * hidden, a, kernel_size=0),
            GraphTemporalLayer(2 * hidden, 2 * hidden, a, kernel_size=0),
        )
        self.after_pool = nn.Sequential(nn.Linear(2 * hidden * graph.num_nodes, 2 * hidden), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        x = self.layers(self._fold(x)).mean(2)  # pool over time first: (N*M, 2h, V)
        return self._head(self.after_pool(x.flatten(1)), n)


class SideBlindGCN(TinyGCN):
    """TinyGCN on ``(x + mirror(x)) / 2``: a left/right-symmetrised input.

    (N, C, T, V, M) -> logits (N, num_classes). A left-hand action and its mirror image give the same input,
    so the model cannot tell left from right.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return super().forward((x + mirror_left_right(x)) / 2)


BASELINES: dict[str, type[_FoldedGCN]] = {
    "tiny-gcn": TinyGCN,
    "time-blind-gcn": TimeBlindGCN,
    "side-blind-gcn": SideBlindGCN,
}


def build_baseline(name: str, num_classes: int, in_channels: int = 3, layout: str = "ntu-rgb+d", hidden: int = 16):
    """Build a baseline by its command-line name (``tiny-gcn``, ``time-blind-gcn``, ``side-blind-gcn``)."""
    if name not in BASELINES:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(BASELINES)}")
    return BASELINES[name](num_classes, in_channels, SkeletonGraph(layout), hidden)


# ----------------------------------------------------------------------------
# A small classifier, to watch CTR-GCN topologies being learned.
# ----------------------------------------------------------------------------


class TopologyClassifier(SkeletonModel):
    """A small CTR-GCN-style classifier: data BN, ``ChannelTopologyUnit``s with temporal convs, GAP, linear.

    Each stage is ``relu(BN(conv_k x 1(unit(x))) + x)``. x: (N, C, T, V, M) -> logits (N, num_classes).
    """

    def __init__(
        self,
        num_classes: int,
        A: torch.Tensor,
        in_channels: int = 3,
        channels: tuple[int, ...] = (32, 32),
        num_persons: int = 2,
        temporal_kernel: int = 5,
    ):
        v = A.shape[-1]
        super().__init__(in_channels, v)
        self.data_bn = nn.BatchNorm1d(num_persons * v * in_channels)
        self.units = nn.ModuleList()
        self.tcns = nn.ModuleList()
        last = in_channels
        for i, width in enumerate(channels):
            # the first unit reads raw coordinates: 8 relation channels, as CTR-GCN gives its first layer
            self.units.append(ChannelTopologyUnit(last, width, A, rel_channels=8 if i == 0 else None))
            self.tcns.append(
                nn.Sequential(
                    nn.Conv2d(width, width, (temporal_kernel, 1), padding=((temporal_kernel - 1) // 2, 0)),
                    nn.BatchNorm2d(width),
                )
            )
            last = width
        self.fc = nn.Linear(last, num_classes)

    def fold(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise the input and fold persons into the batch, person-minor: (N, C, T, V, M) -> (N*M, C, T, V).

        This is what the first unit receives.
        """
        self.check_input(x)
        return fold_persons(x, self.data_bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        x = self.fold(x)
        for unit, tcn in zip(self.units, self.tcns, strict=True):
            h = unit(x)
            x = torch.relu(tcn(h) + h)
        return self.fc(pool_persons(x, n))
