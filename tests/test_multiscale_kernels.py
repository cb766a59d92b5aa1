"""The fast contractions of MS-G3D's blocks (:mod:`stviz.multiscale_kernels`) against the plain ops they replace.

The paths are chosen by the widths: when the scale-major stack is wider than the output, a plain graph conv works
sample by sample in its input's layout and a G3D block trains in a rows layout; when it is narrower, BatchNorm's
statistics are folded from the stack's covariance in training (or, for small inputs, BatchNorm is applied to the
product: both routes are tested whatever the size). All must give the original order's output,
gradients and running statistics (checked in float64, and by ``gradcheck`` on each custom autograd function).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from stviz import multiscale_kernels, multiscale_stack, set_seed
from stviz.graph import SkeletonGraph
from stviz.layers import pointwise_conv
from stviz.multiscale import G3DBlock, MultiScaleGraphConv
from stviz.multiscale_kernels import (
    AggregateProjectFrames,
    AggregateProjectRows,
    batch_norm_rows,
)
from stviz.multiscale_stack import (
    FOLD_MIN_POSITIONS,
    ProjectionBatchNorm,
    moments_from_input_are_cheaper,
    projection_batch_norm,
    stack_moments,
)

A = SkeletonGraph().binary_adjacency()
CHAIN = torch.tensor([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=torch.float32)  # 4 joints
F64 = dict(atol=1e-10, rtol=1e-10)


@pytest.fixture(params=["folded", "plain"])
def batch_norm_route(request, monkeypatch):
    """Both routes of :func:`projection_batch_norm` whatever the input's size: BatchNorm folded into the projection
    from the stack's statistics (:class:`ProjectionBatchNorm`), or applied to the product."""
    monkeypatch.setattr(multiscale_stack, "FOLD_MIN_POSITIONS", 0 if request.param == "folded" else 1 << 62)
    return request.param


@pytest.fixture(params=["from input", "from stack"])
def moments_source(request, monkeypatch):
    """Both sources of a graph conv's folded statistics: its input's covariance mapped through the graph
    (:func:`stack_moments`), or the stack's own covariance."""
    from_input = request.param == "from input"
    monkeypatch.setattr(multiscale_stack, "moments_from_input_are_cheaper", lambda *shapes: from_input)
    return request.param


def _perturbed(module: nn.Module) -> nn.Module:
    """Parameters and BN statistics off their init (an asymmetric offset, BN scale away from 1), float64."""
    set_seed(3)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn_like(p))
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return module.double()


def _batch_norms(module: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]


def _check_step_equals_explicit(module: nn.Module, x: torch.Tensor, train: bool = True) -> None:
    """Output, every gradient and every BN's running statistics of ``module(x)`` equal ``explicit(x)``'s, in train
    mode (BN on the batch's statistics, which it then tracks) or in eval (BN folded, its statistics left alone)."""
    fast, slow = module.train(train), copy.deepcopy(module).train(train)
    x_fast, x_slow = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_fast, y_slow = fast(x_fast), slow.explicit(x_slow)
    torch.testing.assert_close(y_fast, y_slow, **F64)
    grad = torch.randn_like(y_fast)
    y_fast.backward(grad)
    y_slow.backward(grad)
    torch.testing.assert_close(x_fast.grad, x_slow.grad, **F64)
    for (name, p), q in zip(fast.named_parameters(), slow.parameters(), strict=True):
        assert p.grad is not None, f"{name} got no gradient"
        torch.testing.assert_close(p.grad, q.grad, **F64, msg=name)
    for bn_fast, bn_slow in zip(_batch_norms(fast), _batch_norms(slow), strict=True):
        torch.testing.assert_close(bn_fast.running_mean, bn_slow.running_mean, **F64)
        torch.testing.assert_close(bn_fast.running_var, bn_slow.running_var, **F64)
        assert bn_fast.num_batches_tracked == bn_slow.num_batches_tracked == int(train)


