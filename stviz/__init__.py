"""stviz: take apart how skeleton GCNs model joints, frames and channels.

Submodules (import what you need; nothing heavy is imported here):

* :mod:`stviz.graph`          skeleton layouts, adjacency, partitions, hop distances
* :mod:`stviz.data`           synthetic actions, the NTU reader and preprocessing, bone and motion streams
* :mod:`stviz.train`          the shared seeded CPU trainer; :mod:`stviz.baselines` its small models
* :mod:`stviz.spatial`        graph convolutions (ST-GCN, EfficientGCN, CTR-GCN, Shift-GCN)
* :mod:`stviz.temporal`       multi-scale TCNs and EfficientGCN's temporal layers
* :mod:`stviz.ops`            the learnable temporal shift op (C++/CUDA, pure-PyTorch fallback)
* :mod:`stviz.shift`          Shift-GCN's learnable shift module and Shift_tcn
* :mod:`stviz.channel`        EfficientGCN's attention modules, channel cost arithmetic
* :mod:`stviz.multiscale`     MS-G3D's multi-scale and G3D blocks
* :mod:`stviz.tsm`            TSM's temporal shift
* :mod:`stviz.models`         the full models
* :mod:`stviz.official`       compatibility with the original code and checkpoints
* :mod:`stviz.cost`           parameters, FLOPs/MACs and latency; :mod:`stviz.contrast` the side-by-side table
* :mod:`stviz.viz`, :mod:`stviz.widgets`, :mod:`stviz.receptive_field`  what the notebooks draw
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["set_seed", "__version__"]


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch so a notebook cell gives the same numbers every run."""
    import random  # imported here so that ``import stviz`` stays light

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
