"""The side-by-side drawing of the preprocessing pipelines on one clip."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from stviz.data import CHECKPOINTS, SkeletonBody, bodies_to_array, read_skeleton_file, write_skeleton_file
from stviz.graph import SkeletonGraph
from stviz.viz import WIDTH, plot_fixed_length, plot_pipelines, plot_preprocessing_steps


@pytest.fixture
def clip(tmp_path):
    pose = np.asarray(SkeletonGraph().rest_pose, dtype=np.float64)
    frames = [[]] * 2 + [[SkeletonBody(1, pose + [0.01 * t, 0.2, 3.0])] for t in range(12)]
    return write_skeleton_file(tmp_path / "clip.skeleton", frames)


def test_plot_pipelines_draws_one_titled_panel_per_pipeline(clip):
    fig = plot_pipelines(clip)
    axes = fig.axes
    assert [ax.get_title().split("\n")[0] for ax in axes] == ["stgcn", "2s-agcn", "ctrgcn"]
    for ax, name in zip(axes, ("stgcn", "2s-agcn", "ctrgcn"), strict=True):
        assert CHECKPOINTS[name] in ax.get_title()
    assert axes[1].get_ylabel() == "z (m)" and axes[2].get_ylabel() == "y (m)"  # each drawn upright in its own frame
    # ST-GCN keeps the two leading empty frames: frame 0 shows no body; CTR-GCN dropped them: frame 0 shows the actor
    assert len(axes[0].collections) == 0 and len(axes[2].collections) == 2
    origin = axes[1].lines[-1].get_xydata()
    np.testing.assert_allclose(origin, [[0, 0]])
    assert fig.get_size_inches()[0] <= WIDTH  # the style's maximum width
    (legend,) = fig.legends  # one legend, below the panels, none inside a panel
    assert all(ax.get_legend() is None for ax in axes)
    assert legend.get_window_extent().y1 <= min(ax.get_window_extent().y0 for ax in axes)
    plt.close(fig)


def test_plot_preprocessing_steps_draws_bodies_and_origin(clip):
    xyz, ids = bodies_to_array(read_skeleton_file(clip))  # (1, 14, 25, 3)
    centred = xyz - xyz[:, 2:3, 1:2]  # the middle of the spine of frame 2 at the origin
    fig = plot_preprocessing_steps([("read", xyz, 2), ("centred", centred, 2)])
    read_ax, centred_ax = fig.axes
    assert read_ax.get_title() == "read\nt=2" and centred_ax.get_title() == "centred\nt=2"
    spine = centred_ax.collections[1].get_offsets()[1]  # joints of body 0; index 1 is the middle of the spine
    np.testing.assert_allclose(spine, [0, 0], atol=1e-12)
    assert read_ax.collections[1].get_offsets()[1][1] == pytest.approx(0.25 + 0.2)
    assert fig.get_size_inches()[0] <= WIDTH and len(fig.legends) == 1
    with pytest.raises(ValueError, match=r"step 'bad': expected x \(M, T, V, 3\) and a frame in it"):
        plot_preprocessing_steps([("bad", xyz, 14)])
    plt.close(fig)


def test_plot_preprocessing_steps_adds_bones_and_motion_panels(clip):
    xyz, _ = bodies_to_array(read_skeleton_file(clip))  # the body moves +0.01 m in x per frame from frame 2
    fig = plot_preprocessing_steps([("read", xyz, 2)], streams=(xyz.transpose(3, 1, 2, 0), 5))
    read_ax, bones_ax, motion_ax = fig.axes
    assert bones_ax.get_title() == "bones at t=5" and motion_ax.get_title().startswith("motion at t=5\narrows")
    assert len(bones_ax.lines) == 24 + 1  # one line per bone from the origin, and the origin
    arrows = motion_ax.collections[-1]
    np.testing.assert_allclose(arrows.U, 0.01, atol=1e-6)  # every joint moves 0.01 m in x
    np.testing.assert_allclose(arrows.V, 0, atol=1e-6)
    assert len(fig.legends) == 1 and fig.get_size_inches()[0] <= WIDTH
    plt.close(fig)


def test_plot_preprocessing_steps_puts_at_most_four_panels_in_a_row(clip):
    xyz, _ = bodies_to_array(read_skeleton_file(clip))
    steps = [(f"step {i}", xyz, 2) for i in range(5)]
    fig = plot_preprocessing_steps(steps, streams=(xyz.transpose(3, 1, 2, 0), 5))  # 5 steps and 2 streams
    assert len(fig.axes) == 7  # the eighth place of the 2 x 4 grid is removed
    rows = [ax.get_subplotspec().rowspan.start for ax in fig.axes]
    assert rows == [0] * 4 + [1] * 3  # reading order: the steps first, then bones and motion
    assert [ax.get_title().split("\n")[0] for ax in fig.axes[:4]] == [f"step {i}" for i in range(4)]
    assert fig.get_size_inches()[0] <= WIDTH and len(fig.legends) == 1
    plt.close(fig)


@pytest.mark.parametrize(("step", "drawn"), [(0.01, False), (0.03, True)])
def test_plot_pipelines_draws_the_spine_path_only_where_it_shows(tmp_path, step, drawn):
    pose = np.asarray(SkeletonGraph().rest_pose, dtype=np.float64)
    frames = [[SkeletonBody(1, pose + [step * t, 0.2, 3.0])] for t in range(12)]  # 11 steps: 0.11 m or 0.33 m
    fig = plot_pipelines(write_skeleton_file(tmp_path / "clip.skeleton", frames), pipelines=("stgcn",))
    (legend,) = fig.legends
    assert ("middle of spine over time" in [t.get_text() for t in legend.get_texts()]) == drawn
    plt.close(fig)


def test_plot_fixed_length_one_panel_per_mode(clip):
    xyz, _ = bodies_to_array(read_skeleton_file(clip))  # 2 empty frames, then 12 frames
    fig = plot_fixed_length(xyz, 20, joint_index=7)
    raw, repeat, zeros, resample = fig.axes
    assert len(raw.lines[0].get_ydata()) == 14 and raw.lines[0].get_ydata()[:2].tolist() == [0, 0]
    assert [len(ax.lines[0].get_ydata()) for ax in (repeat, zeros, resample)] == [20, 20, 20]
    assert zeros.lines[0].get_ydata()[12:].tolist() == [0] * 8  # zero-padded after the 12 valid frames
    assert repeat.lines[0].get_ydata()[12] == pytest.approx(repeat.lines[0].get_ydata()[0])  # the clip again
    assert zeros.get_title(loc="left") == "'zeros' to 20"
    plt.close(fig)


def test_plot_pipelines_uses_given_axes_and_checks_them(clip):
    fig, axes = plt.subplots(1, 2)
    assert plot_pipelines(clip, pipelines=("teaching", "efficientgcn-raw"), frame=3, axes=axes) is fig
    assert [ax.get_title().split("\n")[0] for ax in axes] == ["teaching", "efficientgcn-raw"]
    with pytest.raises(ValueError, match=r"axes must hold one Axes per pipeline \(3\), got 2"):
        plot_pipelines(clip, axes=axes)
    with pytest.raises(ValueError, match=r"frame must be in 0..299 for pipeline 'stgcn', got 300"):
        plot_pipelines(clip, pipelines=("stgcn",), frame=300)
    plt.close("all")
