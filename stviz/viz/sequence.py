"""Drawing a skeleton sequence: a filmstrip of frames, and an animation that needs neither a kernel nor a CDN.

:class:`FrameAnimation` keeps every frame as a PNG. Its output shows the first frame as a plain picture (read
untrusted, on GitHub, without JavaScript) and, for trusted readers, a small inline script plays the frames.
"""

from __future__ import annotations

import base64
import hashlib
import json

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from stviz.graph import SkeletonGraph
from stviz.viz.core import _finish, _graph, _new_ax, _numpy
from stviz.viz.labels import joint_labels
from stviz.viz.style import png_bytes

__all__ = ["draw_filmstrip", "draw_motion_arrows", "draw_bone_vectors", "draw_streams", "FrameAnimation"]
__all__ += ["animate_sequence"]


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


def _one_body_streams(x, graph: SkeletonGraph, frame: int, body: int) -> tuple[np.ndarray, ...]:
    """Joints, bones and motion (3, T, V) of one body of a (3, T, V) or (3, T, V, M) sequence, with checks."""
    from stviz.data import bone_stream, motion_stream  # stviz.data draws nothing; imported here to keep viz light

    seq = _numpy(x)
    if seq.ndim == 3:
        seq = seq[..., None]
    if seq.ndim != 4 or seq.shape[0] != 3 or seq.shape[2] != graph.num_nodes:
        raise ValueError(f"x must have shape (3, T, V) or (3, T, V, M) with V={graph.num_nodes}, got {seq.shape}")
    if not 0 <= frame < seq.shape[1] - 1:
        raise ValueError(f"frame must be in 0..{seq.shape[1] - 2} (the last frame has no motion), got {frame}")
    if not 0 <= body < seq.shape[3]:
        raise ValueError(f"body must be in 0..{seq.shape[3] - 1}, got {body}")
    one_body = seq[..., body : body + 1]  # (3, T, V, 1): the streams want the body axis
    streams = (one_body, bone_stream(one_body, graph.bone_parent), motion_stream(one_body))
    return tuple(stream[..., 0] for stream in streams)


def draw_motion_arrows(
    x, graph: SkeletonGraph | None = None, frame: int = 0, body: int = 0, ax: Axes | None = None
) -> Axes:
    """The pose of one body at ``frame`` (x-y) with each joint's motion ``x[t+1] - x[t]`` as an arrow, scaled up.

    ``x`` is (3, T, V) or (3, T, V, M); the title says how many times longer than the motion the arrows are drawn.
    """
    graph = _graph(graph)
    joints, _, motion = _one_body_streams(x, graph, frame, body)
    ax = _new_ax(ax, (3, 4))
    xy = joints[:2, frame].T  # (V, 2)
    ax.add_collection(LineCollection(xy[np.array(graph.edges)], colors="0.7", linewidths=2))
    ax.plot(xy[:, 0], xy[:, 1], "o", color="0.35", ms=3)
    arrows = motion[:2, frame].T  # (V, 2)
    gain = 0.4 / (float(np.abs(arrows).max()) or 1.0)  # the longest arrow: 0.4 m, a quarter of the body
    # the shaft width in inches: as thick in a narrow panel as in a wide one
    ax.quiver(xy[:, 0], xy[:, 1], arrows[:, 0], arrows[:, 1], color="tab:red", angles="xy", scale_units="xy",
              scale=1 / gain, units="inches", width=0.025, zorder=3)  # fmt: skip
    ax.autoscale_view()
    _finish(ax, f"motion at t={frame}\narrows {gain:.3g}x longer")
    return ax


def draw_bone_vectors(
    x, graph: SkeletonGraph | None = None, frame: int = 0, body: int = 0, ax: Axes | None = None
) -> Axes:
    """The bone vectors ``x[v] - x[parent(v)]`` of one body at ``frame`` (x-y), each drawn from the origin.

    Where the body stands is gone: only the bones' directions and lengths remain. One line per bone.
    """
    graph = _graph(graph)
    _, bones, _ = _one_body_streams(x, graph, frame, body)
    ax = _new_ax(ax, (3, 4))
    for v, (bx, by) in enumerate(bones[:2, frame].T):
        if v != graph.bone_parent[v]:
            ax.plot([0, bx], [0, by], color="tab:blue", lw=1.5)
    ax.plot(0, 0, "+", color="k", ms=10)
    _finish(ax, f"bones at t={frame}")
    return ax


