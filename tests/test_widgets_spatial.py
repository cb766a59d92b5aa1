"""The spatial widgets, headless: setting a control's value recomputes what they expose."""

from __future__ import annotations

import pytest
import torch

from stviz import official, set_seed
from stviz.spatial import ChannelTopologyUnit
from stviz.widgets.spatial import SHIFT_KINDS, shift_arrows, topology_explorer


@pytest.fixture
def explorer():
    set_seed(0)
    a = official.adjacency("ctrgcn")
    unit = ChannelTopologyUnit(3, 16, a).eval()
    return topology_explorer(unit, torch.randn(4, 3, 8, 25), ["a", "b", "c", "d"]), unit, a


def test_topology_starts_at_the_shared_graph_when_alpha_is_zero(explorer):
    ui, unit, a = explorer
    assert ui.alpha.value == 0.0 and ui.subset.value == 1
    torch.testing.assert_close(ui.matrix, a[1])
    assert float(ui.refinement.abs().sum()) == 0.0


def test_alpha_channel_subset_and_sample_change_the_topology(explorer):
    ui, unit, a = explorer
    ui.alpha.value = 1.0
    x = ui.x[0:1]
    want = unit.convs[1].topology(x, unit.topology[1], 1.0)[0, 0].detach()
    torch.testing.assert_close(ui.matrix, want)
    ui.channel.value = 5
    torch.testing.assert_close(ui.matrix, unit.convs[1].topology(x, unit.topology[1], 1.0)[0, 5].detach())
    ui.subset.value = 2
    torch.testing.assert_close(ui.shared, a[2])
    before = ui.matrix.clone()
    ui.sample.value = 3
    torch.testing.assert_close(ui.matrix, unit.convs[2].topology(ui.x[3:4], a[2], 1.0)[0, 5].detach())
    assert not torch.allclose(before, ui.matrix)
    assert "|alpha T|" in ui.summary.value


def test_shift_arrows_follow_the_cyclic_rule_and_the_local_rule():
    ui = shift_arrows(channels=64)
    ui.channel.value = 3
    assert ui.sources.tolist() == [(v + 3) % 25 for v in range(25)]
    assert ui.moved == 25 and ui.bone_arrows < 25  # cyclic: every joint moves, mostly not along a bone
    ui.channel.value = 0
    assert ui.moved == 0 and "0 of 25 joints" in ui.summary.value
    # the paper defines both shifts; its main model (and the released code) uses the non-local, cyclic one
    assert list(ui.kind.options) == [SHIFT_KINDS["cyclic"], SHIFT_KINDS["local"]]
    kinds = {kind: ui.blocks[label].shift for kind, label in SHIFT_KINDS.items()}
    assert kinds == {"cyclic": "cyclic", "local": "local"}  # each label draws the block of its kind
    assert ui.kind.value == SHIFT_KINDS["cyclic"] and SHIFT_KINDS["cyclic"] in ui.figure.axes[0].get_title()
    ui.kind.value = SHIFT_KINDS["local"]
    ui.channel.value = 63
    assert ui.moved == ui.bone_arrows == 25  # local: every moving joint reads a neighbour
    (ax,) = ui.figure.axes  # every arrow weighs 1: a legend names that weight, no colour bar
    assert ax.get_title().splitlines() == [
        "Shift-GCN shift-in, channel 63",
        "local (the paper's local variant)",
        "arrow: source joint -> reading joint",
    ]
    assert [t.get_text() for t in ax.texts][:2] == ["J1", "J2"]  # 1-based joint numbers
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["every arrow: weight 1", "no self-weight"]


def test_explorer_panels_share_one_colour_scale_with_a_nonzero_alpha(explorer):
    ui, unit, a = explorer
    ui.alpha.value = 0.5
    assert float(ui.refinement.abs().sum()) > 0
    colour_bars = [ax for ax in ui.figure.axes if ax.get_label() == "<colorbar>"]
    assert len(colour_bars) == 1  # one scale for the three panels
    bound = max(float(m.abs().max()) for m in (ui.shared, ui.refinement, ui.matrix))
    assert colour_bars[0].get_ylim() == pytest.approx((-bound, bound))
