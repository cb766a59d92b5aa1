"""The drawing functions run headless and draw what they say."""

from __future__ import annotations

import base64

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.patches import FancyArrowPatch
from matplotlib.text import Text

from stviz import figures, official, viz
from stviz.graph import SkeletonGraph


@pytest.fixture
def ntu():
    return SkeletonGraph("ntu-rgb+d")


def _arrows(ax):
    return [p for p in ax.patches if isinstance(p, FancyArrowPatch)]


def _colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def test_short_names_keep_order_and_are_unique(ntu):
    names = viz.short_joint_names(ntu)
    assert len(set(names)) == 25
    assert names[0] == "spine base" and names[21] == "L hand tip" and names[23] == "R hand tip"


def test_draw_skeleton_draws_bones_joints_and_names(ntu):
    ax = viz.draw_skeleton(ntu, title="NTU")
    assert ax.get_title() == "NTU"
    assert [t.get_text() for t in ax.texts] == viz.short_joint_names(ntu)
    bones = [c for c in ax.collections if isinstance(c, matplotlib.collections.LineCollection)]
    assert len(bones) == 1 and len(bones[0].get_segments()) == 24
    joints = [c for c in ax.collections if isinstance(c, matplotlib.collections.PathCollection)]
    assert len(joints) == 1 and len(joints[0].get_offsets()) == 25
    assert not _colorbars(ax.figure)


@pytest.mark.parametrize(("labels", "first"), [("index", "0"), ("number", "J1"), (False, None)])
def test_draw_skeleton_label_modes(ntu, labels, first):
    ax = viz.draw_skeleton(ntu, labels=labels)
    texts = [t.get_text() for t in ax.texts]
    assert (texts[0] if texts else None) == first


def test_draw_skeleton_highlight_colours_and_values(ntu):
    ax = viz.draw_skeleton(ntu, highlight=[20])
    colours = ax.collections[-1].get_facecolors()
    assert tuple(colours[20]) == matplotlib.colors.to_rgba("tab:red")
    assert tuple(colours[0]) != tuple(colours[20])
    ax = viz.draw_skeleton(ntu, highlight={0: 0.0, 3: 1.0}, cbar_label="hops")
    colourbar = _colorbars(ax.figure)
    assert len(colourbar) == 1 and colourbar[0].get_ylabel() == "hops"
    ax.figure.canvas.draw()  # whole counts get whole-number ticks, values get the usual ones
    assert [t.get_text() for t in colourbar[0].get_yticklabels()] == ["0", "1"]
    ax = viz.draw_skeleton(ntu, highlight={0: 0.0, 3: 0.5})
    ax.figure.canvas.draw()
    assert "0.1" in [t.get_text() for t in _colorbars(ax.figure)[0].get_yticklabels()]


def test_draw_skeleton_edge_weights_and_pose(ntu):
    ax = viz.draw_skeleton(ntu, edge_weights=torch.arange(24.0), pose=ntu.rest_pose[:, :2] * 2)
    assert len(_colorbars(ax.figure)) == 1
    assert ax.collections[-1].get_offsets()[3][1] == pytest.approx(2 * 0.64)
    with pytest.raises(ValueError, match="one value per bone"):
        viz.draw_skeleton(ntu, edge_weights=torch.ones(3))
    with pytest.raises(ValueError, match=r"\(V, 2\) or \(V, 3\) with V=25"):
        viz.draw_skeleton(ntu, pose=torch.zeros(18, 2))


@pytest.mark.parametrize(("convention", "row_role"), [("row_target", "target"), ("column_target", "source")])
def test_adjacency_heatmap_names_axes_and_roles(ntu, convention, row_role):
    ax = viz.adjacency_heatmap(ntu.normalized(), convention=convention, title="A", cbar_label="w")
    names = viz.joint_labels(ntu)  # 'J1 spine base': the reader-facing convention
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert ax.get_ylabel() == f"{row_role} joint (row)"
    assert ax.images[0].colorbar is not None and ax.images[0].colorbar.ax.get_ylabel() == "w"


def test_adjacency_heatmap_can_number_its_columns_and_keep_names_on_the_rows(ntu):
    ax = viz.adjacency_heatmap(ntu.normalized(), columns="number")
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"J{v}" for v in range(1, 26)]
    assert [t.get_text() for t in ax.get_yticklabels()] == viz.joint_labels(ntu)
    with pytest.raises(ValueError, match="columns must be 'name' or 'number'"):
        viz.adjacency_heatmap(ntu.normalized(), columns="index")


