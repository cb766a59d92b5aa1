"""Plots of notebook 03 (channel): per-subset refinements, per-channel shift patterns and attention gates."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from stviz.channel import NTU_PART_NAMES, NTU_PARTS
from stviz.graph import SkeletonGraph
from stviz.viz.core import (
    _new_ax,
    _numpy,
    _pose_xy,
    _value_norm,
    draw_matrix_on_skeleton,
    draw_skeleton,
    skeleton_weight_key,
)
from stviz.viz.labels import tick_labels
from stviz.viz.style import WIDTH

__all__ = ["plot_gate_by_part", "plot_shift_patterns", "plot_joint_gates", "plot_subset_refinements"]


def plot_shift_patterns(
    spatial_sources, temporal_response, axes: Sequence[Axes] | None = None, title: str | None = None
) -> Figure:
    """Shift-GCN per channel, side by side: channel x joint (source joint read) and channel x time (impulse response).

    ``spatial_sources``: (C, V) int, the joint that (channel c, joint v) reads; ``temporal_response``: (C, T), the
    output of the temporal shift for a unit impulse at one frame. Returns the figure.
    """
    src, resp = _numpy(spatial_sources), _numpy(temporal_response)
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 4.2), layout="constrained")
    fig = axes[0].figure
    v = src.shape[1]
    image = axes[0].imshow(src + 1, cmap="twilight", aspect="auto", interpolation="nearest", vmin=1, vmax=v)
    fig.colorbar(image, ax=axes[0], label="source joint J (1-based, as the x axis)")
    ticks = range(0, v, 2)  # every second joint, as 1-based numbers like the colour bar: readable at this width
    axes[0].set_xticks(ticks, [tick_labels(v, "number")[i] for i in ticks], fontsize=8)
    axes[0].set(xlabel="output joint", ylabel="channel", title="spatial shift: joint each channel reads")
    norm, cmap = _value_norm(resp, None)
    image = axes[1].imshow(resp, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=axes[1], label="response to a unit impulse")
    axes[1].set(xlabel="output frame", ylabel="channel", title="temporal shift: impulse response per channel")
    if title:
        fig.suptitle(title)
    return fig


def _values_on_skeleton(values, graph: SkeletonGraph, ax: Axes, norm: colors.Normalize, cmap: str, label: str,
                        title: str) -> None:  # fmt: skip
    """One value per joint as the colour of its dot, on a given colour scale, with a colour bar."""
    draw_skeleton(graph, ax=ax, labels=False, title=title)
    pos = _pose_xy(graph, None)
    xy = np.array([pos[v] for v in range(graph.num_nodes)])
    dots = ax.scatter(xy[:, 0], xy[:, 1], c=values, cmap=cmap, norm=norm, s=70, edgecolors="k", linewidths=0.5,
                      zorder=5)  # fmt: skip
    ax.figure.colorbar(dots, ax=ax, label=label, shrink=0.8)
    _clean_skeleton_axes(ax)


def _clean_skeleton_axes(ax: Axes) -> None:
    """Hide the metre ticks of a skeleton panel and mark the subject's sides (seen from the front)."""
    ax.set(xticks=[], yticks=[], xlabel="", ylabel="")
    ax.text(0.02, 0.02, "R", transform=ax.transAxes, fontsize=8, color="0.4")
    ax.text(0.98, 0.02, "L", transform=ax.transAxes, fontsize=8, color="0.4", ha="right")


def plot_joint_gates(gate_a, gate_b, names: tuple[str, str], graph: SkeletonGraph | None = None,
                     axes: Sequence[Axes] | None = None, title: str | None = None) -> Figure:  # fmt: skip
    """Mean joint gates of two classes on one colour scale, and their difference on a diverging one.

    ``gate_a``, ``gate_b``: (V,), e.g. a joint gate averaged over channels and over the clips of a class.
    Returns the figure (three skeleton panels).
    """
    graph = graph or SkeletonGraph()
    a, b = _numpy(gate_a), _numpy(gate_b)
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 3.8), layout="constrained")
    fig = axes[0].figure
    shared = colors.Normalize(float(min(a.min(), b.min())), float(max(a.max(), b.max())))
    for ax, values, name in zip(axes[:2], (a, b), names, strict=True):
        _values_on_skeleton(values, graph, ax, shared, "viridis", "mean joint gate", f"'{name}'")
    diff = a - b
    bound = float(np.abs(diff).max()) or 1.0
    _values_on_skeleton(diff, graph, axes[2], colors.Normalize(-bound, bound), "RdBu_r", "difference of gates",
                        f"'{names[0]}' - '{names[1]}'")  # fmt: skip
    if title:
        fig.suptitle(title)
    return fig


