"""Spatial blocks: shapes, explicit-loop references, gradients, bad input, official adapters beyond the golden cases."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stviz import official, set_seed
from stviz.baselines import TopologyClassifier
from stviz.graph import SkeletonGraph
from stviz.layers import reference_kernels
from stviz.models import ChannelTopologyBlock, STGCNBlock
from stviz.spatial import (
    ChannelTopologyConv,
    ChannelTopologyUnit,
    EfficientGraphLayer,
    PartitionGraphConv,
    ShiftGraphConv,
    cyclic_shift_sources,
    local_shift_sources,
)

TOL = dict(atol=1e-4, rtol=1e-4)
GRAPH = SkeletonGraph("ntu-rgb+d")
V = 25


def perturb(module: nn.Module, seed: int = 0) -> nn.Module:
    """Move every float parameter and BN statistic away from its init, so no path is inert."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in list(module.named_parameters()) + list(module.named_buffers()):
            if not p.is_floating_point() or name.endswith(("A", "topology")) and not p.requires_grad:
                continue
            noise = 0.1 * torch.randn(p.shape, generator=gen)
            p.copy_(p.abs() + 0.5 + noise.abs() if name.endswith("running_var") else p + noise)
    return module.eval()


def bn_eval(x, bn):
    """BatchNorm2d in eval mode written out: (N, C, T, V)."""
    shape = (1, -1, 1, 1)
    return (x - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + bn.eps) * bn.weight.view(
        shape
    ) + bn.bias.view(shape)


def conv1x1(x, conv):
    return torch.einsum("oi,nitv->notv", conv.weight[:, :, 0, 0], x) + conv.bias.view(1, -1, 1, 1)


# ---------------------------------------------------------------- explicit-loop references


def loop_partition(x, conv, a, k, c_out):
    """y[:, :, :, w] = sum_k sum_v (W_k x)[:, :, :, v] * A[k, v, w], one joint at a time."""
    h = conv1x1(x, conv)
    y = torch.zeros(x.shape[0], c_out, x.shape[2], a.shape[-1])
    for s in range(k):
        hs = h[:, s * c_out : (s + 1) * c_out]
        for w in range(a.shape[-1]):
            for v in range(a.shape[-2]):
                y[..., w] += hs[..., v] * a[s, v, w]
    return y


def loop_ctrgc(x, m, a, alpha):
    """CTRGC from its equation: relation per (u, v), then y[n, c, t, u] = sum_v M[n, c, u, v] x3[n, c, t, v]."""
    x1 = conv1x1(x, m.embed_u).mean(2)  # (N, R, V)
    x2 = conv1x1(x, m.embed_v).mean(2)
    x3 = conv1x1(x, m.value)
    n, r, v = x1.shape
    rel = torch.zeros(n, r, v, v)
    for u in range(v):
        for w in range(v):
            rel[:, :, u, w] = torch.tanh(x1[:, :, u] - x2[:, :, w])
    mat = conv1x1(rel, m.expand) * alpha + a
    y = torch.zeros_like(x3)
    for u in range(v):
        for w in range(v):
            y[..., u] += mat[:, :, u, w, None] * x3[..., w]
    return y


def loop_shift(x, src):
    """out[n, c, t, v] = x[n, c, t, src[v, c]]."""
    out = torch.empty_like(x)
    for v in range(src.shape[0]):
        for c in range(src.shape[1]):
            out[:, c, :, v] = x[:, c, :, src[v, c]]
    return out


# ---------------------------------------------------------------- ST-GCN / EfficientGCN


@pytest.mark.parametrize("c_in,c_out", [(3, 64), (64, 64), (16, 32)])
def test_partition_graph_conv_equals_loop(c_in, c_out):
    set_seed(0)
    a = official.adjacency("stgcn")
    m = perturb(PartitionGraphConv(c_in, c_out, a, edge_importance=True))
    x = torch.randn(2, c_in, 6, V)
    y = m(x)
    assert y.shape == (2, c_out, 6, V)
    torch.testing.assert_close(y, loop_partition(x, m.conv, m.edge_importance * a, 3, c_out), **TOL)


