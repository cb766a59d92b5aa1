"""Persons in and out of the batch: the input BatchNorm's two layouts (pitfall 13) against an explicit loop."""

import pytest
import torch
from torch import nn

from stviz import set_seed
from stviz.persons import fold_persons, pool_persons, unfold_persons


def _eval_batchnorm(features: int) -> nn.BatchNorm1d:
    """An eval-mode BatchNorm1d whose every feature has its own statistics and affine map."""
    bn = nn.BatchNorm1d(features).eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(features))
        bn.running_var.copy_(torch.rand(features) + 0.5)
        bn.weight.copy_(torch.randn(features))
        bn.bias.copy_(torch.randn(features))
    return bn


@pytest.mark.parametrize("per_person", [True, False], ids=["M*V*C (CTR-GCN, Shift-GCN, MS-G3D)", "V*C (ST-GCN)"])
def test_input_batchnorm_feature_index(per_person):
    set_seed(0)
    n, c, t, v, m = 2, 3, 4, 5, 2
    x = torch.randn(n, c, t, v, m)
    bn = _eval_batchnorm(m * v * c if per_person else v * c)
    folded = fold_persons(x, bn)
    expected = torch.empty(n * m, c, t, v)
    for i in range(n):
        for p in range(m):
            for j in range(v):
                for k in range(c):
                    f = p * v * c + j * c + k if per_person else j * c + k  # feature m*V*C + v*C + c, or v*C + c
                    scale = bn.weight[f] / torch.sqrt(bn.running_var[f] + bn.eps)
                    expected[i * m + p, k, :, j] = (x[i, k, :, j, p] - bn.running_mean[f]) * scale + bn.bias[f]
    torch.testing.assert_close(folded, expected.detach())


def test_fold_unfold_and_pool_are_person_minor():
    x = torch.randn(2, 3, 4, 5, 2)
    folded = fold_persons(x)
    torch.testing.assert_close(folded[1], x[0, ..., 1])  # row n*M + m
    torch.testing.assert_close(unfold_persons(folded, 2), x)
    torch.testing.assert_close(pool_persons(folded, 2), x.mean((2, 3)).mean(-1))  # (N, C): over T, V, then persons
