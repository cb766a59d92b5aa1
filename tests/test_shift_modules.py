"""Shift-GCN's temporal modules: LearnableTemporalShift, ShiftTCN and their stviz.official adapters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stviz import official, ops, set_seed
from stviz.models.shiftgcn import ShiftGCNUnit
from stviz.shift import LearnableTemporalShift, ShiftTCN

STRIDES = (1, 2, 3)


def perturbed(module: nn.Module) -> nn.Module:
    """Move every BN statistic and parameter away from its init so no path is inert."""
    set_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))
        for name, b in module.named_buffers():
            if name.endswith("running_var"):
                b.uniform_(0.5, 2.0)
            elif name.endswith("running_mean"):
                b.normal_()
    return module.eval()


@pytest.mark.parametrize("stride", STRIDES)
def test_shift_module_calls_the_op(stride):
    set_seed(0)
    shift = LearnableTemporalShift(6, stride=stride, init_scale=2.5)
    assert shift.ypos.abs().max() <= 2.5 and [name for name, _ in shift.named_parameters()] == ["ypos"]
    x = torch.randn(2, 6, 11, 5)
    out = shift(x)
    assert out.shape == (2, 6, 11 // stride, 5)
    torch.testing.assert_close(out, ops.temporal_shift_reference(x, shift.ypos.detach(), stride=stride))


def test_shift_module_rejects_wrong_channels_and_options():
    shift = LearnableTemporalShift(6)
    with pytest.raises(ValueError, match="C=4 channels, expected 6"):
        shift(torch.randn(2, 4, 9, 5))
    with pytest.raises(ValueError, match="grad_mode"):
        LearnableTemporalShift(6, grad_mode="sign")
    with pytest.raises(ValueError, match="stride"):
        LearnableTemporalShift(6, stride=0)


@pytest.mark.parametrize("grad_mode", ["exact", "official"])
def test_shift_module_gradients(grad_mode):
    set_seed(0)
    shift = LearnableTemporalShift(4, stride=2, grad_mode=grad_mode)
    x = torch.randn(3, 4, 10, 5)
    shift(x).square().sum().backward()
    ypos = shift.ypos.detach().clone().requires_grad_()
    ops.temporal_shift_reference(x, ypos, stride=2).square().sum().backward()
    if grad_mode == "exact":
        torch.testing.assert_close(shift.ypos.grad, ypos.grad, rtol=1e-4, atol=1e-5)
    else:
        torch.testing.assert_close(shift.ypos.grad, 0.01 * ypos.grad.sign())


@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("channels", [(8, 8), (6, 10)])
def test_shift_tcn_equals_its_equation(stride, channels):
    c_in, c_out = channels
    set_seed(0)
    block = perturbed(ShiftTCN(c_in, c_out, stride=stride))
    x = torch.randn(2, c_in, 13, 5)
    h = block.bn_in(x)
    h = ops.temporal_shift_reference(h, block.shift_in.ypos)
    h = torch.relu(nn.functional.conv2d(h, block.pointwise.weight, block.pointwise.bias))  # full T, then stride
    h = ops.temporal_shift_reference(h, block.shift_out.ypos, stride=stride)
    want = block.bn_out(h)
    with torch.no_grad():
        got = block(x)
    assert got.shape == (2, c_out, 13 // stride, 5)
    torch.testing.assert_close(got, want.detach())
    with pytest.raises(ValueError, match=f"expected {c_in}"):
        block(torch.randn(2, c_in + 1, 13, 5))


def test_shift_tcn_initialisation():
    set_seed(0)
    block = ShiftTCN(64, 64)
    assert block.shift_in.ypos.abs().max() <= 1 and block.shift_out.ypos.abs().max() <= 1
    fan_out_std = (2 / 64) ** 0.5  # kaiming_normal, mode fan_out, 1x1 kernel
    assert 0.9 < block.pointwise.weight.std().item() / fan_out_std < 1.1


@pytest.mark.parametrize("stride", STRIDES)
def test_official_shift_tcn_keys_and_grad_mode(stride):
    original_keys = {
        "bn.weight": (32,),
        "temporal_linear.weight": (32, 32, 1, 1),
        "temporal_linear.bias": (32,),
        "shift_in.xpos": (32,),
        "shift_in.ypos": (32,),
        "shift_out.xpos": (32,),
        "shift_out.ypos": (32,),
        "bn2.running_var": (32,),
    }
    kwargs = dict(in_channels=32, out_channels=32, kernel_size=9, stride=stride)
    module = official.build("shiftgcn", "Shift_tcn", **kwargs)
    ours = module.state_dict()
    for key, shape in original_keys.items():
        (mapped,) = official.convert_state_dict(
            "shiftgcn", "Shift_tcn", {key: torch.zeros(shape)}, strict=False, **kwargs
        )
        assert ours[mapped].shape == shape, key
    with pytest.raises(ValueError, match="leftover: original 'conv.weight'"):
        official.convert_state_dict("shiftgcn", "Shift_tcn", {"conv.weight": torch.zeros(1)}, **kwargs)
    assert module.shift_in.grad_mode == module.shift_out.grad_mode == "official"
    out = module(torch.randn(4, 32, 12, 25))
    assert out.shape == (4, 32, 12 // stride, 25)


def test_official_units_add_an_inert_xpos_and_compute_the_same():
    set_seed(0)
    unit = official.build("shiftgcn", "TCN_GCN_unit", in_channels=8, out_channels=16, stride=2)
    core = ShiftGCNUnit(8, 16, 2, num_joints=25, grad_mode="official")
    xpos = {name for name in unit.state_dict() if name.endswith("xpos")}
    assert xpos == {"tcn1.shift_in.xpos", "tcn1.shift_out.xpos"}
    core.load_state_dict({k: v for k, v in unit.state_dict().items() if k not in xpos})
    x = torch.randn(2, 8, 12, 25)
    unit(x).square().sum().backward()
    core(x).square().sum().backward()
    torch.testing.assert_close(unit(x), core(x))
    assert torch.equal(unit.tcn1.shift_out.ypos.grad, core.tcn1.shift_out.ypos.grad)
    assert torch.equal(unit.tcn1.shift_in.xpos.grad, torch.zeros(16))


def test_official_shift_demo_gradients():
    """The original's demo: Shift(5, stride=2) on ones(1, 5, 8, 4) gives ypos.grad in {±0.01, 1e-4}, xpos.grad 0."""
    set_seed(0)
    shift = official.build("shiftgcn", "Shift", channel=5, stride=2, init_scale=3)
    shift(torch.ones(1, 5, 8, 4)).sum().backward()
    assert torch.isin(shift.ypos.grad, torch.tensor([0.01, -0.01, 1e-4])).all()
    assert torch.equal(shift.xpos.grad, torch.zeros(5))
    with torch.no_grad():
        shift.ypos.copy_(torch.tensor([20.0, -20.0, 0.25, -0.75, 1.5]))  # the first two read only padding
    shift.zero_grad()
    shift(torch.ones(1, 5, 8, 4)).sum().backward()
    torch.testing.assert_close(shift.ypos.grad[:2], torch.full((2,), 1e-4))
