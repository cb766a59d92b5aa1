"""Plots of notebook 04 (multi-scale): scale rows on the skeleton, shared-scale heatmaps, where the scales put their
weight, the size of the adjacency powers, the contraction orders' cost per layer and the G3D window graph."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from stviz.graph import SkeletonGraph
from stviz.viz.core import (
    _BONE_COLOUR,
    _NODE_COLOUR,
    _OUTLINE_COLOUR,
    _UNVALUED_COLOUR,
    _graph,
    _new_ax,
    _numpy,
    _pose_xy,
    adjacency_heatmap,
    draw_skeleton,
)
from stviz.viz.labels import joint_label
from stviz.viz.style import WIDTH

__all__ = [
    "draw_scale_rows",
    "draw_window_graph",
    "heatmaps_shared_scale",
    "plot_contraction_costs",
    "plot_power_magnitudes",
    "plot_weight_shares",
]


def draw_scale_rows(rows: Mapping[str, object], joint: int, graph: SkeletonGraph | None = None,
                    axes: Sequence[Axes] | None = None, title: str | None = None) -> Figure:  # fmt: skip
    """One skeleton per named (V,) row: how much ``joint`` takes from each joint under that matrix.

    ``rows``: e.g. ``{"power A^4": P[4][joint], "exactly 4 hops": D[4][joint]}``, non-negative weights. All panels
    share one colour scale (0 to the largest weight of any row) and one colour bar; zero weights are pale grey (a
    key below says so); ``joint`` is ringed in red. Returns the figure.
    """
    graph = _graph(graph)
    values = {name: _numpy(row).reshape(-1) for name, row in rows.items()}
    for name, row in values.items():
        if row.size != graph.num_nodes:
            raise ValueError(f"row {name!r} needs {graph.num_nodes} values, got {row.size}")
        if (row < 0).any():
            raise ValueError(f"row {name!r} has negative weights; draw_scale_rows shows non-negative weights")
    if axes is None:
        fig, axes = plt.subplots(1, len(rows), figsize=(4.6 * len(rows), 4.8), layout="constrained")
        axes = np.atleast_1d(axes)
    fig = axes[0].figure
    top = max(float(row.max()) for row in values.values())
    mapper = ScalarMappable(colors.Normalize(0.0, top if top > 0 else 1.0), "viridis")
    pos = _pose_xy(graph, None)
    for ax, (name, row) in zip(axes, values.items(), strict=True):
        weights = {v: colors.to_hex(mapper.to_rgba(float(w))) if w else _UNVALUED_COLOUR for v, w in enumerate(row)}
        draw_skeleton(graph, ax=ax, labels=False, highlight=weights, title=name, node_size=90)
        ax.scatter(*pos[joint], s=260, facecolors="none", edgecolors="tab:red", linewidths=2, zorder=4)
    fig.colorbar(mapper, ax=list(axes), label="weight (one scale for all panels)", shrink=0.8)
    zero = Line2D([], [], ls="", marker="o", markersize=8, color=_UNVALUED_COLOUR, markeredgecolor=_OUTLINE_COLOUR)
    ring = Line2D([], [], ls="", marker="o", markersize=12, markerfacecolor="none", markeredgecolor="tab:red")
    fig.legend([zero, ring], ["weight 0", f"{joint_label(joint, graph)} (the joint)"], loc="outside lower center",
               ncols=2, fontsize=8)  # fmt: skip
    if title:
        fig.suptitle(title)
    return fig


def heatmaps_shared_scale(matrices: Mapping[str, object], joint_names: Sequence[str] | None = None,
                          axes: Sequence[Axes] | None = None, cbar_label: str = "weight") -> Figure:  # fmt: skip
    """Side-by-side (V, V) heatmaps of one quantity on one colour scale (:func:`stviz.viz.adjacency_heatmap` each).

    The scale runs from 0 (or minus the largest magnitude, when any entry is negative) to the largest entry of any
    matrix, so equal colours mean equal values across panels. Returns the figure.
    """
    values = {name: _numpy(m) for name, m in matrices.items()}
    lows, highs = [float(m.min()) for m in values.values()], [float(m.max()) for m in values.values()]
    lo, hi = (min(lows), max(highs)) if values else (0.0, 1.0)
    bound = max(abs(lo), hi, 1e-12)
    limits = (-bound, bound) if lo < 0 else (0.0, hi if hi > 0 else 1.0)
    if axes is None:
        fig, axes = plt.subplots(1, len(values), figsize=(WIDTH, 4.3), layout="constrained")
        axes = np.atleast_1d(axes)
    for ax, (name, m) in zip(axes, values.items(), strict=True):
        adjacency_heatmap(m, joint_names, ax=ax, title=name, cbar_label=cbar_label)
        ax.images[-1].set_clim(*limits)  # its colour bar follows the image's limits
    return axes[0].figure


def plot_weight_shares(
    shares: Mapping[str, object],
    axes: Sequence[Axes] | None = None,
    title: str = "Powers keep their weight close; disentangled scales reach the ring (mean over joints)",
) -> Figure:
    """Share of a row's weight per scale k, one line per named (K,) series (e.g. from
    :func:`stviz.multiscale_teaching.weight_shares`), twice: on a linear axis, where a share is a length, and on a log
    axis, where the smallest shares (the far rings of the powers) can still be read. ``title`` (the default: notebook
    04's reading of the powers against the disentangled scales) goes above both panels. Returns the figure."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.8), layout="constrained")
    fig, styles = axes[0].figure, ("o-", "o-", "s--", "d:")
    for ax, scale in zip(axes, ("linear", "log"), strict=True):
        for i, (name, values) in enumerate(shares.items()):
            values = _numpy(values).reshape(-1)
            ax.plot(np.arange(values.size), values, styles[i % len(styles)], label=name)
        ax.set_yscale(scale)
        ylabel = "share of a row's weight" + (" (log)" if scale == "log" else "")
        ax.set(xlabel="scale k", ylabel=ylabel, title=f"{scale} axis")
        ax.set_ylim((0, 1.05) if scale == "linear" else (1e-6, 1.5))
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return fig


def plot_power_magnitudes(magnitudes: Mapping[str, object], ax: Axes | None = None) -> Axes:
    """Largest entry of each scale k (log axis): one line per construction (:func:`stviz.multiscale_teaching.
    power_magnitudes`). Returns the axes."""
    ax = _new_ax(ax, (7, 3.6))
    for (name, values), marker in zip(magnitudes.items(), "osd^v", strict=False):
        values = _numpy(values).reshape(-1)
        ax.plot(np.arange(values.size), values, marker=marker, label=name)
    ax.set_yscale("log")
    ax.set(xlabel="scale k (power)", ylabel="largest entry of the k-th matrix (log)",
           title="Raw powers count walks and explode; both normalisations keep every scale <= 1")  # fmt: skip
    ax.legend()
    return ax


def plot_contraction_costs(rows: Sequence, ax: Axes | None = None) -> Axes:
    """Both contraction orders' MACs per MS-G3D graph layer (rows of :func:`stviz.multiscale_teaching.
    contraction_table`), the chosen order outlined in black. Returns the axes."""
    ax = _new_ax(ax, (WIDTH, 3.6))
    x = np.arange(len(rows))
    for offset, order, colour in ((-0.2, "aggregate-first", "tab:blue"), (0.2, "project-first", "tab:orange")):
        macs = np.array([getattr(r, order.replace("-", "_")) for r in rows]) / 1e6
        chosen = [r.chosen == order for r in rows]
        edges = ["black" if c else colour for c in chosen]
        widths = [2 if c else 0 for c in chosen]
        ax.bar(x + offset, macs, width=0.4, color=colour, label=order, edgecolor=edges, linewidth=widths)
    labels = [f"{r.layer.split('.')[1]}: {r.kind}\n{r.in_channels}->{r.out_channels}, K={r.scales}" for r in rows]
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_yscale("log")
    ax.set(xlabel="stage: layer, graph channels in -> out, scales", ylabel="MMACs per skeleton sequence (log)",
           title="Graph contraction cost per MS-G3D layer (black outline: the order the layer takes)")  # fmt: skip
    # plain swatches for the two orders, and the outline as its own entry: it marks the choice, not one order
    keys = [
        Patch(facecolor=colour, label=order)
        for order, colour in (("aggregate-first", "tab:blue"), ("project-first", "tab:orange"))
    ]
    keys.append(Patch(facecolor="white", edgecolor="black", linewidth=2, label="the order the layer takes"))
    ax.set_ylim(top=ax.get_ylim()[1] * 8)  # head room on the log axis: the key sits above the tallest bars
    ax.legend(handles=keys, loc="upper center", ncols=3, fontsize=8)
    return ax


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
    ax = _new_ax(ax, (min(WIDTH, 2.2 * w + 1), 4.5))
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
    ax.scatter(*node_xy[source], s=80, c="tab:red", zorder=5, label=f"frame {frame}, {joint_label(joint, graph)}")
    for i in range(w):
        ax.text(i * step, xy[:, 1].max() + 0.08, f"window frame {i}", ha="center", va="bottom", fontsize=8)
    ax.set_aspect("equal")
    ax.set_ylim(xy[:, 1].min() - 0.35, xy[:, 1].max() + 0.25)
    ax.set(xlabel="x (m), one skeleton per window frame", ylabel="y (m)")
    ax.legend(loc="lower center", ncols=2, fontsize=7, framealpha=0.9)  # below the feet, clear of every label
    ax.set_title(title or f"G3D window graph, w={w}: {len(targets)} links from one node")
    return ax
