"""05 · TSM: fold_div and direction controls redrawing the channel x time shift diagram."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt

from stviz.checks import check_in_range, check_positive_int
from stviz.tsm import source_frames
from stviz.viz import plot_shift_sources
from stviz.widgets import PictureBox, picture, show_figure
from stviz.widgets.choice import ToggleChoice

__all__ = ["ShiftDiagram", "shift_diagram"]

DIRECTIONS = {"TSM: first fold reads t+1": False, "reversed: first fold reads t-1": True}


class ShiftDiagram(PictureBox):
    """Controls ``fold_div`` (slider) and ``direction`` (toggle); ``sources`` is the (C, T) diagram drawn, ``title``
    its title, which names the direction."""

    def __init__(self, channels: int = 16, frames: int = 8, fold_div: int = 8):
        check_positive_int(channels, "channels", minimum=2, block="shift_diagram")
        check_positive_int(frames, "frames", block="shift_diagram")
        check_in_range(fold_div, 2, channels, "fold_div", "shift_diagram")
        self.channels, self.frames = channels, frames
        self.fold_div = widgets.IntSlider(value=fold_div, min=2, max=channels, description="fold_div")
        self.direction = ToggleChoice(options=list(DIRECTIONS), description="direction",
                                               style={"button_width": "auto"})  # fmt: skip
        self.summary = widgets.Label()
        self.image = picture()
        super().__init__([self.fold_div, self.direction, self.summary, self.image])
        self.fold_div.observe(self.redraw, names="value")
        self.direction.observe(self.redraw, names="value")
        self.redraw()

    def redraw(self, change=None) -> None:
        reverse = DIRECTIONS[self.direction.value]
        self.sources = source_frames(self.channels, self.frames, self.fold_div.value, reverse)
        fold = self.channels // self.fold_div.value
        self.summary.value = (
            f"fold = {self.channels} // {self.fold_div.value} = {fold}: {2 * fold} of {self.channels} channels move, "
            f"{self.channels - 2 * fold} stay"
        )
        self.title = f"{'reversed' if reverse else 'TSM'} shift, C={self.channels}, fold_div={self.fold_div.value}"
        fig, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")
        plot_shift_sources(self.sources, ax=ax, title=self.title)
        show_figure(self.image, fig)


def shift_diagram(channels: int = 16, frames: int = 8, fold_div: int = 8) -> ShiftDiagram:
    """The notebook's one-call widget."""
    return ShiftDiagram(channels, frames, fold_div)
