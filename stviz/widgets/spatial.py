"""01 · spatial: CTR-GCN topology explorer (channel, subset, alpha, sample) and Shift-GCN shift arrows."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from matplotlib import colors

from stviz.checks import check_nctv, check_positive_int
from stviz.graph import SkeletonGraph
from stviz.spatial import ChannelTopologyUnit, ShiftGraphConv
from stviz.viz import draw_matrix_on_skeleton, shift_matrix, skeleton_weight_key
from stviz.viz.style import WIDTH
from stviz.widgets import PictureBox, picture, show_figure
from stviz.widgets.choice import Choice, ToggleChoice

__all__ = ["TopologyExplorer", "topology_explorer", "ShiftArrows", "shift_arrows", "SHIFT_KINDS"]

SUBSET_NAMES = ("identity", "inward", "outward")
# ShiftArrows' labels for ShiftGraphConv's ``shift='cyclic'`` and ``shift='local'``
SHIFT_KINDS = {
    "cyclic": "non-local / cyclic (the paper's main model, as released)",
    "local": "local (the paper's local variant)",
}


class TopologyExplorer(PictureBox):
    """Pick a sample, subset, channel and alpha; draw shared, refinement and total topology on the skeleton.

    ``unit`` is a :class:`ChannelTopologyUnit`; ``x`` (N, C_in, T, V) its inputs. After each redraw,
    ``shared`` (PA[k]), ``refinement`` (alpha * T_kc(x_n)) and ``matrix`` (their sum, rows are targets)
    are the (V, V) matrices drawn. ``alpha`` starts at the unit's learned value.
    """

    def __init__(self, unit: ChannelTopologyUnit, x: torch.Tensor, sample_names=None, top_k: int = 12):
        check_nctv(x, channels=unit.in_channels, num_joints=unit.num_joints, block="topology_explorer", weight=unit.bn)
        check_positive_int(top_k, "top_k", block="topology_explorer")
        self.unit, self.x, self.top_k = unit, x, top_k
        num_subsets, out_channels = len(unit.convs), unit.convs[0].out_channels
        names = list(sample_names) if sample_names is not None else [f"sample {i}" for i in range(len(x))]
        subset_names = SUBSET_NAMES if num_subsets == 3 else [f"subset {k}" for k in range(num_subsets)]
        self.sample = Choice(options=[(n, i) for i, n in enumerate(names)], value=0, description="sample")
        self.subset = Choice(options=[(n, k) for k, n in enumerate(subset_names)], value=1, description="subset")
        self.channel = widgets.IntSlider(value=0, min=0, max=out_channels - 1, description="channel")
        alpha = float(unit.alpha.detach())
        self.alpha = widgets.FloatSlider(value=alpha, min=-2.0, max=2.0, step=0.05, description="alpha")
        self.summary = widgets.Label()
        self.image = picture()
        controls = [widgets.HBox([self.sample, self.subset]), widgets.HBox([self.channel, self.alpha])]
        super().__init__([*controls, self.summary, self.image])
        for control in (self.sample, self.subset, self.channel, self.alpha):
            control.observe(self.redraw, names="value")
        self.redraw()

    def compute(self) -> None:
        """Set ``shared``, ``refinement`` and ``matrix`` for the current controls."""
        k, c, n = self.subset.value, self.channel.value, self.sample.value
        with torch.no_grad():
            refinement = self.unit.convs[k].refinement(self.x[n : n + 1])[0, c]  # (V, V)
        self.shared = self.unit.topology[k].detach()
        self.refinement = self.alpha.value * refinement
        self.matrix = self.shared + self.refinement

    def redraw(self, change=None) -> None:
        self.compute()
        self.summary.value = (
            f"|shared| = {self.shared.abs().sum():.2f}, |alpha T| = {self.refinement.abs().sum():.2f} "
            f"(sums of absolute values over the {len(self.shared)} x {len(self.shared)} matrix)"
        )
        fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 4.4), layout="constrained")
        shared = f"shared PA[{self.subset.label}]"
        parts = ((shared, self.shared), ("alpha T (the refinement)", self.refinement), ("total", self.matrix))
        bound = max(float(m.abs().max()) for _, m in parts) or 1.0
        norm = colors.Normalize(-bound, bound)  # one scale: the three panels' sizes compare
        for ax, (name, m) in zip(axes, parts, strict=True):
            draw_matrix_on_skeleton(
                m, convention="row_target", ax=ax, top_k=self.top_k, title=name, norm=norm, colorbar=False
            )
        skeleton_weight_key(axes, [m for _, m in parts], norm, "RdBu_r", top_k=self.top_k)
        fig.suptitle(
            f"{self.sample.label}, {self.subset.label}, channel {self.channel.value}, alpha={self.alpha.value:.2f}"
        )
        self.figure = fig
        show_figure(self.image, fig)


def topology_explorer(unit: ChannelTopologyUnit, x: torch.Tensor, sample_names=None) -> TopologyExplorer:
    """The notebook's one-call widget."""
    return TopologyExplorer(unit, x, sample_names)