@pytest.mark.usefixtures("pointwise_kernel")
@pytest.mark.parametrize("c_in,c_out", [(3, 16), (16, 16), (16, 8)])  # aggregate-first, project-first twice
@pytest.mark.parametrize("bias", [True, False])
def test_partition_graph_conv_folds_the_batch_norm_after_it(c_in, c_out, bias):
    """``m(x, bn=bn)`` is ``bn(m(x))``: folded in eval (with and without autograd), applied in training."""
    set_seed(0)
    m = perturb(PartitionGraphConv(c_in, c_out, official.adjacency("stgcn"), edge_importance=True, bias=bias)).double()
    bn = nn.BatchNorm2d(c_out).double()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5), bn.bias.normal_(), bn.running_mean.normal_(), bn.running_var.uniform_(0.5, 2)
    x = torch.randn(2, c_in, 6, V, dtype=torch.float64, requires_grad=True)
    for train in (False, True):
        bn.train(train)
        with torch.no_grad():
            torch.testing.assert_close(m(x, bn=bn), bn(m.explicit(x)), atol=1e-10, rtol=1e-10)
        got, want = m(x, bn=bn), bn(m.explicit(x))
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-10)
        grads = torch.autograd.grad(got.square().sum(), [x, *m.parameters()])
        for g, w in zip(grads, torch.autograd.grad(want.square().sum(), [x, *m.parameters()]), strict=True):
            torch.testing.assert_close(g, w, atol=1e-9, rtol=1e-9)


def test_partition_graph_conv_a_at_call():
    set_seed(0)
    a = official.adjacency("stgcn")
    m = PartitionGraphConv(8, 8, num_subsets=3)
    x = torch.randn(1, 8, 4, V)
    torch.testing.assert_close(m(x, a), loop_partition(x, m.conv, a, 3, 8), **TOL)
    with pytest.raises(ValueError, match="pass A"):
        m(x)
    with pytest.raises(ValueError, match=r"\(3, V, V\)"):
        m(x, a[:2])