def test_adjacency_heatmap_annotate_and_errors():
    a = torch.tensor([[0.0, 0.5], [1.0, 0.0]])
    ax = viz.adjacency_heatmap(a, joint_names=["a", "b"], annotate=True)
    assert sorted(t.get_text() for t in ax.texts) == ["0.50", "1.00"]
    with pytest.raises(ValueError, match="square"):
        viz.adjacency_heatmap(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="2 names"):
        viz.adjacency_heatmap(torch.zeros(3, 3), joint_names=["a", "b"])


def test_matrix_edges_convention_and_filters():
    m = torch.tensor([[0.0, 0.75, 0.0], [0.125, 0.5, -0.25], [0.0, 0.0, 0.0]])
    assert viz.matrix_edges(m, "row_target") == [(1, 0, 0.75), (2, 1, -0.25), (0, 1, 0.125)]
    assert viz.matrix_edges(m, "column_target")[0] == (0, 1, 0.75)
    assert len(viz.matrix_edges(m, "row_target", threshold=0.2)) == 2
    assert len(viz.matrix_edges(m, "row_target", top_k=1)) == 1
    with pytest.raises(ValueError, match="row_target"):
        viz.matrix_edges(m, "rows")


def test_matrix_on_skeleton_one_arrow_per_entry_and_direction_flips(ntu):
    m = torch.zeros(25, 25)
    m[2, 3] = 1.0  # row 2 (neck), column 3 (head)
    m[20, 1] = 0.5
    m[4, 4] = 0.7
    rows = viz.draw_matrix_on_skeleton(m, ntu, "row_target")
    cols = viz.draw_matrix_on_skeleton(m, ntu, "column_target")
    assert sorted(a.get_gid() for a in _arrows(rows)) == ["1->20", "3->2"]
    assert sorted(a.get_gid() for a in _arrows(cols)) == ["2->3", "20->1"]
    assert len(_colorbars(rows.figure)) == 1
    joints = rows.collections[-1].get_facecolors()
    assert tuple(joints[0]) == matplotlib.colors.to_rgba("white") and tuple(joints[4]) != tuple(joints[0])


def test_matrix_on_skeleton_top_k_and_threshold(ntu):
    a = official.adjacency("ctrgcn")[1]  # inward: 24 arrows child -> parent in the row-target convention
    assert len(_arrows(viz.draw_matrix_on_skeleton(a, ntu, "row_target"))) == 24
    assert len(_arrows(viz.draw_matrix_on_skeleton(a, ntu, "row_target", top_k=5))) == 5
    assert len(_arrows(viz.draw_matrix_on_skeleton(a, ntu, "row_target", threshold=1.0))) == 0
    with pytest.raises(ValueError, match=r"\(V, V\) = \(25, 25\)"):
        viz.draw_matrix_on_skeleton(torch.zeros(18, 18), ntu)


def test_plot_partitions_stgcn_counts(ntu):
    fig = viz.plot_partitions(official.adjacency("stgcn"), ntu, names=["root", "centripetal", "centrifugal"])
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [len(_arrows(ax)) for ax in panels] == [0, 40, 8]
    assert panels[2].get_title().startswith("centrifugal: 8 arrows")
    assert len(_colorbars(fig)) == 1
    with pytest.raises(ValueError, match="2 entries for 3 subsets"):
        viz.plot_partitions(official.adjacency("stgcn"), ntu, names=["a", "b"])


def test_joint_labels_are_1_based_numbers_of_0_based_indices(ntu):
    assert viz.joint_label(20) == "J21 spine" and viz.joint_label(0, ntu) == "J1 spine base"
    labels = viz.joint_labels(ntu)
    assert len(labels) == 25 and labels[23] == "J24 R hand tip"
    with pytest.raises(ValueError, match=r"0-based joint index in 0..24, got 25"):
        viz.joint_label(25)


def test_plot_subset_heatmaps_share_one_colour_scale():
    a = official.adjacency("ctrgcn")  # (3, 25, 25): identity, inward, outward
    fig = viz.plot_subset_heatmaps(a, ["identity", "inward", "outward"], title="CTR-GCN")
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [ax.get_title() for ax in panels] == ["identity", "inward", "outward"]
    limits = {ax.images[0].get_clim() for ax in panels}
    assert limits == {(0.0, float(a.max()))}  # one shared scale
    assert len(_colorbars(fig)) == 1
    assert panels[0].get_yticklabels()[20].get_text() == "J21 spine"
    assert fig.get_size_inches()[0] <= viz.WIDTH
    with pytest.raises(ValueError, match="2 entries for 3 subsets"):
        viz.plot_subset_heatmaps(a, ["a", "b"])
    with pytest.raises(ValueError, match=r"\(K, V, V\), got \(25, 25\)"):
        viz.plot_subset_heatmaps(a[0], ["a"])


