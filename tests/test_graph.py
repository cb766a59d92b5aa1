"""Facts about the skeleton graphs, checked against networkx and the originals' rules."""

from __future__ import annotations

import math

import networkx as nx
import pytest
import torch

from stviz import official
from stviz.graph import (
    COCO_17,
    LAYOUTS,
    NTU_RGBD,
    OPENPOSE_18,
    SkeletonGraph,
    get_layout,
    joint_index,
    k_adjacency,
    normalize_digraph,
    normalize_symmetric,
)


@pytest.fixture
def ntu():
    return SkeletonGraph("ntu-rgb+d")


def test_ntu_basic_facts(ntu):
    assert ntu.num_nodes == 25 and len(ntu.edges) == 24 and ntu.center == 20
    assert ntu.joint_names[20] == "spine"
    assert ntu.diameter == 12
    assert nx.is_tree(ntu.nx_graph)
    # the hand tip hangs on the thumb, the thumb on the hand
    assert (21, 22) in ntu.edges and (22, 7) in ntu.edges


@pytest.mark.parametrize("layout", [NTU_RGBD, OPENPOSE_18, COCO_17], ids=lambda lay: lay.name)
def test_layouts_are_connected_trees(layout):
    g = SkeletonGraph(layout)
    assert len(layout.rest_pose) == layout.num_joints
    assert nx.is_tree(g.nx_graph)
    a = g.binary_adjacency()
    assert torch.equal(a, a.T) and a.diagonal().sum() == 0
    assert a.sum() == 2 * len(layout.edges)


def test_hop_distance_equals_networkx(ntu):
    hop = ntu.hop_distance()
    want = dict(nx.all_pairs_shortest_path_length(ntu.nx_graph))
    for i in range(25):
        for j in range(25):
            assert hop[i, j] == want[i][j]
    truncated = ntu.hop_distance(max_hop=2)
    assert torch.equal(torch.isinf(truncated), hop > 2)


def test_normalisations(ntu):
    a = ntu.binary_adjacency(self_loops=True)
    col = normalize_digraph(a)
    torch.testing.assert_close(col.sum(0), torch.ones(25))
    sym = normalize_symmetric(a)
    torch.testing.assert_close(sym, sym.T)
    deg = a.sum(1)
    assert sym[0, 1].item() == pytest.approx(1 / math.sqrt(deg[0] * deg[1]))


def test_stgcn_partitions_sum_to_normalised_adjacency(ntu):
    for strategy in ("uniform", "distance", "spatial"):
        parts = ntu.stgcn_partition(strategy)
        torch.testing.assert_close(parts.sum(0).sum(0), torch.ones(25), msg=strategy)


def test_stgcn_spatial_quirk_and_bfs_variant(ntu):
    official_a = ntu.stgcn_partition("spatial", centre_distance="official")
    counts = [int((m != 0).sum()) for m in official_a]
    assert counts == [25, 40, 8]  # the degenerate 'spatial' partition: only 8 'further' entries
    bfs = ntu.stgcn_partition("spatial", centre_distance="bfs")
    # with true distances each bone is either centripetal or centrifugal: 24 + 24
    assert [int((m != 0).sum()) for m in bfs] == [25, 24, 24]
    torch.testing.assert_close(bfs.sum(0), official_a.sum(0))


def test_k_adjacency_matches_networkx_distances(ntu):
    hop = ntu.hop_distance()
    a = ntu.binary_adjacency()
    for k in range(13):
        assert torch.equal(k_adjacency(a, k), (hop == k).float()), k
    assert torch.equal(ntu.within_k_hops(3), (hop <= 3).float())


def test_multiscale_powers_vs_disentangled(ntu):
    dis = ntu.multiscale(4, disentangled=True)
    pw = ntu.multiscale(4, disentangled=False)
    torch.testing.assert_close(dis[0], torch.eye(25))
    base = normalize_symmetric(ntu.binary_adjacency(self_loops=True))
    torch.testing.assert_close(pw[2], base @ base)


def test_bone_parent_follows_edges(ntu):
    parent = ntu.bone_parent
    assert parent[ntu.center] == ntu.center
    assert all(parent[c] == p for c, p in ntu.edges)


def test_official_adjacency_shapes():
    assert official.adjacency("stgcn").shape == (3, 25, 25)
    assert official.adjacency("ctrgcn").shape == (3, 25, 25)
    assert official.adjacency("effgcn").shape == (11, 25, 25)
    assert official.adjacency("msg3d").shape == (25, 25)
    with pytest.raises(ValueError, match="expected one of"):
        official.adjacency("tsm")


def test_effgcn_normalised_over_ten_hops():
    a = official.adjacency("effgcn")
    # pitfall 3: A[0] is 1/(joints within 10 hops), not 1/degree
    assert 0.039 < a[0].diagonal().min() and a[0].diagonal().max() < 0.054


def test_layout_lookup():
    assert get_layout("ntu") is NTU_RGBD and set(LAYOUTS) == {"ntu-rgb+d", "openpose", "coco"}
    assert joint_index("spine") == 20 and joint_index(["head", "left hand"]) == [3, 7]
    with pytest.raises(ValueError, match="unknown layout"):
        get_layout("kinect-v1")
    with pytest.raises(ValueError, match="unknown joint"):
        joint_index("tail")
