"""TSM's placements (place='block' / 'blockres'), the fold swap that reverses the direction, and frame influence."""

from __future__ import annotations

import pytest
import torch

from stviz.tsm import ResidualShiftBlock, fold_swap_permutation, temporal_shift
from stviz.tsm_placement import frame_influence, shift_stack
from stviz.viz.tsm import plot_cost_ratios, plot_frame_influence


def test_place_block_shifts_the_shortcut_and_blockres_does_not():
    net = torch.nn.Conv2d(16, 16, 1)
    x = torch.randn(2, 16, 6, 5)
    shifted = temporal_shift(x, 8)
    with torch.no_grad():
        torch.testing.assert_close(ResidualShiftBlock(net, 8, "blockres")(x), torch.relu(x + net(shifted)))
        torch.testing.assert_close(ResidualShiftBlock(net, 8, "block")(x), torch.relu(shifted + net(shifted)))
    assert "place='block'" in repr(ResidualShiftBlock(net, 8, "block"))


def test_place_is_checked():
    with pytest.raises(ValueError, match="place must be one of .*'blockres'.*got 'inplace'"):
        ResidualShiftBlock(torch.nn.Identity(), 8, "inplace")


@pytest.mark.parametrize("c, fold_div", [(16, 8), (12, 3), (10, 4), (3, 2)])
def test_reversed_shift_is_the_shift_between_fold_swaps(c, fold_div):
    p = fold_swap_permutation(c, fold_div)
    assert sorted(p.tolist()) == list(range(c)) and torch.equal(p[p], torch.arange(c))  # a permutation, self-inverse
    fold = c // fold_div
    assert torch.equal(p[2 * fold :], torch.arange(2 * fold, c))  # unshifted channels stay
    x = torch.randn(2, c, 7, 3)
    want = temporal_shift(x, fold_div, reverse=True)
    torch.testing.assert_close(temporal_shift(x[:, p], fold_div)[:, p], want, atol=0, rtol=0)
    assert not torch.equal(temporal_shift(x, fold_div), want)


def test_shift_stack_is_seeded_and_leaves_the_global_generator_alone():
    torch.manual_seed(5)
    expected_next = torch.rand(1)
    torch.manual_seed(5)
    a = shift_stack(2, 8, 4, "block", seed=1)
    assert torch.equal(torch.rand(1), expected_next)
    b = shift_stack(2, 8, 4, "blockres", seed=1)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert [blk.place for blk in b] == ["blockres", "blockres"]


def test_frame_influence_reach_and_placements():
    shares = {
        place: frame_influence(3, place, channels=8, frames=11, fold_div=4, samples=2)
        for place in ("blockres", "block")
    }
    mid = 5
    for s in shares.values():
        assert s.shape == (3, 11)
        torch.testing.assert_close(s.sum(1), torch.ones(3, dtype=torch.float64))
        for d in range(1, 4):  # d blocks reach exactly d frames on each side
            assert s[d - 1, mid - d] > 0 and s[d - 1, mid + d] > 0
            assert s[d - 1, : mid - d].eq(0).all() and s[d - 1, mid + d + 1 :].eq(0).all()
    assert (shares["blockres"][:, mid] > shares["block"][:, mid]).all()


def test_with_a_zero_branch_blockres_is_the_identity_and_block_the_bare_shift():
    x = torch.rand(1, 8, 5, 2)  # positive, so the relu keeps everything
    for place, want in (("blockres", x), ("block", temporal_shift(x, 4))):
        block = ResidualShiftBlock(torch.nn.Conv2d(8, 8, 1, bias=False), 4, place)
        torch.nn.init.zeros_(block.net.weight)
        with torch.no_grad():
            torch.testing.assert_close(block(x), want, atol=0, rtol=0)


def test_plots_check_their_input_and_draw():
    with pytest.raises(ValueError, match="at least one placement"):
        plot_frame_influence({})
    with pytest.raises(ValueError, match=r"\(depth, T\) arrays of one shape"):
        plot_frame_influence({"a": torch.ones(2, 5), "b": torch.ones(3, 5)})
    fig = plot_frame_influence({"a": torch.full((2, 5), 0.2), "b": torch.full((2, 5), 0.2)})
    assert len(fig.axes) == 3  # two panels and one shared colour bar
    ax = plot_cost_ratios({"shift": {"forward": 1.2, "backward": 1.5}, "conv": {"forward": 3.0, "backward": 4.0}})
    assert [t.get_text() for t in ax.get_yticklabels()] == ["shift", "conv"]
    assert len(ax.patches) == 4
