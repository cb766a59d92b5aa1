"""What every stviz model is: the small interface that cost accounting, the contrast table and the trainer read.

A model is a :class:`SkeletonModel`: it takes (N, C, T, V, M) (or (N, I, C, T, V, M) with ``input_branches``
set) and returns logits (N, num_classes), and it carries four attributes:

* ``in_channels``: C, the coordinate channels per joint;
* ``num_joints``: V, the joints of its graph;
* ``input_branches``: I for a multi-branch input (EfficientGCN), ``None`` for one stream;
* ``min_frames``: the fewest frames T its forward accepts.

:class:`LayerStackModel` is the common shape of ST-GCN, CTR-GCN and Shift-GCN: input BatchNorm and person
folding, ``layers`` in sequence, global average pooling, mean over persons, then :meth:`classify`.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.checks import check_nctvm
from stviz.persons import fold_persons, pool_persons

__all__ = ["SkeletonModel", "LayerStackModel", "TEN_LAYERS", "scaled_layers", "INTERFACE", "check_interface"]

# The attributes that cost accounting, the contrast table and the trainer read, with their types.
INTERFACE = {"in_channels": int, "num_joints": int, "input_branches": (int, type(None)), "min_frames": int}

# Stage widths and temporal strides shared by ST-GCN, CTR-GCN and Shift-GCN: 10 layers.
TEN_LAYERS = ((64, 1), (64, 1), (64, 1), (64, 1), (128, 2), (128, 1), (128, 1), (256, 2), (256, 1), (256, 1))


def scaled_layers(base_channels: int = 64) -> tuple[tuple[int, int], ...]:
    """:data:`TEN_LAYERS` with ``base_channels`` first-stage channels (the others keep the ratios 1, 2, 4)."""
    if isinstance(base_channels, bool) or not isinstance(base_channels, int) or base_channels < 1:
        raise ValueError(f"base_channels must be a positive integer, got {base_channels!r}")
    return tuple((width * base_channels // 64, stride) for width, stride in TEN_LAYERS)


def check_interface(model: nn.Module) -> None:
    """Raise ``TypeError`` unless ``model`` carries the :data:`INTERFACE` attributes (a :class:`SkeletonModel`
    does; another module may provide them itself)."""
    wrong = [
        f"{name} (got {getattr(model, name, 'nothing')!r})"
        for name, kind in INTERFACE.items()
        if not isinstance(getattr(model, name, None), kind) or isinstance(getattr(model, name, None), bool)
    ]
    if wrong:
        raise TypeError(
            f"{type(model).__name__} does not provide the model interface: expected in_channels: int, "
            f"num_joints: int, input_branches: int | None, min_frames: int; missing or wrong: {', '.join(wrong)}. "
            "Subclass stviz.models.SkeletonModel."
        )


class SkeletonModel(nn.Module):
    """Base class of every model: the interface attributes and the input check. Subclasses call
    ``super().__init__(in_channels, num_joints)`` and :meth:`check_input` first in ``forward``."""

    input_branches: int | None = None
    min_frames: int = 1
    num_persons: int | None = None  # the persons M an input must have; None: any (persons share the input BN)

    def __init__(self, in_channels: int, num_joints: int):
        super().__init__()
        self.in_channels, self.num_joints = in_channels, num_joints

    def check_input(self, x: torch.Tensor) -> None:
        """Shape, dtype (the weights'), batch and frame checks, with errors naming expected and got."""
        check_nctvm(
            x,
            self.in_channels,
            self.num_joints,
            type(self).__name__,
            branches=self.input_branches,
            weight=self,
            min_frames=self.min_frames,
            persons=self.num_persons,
        )


class LayerStackModel(SkeletonModel):
    """``data_bn`` and person folding, ``layers`` in sequence, GAP, mean over persons, :meth:`classify`.

    Subclasses set ``data_bn`` (M*V*C or V*C features), ``layers`` (an ``nn.ModuleList`` of blocks mapping
    (N*M, C, T, V) to (N*M, C', T', V)), ``dropout`` and ``fc``. x: (N, C, T, V, M) -> (N, num_classes).
    """

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """The head: (N, C) pooled features -> (N, num_classes)."""
        return self.fc(self.dropout(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        n = x.shape[0]
        x = fold_persons(x, self.data_bn)  # (N*M, C, T, V)
        for layer in self.layers:
            x = layer(x)
        return self.classify(pool_persons(x, n))