@pytest.mark.parametrize("c_in,c_out,stride", [(64, 64, 1), (3, 64, 1), (64, 128, 2)])
def test_stgcn_block_equals_reference(c_in, c_out, stride):
    set_seed(0)
    a = official.adjacency("stgcn")
    m = perturb(STGCNBlock(c_in, c_out, a, stride=stride, edge_importance=True))
    x = torch.randn(2, c_in, 9, V)
    y = m(x)
    assert y.shape == (2, c_out, (9 - 1) // stride + 1, V)
    g = loop_partition(x, m.gcn.conv, m.gcn.graph(), 3, c_out)
    conv = m.tcn[2]
    h = nn.functional.conv2d(torch.relu(bn_eval(g, m.tcn[0])), conv.weight, conv.bias, (stride, 1), (4, 0))
    res = x if c_in == c_out and stride == 1 else bn_eval(conv1x1(x, m.residual[0])[:, :, ::stride], m.residual[1])
    torch.testing.assert_close(y, torch.relu(bn_eval(h, m.tcn[3]) + res), **TOL)


@pytest.mark.parametrize("c_in,c_out,d,act", [(64, 64, 2, "swish"), (6, 64, 2, "relu"), (32, 48, 1, "hswish")])
def test_efficient_graph_layer_equals_reference(c_in, c_out, d, act):
    set_seed(0)
    a = official.adjacency("effgcn")
    m = perturb(EfficientGraphLayer(c_in, c_out, a, max_graph_distance=d, activation=act))
    x = torch.randn(2, c_in, 5, V)
    g = loop_partition(x, m.conv.conv, a[: d + 1] * m.conv.edge_importance, d + 1, c_out)
    res = x if c_in == c_out else bn_eval(conv1x1(x, m.residual[0]), m.residual[1])
    act_fn = {"swish": nn.functional.silu, "relu": torch.relu, "hswish": nn.functional.hardswish}[act]
    torch.testing.assert_close(m(x), act_fn(bn_eval(g, m.bn) + res), **TOL)


@pytest.mark.parametrize("c_in,c_out", [(24, 16), (16, 8)])
def test_efficient_graph_layer_projection_joins_the_graph_sum_in_eval(pointwise_kernel, c_in, c_out, monkeypatch):
    """A narrowing layer in eval without autograd: its residual projection is one more partition of the layer's own
    1x1 conv (identity graph), so the projection never runs apart; with autograd, or under reference_kernels (what
    the cost tables count), it does. The output is the reference's on both kernels, with and without biases."""
    from stviz.spatial import partition

    apart, projection_apart = [], partition.conv_bn_forward
    monkeypatch.setattr(partition, "conv_bn_forward", lambda *a: apart.append(1) or projection_apart(*a))
    set_seed(0)
    a = official.adjacency("effgcn")
    m = perturb(EfficientGraphLayer(c_in, c_out, a))
    x = torch.randn(2, c_in, 5, V)
    g = loop_partition(x, m.conv.conv, a[:3] * m.conv.edge_importance, 3, c_out)
    expected = nn.functional.silu(bn_eval(g, m.bn) + bn_eval(conv1x1(x, m.residual[0]), m.residual[1]))
    with torch.no_grad():
        torch.testing.assert_close(m(x), expected, **TOL)
    assert apart == []
    with torch.no_grad(), reference_kernels():
        torch.testing.assert_close(m(x), expected, **TOL)
    torch.testing.assert_close(m(x), expected, **TOL)
    assert len(apart) == 2
    unbiased = perturb(EfficientGraphLayer(c_in, c_out, a, bias=False))
    with torch.no_grad():
        one_pass = unbiased(x)
    torch.testing.assert_close(one_pass, unbiased(x).detach(), **TOL)
    assert len(apart) == 3


def test_efficientgcn_uses_only_the_first_hops_of_the_10_hop_graph():
    a = official.adjacency("effgcn")
    m = EfficientGraphLayer(8, 8, a, max_graph_distance=2)
    assert m.conv.A.shape == (3, V, V)
    torch.testing.assert_close(m.conv.A, a[:3])
    assert 0.03 < m.conv.A[0].diagonal().max() < 0.06  # pitfall 3: divided by #joints within 10 hops


# ---------------------------------------------------------------- CTR-GCN


@pytest.mark.parametrize("c_in,c_out", [(64, 64), (3, 64), (16, 24)])
def test_ctrgc_equals_loop_and_matmul(c_in, c_out):
    set_seed(0)
    a = official.adjacency("ctrgcn")[1]
    m = perturb(ChannelTopologyConv(c_in, c_out, rel_channels=8 if c_in < 8 else None))
    assert m.rel_channels == (8 if c_in == 3 else c_in // 8)
    x = torch.randn(2, c_in, 4, V)
    alpha = torch.tensor([0.7])
    y = m(x, a, alpha)
    assert y.shape == (2, c_out, 4, V)
    torch.testing.assert_close(y, loop_ctrgc(x, m, a, alpha), **TOL)
    # rows are targets: the einsum is x3 @ M^T
    torch.testing.assert_close(y, m.value(x) @ m.topology(x, a, alpha).transpose(-1, -2), **TOL)


@pytest.mark.parametrize("c_in,c_out,adaptive", [(64, 64, True), (3, 64, True), (64, 128, False)])
def test_unit_gcn_equals_loop(c_in, c_out, adaptive):
    set_seed(0)
    a = official.adjacency("ctrgcn")
    m = perturb(ChannelTopologyUnit(c_in, c_out, a, adaptive=adaptive, rel_channels=8 if c_in < 8 else None))
    x = torch.randn(2, c_in, 4, V)
    y = sum(loop_ctrgc(x, conv, pa, m.alpha) for conv, pa in zip(m.convs, m.topology, strict=True))
    res = x if c_in == c_out else bn_eval(conv1x1(x, m.residual[0]), m.residual[1])
    torch.testing.assert_close(m(x), torch.relu(bn_eval(y, m.bn) + res), **TOL)
    assert m.topologies(x).shape == (2, 3, c_out, V, V)


@pytest.mark.parametrize("c_in,c_out,stride", [(64, 64, 1), (64, 128, 2), (3, 48, 1)])
def test_ctrgcn_block_composes_unit_and_multiscale_tcn(c_in, c_out, stride):
    set_seed(0)
    m = perturb(ChannelTopologyBlock(c_in, c_out, official.adjacency("ctrgcn"), stride=stride, rel_channels=8))
    x = torch.randn(2, c_in, 8, V)
    y = m(x)
    assert y.shape == (2, c_out, (8 - 1) // stride + 1, V)
    if c_in == c_out and stride == 1:
        res = x
    else:
        res = bn_eval(conv1x1(x, m.residual[0])[:, :, ::stride], m.residual[1])
    torch.testing.assert_close(y, torch.relu(m.tcn1(m.gcn1(x)) + res), **TOL)


def test_unit_gcn_initial_state():
    set_seed(0)
    a = official.adjacency("ctrgcn")
    m = ChannelTopologyUnit(64, 64, a).eval()
    assert m.alpha.item() == 0.0 and torch.all(m.bn.weight == 1e-6)
    x = torch.randn(2, 64, 4, V)
    torch.testing.assert_close(m(x), torch.relu(x), atol=1e-3, rtol=0)  # about relu(down(x)) at init
    # with alpha = 0 the topology is exactly the shared PA
    torch.testing.assert_close(m.topologies(x)[:, 1], a[1].expand(2, 64, V, V))


def test_ctrgcn_in_subset_is_not_normalised():
    """Pitfall 1 (docs/pitfalls.md): with rows as targets, the inward subset sums children into parents undivided."""
    a = official.adjacency("ctrgcn")
    x = torch.zeros(1, 1, 1, V)
    x[..., 2] = 1.0  # neck (3), child of spine joint 21 (index 20)
    y = torch.einsum("uv,nctv->nctu", a[1], x)
    assert y[0, 0, 0, 20] == 1.0


# ---------------------------------------------------------------- Shift-GCN


def test_cyclic_shift_sources_follow_the_official_rule():
    src_in, src_out = cyclic_shift_sources(64)
    v, c = torch.meshgrid(torch.arange(V), torch.arange(64), indexing="ij")
    assert torch.equal(src_in, (v + c) % V) and torch.equal(src_out, (v - c) % V)


def test_local_shift_reads_only_neighbours():
    src, _ = local_shift_sources(GRAPH, 32)
    reach = GRAPH.binary_adjacency() + torch.eye(V)
    for v in range(V):
        assert all(reach[v, s] == 1 for s in src[v].tolist())
        assert set(src[v].tolist()) == set(torch.nonzero(reach[v]).flatten().tolist())
    assert torch.all(src[:, 0] == torch.arange(V))


@pytest.mark.parametrize("c_in,c_out,shift", [(64, 64, "cyclic"), (3, 64, "cyclic"), (16, 32, "local")])
def test_shift_graph_conv_equals_loop(c_in, c_out, shift):
    set_seed(0)
    m = perturb(ShiftGraphConv(c_in, c_out, shift=shift, graph=GRAPH))
    x = torch.randn(2, c_in, 3, V)
    src_in, src_out = m.sources()
    h = loop_shift(x, src_in) * (torch.tanh(m.feature_mask) + 1).permute(2, 0, 1)[None]
    h = torch.einsum("nctv,cd->ndtv", h, m.weight) + m.bias.view(1, -1, 1, 1)
    h = loop_shift(h, src_out)
    bn = m.bn  # BatchNorm1d over (joint, channel) features, index v * C + c
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).view(V, c_out).T[None, :, None]
    shift_ = (bn.bias - bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps)).view(V, c_out).T
    h = h * scale + shift_[None, :, None]
    res = x if c_in == c_out else bn_eval(conv1x1(x, m.residual[0]), m.residual[1])
    torch.testing.assert_close(m(x), torch.relu(h + res), **TOL)


def test_shift_gcn_initialisation():
    set_seed(0)
    m = ShiftGraphConv(64, 128)
    assert abs(m.weight.std().item() - (1 / 128) ** 0.5) < 0.01
    assert torch.all(m.feature_mask == 0) and torch.all(m.bias == 0)
    assert not any(k.startswith("index") for k in m.state_dict())


# ---------------------------------------------------------------- gradients and bad input


def all_blocks():
    a_st, a_ctr, a_eff = official.adjacency("stgcn"), official.adjacency("ctrgcn"), official.adjacency("effgcn")
    return {
        "PartitionGraphConv": (PartitionGraphConv(16, 16, a_st, edge_importance=True), ()),
        "STGCNBlock": (STGCNBlock(16, 32, a_st, edge_importance=True), ()),
        "EfficientGraphLayer": (EfficientGraphLayer(16, 32, a_eff), ()),
        "ChannelTopologyConv": (ChannelTopologyConv(16, 16), (a_ctr[1], torch.ones(1))),
        "ChannelTopologyUnit": (ChannelTopologyUnit(16, 32, a_ctr), ()),
        "ChannelTopologyBlock": (ChannelTopologyBlock(16, 32, a_ctr, stride=2), ()),
        "ShiftGraphConv": (ShiftGraphConv(16, 32), ()),
        "ShiftGraphConv-local": (ShiftGraphConv(16, 32, shift="local", graph=GRAPH), ()),
    }


@pytest.mark.parametrize("name", list(all_blocks()))
def test_gradients_reach_every_parameter(name):
    set_seed(0)
    m, args = all_blocks()[name]
    for unit in (mod for mod in m.modules() if isinstance(mod, ChannelTopologyUnit)):
        nn.init.constant_(unit.alpha, 0.5)  # at alpha = 0 the relation convs get no gradient, as in the original
    x = torch.randn(2, 16, 6, V, requires_grad=True)
    m(x, *args).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for pname, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}.{pname} gets no gradient"


