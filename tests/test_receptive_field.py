"""Analytic receptive fields against the autograd Jacobian of the real blocks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stviz.receptive_field import (
    conv_frames,
    frame_span,
    jacobian_frames,
    multiscale_frames,
    shift_frames,
    shift_weights,
    stack_frames,
)
from stviz.temporal import (
    MSG3DTemporalConv,
    MultiScaleTemporalConv,
    TemporalBasicLayer,
    TemporalBottleneckLayer,
    TemporalSandglassLayer,
    TemporalSepLayer,
)


def measured(block, t, channels):
    return jacobian_frames(block, t, channels) > 0


@pytest.mark.parametrize("k, s, d", [(3, 1, 1), (5, 2, 1), (3, 1, 3), (9, 3, 2), (1, 2, 1)])
@pytest.mark.parametrize("t", [16, 17])
def test_conv_frames_match_jacobian(k, s, d, t):
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 2, (k, 1), (s, 1), ((k + (k - 1) * (d - 1) - 1) // 2, 0), (d, 1))
    assert torch.equal(measured(conv, t, 2), conv_frames(t, k, s, d))


def test_conv_frames_by_hand():
    mask = conv_frames(6, 3, stride=2)  # pad 1: output t reads 2t-1, 2t, 2t+1
    assert mask.int().tolist() == [[1, 1, 0, 0, 0, 0], [0, 1, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1]]
    assert frame_span(conv_frames(10, 3, dilation=2))[5].tolist() == [3, 7]


@pytest.mark.parametrize(
    "make_block, t, ks, dilations, stride",
    [
        (lambda: MultiScaleTemporalConv(16, 16, 5, dilations=(1, 2), residual=False), 20, 5, (1, 2), 1),
        (lambda: MultiScaleTemporalConv(16, 32, [3, 5], stride=2, dilations=(1, 3)), 21, [3, 5], (1, 3), 2),
        (lambda: MSG3DTemporalConv(12, 12), 18, 3, (1, 2, 3, 4), 1),
    ],
    ids=["ctrgcn", "ctrgcn-strided", "msg3d"],
)
def test_multiscale_frames_match_jacobian(make_block, t, ks, dilations, stride):
    torch.manual_seed(0)  # built here, not at collection: its weights do not depend on which tests ran first
    block = make_block()
    assert torch.equal(measured(block, t, block.in_channels), multiscale_frames(t, ks, dilations, stride))


@pytest.mark.parametrize("stride", [1, 2])
def test_efficientgcn_layers(stride):
    t, k = 19, 5
    single = conv_frames(t, k, stride)
    for block in [TemporalBasicLayer(8, k, stride), TemporalBottleneckLayer(8, k, 4, stride), TemporalSepLayer(8, k)]:
        want = single if stride == 1 or not isinstance(block, TemporalSepLayer) else conv_frames(t, k)
        assert torch.equal(measured(block, t, 8), want), type(block).__name__
    sandglass = TemporalSandglassLayer(8, k, 4, stride)  # two depthwise convs: the field grows to 2(k-1)+1
    assert torch.equal(measured(sandglass, t, 8), stack_frames(conv_frames(t, k), conv_frames(t, k, stride)))


def test_stack_of_blocks_matches_jacobian():
    torch.manual_seed(0)
    t = 24
    stack = nn.Sequential(
        MultiScaleTemporalConv(12, 12, 3, dilations=(1, 2, 3, 4), residual=False),
        MultiScaleTemporalConv(12, 24, 3, stride=2, dilations=(1, 2)),
        TemporalBasicLayer(24, 5, 2),
    )
    want = stack_frames(
        multiscale_frames(t, 3, (1, 2, 3, 4)), multiscale_frames(t, 3, (1, 2), 2), conv_frames(12, 5, 2)
    )
    assert want.shape == (6, 24)
    assert torch.equal(measured(stack, t, 12), want)


def test_shift_weights_match_explicit_formula():
    ypos = torch.tensor([0.0, 0.25, -1.5, 2.75, 40.0])  # includes a shift larger than T
    w = shift_weights(8, ypos)
    assert w.shape == (5, 8, 8)
    assert torch.equal(w[0], torch.eye(8, dtype=torch.float64))
    assert w[1, 2, 2] == 0.75 and w[1, 2, 3] == 0.25
    assert w[2, 3, 1] == 0.5 and w[2, 3, 2] == 0.5 and w[2, 0].sum() == 0  # position -1.5: frames -2, -1 outside
    assert w[4].sum() == 0
    ws = shift_weights(9, torch.tensor([0.0]), stride=2)  # stride 2: position 2t + 0.5
    assert ws.shape == (1, 4, 9) and ws[0, 1, 2] == 0.5 and ws[0, 1, 3] == 0.5


def test_shift_frames_match_jacobian_of_learnable_shift():
    shift_mod = pytest.importorskip("stviz.shift")
    torch.manual_seed(0)
    for stride in (1, 2, 3):
        layer = shift_mod.LearnableTemporalShift(6, stride=stride, init_scale=4.0)
        with torch.no_grad():
            layer.ypos[0] = 1.0  # an integer shift reads one frame only
        assert torch.equal(measured(layer, 17, 6), shift_frames(17, layer.ypos, stride))


def test_jacobian_frames_restores_training_mode_and_sees_batchnorm_in_eval():
    block = TemporalSepLayer(8).train()
    mask = measured(block, 12, 8)
    assert block.training
    assert not mask.all()  # in training mode BN would connect every frame


def test_stack_frames_rejects_mismatched_layers():
    with pytest.raises(ValueError, match="maps 10 frames but the layer before outputs 8"):
        stack_frames(conv_frames(16, 3, 2), conv_frames(10, 3))
