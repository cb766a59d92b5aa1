"""Drawing: skeletons, adjacency heatmaps, matrices on the skeleton, partitions, animations.

Every function takes an optional ``ax`` (or ``axes``) and returns the axes,
figure or animation it drew; nothing is shown at import and no global style is
changed. Matrix conventions (SPEC.md pitfall 1):

* ``"row_target"``: ``out[u] = sum_v M[u, v] x[v]``; rows are targets (CTR-GCN).
* ``"column_target"``: ``out[w] = sum_v x[v] M[v, w]``; columns are targets
  (ST-GCN, EfficientGCN).

Topic plots for later notebooks are appended at the end of this module.
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


# --- 01 · spatial -----------------------------------------------------------------------------------------------


def plot_topology_grid(
    M, channels: Sequence[int], ncols: int = 4, title: str | None = None, convention: Convention = "row_target"
) -> Figure:
    """One (V, V) heatmap per chosen channel of ``M`` (C, V, V), on one shared colour scale.

    For CTR-GCN's per-channel topologies (rows are targets). Joint names label the
    left column and the bottom row.
    """
    m = _numpy(M)
    if m.ndim != 3 or m.shape[1] != m.shape[2]:
        raise ValueError(f"M must have shape (C, V, V), got {tuple(m.shape)}")
    channels = list(channels)
    nrows = -(-len(channels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols + 1, 2.6 * nrows + 0.6), squeeze=False)
    norm, cmap = _value_norm(m[channels], None)
    names = short_joint_names() if m.shape[-1] == 25 else [str(i) for i in range(m.shape[-1])]
    rows, cols = _axis_roles(convention)
    for i, ax in enumerate(axes.flat):
        if i >= len(channels):
            ax.axis("off")
            continue
        ax.imshow(m[channels[i]], cmap=cmap, norm=norm, interpolation="nearest")
        ax.set_title(f"channel {channels[i]}", fontsize=9)
        first_col, last_row = i % ncols == 0, i // ncols == nrows - 1 or i + ncols >= len(channels)
        ax.set_yticks(range(len(names)), names if first_col else [], fontsize=4)
        ax.set_xticks(range(len(names)), names if last_row else [], fontsize=4, rotation=90)
        if first_col:
            ax.set_ylabel(f"{rows} joint", fontsize=8)
        if last_row:
            ax.set_xlabel(f"{cols} joint", fontsize=8)
    fig.colorbar(plt.cm.ScalarMappable(norm, cmap), ax=axes, label="weight", shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def shift_matrix(sources) -> torch.Tensor:
    """The (V, V) gather matrix of one channel's spatial shift: ``S[v, sources[v]] = 1`` (rows are targets)."""
    src = torch.as_tensor(sources).long()
    return torch.zeros(len(src), len(src)).index_put_((torch.arange(len(src)), src), torch.tensor(1.0))


def plot_shift_table(sources, ax: Axes | None = None, title: str | None = None, max_channels: int = 32) -> Axes:
    """Joint x channel table of a spatial shift: ``sources[v, c]`` is the joint that (v, c) reads.

    Colour is the source joint index; each cell is labelled with it (Shift-GCN, SPEC.md pitfall 10).
    """
    src = _numpy(sources).astype(int)[:, :max_channels]
    v, c = src.shape
    ax = _new_ax(ax, (0.28 * c + 3, 0.24 * v + 1.5))
    image = ax.imshow(src, cmap="twilight", aspect="auto", interpolation="nearest", vmin=0, vmax=v - 1)
    for (j, ch), s in np.ndenumerate(src):
        dark = np.mean(image.cmap(image.norm(s))[:3]) < 0.5
        ax.text(ch, j, str(s), ha="center", va="center", fontsize=5, color="white" if dark else "black")
    ax.figure.colorbar(image, ax=ax, label="source joint index")
    names = short_joint_names() if v == 25 else [str(i) for i in range(v)]
    ax.set_yticks(range(v), [f"{i} {n}" for i, n in enumerate(names)], fontsize=6)
    ax.set_xticks(range(c), range(c), fontsize=6)
    ax.set_xlabel("channel c")
    ax.set_ylabel("output joint v")
    ax.set_title(title or "Which joint each (joint, channel) reads")
    return ax


# --- 05 · TSM ---------------------------------------------------------------------------------------------------