@pytest.mark.parametrize("name", list(all_blocks()))
def test_bad_input_names_what_was_expected(name):
    m, args = all_blocks()[name]
    with pytest.raises(ValueError, match=r"\(N, C, T, V\)"):
        m(torch.randn(2, 16, 6), *args)
    with pytest.raises(ValueError, match="C=8 channels, expected 16"):
        m(torch.randn(2, 8, 6, V), *args)
    with pytest.raises(ValueError, match="V=18 joints, but the graph has 25"):
        m(torch.randn(2, 16, 6, 18), *args)
    with pytest.raises(TypeError, match="floating-point"):
        m(torch.ones(2, 16, 6, V, dtype=torch.long), *args)


def test_constructor_errors():
    with pytest.raises(ValueError, match="needs A"):
        PartitionGraphConv(4, 4)
    with pytest.raises(ValueError, match="shift must be"):
        ShiftGraphConv(4, 4, shift="graph")
    with pytest.raises(ValueError, match="needs a SkeletonGraph"):
        ShiftGraphConv(4, 4, shift="local")
    with pytest.raises(ValueError, match="unknown activation"):
        EfficientGraphLayer(4, 4, official.adjacency("effgcn"), activation="gelu")


def test_topology_classifier_shapes_and_errors():
    set_seed(0)
    model = TopologyClassifier(5, official.adjacency("ctrgcn"), channels=(8, 8))
    assert model(torch.randn(2, 3, 6, V, 2)).shape == (2, 5)
    with pytest.raises(ValueError, match=r"\(N, C, T, V, M\)"):
        model(torch.randn(2, 3, 6, V))
    with pytest.raises(ValueError, match="V=18 joints, but the graph has 25"):
        model(torch.randn(2, 3, 6, 18, 2))