@pytest.mark.usefixtures("pointwise_kernel")
@pytest.mark.parametrize("bias", [True, False])
def test_pointwise_conv_equals_a_1x1_conv2d(bias):
    x = torch.randn(3, 7, 5, 4, dtype=torch.float64)
    conv = nn.Conv2d(7, 6, 1, bias=bias).double()
    torch.testing.assert_close(pointwise_conv(x, conv.weight, conv.bias), conv(x), **F64)


@pytest.mark.usefixtures("pointwise_kernel")
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_projection_batch_norm_equals_conv_then_batch_norm(momentum, affine, relu, bias, batch_norm_route):
    set_seed(0)
    base = (torch.randn(4, 5, 2, 3, 7, dtype=torch.float64) * 2 + 3).requires_grad_()  # far from zero mean
    conv = nn.Conv2d(6, 9, 1, bias=bias).double()
    bn = nn.BatchNorm2d(9, momentum=momentum, affine=affine).double()
    if affine:
        with torch.no_grad():
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_()
    bn_ref = copy.deepcopy(bn)
    act = nn.ReLU(inplace=True) if relu else None
    for step in range(2):  # the second step checks the running statistics' update from non-initial values
        stack = base.permute(0, 3, 2, 1, 4)  # (N, 3, 2, 5, 7): a strided view of 6 channels x 35 positions
        got = projection_batch_norm(stack, conv.weight.view(9, 6), conv.bias, bn, act).view(4, 9, 5, 7)
        want = bn_ref(conv(stack.reshape(4, 6, 5, 7)))
        want = torch.relu(want) if relu else want
        torch.testing.assert_close(got, want, **F64)
        torch.testing.assert_close(bn.running_mean, bn_ref.running_mean, **F64)
        torch.testing.assert_close(bn.running_var, bn_ref.running_var, **F64)
        assert bn.num_batches_tracked == bn_ref.num_batches_tracked == step + 1
    params = [base, conv.weight, *([conv.bias] if bias else []), *([bn.weight, bn.bias] if affine else [])]
    ref_params = [base, conv.weight, *([conv.bias] if bias else []), *([bn_ref.weight, bn_ref.bias] if affine else [])]
    grad = torch.randn_like(got)
    grads = torch.autograd.grad(got, params, grad)
    want_grads = torch.autograd.grad(want, ref_params, grad)
    for g, w in zip(grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, atol=1e-9, rtol=1e-9)


def test_stack_moments_are_the_stacks_mean_and_covariance():
    torch.manual_seed(7)
    x = 2.0 + 0.5 * torch.randn(4, 2, 5, 4, dtype=torch.float64)  # off-centre, as raw coordinates are
    adjacency = torch.rand(3, 6, 4, dtype=torch.float64)  # 3 scales, 6 output joints from 4 input joints
    stack = torch.einsum("kvu,nctu->nkctv", adjacency, x).reshape(4, 3 * 2, 5 * 6)  # (N, K*C, T*V), scale-major
    flat = stack.transpose(0, 1).reshape(6, -1)
    mean, cov = stack_moments(x, adjacency)
    torch.testing.assert_close(mean, flat.mean(1), **F64)
    torch.testing.assert_close(cov, torch.cov(flat, correction=0), **F64)


