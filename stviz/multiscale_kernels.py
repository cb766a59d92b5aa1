"""The contractions behind MS-G3D's blocks (:mod:`stviz.multiscale`), written for speed on the CPU.

* :func:`contraction_macs`, :func:`choose_contraction_order`: the cost of each contraction order, and the
  order a layer takes in eval mode;
* :class:`SharedGraphProduct`: one (learned) graph applied to a batch of graphs, with a backward that sums the
  graph's gradient chunk by chunk.

When BatchNorm uses the batch's statistics (training) it cannot be folded into the 1x1 convolution before it,
and a training step is mostly memory traffic: the scale-major stack of K aggregated copies (K*C_in channels) and
the output (C_out channels) are written and read several times. Which of the two is wider decides:

* a stack wider than the output (K*C_in > C_out): a rows layout, one row per (sample, frame, joint). The
  aggregated scales are written straight into the order the projection reads (no scale-major copy), and the
  projection and both its gradients are single matrix products (:func:`aggregate_project_rows`, :func:`g3d_rows`);
* a stack no wider than the output (MS-G3D's first layer, 3 input channels): the BatchNorm statistics of
  ``W s + b`` follow from the stack's own mean and covariance (K*C_in channels), so BatchNorm is folded into the
  convolution even in training and never reads the output (:func:`fold_batch_statistics`).

Both give :meth:`stviz.multiscale.MultiScaleGraphConv.explicit`'s results and gradients up to float rounding.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from stviz.layers import fold_batchnorm, pointwise_conv, pointwise_conv_bn

GRADIENT_CHUNK = 1 << 20  # values of the per-graph products summed at once in SharedGraphProduct's backward


CONTRACTION_ORDERS = ("aggregate-first", "project-first")


def contraction_macs(
    in_channels: int, out_channels: int, num_scales: int, num_joints: int, window_size: int = 1, window_stride: int = 1
) -> dict[str, int]:
    """Multiply-accumulates of ``W · concat_k(A_k x)`` per sample and output frame, in each contraction order.

    A plain multi-scale graph conv (``window_size=1``) over V joints, C_in -> C_out, K scales:

    * aggregate-first: ``K*C_in*V*V`` (aggregation) + ``C_out*K*C_in*V`` (projection);
    * project-first: ``C_out*K*C_in*V`` (projection) + ``C_out*K*V*V`` (aggregation of the projected channels).

    G3D's window graph (w frames of V joints, windows every ``window_stride`` frames): the original aggregates
    and projects every window copy (``K*C_in*(wV)^2 + C_out*K*C_in*wV``); project-first projects each of the
    ``window_stride`` input frames per output frame once (``stride*C_out*K*C_in*V``) and aggregates the
    projections into the window (``C_out*K*wV*V*w``). The collapse convolution and BatchNorm are the same in both
    orders and are not counted.
    """
    c, o, k, v, w, s = in_channels, out_channels, num_scales, num_joints, window_size, window_stride
    nodes = w * v
    return {
        "aggregate-first": k * c * nodes * nodes + o * k * c * nodes,
        "project-first": s * o * k * c * v + o * k * nodes * v * w,
    }


def choose_contraction_order(
    in_channels: int, out_channels: int, num_scales: int, num_joints: int, window_size: int = 1, window_stride: int = 1
) -> str:
    """``"project-first"`` when it needs fewer MACs than the original order (:func:`contraction_macs`), else
    ``"aggregate-first"``. For a plain graph conv: project first exactly when C_out < C_in."""
    macs = contraction_macs(in_channels, out_channels, num_scales, num_joints, window_size, window_stride)
    return "project-first" if macs["project-first"] < macs["aggregate-first"] else "aggregate-first"


def fold_batch_statistics(
    stack: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d
) -> tuple[torch.Tensor, torch.Tensor]:
    """``bn(conv1x1(stack))`` with batch statistics as one 1x1 conv: the folded (C_out, D, 1, 1) weight and bias.

    ``stack`` (N, D, H, W), ``weight`` (C_out, D, 1, 1). The output's per-channel mean is ``W mean(stack) + b``
    and its (biased) variance ``w_o^T Cov(stack) w_o``, from the (D, D) covariance of the centred stack. Updates
    ``bn``'s running statistics as its own forward would (momentum, or a cumulative average when it is None).
    """
    n, d, h, w = stack.shape
    count = n * h * w
    mean = stack.mean((0, 2, 3))
    centred = (stack - mean.view(1, d, 1, 1)).reshape(n, d, h * w)
    cov = torch.bmm(centred, centred.transpose(1, 2)).sum(0) / count  # (D, D)
    w2 = weight.reshape(-1, d)
    var = ((w2 @ cov) * w2).sum(1)  # (C_out,) biased, as BN normalises
    bias = torch.zeros_like(var) if bias is None else bias
    out_mean = w2 @ mean + bias
    scale = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = (bias - out_mean) * scale  # the bias cancels, and gets the (zero) gradient it gets in BN
    if bn.bias is not None:
        shift = shift + bn.bias
    if bn.training and bn.track_running_stats:
        _update_running_statistics(bn, out_mean, var, count)
    return w2.mul(scale[:, None]).view_as(weight), shift


def _update_running_statistics(bn: nn.BatchNorm2d, mean: torch.Tensor, var: torch.Tensor, count: int) -> None:
    """What ``bn``'s forward does to its running statistics for a batch of ``count`` values per channel."""
    with torch.no_grad():
        bn.num_batches_tracked.add_(1)
        momentum = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
        bn.running_mean.lerp_(mean, momentum)
        bn.running_var.lerp_(var * count / max(count - 1, 1), momentum)


