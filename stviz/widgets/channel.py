"""Widgets for notebook 03: a live parameter/MAC table for temporal layers, and a CTR-GCN channel picker.

Each explorer is a :class:`stviz.widgets.PictureBox` (controls above, the figure below as a PNG) whose controls
and state are attributes, so a test or the next notebook cell can set ``.value`` and assert what changed.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from stviz import viz
from stviz.channel import efficient_temporal_cost, temporal_conv_cost
from stviz.checks import check_positive_int
from stviz.graph import SkeletonGraph
from stviz.widgets import WIDE_LABELS, PictureBox, picture, show_figure
from stviz.widgets.choice import Choice

__all__ = ["CostExplorer", "cost_explorer", "ChannelPicker", "channel_picker"]


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


class CostExplorer(PictureBox):
    """Sliders for width, kernel, expand ratio, reduction ratio and groups; params and MACs per sample, as a table
    and as bars.

    State after each update: ``rows`` (``{layer: {"params": int, "macs": int}}``), ``table`` (the HTML widget) and
    ``figure`` (MACs of each layer relative to the dense convolution).
    Counts are for one sample of ``frames`` x ``joints`` at stride 1 (:mod:`stviz.channel` closed forms).
    """

    def __init__(self, frames: int = 64, joints: int = 25):
        check_positive_int(frames, "frames", block="cost_explorer")
        check_positive_int(joints, "joints", block="cost_explorer")
        self.frames, self.joints = frames, joints
        self.channels = widgets.IntSlider(value=64, min=16, max=256, step=16, description="channels C",
                                          style=WIDE_LABELS)  # fmt: skip
        self.kernel_size = widgets.IntSlider(value=5, min=3, max=9, step=2, description="kernel k", style=WIDE_LABELS)
        self.expand_ratio = widgets.IntSlider(value=2, min=0, max=6, description="expand e", style=WIDE_LABELS)
        self.reduct_ratio = Choice(options=[1, 2, 4, 8, 16], value=4, description="reduce r")
        self.groups = Choice(options=_divisors(64), value=4, description="groups g")  # 1 would repeat the dense row
        self.table = widgets.HTML()
        self.image = picture()
        self.rows: dict[str, dict[str, int]] = {}
        self.figure: Figure | None = None
        controls = [self.channels, self.kernel_size, self.expand_ratio, self.reduct_ratio, self.groups]
        body = widgets.HBox([self.table, self.image])
        super().__init__([widgets.HBox(controls[:3]), widgets.HBox(controls[3:]), body])
        self.channels.observe(self._on_channels, names="value")
        for control in controls[1:]:
            control.observe(self._update, names="value")
        self._update()

    def _on_channels(self, change=None) -> None:
        keep = self.groups.value if self.channels.value % self.groups.value == 0 else 1
        self.groups.options = _divisors(self.channels.value)  # resets the value to the first option
        self.groups.value = keep
        self._update()

    def _update(self, change=None) -> None:
        c, k, e, r, g = (self.channels.value, self.kernel_size.value, self.expand_ratio.value,
                         self.reduct_ratio.value, self.groups.value)  # fmt: skip
        t, v = self.frames, self.joints
        self.rows = {
            "(k,1) conv, dense (g=1)": temporal_conv_cost(c, c, k, 1, t, v),
            f"(k,1) conv, grouped (g={g})": temporal_conv_cost(c, c, k, g, t, v),
            f"(k,1) conv, depthwise (g={c})": temporal_conv_cost(c, c, k, c, t, v),
            "Basic layer": efficient_temporal_cost("Basic", c, k, 0, t, v),
            f"Sep layer (e={e})": efficient_temporal_cost("Sep", c, k, e, t, v),
            f"Bottleneck layer (r={r})": efficient_temporal_cost("Bottleneck", c, k, r, t, v),
            f"SG layer (r={r})": efficient_temporal_cost("SG", c, k, r, t, v),
        }
        dense = self.rows["(k,1) conv, dense (g=1)"]
        lines = [
            f"<tr><td>{name}</td><td align='right'>{row['params']:,}</td><td align='right'>{row['macs'] / 1e6:.2f}</td>"
            f"<td align='right'>{row['macs'] / dense['macs']:.3f}</td></tr>"
            for name, row in self.rows.items()
        ]
        self.table.value = (
            f"<table><tr><th>layer (C={c}, T={t}, V={v})</th><th>params</th><th>MMACs</th>"
            f"<th>MACs / dense conv</th></tr>{''.join(lines)}</table>"
        )
        fig, ax = plt.subplots(figsize=(4.6, 3.4), layout="constrained")
        names = list(self.rows)
        ax.barh(names, [row["macs"] / dense["macs"] for row in self.rows.values()], color="tab:blue")
        ax.axvline(1.0, color="0.3", lw=1, ls="--")
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=8)
        ax.set(xlabel="MACs / dense (k,1) conv", title=f"C={c}, k={k}: MACs")
        self.figure = fig
        show_figure(self.image, fig)


def cost_explorer(frames: int = 64, joints: int = 25) -> CostExplorer:
    """Build the live parameter/MAC table for temporal convolutions and EfficientGCN's temporal layers."""
    return CostExplorer(frames, joints)