def test_draw_streams_shows_motion_bones_and_speed(ntu):
    x = ntu.rest_pose.T[:, None, :, None].repeat(1, 5, 1, 2).clone()  # (3, 5, 25, 2)
    x[0, :, 7, 0] += 0.1 * torch.arange(5.0)  # the left hand moves 0.1 m per frame along x
    fig = viz.draw_streams(x, ntu, frame=1)
    pose_ax, bone_ax, speed_ax = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    arrows = pose_ax.collections[-1]  # the quiver: one arrow per joint, only the hand's is non-zero
    assert arrows.U[7] == pytest.approx(0.1) and abs(arrows.U).sum() == pytest.approx(0.1)
    assert pose_ax.get_title() == "motion at t=1\narrows 4x longer"  # 0.4 m for the longest, 0.1 m: the factor
    assert arrows.units == "inches" and arrows.width >= 0.02  # as thick in a narrow panel as in a wide one
    assert len(bone_ax.lines) == 24 + 1  # 24 bones from the origin, and the origin
    bone_ends = {tuple(line.get_xydata()[1].round(3)) for line in bone_ax.lines[:-1]}
    assert (round(0.18, 3), round(0.44 - 0.46, 3)) in bone_ends  # left shoulder - spine, from the origin
    speed = speed_ax.images[0].get_array()  # (V, T)
    assert speed.shape == (25, 5) and speed[7, :4].tolist() == pytest.approx([0.1] * 4) and speed[7, 4] == 0
    assert speed_ax.get_yticklabels()[7].get_text() == "J8 L hand"
    assert fig.get_size_inches()[0] <= viz.WIDTH and len(_colorbars(fig)) == 1
    with pytest.raises(ValueError, match=r"frame must be in 0..3 \(the last frame has no motion\), got 4"):
        viz.draw_streams(x, ntu, frame=4)
    with pytest.raises(ValueError, match="V=25"):
        viz.draw_streams(torch.zeros(3, 4, 18, 1), ntu)


def test_animate_sequence_frames_and_bodies(ntu):
    x = ntu.rest_pose.T[:, None, :, None].repeat(1, 6, 1, 2).clone()  # (3, 6, 25, 2)
    x[:, :, :, 1] = 0  # second body is padding
    x[0, :, :, 0] += torch.arange(6.0)[:, None]
    anim = viz.animate_sequence(x, ntu, step=2, interval=80)
    assert isinstance(anim, viz.FrameAnimation) and len(anim.frames) == 3  # frames 0, 2, 4
    assert all(frame.startswith(b"\x89PNG") for frame in anim.frames)
    assert len(set(anim.frames)) == 3  # the skeleton moves: every frame differs
    with pytest.raises(ValueError, match="C >= 2 and V=25"):
        viz.animate_sequence(torch.zeros(3, 4, 18), ntu)


def test_frame_animation_shows_its_first_frame_without_a_kernel_or_network(ntu):
    frames = [b"\x89PNG first", b"\x89PNG second"]
    bundle = viz.FrameAnimation(frames, interval=120)._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"]) == frames[0]
    html = bundle["text/html"]
    first, second = (base64.b64encode(f).decode() for f in frames)
    assert f'<img src="data:image/png;base64,{first}"' in html  # visible when scripts are stripped
    assert second in html and "setInterval" in html and "120" in html  # played by the inline script
    assert html.count(first) == 1  # the script reuses the <img>'s first frame instead of storing it again
    assert "http" not in html and "<link" not in html  # nothing fetched from a CDN
    with pytest.raises(ValueError, match="at least one frame"):
        viz.FrameAnimation([])


def test_use_style_sets_the_shared_resolution():
    with plt.rc_context():
        viz.use_style()
        fig = plt.figure(figsize=(viz.WIDTH, 2))
        assert fig.dpi == viz.DPI
        png = viz.png_bytes(fig)
    width = int.from_bytes(png[16:20], "big")  # PNG header: IHDR width
    assert width == viz.WIDTH * viz.DPI
    assert not plt.fignum_exists(fig.number)  # closed, so not shown twice


def test_layouts_number_ntu_joints_from_1_and_the_others_by_their_own_ids():
    fig = figures.layouts()
    ntu_ax, openpose_ax, coco_ax = fig.axes
    ntu_labels = {t.get_text() for t in ntu_ax.texts}
    assert ntu_labels == {f"J{v}" for v in range(1, 26)} and ntu_ax.get_title().endswith("centre J21")
    assert {t.get_text() for t in openpose_ax.texts} == {str(v) for v in range(18)}
    assert openpose_ax.get_title().endswith("centre 1 (0-based ids)")
    assert {t.get_text() for t in coco_ax.texts} == {str(v) for v in range(17)}
    plt.close(fig)


