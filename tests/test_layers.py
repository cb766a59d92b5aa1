"""The fast paths behind the blocks equal the plain PyTorch ops they replace, values and gradients (float64).

1x1 convolutions as batched matrix products, dropout drawn from uniform samples, the max-pool along T as
strided maxima, both contraction orders of the partitioned graph conv, and Shift-GCN's spatial shift with its
permutation gathers.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stviz.cost import count
from stviz.frame_max_pool import max_pool_frames
from stviz.frame_windows import unfold_frames
from stviz.graph import SkeletonGraph
from stviz.layers import (
    batchnorm_affine,
    conv_bn_forward,
    conv_forward,
    dropout_,
    linear_rows,
    linear_rows_backward,
    pointwise_conv,
    pointwise_conv_from_channels_last,
    pointwise_conv_to_channels_last,
    reference_kernels,
)
from stviz.reconcile import original_order
from stviz.spatial import PartitionGraphConv, ShiftGraphConv
from stviz.spatial.partition import SPARSE_MAX_DENSITY, graph_is_sparse, partition_sum, sparse_graph_sum

F64 = dict(atol=1e-10, rtol=1e-10)


def _grads(fn, *tensors):
    """fn(*tensors) and the gradients of a fixed random weighting of it with respect to every tensor."""
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    y = fn(*leaves)
    weight = torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(5))
    (y * weight).sum().backward()
    return y.detach(), [leaf.grad for leaf in leaves]


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.usefixtures("pointwise_kernel")
def test_pointwise_conv_equals_conv2d(stride, bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(5, 7, 1, stride=(stride, 1), bias=bias).double()
    x = torch.randn(3, 5, 9, 4, dtype=torch.float64)
    want, (wx, ww) = _grads(lambda x, w: F.conv2d(x, w, conv.bias, conv.stride), x, conv.weight)
    y, (gx, gw) = _grads(lambda x, w: pointwise_conv(x[:, :, ::stride], w, conv.bias), x, conv.weight)
    torch.testing.assert_close(y, want, **F64)
    torch.testing.assert_close(gx, wx, **F64)
    torch.testing.assert_close(gw, ww, **F64)
    torch.testing.assert_close(conv_forward(x, conv), want, **F64)


def test_pointwise_convs_into_and_out_of_channels_last_equal_conv2d():
    """Values and gradients; the first writes channels last, the second reads it and writes contiguous."""
    torch.manual_seed(0)
    expand, project = nn.Conv2d(5, 7, 1).double(), nn.Conv2d(7, 4, 1).double()
    x = torch.randn(3, 5, 6, 4, dtype=torch.float64)

    def ours(x, w1, w2):
        h = pointwise_conv_to_channels_last(x, w1, expand.bias, nn.SiLU(inplace=True))
        assert h.is_contiguous(memory_format=torch.channels_last) and not h.is_contiguous()
        y = pointwise_conv_from_channels_last(h, w2, project.bias)
        assert y.is_contiguous()
        return y

    def plain(x, w1, w2):
        return F.conv2d(F.silu(F.conv2d(x, w1, expand.bias)), w2, project.bias)

    y, grads = _grads(ours, x, expand.weight, project.weight)
    want, wants = _grads(plain, x, expand.weight, project.weight)
    torch.testing.assert_close(y, want, **F64)
    for got, expected in zip(grads, wants, strict=True):
        torch.testing.assert_close(got, expected, **F64)
    with pytest.raises(ValueError, match="h must be channels last"):
        pointwise_conv_from_channels_last(x, project.weight, project.bias)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.usefixtures("pointwise_kernel")
def test_conv_bn_forward_pointwise_equals_conv_then_bn(training):
    torch.manual_seed(1)
    conv, bn = nn.Conv2d(4, 6, 1, stride=(2, 1)).double(), nn.BatchNorm2d(6).double()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.uniform_(0.5, 2)
    bn.train(training)
    x = torch.randn(2, 4, 7, 3, dtype=torch.float64)
    reference = nn.BatchNorm2d(6).double()
    reference.load_state_dict(bn.state_dict())
    reference.train(training)
    torch.testing.assert_close(conv_bn_forward(x, conv, bn), reference(conv(x)), **F64)
    torch.testing.assert_close(bn.running_mean, reference.running_mean, **F64)  # the same statistics update


@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_affine_is_eval_batchnorm_per_channel_and_none_in_training(affine):
    torch.manual_seed(2)
    bn = nn.BatchNorm2d(5, affine=affine).double()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2)
        if affine:
            bn.weight.uniform_(0.5, 2), bn.bias.uniform_(-1, 1)
    y = torch.randn(3, 5, 4, 2, dtype=torch.float64)
    scale, shift = batchnorm_affine(bn.eval())
    torch.testing.assert_close(scale.view(1, 5, 1, 1) * y + shift.view(1, 5, 1, 1), bn(y), **F64)
    assert batchnorm_affine(bn.train()) is None  # batch statistics: nothing fixed to fold


def test_dropout_keeps_entries_with_the_right_probability_and_scale():
    torch.manual_seed(0)
    p = 0.3
    x = torch.ones(200_000, dtype=torch.float64, requires_grad=True)
    y = dropout_(x * 1.0, p, training=True)
    kept = y != 0
    assert abs(kept.double().mean().item() - (1 - p)) < 0.005  # 10 standard deviations
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / (1 - p)))
    y.sum().backward()
    torch.testing.assert_close(x.grad, y.detach())  # the gradient is the scaled mask
    torch.manual_seed(0)
    assert torch.equal(dropout_(torch.ones(200_000, dtype=torch.float64), p, True), y.detach())  # seeded


def test_dropout_off_in_eval_and_at_the_ends():
    x = torch.randn(50)
    assert dropout_(x.clone(), 0.5, training=False).equal(x)
    assert dropout_(x.clone(), 0.0, training=True).equal(x)
    assert dropout_(x.clone(), 1.0, training=True).abs().sum() == 0
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\]"):
        dropout_(x, 1.5, training=True)


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("frames", [7, 8])
def test_max_pool_frames_equals_max_pool(stride, frames):
    pool = nn.MaxPool2d((3, 1), stride=(stride, 1), padding=(1, 0))
    x = torch.randn(2, 3, frames, 4)
    x[0, 0, 2, 1] = float("nan")
    want = pool(x)
    got = max_pool_frames(x, pool)
    assert got.shape == want.shape
    assert torch.equal(got.isnan(), want.isnan())
    assert torch.equal(got.nan_to_num(0.0), want.nan_to_num(0.0))


@pytest.mark.parametrize("kernel,stride", [(3, 1), (3, 2), (3, 3), (2, 1), (5, 2)])
@pytest.mark.parametrize("frames", [7, 8])
def test_max_pool_frames_gradient_is_max_pool_s_bit_for_bit(kernel, stride, frames):
    """Ties (values rounded to a coarse grid) send their gradient to the first maximum, and each frame's shares are
    added in max_pool2d's order: the gradients are equal, not just close. A NaN, an infinite value or an infinite
    gradient takes max_pool2d's own backward."""
    pool = nn.MaxPool2d((kernel, 1), stride=(stride, 1), padding=(kernel // 2, 0))
    gen = torch.Generator().manual_seed(frames + 10 * kernel + stride)
    x = torch.randint(-3, 4, (2, 3, frames, 4), generator=gen).float()  # many ties
    cases = [(x, None)]
    for bad in (float("nan"), float("-inf"), float("inf")):
        with_bad = x.clone()
        with_bad[0, 1, 0, 2] = bad
        cases.append((with_bad, None))
    cases.append((x, float("inf")))
    for inputs, bad_grad in cases:
        a, b = inputs.clone().requires_grad_(), inputs.clone().requires_grad_()
        want, got = pool(a), max_pool_frames(b, pool)
        grad = torch.randn(want.shape, generator=gen)
        if bad_grad is not None:
            grad[1, 2, 0, 3] = bad_grad
        want.backward(grad)
        got.backward(grad)
        assert torch.equal(got.detach().nan_to_num(0.0), want.detach().nan_to_num(0.0))
        assert torch.equal(b.grad.isnan(), a.grad.isnan())
        assert torch.equal(b.grad.nan_to_num(0.0), a.grad.nan_to_num(0.0))


def test_frame_pool_and_windows_keep_pytorch_s_backward_off_the_cpu():
    """Their backwards were timed on the CPU only: elsewhere (the meta device here) autograd records PyTorch's own."""
    pool = nn.MaxPool2d((3, 1), stride=(1, 1), padding=(1, 0))
    for device, pooled, windows in [("cpu", "FramesMaxPool", "UnfoldFrames"), ("meta", "MaxPool2D", "View")]:
        x = torch.randn(2, 3, 8, 4, device=device, requires_grad=True)
        assert type(max_pool_frames(x, pool).grad_fn).__name__.startswith(pooled)
        assert type(unfold_frames(x, 3, 1, 1, 1).grad_fn).__name__.startswith(windows)


@pytest.mark.parametrize("partitions", [1, 3])
def test_partition_sum_is_the_sum_over_partitions_and_passes_gradcheck(partitions):
    """One convolution over y read as a channels-last image: the einsum's values and gradients (float64), and in
    float32 the output is written contiguous with no copy of y (its input is a view of y)."""
    torch.manual_seed(3)
    y, a = torch.randn(2, partitions, 4, 5, dtype=torch.float64), torch.randn(partitions, 5, 6, dtype=torch.float64)
    torch.testing.assert_close(partition_sum(y, a), torch.einsum("nkrv,kvw->nrw", y, a), **F64)
    assert torch.autograd.gradcheck(partition_sum, (y.requires_grad_(), a.requires_grad_()))
    y32 = torch.randn(8, 3, 64, 25)
    out = partition_sum(y32, torch.rand(3, 25, 25))
    assert out.is_contiguous() and out.shape == (8, 64, 25)
    assert out._base is not None  # a view of the convolution's (channels-last) output, not a copy


def test_sparse_graph_sum_is_the_dense_sum_over_the_nonzeros():
    torch.manual_seed(5)
    y = torch.randn(4, 6, 3, 5, dtype=torch.float64)  # (F, V, K, D)
    a = torch.randn(3, 6, 7, dtype=torch.float64) * (torch.rand(3, 6, 7) < 0.3)  # (K, V, W)
    a[:, :, 2] = 0  # a target that nothing reaches: an empty bag, zeros
    got = sparse_graph_sum(y, a)
    assert got.shape == (4, 7, 5)
    torch.testing.assert_close(got, torch.einsum("fvkd,kvw->fwd", y, a), **F64)
    assert torch.equal(got[:, 2], torch.zeros(4, 5, dtype=torch.float64))
    source = (a[:, :, 0] == 0).all(0).nonzero()[0, 0]  # a source joint that does not reach target 0
    y[:, source] = float("inf")  # a dense product would add 0 * inf = nan there
    assert sparse_graph_sum(y, a)[:, 0].isfinite().all()


def test_graph_is_sparse_counts_nonzero_entries():
    a = torch.zeros(3, 10, 10)
    a.view(-1)[: int(SPARSE_MAX_DENSITY * a.numel())] = 1
    assert graph_is_sparse(a)
    a.view(-1)[: int(SPARSE_MAX_DENSITY * a.numel()) + 1] = 1
    assert not graph_is_sparse(a)


@pytest.mark.usefixtures("pointwise_kernel")
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_rows_equals_addmm(with_bias):
    torch.manual_seed(4)
    rows, weight, bias = (torch.randn(*s, dtype=torch.float64) for s in [(12, 5), (5, 7), (7,)])
    if with_bias:
        want, want_grads = _grads(lambda r, w, b: torch.addmm(b, r, w), rows, weight, bias)
        got, grads = _grads(linear_rows, rows, weight, bias)
    else:
        want, want_grads = _grads(torch.mm, rows, weight)
        got, grads = _grads(lambda r, w: linear_rows(r, w, None), rows, weight)
    torch.testing.assert_close(got, want, **F64)
    assert got.is_contiguous()  # rows callers view, whatever layout the convolution wrote (float64: channels first)
    for g, w in zip(grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, **F64)


@pytest.mark.usefixtures("pointwise_kernel")
@pytest.mark.parametrize("need_rows, need_weight", [(True, True), (True, False), (False, True)])
def test_linear_rows_backward_equals_autograd(need_rows, need_weight):
    torch.manual_seed(5)
    rows, weight, grad = (torch.randn(*s, dtype=torch.float64) for s in [(12, 5), (5, 7), (12, 7)])
    want_rows, want_weight = torch.autograd.grad(
        torch.mm(rows.requires_grad_(), weight.requires_grad_()), (rows, weight), grad
    )
    got_rows, got_weight = linear_rows_backward(grad, rows.detach(), weight.detach(), need_rows, need_weight)
    assert got_rows is None or got_rows.is_contiguous()
    for got, want, needed in ((got_rows, want_rows, need_rows), (got_weight, want_weight, need_weight)):
        if needed:
            torch.testing.assert_close(got, want, **F64)
        else:
            assert got is None


GRAPH = SkeletonGraph().stgcn_partition("spatial", 1, centre_distance="official")
DENSE_GRAPH = GRAPH + 0.1 * torch.rand(GRAPH.shape, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("c_in, c_out", [(3, 8), (6, 6), (8, 5)])  # widening: aggregate first; else project
@pytest.mark.parametrize("grad", [True, False])
@pytest.mark.parametrize("graph", [GRAPH, DENSE_GRAPH], ids=["sparse graph", "dense graph"])
@pytest.mark.usefixtures("pointwise_kernel")
def test_partition_graph_conv_orders_equal_explicit(c_in, c_out, grad, graph):
    assert graph_is_sparse(GRAPH) and not graph_is_sparse(DENSE_GRAPH)  # both graph sums without autograd
    torch.manual_seed(2)
    conv = PartitionGraphConv(c_in, c_out, graph, edge_importance=True).double()
    with torch.no_grad():
        conv.edge_importance.uniform_(0.5, 1.5)
        conv.conv.bias.normal_()
    x = torch.randn(2, c_in, 5, 25, dtype=torch.float64)
    with torch.set_grad_enabled(grad):
        torch.testing.assert_close(conv(x), conv.explicit(x), **F64)
        x_channels_last = x.contiguous(memory_format=torch.channels_last)  # without autograd read in place, transposed
        torch.testing.assert_close(conv(x_channels_last), conv.explicit(x), **F64)
    weight = torch.randn(2, c_out, 5, 25, dtype=torch.float64)

    def grads(fn):  # the input's and every parameter's gradient of a fixed weighting of fn(x)
        xi = x.clone().requires_grad_(True)
        conv.zero_grad(set_to_none=True)
        (fn(xi) * weight).sum().backward()
        return [xi.grad] + [p.grad for p in conv.parameters()]

    for got, want in zip(grads(conv), grads(conv.explicit), strict=True):
        torch.testing.assert_close(got, want, **F64)


@pytest.mark.parametrize("c_in, c_out", [(3, 64), (64, 128), (64, 64), (96, 48)])
def test_partition_graph_conv_never_counts_more_than_the_original(c_in, c_out):
    conv = PartitionGraphConv(c_in, c_out, GRAPH)
    x = torch.randn(1, c_in, 8, 25)
    with original_order(conv):
        original = count(conv, x).macs
    ours = count(conv, x).macs
    if c_out > c_in:
        assert conv.contraction_order == "aggregate-first" and ours < original
    else:
        assert conv.contraction_order == "project-first" and ours == original


def _shift_gcn_by_hand(m: ShiftGraphConv, x: torch.Tensor) -> torch.Tensor:
    """Shift-GCN's spatial shift op by op: permute, gather, mask, linear, gather, BN, residual, ReLU."""
    n, c, t, v = x.shape
    h = x.permute(0, 2, 3, 1).reshape(n * t, v * c).index_select(1, m.index_in).view(n * t, v, c)
    h = (h * (torch.tanh(m.feature_mask) + 1)) @ m.weight + m.bias
    h = h.reshape(n * t, -1).index_select(1, m.index_out)
    h = m.bn(h).view(n, t, v, m.out_channels).permute(0, 3, 1, 2)
    return torch.relu(h + (x if m.residual is None or isinstance(m.residual, nn.Identity) else m.residual(x)))


@pytest.mark.usefixtures("pointwise_kernel")
@pytest.mark.parametrize("shift", ["cyclic", "local"])  # a permutation, and a many-to-one gather
@pytest.mark.parametrize("c_in, c_out", [(6, 6), (3, 8)])
def test_shift_graph_conv_equals_the_op_by_op_shift(shift, c_in, c_out):
    torch.manual_seed(3)
    m = ShiftGraphConv(c_in, c_out, shift=shift, graph=SkeletonGraph()).double()
    with torch.no_grad():
        m.feature_mask.normal_()
        m.bias.normal_()
    x = torch.randn(2, c_in, 4, 25, dtype=torch.float64)
    for training in (True, False):
        m.train(training)
        y, (gx,) = _grads(m, x)
        want, (wx,) = _grads(lambda x: _shift_gcn_by_hand(m, x), x)
        torch.testing.assert_close(y, want, **F64)
        torch.testing.assert_close(gx, wx, **F64)
    m.eval()
    with torch.no_grad():  # the in-place path without autograd
        torch.testing.assert_close(m(x), _shift_gcn_by_hand(m, x), **F64)
    torch.autograd.gradcheck(lambda x: m(x), (x[:1, :, :2].clone().requires_grad_(True),))


@pytest.mark.parametrize("pointwise_kernel", ["conv"], indirect=True)
@pytest.mark.parametrize("grad", [True, False])
def test_partition_graph_conv_without_autograd_convolves_channels_last(grad, pointwise_kernel, monkeypatch):
    """Where the 1x1 conv runs as oneDNN's, project-first without autograd convolves a channels-last x, whose output
    is already the rows layout of the graph sum; with autograd it sums the partitions with partition_sum."""
    from stviz.spatial import partition

    conv_inputs, sums = [], []
    conv2d, graph_sum = partition.F.conv2d, partition.partition_sum
    monkeypatch.setattr(partition.F, "conv2d", lambda x, *a, **k: conv_inputs.append(x) or conv2d(x, *a, **k))
    monkeypatch.setattr(partition, "partition_sum", lambda *a: sums.append(a) or graph_sum(*a))
    torch.manual_seed(0)
    conv = PartitionGraphConv(8, 5, GRAPH).double()
    x = torch.randn(2, 8, 5, 25, dtype=torch.float64)
    with torch.set_grad_enabled(grad):
        torch.testing.assert_close(conv(x), conv.explicit(x), **F64)
    images = [t.shape for t in conv_inputs if t.is_contiguous(memory_format=torch.channels_last)]
    if grad:  # the only channels-last image is the graph sum's, y (N, K, R, V) read as (N, V, K, R)
        ((y, _),) = sums
        assert images == [torch.Size((y.shape[0], y.shape[3], y.shape[1], y.shape[2]))]
    else:  # the 1x1 conv convolves a channels-last x
        assert not sums and images
    sums.clear()
    with torch.set_grad_enabled(grad), reference_kernels():
        torch.testing.assert_close(conv(x), conv.explicit(x), **F64)
    assert not sums  # what the cost tables count: the einsum
