"""Widgets for notebook 03: a live parameter/MAC table for temporal layers, and a channel picker.

Each explorer is an ``ipywidgets.VBox`` whose controls and state are attributes, so a test or the
next notebook cell can set ``.value`` and assert what changed.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from stviz import viz
from stviz.channel import efficient_temporal_cost, temporal_conv_cost
from stviz.graph import SkeletonGraph
from stviz.widgets import show_figure

__all__ = ["CostExplorer", "cost_explorer", "ChannelPicker", "channel_picker"]


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


class CostExplorer(widgets.VBox):
    """Sliders for width, kernel, expand ratio, reduction ratio and groups; a table of params and MACs per sample.

    State after each update: ``rows`` (``{layer: {"params": int, "macs": int}}``) and ``table`` (the HTML widget).
    Counts are for one sample of ``frames`` x ``joints`` at stride 1 (:mod:`stviz.channel` closed forms).
    """

    def __init__(self, frames: int = 64, joints: int = 25):
        self.frames, self.joints = frames, joints
        self.channels = widgets.IntSlider(value=64, min=16, max=256, step=16, description="channels C")
        self.kernel_size = widgets.IntSlider(value=5, min=3, max=9, step=2, description="kernel k")
        self.expand_ratio = widgets.IntSlider(value=2, min=0, max=6, description="expand e")
        self.reduct_ratio = widgets.Dropdown(options=[1, 2, 4, 8, 16], value=4, description="reduce r")
        self.groups = widgets.Dropdown(options=_divisors(64), value=1, description="groups g")
        self.table = widgets.HTML()
        self.rows: dict[str, dict[str, int]] = {}
        controls = [self.channels, self.kernel_size, self.expand_ratio, self.reduct_ratio, self.groups]
        super().__init__([widgets.HBox(controls[:3]), widgets.HBox(controls[3:]), self.table])
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


def cost_explorer(frames: int = 64, joints: int = 25) -> CostExplorer:
    """Build the live parameter/MAC table for temporal convolutions and EfficientGCN's temporal layers."""
    return CostExplorer(frames, joints)


class ChannelPicker(widgets.VBox):
    """A channel slider; the figure shows that channel's topology, its spatial shift and its temporal shift.

    ``topologies``: (C, V, V), rows are targets (CTR-GCN); ``spatial_sources``: (C, V) int, the joint that
    (channel, joint) reads in Shift-GCN's spatial shift; ``temporal_response``: (C, T), the temporal shift's
    response to a unit impulse. The slider covers the first min(C) channels when the three C differ.
    State after each update: ``top_edges`` (the topology's strongest
    ``(source, target, weight)``), ``reads`` (source joint per joint), ``peak_frame`` and ``figure``.
    """

    def __init__(self, topologies, spatial_sources, temporal_response, graph: SkeletonGraph | None = None,
                 top_k: int = 10):  # fmt: skip
        self.graph = SkeletonGraph() if graph is None else graph
        self.topologies = torch.as_tensor(topologies).detach()
        self.spatial_sources = torch.as_tensor(spatial_sources)
        self.temporal_response = torch.as_tensor(temporal_response).detach()
        num_channels = min(len(self.topologies), len(self.spatial_sources), len(self.temporal_response))
        self.top_k = top_k
        self.channel = widgets.IntSlider(value=0, min=0, max=num_channels - 1, description="channel")
        self.image = widgets.Image(format="png")
        self.top_edges: list[tuple[int, int, float]] = []
        self.reads: list[int] = []
        self.peak_frame = -1
        self.figure: Figure | None = None
        super().__init__([self.channel, self.image])
        self.channel.observe(self._update, names="value")
        self._update()

    def _update(self, change=None) -> None:
        c = self.channel.value
        topology = self.topologies[c]
        self.top_edges = viz.matrix_edges(topology, "row_target", top_k=self.top_k)
        self.reads = self.spatial_sources[c].tolist()
        response = self.temporal_response[c]
        self.peak_frame = int(response.argmax())
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.6), layout="constrained", width_ratios=(1, 1, 1.2))
        viz.draw_matrix_on_skeleton(topology, self.graph, "row_target", ax=axes[0], top_k=self.top_k,
                                    title=f"channel {c}: {self.top_k} strongest topology entries")  # fmt: skip
        reads = viz.shift_matrix(self.spatial_sources[c])  # (V, V): row u reads column sources[u]
        viz.draw_matrix_on_skeleton(reads, self.graph, "row_target", ax=axes[1], colorbar=False,
                                    title=f"channel {c}: spatial shift (source -> reader)")  # fmt: skip
        axes[2].plot(response.numpy(), marker="o", ms=3)
        axes[2].axvline(self.peak_frame, color="tab:red", ls="--", label=f"peak at frame {self.peak_frame}")
        axes[2].set(xlabel="output frame", ylabel="response to a unit impulse",
                    title=f"channel {c}: temporal shift impulse response")  # fmt: skip
        axes[2].legend(loc="upper right", fontsize=8)
        self.figure = fig
        show_figure(self.image, fig, dpi=72)


def channel_picker(topologies, spatial_sources, temporal_response, graph: SkeletonGraph | None = None,
                   top_k: int = 10) -> ChannelPicker:  # fmt: skip
    """Build the channel picker over per-channel topologies and Shift-GCN shift patterns."""
    return ChannelPicker(topologies, spatial_sources, temporal_response, graph, top_k)