def batch_norm_rows(y: torch.Tensor, bn: nn.BatchNorm2d, act: nn.Module | None = None) -> torch.Tensor:
    """``act(bn(y))`` over the columns of ``y`` (R, C): each column a channel, each row a (sample, frame, joint).

    ``act`` runs before the result is reshaped back to (R, C), as in :func:`pointwise_conv`."""
    rows, channels = y.shape
    y = bn(y.view(rows, channels, 1, 1))
    return (y if act is None else act(y)).view(rows, channels)


def aggregate_project_rows(
    frames: torch.Tensor, adjacency: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """``W · concat_k(A_k x)`` in the original order, as rows: frames (B, U, C) -> (B*V, C_out), bias added.

    ``frames`` holds B graphs of U nodes and C channels (a frame, or a window of frames); ``adjacency`` (K, V, U);
    ``weight`` (C_out, K*C, ...) with scale-major input channels ``k*C + c``. Each graph's aggregate is written
    as V rows of K*C columns (scale-major, as the weight reads them); row ``b*V + v``.
    """
    b, u, c = frames.shape
    k, v, _ = adjacency.shape
    o = weight.shape[0]
    graph = adjacency.transpose(0, 1).reshape(v * k, u)  # row v*K + k
    s = SharedGraphProduct.apply(graph, frames)  # (B, V*K, C): B products written straight into rows
    w = weight.reshape(o, k * c).t()
    s = s.view(b * v, k * c)
    return torch.mm(s, w) if bias is None else torch.addmm(bias, s, w)


class SharedGraphProduct(torch.autograd.Function):
    """``graph @ frames[b]`` for every b: graph (R, U), frames (B, U, C) -> (B, R, C).

    The graph's gradient ``sum_b grad[b] @ frames[b]^T`` is summed chunk by chunk: a batched product then a sum
    would first write all B (R, U) products, more memory traffic than the whole product.
    """

    @staticmethod
    def forward(graph: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        return torch.bmm(graph.expand(frames.shape[0], *graph.shape), frames)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        graph, frames = ctx.saved_tensors
        b, (r, u) = frames.shape[0], graph.shape
        grad_graph = grad_frames = None
        # under autocast the forward ran in grad's dtype (e.g. bfloat16); the backward, run outside it, does too
        if ctx.needs_input_grad[0]:
            chunk = max(1, GRADIENT_CHUNK // (r * u))  # products per chunk, a few MB together
            grad_graph = graph.new_zeros(r, u)
            for i in range(0, b, chunk):
                rows = frames[i : i + chunk].to(grad.dtype).transpose(1, 2)
                grad_graph += torch.bmm(grad[i : i + chunk], rows).sum(0)
        if ctx.needs_input_grad[1]:
            grad_frames = torch.bmm(graph.t().to(grad.dtype).expand(b, u, r), grad).to(frames.dtype)
        return grad_graph, grad_frames


def frame_rows(x: torch.Tensor) -> torch.Tensor:
    """(N, C, T, V) -> (N*T, V, C): each frame a graph of V nodes with C channels."""
    n, c, t, v = x.shape
    return x.permute(0, 2, 3, 1).reshape(n * t, v, c)


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
    gc, windows, collapse = block.graph_conv, block.windows, block.collapse
    n, _, _, v = x.shape
    w, c_e, c_out = windows.window_size, gc.out_channels, block.out_channels
    frames = window_rows(x, w, windows.window_stride, windows.window_dilation, windows.padding)  # (N*T', w*V, C)
    graph = gc.adjacency().view(gc.num_scales, w, v, w * v).transpose(1, 2).reshape(gc.num_scales, v * w, w * v)
    y = batch_norm_rows(aggregate_project_rows(frames, graph, gc.conv.weight, gc.conv.bias), gc.bn, gc.act)
    weight = collapse.weight.view(c_out, c_e, w).transpose(1, 2).reshape(c_out, w * c_e)  # columns i*C_e + c
    y = y.view(-1, w * c_e)  # (N*T'*V, w*C_e)
    y = torch.mm(y, weight.t()) if collapse.bias is None else torch.addmm(collapse.bias, y, weight.t())
    y = batch_norm_rows(y, block.bn)  # (N*T'*V, C_out)
    return y.view(n, -1, v, c_out).permute(0, 3, 1, 2).contiguous()


def g3d_aggregate_first(x: torch.Tensor, block: nn.Module) -> torch.Tensor:
    """A :class:`stviz.multiscale.G3DBlock` after its embedding, in the original order: (N, C, T, V) -> (N, C_out,
    T', V), BN folded (eval) or from the stack's statistics (:func:`fold_batch_statistics`).

    The stack is laid out (N, C*K, w, T', V) (channel ``c*K + k``, then window frame i), so the projection writes
    the graph conv's output as (N, C_e*w, T', V) (channel ``o*w + i``): what the (1, w, 1) collapse convolution
    reads as a 1x1 convolution, whose output is then already (N, C_out, T', V).
    """
    gc, c_out = block.graph_conv, block.out_channels
    n, c, _, v = x.shape
    k, o, w = gc.num_scales, gc.out_channels, block.windows.window_size
    frames = block.windows(x)  # (N, C, T', w*U)
    t = frames.shape[2]
    s = torch.matmul(frames, gc.adjacency().reshape(k * w * v, w * v).t())  # (N, C, T', K*w*V)
    s = s.view(n, c, t, k, w, v).permute(0, 1, 3, 4, 2, 5).reshape(n, c * k, w * t, v)
    weight = gc.conv.weight.view(o, k, c).transpose(1, 2).reshape(o, c * k)  # input channels c*K + k
    folded = fold_batchnorm(weight, gc.conv.bias, gc.bn)
    if folded is None:
        folded = fold_batch_statistics(s, weight, gc.conv.bias, gc.bn)
    y = pointwise_conv(s, *folded, gc.act).view(n, o * w, t, v)  # (N, C_e*w, T', V)
    return pointwise_conv_bn(y, block.collapse.weight.view(c_out, o * w), block.collapse.bias, block.bn)
