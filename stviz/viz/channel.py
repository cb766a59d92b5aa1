"""Plots of notebook 03 (channel): per-channel shift patterns and attention gates."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from stviz.graph import SkeletonGraph
from stviz.viz.core import (
    _numpy,
    _value_norm,
    draw_skeleton,
    short_joint_names,
)

__all__ = ["plot_shift_patterns", "plot_attention_gates"]


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
