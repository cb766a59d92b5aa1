"""MS-G3D blocks against explicit references written from the original's description, in many configurations."""

from __future__ import annotations

import math
import os
from pathlib import Path

import networkx as nx
import pytest
import torch
import torch.nn.functional as F

from stviz import official, set_seed
from stviz.cost import count
from stviz.graph import SkeletonGraph, k_adjacency, normalize_symmetric
from stviz.multiscale import (
    G3DBlock,
    MultiScaleGraphConv,
    MultiWindowG3D,
    TemporalWindows,
    WindowGraphConv,
    multiscale_adjacency,
    window_adjacency,
)

TOL = dict(atol=1e-4, rtol=1e-4)
GOLDEN = Path(os.environ.get("STVIZ_GOLDEN", Path(__file__).resolve().parent / "golden"))
A = SkeletonGraph().binary_adjacency()


def perturb(module: torch.nn.Module) -> torch.nn.Module:
    """Move every parameter and BN statistic off its init so no path is inert; eval mode."""
    set_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return module.eval()


def reference_graph_conv(m: MultiScaleGraphConv, x: torch.Tensor) -> torch.Tensor:
    """The original order: stacked (K*V, V) einsum, scale-major permute, conv, BN, act."""
    n, c, t, v = x.shape
    k = m.num_scales
    a = (m.scales + (m.offset if m.offset is not None else 0)).reshape(k * v, v)
    s = torch.einsum("vu,nctu->nctv", a, x).view(n, c, t, k, v).permute(0, 3, 1, 2, 4).reshape(n, k * c, t, v)
    y = m.bn(F.conv2d(s, m.conv.weight, m.conv.bias))
    if m.residual is not None:
        y = y + m.residual(x)
    return m.act(y)


def reference_unfold(x: torch.Tensor, w: int, s: int, d: int) -> torch.Tensor:
    """nn.Unfold as MS-G3D uses it, then view/permute to (N, C, T', w*V)."""
    n, c, t, v = x.shape
    pad = (w + (w - 1) * (d - 1) - 1) // 2
    cols = torch.nn.Unfold((w, 1), dilation=(d, 1), stride=(s, 1), padding=(pad, 0))(x)  # (N, C*w, T'*V)
    return cols.view(n, c, w, -1, v).permute(0, 1, 3, 2, 4).reshape(n, c, -1, w * v)


# -- graphs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("disentangled", [True, False])
def test_multiscale_adjacency_matches_skeleton_graph(disentangled):
    got = multiscale_adjacency(A, 13, disentangled)
    torch.testing.assert_close(got, SkeletonGraph().multiscale(13, disentangled), **TOL)


def test_disentangled_scales_are_normalised_exact_hop_rings():
    scales = multiscale_adjacency(A, 13)
    hop = SkeletonGraph().hop_distance()
    for k in range(13):
        ring = ((hop == k) | torch.eye(25, dtype=torch.bool)).float()
        torch.testing.assert_close(scales[k], normalize_symmetric(ring), **TOL)


def test_powers_are_dense_and_biased_towards_close_joints():
    powers = multiscale_adjacency(A, 13, disentangled=False)
    hop = SkeletonGraph().hop_distance()
    assert (powers[12] > 0).all()  # the 12th power reaches every joint (diameter 12)
    assert powers[4][hop <= 1].mean() > 5 * powers[4][hop == 4].mean()


@pytest.mark.parametrize("window_size", [1, 3, 5])
def test_k_hop_matrices_match_networkx_distances(window_size):
    big = window_adjacency(A, window_size)
    g = nx.from_numpy_array(big.fill_diagonal_(0).numpy())
    dist = torch.full(big.shape, math.inf)
    for src, lengths in nx.all_pairs_shortest_path_length(g):
        for dst, d in lengths.items():
            dist[src, dst] = d
    for k in range(1, 8):
        torch.testing.assert_close(k_adjacency(big, k), (dist == k).float())


def test_window_graph_links_each_joint_to_its_neighbours_in_every_frame():
    big = window_adjacency(A, 3)
    assert big.shape == (75, 75)
    for i in range(3):
        for j in range(3):
            torch.testing.assert_close(big[i * 25 : (i + 1) * 25, j * 25 : (j + 1) * 25], A + torch.eye(25))


def test_golden_disentangled_powers():
    case_path = GOLDEN / "graph_msg3d_ntu_Abinary_and_powers.pt"
    if not case_path.exists():
        pytest.skip("no golden folder")
    extra = torch.load(case_path, weights_only=True)["extra"]
    torch.testing.assert_close(multiscale_adjacency(A, 13).reshape(325, 25), extra["A_powers_disentangled_13"], **TOL)


# -- blocks against their explicit form ----------------------------------------------------------


