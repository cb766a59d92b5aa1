"""stviz.channel: EfficientGCN attention modules against explicit forms, the official adapter for every
att_type, clear errors, and the closed-form costs against stviz.cost.count."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from stviz import official, set_seed
from stviz.channel import (
    NTU_PARTS,
    AttentionLayer,
    ChannelAttention,
    FrameAttention,
    JointAttention,
    PartAttention,
    SpatialTemporalJointAttention,
    channel_topology_cost,
    efficient_temporal_cost,
    most_different_channels,
    temporal_conv_cost,
    topology_distances,
)
from stviz.cost import count
from stviz.reconcile import original_order
from stviz.spatial import ChannelTopologyConv
from stviz.temporal import TemporalBasicLayer, TemporalBottleneckLayer, TemporalSandglassLayer, TemporalSepLayer

TOL = dict(atol=1e-5, rtol=1e-5)
ATT_TYPES = ("stja", "pa", "ca", "fa", "ja")


def perturb(module: nn.Module) -> nn.Module:
    """Random weights and BN statistics, so no path is inert; eval mode."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.1)
                m.running_var.copy_(torch.rand_like(m.running_var) + 0.5)
    return module.eval()


def bn_eval(bn: nn.BatchNorm2d, y: torch.Tensor) -> torch.Tensor:
    """BatchNorm in eval mode on channel axis 1 of y (N, C, ...), written out."""
    shape = (1, -1) + (1,) * (y.dim() - 2)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return (y - bn.running_mean.view(shape)) * scale.view(shape) + bn.bias.view(shape)


def lin(conv: nn.Conv2d, h: torch.Tensor) -> torch.Tensor:
    """A 1x1 conv as a matrix product on axis 1 of h (N, C, ...)."""
    w = conv.weight[:, :, 0, 0]
    out = torch.einsum("oc,nc...->no...", w, h)
    return out if conv.bias is None else out + conv.bias.view((1, -1) + (1,) * (h.dim() - 2))


# ----------------------------------------------------------------------------
# Explicit forms of each attention.
# ----------------------------------------------------------------------------


def explicit_stja(att: SpatialTemporalJointAttention, x: torch.Tensor) -> torch.Tensor:
    conv, bn = att.squeeze[0], att.squeeze[1]
    h_t = F.hardswish(bn_eval(bn, lin(conv, x.mean(3))))  # (N, R, T)
    h_v = F.hardswish(bn_eval(bn, lin(conv, x.mean(2))))  # (N, R, V)
    gate_t = torch.sigmoid(lin(att.frame_gate, h_t))  # (N, C, T)
    gate_v = torch.sigmoid(lin(att.joint_gate, h_v))  # (N, C, V)
    n, c, t, v = x.shape
    out = torch.empty_like(x)
    for ti in range(t):
        for vi in range(v):
            out[:, :, ti, vi] = gate_t[:, :, ti] * gate_v[:, :, vi]
    return out


def explicit_pa(att: PartAttention, x: torch.Tensor, parts=NTU_PARTS) -> torch.Tensor:
    n, c, t, v = x.shape
    h = F.relu(bn_eval(att.fcn[2], lin(att.fcn[1], x.mean((2, 3)))))
    z = lin(att.fcn[4], h).view(n, c, len(parts))  # logits, channel-major
    w = z.softmax(-1)
    out = torch.empty_like(x)
    for p, joints in enumerate(parts):
        for j in joints:
            out[:, :, :, j] = w[:, :, p, None]
    return out


def explicit_ca(att: ChannelAttention, x: torch.Tensor) -> torch.Tensor:
    h = F.relu(bn_eval(att.fcn[2], lin(att.fcn[1], x.mean((2, 3)))))
    return torch.sigmoid(lin(att.fcn[4], h))[:, :, None, None]


def explicit_fa(att: FrameAttention, x: torch.Tensor) -> torch.Tensor:
    n, c, t, v = x.shape
    stats = [x.mean((1, 3)), x.flatten(2).view(n, c, t, v).permute(0, 2, 1, 3).reshape(n, t, -1).max(-1).values]
    w, b = att.conv.weight[0, :, :, 0], att.conv.bias[0]  # (2, 9)
    k = w.shape[1]
    out = torch.full((n, t), float(b))
    for ti in range(t):
        for i in range(k):
            src = ti + i - k // 2
            if 0 <= src < t:
                out[:, ti] += w[0, i] * stats[0][:, src] + w[1, i] * stats[1][:, src]
    return out[:, None, :, None]


