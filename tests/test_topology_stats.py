"""Statistics of refined topologies: each on a case whose answer is known by construction."""

from __future__ import annotations

import pytest
import torch

from stviz import set_seed
from stviz.graph import SkeletonGraph
from stviz.models import CTRGCN
from stviz.topology_stats import (
    channel_cosines,
    class_difference,
    class_share,
    refinement_to_shared_ratio,
    row_column_shares,
    split_half_difference,
    unit_inputs,
    unit_refinements,
)


@pytest.fixture(scope="module")
def small_ctrgcn():
    set_seed(0)
    model = CTRGCN(num_classes=4, num_persons=1, base_channels=8).eval()
    with torch.no_grad():
        for layer in model.layers:
            layer.gcn1.alpha.fill_(0.5)
    return model, torch.randn(3, 3, 8, 25, 1)


def test_hooks_record_each_units_real_input(small_ctrgcn):
    model, x = small_ctrgcn
    output, pairs = unit_inputs(model, x)
    assert len(pairs) == len(model.layers)
    with torch.no_grad():
        second_in = model.layers[0](pairs[0][1])
        logits = model(x)
    torch.testing.assert_close(output, logits)
    torch.testing.assert_close(pairs[1][1], second_in)  # layer 2's unit receives layer 1's output
    assert pairs[0][1].shape == (3, 3, 8, 25) and logits.shape == (3, 4)
    assert not any(u._forward_hooks for u, _ in pairs)  # hooks are removed


def test_refinements_are_topologies_minus_the_shared_part(small_ctrgcn):
    model, x = small_ctrgcn
    _, ((unit, h, refinement), *_) = unit_refinements(model, x)
    torch.testing.assert_close(h, unit_inputs(model, x)[1][0][1])
    with torch.no_grad():
        want = torch.stack([conv.refinement(h) * unit.alpha for conv in unit.convs], 1)
    torch.testing.assert_close(refinement, want, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="no ChannelTopologyUnit"):
        unit_refinements(torch.nn.Linear(3, 3), x)


def test_row_and_column_shares_of_pure_row_and_pure_column_matrices():
    r, c = torch.randn(25, 1), torch.randn(1, 25)
    rows, cols = row_column_shares((r + 0 * c).expand(25, 25))
    assert rows.item() == pytest.approx(1.0) and cols.item() == pytest.approx(0.0, abs=1e-6)
    rows, cols = row_column_shares(torch.stack([c.expand(25, 25), r + c]))
    assert rows.tolist() == pytest.approx([0.0, rows[1].item()], abs=1e-6) and cols[0].item() == pytest.approx(1.0)
    assert (rows[1] + cols[1]).item() == pytest.approx(1.0)  # additive: the two shares explain everything
    with pytest.raises(ValueError, match=r"\(\.\.\., V, V\)"):
        row_column_shares(torch.zeros(3, 4))


def test_class_difference_split_half_and_class_share():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    values = labels[:, None].float() * torch.tensor([[1.0, 2.0]])
    torch.testing.assert_close(class_difference(values, labels, 1, 0), torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(split_half_difference(values, labels, 1), torch.zeros(2))
    assert class_share(values, labels) == pytest.approx(1.0)
    noisy = torch.randn(400, 5)
    assert class_share(noisy, torch.arange(400) % 2) < 0.05  # no class structure: small share
    with pytest.raises(ValueError, match="labels must have shape"):
        class_share(values, labels[:3])
    with pytest.raises(ValueError, match="no clip of class 7"):
        class_difference(values, labels, 7, 0)


def test_channel_cosines_see_opposite_channels():
    m = torch.randn(25, 25)
    cos = channel_cosines(torch.stack([m, -m, 2 * m]))
    torch.testing.assert_close(cos, torch.tensor([[1.0, -1, 1], [-1, 1, -1], [1, -1, 1]]), atol=1e-5, rtol=0)


def test_refinement_to_shared_ratio():
    a = SkeletonGraph("ntu-rgb+d").inward_outward()
    refinement = 0.5 * a[None, :, None].expand(2, 3, 4, 25, 25)
    assert refinement_to_shared_ratio(refinement, a) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="expected refinement"):
        refinement_to_shared_ratio(refinement[0], a)


def test_figures_of_the_statistics_share_one_scale_and_fit_the_notebook():

    import matplotlib.pyplot as plt

    from stviz.viz.spatial import (
        plot_matrices_side_by_side,
        plot_refinement_channels,
        plot_refinement_sizes,
        plot_topology_grid,
    )
    from stviz.viz.style import WIDTH

    a = SkeletonGraph("ntu-rgb+d").inward_outward()[1]
    refinement = torch.randn(4, 25, 25)
    fig = plot_refinement_channels(a, refinement, [0, 2], top_k=5, subset="inward")
    assert fig.axes[0].get_title() == "shared PA[inward]"  # the panel names the subset it draws
    colour_bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    bound = max(float(a.abs().max()), float(refinement[[0, 2]].abs().max()))
    assert len(colour_bars) == 1 and colour_bars[0].get_ylim() == pytest.approx((-bound, bound))  # one scale
    fig = plot_matrices_side_by_side({"a": a, "b": 2 * a}, "weight")
    assert [im.get_clim() for ax in fig.axes[:2] for im in ax.images] == [(0.0, 2.0), (0.0, 2.0)]
    assert fig.axes[0].get_yticklabels()[7].get_text() == "J8 L hand"
    fig = plot_topology_grid(refinement, range(4))
    assert fig.get_size_inches()[0] <= WIDTH
    ax = plot_refinement_sizes([1.5, 0.2])
    assert [p.get_height() for p in ax.patches[:2]] == [1.5, 0.2]
    legend = ax.get_legend()  # the red bar has a key, in its own colour
    assert [t.get_text() for t in legend.get_texts()] == ["refinement as large as A", "refinement larger than A"]
    assert legend.legend_handles[1].get_facecolor() == ax.patches[0].get_facecolor()
    assert len(plot_refinement_sizes([0.5, 0.2]).get_legend().get_texts()) == 1
    with pytest.raises(ValueError, match="one shape"):
        plot_matrices_side_by_side({"a": a, "b": a[:3]}, "weight")
    plt.close("all")
