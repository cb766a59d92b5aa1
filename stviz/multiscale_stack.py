"""The scale-major stack of MS-G3D's graph convolutions copied once, with a channel of ones, and what is done with
it when it is no wider than the output (MS-G3D's first layer, 3 input channels):

* :func:`with_ones_channel`, :func:`pointwise_conv_stack`: the copy that a scale-major stack needs anyway, with a
  last channel of ones that carries the 1x1 convolution's bias, so the product writes the output once;
* :class:`ProjectionBatchNorm` (:func:`projection_batch_norm`): in training, the BatchNorm statistics of ``W s + b``
  follow from the stack's own mean and covariance (a graph conv's from its input's, :func:`stack_moments`, where
  that takes fewer products: :func:`moments_from_input_are_cheaper`), so BatchNorm is folded into the convolution
  even then, and the layer is one product that never reads its output for statistics. Below
  :data:`FOLD_MIN_POSITIONS` positions (small batches) the fixed cost of those statistics outweighs what they save,
  and the layer projects and then applies BatchNorm, as the original does.

Used by :mod:`stviz.multiscale` and :mod:`stviz.multiscale_kernels`; both give
:meth:`stviz.multiscale.MultiScaleGraphConv.explicit`'s results and gradients up to float rounding.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from stviz.layers import (
    linear_rows,
    linear_rows_backward,
    pointwise_conv,
    project_rows,
    runs_as_conv,
    update_running_statistics,
    using_reference_kernels,
)

__all__ = [
    "FOLD_MIN_POSITIONS",
    "ProjectionBatchNorm",
    "aggregate_scale_major",
    "compute_dtype",
    "moments_from_input_are_cheaper",
    "pointwise_conv_stack",
    "projection_batch_norm",
    "stack_moments",
    "with_ones_channel",
    "without_autocast",
]


FOLD_MIN_POSITIONS = 4096
"""Fewest positions (samples x positions per sample: N*T*V for a graph conv) at which :func:`projection_batch_norm`
folds BatchNorm into the projection. Its statistics and their gradients take 60-80 small operations whatever the
batch, so with few positions the passes over the output that they save are worth less than they cost. Measured on a
2-core CPU, MS-G3D's 3 -> 96 graph conv's training step at N=1, T=2 took 1.39 ms folded and 0.67 ms the plain way;
folded, it took 1.15x the plain way's time at N=1, T=64 (1,600 positions), 1.05x at N=2, 0.89x at N=3 (4,800) and
0.84x at N=8; on the 3-frame window graph (75 nodes), 0.92x at N=1, T=64 (4,800 positions)."""


def compute_dtype(device_type: str, dtype: torch.dtype) -> torch.dtype:
    """The dtype an autocast region computes products in on ``device_type`` (``dtype`` outside one, or on a device
    without autocast, such as ``meta``)."""
    if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return dtype


def without_autocast(device_type: str) -> contextlib.AbstractContextManager:
    """A region with autocast off on ``device_type``: a custom function's forward casts explicitly. Outside an
    autocast region nothing is entered (entering ``torch.autocast`` costs about ten times an empty context)."""
    if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def with_ones_channel(stack: torch.Tensor, channels: int) -> torch.Tensor:
    """``stack`` (N, ...) viewed as (N, D, P) (D = ``channels``, any strides that allow it), copied into a new
    (N, D + 1, P) tensor whose last channel is all ones: a 1x1 convolution's bias becomes its last weight column, so
    the product writes the output once instead of first filling it with the bias."""
    n = stack.shape[0]
    rows = stack.new_empty(n, channels + 1, stack[0].numel() // channels)
    rows[:, :channels].view(stack.shape).copy_(stack)
    rows[:, channels].fill_(1)
    return rows


def pointwise_conv_stack(
    stack: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, act: nn.Module | None
) -> torch.Tensor:
    """``act(W s + b)`` on a strided stack, as one product: ``stack`` (N, ...) viewing as (N, D, P), ``weight``
    (O, D), ``bias`` (O,) -> (N, O, P). The stack is copied once (:func:`with_ones_channel`), the copy that a
    scale-major stack needs anyway. Under :func:`~stviz.layers.reference_kernels` a plain product (what the
    cost tables count)."""
    o, d = weight.shape
    if using_reference_kernels() or runs_as_conv(stack, d, o):  # the reference: a 1x1 convolution, no bias column
        return pointwise_conv(stack.reshape(stack.shape[0], d, -1), weight, bias, act)
    rows = with_ones_channel(stack, d)
    folded = torch.cat([weight, bias[:, None]], 1)  # (O, D + 1)
    y = torch.bmm(folded.expand(rows.shape[0], o, d + 1), rows)
    return y if act is None else act(y)


def stack_moments(x: torch.Tensor, adjacency: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The scale-major stack ``s[k*C + c, t, v] = sum_u A[k, v, u] x[c, t, u]``'s mean (K*C,) and biased covariance
    (K*C, K*C) over samples, frames and joints, from x's own: x (N, C, T, U), ``adjacency`` (K, V, U).

    The stack is linear in x, so its covariance is x's (C*U, C*U) covariance over samples and frames mapped through
    the graph on both sides, plus the spread of the per-joint means ``sum_u A[k, v, u] mean(x)[c, u]`` over joints.
    A few small products replace one over the whole stack (K*C channels at every frame and joint)."""
    n, c, t, u = x.shape
    k, v, _ = adjacency.shape
    x_mean = x.mean((0, 2))  # (C, U)
    centred = (x - x_mean[:, None]).permute(1, 3, 0, 2).reshape(c * u, n * t)
    x_cov = (centred @ centred.t()).view(c, u, c, u) / (n * t * v)  # over samples and frames, per stack position
    graph = adjacency.reshape(k * v, u)
    per_joint = (graph @ x_mean.t()).view(k, v, c).transpose(0, 1).reshape(v, k * c)  # (V, K*C)
    mean = per_joint.mean(0)
    spread = per_joint - mean
    # sum_{u, u'} A[k, v, u] cov[c, u, c', u'] A[k', v, u'], summed over v: first over u, then over (v, u')
    left = (graph @ x_cov.permute(1, 0, 2, 3).reshape(u, c * c * u)).view(k, v, c, c, u)
    left = left.permute(0, 2, 3, 1, 4).reshape(k * c * c, v * u)
    cov = (left @ adjacency.reshape(k, v * u).t()).view(k, c, c, k).permute(0, 1, 3, 2).reshape(k * c, k * c)
    return mean, cov + spread.t() @ spread / v