def draw_streams(x, graph: SkeletonGraph | None = None, frame: int = 0, body: int = 0) -> Figure:
    """The joint, bone and motion streams of one body of a (3, T, V, M) or (3, T, V) sequence, in three panels.

    Left: :func:`draw_motion_arrows`. Middle: :func:`draw_bone_vectors`. Right: the speed ``|x[t+1] - x[t]|`` of
    every joint over time (1-based joint labels, colour bar in m/frame).
    """
    graph = _graph(graph)
    _, _, motion = _one_body_streams(x, graph, frame, body)
    fig, (pose_ax, bone_ax, speed_ax) = plt.subplots(
        1, 3, figsize=(10, 3.7), width_ratios=(1.1, 1, 1.6), layout="constrained"
    )
    draw_motion_arrows(x, graph, frame, body, ax=pose_ax)
    draw_bone_vectors(x, graph, frame, body, ax=bone_ax)
    for ax in (pose_ax, bone_ax):
        ax.xaxis.set_major_locator(MaxNLocator(3))  # narrow panels: few x ticks, none overlapping
    speed = np.linalg.norm(motion, axis=0)  # (T, V)
    image = speed_ax.imshow(speed.T, aspect="auto", cmap="viridis", interpolation="nearest")
    speed_ax.set_yticks(range(graph.num_nodes), joint_labels(graph), fontsize=7)
    speed_ax.set_xlabel("frame t")
    speed_ax.set_ylabel("joint")
    speed_ax.set_title("motion stream: speed per joint")
    fig.colorbar(image, ax=speed_ax, label="|x[t+1] - x[t]| (m/frame)")
    return fig


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


class FrameAnimation:
    """An animation stored as PNG frames: the first frame for any reader, the frames played for trusted ones.

    ``frames``: PNG bytes, one per frame; ``interval``: milliseconds between frames. Displayed in a notebook, the
    output carries ``image/png`` (the first frame) and ``text/html``: an ``<img>`` of the first frame that an
    inline script (no external resource) turns into a player with a play/pause button and a frame slider.
    """

    def __init__(self, frames: list[bytes], interval: int = 100):
        if not frames:
            raise ValueError("FrameAnimation needs at least one frame, got none")
        self.frames = list(frames)
        self.interval = int(interval)

    def __repr__(self) -> str:
        return f"FrameAnimation({len(self.frames)} frames, {self.interval} ms apart)"

    def to_html(self) -> str:
        """The player: the first frame as ``<img>``, controls added by an inline script."""
        encoded = [_b64(frame) for frame in self.frames]
        uid = "stviz-anim-" + hashlib.sha1("".join(encoded).encode()).hexdigest()[:12]
        script = _PLAYER_JS.replace("UID", uid).replace("INTERVAL", str(self.interval))
        script = script.replace("LATER_FRAMES", json.dumps(encoded[1:]))  # the first is the <img>'s, stored once
        return (
            f'<div id="{uid}"><img src="data:image/png;base64,{encoded[0]}" '
            f'alt="frame 1 of {len(encoded)}"/><script>{script}</script></div>'
        )

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {"text/plain": repr(self), "image/png": _b64(self.frames[0]), "text/html": self.to_html()}


_PLAYER_JS = """
(function () {
  var root = document.getElementById("UID") || document.currentScript.parentElement;
  var img = root.querySelector("img"), frames = [img.src.split(",")[1]].concat(LATER_FRAMES), i = 0, timer = null;
  var bar = document.createElement("div");
  var button = document.createElement("button");
  var slider = document.createElement("input");
  slider.type = "range"; slider.min = 0; slider.max = frames.length - 1; slider.value = 0;
  function show(k) { i = k; img.src = "data:image/png;base64," + frames[k]; slider.value = k; }
  function play() { timer = setInterval(function () { show((i + 1) % frames.length); }, INTERVAL);
                    button.textContent = "pause"; }
  function pause() { clearInterval(timer); timer = null; button.textContent = "play"; }
  button.onclick = function () { if (timer) { pause(); } else { play(); } };
  slider.oninput = function () { pause(); show(Number(slider.value)); };
  bar.appendChild(button); bar.appendChild(slider); root.appendChild(bar);
  play();
})();
"""


def animate_sequence(
    x,
    graph: SkeletonGraph | None = None,
    interval: int = 100,
    title: str | None = None,
    step: int = 1,
    figsize: tuple[float, float] = (3.0, 3.5),
) -> FrameAnimation:
    """Animate a (C, T, V) or (C, T, V, M) sequence (x-y channels) as a moving skeleton per body.

    ``step`` keeps every step-th frame (fewer frames, smaller notebooks). Each frame is rendered once to PNG at
    the shared resolution (:data:`stviz.viz.style.DPI`); axes limits are fixed over the whole sequence.
    """
    graph = _graph(graph)
    seq = _sequence_xy(x, graph)[:, ::step]  # (2, T', V, M)
    bodies = _present_bodies(seq)
    used = seq[..., bodies]
    edges = np.array(graph.edges)
    palette = plt.get_cmap("tab10")
    frames = []
    for frame in range(seq.shape[1]):
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        for m in bodies:
            xy = seq[:, frame, :, m].T  # (V, 2)
            ax.add_collection(LineCollection(xy[edges], colors=[palette(m)], linewidths=3))
            ax.plot(xy[:, 0], xy[:, 1], "o", color=palette(m), ms=3)
        pad = 0.1
        ax.set_xlim(used[0].min() - pad, used[0].max() + pad)
        ax.set_ylim(used[1].min() - pad, used[1].max() + pad)
        _finish(ax, f"{title + ': ' if title else ''}frame {frame * step}")
        frames.append(png_bytes(fig))
    return FrameAnimation(frames, interval)
