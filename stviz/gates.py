"""Attention gates read from a trained model with forward hooks, and their statistics over labelled clips.

EfficientGCN's ST-Joint attention multiplies each feature by a frame gate (N, C, T, 1) times a joint gate
(N, C, 1, V) before a BatchNorm and a residual sum (:class:`stviz.channel.AttentionLayer`). A gate's absolute size
is therefore not a joint's relevance: a constant per-joint factor is a fixed rescaling that the BatchNorm and the
next layer absorb. What a gate *reacts to* shows in its contrast between classes.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.channel import SpatialTemporalJointAttention

__all__ = ["record_joint_gates", "class_means", "gate_contrast"]


def record_joint_gates(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run ``model(x)`` without gradients and return, for every :class:`SpatialTemporalJointAttention` inside it
    (keyed by its name in ``model.named_modules()``), the joint gate it applied, averaged over channels: (N, V)."""
    modules = {name: m for name, m in model.named_modules() if isinstance(m, SpatialTemporalJointAttention)}
    if not modules:
        raise ValueError(f"{type(model).__name__} has no SpatialTemporalJointAttention module to read gates from")
    gates: dict[str, torch.Tensor] = {}

    def recorder(name: str):
        def hook(module: SpatialTemporalJointAttention, args, output) -> None:
            gates[name] = module.factors(args[0])[1][:, :, 0].mean(1)  # (N, C, 1, V) -> (N, V)

        return hook

    handles = [m.register_forward_hook(recorder(name)) for name, m in modules.items()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return gates


def class_means(values: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Mean of ``values`` (N, ...) over the samples of each class: (num_classes, ...)."""
    if labels.shape != values.shape[:1]:
        raise ValueError(f"labels must have shape ({values.shape[0]},), one per sample, got {tuple(labels.shape)}")
    counts = torch.bincount(labels, minlength=num_classes)
    if len(counts) > num_classes or (counts == 0).any():
        raise ValueError(f"every class 0..{num_classes - 1} needs at least one sample, got counts {counts.tolist()}")
    return torch.stack([values[labels == k].mean(0) for k in range(num_classes)])


def gate_contrast(gates: torch.Tensor, labels: torch.Tensor, a: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class contrast of per-sample gates (N, V): mean over class ``a`` minus mean over class ``b``, and the
    standard error of that difference (Welch): two (V,) tensors."""
    ga, gb = gates[labels == a], gates[labels == b]
    if len(ga) < 2 or len(gb) < 2:
        raise ValueError(f"classes {a} and {b} need at least 2 samples each, got {len(ga)} and {len(gb)}")
    return ga.mean(0) - gb.mean(0), (ga.var(0) / len(ga) + gb.var(0) / len(gb)).sqrt()