def test_figures_write_every_png_deterministically(tmp_path):
    paths = figures.write_all(tmp_path, dpi=40)
    assert sorted(p.name for p in paths) == sorted(figures.FIGURES)
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
    again = figures.write_all(tmp_path / "again", dpi=40)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]


def test_plot_subset_refinements_shares_one_colour_scale():
    from matplotlib import colors

    from stviz.viz import plot_subset_refinements

    refinements = torch.zeros(3, 25, 25)
    refinements[0, 1, 2], refinements[2, 3, 4] = 0.5, -2.0
    fig = plot_subset_refinements(refinements, top_k=1)
    assert len(fig.axes) == 4  # three subsets and one colour bar
    fig = plot_subset_refinements(refinements, top_k=1, norm=colors.Normalize(-4, 4))
    assert fig.axes[-1].get_ylim() == (-4.0, 4.0)  # the colour bar follows the shared norm
    with pytest.raises(ValueError, match=r"\(K, V, V\)"):
        plot_subset_refinements(torch.zeros(25, 25))


def test_plot_joint_gates_puts_both_classes_on_one_scale():
    from stviz.viz import plot_joint_gates

    a, b = torch.linspace(0.2, 0.6, 25), torch.full((25,), 0.4)
    fig = plot_joint_gates(a, b, ("first", "second"))
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 3
    assert bars[0].get_ylim() == bars[1].get_ylim() == pytest.approx((0.2, 0.6))
    assert bars[2].get_ylim() == pytest.approx((-0.2, 0.2))  # the difference, symmetric


def _overlapping_labels(ax):
    ax.figure.canvas.draw()
    boxes = [Text.get_window_extent(t) for t in ax.texts]  # the text alone, not its leader line
    return [(ax.texts[i].get_text(), ax.texts[j].get_text())
            for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]  # fmt: skip


@pytest.mark.parametrize("width", [3.0, 5.0])
def test_joint_labels_do_not_overlap_on_the_rest_pose(ntu, width):
    fig, ax = plt.subplots(figsize=(width, 3.9), layout="constrained")
    viz.draw_skeleton(ntu, ax=ax, labels="number")
    assert [t.get_text() for t in ax.texts] == [f"J{v}" for v in range(1, 26)]  # still in joint order
    assert _overlapping_labels(ax) == []


def _joint_ticks(ax, axis):
    """{tick position: text} of the labelled ticks of ``ax``'s x or y axis."""
    positions, texts = (
        (ax.get_xticks(), ax.get_xticklabels()) if axis == "x" else (ax.get_yticks(), ax.get_yticklabels())
    )
    return {round(p): t.get_text() for p, t in zip(positions, texts, strict=True) if t.get_text()}


@pytest.mark.parametrize("v", [25, 18])
def test_every_joint_axis_numbers_joints_from_one_as_J(v):
    """One convention on every heatmap's joint axes: 'J<n>' with n 1-based, and NTU's short name when V=25."""
    import re

    from stviz.viz import spatial as viz_spatial

    a = torch.rand(v, v)
    axes = [
        (viz.adjacency_heatmap(a), "xy"),
        (viz_spatial.plot_matrices_side_by_side({"a": a, "b": a}, "w").axes[0], "xy"),
        (viz.plot_topology_grid(torch.rand(2, v, v), [0, 1]).axes[0], "xy"),
        (viz.plot_subset_heatmaps(torch.rand(2, v, v), ["s1", "s2"]).axes[0], "xy"),
        (viz.plot_shift_table(torch.randint(0, v, (v, 4))), "y"),
        (viz.plot_shift_patterns(torch.randint(0, v, (4, v)), torch.eye(4)).axes[0], "x"),
    ]
    pattern = re.compile(r"^J(\d+)( (.+))?$")
    for ax, which in axes:
        for axis in which:
            ticks = _joint_ticks(ax, axis)
            assert ticks, (ax.get_title(), axis)
            for position, text in ticks.items():
                match = pattern.match(text)
                assert match and int(match.group(1)) == position + 1, (ax.get_title(), axis, text)
                if v == 25 and match.group(3):
                    assert text == viz.joint_label(position)
    assert viz.tick_labels(v, "number")[-1] == f"J{v}"
    with pytest.raises(ValueError, match="style must be 'name' or 'number'"):
        viz.tick_labels(v, "index")
