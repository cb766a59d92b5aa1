"""The graphs built on skeleton layouts (:mod:`stviz.layouts`, re-exported here).

A :class:`~stviz.layouts.Layout` names the joints, lists the bones and gives a rest pose; a
:class:`SkeletonGraph` turns a layout into the adjacency matrices every model
uses. Matrices are ``float32`` tensors: ``(V, V)`` for one matrix and
``(K, V, V)`` for a partition into K subsets.

Conventions:

* ``edges`` are 0-based ``(child, parent)`` pairs: the first joint is the one
  farther from the centre (CTR-GCN calls this list ``inward``).
* ``normalize_digraph`` divides each **column** by its sum (ST-GCN, CTR-GCN,
  EfficientGCN); ``normalize_symmetric`` is ``D^-1/2 A D^-1/2`` with D the row
  sums (MS-G3D).
* Hop distances come from networkx shortest paths; ``inf`` marks pairs farther
  apart than ``max_hop``.
"""

from __future__ import annotations

import math
import numbers
from functools import cached_property
from typing import Literal

import networkx as nx
import torch

from stviz.checks import check_adjacency, check_positive_int
from stviz.layouts import COCO_17, LAYOUTS, NTU_EDGES_1BASED, NTU_RGBD, OPENPOSE_18, Layout, get_layout

__all__ = [
    "Layout",
    "NTU_EDGES_1BASED",
    "NTU_RGBD",
    "OPENPOSE_18",
    "COCO_17",
    "LAYOUTS",
    "get_layout",
    "SkeletonGraph",
    "edge_matrix",
    "normalize_digraph",
    "normalize_symmetric",
    "k_adjacency",
    "multiscale_adjacency",
    "hop_distance",
    "joint_index",
]


# ----------------------------------------------------------------------------
# Matrix helpers: pure functions on (V, V) tensors.
# ----------------------------------------------------------------------------


def _check_pairs(pairs, num_nodes: int, where: str) -> None:
    """Every pair ``(i, j)`` must name two nodes in ``0..num_nodes - 1``."""
    for pair in pairs:
        if len(pair) != 2 or not all(isinstance(k, numbers.Integral) and 0 <= k < num_nodes for k in pair):
            raise ValueError(f"{where}: each edge must be a pair of node indices in 0..{num_nodes - 1}, got {pair!r}")


def edge_matrix(pairs, num_nodes: int) -> torch.Tensor:
    """``M[j, i] = 1`` for each pair ``(i, j)``: column i sends to row j. (V, V)."""
    _check_pairs(pairs, num_nodes, "edge_matrix")
    m = torch.zeros(num_nodes, num_nodes)
    for i, j in pairs:
        m[j, i] = 1.0
    return m


def normalize_digraph(a: torch.Tensor) -> torch.Tensor:
    """Column normalisation ``A @ diag(1 / colsum)``; empty columns stay 0. (..., V, V)."""
    col = a.sum(-2, keepdim=True)
    return torch.where(col > 0, a / col.clamp_min(1e-30), torch.zeros_like(a))


