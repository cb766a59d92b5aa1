"""Plots of notebook 01 (spatial): per-channel topology grids and Shift-GCN's spatial shift."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import colors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from stviz.viz.core import (
    Convention,
    _axis_roles,
    _new_ax,
    _numpy,
    _value_norm,
    draw_matrix_on_skeleton,
    skeleton_weight_key,
)
from stviz.viz.labels import tick_labels
from stviz.viz.style import WIDTH

__all__ = [
    "plot_topology_grid",
    "plot_refinement_channels",
    "plot_refinement_sizes",
    "plot_matrices_side_by_side",
    "shift_matrix",
    "plot_shift_table",
]


def _number_ticks(ax: Axes, v: int, rows: bool, columns: bool, step: int = 4) -> None:
    """1-based joint numbers (``'J1'``, as in NTU's files) on every ``step``-th tick, readable at notebook width."""
    ticks = list(range(0, v, step))
    names = tick_labels(v, "number")
    ax.set_yticks(ticks, [names[j] for j in ticks] if rows else [], fontsize=7)
    ax.set_xticks(ticks, [names[j] for j in ticks] if columns else [], fontsize=7)


def plot_topology_grid(
    M, channels: Sequence[int], ncols: int = 4, title: str | None = None, convention: Convention = "row_target"
) -> Figure:
    """One (V, V) heatmap per chosen channel of ``M`` (C, V, V), on one shared colour scale.

    For CTR-GCN's per-channel topologies (rows are targets). Ticks are 1-based joint numbers (every 4th) on the
    left column and the bottom row; the figure fits the notebook width.
    """
    m = _numpy(M)
    if m.ndim != 3 or m.shape[1] != m.shape[2]:
        raise ValueError(f"M must have shape (C, V, V), got {tuple(m.shape)}")
    channels = list(channels)
    nrows = -(-len(channels) // ncols)
    side = min(2.3, (WIDTH - 1.2) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols + 1.2, side * nrows + 0.9), squeeze=False)
    norm, cmap = _value_norm(m[channels], None)
    rows, cols = _axis_roles(convention)
    for i, ax in enumerate(axes.flat):
        if i >= len(channels):
            ax.axis("off")
            continue
        ax.imshow(m[channels[i]], cmap=cmap, norm=norm, interpolation="nearest")
        ax.set_title(f"channel {channels[i]}", fontsize=9)
        first_col, last_row = i % ncols == 0, i // ncols == nrows - 1 or i + ncols >= len(channels)
        _number_ticks(ax, m.shape[-1], first_col, last_row)
        if first_col:
            ax.set_ylabel(f"{rows} joint (number)", fontsize=8)
        if last_row:
            ax.set_xlabel(f"{cols} joint (number)", fontsize=8)
    fig.colorbar(plt.cm.ScalarMappable(norm, cmap), ax=axes, label="weight", shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def plot_refinement_channels(
    shared,
    refinement,
    channels: Sequence[int],
    graph=None,
    top_k: int = 10,
    title: str | None = None,
    subset: str = "k",
) -> Figure:
    """The shared ``PA[subset]`` (V, V) beside ``alpha * T_kc`` of each chosen channel (``refinement`` (C, V, V)).

    All drawn on the skeleton as arrows source -> target (rows are targets), the ``top_k`` largest |weights| per
    panel, on one colour scale so the sizes compare.
    """
    a, r = _numpy(shared), _numpy(refinement)
    if a.ndim != 2 or r.ndim != 3 or r.shape[1:] != a.shape:
        raise ValueError(f"expected shared (V, V) and refinement (C, V, V), got {a.shape} and {r.shape}")
    channels = list(channels)
    bound = max(float(np.abs(a).max()), float(np.abs(r[channels]).max()), 1e-12)
    norm = colors.Normalize(-bound, bound)
    fig, axes = plt.subplots(1, len(channels) + 1, figsize=(WIDTH, 4.2), layout="constrained")
    panels = [(f"shared PA[{subset}]", a)] + [(f"alpha*T, channel {c}", r[c]) for c in channels]
    for ax, (name, m) in zip(axes, panels, strict=True):
        draw_matrix_on_skeleton(m, graph, "row_target", ax=ax, top_k=top_k, title=name, norm=norm, colorbar=False)
    skeleton_weight_key(axes, [m for _, m in panels], norm, "RdBu_r", top_k=top_k)
    if title:
        fig.suptitle(title)
    return fig


def plot_matrices_side_by_side(
    matrices: Mapping[str, object], cbar_label: str, title: str | None = None, convention: Convention = "row_target"
) -> Figure:
    """(V, V) heatmaps of one quantity side by side (panel title -> matrix), on one colour scale.

    Ticks are the reader-facing joint labels (``'J8 L hand'``: 1-based NTU number and short name), at a size
    readable at notebook width; rows and columns are labelled as targets or sources by ``convention``.
    """
    mats = {name: _numpy(m) for name, m in matrices.items()}
    shapes = {m.shape for m in mats.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or len(set(next(iter(shapes)))) != 1:
        raise ValueError(f"expected (V, V) matrices of one shape, got shapes {sorted(shapes)}")
    v = next(iter(shapes))[0]
    labels = tick_labels(v)
    norm, cmap = _value_norm(np.stack(list(mats.values())), None)
    fig, axes = plt.subplots(1, len(mats), figsize=(WIDTH, 6.2), layout="constrained", squeeze=False)
    rows, cols = _axis_roles(convention)
    for i, (ax, (name, m)) in enumerate(zip(axes[0], mats.items(), strict=True)):
        ax.imshow(m, cmap=cmap, norm=norm, interpolation="nearest")
        ax.set_xticks(range(v), labels, rotation=90, fontsize=8)
        ax.set_yticks(range(v), labels if i == 0 else [], fontsize=8)
        ax.set_xlabel(f"{cols} joint")
        if i == 0:
            ax.set_ylabel(f"{rows} joint")
        ax.set_title(name, fontsize=10)
    fig.colorbar(plt.cm.ScalarMappable(norm, cmap), ax=axes, label=cbar_label, shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def plot_refinement_sizes(ratios: Sequence[float], ax: Axes | None = None, title: str | None = None) -> Axes:
    """Bar per layer (1-based) of ``||alpha T||_F / ||A||_F``, log scale, with the line where the two are equal."""
    ratios = [float(r) for r in ratios]
    ax = _new_ax(ax, (6.5, 3.4))
    layers = range(1, len(ratios) + 1)
    larger = [r > 1 for r in ratios]
    ax.bar(layers, ratios, color=["C3" if big else "C0" for big in larger])
    ax.axhline(1.0, color="0.3", linestyle="--", label="refinement as large as A")
    ax.set_yscale("log")
    ax.set_xticks(list(layers))
    ax.set_xlabel("layer (1-based)")
    ax.set_ylabel("||alpha T|| / ||A|| (Frobenius)")
    handles = ax.get_legend_handles_labels()[0]
    if any(larger):  # the red bars' key
        handles.append(Patch(color="C3", label="refinement larger than A"))
    ax.legend(handles=handles, loc="upper right")
    ax.set_title(title or "Size of the refinement against the normalised A")
    return ax


def shift_matrix(sources) -> torch.Tensor:
    """The (V, V) gather matrix of one channel's spatial shift: ``S[v, sources[v]] = 1`` (rows are targets)."""
    src = torch.as_tensor(sources).long()
    return torch.zeros(len(src), len(src)).index_put_((torch.arange(len(src)), src), torch.tensor(1.0))


def plot_shift_table(sources, ax: Axes | None = None, title: str | None = None, max_channels: int = 32) -> Axes:
    """Joint x channel table of a spatial shift: ``sources[v, c]`` is the 0-based index of the joint (v, c) reads.

    Readers see 1-based joint numbers as in NTU's files: rows are labelled ``'J1 spine base'``.., each cell with
    the number of the joint it reads (colour too); channels keep their 0-based index. At most ``max_channels``
    channels, sized to stay readable at notebook width (Shift-GCN, docs/pitfalls.md no. 10).
    """
    src = _numpy(sources).astype(int)[:, :max_channels]
    v, c = src.shape
    number = src + 1  # 1-based joint numbers
    fontsize = 8 if c <= 20 else 6
    ax = _new_ax(ax, (min(WIDTH, 0.4 * c + 3.4), min(0.3 * v + 1.4, 9.0)))
    image = ax.imshow(number, cmap="twilight", aspect="auto", interpolation="nearest", vmin=1, vmax=v)
    for (j, ch), s in np.ndenumerate(number):
        dark = np.mean(image.cmap(image.norm(s))[:3]) < 0.5
        ax.text(ch, j, str(s), ha="center", va="center", fontsize=fontsize, color="white" if dark else "black")
    ax.figure.colorbar(image, ax=ax, label=f"number of the joint read (J1-J{v})")
    rows = tick_labels(v)
    ax.set_yticks(range(v), rows, fontsize=fontsize)
    ax.set_xticks(range(c), range(c), fontsize=fontsize)
    ax.set_xlabel("channel c (0-based index)")
    ax.set_ylabel("joint that reads")
    ax.set_title(title or "Which joint each (joint, channel) reads (1-based joint numbers)")
    return ax
