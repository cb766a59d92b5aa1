"""Plots of notebook 05 (TSM): where each output channel and frame reads from, how each placement spreads a
frame's inputs over time (a log heatmap, and two of its shares on a linear scale), the training study's accuracies
and the shift's cost against a copy."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from stviz.viz.core import (
    _new_ax,
    _numpy,
)

__all__ = [
    "plot_shift_sources",
    "plot_frame_influence",
    "plot_share_by_depth",
    "plot_class_accuracy",
    "plot_cost_ratios",
]


def plot_shift_sources(sources, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Channel x time diagram of a temporal shift: ``sources[c, t]`` is the input frame output (c, t) reads.

    ``sources`` is (C, T) int, -1 where the output is zero-filled (``stviz.tsm.source_frames``). Colour is the
    offset (source - t); each cell is labelled with its source frame, in the largest font (up to 10 pt) that the
    cell's height and width leave room for on the figure.
    """
    src = _numpy(sources).astype(int)
    c, t = src.shape
    offset = np.where(src < 0, -2, src - np.arange(t)[None, :])  # -2 = zero-filled
    ax = _new_ax(ax, (max(4.0, 0.45 * t + 2), max(3.0, 0.3 * c + 1)))
    cmap = colors.ListedColormap(["0.85", "tab:blue", "white", "tab:orange"])
    norm = colors.BoundaryNorm([-2.5, -1.5, -0.5, 0.5, 1.5], cmap.N)
    image = ax.imshow(offset, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    fontsize = _cell_fontsize(ax, c, t, digits=len(str(max(int(src.max()), 0))))
    for (ch, f), s in np.ndenumerate(src):
        ax.text(f, ch, "-" if s < 0 else str(s), ha="center", va="center", fontsize=fontsize)
    bar = ax.figure.colorbar(image, ax=ax, ticks=[-2, -1, 0, 1])
    bar.ax.set_yticklabels(["zero-filled", "reads t-1", "reads t", "reads t+1"])
    ax.set_xlabel("output frame t (cell text: input frame read)")
    ax.set_ylabel("channel")
    ax.set_title(title or "Where each output (channel, frame) reads from")
    return ax


def _cell_fontsize(ax: Axes, rows: int, cols: int, digits: int) -> float:
    """A font size in points for one label per cell of a ``rows`` x ``cols`` image filling ``ax``: at most 60% of
    a cell's height, ``digits`` characters (each about 0.6 em wide) within 70% of its width, between 5 and 10 pt.
    The axes' size is the one before drawing (a layout engine may still change it by a few percent)."""
    width, height = ax.get_position().size * ax.figure.get_size_inches() * 72  # points
    cell_height, cell_width = height / rows, width / cols
    return float(np.clip(min(0.6 * cell_height, 0.7 * cell_width / (0.6 * digits)), 5, 10))


def plot_frame_influence(shares: Mapping[str, object], floor: float | None = None) -> Figure:
    """One heatmap per placement of :func:`stviz.tsm_placement.frame_influence` rows, on one log colour scale.

    ``shares[label]`` is (depth, T) float: row d-1 is the share of the middle output frame that comes from each
    input frame after d blocks. Columns are drawn as the offset k = input frame - output frame; exact zeros (frames
    out of reach) are grey. The log scale starts at ``floor``, by default the decade of the smallest positive
    share, so every share has its own colour; with a higher ``floor``, smaller shares take the floor colour and
    the colour bar's arrow (``extend='min'``) says so.
    """
    if not shares:
        raise ValueError("plot_frame_influence expects at least one placement, got none")
    arrays = {label: _numpy(v) for label, v in shares.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"plot_frame_influence expects (depth, T) arrays of one shape, got {sorted(shapes)}")
    depth, t = next(iter(shapes))
    offsets = np.arange(t) - t // 2
    fig, axes = plt.subplots(1, len(arrays), figsize=(4.6 * len(arrays) + 1, 0.4 * depth + 1.8), layout="constrained")
    axes = np.atleast_1d(axes)
    positive = min((float(a[a > 0].min()) for a in arrays.values() if (a > 0).any()), default=1.0)
    floor = 10.0 ** np.floor(np.log10(positive)) if floor is None else floor
    clipped = positive < floor
    norm = colors.LogNorm(vmin=floor, vmax=1.0)
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.85")
    for ax, (label, share) in zip(axes, arrays.items(), strict=True):
        shown = np.ma.masked_equal(np.maximum(share, floor * (share > 0)), 0.0)  # grey: out of reach
        image = ax.imshow(shown, norm=norm, cmap=cmap, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(t), [str(k) for k in offsets])
        ax.set_yticks(range(depth), [str(d + 1) for d in range(depth)])
        ax.set_xlabel("input frame - output frame")
        ax.set_ylabel("blocks stacked")
        ax.set_title(label)
    label = f"share of the output frame's sensitivity (log{f'; below {floor:.0e}: arrow colour' if clipped else ''})"
    fig.colorbar(image, ax=list(axes), label=label, extend="min" if clipped else "neither")
    fig.suptitle("Where one output frame reads from, through a stack that mixes channels (grey: out of reach)")
    return fig


def plot_share_by_depth(own: Mapping[str, object], farthest: Mapping[str, object]) -> Figure:
    """Two of :func:`plot_frame_influence`'s shares per depth on a linear scale, one line per placement.

    ``own[label]`` is (depth,): the share of the output frame's sensitivity that comes from the frame itself after
    1, ..., depth blocks; ``farthest[label]`` is (depth,): the share from the frames d steps away after d blocks
    (both sides summed), the farthest the stack reaches. The log heatmap shows where the shares go to zero; this
    view shows differences of a few percent.
    """
    if not own or set(own) != set(farthest):
        raise ValueError(
            f"plot_share_by_depth expects the same placements in own and farthest, got {list(own)} and {list(farthest)}"
        )
    curves = {label: (_numpy(own[label]).ravel(), _numpy(farthest[label]).ravel()) for label in own}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True, layout="constrained")
    titles = ("from the frame itself", "from the frames d steps away (both sides)")
    for ax, which, title in zip(axes, range(2), titles, strict=True):
        for i, (label, pair) in enumerate(curves.items()):  # one colour per placement, the same in both panels
            ax.plot(np.arange(1, len(pair[which]) + 1), pair[which], marker="o", color=f"C{i}", label=label)
        ax.set_xlabel("blocks stacked (d)")
        ax.set_title(title)
        ax.set_ylim(0, 1)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("share of the output frame's\nsensitivity (linear)")
    axes[0].legend()
    fig.suptitle("The shares that separate the placements, on a linear scale")
    return fig


