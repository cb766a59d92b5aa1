"""stviz.widgets.channel, headless: setting a control's value updates the state the widget exposes."""

from __future__ import annotations

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from stviz import set_seed  # noqa: E402
from stviz.channel import efficient_temporal_cost, temporal_conv_cost  # noqa: E402
from stviz.cost import count  # noqa: E402
from stviz.temporal import TemporalSepLayer  # noqa: E402
from stviz.widgets.channel import channel_picker, cost_explorer  # noqa: E402


def test_cost_explorer_updates_rows_and_table():
    ui = cost_explorer()
    assert ui.rows["Sep layer (e=2)"]["params"] == 17_984  # SPEC.md §7, C=64, k=5
    ui.channels.value = 96
    ui.expand_ratio.value = 3
    ui.kernel_size.value = 9
    assert ui.rows["Sep layer (e=3)"] == efficient_temporal_cost("Sep", 96, 9, 3)
    layer = TemporalSepLayer(96, 9, expand_ratio=3)
    got = count(layer, torch.randn(1, 96, 64, 25))
    assert ui.rows["Sep layer (e=3)"] == {"params": got.params, "macs": got.macs}
    assert "Sep layer (e=3)" in ui.table.value and f"{got.params:,}" in ui.table.value


def test_cost_explorer_groups_follow_channels():
    ui = cost_explorer()
    ui.groups.value = 16
    assert ui.rows["(k,1) conv, grouped (g=16)"] == temporal_conv_cost(64, 64, 5, 16)
    ui.channels.value = 48  # 16 divides 48: kept
    assert ui.groups.value == 16 and 48 in ui.groups.options and 64 not in ui.groups.options
    ui.channels.value = 80  # 16 divides 80 too; 32 would not
    ui.groups.value = 40
    ui.channels.value = 96  # 40 does not divide 96: back to 1
    assert ui.groups.value == 1
    dense, depthwise = ui.rows["(k,1) conv, dense (g=1)"], ui.rows["(k,1) conv, depthwise (g=96)"]
    assert dense["macs"] == 96 * depthwise["macs"]


def test_cost_explorer_reduction_changes_bottleneck():
    ui = cost_explorer()
    before = ui.rows["Bottleneck layer (r=4)"]["params"]
    ui.reduct_ratio.value = 8
    assert ui.rows["Bottleneck layer (r=8)"]["params"] < before
    assert ui.rows["SG layer (r=8)"] == efficient_temporal_cost("SG", 64, 5, 8)


@pytest.fixture
def picker_inputs():
    set_seed(0)
    c, v, t = 6, 25, 12
    topologies = torch.randn(c, v, v)
    sources = (torch.arange(v)[None, :] + torch.arange(c)[:, None]) % v  # cyclic shift: (v + c) % V
    response = torch.zeros(c, t)
    response[torch.arange(c), torch.arange(c) + 3] = 1.0
    return topologies, sources, response


def test_channel_picker_redraws_for_the_picked_channel(picker_inputs):
    topologies, sources, response = picker_inputs
    ui = channel_picker(topologies, sources, response, top_k=5)
    assert ui.channel.max == 5 and ui.peak_frame == 3 and ui.reads[0] == 0
    first_figure = ui.figure
    ui.channel.value = 4
    assert ui.figure is not first_figure
    assert ui.peak_frame == 7
    assert ui.reads == [(v + 4) % 25 for v in range(25)]
    m = topologies[4].clone()
    m.fill_diagonal_(0)
    strongest = m.abs().flatten().topk(5).indices
    want = {(int(i % 25), int(i // 25)) for i in strongest}  # (source = column, target = row)
    assert {(s, t) for s, t, _ in ui.top_edges} == want
    assert len(ui.figure.axes) >= 3
    assert bytes(ui.image.value[:4]) == b"\x89PNG"