def test_projection_batch_norm_folds_from_enough_positions(monkeypatch):
    """MS-G3D's first graph conv and a G3D block on its input in training: the plain route below
    :data:`FOLD_MIN_POSITIONS` positions (samples x frames x graph nodes), BatchNorm folded from there on."""
    routes = []
    folded = ProjectionBatchNorm.apply
    monkeypatch.setattr(ProjectionBatchNorm, "apply", lambda *a: routes.append("folded") or folded(*a))
    graph_conv = MultiScaleGraphConv(3, 24, A, 4).train()
    block = G3DBlock(3, 16, A, 4, 3, graph_channels=16).train()  # its stack: 3 window frames of 25 joints per frame
    for module, n, nodes in ((graph_conv, 2, 25), (block, 1, 3 * 25)):
        frames = -(-FOLD_MIN_POSITIONS // (n * nodes))  # the fewest frames that make enough positions
        routes.clear()
        for t in (frames - 1, frames):
            routes.append(t)
            module(torch.randn(n, 3, t, 25))
        assert routes == [frames - 1, frames, "folded"], type(module).__name__


def test_stack_moments_come_from_the_input_where_that_takes_fewer_products():
    """MS-G3D's first graph conv (3 channels, 13 scales of 25 joints): the input's covariance mapped through the graph
    costs a fixed 2.78 M multiply-accumulates plus 5,625 per sample and frame, the stack's own covariance 38,025; they
    break even between 85 and 86 frames. The 5-frame window graph (125 nodes) costs 228 M by the graph."""
    skeleton, windows = torch.Size((13, 25, 25)), torch.Size((13, 125, 125))
    assert not moments_from_input_are_cheaper(torch.Size((1, 3, 85, 25)), skeleton)
    assert moments_from_input_are_cheaper(torch.Size((1, 3, 86, 25)), skeleton)
    assert moments_from_input_are_cheaper(torch.Size((8, 3, 64, 25)), skeleton)
    assert not moments_from_input_are_cheaper(torch.Size((8, 3, 64, 125)), windows)


@pytest.mark.usefixtures("pointwise_kernel")
def test_projection_batch_norm_passes_gradcheck():
    set_seed(0)
    stack = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    weight, bias = torch.randn(6, 4, dtype=torch.float64, requires_grad=True), torch.randn(6, dtype=torch.float64)
    gamma = torch.rand(6, dtype=torch.float64).add(0.5).requires_grad_()
    beta = torch.randn(6, dtype=torch.float64, requires_grad=True)

    def layer(stack, weight, gamma, beta):
        return ProjectionBatchNorm.apply(stack, None, weight, bias, gamma, beta, 1e-5, True)[0]

    assert torch.autograd.gradcheck(layer, (stack, weight, gamma, beta))
    x = torch.randn(3, 2, 2, 4, dtype=torch.float64, requires_grad=True)  # built from x and 2 scales of a graph
    adjacency = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    stack = torch.einsum("kvu,nctu->nkctv", adjacency, x).reshape(3, 4, 6)
    got = ProjectionBatchNorm.apply(x, adjacency, weight, bias, gamma, beta, 1e-5, True)[0]
    torch.testing.assert_close(got, layer(stack, weight, gamma, beta), **F64)

    def aggregated(x, adjacency, weight, gamma, beta):
        return ProjectionBatchNorm.apply(x, adjacency, weight, bias, gamma, beta, 1e-5, True)[0]

    assert torch.autograd.gradcheck(aggregated, (x, adjacency, weight, gamma, beta))


@pytest.mark.usefixtures("pointwise_kernel")
@pytest.mark.parametrize("chunk_values", [1 << 21, 24])  # one chunk; chunks of 2 graphs and a last one of 1
@pytest.mark.parametrize("bias", [True, False])
def test_aggregate_project_rows_passes_gradcheck(monkeypatch, chunk_values, bias):
    monkeypatch.setattr(multiscale_kernels, "STACK_CHUNK", chunk_values)
    frames = torch.randn(5, 4, 2, dtype=torch.float64, requires_grad=True)
    graph = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)  # V=3 rows of K=2 scales
    weight = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)  # (O, K*C)
    b = torch.randn(7, dtype=torch.float64, requires_grad=True) if bias else None
    want = (graph @ frames).view(15, 4) @ weight.t() + (0 if b is None else b)
    torch.testing.assert_close(AggregateProjectRows.apply(frames, graph, weight, b), want, **F64)
    assert torch.autograd.gradcheck(AggregateProjectRows.apply, (frames, graph, weight, b))


