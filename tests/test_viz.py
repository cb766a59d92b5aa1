"""The drawing functions run headless and draw what they say."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib import animation  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from stviz import figures, official, viz  # noqa: E402
from stviz.graph import SkeletonGraph  # noqa: E402


@pytest.fixture
def ntu():
    return SkeletonGraph("ntu-rgb+d")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


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


@pytest.mark.parametrize(("labels", "first"), [("index", "0"), ("index1", "1"), (False, None)])
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
    names = viz.short_joint_names(ntu)
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert ax.get_ylabel() == f"{row_role} joint (row)"
    assert ax.images[0].colorbar is not None and ax.images[0].colorbar.ax.get_ylabel() == "w"


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


def test_animate_sequence_frames_and_bodies(ntu):
    x = ntu.rest_pose.T[:, None, :, None].repeat(1, 6, 1, 2).clone()  # (3, 6, 25, 2)
    x[:, :, :, 1] = 0  # second body is padding
    x[0, :, :, 0] += torch.arange(6.0)[:, None]
    anim = viz.animate_sequence(x, ntu, step=2)
    assert isinstance(anim, animation.FuncAnimation)
    frames = list(anim.new_frame_seq())
    assert frames == [0, 1, 2]
    artists = anim._func(2)
    assert len(artists) == 2  # one body drawn: bones + joints
    assert artists[1].get_xdata()[0] == pytest.approx(4.0)  # frame 4, joint 0 moved by +4 in x
    assert anim.to_jshtml().count("frames[2] =") == 1
    with pytest.raises(ValueError, match="C >= 2 and V=25"):
        viz.animate_sequence(torch.zeros(3, 4, 18), ntu)


def test_figures_write_every_png_deterministically(tmp_path):
    paths = figures.write_all(tmp_path, dpi=40)
    assert sorted(p.name for p in paths) == sorted(figures.FIGURES)
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
    again = figures.write_all(tmp_path / "again", dpi=40)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]
