"""Plots of notebook 05 (TSM): where each output channel and frame reads from."""

from __future__ import annotations

import numpy as np
from matplotlib import colors
from matplotlib.axes import Axes

from stviz.viz.core import (
    _new_ax,
    _numpy,
)

__all__ = ["plot_shift_sources"]


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
