"""The multi-scale widgets, headless: setting a control's value recomputes what it exposes."""

from __future__ import annotations

import torch

from stviz.graph import SkeletonGraph, normalize_symmetric
from stviz.widgets.multiscale import hop_explorer, window_graph_explorer

GRAPH = SkeletonGraph()


def test_hop_explorer_follows_joint_and_k():
    ui = hop_explorer(joint=5, k=2)
    first_png = bytes(ui.image.value)
    assert first_png.startswith(b"\x89PNG")
    hops = GRAPH.hop_distance()
    assert ui.ring == [u for u in range(25) if hops[5, u] == 2]
    ui.k.value = 4
    assert ui.ring == [u for u in range(25) if hops[5, u] == 4]
    assert bytes(ui.image.value) != first_png
    assert set(torch.nonzero(ui.disentangled_row).flatten().tolist()) == set(ui.ring) | {5}
    base = normalize_symmetric(GRAPH.binary_adjacency(self_loops=True))
    torch.testing.assert_close(ui.power_row, torch.linalg.matrix_power(base, 4)[5])
    ui.joint.value = 20
    assert ui.ring == [u for u in range(25) if hops[20, u] == 4]
    assert "exactly 4 hops from spine" in ui.summary.value


def test_powers_concentrate_weight_near_the_joint():
    ui = hop_explorer(joint=0, k=6)
    near = ui.power_row[GRAPH.hop_distance()[0] <= 1].sum() / ui.power_row.sum()
    assert near > 0.2 and f"{float(near):.0%}" in ui.summary.value
    assert float(ui.disentangled_row[GRAPH.hop_distance()[0] <= 1].sum()) == float(ui.disentangled_row[0])


def test_window_explorer_tiles_the_graph():
    ui = window_graph_explorer(window_size=3, joint=5)
    assert ui.window_graph.shape == (75, 75)
    degree = int(GRAPH.binary_adjacency()[5].sum())
    assert ui.links == 3 * (degree + 1) - 1
    first_png = bytes(ui.image.value)
    ui.window_size.value = 5
    assert bytes(ui.image.value).startswith(b"\x89PNG") and bytes(ui.image.value) != first_png
    assert ui.window_graph.shape == (125, 125)
    assert ui.links == 5 * (degree + 1) - 1
    assert "125 nodes" in ui.summary.value
    ui.joint.value = 20
    assert ui.links == 5 * (int(GRAPH.binary_adjacency()[20].sum()) + 1) - 1
