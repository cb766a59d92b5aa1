"""Notebook 06's plots: time against MACs as ratios to a reference model, and published accuracies by streams."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes

from stviz.viz.core import _new_ax
from stviz.viz.style import STREAM_COLOURS, STREAM_MARKERS, plain_log_ticks, stream_label

__all__ = ["plot_cost_ratios", "plot_published_accuracies"]


def plot_cost_ratios(
    names: Sequence[str],
    mac_ratios: Sequence[float],
    time_ratios: Sequence[float],
    reference: str,
    ax: Axes | None = None,
) -> Axes:
    """Each model's MACs and time as multiples of ``reference``'s (log-log), every point labelled with its name.

    On the dashed diagonal, time would be proportional to MACs. Labels are not clipped by the axes.
    """
    if not len(names) == len(mac_ratios) == len(time_ratios):
        raise ValueError(
            f"names, mac_ratios and time_ratios must have one entry per model, got lengths "
            f"{len(names)}, {len(mac_ratios)}, {len(time_ratios)}"
        )
    ax = _new_ax(ax, (6, 4))
    x, y = np.asarray(mac_ratios, dtype=float), np.asarray(time_ratios, dtype=float)
    ax.scatter(x, y, s=40, zorder=3)
    ax.scatter([1], [1], s=60, marker="*", color="black", zorder=3)
    xs, ys = [*x, 1.0], [*y, 1.0]
    for i, name in enumerate([*names, reference]):
        # a point with a close neighbour just above it gets its label below, so the two labels do not overlap
        crowded = any(j != i and 1 <= ys[j] / ys[i] < 1.3 and 1 / 1.3 < xs[j] / xs[i] < 1.3 for j in range(len(xs)))
        ax.annotate(name, (xs[i], ys[i]), textcoords="offset points", xytext=(5, -11 if crowded else 4), fontsize=8,
                    annotation_clip=False)  # fmt: skip
    low, high = min(x.min(), y.min(), 1.0) / 1.5, max(x.max(), y.max(), 1.0) * 1.5
    ax.plot([low, high], [low, high], "--", color="grey", lw=1, label="time proportional to MACs")
    ax.set(xscale="log", yscale="log", xlim=(low, high), ylim=(low, high))
    plain_log_ticks(ax.xaxis)
    plain_log_ticks(ax.yaxis)
    ax.set_xlabel(f"MACs / MACs of {reference}")
    ax.set_ylabel(f"time / time of {reference} (interleaved)")
    ax.set_title(f"Models against {reference}: MACs and measured time")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_published_accuracies(results, ax: Axes | None = None) -> Axes:
    """Published NTU-60 X-Sub top-1 (%) of each model, one colour and marker per number of streams
    (the same as :func:`stviz.viz.plot_seed_study`'s), joined per model. Each marker carries its value; a model's
    best figure is labelled above its marker and the others below, so two figures of one model keep apart even when
    the axis spans far more than the values (e.g. shared with a seed study's).

    ``results`` are :class:`stviz.zoo.published.PublishedResult` (``model``, ``streams``, ``xsub``).
    """
    ax = _new_ax(ax, (5, 3.2))
    models = list(dict.fromkeys(r.model for r in results))
    seen = set()
    for i, model in enumerate(models):
        mine = sorted((r for r in results if r.model == model and r.xsub is not None), key=lambda r: r.streams)
        ax.plot([i] * len(mine), [r.xsub for r in mine], color="grey", lw=1, zorder=1)
        top = max((r.xsub for r in mine), default=None)
        for r in mine:
            label = stream_label(r.streams)
            ax.scatter(i, r.xsub, marker=STREAM_MARKERS.get(r.streams, "^"), s=40, zorder=3,
                       color=STREAM_COLOURS.get(r.streams, "0.3"), label=None if label in seen else label)  # fmt: skip
            # beside its marker; where a model has several, the best one's label above, the others' below, so that
            # close values keep apart on an axis that is not zoomed in
            if len(mine) == 1:
                place = {"xytext": (6, -3)}
            elif r.xsub == top:
                place = {"xytext": (6, 1), "va": "bottom"}
            else:
                place = {"xytext": (6, -1), "va": "top"}
            ax.annotate(f"{r.xsub:.1f}", (i, r.xsub), textcoords="offset points", fontsize=8, **place)
            seen.add(label)
    ax.set_xticks(range(len(models)), models, rotation=15)
    ax.set_xlim(-0.5, len(models) - 0.2)
    ax.set_xlabel("model")
    ax.set_ylabel("NTU-60 X-Sub top-1 (%)")
    ax.set_title("Published: single stream and ensembles")
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda j: int(labels[j].split()[0]))  # 1, 2, 4 streams
    ax.legend([handles[j] for j in order], [labels[j] for j in order], fontsize=8, loc="lower left")
    return ax
