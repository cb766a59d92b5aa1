"""Plots of notebook 02 (temporal): receptive fields and the shift's interpolation weights."""

from __future__ import annotations

import torch
from matplotlib import colors
from matplotlib.axes import Axes

from stviz.viz.core import (
    _new_ax,
    _numpy,
)

__all__ = ["plot_receptive_field", "plot_interpolation_weights"]


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