@pytest.mark.usefixtures("pointwise_kernel")
@pytest.mark.parametrize("chunk_values", [1 << 20, 40])  # one chunk; chunks of 2 samples and a last one of 1
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rows_stack_devices", [("cpu",), ()], ids=["rows-stack", "scale-major-stack"])
def test_aggregate_project_frames_passes_gradcheck(monkeypatch, chunk_values, bias, rows_stack_devices):
    """Both stack layouts of MKL's path (rows on the CPU; scale-major, projected into the output, elsewhere), and
    oneDNN's convolution under the fixture's other kernel."""
    monkeypatch.setattr(multiscale_kernels, "STACK_CHUNK", chunk_values)
    monkeypatch.setattr(multiscale_kernels, "ROWS_STACK_DEVICES", rows_stack_devices)
    x = torch.randn(5, 2, 2, 4, dtype=torch.float64, requires_grad=True)  # (N, C, T, U)
    adjacency = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)  # K=2 scales, V=3 targets
    weight = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)  # (O, K*C), scale-major
    b = torch.randn(7, dtype=torch.float64, requires_grad=True) if bias else None
    stack = torch.einsum("kvu,nctu->nkctv", adjacency, x).reshape(5, 4, 2, 3)
    want = torch.einsum("od,ndtv->notv", weight, stack) + (0 if b is None else b.view(1, 7, 1, 1))
    torch.testing.assert_close(AggregateProjectFrames.apply(x, adjacency, weight, b, True), want, **F64)
    assert torch.autograd.gradcheck(AggregateProjectFrames.apply, (x, adjacency, weight, b, True))
    with torch.no_grad():  # no backward to come: every chunk reuses one stack (and its row of ones)
        torch.testing.assert_close(multiscale_kernels.aggregate_project_frames(x, adjacency, weight, b), want, **F64)


def test_aggregate_project_frames_off_the_cpu_projects_into_the_output():
    """Only on the CPU, where MKL was measured faster so, is the stack made as rows and the projection written as
    rows of O values and copied; elsewhere the stack is scale-major and projected by one product into the output.
    The meta device runs that path on shapes alone."""
    x, adjacency = torch.empty(3, 2, 4, 5, device="meta"), torch.empty(2, 5, 5, device="meta")  # K*C = 4 stacked
    weight, bias = torch.empty(7, 4, device="meta"), torch.empty(7, device="meta")
    y = AggregateProjectFrames.apply(x, adjacency, weight, bias, False)
    assert (y.device.type, y.shape) == ("meta", (3, 7, 4, 5))


@pytest.mark.usefixtures("pointwise_kernel")
@pytest.mark.parametrize("route", ["frames", "rows"])
def test_aggregate_project_under_bfloat16_autocast_computes_in_bfloat16_near_float32(route):
    """Under CPU autocast the stack and its projection are computed in bfloat16 (oneDNN's convolution or MKL's
    product, by the fixture): the output is bfloat16, and it and every gradient (float32, as its input) are near the
    float32 run's."""
    torch.manual_seed(6)
    if route == "frames":  # x (N, C, T, U), adjacency (K, V, U), weight (O, K*C); keep the stacks for a backward
        inputs = [torch.randn(3, 4, 5, 6), torch.rand(2, 6, 6), torch.randn(7, 8), torch.randn(7)]
        function, flags = AggregateProjectFrames, (True,)
    else:  # frames (B, U, C), graph (V*K, U), weight (O, K*C)
        inputs = [torch.randn(5, 6, 4), torch.rand(12, 6), torch.randn(7, 8), torch.randn(7)]
        function, flags = AggregateProjectRows, ()
    inputs = [a.requires_grad_() for a in inputs]
    want = function.apply(*inputs, *flags)
    grad = torch.randn_like(want)
    want_grads = torch.autograd.grad(want, inputs, grad)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = function.apply(*inputs, *flags)
    grads = torch.autograd.grad(got, inputs, grad)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, rtol=0.05, atol=0.05 * want.abs().max().item())
    for g, w in zip(grads, want_grads, strict=True):
        assert g.dtype == torch.float32
        torch.testing.assert_close(g, w, rtol=0.05, atol=0.05 * w.abs().max().item())


