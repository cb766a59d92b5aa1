"""Plots of notebook 02 (temporal): receptive fields and the shift's interpolation weights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import colors
from matplotlib.axes import Axes

from stviz.viz.core import (
    _new_ax,
    _numpy,
)
from stviz.viz.style import plain_log_ticks

__all__ = ["plot_receptive_field", "plot_interpolation_weights", "plot_time_ratios"]


def plot_receptive_field(
    frames,
    ax: Axes | None = None,
    title: str | None = None,
    value_label: str | None = None,
    scale: str = "linear",
    log_min: float | None = None,
    vmax: float | None = None,
):
    """Heatmap of a temporal receptive field: ``frames[t, s]`` says how much input frame s reaches output frame t.

    ``frames`` is (T_out, T_in), boolean (:mod:`stviz.receptive_field` masks) or non-negative weights (a Jacobian,
    interpolation weights). Boolean masks get a two-colour bar, weights a continuous one: ``scale="linear"`` from 0,
    or ``scale="log"`` from the smallest non-zero weight (or ``log_min``, e.g. one lower end shared by several
    panels) to the largest, with zeros left white, so that weak but non-zero links (the outer taps of stacked
    convolutions) stay visible. ``vmax`` sets the top of a linear scale (e.g. one scale for panels side by side).
    """
    if scale not in ("linear", "log"):
        raise ValueError(f"plot_receptive_field: scale must be 'linear' or 'log', got {scale!r}")
    values = _numpy(frames)
    t_out, t_in = values.shape
    ax = _new_ax(ax, (max(4.0, 0.18 * t_in + 2), max(2.5, 0.18 * t_out + 1.2)))
    is_mask = isinstance(frames, torch.Tensor) and frames.dtype == torch.bool
    if is_mask:
        cmap = colors.ListedColormap(["white", "tab:blue"])
        image = ax.imshow(values, cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        bar = ax.figure.colorbar(image, ax=ax, ticks=[0.25, 0.75])
        bar.ax.set_yticklabels(["not reached", "reached"])
    elif scale == "log":
        if (values < 0).any() or not (values > 0).any():
            raise ValueError("plot_receptive_field: scale='log' needs non-negative weights with at least one above 0")
        positive = values[values > 0]
        cmap = plt.get_cmap("viridis").with_extremes(bad="white")
        lowest = float(positive.min()) if log_min is None else log_min
        if not 0 < lowest <= float(positive.max()):
            raise ValueError(f"plot_receptive_field: log_min must be in (0, {float(positive.max())}], got {log_min}")
        norm = colors.LogNorm(vmin=lowest, vmax=float(positive.max()))
        masked = np.ma.masked_less_equal(values, 0)
        image = ax.imshow(masked, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
        ax.figure.colorbar(image, ax=ax, label=f"{value_label or 'weight'} (log; white: 0)")
    else:
        image = ax.imshow(values, cmap="viridis", vmin=0, vmax=vmax, aspect="auto", interpolation="nearest")
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


def plot_time_ratios(
    ratios: Mapping[str, float], groups: Mapping[str, Sequence[str]], setup: str, ax: Axes | None = None
) -> Axes:
    """Horizontal bars from 1 to each ratio ``time(first) / time(second)`` on a log axis, so a bar's length is how far
    the pair is from equal time, the same for 0.5 as for 2, with the value at each bar's end. ``groups`` names each
    colour and lists its pairs; ``setup`` (input shape, threads) goes in the x label."""
    ax = _new_ax(ax, (7, 0.4 * len(ratios) + 1.2))
    labels, values = list(ratios), np.array(list(ratios.values()), dtype=float)
    colour = {label: f"C{i}" for i, members in enumerate(groups.values()) for label in members}
    ax.barh(labels, values - 1, left=1, color=[colour.get(label, "0.5") for label in labels])
    for row, value in enumerate(values):  # the value at the bar's end: a ratio of 1 has no bar to read
        ahead = value >= 1
        ax.annotate(f"{value:.2f}", (value, row), xytext=(3 if ahead else -3, 0), textcoords="offset points",
                    ha="left" if ahead else "right", va="center", fontsize=8)  # fmt: skip
    ax.axvline(1.0, color="k", lw=1)
    ax.set_xscale("log")
    low, high = min(values.min(), 1.0), max(values.max(), 1.0)
    ax.set_xlim(low / 1.6, high * 1.6)  # room for the values
    plain_log_ticks(ax.xaxis)
    ax.invert_yaxis()
    handles = [plt.Rectangle((0, 0), 1, 1, color=f"C{i}", label=name) for i, name in enumerate(groups)]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.32), ncols=len(groups), fontsize=8)
    ax.set(ylabel="pair: first / second", xlabel=f"time ratio, measured in turns ({setup}; log scale)",
           title="Forward time of one block against another (< 1: the first is faster)")  # fmt: skip
    return ax
