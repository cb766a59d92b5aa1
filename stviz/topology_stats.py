"""Statistics of CTR-GCN's refined topologies over many clips: what a trained model's refinement depends on.

Every function takes plain tensors, so a claim about a learned topology is a number computed over a test set.
Matrices follow CTR-GCN's convention: ``M[..., u, v]`` is what target joint u receives from source joint v, so
row u is what u receives and column v is what v sends.
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.spatial import ChannelTopologyUnit

__all__ = [
    "unit_inputs",
    "unit_refinements",
    "row_column_shares",
    "class_difference",
    "split_half_difference",
    "class_share",
    "channel_cosines",
    "refinement_to_shared_ratio",
]


def _check_labels(values: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or len(labels) != len(values):
        raise ValueError(f"labels must have shape ({len(values)},) to match values, got {tuple(labels.shape)}")
    return labels


def unit_inputs(
    model: nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, list[tuple[ChannelTopologyUnit, torch.Tensor]]]:
    """``model(x)`` and every CTR-GCN unit of ``model`` in forward order, with the input (N, C_in, T, V) it receives.

    Forward hooks record the inputs while the model runs once without grad; the output (e.g. logits) comes back too,
    so one pass gives both.
    """
    units = [m for m in model.modules() if isinstance(m, ChannelTopologyUnit)]
    if not units:
        raise ValueError(f"{type(model).__name__} has no ChannelTopologyUnit (expected a CTR-GCN model)")
    inputs: dict[int, torch.Tensor] = {}

    def record(index: int):
        def hook(module, args, output) -> None:  # returns None: the output is left as it is
            inputs.setdefault(index, args[0])

        return hook

    hooks = [unit.register_forward_hook(record(i)) for i, unit in enumerate(units)]
    try:
        with torch.no_grad():
            output = model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return output, [(unit, inputs[i]) for i, unit in enumerate(units)]


def unit_refinements(
    model: nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, list[tuple[ChannelTopologyUnit, torch.Tensor, torch.Tensor]]]:
    """``model(x)``, and every CTR-GCN unit of ``model`` with its input and its refinement ``alpha * T_kc(x_n)``.

    One ``(unit, input, refinement)`` triple per unit in forward order; input (N, C_in, T, V) as recorded by
    :func:`unit_inputs`; refinement (N, K, C_out, V, V), rows are targets: the unit's ``topologies`` of its input
    minus its shared ``PA``.
    """
    output, pairs = unit_inputs(model, x)
    with torch.no_grad():
        return output, [(u, h, u.topologies(h) - u.topology[None, :, None]) for u, h in pairs]


def row_column_shares(M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Shares of the variance of each (V, V) matrix explained by its row means and by its column means.

    M: (..., V, V) -> two (...) tensors in [0, 1]. A matrix that only varies by row (``M[u, v] = r[u]``: each
    target receives its own amount from every source) has shares (1, 0); one that only varies by column, (0, 1).
    """
    if M.ndim < 2 or M.shape[-1] != M.shape[-2]:
        raise ValueError(f"M must have shape (..., V, V), got {tuple(M.shape)}")
    centred = M - M.mean((-1, -2), keepdim=True)
    total = centred.pow(2).sum((-1, -2)).clamp_min(1e-30)
    rows = centred.mean(-1).pow(2).sum(-1) * M.shape[-1] / total
    columns = centred.mean(-2).pow(2).sum(-1) * M.shape[-2] / total
    return rows, columns


def class_difference(values: torch.Tensor, labels, first: int, second: int) -> torch.Tensor:
    """Mean of ``values`` (N, ...) over the clips of class ``first`` minus the mean over class ``second``: (...)."""
    labels = _check_labels(values, labels)
    for c in (first, second):
        if not (labels == c).any():
            raise ValueError(f"no clip of class {c} in labels")
    return values[labels == first].mean(0) - values[labels == second].mean(0)


def split_half_difference(values: torch.Tensor, labels, cls: int) -> torch.Tensor:
    """The noise floor of :func:`class_difference`: first half minus second half of class ``cls``'s clips: (...)."""
    labels = _check_labels(values, labels)
    index = torch.nonzero(labels == cls).flatten()
    if len(index) < 2:
        raise ValueError(f"class {cls} needs at least 2 clips to split, got {len(index)}")
    half = len(index) // 2
    return values[index[:half]].mean(0) - values[index[half : 2 * half]].mean(0)


def class_share(values: torch.Tensor, labels) -> float:
    """Share of the variance of ``values`` (N, ...) across clips that the class explains (between-class / total)."""
    labels = _check_labels(values, labels)
    flat = values.reshape(len(values), -1)
    flat = flat - flat.mean(0)
    _, group = torch.unique(labels, return_inverse=True)
    one_hot = torch.nn.functional.one_hot(group).to(flat.dtype)  # (N, classes)
    sums = one_hot.T @ flat  # (classes, D): per-class sums of the centred values
    between = (sums.pow(2).sum(1) / one_hot.sum(0)).sum()  # sum over classes of n_c * |class mean|^2
    return float(between / flat.pow(2).sum().clamp_min(1e-30))


def channel_cosines(M: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between the centred (V, V) matrices of every pair of channels: (C, V, V) -> (C, C)."""
    if M.ndim != 3 or M.shape[-1] != M.shape[-2]:
        raise ValueError(f"M must have shape (C, V, V), got {tuple(M.shape)}")
    flat = M.reshape(len(M), -1)
    flat = torch.nn.functional.normalize(flat - flat.mean(1, keepdim=True), dim=1)
    return flat @ flat.T


def refinement_to_shared_ratio(refinement: torch.Tensor, A: torch.Tensor) -> float:
    """Mean over clips, subsets and channels of ``||alpha T_kc(x_n)||_F / ||A_k||_F``.

    refinement: (N, K, C, V, V) from :func:`unit_refinements`; A: (K, V, V), the normalised partition.
    """
    if refinement.ndim != 5 or refinement.shape[1] != A.shape[0] or refinement.shape[-2:] != A.shape[-2:]:
        raise ValueError(f"expected refinement (N, K, C, V, V) and A (K, V, V), got {tuple(refinement.shape)}, "
                         f"{tuple(A.shape)}")  # fmt: skip
    size = torch.linalg.matrix_norm(refinement) / torch.linalg.matrix_norm(A)[None, :, None]
    return float(size.mean())