class ChannelPicker(PictureBox):
    """A channel slider over one CTR-GCN unit; the figure shows that channel's refinement in each subset.

    ``refinements``: (K, C, V, V), ``alpha * T_k,c`` of one :class:`~stviz.spatial.ChannelTopologyUnit` for one input
    (rows are targets): every matrix comes from the same unit, so the slider moves along one module's channels.
    The colour scale is shared by all channels and subsets. State after each update: ``top_edges`` (per subset,
    the strongest ``(source, target, weight)``) and ``figure``.
    """

    def __init__(self, refinements, graph: SkeletonGraph | None = None, top_k: int = 8,
                 subset_names: tuple[str, ...] = ("identity", "inward", "outward")):  # fmt: skip
        self.graph = SkeletonGraph() if graph is None else graph
        self.refinements = torch.as_tensor(refinements).detach().float()
        v = self.graph.num_nodes
        if self.refinements.dim() != 4 or tuple(self.refinements.shape[2:]) != (v, v):
            raise ValueError(
                f"channel_picker: refinements must have shape (K, C, V, V) with V = {v}, "
                f"got {tuple(self.refinements.shape)}"
            )
        check_positive_int(top_k, "top_k", block="channel_picker")
        self.top_k, self.subset_names = top_k, subset_names
        bound = float(self.refinements.abs().max()) or 1.0
        self.norm = Normalize(-bound, bound)
        self.channel = widgets.IntSlider(value=0, min=0, max=self.refinements.shape[1] - 1, description="channel")
        self.image = picture()
        self.top_edges: list[list[tuple[int, int, float]]] = []
        self.figure: Figure | None = None
        super().__init__([self.channel, self.image])
        self.channel.observe(self._update, names="value")
        self._update()

    def _update(self, change=None) -> None:
        c = self.channel.value
        matrices = self.refinements[:, c]  # (K, V, V)
        self.top_edges = [viz.matrix_edges(m, "row_target", top_k=self.top_k) for m in matrices]
        title = f"channel {c}: α·T_k,c per subset (one colour scale)"
        self.figure = viz.plot_subset_refinements(
            matrices, self.graph, norm=self.norm, top_k=self.top_k, subset_names=self.subset_names, title=title
        )
        show_figure(self.image, self.figure)


def channel_picker(refinements, graph: SkeletonGraph | None = None, top_k: int = 8) -> ChannelPicker:
    """Build the channel picker over one CTR-GCN unit's per-subset refinements (K, C, V, V)."""
    return ChannelPicker(refinements, graph, top_k)
