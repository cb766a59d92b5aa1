"""Persons in and out of the batch: every model folds (N, C, T, V, M) into (N*M, C, T, V) person-minor
(row ``n*M + m``) and pools back to one vector per sample by averaging over persons."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["fold_persons", "unfold_persons", "mean_over_persons", "pool_persons"]


def fold_persons(x: torch.Tensor, data_bn: nn.BatchNorm1d | None = None) -> torch.Tensor:
    """Input BatchNorm (optional), then persons into the batch: (N, C, T, V, M) -> (N*M, C, T, V).

    ``data_bn`` has M*V*C features (one per person, joint and channel, index ``m*V*C + v*C + c``: CTR-GCN,
    Shift-GCN, MS-G3D) or V*C features (shared by the persons: ST-GCN and the baselines).
    """
    n, c, t, v, m = x.shape
    if data_bn is not None:
        if data_bn.num_features == m * v * c:
            x = data_bn(x.permute(0, 4, 3, 1, 2).reshape(n, m * v * c, t))  # (N, M*V*C, T)
        elif data_bn.num_features == v * c:
            x = data_bn(x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t))  # (N*M, V*C, T)
        else:
            persons = data_bn.num_features / (v * c)
            expected = f"M={persons:g} persons" if persons == int(persons) else "another C or V"
            raise ValueError(
                f"x has M={m} persons (shape (N, C, T, V, M) = {tuple(x.shape)}), but the input BatchNorm has "
                f"{data_bn.num_features} features: it expects {expected} (M*V*C features) or V*C={v * c} features"
            )
        return x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)  # (N*M, C, T, V)
    return x.permute(0, 4, 1, 2, 3).reshape(n * m, c, t, v)  # (N*M, C, T, V)


def _check_samples(x: torch.Tensor, n: int, where: str) -> None:
    """The batch of ``x`` must hold ``n`` samples of M >= 1 persons each: N*M rows."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or x.shape[0] % n:
        raise ValueError(f"{where}: x has {x.shape[0]} rows, expected N*M rows for N={n!r} samples")


def unfold_persons(x: torch.Tensor, n: int) -> torch.Tensor:
    """Persons back out of the batch: (N*M, C, T, V) -> (N, C, T, V, M)."""
    _check_samples(x, n, "unfold_persons")
    return x.view(n, -1, *x.shape[1:]).permute(0, 2, 3, 4, 1)


def mean_over_persons(x: torch.Tensor, n: int) -> torch.Tensor:
    """Average person-minor rows back to one per sample: (N*M, ...) -> (N, ...)."""
    _check_samples(x, n, "mean_over_persons")
    return x.reshape(n, -1, *x.shape[1:]).mean(1)


def pool_persons(x: torch.Tensor, n: int) -> torch.Tensor:
    """Global average over (T, V), then over persons: (N*M, C, T, V) -> (N, C)."""
    _check_samples(x, n, "pool_persons")
    return x.view(n, -1, x.shape[1], x.shape[2] * x.shape[3]).mean(3).mean(1)
