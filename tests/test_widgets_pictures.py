"""Every notebook widget, displayed, carries a picture of its current state for readers without a kernel."""

from __future__ import annotations

import base64

import pytest
import torch

from stviz import viz
from stviz.widgets import PictureBox


def _explorers():
    from stviz import official
    from stviz.spatial import ChannelTopologyUnit
    from stviz.widgets import channel, graph, multiscale, spatial, temporal, tsm

    torch.manual_seed(0)
    unit = ChannelTopologyUnit(8, 8, official.adjacency("ctrgcn")).eval()
    return {
        "neighbourhood": (graph.neighbourhood_explorer, lambda ui: setattr(ui.hops, "value", 3)),
        "sample": (graph.sample_explorer, lambda ui: setattr(ui.seed, "value", 2)),
        "topology": (lambda: spatial.topology_explorer(unit, torch.randn(2, 8, 6, 25)),
                     lambda ui: setattr(ui.channel, "value", 3)),
        "shift_arrows": (spatial.shift_arrows, lambda ui: setattr(ui.kind, "value", ui.kind.options[1])),
        "receptive_field": (temporal.receptive_field_explorer, lambda ui: setattr(ui.layers, "value", 3)),
        "shift_interpolation": (temporal.shift_explorer, lambda ui: setattr(ui.ypos, "value", 1.5)),
        "cost": (channel.cost_explorer, lambda ui: setattr(ui.kernel_size, "value", 9)),
        "channel_picker": (
            lambda: channel.channel_picker(torch.randn(3, 4, 25, 25)),
            lambda ui: setattr(ui.channel, "value", 2),
        ),
        "hops": (multiscale.hop_explorer, lambda ui: setattr(ui.k, "value", 5)),
        "window_graph": (multiscale.window_graph_explorer, lambda ui: setattr(ui.window_size, "value", 5)),
        "tsm": (tsm.shift_diagram, lambda ui: setattr(ui.direction, "value", ui.direction.options[1])),
    }  # fmt: skip


@pytest.mark.parametrize("name", list(_explorers()))
def test_displayed_widget_carries_its_current_picture(name):
    build, move = _explorers()[name]
    ui = build()
    assert isinstance(ui, PictureBox)
    assert ui.image.layout.align_self == "flex-start"  # natural size, not stretched by the box
    bundle = ui._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    description = ui.children[0].children[0] if hasattr(ui.children[0], "children") else ui.children[0]
    assert repr(ui).startswith(f"{type(ui).__name__}({description.description}=")  # text readers see the controls
    assert base64.b64decode(bundle["image/png"]) == ui.image.value
    width = int.from_bytes(ui.image.value[16:20], "big")  # PNG header: IHDR width in pixels
    assert width <= viz.WIDTH * viz.DPI
    before = ui.image.value
    move(ui)
    assert ui.image.value != before
    assert base64.b64decode(ui._repr_mimebundle_()["image/png"]) == ui.image.value  # the current state