def aggregate_scale_major(x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
    """x (N, C, T, U) aggregated by all K scales of ``adjacency`` (K, V, U) in one product
    (:func:`~stviz.layers.linear_rows`): a (N, K, C, T, V) view, channel ``k*C + c`` of the scale-major stack once
    reshaped."""
    n, c, t, u = x.shape
    k, v, _ = adjacency.shape
    joints = linear_rows(x.reshape(n * c * t, u), adjacency.reshape(k * v, u).t(), None)  # rows (n, c, t), k*V + v
    return joints.view(n, c, t, k, v).permute(0, 3, 1, 2, 4)


def moments_from_input_are_cheaper(x_shape: torch.Size, adjacency_shape: torch.Size) -> bool:
    """Whether :func:`stack_moments` of x (N, C, T, U) and an adjacency (K, V, U) takes fewer multiply-accumulates
    than the stack's own covariance, ``(K*C)^2`` per position. With an MS-G3D skeleton's 25 joints it takes about a
    third at N=8, T=64; on G3D's window graphs (75 or 125 nodes) its mapping through the graph, ``K*V*U^2*C^2``, costs
    more than the whole stack's covariance (13 ms against 5 ms on 125 nodes at N=8, T=64, on a 2-core CPU)."""
    n, c, t, u = x_shape
    k, v, _ = adjacency_shape
    from_input = (c * u) ** 2 * n * t + k * v * u * (c * c * u + c * c * k)
    return from_input < (k * c) ** 2 * n * t * v


class ProjectionBatchNorm(torch.autograd.Function):
    """``relu(bn(W s + b))`` (or without the ReLU) with BatchNorm on the batch's statistics, read from the stack.

    ``stack`` (N, ...) holds D = ``weight.shape[1]`` channels of P positions each, in any strides that view as
    (N, D, P); ``weight`` (O, D). With an ``adjacency`` (K, V, U), ``stack`` is the graph conv's input x (N, C, T, U)
    instead: the scale-major stack (D = K*C channels, P = T*V) is one product of x with all K scales, copied
    scale-major with the ones (the copy that the stack needs anyway); in the backward, the stack's gradient is
    copied joint-major once, and x's and the graph's gradients are one product each.
    The output's per-channel mean is ``W m + b`` and its biased variance ``w_o^T Cov(s) w_o`` (``m``, ``Cov(s)``:
    the stack's mean and (D, D) covariance; with an adjacency, read from x's own by :func:`stack_moments` where
    :func:`moments_from_input_are_cheaper`), so BatchNorm folds into the weight and the whole layer is one matrix
    product per sample: the stack is copied once into (N, D + 1, P) with a last channel of ones that carries the
    bias. Returns the (N, O, P) output and, for the running statistics, the output's batch mean and biased variance
    (O,).

    The backward is BatchNorm's, mapped through W: with ``P = sum_p g s_p^T`` (one product, whose ones column
    gives ``sum_p g``) every other term is a (D, D) or (O, D) matrix, so only two products read the output's
    gradient, one for ``P`` and one for the stack's gradient. The conv bias cancels in BatchNorm and gets a zero
    gradient, as it does there.
    """

    @staticmethod
    def forward(ctx, stack, adjacency, weight, bias, gamma, beta, eps: float, relu: bool):
        n, d = stack.shape[0], weight.shape[1]
        if adjacency is None:
            rows = with_ones_channel(stack, d)
        else:
            stack = stack.contiguous()
            with without_autocast(stack.device.type):  # the stack in x's dtype
                rows = with_ones_channel(aggregate_scale_major(stack, adjacency.to(stack.dtype)), d)
        with without_autocast(stack.device.type):  # statistics in the weight's dtype (float32 under amp)
            if adjacency is None or not moments_from_input_are_cheaper(stack.shape, adjacency.shape):
                s = rows[:, :d].to(weight.dtype)
                mean = s.mean((0, 2))  # (D,)
                centred = s - mean.view(1, d, 1)
                cov = torch.bmm(centred, centred.transpose(1, 2)).sum(0) / (n * rows.shape[2])  # (D, D)
            else:
                mean, cov = stack_moments(stack.to(weight.dtype), adjacency.to(weight.dtype))
            projected_mean = weight @ mean  # (O,)
            weight_cov = weight @ cov  # (O, D)
            var = (weight_cov * weight).sum(1)
            inv_std = (var + eps).rsqrt_()
            scale = inv_std if gamma is None else inv_std * gamma
            centring = torch.cat([weight, projected_mean[:, None].neg()], 1)  # (O, D + 1): w_o . (s - m) with s's 1
            folded = centring * scale[:, None]  # (O, D + 1): the weight scaled by BatchNorm, its shift last
            if beta is not None:
                folded[:, d] += beta
            y = project_rows(folded.to(stack.dtype), rows)  # (N, O, P)
            if relu:
                y.clamp_min_(0)
        batch_mean = projected_mean if bias is None else projected_mean + bias
        x = None if adjacency is None else stack
        ctx.save_for_backward(
            rows, y if relu else None, weight, mean, weight_cov, centring, inv_std, scale, x, adjacency
        )
        ctx.stack_shape, ctx.has_gamma = stack.shape, gamma is not None
        ctx.mark_non_differentiable(batch_mean, var)
        return y, batch_mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, grad, _mean_grad, _var_grad):
        rows, y, weight, mean, weight_cov, centring, inv_std, scale, x, adjacency = ctx.saved_tensors
        n, _, p = rows.shape
        o, d = weight.shape
        count = n * p
        grad = grad.reshape(n, o, p)
        if y is not None:
            grad = torch.ops.aten.threshold_backward(grad, y, 0)
        sums = torch.bmm(grad, rows.transpose(1, 2)).sum(0).to(weight.dtype)  # (O, D + 1)
        grad_s_sum, grad_sum = sums[:, :d], sums[:, d]  # sum_p g s_p^T, sum_p g
        grad_gamma = (sums * centring).sum(1).mul_(inv_std)  # sum_p g * normalised
        coupled = grad_gamma * inv_std * scale  # (O,): how each output's gradient moves its own statistics
        grad_weight = torch.addr(grad_s_sum, grad_sum, mean, alpha=-1).mul_(scale[:, None])
        grad_weight.addcmul_(coupled[:, None], weight_cov, value=-1)
        grad_stack = grad_adjacency = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            # W'^T g - W^T diag(coupled) (W (s - m)) / count - W^T (scale * sum_p g) / count: the last two terms are
            # one (D, D + 1) matrix on the stack with its ones
            through = centring * (coupled / -count)[:, None]  # (O, D + 1)
            through[:, d].addcmul_(scale, grad_sum, value=-1 / count)
            correction = (weight.t() @ through).to(rows.dtype)  # (D, D + 1)
            folded_t = (weight * scale[:, None]).t().to(rows.dtype)  # (D, O)
            if runs_as_conv(rows, d + 1, o):  # as project_rows decides for the forward's product
                grad_stack = project_rows(correction, rows).add_(project_rows(folded_t, grad))
            else:
                grad_stack = torch.bmm(correction.expand(n, d, d + 1), rows)
                grad_stack.baddbmm_(folded_t.expand(n, d, o), grad)
            if adjacency is None:
                grad_stack = grad_stack.view(ctx.stack_shape)
            else:  # back through the aggregation: the stack's gradient copied joint-major once, then two products
                _, c, t, u = x.shape
                k, v, _ = adjacency.shape
                joints = grad_stack.view(n, k, c * t, v).transpose(1, 2).reshape(n * c * t, k * v)
                graph_t = adjacency.to(joints.dtype).reshape(k * v, u).t()
                grad_x, grad_graph_t = linear_rows_backward(
                    joints, x.reshape(n * c * t, u), graph_t, need_weight=ctx.needs_input_grad[1]
                )
                grad_stack = grad_x.view(ctx.stack_shape)
                if grad_graph_t is not None:
                    grad_adjacency = grad_graph_t.t().reshape(k, v, u).to(adjacency.dtype)
        grad_bias = torch.zeros_like(inv_std) if ctx.needs_input_grad[3] else None
        return (
            grad_stack if ctx.needs_input_grad[0] else None,
            grad_adjacency,
            grad_weight if ctx.needs_input_grad[2] else None,
            grad_bias,
            grad_gamma if ctx.has_gamma and ctx.needs_input_grad[4] else None,
            grad_sum if ctx.needs_input_grad[5] else None,
            None,
            None,
        )