def normalize_symmetric(a: torch.Tensor) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` with D the row sums (MS-G3D); zero rows stay 0. (..., V, V)."""
    deg = a.sum(-1)
    inv = torch.where(deg > 0, deg.clamp_min(1e-30).rsqrt(), torch.zeros_like(deg))
    return inv[..., :, None] * a * inv[..., None, :]


def k_adjacency(a: torch.Tensor, k: int, with_self: bool = False, self_factor: float = 1.0) -> torch.Tensor:
    """Pairs exactly ``k`` hops apart in binary ``a`` (V, V); ``I`` for k=0.

    ``min((A+I)^k, 1) - min((A+I)^(k-1), 1)``, plus ``self_factor * I`` when
    ``with_self`` (MS-G3D's ``k_adjacency``).
    """
    check_positive_int(k, "k (hops)", minimum=0, block="k_adjacency")
    check_adjacency(a, "a", block="k_adjacency", binary=True)
    eye = torch.eye(a.shape[-1], dtype=a.dtype)
    if k == 0:
        return eye
    a_i = (a + eye).double()
    reach_k = torch.linalg.matrix_power(a_i, k).clamp(max=1)
    reach_k1 = torch.linalg.matrix_power(a_i, k - 1).clamp(max=1)
    out = (reach_k - reach_k1).to(a.dtype)
    if with_self:
        out = out + self_factor * eye
    return out


def multiscale_adjacency(a_binary: torch.Tensor, num_scales: int, disentangled: bool = True) -> torch.Tensor:
    """MS-G3D's stack of scales (K, V, V) for a binary graph (V, V), each symmetrically normalised.

    Disentangled: ``normalize(exactly-k-hop + I)``, ``I`` for k=0. Otherwise the powers
    ``normalize(A with self-loops)^k``, which weight close joints far more than distant ones. Computed in
    float64 (matrix powers of a normalised matrix lose precision in float32), returned in ``a_binary``'s dtype.
    """
    check_positive_int(num_scales, "num_scales", minimum=1, block="multiscale_adjacency")
    check_adjacency(a_binary, "a_binary", block="multiscale_adjacency", binary=True)
    a = a_binary.double()
    eye = torch.eye(a.shape[-1], dtype=torch.float64)
    if disentangled:
        scales = [normalize_symmetric(k_adjacency(a, k, with_self=True)) for k in range(num_scales)]
    else:
        base = normalize_symmetric(torch.maximum(a, eye))
        scales = [torch.linalg.matrix_power(base, k) for k in range(num_scales)]
    return torch.stack(scales).to(a_binary.dtype if a_binary.is_floating_point() else torch.float32)


def hop_distance(edges, num_nodes: int, max_hop: int | None = None) -> torch.Tensor:
    """Shortest-path hop counts (V, V) through networkx; ``inf`` beyond ``max_hop``."""
    if max_hop is not None:
        check_positive_int(max_hop, "max_hop", minimum=0, block="hop_distance")
    _check_pairs(edges, num_nodes, "hop_distance")
    g = nx.Graph()
    g.add_nodes_from(range(num_nodes))
    g.add_edges_from((i, j) for i, j in edges if i != j)
    dist = torch.full((num_nodes, num_nodes), math.inf, dtype=torch.float64)
    for src, lengths in nx.all_pairs_shortest_path_length(g, cutoff=max_hop):
        for dst, d in lengths.items():
            dist[src, dst] = d
    return dist


# ----------------------------------------------------------------------------
# The graph object.
# ----------------------------------------------------------------------------

CentreDistance = Literal["official", "bfs"]


class SkeletonGraph:
    """The graph of a skeleton layout and the adjacency matrices models build on it.

    >>> g = SkeletonGraph("ntu-rgb+d")
    >>> g.num_nodes, len(g.edges), g.center
    (25, 24, 20)
    """

    def __init__(self, layout: str | Layout = "ntu-rgb+d"):
        self.layout = get_layout(layout)

    # -- basic facts ---------------------------------------------------------
    @property
    def num_nodes(self) -> int:
        return self.layout.num_joints

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """0-based (child, parent) bones."""
        return self.layout.edges

    @property
    def center(self) -> int:
        return self.layout.center

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.layout.joint_names

    @property
    def rest_pose(self) -> torch.Tensor:
        """(V, 3) rest pose in metres."""
        return torch.tensor(self.layout.rest_pose, dtype=torch.float32)

    def __repr__(self) -> str:
        return f"SkeletonGraph({self.layout.name!r}, V={self.num_nodes}, edges={len(self.edges)})"

    @cached_property
    def nx_graph(self) -> nx.Graph:
        """Undirected networkx graph with joint names as node attributes."""
        g = nx.Graph()
        for v, name in enumerate(self.joint_names):
            g.add_node(v, name=name)
        g.add_edges_from(self.edges)
        return g

    def binary_adjacency(self, self_loops: bool = False) -> torch.Tensor:
        """Symmetric 0/1 adjacency (V, V), with ``I`` added when ``self_loops``."""
        a = edge_matrix(self.edges, self.num_nodes)
        a = a + a.T
        if self_loops:
            a = a + torch.eye(self.num_nodes)
        return a

    def hop_distance(self, max_hop: int | None = None) -> torch.Tensor:
        """Hop distances (V, V), float64, ``inf`` beyond ``max_hop`` (networkx BFS)."""
        return hop_distance(self.edges, self.num_nodes, max_hop)

    @property
    def diameter(self) -> int:
        return nx.diameter(self.nx_graph)

    @cached_property
    def bone_parent(self) -> tuple[int, ...]:
        """Parent of each joint along the bone list; the centre is its own parent.

        This is the pairing CTR-GCN's bone stream uses (``bone[v] = x[v] - x[parent[v]]``).
        """
        parent = list(range(self.num_nodes))
        for child, par in self.edges:
            parent[child] = par
        return tuple(parent)

    # -- normalised adjacency -------------------------------------------------
    def normalized(self, kind: Literal["digraph", "symmetric"] = "digraph", self_loops: bool = True) -> torch.Tensor:
        """The (V, V) adjacency normalised by columns ('digraph') or symmetrically."""
        a = self.binary_adjacency(self_loops=self_loops)
        if kind == "digraph":
            return normalize_digraph(a)
        if kind == "symmetric":
            return normalize_symmetric(a)
        raise ValueError(f"kind must be 'digraph' or 'symmetric', got {kind!r}")

    # -- ST-GCN partitions ----------------------------------------------------
    def stgcn_partition(
        self,
        strategy: Literal["uniform", "distance", "spatial"] = "spatial",
        max_hop: int = 1,
        dilation: int = 1,
        centre_distance: CentreDistance = "official",
    ) -> torch.Tensor:
        """ST-GCN's partitioned adjacency (K, V, V).

        ``centre_distance='official'`` reproduces ``st-gcn``'s Graph exactly: the
        distance to the centre comes from the same hop matrix truncated at
        ``max_hop``, so on NTU every joint beyond one hop of the centre sits at
        ``inf`` and the 'spatial' partition degenerates.
        ``centre_distance='bfs'`` uses the true breadth-first distance to the
        centre, which is what the paper describes.
        """
        check_positive_int(max_hop, "max_hop", minimum=0, block="stgcn_partition")
        check_positive_int(dilation, "dilation", minimum=1, block="stgcn_partition")
        v = self.num_nodes
        hop = self.hop_distance(max_hop).float()
        valid_hops = range(0, max_hop + 1, dilation)
        adjacency = torch.zeros(v, v)
        for h in valid_hops:
            adjacency[hop == h] = 1
        norm = normalize_digraph(adjacency)
        if strategy == "uniform":
            return norm[None]
        if strategy == "distance":
            return torch.stack([torch.where(hop == h, norm, torch.zeros_like(norm)) for h in valid_hops])
        if strategy != "spatial":
            raise ValueError(f"strategy must be 'uniform', 'distance' or 'spatial', got {strategy!r}")
        if centre_distance == "official":
            to_centre = hop[:, self.center]
        elif centre_distance == "bfs":
            to_centre = self.hop_distance().float()[:, self.center]
        else:
            raise ValueError(f"centre_distance must be 'official' or 'bfs', got {centre_distance!r}")
        subsets = []
        for h in valid_hops:
            mask = hop == h  # mask[j, i]: j and i are h hops apart
            dj, di = to_centre[:, None], to_centre[None, :]
            root = torch.where(mask & (dj == di), norm, 0.0)
            close = torch.where(mask & (dj > di), norm, 0.0)
            further = torch.where(mask & (dj < di), norm, 0.0)
            if h == 0:
                subsets.append(root)
            else:
                subsets.append(root + close)
                subsets.append(further)
        return torch.stack(subsets)

    # -- other repositories' graphs ------------------------------------------
    def inward_outward(self) -> torch.Tensor:
        """CTR-GCN's 'spatial' labeling (3, V, V): ``I``, inward, outward, column-normalised."""
        eye = torch.eye(self.num_nodes)
        inward = normalize_digraph(edge_matrix(self.edges, self.num_nodes))
        outward = normalize_digraph(edge_matrix([(j, i) for i, j in self.edges], self.num_nodes))
        return torch.stack([eye, inward, outward])

    def hop_partition(self, max_hop: int = 10) -> torch.Tensor:
        """EfficientGCN's hop partition (max_hop+1, V, V).

        All pairs within ``max_hop`` are column-normalised together, then split by
        exact hop distance, so each entry is divided by the number of joints
        within ``max_hop`` of its column joint.
        """
        hop = self.hop_distance(max_hop).float()
        norm = normalize_digraph((hop <= max_hop).float())
        return torch.stack([torch.where(hop == h, norm, 0.0) for h in range(max_hop + 1)])

    def k_hop(self, k: int, with_self: bool = False) -> torch.Tensor:
        """Pairs exactly ``k`` hops apart (V, V) (plus ``I`` when ``with_self``)."""
        return k_adjacency(self.binary_adjacency(), k, with_self=with_self)

    def within_k_hops(self, k: int) -> torch.Tensor:
        """Pairs at most ``k`` hops apart, self included (V, V)."""
        return (self.hop_distance(k) <= k).float()

    def multiscale(self, num_scales: int, disentangled: bool = True) -> torch.Tensor:
        """MS-G3D's stacked scales (K, V, V) of this graph: :func:`multiscale_adjacency`."""
        return multiscale_adjacency(self.binary_adjacency(), num_scales, disentangled)


def joint_index(names: str | list[str], layout: str | Layout = "ntu-rgb+d") -> int | list[int]:
    """0-based index of a joint by name (or a list of them)."""
    lay = get_layout(layout)
    lookup = {n: i for i, n in enumerate(lay.joint_names)}
    if isinstance(names, str):
        if names not in lookup:
            raise ValueError(f"unknown joint {names!r} in layout {lay.name!r}; expected one of {list(lookup)}")
        return lookup[names]
    return [joint_index(n, lay) for n in names]
