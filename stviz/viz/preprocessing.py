"""NTU preprocessing drawn: the teaching steps one by one, and the originals' pipelines side by side on one clip."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from stviz.data import CHECKPOINTS, SkeletonBody, preprocess_skeleton, read_skeleton_file
from stviz.graph import SkeletonGraph
from stviz.viz.sequence import draw_bone_vectors, draw_motion_arrows
from stviz.viz.style import WIDTH

__all__ = ["plot_preprocessing_steps", "plot_fixed_length", "plot_pipelines"]

# The plane each pipeline is drawn in: (horizontal, vertical) coordinate. 2s-AGCN puts the spine on +z.
UPRIGHT_PLANE = {"stgcn": (0, 1), "2s-agcn": (0, 2), "efficientgcn-raw": (0, 1), "ctrgcn": (0, 1), "teaching": (0, 1)}
_BODY_COLOURS = ("tab:blue", "tab:orange")


def _draw_pose(ax: Axes, pose: np.ndarray, plane: tuple[int, int], edges, colour: str, label: str) -> None:
    """One body (3, V) as bones and joints in ``plane``."""
    h, v = plane
    segments = [[(pose[h, i], pose[v, i]), (pose[h, j], pose[v, j])] for i, j in edges]
    ax.add_collection(LineCollection(segments, colors=colour, linewidths=2.5))
    ax.scatter(pose[h], pose[v], s=10, color=colour, zorder=3, label=label)


def plot_pipelines(
    source: str | Path | Sequence[Sequence[SkeletonBody]],
    pipelines: Sequence[str] = ("stgcn", "2s-agcn", "ctrgcn"),
    frame: int = 0,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """One panel per pipeline on the same clip; returns the figure.

    Each panel shows frame ``frame`` of the pipeline's output (3, T, 25, M) (the same index can be a different
    moment: CTR-GCN drops empty frames, 2s-AGCN packs late bodies to the front), every body in it, the path of body
    0's middle of the spine over the non-empty frames (dotted, where it moves more than 15 cm) and the origin (+). A
    panel is drawn upright in that pipeline's own coordinates: x-y for camera coordinates, x-z for 2s-AGCN. Its
    title names the pipeline and its checkpoints.
    """
    frames = read_skeleton_file(source) if isinstance(source, str | Path) else source
    if axes is None:
        _, axes = plt.subplots(
            1, len(pipelines), figsize=(min(WIDTH, 3.4 * len(pipelines)), 3.9), layout="constrained", squeeze=False
        )
        axes = axes[0]
    if len(axes) != len(pipelines):
        raise ValueError(f"axes must hold one Axes per pipeline ({len(pipelines)}), got {len(axes)}")
    edges = SkeletonGraph().edges
    for ax, name in zip(axes, pipelines, strict=True):
        x = preprocess_skeleton(frames, pipeline=name)
        if not 0 <= frame < x.shape[1]:
            raise ValueError(f"frame must be in 0..{x.shape[1] - 1} for pipeline {name!r}, got {frame}")
        plane = UPRIGHT_PLANE[name]
        for m in range(x.shape[3]):
            if np.abs(x[:, frame, :, m]).sum() > 0:
                _draw_pose(ax, x[:, frame, :, m], plane, edges, _BODY_COLOURS[m % 2], f"body {m}")
        valid = np.abs(x[..., 0]).sum((0, 2)) > 0
        spine = x[:, valid, 1, 0]
        if np.ptp(spine[list(plane)], axis=1).max() > 0.15:  # a shorter path hides under the origin and the body
            path = dict(color="k", lw=1.5, zorder=4, label="middle of spine over time")
            ax.plot(spine[plane[0]], spine[plane[1]], ":", **path)
        ax.plot(0, 0, "+", color="tab:red", markersize=12, markeredgewidth=2, label="origin")
        ax.set_aspect("equal", adjustable="datalim")
        ax.autoscale_view()
        ax.set_xlabel(f"{'xyz'[plane[0]]} (m)")
        ax.set_ylabel(f"{'xyz'[plane[1]]} (m)")
        ax.set_title(f"{name}\n{CHECKPOINTS[name]}", fontsize=9)
    _legend_below(axes[0].figure, axes)
    return axes[0].figure


def _legend_below(fig: Figure, axes: Sequence[Axes]) -> None:
    """One legend for every panel, below them, so it covers no joint."""
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=len(handles), fontsize=8)


def plot_preprocessing_steps(
    steps: Sequence[tuple[str, np.ndarray, int]],
    graph: SkeletonGraph | None = None,
    streams: tuple[np.ndarray, int] | None = None,
) -> Figure:
    """One panel per step: ``(title, x, frame)`` with ``x`` (M, T, V, 3) as the teaching steps pass it on.

    Each panel draws every body present at ``frame`` in the x-y plane, body 0 in blue, and the origin (+), so that
    selection (which body is 0), centring (the origin moves onto the spine) and alignment (the spine turns
    upright) can be read off the panels, at most 4 a row. ``streams=(x, frame)`` with the final (3, T, V, M) array
    adds body 0's bone vectors and motion arrows at that frame (:func:`stviz.viz.draw_bone_vectors`,
    :func:`stviz.viz.draw_motion_arrows`).
    """
    graph = SkeletonGraph() if graph is None else graph
    edges = graph.edges
    panels = len(steps) + (2 if streams is not None else 0)
    rows = -(-panels // 4)  # at most 4 panels a row, so that a panel and its text stay readable
    cols = -(-panels // rows)
    fig, grid = plt.subplots(rows, cols, figsize=(WIDTH, 3.0 * rows), layout="constrained", squeeze=False)
    for ax in grid.flat[panels:]:
        fig.delaxes(ax)
    axes = grid.reshape(1, -1)[:, :panels]  # the panels in reading order, steps first
    if streams is not None:
        final, frame = streams
        draw_bone_vectors(final, graph, frame, ax=axes[0, -2])
        draw_motion_arrows(final, graph, frame, ax=axes[0, -1])
        for ax in axes[0, -2:]:
            ax.title.set_fontsize(9)
    for ax, (title, x, frame) in zip(axes[0][: len(steps)], steps, strict=True):  # stream panels come last
        if x.ndim != 4 or x.shape[-1] != 3 or not 0 <= frame < x.shape[1]:
            raise ValueError(f"step {title!r}: expected x (M, T, V, 3) and a frame in it, got {x.shape}, {frame}")
        for m in range(x.shape[0]):
            if np.abs(x[m, frame]).sum() > 0:
                _draw_pose(ax, x[m, frame].T, (0, 1), edges, _BODY_COLOURS[m % 2], f"body {m}")
        ax.plot(0, 0, "+", color="tab:red", markersize=12, markeredgewidth=2, label="origin")
        ax.set_aspect("equal", adjustable="datalim")
        ax.autoscale_view()
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        ax.set_title(f"{title}\nt={frame}", fontsize=9)
    for i, ax in enumerate(axes[0]):
        ax.xaxis.set_major_locator(MaxNLocator(3 if i < len(steps) else 2))  # the stream panels are narrower
        ax.tick_params(labelsize=8)
        ax.margins(0.08)
    _legend_below(fig, axes[0][: len(steps)])
    return fig


def plot_fixed_length(
    x: np.ndarray,
    num_frames: int,
    joint_index: int,
    coordinate: int = 0,
    modes: Sequence[str] = ("repeat", "zeros", "resample"),
) -> Figure:
    """One coordinate of joint ``joint_index`` (0-based) of body 0 over time, before and after ``to_fixed_length``.

    ``x`` is (M, T, V, 3); ``coordinate`` 0, 1, 2 is x, y, z. The top panel shows the clip with its empty frames,
    one panel per mode below.
    """
    from stviz.data import to_fixed_length  # the plotted function itself

    fig, axes = plt.subplots(1 + len(modes), 1, figsize=(WIDTH, 1.2 * (1 + len(modes))), sharex=True, sharey=True,
                             layout="constrained")  # fmt: skip
    panels = [("as read (empty frames are 0)", x)] + [(f"{m!r} to {num_frames}", to_fixed_length(x, num_frames, m))
                                                      for m in modes]  # fmt: skip
    for ax, (title, series) in zip(axes, panels, strict=True):
        ax.plot(series[0, :, joint_index, coordinate])
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel(f"{'xyz'[coordinate]} (m)")
        ax.yaxis.set_major_locator(MaxNLocator(3))
    axes[-1].set_xlabel("frame t (one axis for all panels)")
    return fig
