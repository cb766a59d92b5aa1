"""Measurements that notebook 04 (multi-scale) teaches with: where the powers' weight sits, how large the powers
grow, and which contraction order each MS-G3D layer takes.

* :func:`weight_shares`: for a stack of K (V, V) matrices, the share of a row's weight on the joint and its
  neighbours (hop distance <= 1) and on the ring at exactly k hops.
* :func:`power_magnitudes`: the largest entry of ``(A+I)^k``, ``normalize(A+I)^k`` and ``normalize((A+I)^k)``
  for k = 0..K-1 (why MS-G3D normalises before taking powers).
* :class:`ExplicitOrder`: a block's original contraction order (``block.explicit``) as a module, to count or time.
* :func:`contraction_table`: every graph layer of an MS-G3D model with both orders' multiply-accumulates.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from stviz.cost import model_input
from stviz.graph import normalize_symmetric
from stviz.multiscale import G3DBlock, MultiScaleGraphConv, WindowGraphConv

__all__ = ["weight_shares", "power_magnitudes", "ExplicitOrder", "ContractionRow", "contraction_table"]


def weight_shares(stack: torch.Tensor, hops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over joints of the share of each row's weight near the joint and on its k-hop ring.

    ``stack``: (K, V, V) non-negative matrices, scale k at index k; ``hops``: (V, V) hop distances.
    Returns ``(near, ring)``, each (K,): ``near[k]`` averages ``sum_{d(v,u) <= 1} M_k[v, u] / sum_u M_k[v, u]``
    over all joints v; ``ring[k]`` averages the share on ``d(v, u) == k`` over the joints that have such a ring
    (NaN where none has one).
    """
    if stack.dim() != 3 or stack.shape[1:] != hops.shape or hops.shape[0] != hops.shape[1]:
        raise ValueError(
            f"weight_shares: stack must be (K, V, V) and hops (V, V) with the same V, got stack "
            f"{tuple(stack.shape)} and hops {tuple(hops.shape)}"
        )
    if (stack < 0).any():
        raise ValueError("weight_shares: the matrices must be non-negative (shares of a row's weight)")
    stack, hops = stack.double(), hops.double()
    totals = stack.sum(2)  # (K, V)
    near = ((stack * (hops <= 1)).sum(2) / totals).mean(1)
    ring = []
    for k, m in enumerate(stack):
        has_ring = (hops == k).any(1)
        share = (m * (hops == k)).sum(1) / totals[k]
        ring.append(share[has_ring].mean() if has_ring.any() else torch.tensor(float("nan"), dtype=torch.float64))
    return near, torch.stack(ring)


def power_magnitudes(a_binary: torch.Tensor, num_scales: int) -> dict[str, torch.Tensor]:
    """Largest entry of three ways to build scale k = 0..K-1 from the binary (V, V) graph ``A``, float64, each (K,).

    ``"raw (A+I)^k"`` counts walks and grows like the largest eigenvalue of A+I to the power k;
    ``"normalize(A+I)^k"`` (MS-G3D's powers, normalised before the power) stays <= 1;
    ``"normalize((A+I)^k)"`` (normalised after the power) also stays bounded but is a different matrix.
    """
    if a_binary.dim() != 2 or a_binary.shape[0] != a_binary.shape[1]:
        raise ValueError(f"power_magnitudes: A must be a square (V, V) matrix, got shape {tuple(a_binary.shape)}")
    if num_scales < 1:
        raise ValueError(f"power_magnitudes: num_scales must be >= 1, got {num_scales}")
    a_hat = a_binary.double() + torch.eye(a_binary.shape[0], dtype=torch.float64)
    norm = normalize_symmetric(a_hat)
    raw = [torch.linalg.matrix_power(a_hat, k) for k in range(num_scales)]
    return {
        "raw (A+I)^k": torch.stack([m.abs().max() for m in raw]),
        "normalize(A+I)^k": torch.stack([torch.linalg.matrix_power(norm, k).abs().max() for k in range(num_scales)]),
        "normalize((A+I)^k)": torch.stack([normalize_symmetric(m).abs().max() for m in raw]),
    }


class ExplicitOrder(nn.Module):
    """A block's original order (aggregate every scale, stack scale-major, then the 1x1 conv) as a module.

    ``ExplicitOrder(block)(x) == block.explicit(x)``: lets :func:`stviz.cost.count` and
    :func:`stviz.cost.speed_ratio` see the original order on the block's own weights. (N, C, T, V) -> block's output.
    """

    def __init__(self, block: nn.Module):
        super().__init__()
        if not callable(getattr(block, "explicit", None)):
            raise TypeError(f"ExplicitOrder needs a block with an explicit() method, got {type(block).__name__}")
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block.explicit(x)


@dataclass(frozen=True)
class ContractionRow:
    """One graph layer of an MS-G3D model and what each contraction order costs it, per skeleton sequence."""

    layer: str  # module path, e.g. "stages.0.sgcn.0"
    kind: str  # "MS-GCN" or "G3D w=3" / "G3D w=5"
    block_channels: tuple[int, int]  # the block's input and output channels
    in_channels: int  # channels entering the graph contraction
    out_channels: int  # channels leaving it
    scales: int
    stride: int
    frames: int  # output frames at the model's input length
    aggregate_first: int  # MACs per skeleton sequence (all output frames) in the original order
    project_first: int  # MACs per skeleton sequence with the 1x1 projection first
    chosen: str  # the block's contraction_order

    @property
    def chosen_macs(self) -> int:
        return self.project_first if self.chosen == "project-first" else self.aggregate_first


def contraction_table(model: nn.Module, frames: int = 64) -> list[ContractionRow]:
    """Every MS-GCN and G3D block of ``model`` with both contraction orders' MACs for one skeleton sequence
    (one person) of ``frames`` frames.

    ``model`` follows the stviz model interface (:func:`stviz.cost.model_input`). The output frames of each block are
    read from a forward pass of a copy of the model on the meta device (shapes only, no arithmetic); MACs are the
    blocks' ``contraction_costs()`` (per output frame) times those frames.
    """
    shadow = copy.deepcopy(model).to("meta").eval()
    blocks = {
        name: m
        for name, m in shadow.named_modules()
        if isinstance(m, G3DBlock) or (isinstance(m, MultiScaleGraphConv) and not isinstance(m, WindowGraphConv))
    }
    if not blocks:
        raise ValueError(f"contraction_table: {type(model).__name__} has no MultiScaleGraphConv or G3DBlock")
    out_frames: dict[str, int] = {}
    hooks = [
        m.register_forward_hook(lambda _m, _inp, out, name=name: out_frames.__setitem__(name, out.shape[2]))
        for name, m in blocks.items()
    ]
    try:
        shadow(model_input(model, frames).tensor(device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    rows = []
    for name, m in blocks.items():
        costs = m.contraction_costs()
        gc = m.graph_conv if isinstance(m, G3DBlock) else m
        kind = f"G3D w={gc.window_size}" if isinstance(m, G3DBlock) else "MS-GCN"
        stride = m.windows.window_stride if isinstance(m, G3DBlock) else 1
        t = out_frames[name]
        rows.append(
            ContractionRow(
                name,
                kind,
                (m.in_channels, m.out_channels),
                gc.in_channels,
                gc.out_channels,
                gc.num_scales,
                stride,
                t,
                costs["aggregate-first"] * t,
                costs["project-first"] * t,
                m.contraction_order,
            )  # fmt: skip
        )
    return rows
