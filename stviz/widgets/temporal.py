"""Widgets for notebook 02: receptive fields of stacked temporal convolutions, and shift interpolation weights.

Each explorer is a :class:`stviz.widgets.PictureBox` (controls above, the figure below as a PNG) whose controls
and state are attributes, so a test or the next notebook cell can set ``.value`` and assert what changed.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from stviz import viz
from stviz.checks import check_positive_int
from stviz.receptive_field import conv_frames, frame_span, shift_weights, stack_frames
from stviz.widgets import PictureBox, picture, show_figure

__all__ = ["ReceptiveFieldExplorer", "receptive_field_explorer", "ShiftInterpolationExplorer", "shift_explorer"]


class ReceptiveFieldExplorer(PictureBox):
    """Kernel size, dilation, stride and depth sliders for a stack of identical (k, 1) temporal convolutions.

    State after each update: ``mask`` (T_out, T_in) bool, which input frames reach each output frame; for the middle
    output frame, ``size`` (the frames its receptive field spans) and ``reached`` (those that reach it: fewer when a
    dilation leaves holes); ``figure``.
    """

    def __init__(self, num_frames: int = 48):
        check_positive_int(num_frames, "num_frames", block="receptive_field_explorer")
        self.num_frames = num_frames
        self.kernel_size = widgets.IntSlider(value=3, min=1, max=9, step=2, description="kernel k")
        self.dilation = widgets.IntSlider(value=1, min=1, max=4, description="dilation d")
        self.stride = widgets.IntSlider(value=1, min=1, max=3, description="stride s")
        self.layers = widgets.IntSlider(value=1, min=1, max=4, description="layers")
        self.image = picture()
        self.mask: torch.Tensor | None = None
        self.size = self.reached = 0
        self.figure: Figure | None = None
        controls = [self.kernel_size, self.dilation, self.stride, self.layers]
        super().__init__([widgets.HBox(controls[:2]), widgets.HBox(controls[2:]), self.image])
        for control in controls:
            control.observe(self._update, names="value")
        self._update()

    def _update(self, change=None) -> None:
        k, d, s = self.kernel_size.value, self.dilation.value, self.stride.value
        layers, frames = [], self.num_frames
        for _ in range(self.layers.value):
            layers.append(conv_frames(frames, k, s, d))
            frames = layers[-1].shape[0]
        self.mask = stack_frames(*layers)
        middle = self.mask.shape[0] // 2
        first, last = frame_span(self.mask)[middle].tolist()
        self.size, self.reached = last - first + 1, int(self.mask[middle].sum())
        fig, ax = plt.subplots(figsize=(8.0, 3.6), layout="constrained")
        title = (
            f"{self.layers.value} x conv(k={k}, d={d}, s={s})\n"
            f"middle output frame spans {self.size} frames, {self.reached} of them reach it"
        )
        viz.plot_receptive_field(self.mask, ax=ax, title=title)
        self.figure = fig
        show_figure(self.image, fig)


def receptive_field_explorer(num_frames: int = 48) -> ReceptiveFieldExplorer:
    """Build the receptive-field explorer for a clip of ``num_frames`` frames."""
    return ReceptiveFieldExplorer(num_frames)


class ShiftInterpolationExplorer(PictureBox):
    """A ypos slider (and stride) for one channel of Shift-GCN's temporal shift; the figure shows its weights.

    State after each update: ``weights`` (T_out, T_in) float64 interpolation weights (row t: how output frame t
    mixes the input frames) and ``figure``.
    """

    def __init__(self, num_frames: int = 16):
        check_positive_int(num_frames, "num_frames", minimum=2, block="shift_explorer")
        self.num_frames = num_frames
        self.ypos = widgets.FloatSlider(value=0.0, min=-4.0, max=4.0, step=0.05, description="ypos")
        self.stride = widgets.IntSlider(value=1, min=1, max=2, description="stride")
        self.image = picture()
        self.weights: torch.Tensor | None = None
        self.figure: Figure | None = None
        super().__init__([widgets.HBox([self.ypos, self.stride]), self.image])
        self.ypos.observe(self._update, names="value")
        self.stride.observe(self._update, names="value")
        self._update()

    def _update(self, change=None) -> None:
        self.weights = shift_weights(self.num_frames, self.ypos.value, self.stride.value)[0]
        fig, ax = plt.subplots(figsize=(8.0, 3.4), layout="constrained")
        viz.plot_interpolation_weights(self.weights, self.ypos.value, self.stride.value, ax=ax)
        self.figure = fig
        show_figure(self.image, fig)


def shift_explorer(num_frames: int = 16) -> ShiftInterpolationExplorer:
    """Build the interpolation-weight explorer for a clip of ``num_frames`` frames."""
    return ShiftInterpolationExplorer(num_frames)
