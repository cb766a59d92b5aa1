"""Colour keys and labels say what the figure shows: weight keys, joint numbers, stream colours, log floors."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba

from stviz import viz
from stviz.graph import SkeletonGraph
from stviz.spatial import ShiftGraphConv
from stviz.tsm import source_frames
from stviz.viz.contrast import plot_published_accuracies
from stviz.viz.style import STREAM_COLOURS
from stviz.viz.tsm import plot_frame_influence, plot_share_by_depth, plot_shift_sources
from stviz.zoo.published import PUBLISHED


def _colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def test_equal_weights_get_a_legend_not_a_colour_bar():
    ntu = SkeletonGraph()
    ax = viz.draw_matrix_on_skeleton(ntu.inward_outward()[1], ntu)  # 24 arrows of weight 1, no self-weight
    assert not _colorbars(ax.figure)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["every arrow: weight 1", "no self-weight"]
    ax = viz.draw_matrix_on_skeleton(ntu.binary_adjacency(self_loops=True), ntu)  # self-weights 1 as well
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["every arrow: weight 1", "self-weight 1"]


def test_different_weights_get_a_colour_bar_naming_white_joints():
    ntu = SkeletonGraph()
    ax = viz.draw_matrix_on_skeleton(ntu.normalized("digraph"), ntu)  # column-normalised, self-loops everywhere
    (bar,) = _colorbars(ax.figure)
    assert bar.get_ylabel() == "weight (arrows; joint colour: self-weight)" and ax.get_legend() is None
    fig = viz.plot_partitions(ntu.stgcn_partition("spatial"), ntu)  # A[1], A[2] have no self-weights
    (bar,) = _colorbars(fig)
    assert bar.get_ylabel().endswith("white: none)")


def test_shift_table_shows_1_based_joint_numbers_readably():
    src_in, _ = ShiftGraphConv(64, 64).sources()  # (V, C) 0-based indices
    ax = viz.plot_shift_table(src_in, max_channels=16)
    cells = [int(t.get_text()) for t in ax.texts]
    assert cells == (src_in[:, :16] + 1).flatten().tolist() and min(cells) == 1 and max(cells) == 25
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["J1 spine base", "J2 spine mid"]
    assert min(t.get_fontsize() for t in ax.texts) >= 8
    assert ax.figure.get_figwidth() <= viz.WIDTH


def test_stream_counts_have_one_colour_in_both_accuracy_plots():
    study = {"accuracy": {"joint": [0.8, 0.9], "bone": [0.7, 0.85]}, "ensemble_2": [0.9, 0.95], "ensemble_4": [1, 1]}
    ax = viz.plot_seed_study(study)
    dots = [tuple(c.get_facecolor()[0]) for c in ax.collections if isinstance(c, PathCollection)]
    assert dots == [to_rgba(STREAM_COLOURS[k]) for k in (1, 1, 2, 4)]
    assert [t.get_text() for t in ax.get_legend().get_texts()][:3] == ["1 stream", "2 streams", "4 streams"]
    ax = plot_published_accuracies(PUBLISHED)
    legend = ax.get_legend()
    for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
        streams = int(text.get_text().split()[0])
        assert tuple(handle.get_facecolor()[0]) == to_rgba(STREAM_COLOURS[streams])


def test_frame_influence_scale_reaches_the_smallest_share_or_says_it_stops():
    shares = {"a": torch.tensor([[0.9, 1e-3, 0.0], [0.5, 7e-10, 0.1]]), "b": torch.full((2, 3), 0.2)}
    image = plot_frame_influence(shares).axes[1].images[0]  # the last panel's image carries the bar
    assert image.norm.vmin <= 7e-10 and image.colorbar.extend == "neither"
    image = plot_frame_influence(shares, floor=1e-6).axes[1].images[0]  # a floor above the smallest share
    assert image.colorbar.extend == "min" and "below 1e-06" in image.colorbar.ax.get_ylabel()
    assert np.isclose(image.norm.vmin, 1e-6)


def test_one_weight_is_drawn_mid_scale_where_it_shows_on_white():
    ntu = SkeletonGraph()
    ax = viz.draw_matrix_on_skeleton(ntu.inward_outward()[1], ntu)  # every arrow weight 1: a legend, no bar
    arrow = [p for p in ax.patches if p.get_gid()][0]
    legend_line = ax.get_legend().get_lines()[0]
    assert to_rgba(arrow.get_edgecolor()) == to_rgba(legend_line.get_color())  # the key shows the drawn colour
    assert arrow.get_edgecolor() != to_rgba(plt.get_cmap("viridis")(1.0))  # not viridis's pale top
    ax = viz.draw_matrix_on_skeleton(torch.zeros(25, 25), ntu)  # nothing to draw: no error
    assert not [p for p in ax.patches if p.get_gid()]


def test_shift_patterns_label_joints_readably_as_the_colour_bar_numbers_them():
    sources = (torch.arange(25)[None, :] + torch.arange(8)[:, None]) % 25
    fig = viz.plot_shift_patterns(sources, torch.eye(8))
    ticks = fig.axes[0].get_xticklabels()
    assert [t.get_text() for t in ticks] == [f"J{i}" for i in range(1, 26, 2)]  # 1-based, as the colour bar
    assert min(t.get_fontsize() for t in ticks) >= 8


def test_gate_by_part_groups_joints_by_part_so_part_attention_shows_as_blocks():
    from stviz.channel import NTU_PART_NAMES, NTU_PARTS

    gate = torch.zeros(6, 25)
    for value, part in enumerate(NTU_PARTS):
        gate[:, list(part)] = value  # constant within each part, as part attention is
    ax = viz.plot_gate_by_part(gate, title="parts")
    image = ax.images[0].get_array()
    order = [j for part in NTU_PARTS for j in part]
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"J{j + 1}" for j in order]
    row = list(image[0])
    assert row == sorted(row)  # grouped: each part's value once, as one block
    assert len([line for line in ax.lines if line.get_xdata()[0] % 1 == 0.5]) == len(NTU_PARTS) - 1  # separators
    (top,) = ax.child_axes  # the part names, on a secondary x axis
    assert [t.get_text() for t in top.get_xticklabels()] == list(NTU_PART_NAMES)
    assert ax.images[0].colorbar is not None
    with pytest.raises(ValueError, match=r"shape \(T, V\) with parts covering joints 0..V-1"):
        viz.plot_gate_by_part(torch.zeros(6, 18))


def test_shift_diagram_digits_fill_their_cells_and_shrink_for_big_diagrams():
    fig, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")  # notebook 05's figure: 16 x 8 cells
    plot_shift_sources(source_frames(16, 8, fold_div=8), ax=ax)
    assert len(ax.texts) == 16 * 8 and min(t.get_fontsize() for t in ax.texts) >= 9
    fig, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")  # 64 rows of about 4 points each
    plot_shift_sources(source_frames(64, 32, fold_div=8), ax=ax)
    assert max(t.get_fontsize() for t in ax.texts) <= 6
    plt.close("all")


def test_share_by_depth_draws_both_shares_on_a_linear_scale():
    own = {"blockres": torch.tensor([0.9, 0.8]), "block": torch.tensor([0.7, 0.6])}
    far = {"blockres": torch.tensor([0.07, 0.003]), "block": torch.tensor([0.3, 0.2])}
    fig = plot_share_by_depth(own, far)
    assert len(fig.axes) == 2 and all(ax.get_yscale() == "linear" for ax in fig.axes)
    for ax, want in zip(fig.axes, (own, far), strict=True):
        assert [line.get_label() for line in ax.get_lines()] == list(want)
        assert [list(line.get_ydata()) for line in ax.get_lines()] == [pytest.approx(v.tolist()) for v in want.values()]
        assert ax.get_xlabel() and ax.get_title()
    with pytest.raises(ValueError, match="same placements"):
        plot_share_by_depth(own, {"block": far["block"]})
    plt.close("all")
