"""The plots of notebooks 02 (temporal) and 04 (multi-scale) draw what they say, on the scales they say."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib import colors

from stviz import viz
from stviz.graph import SkeletonGraph, multiscale_adjacency
from stviz.models import MSG3D
from stviz.multiscale_teaching import contraction_table, power_magnitudes

NTU = SkeletonGraph("ntu-rgb+d")
A = NTU.binary_adjacency()


def _colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def test_receptive_field_log_scale_keeps_weak_links_coloured_and_zeros_white():
    weights = torch.tensor([[1.0, 0.01, 0.0], [0.001, 1.0, 0.02], [0.0, 0.5, 1.0]])
    ax = viz.plot_receptive_field(weights, scale="log", value_label="w")
    image = ax.images[0]
    assert isinstance(image.norm, colors.LogNorm) and image.norm.vmin == pytest.approx(0.001)
    drawn = image.get_array()
    assert drawn.mask[0, 2] and drawn.mask[2, 0] and not drawn.mask[1, 0]  # zeros masked (white), 0.001 coloured
    assert "log" in _colorbars(ax.figure)[0].get_ylabel()
    shared = viz.plot_receptive_field(weights, scale="log", log_min=1e-4)
    assert shared.images[0].norm.vmin == 1e-4


def test_receptive_field_scales_and_errors():
    weights = torch.rand(4, 5)
    ax = viz.plot_receptive_field(weights, vmax=2.0)
    assert ax.images[0].norm.vmin == 0 and ax.images[0].norm.vmax == 2.0
    with pytest.raises(ValueError, match="scale must be 'linear' or 'log'"):
        viz.plot_receptive_field(weights, scale="sqrt")
    with pytest.raises(ValueError, match="non-negative"):
        viz.plot_receptive_field(-weights, scale="log")
    with pytest.raises(ValueError, match="log_min"):
        viz.plot_receptive_field(weights + 0.1, scale="log", log_min=5.0)


def test_draw_scale_rows_share_one_colour_scale():
    powers, rings = multiscale_adjacency(A, 5, disentangled=False), multiscale_adjacency(A, 5)
    elbow = 5
    fig = viz.draw_scale_rows({"power": powers[4, elbow], "rings": rings[4, elbow]}, elbow, NTU)
    bars = _colorbars(fig)
    assert len(bars) == 1  # one colour bar for both skeletons
    top = max(powers[4, elbow].max().item(), rings[4, elbow].max().item())
    assert bars[0].get_ylim()[1] == pytest.approx(top)
    with pytest.raises(ValueError, match="negative"):
        viz.draw_scale_rows({"bad": -rings[4, elbow]}, elbow, NTU)
    with pytest.raises(ValueError, match="needs 25 values"):
        viz.draw_scale_rows({"short": torch.ones(3)}, elbow, NTU)


def test_heatmaps_shared_scale_use_one_range():
    small, large = torch.eye(25) * 0.2, torch.eye(25)
    fig = viz.heatmaps_shared_scale({"small": small, "large": large})
    limits = {ax.images[0].get_clim() for ax in fig.axes if ax.images}
    assert limits == {(0.0, 1.0)}
    signed = viz.heatmaps_shared_scale({"neg": -0.5 * torch.eye(25), "pos": torch.eye(25) * 0.25})
    assert {ax.images[0].get_clim() for ax in signed.axes if ax.images} == {(-0.5, 0.5)}


def test_weight_shares_are_drawn_on_a_linear_and_a_log_axis():
    shares = {"near": torch.tensor([1.0, 0.6, 0.5]), "far": torch.tensor([1.0, 0.3, 1e-4])}
    fig = viz.plot_weight_shares(shares, title="near and far")
    linear, log = fig.axes
    assert (linear.get_yscale(), log.get_yscale()) == ("linear", "log")
    for ax in (linear, log):
        assert len(ax.lines) == 2 and ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        np.testing.assert_allclose(ax.lines[1].get_ydata(), shares["far"].numpy())
    assert [t.get_text() for t in linear.get_legend().get_texts()] == ["near", "far"]
    assert [t.get_text() for t in fig.texts] == ["near and far"]  # the title above both panels
    many = viz.plot_weight_shares({f"series {i}": torch.rand(4) for i in range(6)})
    assert [len(ax.lines) for ax in many.axes] == [6, 6]  # more series than line styles: every one is drawn


def test_power_magnitudes_plot_is_logarithmic_with_one_line_per_construction():
    sizes = power_magnitudes(A, 13)
    ax = viz.plot_power_magnitudes(sizes)
    assert ax.get_yscale() == "log" and len(ax.lines) == 3
    np.testing.assert_allclose(ax.lines[0].get_ydata(), sizes["raw (A+I)^k"].numpy())
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_contraction_costs_plot_outlines_the_chosen_order():
    with torch.device("meta"):
        rows = contraction_table(MSG3D())
    ax = viz.plot_contraction_costs(rows)
    bars = ax.patches
    assert len(bars) == 2 * len(rows)
    aggregate, project = bars[: len(rows)], bars[len(rows) :]
    for row, a, p in zip(rows, aggregate, project, strict=True):
        outlined = a if row.chosen == "aggregate-first" else p
        assert outlined.get_linewidth() == 2
        assert a.get_height() == pytest.approx(row.aggregate_first / 1e6)
    keys = ax.get_legend().get_patches()  # the outline has its own key; the orders' swatches carry none
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["aggregate-first", "project-first",
                                                                   "the order the layer takes"]  # fmt: skip
    assert all(k.get_linewidth() < 2 for k in keys[:2]) and keys[2].get_linewidth() == 2


def test_time_ratios_are_bars_from_1_on_plain_log_ticks():
    ratios = {"fast / slow": 0.5, "slow / fast": 2.0, "other": 1.25}
    ax = viz.plot_time_ratios(ratios, {"pairs": ["fast / slow", "slow / fast"]}, setup="N=2")
    spans = [sorted((bar.get_x(), bar.get_x() + bar.get_width())) for bar in ax.patches[:3]]
    assert spans == [[0.5, 1.0], [1.0, 2.0], [1.0, 1.25]]  # each bar from 1 to its ratio, below 1 too
    assert [bar.get_facecolor() for bar in ax.patches[:2]] == [colors.to_rgba("C0")] * 2  # the group's colour
    assert ax.patches[2].get_facecolor() == colors.to_rgba("0.5")  # a pair in no group: grey
    ax.figure.canvas.draw()
    ticks = [label.get_text() for label in ax.get_xticklabels() if label.get_text()]
    assert "1" in ticks and "0.5" in ticks and not any("10" in t for t in ticks)  # no powers of ten
    assert ax.get_xscale() == "log" and "N=2" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["pairs"]
    assert [t.get_text() for t in ax.texts] == ["0.50", "2.00", "1.25"]  # each value written at its bar's end


def test_zero_weights_are_pale_and_keyed_not_the_colour_maps_low_end():
    rings = multiscale_adjacency(A, 5)
    elbow = 5
    fig = viz.draw_scale_rows({"rings": rings[4, elbow]}, elbow, NTU)
    faces = fig.axes[0].collections[1].get_facecolor()  # the joints, after the bones
    zero = rings[4, elbow] == 0
    pale = np.array(colors.to_rgba("0.88"))
    assert all(np.allclose(faces[v], pale) == bool(zero[v]) for v in range(NTU.num_nodes))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["weight 0", "J6 L elbow (the joint)"]
    ax = viz.draw_skeleton(NTU, highlight={0: 0.0, 1: 1.0})  # a value of 0 takes the map's low end, not the pale
    faces = ax.collections[1].get_facecolor()
    assert not np.allclose(faces[0], pale) and all(np.allclose(faces[v], pale) for v in range(2, NTU.num_nodes))
