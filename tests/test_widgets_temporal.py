"""The notebook-02 widgets, headless: setting ``.value`` fires the callback and updates the state."""

from __future__ import annotations

import pytest
import torch

from stviz.receptive_field import conv_frames, stack_frames
from stviz.widgets.temporal import receptive_field_explorer, shift_explorer


def test_receptive_field_explorer_redraws_on_each_slider():
    ui = receptive_field_explorer(num_frames=80)
    assert ui.size == 3 and ui.mask.shape == (80, 80)
    first, first_png = ui.figure, ui.image.value
    assert first_png[:4] == b"\x89PNG"
    ui.kernel_size.value = 5
    assert ui.size == 5 and ui.figure is not first and ui.image.value != first_png
    assert ui.reached == 5  # no holes without a dilation
    ui.dilation.value = 2  # span (k - 1) d + 1, every other frame read
    assert ui.size == 9 and ui.reached == 5
    ui.layers.value = 3  # three layers: 3 (k - 1) d + 1
    assert ui.size == 25
    assert torch.equal(ui.mask, stack_frames(*[conv_frames(80, 5, 1, 2)] * 3))
    ui.stride.value = 2  # layer l's reach is multiplied by the strides below it: 1 + 8 (1 + 2 + 4)
    assert ui.mask.shape == (10, 80)
    assert ui.size == 57 and ui.reached == 29  # d = 2 and strides of 2: only even offsets ever reach it
    assert "spans 57 frames, 29 of them reach it" in ui.figure.axes[0].get_title()
    assert ui.figure.axes[0].get_xlabel() == "input frame s"


def test_shift_explorer_weights_follow_ypos():
    ui = shift_explorer(num_frames=10)
    assert torch.equal(ui.weights, torch.eye(10, dtype=torch.float64))
    ui.ypos.value = 1.25
    w = ui.weights
    assert w[3, 4] == pytest.approx(0.75) and w[3, 5] == pytest.approx(0.25)
    assert w[9].sum() == 0 and w[8].sum() == pytest.approx(0.75)  # past the last frame: zero padding
    ui.stride.value = 2
    assert ui.weights.shape == (5, 10)
    assert ui.weights[1, 3] == pytest.approx(0.25) and ui.weights[1, 4] == pytest.approx(0.75)  # 2 + 1.25 + 0.5
    assert "ypos = +1.25" in ui.figure.axes[0].get_title()