class ShiftArrows(PictureBox):
    """Channel slider and shift kind drawing Shift-GCN's shift-in arrows.

    The two kinds are the paper's two shifts: the non-local one, cyclic along the joint index (channel c of joint v
    reads joint (v + c) mod V, ignoring the graph), which the paper's main model and the released code use, and the
    local one, over each joint's graph neighbours (:data:`SHIFT_KINDS` holds their labels).

    ``sources`` is the (V,) 0-based index of the joint each joint reads in the chosen channel; ``moved`` counts
    joints that read another joint and ``bone_arrows`` those that read a neighbour on the skeleton. The figure
    labels joints with their 1-based NTU numbers (``J21``).
    """

    def __init__(self, channels: int = 64, graph: SkeletonGraph | None = None):
        check_positive_int(channels, "channels", minimum=2, block="shift_arrows")
        self.graph = graph or SkeletonGraph("ntu-rgb+d")
        self.blocks = {
            SHIFT_KINDS["cyclic"]: ShiftGraphConv(channels, channels, self.graph.num_nodes),
            SHIFT_KINDS["local"]: ShiftGraphConv(
                channels, channels, self.graph.num_nodes, shift="local", graph=self.graph
            ),
        }
        self.channel = widgets.IntSlider(value=1, min=0, max=channels - 1, description="channel")
        self.kind = ToggleChoice(options=list(self.blocks), description="shift",
                                          style={"button_width": "auto"})  # fmt: skip
        self.summary = widgets.Label()
        self.image = picture()
        super().__init__([widgets.HBox([self.channel, self.kind]), self.summary, self.image])
        self.channel.observe(self.redraw, names="value")
        self.kind.observe(self.redraw, names="value")
        self.redraw()

    def redraw(self, change=None) -> None:
        src_in, _ = self.blocks[self.kind.value].sources()
        self.sources = src_in[:, self.channel.value]
        adjacency = self.graph.binary_adjacency()
        joints = torch.arange(self.graph.num_nodes)
        self.moved = int((self.sources != joints).sum())
        self.bone_arrows = int(adjacency[joints, self.sources].sum())
        self.summary.value = (
            f"channel {self.channel.value}: {self.moved} of {self.graph.num_nodes} joints read another joint, "
            f"{self.bone_arrows} of them along a bone"
        )
        fig, ax = plt.subplots(figsize=(6.6, 5.4), layout="constrained")
        kind, channel = self.kind.value, self.channel.value
        title = f"Shift-GCN shift-in, channel {channel}\n{kind}\narrow: source joint -> reading joint"
        draw_matrix_on_skeleton(
            shift_matrix(self.sources), self.graph, "row_target", ax=ax, labels="number", title=title
        )
        self.figure = fig
        show_figure(self.image, fig)


def shift_arrows(channels: int = 64) -> ShiftArrows:
    """The notebook's one-call widget."""
    return ShiftArrows(channels)