def explicit_ja(att: JointAttention, x: torch.Tensor) -> torch.Tensor:
    h = F.relu(bn_eval(att.fcn[2], lin(att.fcn[1], x.mean((1, 2)))))
    return lin(att.fcn[4], h).softmax(-1)[:, None, None, :]


EXPLICIT = {"stja": explicit_stja, "pa": explicit_pa, "ca": explicit_ca, "fa": explicit_fa, "ja": explicit_ja}


@pytest.mark.parametrize("att_type", ATT_TYPES)
@pytest.mark.parametrize("channels,reduct", [(16, 4), (48, 2), (64, 4)])
def test_attention_equals_explicit_form(att_type, channels, reduct):
    set_seed(0)
    layer = perturb(official.build("effgcn", "Attention_Layer", out_channel=channels, att_type=att_type,
                                   reduct_ratio=reduct, act="relu"))  # fmt: skip
    x = torch.randn(2, channels, 12, 25)
    with torch.no_grad():
        gate = layer.attention(x)
        want_gate = EXPLICIT[att_type](layer.attention, x)
        torch.testing.assert_close(gate.expand_as(x), want_gate.expand_as(x), **TOL)
        want = F.relu(bn_eval(layer.bn, x * want_gate) + x)
        torch.testing.assert_close(layer(x), want, **TOL)


def test_gates_are_what_each_module_promises():
    set_seed(0)
    x = torch.randn(3, 32, 10, 25)
    stja = perturb(SpatialTemporalJointAttention(32))
    gate_t, gate_v = stja.factors(x)
    assert gate_t.shape == (3, 32, 10, 1) and gate_v.shape == (3, 32, 1, 25)
    assert 0 < stja(x).min() and stja(x).max() < 1
    pa = perturb(PartAttention(32)).eval()(x)
    per_part = torch.stack([pa[..., joints[0]] for joints in NTU_PARTS], -1)  # (N, C, T, P)
    torch.testing.assert_close(per_part.sum(-1), torch.ones(3, 32, 10))
    for joints in NTU_PARTS:  # equal within a part
        assert torch.equal(pa[..., list(joints)], pa[..., [joints[0]]].expand(-1, -1, -1, len(joints)))
    ja = perturb(JointAttention()).eval()(x)
    assert ja.shape == (3, 1, 1, 25)
    torch.testing.assert_close(ja.sum(-1), torch.ones(3, 1, 1))
    assert ChannelAttention(32).eval()(x).shape == (3, 32, 1, 1)
    assert FrameAttention()(x).shape == (3, 1, 10, 1)


def test_stja_bottleneck_is_hardswish_and_gates_have_bias_even_without_bias():
    att = SpatialTemporalJointAttention(64, 4, bias=False)
    assert isinstance(att.squeeze[2], nn.Hardswish)
    assert att.squeeze[0].bias is None
    assert att.frame_gate.bias is not None and att.joint_gate.bias is not None


def test_stja_parameter_count_matches_spec():
    layer = official.build("effgcn", "Attention_Layer", out_channel=64, att_type="stja", reduct_ratio=4, bias=True)
    assert sum(p.numel() for p in layer.parameters()) == 3376  # the original's reference count


# ----------------------------------------------------------------------------
# stviz.official: key mapping for every att_type.
# ----------------------------------------------------------------------------

ORIGINAL_NAMES = {  # our prefix -> the original's, written independently of the adapter
    "stja": {
        "attention.squeeze.": "att.fcn.",
        "attention.frame_gate.": "att.conv_t.",
        "attention.joint_gate.": "att.conv_v.",
    },
    "pa": {"attention.fcn.": "att.fcn."},
    "ca": {"attention.fcn.": "att.fcn."},
    "fa": {"attention.conv.": "att.conv."},
    "ja": {"attention.fcn.": "att.fcn."},
}  # fmt: skip


def as_original(sd: dict, att_type: str) -> dict:
    out = {}
    for key, value in sd.items():
        for ours, theirs in ORIGINAL_NAMES[att_type].items():
            if key.startswith(ours):
                key = theirs + key[len(ours) :]
        out[key] = value
    if att_type == "pa":  # the original stores its joint -> part table as an int64 Parameter
        out["att.joints"] = torch.tensor([next(p for p, js in enumerate(NTU_PARTS) if j in js) for j in range(25)])
    return out