# ---------------------------------------------------------------- official adapters, other configurations


def test_official_adapters_other_configurations():
    a_st, a_ctr, a_eff = official.adjacency("stgcn"), official.adjacency("ctrgcn"), official.adjacency("effgcn")
    x3 = torch.randn(2, 3, 8, V)
    conv = official.build("stgcn", "ConvTemporalGraphical", in_channels=3, out_channels=64, kernel_size=3)
    y, a_back = conv(x3, a_st)
    assert y.shape == (2, 64, 8, V) and a_back is a_st
    block = official.build("stgcn", "st_gcn", in_channels=64, out_channels=128, kernel_size=(9, 3), stride=2)
    assert block(torch.randn(2, 64, 8, V), a_st)[0].shape == (2, 128, 4, V)
    assert set(block.state_dict()) >= {"residual.0.weight", "residual.1.running_var"}
    unit = official.build("ctrgcn", "unit_gcn", in_channels=3, out_channels=64, A=a_ctr)
    assert unit(x3).shape == (2, 64, 8, V) and unit.convs[0].rel_channels == 8
    layer = official.build("ctrgcn", "TCN_GCN_unit", in_channels=64, out_channels=128, A=a_ctr, stride=2)
    assert layer(torch.randn(2, 64, 8, V)).shape == (2, 128, 4, V)
    assert {"residual.0.weight", "residual.1.weight", "gcn1.residual.0.weight"} <= set(layer.state_dict())
    layer = official.build(
        "effgcn", "Spatial_Graph_Layer", in_channel=6, out_channel=64, max_graph_distance=2, bias=True, act="swish",
        A=a_eff,
    )  # fmt: skip
    assert layer(torch.randn(2, 6, 8, V)).shape == (2, 64, 8, V)
    shift = official.build("shiftgcn", "Shift_gcn", in_channels=3, out_channels=64, A=a_ctr)
    assert shift(x3).shape == (2, 64, 8, V)