def projection_batch_norm(
    stack: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    bn: nn.BatchNorm2d,
    act: nn.Module | None,
    adjacency: torch.Tensor | None = None,
) -> torch.Tensor:
    """``act(bn(W s + b))`` with ``bn`` on the batch's statistics, as one product (:class:`ProjectionBatchNorm`).

    ``stack`` (N, ...) viewing as (N, D, P), or with ``adjacency`` (K, V, U) the graph conv's input (N, C, T, U);
    ``weight`` (O, D): returns (N, O, P). Updates ``bn``'s running statistics as its own forward would. A ReLU is
    applied inside (its mask read from the output); another ``act`` runs on the output. Below
    :data:`FOLD_MIN_POSITIONS` positions the stack is projected and ``bn`` applied to the product instead, as the
    original does."""
    n, d = stack.shape[0], weight.shape[1]
    positions = n * (stack[0].numel() // d if adjacency is None else stack.shape[2] * adjacency.shape[1])
    if positions < FOLD_MIN_POSITIONS:  # the plain way: project, then BatchNorm and act on the product
        stack = stack if adjacency is None else aggregate_scale_major(stack, adjacency)
        y = bn(pointwise_conv(stack.reshape(n, d, -1), weight, bias).unsqueeze(-1))  # (N, O, P, 1)
        y = y if act is None else act(y)  # before the reshape: in place on a view, autograd would copy its base
        return y.view(n, y.shape[1], -1)
    relu = isinstance(act, nn.ReLU)
    y, mean, var = ProjectionBatchNorm.apply(stack, adjacency, weight, bias, bn.weight, bn.bias, bn.eps, relu)
    if bn.training and bn.track_running_stats:
        update_running_statistics(bn, mean, var, y.shape[0] * y.shape[2])
    return y if relu or act is None else act(y)
