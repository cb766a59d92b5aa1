"""Drawing: skeletons, adjacency heatmaps, matrices on the skeleton, partitions, animations.

Every function takes an optional ``ax`` (or ``axes``) and returns the axes,
figure or animation it drew; nothing is shown at import and no global style is
changed. Matrix conventions (SPEC.md pitfall 1):

* ``"row_target"``: ``out[u] = sum_v M[u, v] x[v]``; rows are targets (CTR-GCN).
* ``"column_target"``: ``out[w] = sum_v x[v] M[v, w]``; columns are targets
  (ST-GCN, EfficientGCN).

This module holds the drawings every notebook uses; the topic plots live beside it (``spatial``, ``temporal``,
``channel``, ``multiscale``, ``tsm``) and are re-exported by :mod:`stviz.viz`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import torch
from matplotlib import animation, colors
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from stviz.graph import SkeletonGraph

__all__ = [
    "Convention",
    "short_joint_names",
    "matrix_edges",
    "draw_skeleton",
    "adjacency_heatmap",
    "draw_matrix_on_skeleton",
    "plot_partitions",
    "draw_filmstrip",
    "animate_sequence",
]

Convention = Literal["row_target", "column_target"]
_BONE_COLOUR = "0.75"
_NODE_COLOUR = "0.35"


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


def short_joint_names(graph: SkeletonGraph | None = None) -> list[str]:
    """Joint names shortened for 25x25 heatmap ticks: ``'left hand tip'`` -> ``'L hand tip'``."""
    replacements = (
        ("base of spine", "spine base"), ("middle of spine", "spine mid"), ("left ", "L "), ("right ", "R "),
    )  # fmt: skip
    names = []
    for name in _graph(graph).joint_names:
        for old, new in replacements:
            name = name.replace(old, new)
        names.append(name)
    return names


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
    if labels == "index1":
        return {v: str(v + 1) for v in range(graph.num_nodes)}
    raise ValueError(f"labels must be True, False, 'name', 'index' or 'index1', got {labels!r}")


def _annotate(ax: Axes, pos: dict[int, tuple[float, float]], labels: dict[int, str]) -> None:
    """Write each label on the outer side of its joint (left of joints with x < 0), with room for it."""
    if labels:
        ax.margins(x=0.4, y=0.05)
    for v, text in labels.items():
        left = pos[v][0] < 0
        ax.annotate(
            text, pos[v], xytext=(-5 if left else 5, 0), textcoords="offset points",
            ha="right" if left else "left", va="center", fontsize=7,
        )  # fmt: skip


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
    ``labels``: ``True``/``'name'`` (short names), ``'index'`` (0-based), ``'index1'`` (1-based), ``False``.
    ``highlight``: joints to mark in red, or ``{joint: colour}``, or ``{joint: value}`` (colour bar).
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
                for v, value in highlight.items():
                    node_colours[v] = mapper.to_rgba(float(value))
                ax.figure.colorbar(mapper, ax=ax, label=cbar_label)
        else:
            for v in highlight:
                node_colours[v] = "tab:red"
    nodes = nx.draw_networkx_nodes(g, pos, ax=ax, node_color=node_colours, node_size=node_size)
    nodes.set_zorder(2)
    _annotate(ax, pos, _labels(graph, labels))
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
) -> Axes:
    """Heatmap of a (V, V) matrix with joint names on both axes and a colour bar.

    ``joint_names`` default: the short NTU names when V=25, else 0-based indices.
    ``convention`` only labels the axes: which one holds the targets, which the sources.
    ``annotate`` writes each non-zero value (2 decimals) in its cell.
    """
    a = _numpy(A)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"A must be a square (V, V) matrix, got shape {tuple(a.shape)}")
    v = a.shape[0]
    if joint_names is None:
        joint_names = short_joint_names() if v == 25 else [str(i) for i in range(v)]
    if len(joint_names) != v:
        raise ValueError(f"joint_names has {len(joint_names)} names for a {v}x{v} matrix")
    rows, cols = _axis_roles(convention)
    ax = _new_ax(ax, (7, 6))
    norm, cmap = _value_norm(a, cmap)
    image = ax.imshow(a, cmap=cmap, norm=norm, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label=cbar_label, fraction=0.046, pad=0.04)
    ax.set_xticks(range(v), joint_names, rotation=90, fontsize=7 if v > 12 else 9)
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
    ``norm`` fixes a shared colour scale (e.g. across the subsets of a partition).
    """
    graph = _graph(graph)
    m = _numpy(M)
    if m.shape != (graph.num_nodes, graph.num_nodes):
        raise ValueError(f"M must have shape (V, V) = {(graph.num_nodes,) * 2}, got {tuple(m.shape)}")
    edges = matrix_edges(m, convention, threshold, top_k)
    diagonal = np.diag(m)
    if norm is None:
        norm, cmap = _value_norm(np.concatenate([diagonal, [w for *_, w in edges]]), cmap)
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
    _annotate(ax, pos, _labels(graph, labels))
    if colorbar:
        ax.figure.colorbar(mapper, ax=ax, label="weight (joints: self-weight)")
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
    fig.colorbar(plt.cm.ScalarMappable(norm, cmap), ax=list(axes), label="weight (joints: self-weight)", shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def _sequence_xy(x, graph: SkeletonGraph) -> np.ndarray:
    """(C, T, V) or (C, T, V, M) -> x-y channels (2, T, V, M), with a clear error for other shapes."""
    seq = _numpy(x)
    if seq.ndim == 3:
        seq = seq[..., None]
    if seq.ndim != 4 or seq.shape[0] < 2 or seq.shape[2] != graph.num_nodes:
        expected = f"(C, T, V) or (C, T, V, M) with C >= 2 and V={graph.num_nodes}"
        raise ValueError(f"x must have shape {expected}, got {tuple(_numpy(x).shape)}")
    return seq[:2]


def _present_bodies(seq: np.ndarray) -> list[int]:
    """Bodies that are not all-zero padding in a (2, T, V, M) sequence."""
    return [m for m in range(seq.shape[3]) if np.abs(seq[..., m]).sum() > 0]


def draw_filmstrip(
    x,
    graph: SkeletonGraph | None = None,
    num_frames: int = 6,
    ax: Axes | None = None,
    title: str | None = None,
    spacing: float | None = None,
) -> Axes:
    """Draw ``num_frames`` evenly spaced frames of a (C, T, V) or (C, T, V, M) sequence side by side (x-y).

    Frame ``i`` is shifted right by ``i * spacing`` (default: the body's width plus a margin) and
    labelled with its frame index.
    """
    graph = _graph(graph)
    seq = _sequence_xy(x, graph)
    bodies = _present_bodies(seq)
    frames = np.linspace(0, seq.shape[1] - 1, num_frames).round().astype(int)
    used = seq[..., bodies]
    if spacing is None:
        spacing = float(used[0].max() - used[0].min()) + 0.3
    ax = _new_ax(ax, (1.6 * num_frames, 3.5))
    palette = plt.get_cmap("tab10")
    edges = np.array(graph.edges)
    for i, frame in enumerate(frames):
        for m in bodies:
            xy = seq[:, frame, :, m].T + np.array([i * spacing, 0.0])  # (V, 2)
            ax.add_collection(LineCollection(xy[edges], colors=[palette(m)], linewidths=2))
            ax.plot(xy[:, 0], xy[:, 1], "o", color=palette(m), ms=2)
        ax.text(i * spacing + used[0].mean(), used[1].max() + 0.1, f"t={frame}", ha="center", fontsize=8)
    ax.autoscale_view()
    ax.set_ylim(top=used[1].max() + 0.3)
    _finish(ax, title)
    ax.set_xlabel(f"x (m), frames shifted by {spacing:.2f} m")
    return ax


def animate_sequence(
    x,
    graph: SkeletonGraph | None = None,
    interval: int = 100,
    ax: Axes | None = None,
    title: str | None = None,
    step: int = 1,
) -> animation.FuncAnimation:
    """Animate a (C, T, V) or (C, T, V, M) sequence (x-y channels) as a moving skeleton per body.

    ``step`` keeps every step-th frame (fewer frames, smaller notebooks). Show with
    ``IPython.display.HTML(anim.to_jshtml())``. A figure created here is closed so
    it is not also shown as a still image.
    """
    graph = _graph(graph)
    seq = _sequence_xy(x, graph)[:, ::step]  # (2, T', V, M)
    num_frames = seq.shape[1]
    bodies = _present_bodies(seq)
    created = ax is None
    ax = _new_ax(ax, (4, 4.5))
    fig = ax.figure
    palette = plt.get_cmap("tab10")
    collections = []
    for m in bodies:
        lines = LineCollection([], colors=[palette(m)], linewidths=3)
        ax.add_collection(lines)
        collections.append(lines)
    points = [ax.plot([], [], "o", color=palette(m), ms=3)[0] for m in bodies]
    used = seq[..., bodies]
    pad = 0.1
    ax.set_xlim(used[0].min() - pad, used[0].max() + pad)
    ax.set_ylim(used[1].min() - pad, used[1].max() + pad)
    _finish(ax, None)
    edges = np.array(graph.edges)

    def update(frame: int):
        for lines, dots, m in zip(collections, points, bodies, strict=True):
            xy = seq[:, frame, :, m].T  # (V, 2)
            lines.set_segments(xy[edges])
            dots.set_data(xy[:, 0], xy[:, 1])
        ax.set_title(f"{title + ': ' if title else ''}frame {frame * step}")
        return [*collections, *points]

    anim = animation.FuncAnimation(fig, update, frames=num_frames, interval=interval, blit=False)
    if created:
        plt.close(fig)
    return anim
