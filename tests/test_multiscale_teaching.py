"""stviz.multiscale_teaching: the weight shares, power sizes, explicit-order module and contraction table of
notebook 04."""

from __future__ import annotations

import pytest
import torch

from stviz.graph import SkeletonGraph
from stviz.models import MSG3D
from stviz.multiscale import G3DBlock, MultiScaleGraphConv
from stviz.multiscale_teaching import ExplicitOrder, contraction_table, power_magnitudes, weight_shares

NTU = SkeletonGraph("ntu-rgb+d")
A = NTU.binary_adjacency()


def _chain(v: int) -> torch.Tensor:
    a = torch.zeros(v, v)
    for i in range(v - 1):
        a[i, i + 1] = a[i + 1, i] = 1.0
    return a


def test_weight_shares_on_a_chain_by_hand():
    hops = torch.tensor([[abs(i - j) for j in range(3)] for i in range(3)], dtype=torch.float64)  # chain 0-1-2
    eye, full = torch.eye(3), torch.ones(3, 3)
    far = torch.tensor([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])  # ends put half on d = 2
    near, ring = weight_shares(torch.stack([eye, full, far]), hops)
    torch.testing.assert_close(
        near, torch.tensor([1.0, (2 / 3 + 1 + 2 / 3) / 3, (0.5 + 1 + 0.5) / 3], dtype=torch.float64)
    )
    # ring k=0: share on the joint itself; k=1: every joint has neighbours; k=2: only the two ends have a 2-ring
    torch.testing.assert_close(ring, torch.tensor([1.0, (1 / 3 + 2 / 3 + 1 / 3) / 3, 0.5], dtype=torch.float64))


def test_weight_shares_powers_stay_close_and_rejects_bad_input():
    from stviz.graph import multiscale_adjacency

    hops = NTU.hop_distance()
    near_p, ring_p = weight_shares(multiscale_adjacency(A, 13, disentangled=False), hops)
    _, ring_r = weight_shares(multiscale_adjacency(A, 13), hops)
    assert near_p[8] > 0.4 and ring_p[8] < 1e-3 and (ring_r[1:] > 0.5).all()
    with pytest.raises(ValueError, match=r"stack must be \(K, V, V\)"):
        weight_shares(torch.eye(25), hops)
    with pytest.raises(ValueError, match="non-negative"):
        weight_shares(-torch.eye(25)[None], hops)


def test_power_magnitudes_raw_counts_walks_normalised_stays_bounded():
    sizes = power_magnitudes(_chain(3), 4)
    # (A+I)^k of the 3-chain: largest entries 1, 1, 3, 7 (walks of length k from the middle joint to itself)
    torch.testing.assert_close(sizes["raw (A+I)^k"], torch.tensor([1.0, 1.0, 3.0, 7.0], dtype=torch.float64))
    ntu = power_magnitudes(A, 13)
    assert ntu["raw (A+I)^k"][12] > 1e5
    assert (ntu["normalize(A+I)^k"] <= 1 + 1e-9).all() and (ntu["normalize((A+I)^k)"] <= 1 + 1e-9).all()
    with pytest.raises(ValueError, match="square"):
        power_magnitudes(torch.ones(2, 3), 3)
    with pytest.raises(ValueError, match="num_scales"):
        power_magnitudes(A, 0)


def test_explicit_order_runs_the_original_order():
    torch.manual_seed(0)
    block = G3DBlock(8, 16, A, num_scales=3, window_size=3).eval()
    x = torch.randn(2, 8, 6, 25)
    with torch.no_grad():
        torch.testing.assert_close(ExplicitOrder(block)(x), block.explicit(x))
        torch.testing.assert_close(ExplicitOrder(block)(x), block(x), atol=1e-5, rtol=1e-5)
    with pytest.raises(TypeError, match="explicit"):
        ExplicitOrder(torch.nn.Linear(2, 2))


def test_contraction_table_lists_every_graph_layer_and_never_picks_the_dearer_order():
    with torch.device("meta"):
        model = MSG3D()
    rows = contraction_table(model, frames=64)
    assert len(rows) == 9  # 3 stages x (MS-GCN, G3D w=3, G3D w=5)
    by_layer = {r.layer: r for r in rows}
    first = by_layer["stages.0.sgcn.0"]
    assert (first.in_channels, first.out_channels, first.scales, first.frames) == (3, 96, 13, 64)
    assert first.chosen == "aggregate-first" and first.project_first > 7 * first.aggregate_first
    assert by_layer["stages.1.gcn3d.blocks.0"].frames == 32 and by_layer["stages.2.gcn3d.blocks.1"].frames == 16
    for r in rows:
        assert r.chosen_macs == min(r.aggregate_first, r.project_first)
        module = model.get_submodule(r.layer)
        assert r.aggregate_first == module.contraction_costs()["aggregate-first"] * r.frames


def test_forced_orders_differ_by_the_closed_form_counts():
    from stviz.cost import count

    torch.manual_seed(0)
    block = MultiScaleGraphConv(3, 16, A, num_scales=4).eval()
    x = torch.randn(1, 3, 8, 25)
    forced = {}
    for order in ("aggregate-first", "project-first"):
        block.contraction_order = order
        forced[order] = count(block, x).macs
    costs = block.contraction_costs()
    assert forced["project-first"] - forced["aggregate-first"] == 8 * (
        costs["project-first"] - costs["aggregate-first"]
    )


def test_contraction_table_refuses_a_model_without_graph_layers():
    class NoGraph(torch.nn.Module):
        in_channels, num_joints, input_branches, min_frames = 3, 25, None, 1

        def forward(self, x):
            return x

    with pytest.raises(ValueError, match="has no MultiScaleGraphConv or G3DBlock"):
        contraction_table(NoGraph())
