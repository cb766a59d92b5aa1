"""Notebook 00's widgets, driven headless by setting ``.value``."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from matplotlib.text import Text

from stviz.data.synthetic import ACTION_CLASSES, make_action
from stviz.graph import SkeletonGraph, joint_index
from stviz.widgets.graph import neighbourhood_explorer, partition_groups, sample_explorer


@pytest.fixture
def ntu():
    return SkeletonGraph("ntu-rgb+d")


def test_partition_groups_at_the_centre_agree(ntu):
    # The centre's neighbours are all one hop from the centre in both variants: four arms of the 1-ring.
    for variant in ("official", "bfs"):
        groups = partition_groups(ntu, ntu.center, variant)
        assert groups[ntu.center] == "root"
        assert sorted(v for v, g in groups.items() if g == "centripetal") == [1, 2, 4, 8]
        assert not [v for v, g in groups.items() if g == "centrifugal"]


def test_partition_groups_differ_at_the_hip(ntu):
    hip, spine_base, knee = joint_index(["left hip", "base of spine", "left knee"])
    official = partition_groups(ntu, hip, "official")
    bfs = partition_groups(ntu, hip, "bfs")
    # Official: hip, spine base and knee are all at 'inf' from the centre, so every neighbour looks 'equal'.
    assert official == {hip: "root", spine_base: "centripetal", knee: "centripetal"}
    # BFS: the spine base is closer to the centre than the hip, so it sends centrifugally.
    assert bfs == {hip: "root", spine_base: "centrifugal", knee: "centripetal"}


def test_neighbourhood_explorer_follows_joint_and_hops(ntu):
    ui = neighbourhood_explorer(ntu)
    assert ui.joint.value == ntu.center and ui.hops.value == 1
    assert ui.highlighted == {20, 1, 2, 4, 8}
    ui.joint.value = joint_index("left hip")
    ui.hops.value = 2
    assert ui.highlighted == {12, 0, 13, 1, 16, 14}
    assert ui.groups["official"] != ui.groups["bfs"]
    assert bytes(ui.image.value).startswith(b"\x89PNG")
    panels = [ax for ax in ui.figure.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 3 and panels[0].get_title() == "6 joints within 2 hops\nof J13 L hip"
    assert panels[1].get_title().startswith("ST-GCN groups into J13 L hip (official)")
    assert [t.get_text() for t in panels[0].texts][:2] == ["J1", "J2"]  # 1-based numbers on the joints
    assert dict(ui.joint.options)["J21 spine"] == 20  # the label is 1-based, the value a 0-based index


def _overlaps(texts):
    boxes = [Text.get_window_extent(t) for t in texts if t.get_text()]  # text only, no leader line
    return sum(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_neighbourhood_explorer_text_is_readable(ntu):
    ui = neighbourhood_explorer(ntu)
    ui.figure.canvas.draw()
    panels = [ax for ax in ui.figure.axes if ax.get_label() != "<colorbar>"]
    assert panels[0].get_title() == "5 joints within 1 hop\nof J21 spine"  # singular hop
    assert _overlaps(panels[0].texts) == 0  # joint numbers: none on top of another
    for ax in panels:
        assert _overlaps(ax.get_xticklabels()) == 0  # x ticks do not run together


@pytest.mark.parametrize("hops", [0, 3, 12])
def test_neighbourhood_matches_networkx(ntu, hops):
    ui = neighbourhood_explorer(ntu)
    ui.joint.value = 7
    ui.hops.value = hops
    expected = set(nx.single_source_shortest_path_length(ntu.nx_graph, 7, cutoff=hops))
    assert ui.highlighted == expected
    assert (len(ui.highlighted) == 25) == (hops >= nx.eccentricity(ntu.nx_graph, 7))


def test_sample_explorer_redraws_for_action_and_seed():
    ui = sample_explorer()
    assert ui.action.options[0][0] == ACTION_CLASSES[0]
    np.testing.assert_array_equal(ui.sample, make_action(0, rng=0))
    assert ui.sample.shape == (3, 64, 25, 2)
    assert "hand" in SkeletonGraph().joint_names[ui.moving_joint]
    first, first_png = ui.figure, ui.image.value
    ui.action.value = ACTION_CLASSES.index("kick right leg")
    assert ui.figure is not first and ui.image.value != first_png
    assert ui.moving_joint in joint_index(["right knee", "right ankle", "right foot"])
    before = ui.sample.copy()
    ui.seed.value = 3
    np.testing.assert_array_equal(ui.sample, make_action(ACTION_CLASSES.index("kick right leg"), rng=3))
    assert not np.array_equal(before, ui.sample)
    assert ui.figure.axes[0].get_title() == "kick right leg (seed 3)"
    number, name = ui.figure.axes[1].get_title().removesuffix(": moves the most").split(" ", 1)
    assert number == f"J{ui.moving_joint + 1}" and name.startswith("R ")  # 1-based number, short name