def test_official_converters_map_every_key_once_and_check_constants():
    a_ctr = official.adjacency("ctrgcn")
    sd = {"PA": torch.zeros(3, V, V), "convs.2.conv4.weight": torch.zeros(64, 8, 1, 1), "bn.bias": torch.zeros(64)}
    out = official.convert_state_dict("ctrgcn", "unit_gcn", sd, strict=False, in_channels=64, out_channels=64, A=a_ctr)
    assert set(out) == {"topology", "convs.2.expand.weight", "bn.bias"}
    tables = official.shift_indices(64)
    good = {"shift_in": tables["shift_in"], "Linear_weight": torch.zeros(64, 64)}
    converted = official.convert_state_dict(
        "shiftgcn", "Shift_gcn", good, strict=False, in_channels=64, out_channels=64
    )
    assert set(converted) == {"weight"}
    bad = {"shift_in": tables["shift_out"]}
    with pytest.raises(ValueError, match="cyclic shift table"):
        official.convert_state_dict("shiftgcn", "Shift_gcn", bad, strict=False, in_channels=64, out_channels=64)
    a_eff = official.adjacency("effgcn")
    with pytest.raises(ValueError, match="another graph"):
        official.convert_state_dict(
            "effgcn", "SpatialGraphConv", {"A": 2 * a_eff[:3]}, strict=False, in_channel=4, out_channel=4,
            max_graph_distance=2, bias=True, edge=True, A=a_eff,
        )  # fmt: skip
