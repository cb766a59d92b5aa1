"""Plots of notebook 04 (multi-scale): scale rows on the skeleton and the G3D window graph."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from stviz.graph import SkeletonGraph
from stviz.viz.core import (
    _BONE_COLOUR,
    _NODE_COLOUR,
    _graph,
    _new_ax,
    _numpy,
    _pose_xy,
    draw_skeleton,
)

__all__ = ["draw_scale_rows", "draw_window_graph"]


def draw_scale_rows(rows: Mapping[str, object], joint: int, graph: SkeletonGraph | None = None,
                    axes: Sequence[Axes] | None = None, title: str | None = None) -> Figure:  # fmt: skip
    """One skeleton per named (V,) row: how much ``joint`` takes from each joint under that matrix.

    ``rows``: e.g. ``{"power A^4": P[4][joint], "exactly 4 hops": D[4][joint]}``. Zero weights stay grey;
    ``joint`` is ringed in red. Returns the figure.
    """
    graph = _graph(graph)
    if axes is None:
        fig, axes = plt.subplots(1, len(rows), figsize=(4.6 * len(rows), 4.8), layout="constrained")
        axes = np.atleast_1d(axes)
    fig = axes[0].figure
    pos = _pose_xy(graph, None)
    for ax, (name, row) in zip(axes, rows.items(), strict=True):
        values = _numpy(row).reshape(-1)
        if values.size != graph.num_nodes:
            raise ValueError(f"row {name!r} needs {graph.num_nodes} values, got {values.size}")
        weights = {v: float(w) for v, w in enumerate(values) if w != 0}
        draw_skeleton(graph, ax=ax, labels=False, highlight=weights or None, cbar_label="weight", title=name,
                      node_size=90)  # fmt: skip
        ax.scatter(*pos[joint], s=260, facecolors="none", edgecolors="tab:red", linewidths=2, zorder=4)
    if title:
        fig.suptitle(title)
    return fig


def draw_window_graph(window_graph, window_size: int, joint: int, frame: int | None = None,
                      graph: SkeletonGraph | None = None, ax: Axes | None = None,
                      title: str | None = None) -> Axes:  # fmt: skip
    """The G3D window graph (wV, wV): w copies of the skeleton side by side, one per window frame.

    Draws the edges of node ``frame*V + joint`` (default: the middle frame) to every node it is linked to,
    in its own frame and in the others. Returns the axes.
    """
    graph = _graph(graph)
    v, w = graph.num_nodes, window_size
    a = _numpy(window_graph)
    if a.shape != (w * v, w * v):
        raise ValueError(f"window_graph must have shape (w*V, w*V) = {(w * v,) * 2}, got {tuple(a.shape)}")
    frame = w // 2 if frame is None else frame
    ax = _new_ax(ax, (2.2 * w + 1, 4.5))
    xy = _numpy(graph.rest_pose)[:, :2]
    step = 1.1 * (xy[:, 0].max() - xy[:, 0].min())
    node_xy = np.concatenate([xy + [i * step, 0] for i in range(w)])  # (w*V, 2)
    bones = [[node_xy[i * v + p], node_xy[i * v + c]] for i in range(w) for c, p in graph.edges]
    ax.add_collection(LineCollection(bones, colors=_BONE_COLOUR, linewidths=2, zorder=1))
    source = frame * v + joint
    targets = [u for u in np.flatnonzero(a[source]) if u != source]
    links = [[node_xy[source], node_xy[u]] for u in targets]
    ax.add_collection(LineCollection(links, colors="tab:blue", linewidths=0.8, alpha=0.7, zorder=2))
    ax.scatter(*node_xy.T, s=12, c=_NODE_COLOUR, zorder=3)
    ax.scatter(*node_xy[targets].T, s=30, c="tab:blue", zorder=4, label="linked nodes")
    ax.scatter(*node_xy[source], s=80, c="tab:red", zorder=5, label=f"frame {frame}, joint {joint}")
    for i in range(w):
        ax.text(i * step, xy[:, 1].min() - 0.08, f"window frame {i}", ha="center", va="top", fontsize=8)
    ax.set_aspect("equal")
    ax.set_ylim(xy[:, 1].min() - 0.25, xy[:, 1].max() + 0.1)
    ax.set(xlabel="x (m), one skeleton per window frame", ylabel="y (m)")
    ax.legend(loc="lower right", fontsize=7, framealpha=0.9)
    ax.set_title(title or f"G3D window graph, w={w}: {len(targets)} links from one node")
    return ax