def plot_shift_sources(sources, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Channel x time diagram of a temporal shift: ``sources[c, t]`` is the input frame output (c, t) reads.

    ``sources`` is (C, T) int, -1 where the output is zero-filled (``stviz.tsm.source_frames``). Colour is the
    offset (source - t); each cell is labelled with its source frame.
    """
    src = _numpy(sources).astype(int)
    c, t = src.shape
    offset = np.where(src < 0, -2, src - np.arange(t)[None, :])  # -2 = zero-filled
    ax = _new_ax(ax, (max(4.0, 0.45 * t + 2), max(3.0, 0.3 * c + 1)))
    cmap = colors.ListedColormap(["0.85", "tab:blue", "white", "tab:orange"])
    norm = colors.BoundaryNorm([-2.5, -1.5, -0.5, 0.5, 1.5], cmap.N)
    image = ax.imshow(offset, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    for (ch, f), s in np.ndenumerate(src):
        ax.text(f, ch, "-" if s < 0 else str(s), ha="center", va="center", fontsize=6 if t > 12 else 7)
    bar = ax.figure.colorbar(image, ax=ax, ticks=[-2, -1, 0, 1])
    bar.ax.set_yticklabels(["zero-filled", "reads t-1", "reads t", "reads t+1"])
    ax.set_xlabel("output frame t (cell text: input frame read)")
    ax.set_ylabel("channel")
    ax.set_title(title or "Where each output (channel, frame) reads from")
    return ax


# --- 02 · Temporal ----------------------------------------------------------------------------------------------


def plot_receptive_field(frames, ax: Axes | None = None, title: str | None = None, value_label: str | None = None):
    """Heatmap of a temporal receptive field: ``frames[t, s]`` says how much input frame s reaches output frame t.

    ``frames`` is (T_out, T_in), boolean (:mod:`stviz.receptive_field` masks) or non-negative weights (a Jacobian,
    interpolation weights). Boolean masks get a two-colour bar, weights a continuous one.
    """
    values = _numpy(frames)
    t_out, t_in = values.shape
    ax = _new_ax(ax, (max(4.0, 0.18 * t_in + 2), max(2.5, 0.18 * t_out + 1.2)))
    is_mask = isinstance(frames, torch.Tensor) and frames.dtype == torch.bool
    if is_mask:
        cmap = colors.ListedColormap(["white", "tab:blue"])
        image = ax.imshow(values, cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        bar = ax.figure.colorbar(image, ax=ax, ticks=[0.25, 0.75])
        bar.ax.set_yticklabels(["not reached", "reached"])
    else:
        image = ax.imshow(values, cmap="viridis", vmin=0, aspect="auto", interpolation="nearest")
        ax.figure.colorbar(image, ax=ax, label=value_label or "weight")
    ax.set_xlabel("input frame s")
    ax.set_ylabel("output frame t")
    ax.set_title(title or "Which input frames reach output frame t")
    return ax


def plot_interpolation_weights(weights, ypos: float, stride: int = 1, ax: Axes | None = None):
    """The (T_out, T_in) linear-interpolation weights of one channel of Shift-GCN's temporal shift."""
    return plot_receptive_field(
        weights,
        ax=ax,
        title=f"Shift by ypos = {ypos:+.2f} frames (stride {stride}): interpolation weights",
        value_label="interpolation weight",
    )


# --- 03 · channel -----------------------------------------------------------------------------------------------


def plot_shift_patterns(
    spatial_sources, temporal_response, axes: Sequence[Axes] | None = None, title: str | None = None
) -> Figure:
    """Shift-GCN per channel, side by side: channel x joint (source joint read) and channel x time (impulse response).

    ``spatial_sources``: (C, V) int, the joint that (channel c, joint v) reads; ``temporal_response``: (C, T), the
    output of the temporal shift for a unit impulse at one frame. Returns the figure.
    """
    src, resp = _numpy(spatial_sources), _numpy(temporal_response)
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    fig = axes[0].figure
    v = src.shape[1]
    image = axes[0].imshow(src, cmap="twilight", aspect="auto", interpolation="nearest", vmin=0, vmax=v - 1)
    fig.colorbar(image, ax=axes[0], label="source joint index (0-based)")
    axes[0].set_xticks(range(v), short_joint_names() if v == 25 else range(v), rotation=90, fontsize=6)
    axes[0].set(xlabel="output joint", ylabel="channel", title="spatial shift: joint each channel reads")
    norm, cmap = _value_norm(resp, None)
    image = axes[1].imshow(resp, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=axes[1], label="response to a unit impulse")
    axes[1].set(xlabel="output frame", ylabel="channel", title="temporal shift: impulse response per channel")
    if title:
        fig.suptitle(title)
    return fig


def plot_attention_gates(frame_gate, joint_gate, graph: SkeletonGraph | None = None, axes: Sequence[Axes] | None = None,
                         title: str | None = None) -> Figure:  # fmt: skip
    """EfficientGCN attention for one sample: a channel x frame heatmap and one value per joint on the skeleton.

    ``frame_gate``: (C, T); ``joint_gate``: (V,) (e.g. the joint gate averaged over channels), drawn as its
    deviation from its mean over joints so that small differences show. Returns the figure.
    """
    gate_t, gate_v = _numpy(frame_gate), _numpy(joint_gate)
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained", width_ratios=(1.4, 1))
    fig = axes[0].figure
    image = axes[0].imshow(gate_t, cmap="viridis", aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=axes[0], label="frame gate")
    axes[0].set(xlabel="frame", ylabel="channel", title="gate over time, per channel")
    deviation = {j: float(g) for j, g in enumerate(gate_v - gate_v.mean())}
    draw_skeleton(graph, ax=axes[1], labels=False, highlight=deviation, node_size=90, title="gate over joints",
                  cbar_label=f"joint gate - {gate_v.mean():.3f} (its mean)")  # fmt: skip
    if title:
        fig.suptitle(title)
    return fig


# -- 04 multi-scale (MS-G3D) ------------------------------------------------------------------------


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
