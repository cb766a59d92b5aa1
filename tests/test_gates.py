"""stviz.gates: joint gates read with hooks equal the gates the attention applies; class statistics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stviz import set_seed
from stviz.channel import AttentionLayer, SpatialTemporalJointAttention
from stviz.gates import class_means, gate_contrast, record_joint_gates


def _model() -> nn.Sequential:
    set_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 1),
        AttentionLayer(8, SpatialTemporalJointAttention(8, reduction=2), "relu"),
        AttentionLayer(8, SpatialTemporalJointAttention(8, reduction=4), "relu"),
    ).eval()


def test_record_joint_gates_matches_each_attention_input():
    model = _model()
    x = torch.randn(5, 3, 10, 25)
    gates = record_joint_gates(model, x)
    assert list(gates) == ["1.attention", "2.attention"]
    with torch.no_grad():
        inner = model[0](x)
        want_first = model[1].attention.factors(inner)[1][:, :, 0].mean(1)  # (N, V)
        want_second = model[2].attention.factors(model[1](inner))[1][:, :, 0].mean(1)
    torch.testing.assert_close(gates["1.attention"], want_first)
    torch.testing.assert_close(gates["2.attention"], want_second)
    assert gates["1.attention"].shape == (5, 25)
    assert not model[1].attention._forward_hooks  # hooks are removed


def test_record_joint_gates_needs_an_attention_module():
    with pytest.raises(ValueError, match="no SpatialTemporalJointAttention"):
        record_joint_gates(nn.Conv2d(3, 3, 1), torch.randn(1, 3, 4, 25))


def test_class_means_and_contrast():
    values = torch.tensor([[1.0, 0.0], [3.0, 2.0], [10.0, 10.0], [14.0, 10.0]])
    labels = torch.tensor([0, 0, 1, 1])
    torch.testing.assert_close(class_means(values, labels, 2), torch.tensor([[2.0, 1.0], [12.0, 10.0]]))
    diff, error = gate_contrast(values, labels, 1, 0)
    torch.testing.assert_close(diff, torch.tensor([10.0, 9.0]))
    # Welch: sqrt(var_a / n_a + var_b / n_b) with unbiased variances (8 and 2; 0 and 2)
    torch.testing.assert_close(error, torch.tensor([(8 / 2 + 2 / 2) ** 0.5, (0 / 2 + 2 / 2) ** 0.5]))


def test_class_statistics_reject_missing_classes_and_bad_labels():
    values = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="every class 0..2 needs at least one sample"):
        class_means(values, torch.tensor([0, 0, 1]), 3)
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        class_means(values, torch.tensor([0, 1]), 2)
    with pytest.raises(ValueError, match="at least 2 samples each"):
        gate_contrast(values, torch.tensor([0, 0, 1]), 0, 1)