def plot_class_accuracy(study: Mapping, ax: Axes | None = None) -> Axes:
    """Per-class test accuracy of each model of :func:`stviz.tsm_study.load_tsm_study`, with 95% Wilson intervals.

    Classes of time-reversed pairs are shaded. The dashed line marks 0.5, chance within a time-reversed pair: a
    model blind to time order can average no better over the pair's two classes, though each bar may lean away.
    """
    from stviz.tsm_study import accuracy, wilson_interval

    classes, confusion = study["classes"], study["confusion"]
    ax = _new_ax(ax, (9, 3.6))
    width = 0.8 / len(confusion)
    reversed_classes = [k for pair in study["time_reversed_pairs"] for k in pair]
    for i, k in enumerate(reversed_classes):
        ax.axvspan(k - 0.5, k + 0.5, color="0.9", zorder=0, label="time-reversed pairs" if i == 0 else None)
    for i, (label, matrix) in enumerate(confusion.items()):
        rates, low, high = [], [], []
        for k in range(len(classes)):
            correct, total = accuracy(matrix, [k])
            lo, hi = wilson_interval(correct, total)
            rates.append(correct / total)
            low.append(correct / total - lo)
            high.append(hi - correct / total)
        xs = np.arange(len(classes)) + (i - (len(confusion) - 1) / 2) * width
        ax.bar(xs, rates, width, yerr=[low, high], capsize=2, label=label)
    ax.axhline(0.5, color="0.4", lw=0.8, ls="--", label="chance within a pair")
    ax.set_xticks(range(len(classes)), classes, rotation=35, ha="right")
    ax.set_xlim(-0.5, len(classes) - 0.5)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy (95% interval)")
    ax.set_title(f"Per-class accuracy on {study['test_samples']} fresh clips (shaded: time-reversed pairs)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9)
    return ax


def plot_cost_ratios(ratios: Mapping[str, Mapping[str, float]], ax: Axes | None = None) -> Axes:
    """Grouped horizontal bars: ``ratios[op][pass]`` is time(op's pass) / time(a copy of the same tensor).

    A dashed line marks 1, the cost of the copy.
    """
    ops = list(ratios)
    passes = sorted({p for r in ratios.values() for p in r}, key=lambda p: (p != "forward", p))
    ax = _new_ax(ax, (7, 0.5 * len(ops) * len(passes) + 1))
    height = 0.8 / len(passes)
    for i, name in enumerate(passes):
        ys = [j + (i - (len(passes) - 1) / 2) * height for j, op in enumerate(ops) if name in ratios[op]]
        ax.barh(ys, [ratios[op][name] for op in ops if name in ratios[op]], height, label=name)
    ax.axvline(1.0, color="0.3", ls="--", lw=0.8)
    ax.set_yticks(range(len(ops)), ops)
    ax.invert_yaxis()
    ax.set_xlabel("time / time of a copy of the same tensor, measured interleaved")
    ax.set_title("Zero FLOPs is not zero time")
    ax.legend(fontsize=7)
    return ax