@pytest.mark.parametrize("att_type", ATT_TYPES)
def test_official_round_trip_every_att_type(att_type):
    set_seed(0)
    kwargs = dict(out_channel=32, att_type=att_type, reduct_ratio=4, bias=True, act="swish")
    source = perturb(official.build("effgcn", "Attention_Layer", **kwargs))
    original = as_original(source.state_dict(), att_type)
    assert all(k.startswith(("att.", "bn.")) for k in original)
    converted = official.convert_state_dict("effgcn", "Attention_Layer", original, **kwargs)
    target = official.build("effgcn", "Attention_Layer", **kwargs)
    target.load_state_dict(converted, strict=True)
    x = torch.randn(2, 32, 9, 25)
    with torch.no_grad():
        torch.testing.assert_close(target.eval()(x), source(x))


def test_official_rejects_unknown_keys_and_types():
    with pytest.raises(ValueError, match="leftover: original 'att.nonsense' -> stviz 'attention.nonsense'"):
        official.convert_state_dict("effgcn", "Attention_Layer", {"att.nonsense": torch.zeros(1)}, out_channel=8)
    with pytest.raises(ValueError, match="att_type"):
        official.build("effgcn", "Attention_Layer", out_channel=8, att_type="xx")
    with pytest.raises(ValueError, match="activation"):
        official.build("effgcn", "Attention_Layer", out_channel=8, act="gelu")


def test_official_swish_default_activation():
    layer = official.build("effgcn", "Attention_Layer", out_channel=8)
    assert isinstance(layer.act, nn.SiLU)
    assert isinstance(layer.attention, SpatialTemporalJointAttention)


# ----------------------------------------------------------------------------
# Clear errors.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("att_type", ATT_TYPES)
def test_bad_input_errors(att_type):
    layer = official.build("effgcn", "Attention_Layer", out_channel=16, att_type=att_type)
    with pytest.raises(ValueError, match=r"C=8 channels, expected 16"):
        layer(torch.randn(1, 8, 5, 25))
    with pytest.raises(ValueError, match=r"\(N, C, T, V\)"):
        layer(torch.randn(16, 5, 25))
    with pytest.raises(TypeError, match="floating-point"):
        layer(torch.zeros(1, 16, 5, 25, dtype=torch.long))


@pytest.mark.parametrize("module", [PartAttention(16), JointAttention(25)])
def test_joint_count_checked_where_the_module_knows_the_joints(module):
    with pytest.raises(ValueError, match="V=18 joints, but the graph has 25"):
        module(torch.randn(1, 16, 5, 18))


def test_constructor_errors():
    with pytest.raises(ValueError, match="channels // reduction"):
        SpatialTemporalJointAttention(4, reduction=8)
    with pytest.raises(ValueError, match="cover joints"):
        PartAttention(16, parts=((0, 1), (1, 2)))
    with pytest.raises(ValueError, match="groups=3"):
        temporal_conv_cost(64, 64, 5, groups=3)
    with pytest.raises(ValueError, match="kind"):
        efficient_temporal_cost("Dense", 64)


def test_attention_layer_keeps_an_injected_activation():
    layer = AttentionLayer(8, ChannelAttention(8), "tanh")
    assert isinstance(layer.act, nn.Tanh)


