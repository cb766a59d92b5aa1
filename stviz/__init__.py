"""stviz: take apart how skeleton GCNs model joints, frames and channels.

Submodules (import what you need; nothing heavy is imported here):

* :mod:`stviz.graph`          adjacency, partitions, hop distances on the layouts of :mod:`stviz.layouts`
* :mod:`stviz.data`           synthetic actions, the NTU reader and preprocessing, bone and motion streams
* :mod:`stviz.train`          the trainer (originals' recipes, streams, torchrun); :mod:`stviz.baselines` small models
* :mod:`stviz.ensemble`       multi-stream score fusion; :mod:`stviz.zoo` trained models of the five families
* :mod:`stviz.spatial`        graph convolutions (ST-GCN, EfficientGCN, CTR-GCN, Shift-GCN)
* :mod:`stviz.layers`, :mod:`stviz.init`, :mod:`stviz.persons`, :mod:`stviz.checks`  shared pieces, init schemes,
  person folding and input checks
* :mod:`stviz.temporal`       multi-scale TCNs and EfficientGCN's temporal layers
* :mod:`stviz.ops`            the learnable temporal shift op (C++/CUDA, pure-PyTorch fallback)
* :mod:`stviz.shift`          Shift-GCN's learnable shift module and ShiftTCN
* :mod:`stviz.channel`        EfficientGCN's attention modules, channel cost arithmetic
* :mod:`stviz.multiscale`     MS-G3D's multi-scale and G3D blocks
* :mod:`stviz.tsm`            TSM's temporal shift
* :mod:`stviz.models`         one module per family: its layer and its model; ``build_model(name)``
* :mod:`stviz.official`       compatibility with the original code and checkpoints
* :mod:`stviz.cost`           parameters, FLOPs/MACs and latency; :mod:`stviz.contrast` the side-by-side table
* :mod:`stviz.cpu`            the CPU's vendor, and which library runs a 1x1 convolution fastest on it
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
