"""Plots of notebook 01 (spatial): per-channel topology grids and Shift-GCN's spatial shift."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from stviz.viz.core import (
    Convention,
    _axis_roles,
    _new_ax,
    _numpy,
    _value_norm,
    short_joint_names,
)

__all__ = ["plot_topology_grid", "shift_matrix", "plot_shift_table"]


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
