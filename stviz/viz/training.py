"""Training plots: loss and accuracy curves, and how far runs spread across seeds and what ensembles gain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from stviz.viz.core import _new_ax
from stviz.viz.style import STREAM_COLOURS, STREAM_MARKERS, stream_label

__all__ = ["plot_training_curves", "plot_seed_study"]


def plot_training_curves(history: Mapping[str, Sequence[float]], axes: Sequence[Axes] | None = None) -> list[Axes]:
    """Loss (left) and accuracy (right) per epoch from a :class:`stviz.train.TrainResult` ``history``.

    Draws ``train_*`` and, when present, ``test_*`` curves; returns the two axes.
    """
    missing = [key for key in ("train_loss", "train_accuracy") if key not in history]
    if missing:
        raise ValueError(f"history must hold 'train_loss' and 'train_accuracy' lists, missing {missing}")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for split, style in (("train", "-"), ("test", "--")):
            values = history.get(f"{split}_{metric}")
            if values:
                ax.plot(np.arange(1, len(values) + 1), values, style, marker="o", markersize=3, label=split)
        ax.set(xlabel="epoch", ylabel=metric)
        ax.legend(frameon=False)
    axes[1].set_ylim(0, 1.02)
    return list(axes)


def plot_seed_study(study: Mapping, ax: Axes | None = None) -> Axes:
    """Accuracy of every seed for each single stream and for the 2- and 4-stream ensembles.

    ``study`` is the dict :func:`stviz.zoo.load_seed_study` returns: ``accuracy`` maps each stream to one
    accuracy per seed (a fraction); ``ensemble_2`` and ``ensemble_4`` hold the ensembles' per seed. Drawn in
    percent, as published accuracies are, so the two plots compare point for point. Dots are seeds (in seed order
    from left to right), the bar is their mean. Colour and marker give the number of streams, as in
    :func:`stviz.viz.contrast.plot_published_accuracies` (:data:`stviz.viz.style.STREAM_COLOURS`).
    """
    columns = {name: (1, values) for name, values in study["accuracy"].items()}
    columns |= {"2-stream": (2, study["ensemble_2"]), "4-stream": (4, study["ensemble_4"])}
    ax = _new_ax(ax, (7, 3.2))
    for position, (streams, values) in enumerate(columns.values()):
        values = 100 * np.asarray(values, dtype=float)
        x = position + np.linspace(-0.12, 0.12, len(values))
        ax.scatter(x, values, s=18, color=STREAM_COLOURS[streams], marker=STREAM_MARKERS[streams], zorder=3)
        ax.hlines(values.mean(), position - 0.25, position + 0.25, color="black", lw=1.5)
    ax.set_xticks(range(len(columns)), list(columns))
    ax.set_ylabel("held-out accuracy (%)")
    handles = [Line2D([], [], ls="", marker=STREAM_MARKERS[k], color=STREAM_COLOURS[k], label=stream_label(k))
               for k in (1, 2, 4)] + [Line2D([], [], color="black", lw=1.5, label="mean over seeds")]  # fmt: skip
    ax.legend(handles=handles, fontsize=8, loc="lower right")
    ax.set_title(f"{len(columns['joint'][1])} seeds: single streams and ensembles")
    return ax
