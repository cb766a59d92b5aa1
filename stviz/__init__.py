"""stviz: take apart how skeleton GCNs model joints, frames and channels.

Submodules (import what you need):

* :mod:`stviz.graph`    skeleton layouts, adjacency, partitions, hop distances
* :mod:`stviz.official` compatibility with the original code and checkpoints
"""

from __future__ import annotations

import random

import numpy as np
import torch

__version__ = "0.1.0"

__all__ = ["set_seed", "__version__"]


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch so a notebook cell gives the same numbers every run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
