"""Drawing: skeletons, adjacency heatmaps, matrices on the skeleton, partitions.

Every function takes an optional ``ax`` (or ``axes``) and returns the axes or figure it drew; nothing is shown at
import and no global style is changed. Two conventions read a (V, V) matrix:

* ``"row_target"``: ``out[u] = sum_v M[u, v] x[v]``; rows are targets (CTR-GCN, MS-G3D).
* ``"column_target"``: ``out[w] = sum_v x[v] M[v, w]``; columns are targets (ST-GCN, EfficientGCN).

This module holds the drawings every notebook uses; sequences (filmstrip, animation) live in ``sequence``, the
topic plots beside it (``spatial``, ``temporal``, ``channel``, ``multiscale``, ``tsm``), the joint-label layout in
``labels``, the shared resolution in ``style``; :mod:`stviz.viz` re-exports the common ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import torch
from matplotlib import colors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from stviz.graph import SkeletonGraph
from stviz.viz.labels import annotate_joints, short_joint_names, tick_labels

__all__ = [
    "Convention",
    "matrix_edges",
    "draw_skeleton",
    "adjacency_heatmap",
    "draw_matrix_on_skeleton",
    "skeleton_weight_key",
    "plot_partitions",
    "plot_subset_heatmaps",
]

Convention = Literal["row_target", "column_target"]
_BONE_COLOUR = "0.75"
_NODE_COLOUR = "0.35"
_UNVALUED_COLOUR = "0.88"  # a joint without a value beside valued ones: pale, never read as the colour map's low end
_OUTLINE_COLOUR = "0.45"  # the outline that keeps a pale joint visible on white


def _graph(graph: SkeletonGraph | None) -> SkeletonGraph:
    return SkeletonGraph() if graph is None else graph


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=float)


def _new_ax(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _pose_xy(graph: SkeletonGraph, pose) -> dict[int, tuple[float, float]]:
    """Joint -> (x, y) for networkx; ``pose`` (V, 2|3) or ``None`` for the rest pose (front view)."""
    xy = _numpy(graph.rest_pose if pose is None else pose)
    if xy.ndim != 2 or xy.shape[0] != graph.num_nodes or xy.shape[1] not in (2, 3):
        raise ValueError(f"pose must have shape (V, 2) or (V, 3) with V={graph.num_nodes}, got {tuple(xy.shape)}")
    return {v: (float(xy[v, 0]), float(xy[v, 1])) for v in range(graph.num_nodes)}


def _labels(graph: SkeletonGraph, labels) -> dict[int, str]:
    if labels is False or labels is None:
        return {}
    if labels is True or labels == "name":
        return dict(enumerate(short_joint_names(graph)))
    if labels == "index":
        return {v: str(v) for v in range(graph.num_nodes)}
    if labels == "number":
        return {v: f"J{v + 1}" for v in range(graph.num_nodes)}
    raise ValueError(f"labels must be True, False, 'name', 'number' or 'index', got {labels!r}")


def _finish(ax: Axes, title: str | None) -> None:
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.tick_params(left=True, bottom=True, labelleft=True, labelbottom=True)
    if title:
        ax.set_title(title)


def _value_norm(values: np.ndarray, cmap: str | None) -> tuple[colors.Normalize, str]:
    """A colour scale for weights: sequential when all >= 0, symmetric diverging otherwise."""
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if lo < 0:
        bound = max(-lo, hi, 1e-12)
        return colors.Normalize(-bound, bound), cmap or "RdBu_r"
    return colors.Normalize(0.0, hi if hi > 0 else 1.0), cmap or "viridis"


def draw_skeleton(
    graph: SkeletonGraph | None = None,
    pose=None,
    ax: Axes | None = None,
    labels: bool | str = True,
    highlight: Iterable[int] | Mapping[int, str | float] | None = None,
    edge_weights: Mapping[tuple[int, int], float] | Sequence[float] | None = None,
    title: str | None = None,
    cmap: str | None = None,
    cbar_label: str = "value",
    node_size: float = 60,
) -> Axes:
    """Draw the skeleton: bones as lines, joints as dots, optional names or indices.

    ``pose``: (V, 2) or (V, 3), x-y used; default the rest pose seen from the front.
    ``labels``: ``True``/``'name'`` (short names), ``'number'`` (1-based NTU numbers ``J1``..``J25``),
    ``'index'`` (0-based indices, for code-facing figures), ``False``.
    ``highlight``: joints to mark in red, or ``{joint: colour}``, or ``{joint: value}`` (colour bar; the joints
    without a value are pale grey with an outline).
    ``edge_weights``: one weight per bone (aligned with ``graph.edges``) or ``{(i, j): w}``; colour bar.
    """
    graph = _graph(graph)
    ax = _new_ax(ax, (5, 5))
    pos = _pose_xy(graph, pose)
    g = graph.nx_graph
    if edge_weights is None:
        nx.draw_networkx_edges(g, pos, ax=ax, edgelist=list(graph.edges), edge_color=_BONE_COLOUR, width=3)
    else:
        if isinstance(edge_weights, Mapping):
            weights = {tuple(sorted(e)): float(w) for e, w in edge_weights.items()}
            edgelist = [e for e in graph.edges if tuple(sorted(e)) in weights]
            values = np.array([weights[tuple(sorted(e))] for e in edgelist])
        else:
            values = _numpy(edge_weights).reshape(-1)
            if values.size != len(graph.edges):
                raise ValueError(f"edge_weights needs one value per bone ({len(graph.edges)}), got {values.size}")
            edgelist = list(graph.edges)
        norm, edge_cmap = _value_norm(values, cmap)
        lines = nx.draw_networkx_edges(
            g, pos, ax=ax, edgelist=edgelist, edge_color=values, edge_cmap=plt.get_cmap(edge_cmap),
            edge_vmin=norm.vmin, edge_vmax=norm.vmax, width=4,
        )  # fmt: skip
        ax.figure.colorbar(plt.cm.ScalarMappable(norm, edge_cmap), ax=ax, label=cbar_label)
        lines.set_zorder(1)
    node_colours: list = [_NODE_COLOUR] * graph.num_nodes
    if highlight is not None:
        if isinstance(highlight, Mapping):
            values = list(highlight.values())
            if all(isinstance(c, str) for c in values):
                for v, c in highlight.items():
                    node_colours[v] = c
            else:
                norm, node_cmap = _value_norm(np.asarray(values, dtype=float), cmap)
                mapper = plt.cm.ScalarMappable(norm, node_cmap)
                node_colours = [_UNVALUED_COLOUR] * graph.num_nodes
                for v, value in highlight.items():
                    node_colours[v] = mapper.to_rgba(float(value))
                bar = ax.figure.colorbar(mapper, ax=ax, label=cbar_label)
                if all(float(value).is_integer() for value in values):  # counts (hops): whole-number ticks
                    bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            for v in highlight:
                node_colours[v] = "tab:red"
    outline_colours = [_OUTLINE_COLOUR if colour == _UNVALUED_COLOUR else colour for colour in node_colours]
    nodes = nx.draw_networkx_nodes(
        g, pos, ax=ax, node_color=node_colours, edgecolors=outline_colours, node_size=node_size
    )
    nodes.set_zorder(2)
    annotate_joints(ax, pos, _labels(graph, labels))
    _finish(ax, title)
    return ax


def adjacency_heatmap(
    A,
    joint_names: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    cmap: str | None = None,
    cbar_label: str = "weight",
    annotate: bool = False,
    convention: Convention = "row_target",
    norm: colors.Normalize | None = None,
    colorbar: bool = True,
    columns: str = "name",
) -> Axes:
    """Heatmap of a (V, V) matrix with joint names on both axes and a colour bar.

    ``joint_names`` default: :func:`tick_labels` (``'J1 spine base'`` on NTU, ``'J1'`` .. ``'JV'`` otherwise).
    ``columns="number"`` numbers the columns ``'J1'`` .. ``'JV'`` and keeps the names on the rows, for panels too
    narrow for names on both axes.
    ``norm`` fixes a shared colour scale (e.g. across subsets); ``colorbar=False`` leaves the bar to the caller.
    ``convention`` only labels the axes: which one holds the targets, which the sources.
    ``annotate`` writes each non-zero value (2 decimals) in its cell.
    """
    a = _numpy(A)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"A must be a square (V, V) matrix, got shape {tuple(a.shape)}")
    v = a.shape[0]
    if joint_names is None:
        joint_names = tick_labels(v)
    if len(joint_names) != v:
        raise ValueError(f"joint_names has {len(joint_names)} names for a {v}x{v} matrix")
    if columns not in ("name", "number"):
        raise ValueError(f"columns must be 'name' or 'number', got {columns!r}")
    rows, cols = _axis_roles(convention)
    ax = _new_ax(ax, (7, 6))
    if norm is None:
        norm, cmap = _value_norm(a, cmap)
    else:
        cmap = cmap or ("RdBu_r" if norm.vmin < 0 else "viridis")
    image = ax.imshow(a, cmap=cmap, norm=norm, interpolation="nearest")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label=cbar_label, fraction=0.046, pad=0.04)
    column_names = joint_names if columns == "name" else tick_labels(v, "number")
    ax.set_xticks(range(v), column_names, rotation=90, fontsize=7 if v > 12 else 9)
    ax.set_yticks(range(v), joint_names, fontsize=7 if v > 12 else 9)
    ax.set_xlabel(f"{cols} joint (column)")
    ax.set_ylabel(f"{rows} joint (row)")
    if annotate:
        for (i, j), value in np.ndenumerate(a):
            if value != 0:
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=5, color="w")
    if title:
        ax.set_title(title)
    return ax


def _axis_roles(convention: str) -> tuple[str, str]:
    """(role of rows, role of columns) for a convention."""
    if convention == "row_target":
        return "target", "source"
    if convention == "column_target":
        return "source", "target"
    raise ValueError(f"convention must be 'row_target' or 'column_target', got {convention!r}")


def matrix_edges(
    M, convention: Convention, threshold: float = 0.0, top_k: int | None = None
) -> list[tuple[int, int, float]]:
    """Off-diagonal entries of a (V, V) matrix as ``(source, target, weight)``, largest |weight| first.

    Keeps entries with ``|weight| > threshold``, then the ``top_k`` largest.
    """
    m = _numpy(M)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"M must be a square (V, V) matrix, got shape {tuple(m.shape)}")
    rows, _ = _axis_roles(convention)
    edges = []
    for (i, j), w in np.ndenumerate(m):
        if i != j and abs(w) > threshold:
            source, target = (j, i) if rows == "target" else (i, j)
            edges.append((int(source), int(target), float(w)))
    edges.sort(key=lambda e: (-abs(e[2]), e[0], e[1]))
    return edges if top_k is None else edges[:top_k]


def skeleton_weight_key(
    axes, matrices, norm: colors.Normalize, cmap: str, threshold: float = 0.0, top_k: int | None = None
) -> None:
    """The colour key of (V, V) matrices drawn on the skeleton by :func:`draw_matrix_on_skeleton` on ``axes``.

    A colour bar when the drawn weights (arrows and self-weights) differ; a legend naming the one weight when they
    are all equal, where a bar would say nothing. Joints drawn white (no self-weight) are named in either key.
    """
    axes = list(np.atleast_1d(axes))
    mats = [_numpy(m) for m in matrices]
    selfs = np.concatenate([np.diag(m)[np.diag(m) != 0] for m in mats])
    arrows = np.array([w for m in mats for *_, w in matrix_edges(m, "row_target", threshold, top_k)])
    values = np.concatenate([selfs, arrows])
    white = any((np.diag(m) == 0).any() for m in mats)
    mapper = plt.cm.ScalarMappable(norm, cmap)
    if values.size and np.ptp(values) == 0:
        w, dot = float(values[0]), {"ls": "", "marker": "o", "mec": "0.2"}
        arrow = Line2D([], [], color=mapper.to_rgba(w), lw=2, label=f"every arrow: weight {w:g}")
        handles = [arrow] if arrows.size else []
        if selfs.size:
            handles.append(Line2D([], [], mfc=mapper.to_rgba(w), label=f"self-weight {w:g}", **dot))
        if white:
            handles.append(Line2D([], [], mfc="white", label="no self-weight", **dot))
        axes[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
        return
    label = "weight (arrows; joint colour: self-weight" + ("; white: none)" if white else ")")
    axes[0].figure.colorbar(
        mapper, ax=axes if len(axes) > 1 else axes[0], label=label, shrink=0.8 if len(axes) > 1 else 1.0
    )


def draw_matrix_on_skeleton(
    M,
    graph: SkeletonGraph | None = None,
    convention: Convention = "row_target",
    ax: Axes | None = None,
    threshold: float = 0.0,
    top_k: int | None = None,
    cmap: str | None = None,
    title: str | None = None,
    pose=None,
    labels: bool | str = False,
    norm: colors.Normalize | None = None,
    colorbar: bool = True,
) -> Axes:
    """Draw any (V, V) matrix as arrows source -> target on the skeleton.

    Arrow colour and width follow the weight; the diagonal (self-weights) colours
    the joints (white: no self-weight). Each arrow's ``gid`` is ``"source->target"``. ``convention`` says
    whether rows (CTR-GCN) or columns (ST-GCN, EfficientGCN) are targets.
    ``norm`` fixes a shared colour scale (e.g. across the subsets of a partition); ``colorbar=False`` leaves the
    key (:func:`skeleton_weight_key`) to the caller.
    """
    graph = _graph(graph)
    m = _numpy(M)
    if m.shape != (graph.num_nodes, graph.num_nodes):
        raise ValueError(f"M must have shape (V, V) = {(graph.num_nodes,) * 2}, got {tuple(m.shape)}")
    edges = matrix_edges(m, convention, threshold, top_k)
    diagonal = np.diag(m)
    if norm is None:
        drawn = np.concatenate([diagonal, [w for *_, w in edges]])
        norm, cmap = _value_norm(drawn, cmap)
        weights = drawn[drawn != 0]
        if norm.vmin == 0 and weights.size and np.ptp(weights) == 0:  # one weight, named in a legend: mid-scale,
            norm = colors.Normalize(0.0, 2 * norm.vmax)  # not the pale yellow at viridis's top that hardly shows
    else:
        cmap = cmap or ("RdBu_r" if norm.vmin < 0 else "viridis")
    mapper = plt.cm.ScalarMappable(norm, cmap)
    ax = _new_ax(ax, (4.5, 5))
    pos = _pose_xy(graph, pose)
    nx.draw_networkx_edges(graph.nx_graph, pos, ax=ax, edgelist=list(graph.edges), edge_color=_BONE_COLOUR, width=6)
    digraph = nx.DiGraph()
    digraph.add_nodes_from(range(graph.num_nodes))
    digraph.add_edges_from((s, t) for s, t, _ in edges)
    largest = max((abs(w) for *_, w in edges), default=1.0) or 1.0
    if edges:
        arrows = nx.draw_networkx_edges(
            digraph, pos, ax=ax, edgelist=[(s, t) for s, t, _ in edges], arrows=True, arrowstyle="-|>",
            edge_color=[mapper.to_rgba(w) for *_, w in edges], width=[0.8 + 2.2 * abs(w) / largest for *_, w in edges],
            connectionstyle="arc3,rad=0.25", node_size=80, arrowsize=10,
        )  # fmt: skip
        for arrow, (s, t, _) in zip(arrows, edges, strict=True):
            arrow.set_gid(f"{s}->{t}")
    node_colours = [mapper.to_rgba(d) if d != 0 else "white" for d in diagonal]
    nodes = nx.draw_networkx_nodes(digraph, pos, ax=ax, node_color=node_colours, node_size=80, edgecolors="0.2")
    nodes.set_zorder(3)
    annotate_joints(ax, pos, _labels(graph, labels))
    if colorbar:
        skeleton_weight_key(ax, [m], norm, cmap, threshold, top_k)
    rows, _ = _axis_roles(convention)
    _finish(ax, title or f"{len(edges)} arrows, {rows}s of M are targets")
    return ax


def plot_partitions(
    A,
    graph: SkeletonGraph | None = None,
    names: Sequence[str] | None = None,
    convention: Convention = "column_target",
    axes: Sequence[Axes] | None = None,
    title: str | None = None,
) -> Figure:
    """Draw each subset of a (K, V, V) partition on the skeleton, side by side, one shared colour bar.

    Default convention: columns are targets, as in ST-GCN and EfficientGCN.
    """
    a = _numpy(A)
    if a.ndim != 3:
        raise ValueError(f"A must have shape (K, V, V), got {tuple(a.shape)}")
    k = a.shape[0]
    names = list(names) if names is not None else [f"A[{i}]" for i in range(k)]
    if len(names) != k:
        raise ValueError(f"names has {len(names)} entries for {k} subsets")
    if axes is None:
        fig, axes = plt.subplots(1, k, figsize=(3.6 * k, 4.8), squeeze=False, layout="constrained")
        axes = list(axes[0])
    fig = axes[0].figure
    norm, cmap = _value_norm(a, None)
    for i, ax in enumerate(axes):
        n_arrows = len(matrix_edges(a[i], convention))
        draw_matrix_on_skeleton(
            a[i], graph, convention, ax=ax, norm=norm, cmap=cmap, colorbar=False,
            title=f"{names[i]}: {n_arrows} arrows, {int(np.count_nonzero(np.diag(a[i])))} self",
        )  # fmt: skip
    skeleton_weight_key(axes, list(a), norm, cmap)
    if title:
        fig.suptitle(title)
    return fig


def plot_subset_heatmaps(
    A,
    names: Sequence[str],
    convention: Convention = "row_target",
    title: str | None = None,
    cbar_label: str = "weight",
    figsize: tuple[float, float] = (10, 3.7),
) -> Figure:
    """Each subset of a (K, V, V) adjacency as its own heatmap, side by side on one shared colour scale.

    One colour bar serves every panel. With V=25 the rows carry the 1-based joint labels (``'J21 spine'``) on the
    first panel, the columns the joint numbers (``J1``..``J25``).
    """
    a = _numpy(A)
    if a.ndim != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"A must have shape (K, V, V), got {tuple(a.shape)}")
    k, v = a.shape[:2]
    if len(names) != k:
        raise ValueError(f"names has {len(names)} entries for {k} subsets")
    fig, axes = plt.subplots(1, k, figsize=figsize, layout="constrained", squeeze=False)
    norm, cmap = _value_norm(a, None)
    labels = tick_labels(v)
    for i, ax in enumerate(axes[0]):
        adjacency_heatmap(a[i], labels, ax=ax, title=names[i], cmap=cmap, convention=convention, norm=norm,
                          colorbar=False, columns="number")  # fmt: skip
        ax.tick_params(labelsize=6.5)
        if i > 0:
            ax.set_ylabel("")
            ax.tick_params(labelleft=False)
    fig.colorbar(plt.cm.ScalarMappable(norm, cmap), ax=list(axes[0]), label=cbar_label, shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig
