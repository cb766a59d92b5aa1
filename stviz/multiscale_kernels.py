"""The contractions behind MS-G3D's blocks (:mod:`stviz.multiscale`), written for speed on the CPU.

* :class:`AggregateProjectFrames`, :class:`AggregateProjectRows`: graphs aggregated by K (learned) scales and
  projected, the stack made and its gradient used in chunks;
* :func:`g3d_rows`, :func:`g3d_aggregate_first`: a G3D block after its embedding, in the original order;
* :func:`g3d_project_first`: a G3D block after its embedding, each frame projected once and the projections
  aggregated into the windows by batched products; :func:`collapse_rows`: the collapse convolution and BatchNorm.

The scale-major stack of K aggregated copies (K*C_in channels) and the output (C_out channels) are the large
tensors; which of the two is wider decides the layout:

* a stack wider than the output (K*C_in > C_out): the stack is made in chunks of about :data:`STACK_CHUNK` values
  that stay in cache, and no stack is ever large enough to be mapped page by page from the operating system on
  every call. A plain graph conv works sample by sample in x's own (N, C, T, V) layout, so neither the input, the
  output nor their gradients are copied into another layout (:func:`aggregate_project_frames`). A G3D block in
  training uses a rows layout, one row per (sample, frame, joint, window frame), where the collapse convolution is
  one product too (:func:`aggregate_project_rows`, :func:`g3d_rows`);
* a stack no wider than the output (MS-G3D's first layer, 3 input channels): copied once, with a channel of ones
  that carries the bias, and in training with BatchNorm folded from its statistics (:mod:`stviz.multiscale_stack`);
  a G3D block's, in eval where rows take oneDNN's convolution, into rows instead (:func:`g3d_aggregate_first`).

All give :meth:`stviz.multiscale.MultiScaleGraphConv.explicit`'s results and gradients up to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from stviz.layers import (
    conv_is_faster,
    fold_batchnorm,
    linear_rows,
    linear_rows_backward,
    pointwise_conv_backward,
    pointwise_conv_bn,
    rows_conv_is_faster,
    using_reference_kernels,
)
from stviz.multiscale_stack import compute_dtype, pointwise_conv_stack, projection_batch_norm, without_autocast

STACK_CHUNK = 1 << 20  # values of the aggregated stack made (and its gradient used) at once: 4 MB in float32
ROWS_STACK_DEVICES = ("cpu",)  # where MKL's stack is made as rows of K*C values (:class:`AggregateProjectFrames`)


def batch_norm_rows(y: torch.Tensor, bn: nn.BatchNorm2d, act: nn.Module | None = None) -> torch.Tensor:
    """``act(bn(y))`` over the columns of ``y`` (R, C): each column a channel, each row a (sample, frame, joint).

    ``act`` runs before the result is reshaped back to (R, C), as in :func:`pointwise_conv`."""
    rows, channels = y.shape
    y = bn(y.view(rows, channels, 1, 1))
    return (y if act is None else act(y)).view(rows, channels)


def aggregate_project_frames(
    x: torch.Tensor, adjacency: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """``W · concat_k(A_k x) + b`` in the original order, in x's own layout: x (N, C, T, U), ``adjacency`` (K, V, U),
    ``weight`` (C_out, K*C, ...) with scale-major input channels ``k*C + c`` -> (N, C_out, T, V). See
    :class:`AggregateProjectFrames`; under :func:`~stviz.layers.reference_kernels` two plain einsums and the bias
    added (what the cost tables count)."""
    o = weight.shape[0]
    if using_reference_kernels():
        n, c, t, _ = x.shape
        k, v, _ = adjacency.shape
        stack = torch.einsum("kvu,nctu->nkctv", adjacency, x).reshape(n, k * c, t * v)
        y = torch.einsum("od,ndp->nop", weight.reshape(o, k * c), stack).view(n, o, t, v)
        return y if bias is None else y + bias.view(1, o, 1, 1)
    tensors = (x, adjacency, weight, bias)
    backward = torch.is_grad_enabled() and any(a is not None and a.requires_grad for a in tensors)
    return AggregateProjectFrames.apply(x, adjacency, weight.reshape(o, -1), bias, backward)


class AggregateProjectFrames(torch.autograd.Function):
    """``W · concat_k(A_k x) + b`` sample by sample, without a layout change: (N, C, T, U) -> (N, O, T, V).

    Each sample's stack of K aggregates is made by one batched product and projected per chunk of samples:

    * by oneDNN's 1x1 convolution where it is the faster kernel (:func:`~stviz.layers.conv_is_faster`; its backward
      gives the stack's and the weight's gradients in one call), and off the CPU by one product into the output,
      the stack scale-major (K*C rows of T*V values), batched over the scales;
    * else, on the CPU, by MKL's product, the stack as rows (t, v) of K*C values (channel fastest) made frame by
      frame as ``(V*K, U) @ (U, C)``, and the projection written as rows of O values and copied into place. On a
      Zen 1 EPYC MKL makes that stack at 45-60 GFLOP/s against 35-49 batched over the scales, and the layers' eval
      forward took 0.90-0.97 of the scale-major stack's time, their training step 0.97-0.98 (in turns, one process).

    The backward makes the stack's gradient scale-major, x's gradient from it by a chain of products per scale and the
    graph's by one batched product per sample. No permuted copy of the input, the output or their gradients is made
    (a rows layout of the whole batch needs four), and the stack is made in chunks of about :data:`STACK_CHUNK`
    values that stay in cache and are kept for the backward.
    """

    @staticmethod
    def forward(ctx, x, adjacency, weight, bias, keep):
        """``keep``: whether a backward may follow (the stacks are kept for it); else every chunk reuses one stack."""
        device = x.device.type
        dtype = compute_dtype(device, x.dtype)
        n, c, t, u = x.shape
        (k, v, _), o = adjacency.shape, weight.shape[0]
        ctx.dtypes = x.dtype, adjacency.dtype, weight.dtype
        xc, graph, weight = x.to(dtype).contiguous(), adjacency.to(dtype), weight.to(dtype)
        bias = None if bias is None else bias.to(dtype)
        chunk = max(1, STACK_CHUNK // (k * c * t * v))
        conv = conv_is_faster(x.device, min(chunk, n) * t * v, k * c, o)
        frame_rows = device in ROWS_STACK_DEVICES and not conv  # the stack as rows (t, v) of K*C values
        out = x.new_empty(n, o, t, v, dtype=dtype)
        stacks, stack = [], None
        if frame_rows:
            graph_rows = graph.transpose(0, 1).reshape(v * k, u)  # row v*K + s: joint v's weights at scale s
            rows_t = x.new_empty(min(chunk, n), t * v, o, dtype=dtype)
        with without_autocast(device):
            for i in range(0, n, chunk):
                b = min(chunk, n - i)
                if keep or stack is None:
                    stack = x.new_empty((b, t * v, k * c) if frame_rows else (b, k * c, t * v), dtype=dtype)
                stack = stack[:b]
                for j in range(b):
                    if frame_rows:  # frame by frame, (V*K, U) @ (U, C): frame f's rows f*V .. f*V + V - 1
                        frames = xc[i + j].permute(1, 2, 0)  # (T, U, C)
                        torch.bmm(graph_rows.expand(t, v * k, u), frames, out=stack[j].view(t, v * k, c))
                    else:  # scale s's aggregate: rows s*C .. s*C + C - 1; the frames repeated (stride 0)
                        frames, scales = xc[i + j].view(c * t, u), stack[j].view(k, c * t, v)
                        torch.bmm(frames.expand(k, c * t, u), graph.transpose(1, 2), out=scales)
                rows = out[i : i + b].view(b, o, t * v)
                if conv:
                    rows.copy_(F.conv1d(stack, weight[:, :, None], bias))
                elif frame_rows:  # rows of O values, copied into place
                    weight_t = weight.t().expand(b, k * c, o)
                    if bias is None:
                        product = torch.bmm(stack, weight_t, out=rows_t[:b])
                    else:
                        product = torch.baddbmm(bias.expand(b, t * v, o), stack, weight_t, out=rows_t[:b])
                    rows.copy_(product.mT)
                elif bias is None:
                    torch.bmm(weight.expand(b, o, k * c), stack, out=rows)
                else:
                    torch.baddbmm(bias[:, None].expand(b, o, t * v), weight.expand(b, o, k * c), stack, out=rows)
                if keep:
                    stacks.append(stack)
        ctx.save_for_backward(xc, graph, weight, *stacks)
        ctx.chunk, ctx.conv, ctx.frame_rows, ctx.has_bias = chunk, conv, frame_rows, bias is not None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, graph, weight, *stacks = ctx.saved_tensors
        n, c, t, u = x.shape
        (k, v, _), o = graph.shape, weight.shape[0]
        need_x, need_graph, need_weight, need_bias, _ = ctx.needs_input_grad
        grad = grad.to(x.dtype).reshape(n, o, t * v)
        grad_weight = grad.new_zeros(k * c, o).t() if need_weight else None  # accumulated (K*C, O): faster in MKL
        grad_x = torch.empty_like(x) if need_x else None
        grad_graph = torch.zeros_like(graph) if need_graph else None
        need_stack = need_x or need_graph
        # one buffer for every chunk's stack gradient: a fresh one per chunk is slower to write (cold memory)
        grad_stacks = x.new_empty(min(ctx.chunk, n), k * c, t * v) if need_stack and not ctx.conv else None
        for stack, i in zip(stacks, range(0, n, ctx.chunk), strict=True):
            b = stack.shape[0]
            part = grad[i : i + b]  # (b, O, T*V)
            if ctx.conv:  # the stack's and the weight's gradients from one oneDNN convolution backward
                grad_stack, grad_weight_part = pointwise_conv_backward(
                    part, stack, weight[:, :, None], need_stack, need_weight
                )
                if need_weight:
                    grad_weight += grad_weight_part[:, :, 0]
            else:
                if need_weight:
                    for j in range(b):  # the stack as (K*C, T*V)
                        grad_weight.t().addmm_(stack[j].t() if ctx.frame_rows else stack[j], part[j].t())
                if need_stack:
                    grad_stack = torch.bmm(weight.t().expand(b, k * c, o), part, out=grad_stacks[:b])
            if not need_stack:
                continue
            for j in range(b):
                scales = grad_stack[j].view(k, c * t, v)
                frames = x[i + j].view(c * t, u)
                if need_graph:  # batched over scales: K (V, C*T) @ (C*T, U) products alone use one thread each
                    grad_graph.baddbmm_(scales.transpose(1, 2), frames.expand(k, c * t, u))
                if need_x:
                    rows = grad_x[i + j].view(c * t, u)
                    torch.mm(scales[0], graph[0], out=rows)
                    for s in range(1, k):
                        rows.addmm_(scales[s], graph[s])
        x_dtype, graph_dtype, weight_dtype = ctx.dtypes
        return (
            None if grad_x is None else grad_x.to(x_dtype),
            None if grad_graph is None else grad_graph.to(graph_dtype),
            None if grad_weight is None else grad_weight.to(weight_dtype),
            grad.sum((0, 2)).to(weight_dtype) if need_bias and ctx.has_bias else None,
            None,
        )


def aggregate_project_rows(
    frames: torch.Tensor, adjacency: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """``W · concat_k(A_k x)`` in the original order, as rows: frames (B, U, C) -> (B*V, C_out), bias added.

    ``frames`` holds B graphs of U nodes and C channels (a frame, or a window of frames); ``adjacency`` (K, V, U);
    ``weight`` (C_out, K*C, ...) with scale-major input channels ``k*C + c``. Each graph's aggregate is written
    as V rows of K*C columns (scale-major, as the weight reads them); row ``b*V + v``. See
    :class:`AggregateProjectRows`.
    """
    k, v, u = adjacency.shape
    graph = adjacency.transpose(0, 1).reshape(v * k, u)  # row v*K + k
    return AggregateProjectRows.apply(frames, graph, weight.reshape(weight.shape[0], -1), bias)


class AggregateProjectRows(torch.autograd.Function):
    """``concat_b(graph @ frames[b]) @ W^T + b``: frames (B, U, C), graph (V*K, U), weight (O, K*C) -> (B*V, O).

    The aggregated stack (B graphs of V*K rows and C columns, read as B*V rows of K*C) is the layer's largest
    tensor, K times the input. It is made, and in the backward its gradient is used, in chunks of about
    :data:`STACK_CHUNK` values: the chunks are kept for the backward as they are, but none of them is large enough
    to be mapped from the operating system page by page on every call (a 74 MB stack costs about 16 ms in page
    faults alone on a 2-core machine), and each chunk's products run while it is still in cache. The graph's
    gradient is summed chunk by chunk too. The projection is :func:`~stviz.layers.linear_rows` where oneDNN's
    convolution is the faster kernel (its backward gives the stack's and the weight's gradients in one call,
    :func:`~stviz.layers.linear_rows_backward`), else MKL's products.
    """

    @staticmethod
    def forward(ctx, frames, graph, weight, bias):
        b, u, c = frames.shape
        (r, _), o = graph.shape, weight.shape[0]
        v = r * c // weight.shape[1]  # V = (V*K) / K
        device = frames.device.type
        dtype = compute_dtype(device, frames.dtype)
        chunk = max(1, STACK_CHUNK // (r * c))
        conv = rows_conv_is_faster(frames.device, min(chunk, b) * v, weight.shape[1], o)  # the projection as oneDNN's
        graph_c, weight_t = graph.to(dtype), weight.to(dtype).t()
        bias_c = None if bias is None else bias.to(dtype)
        out = frames.new_empty(b * v, o, dtype=dtype)
        stacks = []
        with without_autocast(device):
            for i in range(0, b, chunk):
                part = frames[i : i + chunk].to(dtype)
                stack = torch.bmm(graph_c.expand(part.shape[0], r, u), part).view(-1, weight_t.shape[0])
                rows = out[i * v : (i + part.shape[0]) * v]
                if conv:
                    rows.copy_(linear_rows(stack, weight_t, bias_c))
                elif bias_c is None:
                    torch.mm(stack, weight_t, out=rows)
                else:
                    torch.addmm(bias_c, stack, weight_t, out=rows)
                stacks.append(stack)
        ctx.save_for_backward(frames, graph_c, weight, *stacks)
        ctx.chunk, ctx.conv, ctx.has_bias, ctx.graph_dtype = chunk, conv, bias is not None, graph.dtype
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        frames, graph, weight, *stacks = ctx.saved_tensors
        b, u, c = frames.shape
        r, o, chunk = graph.shape[0], weight.shape[0], ctx.chunk
        v = grad.shape[0] // b
        need_frames, need_graph, need_weight, need_bias = ctx.needs_input_grad
        weight_c = weight.to(grad.dtype)
        grad_frames = frames.new_empty(b, u, c, dtype=grad.dtype) if need_frames else None
        grad_graph = graph.new_zeros(r, u) if need_graph else None
        grad_weight = grad.new_zeros(o, weight.shape[1]) if need_weight else None
        need_stack = need_frames or need_graph
        grad_stacks = grad.new_empty(min(chunk, b) * v, weight.shape[1]) if need_stack and not ctx.conv else None
        for j, i in enumerate(range(0, b, chunk)):
            part = grad[i * v : (i + chunk) * v]  # (b_c*V, O)
            n_part = part.shape[0] // v
            if ctx.conv:  # the stack's and the weight's gradients from one oneDNN convolution backward
                grad_stack, grad_weight_part = linear_rows_backward(
                    part, stacks[j], weight_c.t(), need_stack, need_weight
                )
                if need_weight:
                    grad_weight += grad_weight_part.t()
            else:
                if need_weight:  # (O, K*C): faster than the transposed product on the CPU
                    grad_weight.addmm_(part.t(), stacks[j])
                if need_stack:
                    grad_stack = torch.mm(part, weight_c, out=grad_stacks[: part.shape[0]])
            if not need_stack:
                continue
            grad_stack = grad_stack.view(n_part, r, c)  # (b_c, V*K, C)
            if need_graph:
                grad_graph += torch.bmm(grad_stack, frames[i : i + chunk].to(grad.dtype).transpose(1, 2)).sum(0)
            if need_frames:
                torch.bmm(graph.t().expand(n_part, u, r), grad_stack, out=grad_frames[i : i + chunk])
        return (
            None if grad_frames is None else grad_frames.to(frames.dtype),
            None if grad_graph is None else grad_graph.to(ctx.graph_dtype),
            None if grad_weight is None else grad_weight.to(weight.dtype),
            grad.sum(0).to(weight.dtype) if need_bias and ctx.has_bias else None,
        )


def window_rows(x: torch.Tensor, window_size: int, stride: int, dilation: int, padding: int) -> torch.Tensor:
    """(N, C, T, V) -> (N*T', w*V, C): each output frame's window (node ``i*V + v``) as one graph."""
    n, c, t, v = x.shape
    padded = x.new_zeros(n, t + 2 * padding, v, c)
    padded[:, padding : padding + t] = x.permute(0, 2, 3, 1)
    windows = padded.unfold(1, dilation * (window_size - 1) + 1, stride)[..., ::dilation]  # (N, T', V, C, w)
    return windows.permute(0, 1, 4, 2, 3).reshape(-1, window_size * v, c)


def g3d_rows(x: torch.Tensor, block: nn.Module) -> torch.Tensor:
    """A :class:`stviz.multiscale.G3DBlock` after its embedding, in rows: (N, C, T, V) -> (N, C_out, T', V).

    The window graph conv's rows are ordered (sample, frame, joint, window frame), so each joint's w window
    frames lie side by side and the (1, w, 1) collapse convolution is one matrix product over w*C_e columns.
    """
    gc, windows = block.graph_conv, block.windows
    n, _, _, v = x.shape
    w = windows.window_size
    frames = window_rows(x, w, windows.window_stride, windows.window_dilation, windows.padding)  # (N*T', w*V, C)
    graph = gc.adjacency().view(gc.num_scales, w, v, w * v).transpose(1, 2).reshape(gc.num_scales, v * w, w * v)
    y = batch_norm_rows(aggregate_project_rows(frames, graph, gc.conv.weight, gc.conv.bias), gc.bn, gc.act)
    return collapse_rows(y, block, n, v)


def collapse_rows(y: torch.Tensor, block: nn.Module, n: int, v: int) -> torch.Tensor:
    """A :class:`stviz.multiscale.G3DBlock`'s (1, w, 1) collapse convolution and BatchNorm on the window graph
    conv's output in rows: y (N*T'*V*w, C_e), rows (sample, frame, joint, window frame) -> (N, C_out, T', V), for
    ``n`` = N samples of ``v`` = V joints.

    Each joint's w window frames lie side by side, so the convolution is one matrix product over w*C_e columns
    (:func:`~stviz.layers.linear_rows`: on a CPU where oneDNN's convolution is the faster kernel, that convolution,
    about half MKL's time there forward and backward). BatchNorm is folded into it when its statistics are fixed
    (eval); after MKL's product its shift is added on its own (an ``addmm`` would be counted as a Linear layer by
    :func:`stviz.cost.count`, and the collapse is a convolution)."""
    collapse, c_out, w = block.collapse, block.out_channels, block.windows.window_size
    c_e = y.shape[1]
    weight = collapse.weight.view(c_out, c_e, w).transpose(1, 2).reshape(c_out, w * c_e)  # columns i*C_e + c
    y = y.view(-1, w * c_e)  # (N*T'*V, w*C_e)
    folded = fold_batchnorm(weight, collapse.bias, block.bn)
    if folded is not None and rows_conv_is_faster(y.device, y.shape[0], w * c_e, c_out):
        y = linear_rows(y, folded[0].t(), folded[1])
    elif folded is not None:
        y = torch.mm(y, folded[0].t()).add_(folded[1])
    else:
        y = batch_norm_rows(linear_rows(y, weight.t(), collapse.bias), block.bn)  # (N*T'*V, C_out)
    return y.view(n, -1, v, c_out).permute(0, 3, 1, 2).contiguous()


def g3d_aggregate_first(x: torch.Tensor, block: nn.Module) -> torch.Tensor:
    """A :class:`stviz.multiscale.G3DBlock` after its embedding, in the original order: (N, C, T, V) -> (N, C_out,
    T', V), BN folded (eval) or from the stack's statistics (:func:`projection_batch_norm`).

    The aggregation is one product over the window's nodes (:func:`~stviz.layers.linear_rows`). In eval, where
    oneDNN's convolution is the faster kernel for rows (:func:`~stviz.layers.rows_conv_is_faster`), the stack is
    copied into rows (sample, frame, joint, window frame) of K*C channels, so the projection and the collapse
    (:func:`collapse_rows`) are each one convolution over a channels-last image, with no reorder. Otherwise the
    stack is laid out (N, C*K, w, T', V) (channel ``c*K + k``, then window frame i), so the projection writes the
    graph conv's output as (N, C_e*w, T', V) (channel ``o*w + i``): what the (1, w, 1) collapse convolution reads
    as a 1x1 convolution, whose output is then already (N, C_out, T', V).
    """
    gc, c_out = block.graph_conv, block.out_channels
    n, c, _, v = x.shape
    k, o, w = gc.num_scales, gc.out_channels, block.windows.window_size
    frames = block.windows(x)  # (N, C, T', w*U)
    t = frames.shape[2]
    graph = gc.adjacency().reshape(k * w * v, w * v)
    s = linear_rows(frames.reshape(n * c * t, w * v), graph.t(), None).view(n, c, t, k, w, v)
    weight = gc.conv.weight.view(o, k * c)  # scale-major input channels k*C + c
    folded = fold_batchnorm(weight, gc.conv.bias, gc.bn)
    if folded is not None and rows_conv_is_faster(x.device, n * t * v * w, k * c, o):
        rows = s.permute(0, 2, 5, 4, 3, 1).reshape(n * t * v * w, k * c)  # channels k*C + c
        return collapse_rows(gc.act(linear_rows(rows, folded[0].t(), folded[1])), block, n, v)
    s = s.permute(0, 1, 3, 4, 2, 5)  # (N, C, K, w, T', V)

    def channel_major(scale_major: torch.Tensor) -> torch.Tensor:  # (O, K*C) -> (O, C*K), input channels c*K + k
        return scale_major.view(o, k, c).transpose(1, 2).reshape(o, c * k)

    if folded is None:
        y = projection_batch_norm(s, channel_major(weight), gc.conv.bias, gc.bn, gc.act)
    else:
        y = pointwise_conv_stack(s, channel_major(folded[0]), folded[1], gc.act)
    y = y.view(n, o * w, t, v)  # (N, C_e*w, T', V)
    return pointwise_conv_bn(y, block.collapse.weight.view(c_out, o * w), block.collapse.bias, block.bn)


def g3d_project_first(x: torch.Tensor, block: nn.Module) -> torch.Tensor:
    """A :class:`stviz.multiscale.G3DBlock` after its embedding, projecting first: (N, C, T, V) -> (N, C_out, T', V).

    The graph conv's 1x1 convolution projects every frame once, its K slices side by side: rows (sample, frame, joint
    u, scale k), C_e columns (:func:`~stviz.layers.linear_rows` on a channels-last copy of x where
    :func:`~stviz.layers.rows_conv_is_faster`). Without dilation a window of w frames is then w*V*K consecutive rows,
    so the aggregation of a sample's windows is one product with the window graph, batched over its output frames, on
    a strided view of the projections (a dilated window is copied). The graph's rows are ordered (joint, window
    frame), which lays the output out as :func:`collapse_rows` reads it. Output frames whose window reaches into the
    zero padding take their windows from a zero-padded copy of the few frames they need (one more product at each end
    of a sample), so every frame multiplies the whole graph, as in the original. BatchNorm is folded in eval, and on
    the batch's statistics applied to the rows otherwise.
    """
    gc, windows = block.graph_conv, block.windows
    n, c, t, v = x.shape
    k, o, w = gc.num_scales, gc.out_channels, windows.window_size
    s, d, p = windows.window_stride, windows.window_dilation, windows.padding
    folded = fold_batchnorm(gc.conv.weight, gc.conv.bias, gc.bn)
    weight, bias = folded if folded is not None else (gc.conv.weight, gc.conv.bias)
    weight = weight.view(o, k, c).permute(2, 1, 0).reshape(c, k * o)  # (C, K*O), columns k*O + o
    if rows_conv_is_faster(x.device, n * t * v, c, k * o):  # oneDNN's, on a channels-last copy of x
        z = linear_rows(x.permute(0, 2, 3, 1).reshape(n * t * v, c), weight, None)
    else:  # MKL's, reading x transposed where it lies
        z = torch.matmul(x.reshape(n, c, t * v).transpose(1, 2), weight)
    z = z.view(n, t, v * k, o)  # rows (u, k) per frame
    graph = gc.adjacency().view(k, w, v, w * v).permute(2, 1, 3, 0).reshape(v * w, w * v * k)  # (V*w, w*U*K)
    span, t_out = d * (w - 1) + 1, windows.output_frames(t)
    first = min(t_out, -(-p // s))  # the output frames [first, last) read no padding
    last = max(first, min(t_out, (t + p - span) // s + 1))
    pieces = []
    for sample in z:  # (T, U*K, O)
        for a, b in ((0, first), (first, last), (last, t_out)):
            if a == b:
                continue
            lo, hi = s * a - p, s * (b - 1) - p + span  # the input frames [lo, hi) that windows a .. b-1 read
            frames = sample[max(lo, 0) : min(hi, t)]
            if lo < 0 or hi > t:
                frames = F.pad(frames, (0, 0, 0, 0, max(-lo, 0), max(hi - t, 0)))
            windows_ab = frames.unfold(0, span, s)[..., ::d].permute(0, 3, 1, 2).reshape(b - a, w * v * k, o)
            pieces.append(torch.bmm(graph.expand(b - a, v * w, w * v * k), windows_ab))  # (b - a, V*w, O)
    y = torch.cat(pieces).view(-1, o) + bias  # rows (sample, frame, joint, window frame)
    y = gc.act(y) if folded is not None else batch_norm_rows(y, gc.bn, gc.act)
    return collapse_rows(y, block, n, v)