def plot_subset_refinements(refinements, graph: SkeletonGraph | None = None, axes: Sequence[Axes] | None = None,
                            norm: colors.Normalize | None = None, top_k: int = 10,
                            subset_names: Sequence[str] = ("identity", "inward", "outward"),
                            title: str | None = None) -> Figure:  # fmt: skip
    """One channel's refinement ``alpha * T_k,c`` for each subset k, on the skeleton, on one colour scale.

    ``refinements``: (K, V, V), rows are targets (CTR-GCN). Each subset has its own value projection in the model,
    so the K matrices are drawn apart, never summed. ``norm`` defaults to a symmetric scale over all K matrices.
    Returns the figure.
    """
    r = _numpy(refinements)
    if r.ndim != 3 or r.shape[1] != r.shape[2]:
        raise ValueError(f"refinements must have shape (K, V, V), got {tuple(r.shape)}")
    if axes is None:
        fig, axes = plt.subplots(1, len(r), figsize=(WIDTH, 3.8), layout="constrained")
    fig = axes[0].figure
    if norm is None:
        bound = float(np.abs(r).max()) or 1.0
        norm = colors.Normalize(-bound, bound)
    for k, (ax, matrix) in enumerate(zip(axes, r, strict=True)):
        name = subset_names[k] if k < len(subset_names) else f"subset {k}"
        draw_matrix_on_skeleton(matrix, graph, "row_target", ax=ax, top_k=top_k, norm=norm, cmap="RdBu_r",
                                colorbar=False, title=f"{name}: {top_k} strongest")  # fmt: skip
        _clean_skeleton_axes(ax)
    skeleton_weight_key(axes, r, norm, "RdBu_r", top_k=top_k)  # one key for all K panels
    if title:
        fig.suptitle(title)
    return fig


def plot_gate_by_part(gate, ax: Axes | None = None, title: str | None = None, cbar_label: str = "gate",
                      parts: Sequence[Sequence[int]] = NTU_PARTS,
                      part_names: Sequence[str] = NTU_PART_NAMES) -> Axes:  # fmt: skip
    """A (T, V) gate as a frames x joints image, its joints grouped by body part, with a colour bar.

    Columns follow ``parts`` (0-based joint indices, each joint once), parted by white lines and named on top, so a
    gate that is constant within each part (EfficientGCN's part attention) shows as five blocks. Returns the axes.
    """
    g = _numpy(gate)
    order = [j for part in parts for j in part]
    if g.ndim != 2 or sorted(order) != list(range(g.shape[1])):
        raise ValueError(f"gate must have shape (T, V) with parts covering joints 0..V-1 once each, got "
                         f"shape {tuple(g.shape)} and {len(order)} joints in parts")  # fmt: skip
    if len(part_names) != len(parts):
        raise ValueError(f"part_names has {len(part_names)} names for {len(parts)} parts")
    ax = _new_ax(ax, (5, 3.5))
    image = ax.imshow(g[:, order], aspect="auto", cmap="viridis", interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label=cbar_label)
    names = tick_labels(g.shape[1], "number")
    ax.set_xticks(range(len(order)), [names[j] for j in order], rotation=90, fontsize=7)
    sizes = np.array([len(part) for part in parts])
    edges = np.cumsum(sizes)
    for edge in edges[:-1]:
        ax.axvline(edge - 0.5, color="white", lw=1.5)
    top = ax.secondary_xaxis("top")
    top.set_xticks(edges - sizes / 2 - 0.5, list(part_names), fontsize=7)
    top.tick_params(length=0)
    ax.set(xlabel="joint, grouped by body part", ylabel="frame")
    if title:
        ax.set_title(title, fontsize=9)
    return ax
