"""Widgets for notebook 00: a joint's k-hop neighbourhood and ST-GCN groups, and synthetic samples.

Each explorer is a :class:`stviz.widgets.PictureBox` (controls above, the figure below as a PNG) whose controls
and state are attributes, so a test or the next notebook cell can set ``.value`` and assert what changed.
Readers see 1-based joint numbers as in NTU's files (``'J21 spine'``); values and state are 0-based indices.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from stviz import viz
from stviz.checks import check_positive_int
from stviz.data.synthetic import ACTION_CLASSES, make_action
from stviz.graph import SkeletonGraph
from stviz.viz.style import WIDTH
from stviz.widgets import PictureBox, picture, show_figure
from stviz.widgets.choice import Choice

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


class NeighbourhoodExplorer(PictureBox):
    """A joint dropdown and a hop slider; the figure shows the joint's k-hop neighbourhood and its ST-GCN groups.

    ``joint.value`` is a 0-based index; the dropdown and the figure show 1-based labels (``'J21 spine'``).
    State after each update: ``highlighted`` (indices of the joints within ``hops.value`` hops),
    ``groups`` (``{"official": {source index: group}, "bfs": {...}}``) and ``figure``.
    """

    def __init__(self, graph: SkeletonGraph | None = None):
        self.graph = SkeletonGraph() if graph is None else graph
        self.joint = Choice(
            options=[(label, index) for index, label in enumerate(viz.joint_labels(self.graph))],
            value=self.graph.center,
            description="joint",
        )
        self.hops = widgets.IntSlider(value=1, min=0, max=self.graph.diameter, description="hops")
        self.image = picture()
        self.highlighted: set[int] = set()
        self.groups: dict[str, dict[int, str]] = {}
        self.figure: Figure | None = None
        super().__init__([widgets.HBox([self.joint, self.hops]), self.image])
        self.joint.observe(self._update, names="value")
        self.hops.observe(self._update, names="value")
        self._update()

    def _update(self, change=None) -> None:
        joint, hops = self.joint.value, self.hops.value
        label = viz.joint_label(joint, self.graph)
        distance = self.graph.hop_distance()[joint]  # (V,) hops from the chosen joint
        self.highlighted = {v for v in range(self.graph.num_nodes) if distance[v] <= hops}
        self.groups = {variant: partition_groups(self.graph, joint, variant) for variant in ("official", "bfs")}
        fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 3.9), layout="constrained")
        viz.draw_skeleton(
            self.graph, ax=axes[0], labels="number", cbar_label="hops from the joint (pale: farther)",
            highlight={v: float(distance[v]) for v in sorted(self.highlighted)},
            title=f"{len(self.highlighted)} joints within {hops} hop{'s' * (hops != 1)}\nof {label}",
        )  # fmt: skip
        for ax, (variant, groups) in zip(axes[1:], self.groups.items(), strict=True):
            colours = {v: _GROUP_COLOURS[g] for v, g in groups.items()}
            viz.draw_skeleton(self.graph, ax=ax, labels=False, highlight=colours)  # numbers: first panel
            ax.margins(x=0.4, y=0.05)  # the first panel's x range: tick labels have room
            counts = ", ".join(f"{g} {list(groups.values()).count(g)}" for g in PARTITION_GROUPS)
            ax.set_title(f"ST-GCN groups into {label} ({variant})\n{counts}", fontsize=9)
        handles = [plt.Line2D([], [], ls="", marker="o", color=c, label=g) for g, c in _GROUP_COLOURS.items()]
        fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8)  # below the skeletons
        self.figure = fig
        show_figure(self.image, fig)


def neighbourhood_explorer(graph: SkeletonGraph | None = None) -> NeighbourhoodExplorer:
    """Build the k-hop / ST-GCN partition explorer for ``graph`` (default NTU RGB+D)."""
    return NeighbourhoodExplorer(graph)


class SampleExplorer(PictureBox):
    """An action dropdown and a seed slider; the figure shows the synthetic sample as a filmstrip.

    State after each update: ``sample`` (3, T, 25, M) float32 array, ``moving_joint``
    (0-based index of the first body's joint that travels farthest), and ``figure``.
    """

    def __init__(self, graph: SkeletonGraph | None = None, num_frames: int = 64, max_seed: int = 20):
        check_positive_int(num_frames, "num_frames", block="sample_explorer")
        check_positive_int(max_seed, "max_seed", minimum=0, block="sample_explorer")
        self.graph = SkeletonGraph() if graph is None else graph
        self.num_frames = num_frames
        self.action = Choice(options=[(name, i) for i, name in enumerate(ACTION_CLASSES)], description="action")
        self.seed = widgets.IntSlider(value=0, min=0, max=max_seed, description="seed")
        self.image = picture()
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
        fig, (strip, trace) = plt.subplots(1, 2, figsize=(WIDTH, 3.0), width_ratios=(3, 1), layout="constrained")
        name = ACTION_CLASSES[self.action.value]
        viz.draw_filmstrip(self.sample, self.graph, ax=strip, title=f"{name} (seed {self.seed.value})")
        for c, axis in enumerate("xyz"):
            trace.plot(self.sample[c, :, self.moving_joint, 0], label=axis)
        trace.set_xlabel("frame t")
        trace.set_ylabel("position (m)")
        trace.set_title(f"{viz.joint_label(self.moving_joint, self.graph)}: moves the most", fontsize=9)
        trace.margins(y=0.3)  # room above the traces for the legend
        trace.legend(fontsize=8, ncols=3, loc="upper center")
        self.figure = fig
        show_figure(self.image, fig)


def sample_explorer(graph: SkeletonGraph | None = None) -> SampleExplorer:
    """Build the synthetic-sample explorer (action class and seed) for the NTU layout."""
    return SampleExplorer(graph)