@pytest.mark.usefixtures("pointwise_kernel")
@pytest.mark.parametrize(
    "c_in,c_out,scales,disentangled,offset,residual",
    [(64, 64, 13, True, True, False), (3, 96, 13, True, True, False), (32, 48, 4, False, True, True),
     (16, 16, 6, True, False, True), (8, 24, 1, False, False, False)],
)  # fmt: skip
def test_multiscale_graph_conv_equals_original_order(c_in, c_out, scales, disentangled, offset, residual):
    set_seed(0)
    m = perturb(MultiScaleGraphConv(c_in, c_out, A, scales, disentangled, offset, residual=residual))
    x = torch.randn(2, c_in, 7, 25)
    with torch.no_grad():
        torch.testing.assert_close(m(x), reference_graph_conv(m, x), **TOL)


def test_aggregate_is_scale_major():
    m = perturb(MultiScaleGraphConv(4, 8, A, 3))
    x = torch.randn(1, 4, 5, 25)
    s = m.aggregate(x)
    a = m.adjacency()
    for k in range(3):
        for c in range(4):
            torch.testing.assert_close(s[0, k * 4 + c], x[0, c] @ a[k].T, **TOL)


@pytest.mark.usefixtures("pointwise_kernel")
def test_gradients_of_fast_path_equal_explicit_path():
    set_seed(0)
    m = perturb(MultiScaleGraphConv(8, 12, A, 5)).train().double()
    x = torch.randn(3, 8, 6, 25, dtype=torch.float64, requires_grad=True)
    m(x).square().sum().backward()
    grads = [x.grad.clone()] + [p.grad.clone() for p in m.parameters()]
    x.grad = None
    m.zero_grad()
    reference_graph_conv(m, x).square().sum().backward()
    for got, want in zip(grads, [x.grad] + [p.grad for p in m.parameters()], strict=True):
        torch.testing.assert_close(got, want, **TOL)


def test_dropout_is_used_in_training_and_off_in_eval():
    set_seed(0)
    m = perturb(MultiScaleGraphConv(8, 8, A, 3, dropout=0.5))
    x = torch.randn(2, 8, 5, 25)
    with torch.no_grad():
        torch.testing.assert_close(m(x), reference_graph_conv(m, x), **TOL)
        m.train()
        assert not torch.allclose(m(x), m(x))


@pytest.mark.parametrize("w,s,d", [(3, 1, 1), (5, 1, 1), (3, 2, 1), (5, 2, 2), (4, 1, 1), (3, 3, 2)])
@pytest.mark.parametrize("t", [10, 9])
def test_temporal_windows_equal_nn_unfold(w, s, d, t):
    x = torch.randn(2, 3, t, 25)
    got = TemporalWindows(w, s, d)(x)
    torch.testing.assert_close(got, reference_unfold(x, w, s, d))
    pad = (w + (w - 1) * (d - 1) - 1) // 2
    assert got.shape[2] == (t + 2 * pad - d * (w - 1) - 1) // s + 1
    # the backward adds each window frame's gradient in place: the strided view's autograd gradient bit for bit
    grad = torch.randn(got.shape)
    ours, view = x.clone().requires_grad_(), x.clone().requires_grad_()
    TemporalWindows(w, s, d)(ours).backward(grad)
    windows = torch.nn.functional.pad(view, (0, 0, pad, pad)).unfold(2, d * (w - 1) + 1, s)[..., ::d]
    windows.permute(0, 1, 2, 4, 3).reshape(got.shape).backward(grad)
    assert torch.equal(ours.grad, view.grad)
    unfolded = x.clone().requires_grad_()
    reference_unfold(unfolded, w, s, d).backward(grad)
    torch.testing.assert_close(ours.grad, unfolded.grad)


def test_window_graph_conv_is_a_multiscale_conv_on_the_window_graph():
    set_seed(0)
    m = perturb(WindowGraphConv(6, 10, A, 4, window_size=3, residual=True))
    x = TemporalWindows(3)(torch.randn(2, 6, 8, 25))
    with torch.no_grad():
        torch.testing.assert_close(m(x), reference_graph_conv(m, x), **TOL)
    torch.testing.assert_close(m.scales, multiscale_adjacency(window_adjacency(A, 3), 4))


