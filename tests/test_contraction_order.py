"""MS-G3D's contraction order: chosen per layer from the channel counts, never more MACs than the original order.

``W · concat_k(A_k x)`` can aggregate first (the original) or project first; each block takes project-first only
when :func:`stviz.multiscale.contraction_macs` says it is cheaper. Here the MACs that :mod:`stviz.cost` counts
(``torch.utils.flop_counter``) in every MS-G3D layer configuration are compared with the original order's, which
each block's ``explicit()`` computes, and with the closed-form counts.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stviz.cost import count, count_model
from stviz.graph import SkeletonGraph
from stviz.models import MSG3D
from stviz.multiscale import (
    G3DBlock,
    MultiScaleGraphConv,
    MultiWindowG3D,
    choose_contraction_order,
    contraction_macs,
)

A = SkeletonGraph("ntu-rgb+d").binary_adjacency()
N, T = 2, 8


class Explicit(nn.Module):
    """Counts a block's ``explicit()``: the original order and its intermediate tensors."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block.explicit(x)


def _macs(module: nn.Module, x: torch.Tensor) -> int:
    return count(module.eval(), x).macs


def _check_same_result(block: nn.Module, x: torch.Tensor) -> None:
    """Either order computes what ``explicit()`` computes, in eval (BatchNorm folded) and in train mode."""
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.1 * torch.randn_like(p))  # an asymmetric learned offset, weights away from their init
        for m in block.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    for train in (False, True):
        block.train(train)
        with torch.no_grad():
            torch.testing.assert_close(block(x), block.explicit(x), atol=1e-4, rtol=1e-4)


# Every graph block configuration of MS-G3D's NTU model (13 GCN scales, 6 G3D scales, widths 96/192/384), and two
# extra widths: a narrowing layer (where project-first is cheaper) and 64 -> 64.
GCN_CONFIGS = [(3, 96), (96, 96), (192, 192), (96, 48), (64, 64)]
G3D_CONFIGS = [(3, 96, 1, 96), (96, 192, 2, None), (192, 384, 2, None), (64, 64, 1, None)]


@pytest.mark.parametrize("c_in, c_out", GCN_CONFIGS)
def test_graph_conv_macs_never_above_the_original_order(c_in, c_out):
    block = MultiScaleGraphConv(c_in, c_out, A, 13)
    x = torch.randn(N, c_in, T, 25)
    ours, original = _macs(block, x), _macs(Explicit(block), x)
    assert ours <= original
    costs = block.contraction_costs()
    assert ours == N * T * costs[block.contraction_order]  # the counted MACs are the closed form's
    assert original == N * T * costs["aggregate-first"]
    assert block.contraction_order == ("project-first" if c_out < c_in else "aggregate-first")
    if block.contraction_order == "project-first":
        assert ours < original
    _check_same_result(block, x)


@pytest.mark.parametrize("c_in, c_out, stride, graph_channels", G3D_CONFIGS)
@pytest.mark.parametrize("window", [3, 5])
def test_g3d_macs_never_above_the_original_order(c_in, c_out, stride, graph_channels, window):
    block = G3DBlock(c_in, c_out, A, 6, window, stride, graph_channels=graph_channels)
    x = torch.randn(N, c_in, T, 25)
    ours, original = _macs(block, x), _macs(Explicit(block), x)
    assert ours <= original
    frames = (T - 1) // stride + 1
    collapse = N * frames * 25 * block.collapse.out_channels * block.collapse.in_channels * window
    costs = block.contraction_costs()
    assert ours == N * frames * costs[block.contraction_order] + collapse
    assert original == N * frames * costs["aggregate-first"] + collapse
    assert block.contraction_order == choose_contraction_order(*block._contraction_sizes())
    # the first layer (3 coordinates -> 96 channels) keeps the original order: projecting first would aggregate
    # 96 channels x 6 scales instead of 3
    if c_in == 3:
        assert block.contraction_order == "aggregate-first"
    _check_same_result(block, x)


def test_project_first_only_when_cheaper():
    for c_in, c_out in [(3, 96), (96, 96), (96, 48), (8, 4)]:
        for window, stride in [(1, 1), (3, 1), (3, 2), (5, 2)]:
            costs = contraction_macs(c_in, c_out, 6, 25, window, stride)
            order = choose_contraction_order(c_in, c_out, 6, 25, window, stride)
            cheaper = costs["project-first"] < costs["aggregate-first"]
            assert order == ("project-first" if cheaper else "aggregate-first")


def test_multiwindow_and_full_model_macs_never_above_the_original_order():
    block = MultiWindowG3D(96, 192, A, 6, window_stride=2)
    x = torch.randn(N, 96, T, 25)
    assert _macs(block, x) < _macs(Explicit(block), x)  # both windows project first at stride 2

    model = MSG3D()
    ours = count_model(model, frames=16).macs
    for m in model.modules():  # every graph block back to the original order
        if isinstance(m, MultiScaleGraphConv | G3DBlock):
            m.contraction_order = "aggregate-first"
    assert ours <= count_model(model, frames=16).macs