def test_batch_norm_rows_is_batch_norm_over_columns():
    y = torch.randn(40, 5, dtype=torch.float64)
    bn, bn_ref = nn.BatchNorm2d(5).double(), nn.BatchNorm1d(5).double()
    torch.testing.assert_close(batch_norm_rows(y, bn).view(40, 5), bn_ref(y), **F64)
    torch.testing.assert_close(bn.running_var, bn_ref.running_var, **F64)


def _copies_a_base(y: torch.Tensor) -> bool:
    """Whether ``y``'s autograd graph has a CopySlices node (an in-place op on a view: copies the view's base)."""
    seen, todo = set(), [y.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None and node.name() not in seen:
            seen.add(node.name())
            todo.extend(next_node for next_node, _ in node.next_functions)
    return any("CopySlices" in name for name in seen)


def test_activation_runs_before_the_reshape_so_autograd_copies_nothing(batch_norm_route):
    set_seed(0)
    x = torch.randn(2, 6, 5, 4, dtype=torch.float64, requires_grad=True)
    conv = nn.Conv2d(6, 3, 1).double()
    y = pointwise_conv(x, conv.weight, conv.bias, nn.ReLU(inplace=True))
    torch.testing.assert_close(y, torch.relu(conv(x)), **F64)
    assert not _copies_a_base(y)
    z = (x * 1.0).view(2, 6, 20)
    assert _copies_a_base(torch.relu_(z))  # what an in-place ReLU on a reshaped view adds
    rows = torch.randn(12, 3, dtype=torch.float64, requires_grad=True)
    assert not _copies_a_base(batch_norm_rows(rows * 2, nn.BatchNorm2d(3).double(), nn.ReLU(True)))
    m = _perturbed(MultiScaleGraphConv(8, 12, A, 5)).train()
    assert not _copies_a_base(m(torch.randn(2, 8, 4, 25, dtype=torch.float64)))
    block = _perturbed(G3DBlock(3, 16, A, 4, 3, graph_channels=16)).train()
    assert not _copies_a_base(block(torch.randn(2, 3, 6, 25, dtype=torch.float64)))


@pytest.mark.usefixtures("pointwise_kernel")
@pytest.mark.parametrize(
    "c_in, c_out, scales", [(8, 12, 5), (3, 24, 4), (16, 16, 3)]
)  # stack wider than the output (rows), narrower (folded statistics), wider
def test_graph_conv_train_step_equals_original_order(c_in, c_out, scales, batch_norm_route, moments_source):
    set_seed(0)
    m = _perturbed(MultiScaleGraphConv(c_in, c_out, A, scales))
    _check_step_equals_explicit(m, torch.randn(3, c_in, 6, 25, dtype=torch.float64))


@pytest.mark.parametrize(
    "c_in, c_out, scales, w, s, d, embed, graph_channels",
    [
        (8, 16, 3, 3, 1, 1, 1, None),  # rows
        (8, 16, 3, 5, 2, 1, 1, None),  # rows, strided
        (8, 8, 2, 3, 2, 2, 1, None),  # rows, dilated
        (3, 16, 4, 3, 1, 1, 1, 16),  # narrow stack: folded statistics (MS-G3D's first layer)
        (3, 16, 3, 5, 2, 1, 1, 24),  # narrow stack, strided
        (3, 16, 3, 3, 2, 2, 1, 16),  # narrow stack, strided and dilated
        (6, 16, 3, 3, 1, 1, 2, None),  # with the 1x1 embedding
    ],
)
@pytest.mark.parametrize("t", [9, 8])
@pytest.mark.usefixtures("pointwise_kernel")
def test_g3d_train_step_equals_original_order(c_in, c_out, scales, w, s, d, embed, graph_channels, t, batch_norm_route):
    set_seed(0)
    block = G3DBlock(c_in, c_out, A, scales, w, s, d, embed_factor=embed, graph_channels=graph_channels)
    _check_step_equals_explicit(_perturbed(block), torch.randn(2, c_in, t, 25, dtype=torch.float64))


@pytest.mark.usefixtures("pointwise_kernel")
@pytest.mark.parametrize("w, s, d", [(3, 1, 1), (5, 2, 1), (3, 2, 2), (4, 1, 1)])
@pytest.mark.parametrize("t", [9, 8])
def test_g3d_aggregate_first_in_eval_equals_original_order(w, s, d, t):
    set_seed(0)
    block = _perturbed(G3DBlock(3, 16, A, 4, w, s, d, graph_channels=24)).eval()
    assert block.contraction_order == "aggregate-first"
    x = torch.randn(2, 3, t, 25, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(block(x), block.explicit(x), **F64)


@pytest.mark.usefixtures("pointwise_kernel")
@pytest.mark.parametrize("w, s, d", [(3, 1, 1), (3, 2, 1), (5, 2, 1), (3, 2, 2), (5, 1, 2), (4, 1, 1), (2, 2, 1)])
@pytest.mark.parametrize("t", [1, 2, 3, 8, 9])
def test_g3d_project_first_equals_original_order(w, s, d, t):
    """Every output frame, those whose window reaches into the padding (all of them in a short clip) included:
    eval with BatchNorm folded, and the gradients of the input and every parameter (e.g. saliency in eval)."""
    set_seed(0)
    block = _perturbed(G3DBlock(16, 24, A, 4, w, s, d))
    block.contraction_order = "project-first"  # the cheaper order for all but (w 2, s 2); forced for every case
    frames = max(t, block.windows.min_frames)  # w 2, s 2 needs 2 frames for a window
    _check_step_equals_explicit(block, torch.randn(2, 16, frames, 25, dtype=torch.float64), train=False)


def test_g3d_project_first_with_batch_statistics_equals_original_order():
    """Project-first in training: one scale at equal widths (K*C_e = C_e, so the stack is not wider than the
    output) still projects first, BatchNorm then on the batch's statistics in rows."""
    set_seed(0)
    block = _perturbed(G3DBlock(4, 8, A, 1, 3, window_stride=2, graph_channels=4))
    assert block.contraction_order == "project-first"
    assert not block.graph_conv.rows_in_training()
    _check_step_equals_explicit(block, torch.randn(3, 4, 7, 25, dtype=torch.float64))


@pytest.mark.parametrize("graph_channels", [None, 8])  # rows (K*C = 4 > 2), folded statistics (4 < 8)
def test_g3d_train_mode_passes_gradcheck(graph_channels, batch_norm_route):
    set_seed(0)
    block = _perturbed(G3DBlock(2, 3, CHAIN, 2, 3, window_stride=2, graph_channels=graph_channels)).train()
    x = torch.randn(2, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    names = ("graph_conv.offset", "graph_conv.conv.weight", "collapse.weight")
    params = tuple(block.get_parameter(name).detach().clone().requires_grad_() for name in names)

    def step(x, *values):
        return torch.func.functional_call(block, dict(zip(names, values, strict=True)), (x,))

    assert torch.autograd.gradcheck(step, (x, *params))


@pytest.mark.parametrize("c_in, c_out", [(2, 2), (1, 8)])  # rows, folded statistics
def test_graph_conv_train_mode_passes_gradcheck(c_in, c_out, batch_norm_route, moments_source):
    set_seed(0)
    m = _perturbed(MultiScaleGraphConv(c_in, c_out, CHAIN, 3)).train()
    x = torch.randn(2, c_in, 3, 4, dtype=torch.float64, requires_grad=True)
    offset = m.offset.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x, a: torch.func.functional_call(m, {"offset": a}, (x,)), (x, offset))
