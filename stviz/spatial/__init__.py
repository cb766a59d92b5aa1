"""Graph convolutions over the joint axis: ST-GCN / EfficientGCN (partitions), CTR-GCN (channel-wise topologies),
Shift-GCN (shift along the joint axis).

Every graph convolution maps (N, C_in, T, V) to (N, C_out, T, V). Two aggregation conventions appear:

* columns are targets (ST-GCN, EfficientGCN): ``y[w] = sum_v x[v] A[v, w]``, einsum ``nkctv,kvw->nctw``
  (:mod:`stviz.spatial.partition`);
* rows are targets (CTR-GCN): ``y[u] = sum_v M[u, v] x[v]``, einsum ``ncuv,nctv->nctu``, i.e.
  ``x @ M.transpose(-1, -2)`` (:mod:`stviz.spatial.topology`).

The full layers that add a temporal part (ST-GCN's, CTR-GCN's and Shift-GCN's) live with their models in
:mod:`stviz.models`.

Papers: Yan et al., AAAI 2018 (ST-GCN); Song et al., TPAMI 2022 (EfficientGCN); Chen et al., ICCV 2021
(CTR-GCN); Cheng et al., CVPR 2020 (Shift-GCN).
"""

from stviz.spatial.partition import EfficientGraphLayer, PartitionGraphConv
from stviz.spatial.shift_graph import ShiftGraphConv, cyclic_shift_indices, cyclic_shift_sources, local_shift_sources
from stviz.spatial.topology import ChannelTopologyConv, ChannelTopologyUnit

__all__ = [
    "PartitionGraphConv",
    "EfficientGraphLayer",
    "ChannelTopologyConv",
    "ChannelTopologyUnit",
    "ShiftGraphConv",
    "cyclic_shift_indices",
    "cyclic_shift_sources",
    "local_shift_sources",
]
