"""The TSM widget, headless: setting a control's value redraws the diagram it exposes."""

from __future__ import annotations

import torch

from stviz.tsm import source_frames
from stviz.widgets.tsm import shift_diagram


def test_fold_div_changes_how_many_channels_move():
    ui = shift_diagram(channels=16, frames=6, fold_div=8)
    assert int((ui.sources[:, 1:-1] != torch.arange(1, 5)).any(1).sum()) == 4
    ui.fold_div.value = 4
    assert torch.equal(ui.sources, source_frames(16, 6, 4))
    assert int((ui.sources[:, 1:-1] != torch.arange(1, 5)).any(1).sum()) == 8
    assert "fold = 16 // 4 = 4" in ui.summary.value


def test_direction_swaps_the_two_folds():
    ui = shift_diagram(channels=16, frames=6, fold_div=8)
    assert ui.sources[0].tolist() == [1, 2, 3, 4, 5, -1]
    assert ui.title == "TSM shift, C=16, fold_div=8"
    ui.direction.value = ui.direction.options[1]
    assert ui.sources[0].tolist() == [-1, 0, 1, 2, 3, 4]
    assert ui.sources[2].tolist() == [1, 2, 3, 4, 5, -1]
    assert ui.title == "reversed shift, C=16, fold_div=8"  # the picture says which direction it draws


def test_redraw_updates_the_image():
    ui = shift_diagram(channels=8, frames=4, fold_div=4)
    before = ui.image.value
    assert before[:4] == b"\x89PNG"
    ui.fold_div.value = 2
    assert ui.image.value != before
