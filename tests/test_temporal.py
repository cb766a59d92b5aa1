"""Temporal blocks against explicit references, over widths, strides, dilations, kernel sizes and residual modes.

The references below are written tap by tap (a temporal convolution is a sum over kernel taps of a channel mix of
shifted frames), with BatchNorm in eval mode written out, so they share no code with ``stviz.temporal``.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from stviz import cpu, official
from stviz.layers import make_activation, reference_kernels
from stviz.temporal import (
    MSG3DTemporalConv,
    MultiScaleTemporalConv,
    TemporalBasicLayer,
    TemporalBottleneckLayer,
    TemporalSandglassLayer,
    TemporalSepLayer,
)

TOL = dict(atol=1e-5, rtol=1e-5)


def perturb(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights and BN statistics, so no path is inert; eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if not t.is_floating_point():
                continue
            r = torch.rand(t.shape, generator=g)
            t.copy_(0.5 + r if name.endswith("running_var") else (r - 0.5) * 0.6)
    return module.eval()


# ---- explicit references ---------------------------------------------------------------------------------------


def ref_temporal_conv(x, weight, bias, stride=1, dilation=1, groups=1):
    """out[n, o, t, v] = b[o] + sum_j sum_i w[o, i, j] x[n, i, t*s + (j*d - pad), v], zero outside [0, T)."""
    n, c, t, v = x.shape
    k = weight.shape[2]
    pad = (k + (k - 1) * (dilation - 1) - 1) // 2
    t_out = (t + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    out = torch.zeros(n, weight.shape[0], t_out, v, dtype=x.dtype)
    per_group_in, per_group_out = c // groups, weight.shape[0] // groups
    for to in range(t_out):
        for j in range(k):
            ti = to * stride + j * dilation - pad
            if not 0 <= ti < t:
                continue
            for g in range(groups):
                xi = x[:, g * per_group_in : (g + 1) * per_group_in, ti]  # (N, Cg, V)
                w = weight[g * per_group_out : (g + 1) * per_group_out, :, j, 0]  # (Og, Cg)
                out[:, g * per_group_out : (g + 1) * per_group_out, to] += torch.einsum("oi,niv->nov", w, xi)
    if bias is not None:
        out += bias[None, :, None, None]
    return out


def ref_bn(x, sd, prefix):
    w, b = sd[prefix + "weight"], sd[prefix + "bias"]
    mean, var = sd[prefix + "running_mean"], sd[prefix + "running_var"]
    return (x - mean[:, None, None]) / torch.sqrt(var[:, None, None] + 1e-5) * w[:, None, None] + b[:, None, None]


def ref_conv_bn(x, sd, conv, bn, stride=1, dilation=1, groups=1):
    y = ref_temporal_conv(x, sd[conv + "weight"], sd.get(conv + "bias"), stride, dilation, groups)
    return ref_bn(y, sd, bn)


def ref_max_pool3(x, stride):
    """Max over frames {t*s - 1, t*s, t*s + 1} inside [0, T)."""
    t = x.shape[2]
    t_out = (t - 1) // stride + 1
    frames = []
    for to in range(t_out):
        lo, hi = max(to * stride - 1, 0), min(to * stride + 2, t)
        frames.append(x[:, :, lo:hi].amax(dim=2))
    return torch.stack(frames, dim=2)


def ref_mstcn(x, sd, kernel_sizes, dilations, stride, residual, act, branch_act, in_eq_out):
    outs = []
    for i, (k, d) in enumerate(zip(kernel_sizes, dilations, strict=True)):
        assert sd[f"branches.{i}.3.conv.weight"].shape[2] == k
        h = branch_act(ref_conv_bn(x, sd, f"branches.{i}.0.", f"branches.{i}.1."))
        outs.append(ref_conv_bn(h, sd, f"branches.{i}.3.conv.", f"branches.{i}.3.bn.", stride, d))
    m = len(dilations)
    h = branch_act(ref_conv_bn(x, sd, f"branches.{m}.0.", f"branches.{m}.1."))
    outs.append(ref_bn(ref_max_pool3(h, stride), sd, f"branches.{m}.4."))
    outs.append(ref_conv_bn(x, sd, f"branches.{m + 1}.0.", f"branches.{m + 1}.1.", stride))
    out = torch.cat(outs, dim=1)
    if residual:
        out = out + (x if in_eq_out and stride == 1 else ref_conv_bn(x, sd, "residual.0.", "residual.1.", stride))
    return act(out)


# ---- multi-scale temporal convolutions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cin, cout, kernel_size, dilations, stride, residual",
    [
        (64, 64, 5, (1, 2), 1, False),  # CTR-GCN inside TCN_GCN_unit
        (48, 48, 3, (1, 2, 3, 4), 1, True),  # the class defaults: identity residual
        (32, 48, [3, 5], (1, 2), 2, True),  # per-dilation kernel sizes, strided conv residual
        (16, 24, 5, (1, 3), 3, True),
        (12, 12, 3, (2,), 2, True),
        (8, 16, 3, (1, 2), 1, True),  # width change at stride 1: conv residual
    ],
)
@pytest.mark.parametrize("t", [16, 17])
def test_ctrgcn_mstcn_matches_reference(cin, cout, kernel_size, dilations, stride, residual, t):
    torch.manual_seed(0)
    block = perturb(MultiScaleTemporalConv(cin, cout, kernel_size, stride, dilations, residual))
    x = torch.randn(2, cin, t, 5)
    ks = [kernel_size] * len(dilations) if isinstance(kernel_size, int) else kernel_size
    want = ref_mstcn(x, block.state_dict(), ks, dilations, stride, residual, lambda y: y, F.relu, cin == cout)
    with torch.no_grad():
        got = block(x)
    assert got.shape == (2, cout, (t - 1) // stride + 1, 5)
    torch.testing.assert_close(got, want, **TOL)
    assert (got < 0).any(), "CTR-GCN's MS-TCN has no activation after the sum"


@pytest.mark.usefixtures("pointwise_kernel")
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("cin, cout, stride", [(8, 12, 1), (8, 8, 2)])
def test_mstcn_training_step_equals_its_branches_one_by_one(momentum, cin, cout, stride):
    """In training the branches' entries may run as one convolution and one BatchNorm over the stacked channels: the
    output, every gradient and every running statistic are those of the branches run one by one."""
    torch.manual_seed(0)
    block = perturb(MultiScaleTemporalConv(cin, cout, 3, stride, (1, 2))).double().train()
    for bn in block.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.momentum = momentum
    reference = copy.deepcopy(block)
    x = torch.randn(2, cin, 9, 5, dtype=torch.float64)
    weight = torch.randn(2, cout, (9 - 1) // stride + 1, 5, dtype=torch.float64)

    def step(module, forward):
        xi = x.clone().requires_grad_(True)
        module.zero_grad(set_to_none=True)
        for _ in range(2):  # twice: the running statistics' second update (momentum None averages over batches)
            y = forward(module, xi)
        (y * weight).sum().backward()
        return [y, xi.grad] + [p.grad for p in module.parameters()] + list(module.buffers())

    def one_by_one(m, xi):
        return m.act(torch.cat([branch(xi) for branch in m.branches], 1) + m.residual(xi))

    for got, want in zip(step(block, lambda m, xi: m(xi)), step(reference, one_by_one), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "cin, cout, dilations, stride, residual, activation",
    [
        (96, 96, (1, 2, 3, 4), 1, True, "relu"),  # the model's default
        (96, 192, (1, 2, 3, 4), 2, True, "relu"),  # stage transition
        (48, 48, (1, 2, 3, 4), 1, True, None),  # the last MS-TCN of sgcn has act = Identity
        (24, 24, (1, 2), 2, False, "leakyrelu"),
    ],
)
def test_msg3d_mstcn_matches_reference(cin, cout, dilations, stride, residual, activation):
    torch.manual_seed(0)
    block = perturb(
        MSG3DTemporalConv(
            cin, cout, 3, stride, dilations, residual, activation=activation, branch_activation=activation
        )
    )
    x = torch.randn(2, cin, 15, 4)
    act = make_activation(activation)
    want = ref_mstcn(x, block.state_dict(), [3] * len(dilations), dilations, stride, residual, act, act, cin == cout)
    with torch.no_grad():
        got = block(x)
    torch.testing.assert_close(got, want, **TOL)
    if activation == "relu":
        assert (got >= 0).all()


def test_msg3d_requires_width_multiple_of_branches():
    with pytest.raises(ValueError, match="divisible by the 6 branches"):
        MSG3DTemporalConv(64, 64)
    with pytest.raises(ValueError, match="kernel sizes"):
        MultiScaleTemporalConv(64, 64, kernel_size=[3, 5, 7], dilations=(1, 2))


def test_initialisation_schemes():
    torch.manual_seed(0)
    ctr = MultiScaleTemporalConv(256, 256, 5, dilations=(1, 2), residual=False)
    bn_weights = torch.cat([m.weight for m in ctr.modules() if isinstance(m, torch.nn.BatchNorm2d)]).detach()
    assert 0.01 < bn_weights.std() < 0.03 and abs(bn_weights.mean() - 1) < 0.01  # N(1, 0.02)
    conv = ctr.branches[0][3].conv
    fan_out = conv.weight.shape[0] * conv.weight.shape[2]
    assert abs(conv.weight.std().item() / (2 / fan_out) ** 0.5 - 1) < 0.1  # kaiming normal, fan-out
    assert torch.all(conv.bias == 0)
    msg = MSG3DTemporalConv(96, 96)
    assert all(torch.all(m.weight == 1) for m in msg.modules() if isinstance(m, torch.nn.BatchNorm2d))


# ---- EfficientGCN temporal layers -------------------------------------------------------------------------------

ACTS = {"swish": lambda y: y * torch.sigmoid(y), "hswish": lambda y: y * F.relu6(y + 3) / 6, "relu": F.relu}


def ref_residual(x, sd, stride, residual):
    if not residual:
        return 0
    return x if stride == 1 else ref_conv_bn(x, sd, "residual.0.", "residual.1.", stride)


@pytest.mark.parametrize("stride, residual, act", [(1, True, "swish"), (2, True, "hswish"), (3, False, "relu")])
@pytest.mark.parametrize("layer", ["basic", "bottleneck", "sep", "sep_e0", "sg"])
def test_efficientgcn_layers_match_reference(layer, stride, residual, act):
    torch.manual_seed(0)
    c, k, t = 16, 5 if stride == 1 else 3, 13
    a = ACTS[act]
    blocks = {
        "basic": lambda: TemporalBasicLayer(c, k, stride, residual, activation=act),
        "bottleneck": lambda: TemporalBottleneckLayer(c, k, 4, stride, residual, activation=act),
        "sep": lambda: TemporalSepLayer(c, k, 2, stride, residual, activation=act),
        "sep_e0": lambda: TemporalSepLayer(c, k, 0, stride, residual, activation=act),
        "sg": lambda: TemporalSandglassLayer(c, k, 4, stride, residual, activation=act),
    }
    block = perturb(blocks[layer]())
    sd = block.state_dict()
    x = torch.randn(2, c, t, 3)
    res = ref_residual(x, sd, stride, residual)
    if layer == "basic":
        want = a(ref_conv_bn(x, sd, "conv.", "bn.", stride) + res)
    elif layer == "bottleneck":
        h = a(ref_conv_bn(x, sd, "reduct_conv.0.", "reduct_conv.1."))
        h = a(ref_conv_bn(h, sd, "conv.0.", "conv.1.", stride))
        want = a(ref_conv_bn(h, sd, "expand_conv.0.", "expand_conv.1.") + res)
    elif layer.startswith("sep"):
        h = x if layer == "sep_e0" else a(ref_conv_bn(x, sd, "expand_conv.0.", "expand_conv.1."))
        h = a(ref_conv_bn(h, sd, "depth_conv.0.", "depth_conv.1.", stride, groups=h.shape[1]))
        want = ref_conv_bn(h, sd, "point_conv.0.", "point_conv.1.") + res  # no activation after the sum
    else:
        h = a(ref_conv_bn(x, sd, "depth_conv1.0.", "depth_conv1.1.", groups=c))
        h = ref_conv_bn(h, sd, "point_conv1.0.", "point_conv1.1.")
        h = a(ref_conv_bn(h, sd, "point_conv2.0.", "point_conv2.1."))
        want = ref_conv_bn(h, sd, "depth_conv2.0.", "depth_conv2.1.", stride, groups=c) + res
    with torch.no_grad():
        got = block(x)
    assert got.shape == (2, c, (t - 1) // stride + 1, 3)
    torch.testing.assert_close(got, want, **TOL)


@pytest.mark.parametrize("stride, residual", [(1, True), (2, True), (1, False)])
@pytest.mark.usefixtures("pointwise_kernel")
def test_sep_layer_eval_keeps_the_expanded_tensor_channels_last(stride, residual, monkeypatch, pointwise_kernel):
    """In eval, where both 1x1 convolutions run as MKL products or both as oneDNN's convolutions, the expanded tensor
    is channels last; the output is contiguous, values and input gradients equal the plain forward's (under
    reference_kernels), and training never takes that path."""
    torch.manual_seed(0)
    block = perturb(TemporalSepLayer(16, 5, 2, stride, residual)).double()
    taken = []
    forward_channels_last = TemporalSepLayer._forward_channels_last
    monkeypatch.setattr(
        TemporalSepLayer, "_forward_channels_last", lambda *a: taken.append(True) or forward_channels_last(*a)
    )
    x = torch.randn(2, 16, 12, 3, dtype=torch.float64)
    weighting = torch.randn(2, 16, (12 - 1) // stride + 1, 3, dtype=torch.float64)

    def value_and_input_grad():
        leaf = x.clone().requires_grad_(True)
        y = block(leaf)
        (y * weighting).sum().backward()
        return y.detach(), leaf.grad

    y, gx = value_and_input_grad()
    with reference_kernels():
        want, wx = value_and_input_grad()
    assert taken == [True]  # under reference_kernels: never
    assert y.is_contiguous()
    torch.testing.assert_close(y, want, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(gx, wx, atol=1e-10, rtol=1e-10)
    block.train()(x)
    assert len(taken) == 1


@pytest.mark.parametrize("stride, residual", [(1, True), (2, True), (1, False)])
def test_sep_layer_trains_channels_last_where_its_1x1_convolutions_run_on_onednn(
    stride, residual, monkeypatch, pointwise_kernel
):
    """With batch statistics, where both 1x1 convolutions run as oneDNN's convolutions, every tensor after the input
    is channels last (never with MKL's products, nor under reference_kernels); the output is contiguous, and values,
    input and weight gradients and the running statistics equal the plain forward's."""
    torch.manual_seed(0)
    x = torch.randn(2, 16, 12, 3, dtype=torch.float64)
    weighting = torch.randn(2, 16, (12 - 1) // stride + 1, 3, dtype=torch.float64)
    layouts = []
    train_channels_last = TemporalSepLayer._train_channels_last
    monkeypatch.setattr(
        TemporalSepLayer, "_train_channels_last", lambda *a: layouts.append(True) or train_channels_last(*a)
    )

    def trained():
        block = perturb(TemporalSepLayer(16, 5, 2, stride, residual)).double().train()
        block.depth_conv[0].register_forward_pre_hook(
            lambda _, inputs: layouts.append(inputs[0].is_contiguous(memory_format=torch.channels_last))
        )
        leaf = x.clone().requires_grad_(True)
        y = block(leaf)
        (y * weighting).sum().backward()
        return y.detach(), leaf.grad, [p.grad for p in block.parameters()], [b.clone() for b in block.buffers()], y

    y, gx, grads, stats, out = trained()
    with reference_kernels():
        want, wx, wgrads, wstats, _ = trained()
    onednn = pointwise_kernel == "conv"
    assert layouts == ([True, True, False] if onednn else [False, False])
    assert out.is_contiguous()
    torch.testing.assert_close(y, want, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(gx, wx, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(grads, wgrads, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(stats, wstats, atol=1e-10, rtol=1e-10)


def test_sep_layer_eval_stays_contiguous_where_its_1x1_convolutions_take_different_kernels(monkeypatch):
    """The channels-last forward needs both 1x1 convolutions on one kernel: with 8 -> 16 channels on MKL's product
    (8 channels, off oneDNN's blocks of 16) and 16 -> 8 on oneDNN's convolution it is not taken."""
    monkeypatch.setattr(cpu, "POINTWISE_KERNEL", "conv")
    monkeypatch.setattr(cpu, "CONV_MIN_MACS", 0)
    monkeypatch.setattr(cpu, "CONV_MIN_CHANNELS", 8)
    monkeypatch.setattr(cpu, "CONV_MIN_UNBLOCKED_CHANNELS", 17)
    block = perturb(TemporalSepLayer(8, 5, 2)).double()
    taken = []
    forward_channels_last = TemporalSepLayer._forward_channels_last
    monkeypatch.setattr(
        TemporalSepLayer, "_forward_channels_last", lambda *a: taken.append(True) or forward_channels_last(*a)
    )
    x = torch.randn(2, 8, 12, 3, dtype=torch.float64)
    with torch.no_grad():
        y = block(x)
        assert not taken
        monkeypatch.setattr(cpu, "CONV_MIN_CHANNELS", 17)  # now neither is convolved: both are MKL's products
        torch.testing.assert_close(block(x), y, atol=1e-10, rtol=1e-10)
    assert taken == [True]


@pytest.mark.parametrize("name", ["Temporal_Sep_Layer", "Temporal_SG_Layer"])
def test_sep_and_sg_have_no_final_activation(name):
    """With swish, a final activation would bound the output below by about -0.28."""
    torch.manual_seed(0)
    kwargs = dict(channel=16, temporal_window_size=5, bias=True, act="swish", reduct_ratio=4, expand_ratio=2)
    block = perturb(official.build("effgcn", name, **kwargs))
    with torch.no_grad():
        out = block(torch.randn(2, 16, 12, 3) * 3)
    assert out.min() < -0.5


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("Temporal_Basic_Layer", dict(channel=16, temporal_window_size=3, bias=False, stride=2)),
        ("Temporal_Bottleneck_Layer", dict(channel=16, temporal_window_size=5, bias=True, reduct_ratio=2, stride=2)),
        ("Temporal_Sep_Layer", dict(channel=16, temporal_window_size=7, bias=True, expand_ratio=4, stride=2)),
        ("Temporal_SG_Layer", dict(channel=16, temporal_window_size=5, bias=True, reduct_ratio=4, residual=False)),
    ],
)
def test_official_keys_for_other_configurations(name, kwargs):
    """Original key layout: strided layers carry ``residual.0`` (conv) and ``residual.1`` (BN); bias=False: none."""
    keys = set(official.build("effgcn", name, act="swish", **kwargs).state_dict())
    assert ("residual.0.weight" in keys) == (kwargs.get("stride", 1) != 1)
    assert ("conv.bias" in keys) == (name == "Temporal_Basic_Layer" and kwargs["bias"])
    sd = official.build("effgcn", name, act="swish", **kwargs).state_dict()
    roundtrip = official.convert_state_dict("effgcn", name, sd, act="swish", **kwargs)
    assert set(roundtrip) == keys


def test_official_mstcn_strided_residual_keys():
    kwargs = dict(in_channels=64, out_channels=128, kernel_size=5, stride=2, dilations=[1, 2])
    keys = set(official.build("ctrgcn", "MultiScale_TemporalConv", **kwargs).state_dict())
    assert {"residual.0.weight", "residual.1.running_var", "branches.2.4.weight", "branches.3.0.weight"} <= keys


def test_activation_by_name():
    assert isinstance(make_activation("swish"), torch.nn.SiLU)
    assert isinstance(make_activation(None), torch.nn.Identity)
    assert (
        official.build(
            "effgcn", "Temporal_Basic_Layer", channel=4, temporal_window_size=3, bias=True, act=torch.nn.Hardswish()
        ).act.__class__
        is torch.nn.Hardswish
    )  # the original passes modules
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        make_activation("gelu")


# ---- bad input -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block",
    [MultiScaleTemporalConv(8, 12, dilations=(1, 2, 3, 4)), TemporalSepLayer(8), TemporalBasicLayer(8)],
    ids=["mstcn", "sep", "basic"],
)
def test_bad_input_raises_clear_error(block):
    with pytest.raises(ValueError, match=r"\(N, C, T, V\)"):
        block(torch.randn(8, 10, 25))
    with pytest.raises(ValueError, match="C=4 channels, expected 8"):
        block(torch.randn(2, 4, 10, 25))
    with pytest.raises(TypeError, match="floating-point"):
        block(torch.ones(2, 8, 10, 25, dtype=torch.int64))


def test_backward_reaches_every_parameter():
    torch.manual_seed(0)
    for block in [MultiScaleTemporalConv(12, 24, stride=2), TemporalSandglassLayer(8, stride=2), TemporalSepLayer(8)]:
        block(torch.randn(2, block.in_channels, 9, 3)).square().sum().backward()
        missing = [n for n, p in block.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not missing, missing
