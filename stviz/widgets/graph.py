"""Widgets for notebook 00: a joint's k-hop neighbourhood and ST-GCN groups, and synthetic samples.

Each explorer is an ``ipywidgets.VBox`` (controls above, an ``Image`` of the
figure below) whose controls and state are attributes, so a test or the next
notebook cell can set ``.value`` and assert what changed.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from stviz import viz
from stviz.data.synthetic import ACTION_CLASSES, make_action
from stviz.graph import SkeletonGraph
from stviz.widgets import show_figure

__all__ = [
    "PARTITION_GROUPS",
    "partition_groups",
    "NeighbourhoodExplorer",
    "neighbourhood_explorer",
    "SampleExplorer",
    "sample_explorer",
]

PARTITION_GROUPS = ("root", "centripetal", "centrifugal")
_GROUP_COLOURS = {"root": "tab:green", "centripetal": "tab:blue", "centrifugal": "tab:orange"}


def partition_groups(graph: SkeletonGraph, joint: int, centre_distance: str = "official") -> dict[int, str]:
    """Which ST-GCN 'spatial' subset each neighbour of ``joint`` sends through: ``{source: group}``.

    ST-GCN aggregates ``out[w] = sum_k sum_v x[v] A[k, v, w]``, so the sources of
    target ``joint`` are the non-zero rows of column ``joint`` in each subset.
    """
    a = graph.stgcn_partition("spatial", max_hop=1, centre_distance=centre_distance)  # (3, V, V)
    groups = {}
    for k, name in enumerate(PARTITION_GROUPS):
        for source in torch.nonzero(a[k, :, joint]).flatten().tolist():
            groups[source] = name
    return groups


class NeighbourhoodExplorer(widgets.VBox):
    """A joint dropdown and a hop slider; the figure shows the joint's k-hop neighbourhood and its ST-GCN groups.

    State after each update: ``highlighted`` (joints within ``hops.value`` hops),
    ``groups`` (``{"official": {source: group}, "bfs": {...}}``) and ``figure``.
    """

    def __init__(self, graph: SkeletonGraph | None = None):
        self.graph = SkeletonGraph() if graph is None else graph
        names = self.graph.joint_names
        self.joint = widgets.Dropdown(
            options=[(f"{v + 1}: {name}", v) for v, name in enumerate(names)],
            value=self.graph.center,
            description="joint",
        )
        self.hops = widgets.IntSlider(value=1, min=0, max=self.graph.diameter, description="hops")
        self.image = widgets.Image(format="png")
        self.highlighted: set[int] = set()
        self.groups: dict[str, dict[int, str]] = {}
        self.figure: Figure | None = None
        super().__init__([widgets.HBox([self.joint, self.hops]), self.image])
        self.joint.observe(self._update, names="value")
        self.hops.observe(self._update, names="value")
        self._update()

    def _update(self, change=None) -> None:
        joint, hops = self.joint.value, self.hops.value
        distance = self.graph.hop_distance()[joint]  # (V,) hops from the chosen joint
        self.highlighted = {v for v in range(self.graph.num_nodes) if distance[v] <= hops}
        self.groups = {variant: partition_groups(self.graph, joint, variant) for variant in ("official", "bfs")}
        fig, axes = plt.subplots(1, 3, figsize=(13, 4.8), layout="constrained")
        viz.draw_skeleton(
            self.graph, ax=axes[0], labels="index1", cbar_label="hops from the joint",
            highlight={v: float(distance[v]) for v in sorted(self.highlighted)},
            title=f"{len(self.highlighted)} joints within {hops} hops of {joint + 1}",
        )  # fmt: skip
        for ax, (variant, groups) in zip(axes[1:], self.groups.items(), strict=True):
            colours = {v: _GROUP_COLOURS[g] for v, g in groups.items()}
            viz.draw_skeleton(self.graph, ax=ax, labels="index1", highlight=colours)
            counts = ", ".join(f"{g} {list(groups.values()).count(g)}" for g in PARTITION_GROUPS)
            ax.set_title(f"ST-GCN groups into {joint + 1} ({variant})\n{counts}", fontsize=9)
        handles = [plt.Line2D([], [], ls="", marker="o", color=c, label=g) for g, c in _GROUP_COLOURS.items()]
        axes[2].legend(handles=handles, loc="lower right", fontsize=8)
        self.figure = fig
        show_figure(self.image, fig, dpi=72)


def neighbourhood_explorer(graph: SkeletonGraph | None = None) -> NeighbourhoodExplorer:
    """Build the k-hop / ST-GCN partition explorer for ``graph`` (default NTU RGB+D)."""
    return NeighbourhoodExplorer(graph)


class SampleExplorer(widgets.VBox):
    """An action dropdown and a seed slider; the figure shows the synthetic sample as a filmstrip.

    State after each update: ``sample`` (3, T, 25, M) float32 array, ``moving_joint``
    (the joint of the first body that travels farthest), and ``figure``.
    """

    def __init__(self, graph: SkeletonGraph | None = None, num_frames: int = 64, max_seed: int = 20):
        self.graph = SkeletonGraph() if graph is None else graph
        self.num_frames = num_frames
        self.action = widgets.Dropdown(
            options=[(name, i) for i, name in enumerate(ACTION_CLASSES)], description="action"
        )
        self.seed = widgets.IntSlider(value=0, min=0, max=max_seed, description="seed")
        self.image = widgets.Image(format="png")
        self.sample = None
        self.moving_joint: int | None = None
        self.figure: Figure | None = None
        super().__init__([widgets.HBox([self.action, self.seed]), self.image])
        self.action.observe(self._update, names="value")
        self.seed.observe(self._update, names="value")
        self._update()

    def _update(self, change=None) -> None:
        self.sample = make_action(self.action.value, num_frames=self.num_frames, rng=self.seed.value, num_bodies=2)
        path = np.linalg.norm(np.diff(self.sample[..., 0], axis=1), axis=0).sum(0)  # (V,) distance each joint travels
        self.moving_joint = int(path.argmax())
        fig, (strip, trace) = plt.subplots(1, 2, figsize=(13, 3.6), width_ratios=(3, 1), layout="constrained")
        name = ACTION_CLASSES[self.action.value]
        viz.draw_filmstrip(self.sample, self.graph, ax=strip, title=f"{name} (seed {self.seed.value})")
        for c, axis in enumerate("xyz"):
            trace.plot(self.sample[c, :, self.moving_joint, 0], label=axis)
        trace.set_xlabel("frame t")
        trace.set_ylabel("position (m)")
        trace.set_title(f"{self.graph.joint_names[self.moving_joint]}: moves the most", fontsize=9)
        trace.legend(fontsize=8)
        self.figure = fig
        show_figure(self.image, fig, dpi=72)


def sample_explorer(graph: SkeletonGraph | None = None) -> SampleExplorer:
    """Build the synthetic-sample explorer (action class and seed) for the NTU layout."""
    return SampleExplorer(graph)