@pytest.mark.usefixtures("pointwise_kernel")
@pytest.mark.parametrize(
    "c_in,c_out,scales,w,s,d,embed",
    [(64, 64, 6, 3, 1, 1, 1), (3, 32, 6, 5, 1, 1, 1), (16, 32, 4, 3, 2, 1, 1), (16, 16, 3, 5, 2, 2, 1),
     (16, 32, 3, 3, 1, 2, 2), (8, 8, 2, 4, 1, 1, 1)],
)  # fmt: skip
@pytest.mark.parametrize("t", [12, 11])
def test_g3d_block_equals_explicit_unfold_order(c_in, c_out, scales, w, s, d, embed, t):
    set_seed(0)
    m = perturb(G3DBlock(c_in, c_out, A, scales, w, s, d, embed_factor=embed))
    x = torch.randn(2, c_in, t, 25)
    with torch.no_grad():
        fast, slow = m(x), m.explicit(x)
    torch.testing.assert_close(fast, slow, **TOL)
    pad = (w + (w - 1) * (d - 1) - 1) // 2
    assert fast.shape == (2, c_out, (t + 2 * pad - d * (w - 1) - 1) // s + 1, 25)


@pytest.mark.usefixtures("pointwise_kernel")
def test_g3d_gradients_of_fast_path_equal_explicit_path():
    set_seed(0)
    m = perturb(G3DBlock(8, 12, A, 3, 3, 2)).train().double()
    x = torch.randn(2, 8, 9, 25, dtype=torch.float64, requires_grad=True)
    m(x).square().sum().backward()
    grads = [x.grad.clone()] + [p.grad.clone() for p in m.parameters()]
    x.grad = None
    m.zero_grad()
    m.explicit(x).square().sum().backward()
    for got, want in zip(grads, [x.grad] + [p.grad for p in m.parameters()], strict=True):
        torch.testing.assert_close(got, want, **TOL)


def test_multi_window_is_the_sum_of_its_blocks():
    set_seed(0)
    m = perturb(MultiWindowG3D(8, 16, A, 3, (3, 5), 2, (1, 2)))
    x = torch.randn(2, 8, 10, 25)
    with torch.no_grad():
        torch.testing.assert_close(m(x), m.blocks[0].explicit(x) + m.blocks[1].explicit(x), **TOL)


# -- official adapters -------------------------------------------------------------------------


def original_g3d_keys(prefix: str, embed: bool) -> list[str]:
    """MS_G3D state_dict keys, written from the original layout."""
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    keys = [f"{prefix}gcn3d.1.A_res"] + [f"{prefix}gcn3d.1.mlp.layers.0.{p}" for p in ("weight", "bias")]
    keys += [f"{prefix}gcn3d.1.mlp.layers.1.{p}" for p in bn] + [f"{prefix}out_conv.{p}" for p in ("weight", "bias")]
    keys += [f"{prefix}out_bn.{p}" for p in bn]
    if embed:
        keys += [f"{prefix}in1x1.layers.0.{p}" for p in ("weight", "bias")]
        keys += [f"{prefix}in1x1.layers.1.{p}" for p in bn]
    return keys


def original_state_dict(keys: list[str], donor: torch.nn.Module, name: str, **kwargs) -> dict:
    """Original-keyed weights taken from ``donor``, through the key map (one original key -> one stviz key)."""
    ours, out = donor.state_dict(), {}
    keymap = official.key_map("msg3d", name, **kwargs)
    for key in keys:
        value = ours[keymap.to_stviz(key)]
        out[key] = value.reshape(-1, value.shape[-1]) if key.endswith("A_res") else value
    return out


@pytest.mark.parametrize("embed", [1, 2])
def test_ms_g3d_original_keys_load_strictly(embed):
    kwargs = dict(in_channels=16, out_channels=32, A_binary=A, num_scales=6, window_size=5, window_stride=2,
                  window_dilation=1, embed_factor=embed)  # fmt: skip
    target = official.build("msg3d", "MS_G3D", **kwargs).eval()
    donor = perturb(official.build("msg3d", "MS_G3D", **kwargs))
    original = original_state_dict(original_g3d_keys("", embed > 1), donor, "MS_G3D", **kwargs)
    target.load_state_dict(official.convert_state_dict("msg3d", "MS_G3D", original, **kwargs), strict=True)
    x = torch.randn(2, 16, 9, 25)
    with torch.no_grad():
        torch.testing.assert_close(target(x), donor(x))


def test_multi_window_original_keys_load_strictly():
    kwargs = dict(in_channels=8, out_channels=16, A_binary=A, num_scales=6, window_sizes=[3, 5], window_stride=1,
                  window_dilations=[1, 1])  # fmt: skip
    target = official.build("msg3d", "MultiWindow_MS_G3D", **kwargs).eval()
    donor = perturb(official.build("msg3d", "MultiWindow_MS_G3D", **kwargs))
    keys = original_g3d_keys("gcn3d.0.", False) + original_g3d_keys("gcn3d.1.", False)
    original = original_state_dict(keys, donor, "MultiWindow_MS_G3D", **kwargs)
    target.load_state_dict(official.convert_state_dict("msg3d", "MultiWindow_MS_G3D", original, **kwargs), strict=True)
    assert target.blocks[1].graph_conv.offset.shape == (6, 125, 125)
    x = torch.randn(2, 8, 6, 25)
    with torch.no_grad():
        torch.testing.assert_close(target(x), donor(x))


def test_graph_conv_keys_with_dropout_and_residual():
    m = official.build("msg3d", "SpatialTemporal_MS_GCN", in_channels=8, out_channels=16, A_binary=A, num_scales=3,
                       window_size=3, residual=True, dropout=0.2)  # fmt: skip
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    keys = ["A_res", "mlp.layers.1.weight", "mlp.layers.1.bias"] + [f"mlp.layers.2.{p}" for p in bn]
    keys += ["residual.layers.0.weight", "residual.layers.0.bias"] + [f"residual.layers.1.{p}" for p in bn]
    kwargs = dict(in_channels=8, out_channels=16, A_binary=A, num_scales=3, window_size=3, residual=True, dropout=0.2)
    keymap, ours = official.key_map("msg3d", "SpatialTemporal_MS_GCN", **kwargs), m.state_dict()
    sd = {k: torch.zeros(ours[keymap.to_stviz(k)].shape) for k in keys}
    sd["A_res"] = torch.arange(3 * 75 * 75.0).view(225, 75)
    converted = official.convert_state_dict("msg3d", "SpatialTemporal_MS_GCN", sd, **kwargs)
    assert set(converted) == set(m.state_dict())
    torch.testing.assert_close(converted["offset"][1], sd["A_res"][75:150])
    with pytest.raises(ValueError, match=r"leftover: original 'mlp.layers.0.weight' -> stviz 'mlp.layers.0.weight'"):
        official.convert_state_dict("msg3d", "SpatialTemporal_MS_GCN", {"mlp.layers.0.weight": torch.zeros(1)},
                                    strict=False, **kwargs)  # fmt: skip


def test_unfold_adapter_matches_reference():
    m = official.build("msg3d", "UnfoldTemporalWindows", window_size=5, window_stride=2, window_dilation=2)
    x = torch.randn(1, 2, 13, 25)
    torch.testing.assert_close(m(x), reference_unfold(x, 5, 2, 2))


def test_scales_are_not_in_state_dict_but_follow_the_module():
    m = MultiScaleGraphConv(4, 4, A, 3)
    assert "scales" not in m.state_dict() and "offset" in m.state_dict()
    assert m.double().scales.dtype == torch.float64


# -- errors ------------------------------------------------------------------------------------


def test_bad_inputs_are_named():
    m = MultiScaleGraphConv(4, 8, A, 3)
    with pytest.raises(ValueError, match="C=5 channels, expected 4"):
        m(torch.randn(1, 5, 3, 25))
    with pytest.raises(ValueError, match="V=18 joints, but the graph has 25"):
        m(torch.randn(1, 4, 3, 18))
    with pytest.raises(ValueError, match=r"shape \(N, C, T, V\)"):
        m(torch.randn(4, 3, 25))
    with pytest.raises(TypeError, match="floating-point"):
        m(torch.ones(1, 4, 3, 25, dtype=torch.long))
    with pytest.raises(ValueError, match="V=25 joints, but the graph has 75"):
        WindowGraphConv(4, 4, A, 2, 3)(torch.randn(1, 4, 3, 25))
    with pytest.raises(ValueError, match="G3DBlock: x has C=3"):
        G3DBlock(4, 8, A, 2, 3)(torch.randn(1, 3, 5, 25))
    with pytest.raises(ValueError, match="num_scales must be an integer >= 1"):
        multiscale_adjacency(A, 0)
    with pytest.raises(ValueError, match="differ in length"):
        MultiWindowG3D(4, 4, A, 2, (3, 5), 1, (1,))


def test_flops_match_spec_and_the_fast_order_saves_on_g3d():
    """The originals' reference MFLOPs per sample at C=64, T=64: 236.95 (MS-GCN), 551.73 (G3D), 1778.48 (windows)."""

    class Explicit(torch.nn.Module):
        def __init__(self, block):
            super().__init__()
            self.block = block

        def forward(self, x):
            return self.block.explicit(x)

    x = torch.randn(1, 64, 64, 25)
    for block, spec in [(MultiScaleGraphConv(64, 64, A, 13), 236.95), (G3DBlock(64, 64, A, 6, 3), 551.73),
                        (MultiWindowG3D(64, 64, A, 6), 1778.48)]:  # fmt: skip
        fast, slow = count(block.eval(), x).flops / 1e6, count(Explicit(block), x).flops / 1e6
        assert abs(slow - spec) < 0.01, (type(block).__name__, slow)
        assert fast <= slow
    assert count(G3DBlock(64, 64, A, 6, 3).eval(), x).flops < 0.75 * 551.73e6
