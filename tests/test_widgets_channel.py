"""stviz.widgets.channel, headless: setting a control's value updates the state the widget exposes."""

from __future__ import annotations

import pytest
import torch

from stviz import set_seed
from stviz.channel import efficient_temporal_cost, temporal_conv_cost
from stviz.cost import count
from stviz.temporal import TemporalSepLayer
from stviz.widgets.channel import channel_picker, cost_explorer


def test_cost_explorer_updates_rows_and_table():
    ui = cost_explorer()
    assert ui.rows["Sep layer (e=2)"]["params"] == 17_984  # original Temporal_Sep_Layer, C=64, k=5 (docs/numbers.md)
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
    assert ui.rows["(k,1) conv, grouped (g=4)"]["macs"] * 4 == ui.rows["(k,1) conv, dense (g=1)"]["macs"]
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


def test_channel_picker_redraws_the_picked_channel_of_one_unit():
    set_seed(0)
    k, c, v = 3, 6, 25
    refinements = torch.randn(k, c, v, v)
    ui = channel_picker(refinements, top_k=5)
    assert ui.channel.max == c - 1
    first_figure = ui.figure
    ui.channel.value = 4
    assert ui.figure is not first_figure
    assert len(ui.top_edges) == k
    for subset in range(k):
        m = refinements[subset, 4].clone()
        m.fill_diagonal_(0)
        strongest = m.abs().flatten().topk(5).indices
        want = {(int(i % 25), int(i // 25)) for i in strongest}  # (source = column, target = row)
        assert {(s, t) for s, t, _ in ui.top_edges[subset]} == want
    assert ui.norm.vmax == pytest.approx(float(refinements.abs().max()))  # one scale for every channel
    assert len(ui.figure.axes) == k + 1  # the K subsets and one colour bar
    assert bytes(ui.image.value[:4]) == b"\x89PNG"


@pytest.mark.parametrize("shape", [(6, 25, 25), (3, 6, 25, 24)])
def test_channel_picker_rejects_wrong_shape(shape):
    with pytest.raises(ValueError, match=r"\(K, C, V, V\).*got"):
        channel_picker(torch.zeros(shape))