# ----------------------------------------------------------------------------
# Closed-form costs against FlopCounterMode.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("c_in,c_out,k,groups,stride", [(64, 64, 5, 1, 1), (64, 64, 5, 64, 1), (32, 64, 9, 8, 2)])
def test_temporal_conv_cost(c_in, c_out, k, groups, stride):
    conv = nn.Conv2d(c_in, c_out, (k, 1), (stride, 1), ((k - 1) // 2, 0), groups=groups)
    got = count(conv, torch.randn(1, c_in, 20, 25))
    want = temporal_conv_cost(c_in, c_out, k, groups, frames=20, joints=25, stride=stride)
    assert got.params == want["params"] and got.macs == want["macs"]


LAYERS = {
    "Basic": lambda c, k, r, s: TemporalBasicLayer(c, k, stride=s),
    "Sep": lambda c, k, r, s: TemporalSepLayer(c, k, expand_ratio=r, stride=s),
    "Bottleneck": lambda c, k, r, s: TemporalBottleneckLayer(c, k, reduct_ratio=r, stride=s),
    "SG": lambda c, k, r, s: TemporalSandglassLayer(c, k, reduct_ratio=r, stride=s),
}


CONFIGS = [(64, 5, 2, 1, 64), (64, 5, 4, 2, 17), (48, 3, 0, 1, 8), (96, 9, 4, 2, 10)]  # (C, k, ratio, stride, T)


@pytest.mark.parametrize(
    "kind,c,k,r,s,t", [(kind, *cfg) for kind in LAYERS for cfg in CONFIGS if cfg[2] > 0 or kind == "Sep"]
)  # ratio 0 (no expansion) only exists for Sep
def test_efficient_temporal_cost_matches_count(kind, c, k, r, s, t):
    layer = LAYERS[kind](c, k, r, s)
    got = count(layer, torch.randn(1, c, t, 25))
    want = efficient_temporal_cost(kind, c, k, r, frames=t, joints=25, stride=s)
    assert got.params == want["params"]
    assert got.macs == want["macs"]


def test_efficient_temporal_cost_matches_spec_table():
    # the originals' reference counts at C=64, T=64, V=25: params and MFLOPs per sample
    assert efficient_temporal_cost("Basic", 64, 5) == {"params": 20_672, "macs": 32_768_000}
    assert efficient_temporal_cost("Sep", 64, 5, 2)["params"] == 17_984
    assert round(2 * efficient_temporal_cost("Sep", 64, 5, 2)["macs"] / 1e6, 2) == 54.48
    assert efficient_temporal_cost("Bottleneck", 64, 5, 4)["params"] == 3_616
    assert efficient_temporal_cost("SG", 64, 5, 4)["params"] == 3_312
    assert round(2 * efficient_temporal_cost("SG", 64, 5, 4)["macs"] / 1e6, 2) == 8.60


@pytest.mark.parametrize("c_in,c_out,t", [(64, 64, 64), (3, 64, 16), (128, 256, 10)])
def test_channel_topology_cost_matches_count(c_in, c_out, t):
    conv = ChannelTopologyConv(c_in, c_out, rel_channels=8 if c_in < 8 else None)
    x, a = torch.randn(1, c_in, t, 25), torch.rand(25, 25)
    want = channel_topology_cost(c_in, c_out, frames=t, joints=25, rel_channels=conv.rel_channels)
    with original_order(conv):
        got = count(conv, x, a, 1.0)
    assert got.params == want["shared"]["params"] + want["refinement"]["params"]
    assert got.macs == want["shared"]["macs"] + want["refinement"]["macs"]
    pooled = channel_topology_cost(c_in, c_out, t, 25, conv.rel_channels, embed_pooled=True)
    assert count(conv, x, a, 1.0).macs == pooled["shared"]["macs"] + pooled["refinement"]["macs"]
    assert pooled["refinement"]["macs"] < want["refinement"]["macs"]
    torch.testing.assert_close(conv(x, a, 0.5), conv.explicit(x, a, 0.5), atol=1e-5, rtol=1e-5)


def test_channel_topology_cost_matches_spec():
    cost = channel_topology_cost(64, 64)
    assert cost["shared"]["params"] + cost["refinement"]["params"] == 5_776
    assert round(2 * (cost["shared"]["macs"] + cost["refinement"]["macs"]) / 1e6, 2) == 22.14


# ----------------------------------------------------------------------------
# Ranking per-channel topologies.
# ----------------------------------------------------------------------------


def test_topology_distances_and_ranking():
    base = torch.zeros(6, 4, 4)
    base[1] = 1.0  # far from 0
    base[2] = base[0]  # a copy of 0
    base[3] = 0.1
    base[4] = 0.9
    base[5] = -1.0  # farthest from everything on average
    dist = topology_distances(base)
    assert dist.shape == (6, 6) and torch.allclose(dist, dist.T)
    assert dist[0, 2] == 0 and dist[0, 1] == pytest.approx(4.0)
    chosen = most_different_channels(base, 3)
    assert chosen[:2] == [5, 1]  # -1 first (largest mean distance), then its farthest, +1
    assert chosen[2] in (0, 2, 3)  # the middle: 0 (or its copy 2) or 0.1
    assert len(set(most_different_channels(base, 6))) == 6
    with pytest.raises(ValueError, match="k must be"):
        most_different_channels(base, 7)
    with pytest.raises(ValueError, match=r"\(C, V, V\)"):
        topology_distances(torch.zeros(3, 4))
