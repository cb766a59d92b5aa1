"""Small building pieces shared by the blocks: activations by name, (k, 1) convolutions, conv + BN, residuals.

Conventions (CONTRIBUTING.md): an activation argument is a name from :data:`ACTIVATIONS` or ``None`` (the
identity); a residual lives under the attribute ``residual`` and is ``None`` (no residual), ``nn.Identity()`` or a
projection ``Sequential(conv (k, 1) with the temporal stride, BatchNorm)`` built by :func:`make_residual`.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from stviz import cpu
from stviz.checks import check_positive_int

__all__ = [
    "ACTIVATIONS",
    "make_activation",
    "temporal_padding",
    "temporal_conv",
    "conv_bn",
    "make_residual",
    "add_residual",
    "fold_batchnorm",
    "update_running_statistics",
    "batch_norm_stacked",
    "reference_kernels",
    "using_reference_kernels",
    "runs_as_conv",
    "conv_is_faster",
    "rows_conv_is_faster",
    "project_rows",
    "linear_rows",
    "linear_rows_backward",
    "pointwise_conv_backward",
    "pointwise_conv",
    "pointwise_conv_bn",
    "pointwise_conv_to_channels_last",
    "pointwise_conv_from_channels_last",
    "conv1x1",
    "conv_forward",
    "conv_bn_forward",
    "residual_forward",
    "dropout_",
]

# Names used by EfficientGCN (swish, hswish, relu, relu6) and MS-G3D (relu, leakyrelu, tanh, linear). In place, as
# in the originals: every block applies its activation to a fresh tensor (a BatchNorm output or a sum), and skipping
# the extra output tensor saves a full pass over memory (EfficientGCN's Sep layer: about 15% of its CPU time).
ACTIVATIONS = {
    "swish": lambda: nn.SiLU(inplace=True),
    "hswish": lambda: nn.Hardswish(inplace=True),
    "relu": lambda: nn.ReLU(inplace=True),
    "relu6": lambda: nn.ReLU6(inplace=True),
    "leakyrelu": lambda: nn.LeakyReLU(0.2, inplace=True),
    "tanh": nn.Tanh,
    "linear": nn.Identity,
}


def make_activation(name: str | None) -> nn.Module:
    """An activation module by name (a key of :data:`ACTIVATIONS`); ``None`` or ``"linear"`` is the identity.

    All but ``tanh`` and ``linear`` work in place (the blocks apply them to fresh tensors): apply one to a tensor you
    still need, or to a leaf that requires grad, and it is overwritten or refused."""
    if name is None:
        return nn.Identity()
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)} or None")
    return ACTIVATIONS[name]()


def temporal_padding(kernel_size: int, dilation: int = 1) -> int:
    """Zero padding that keeps T at stride 1: ``(k + (k-1)(d-1) - 1) // 2``."""
    return (kernel_size + (kernel_size - 1) * (dilation - 1) - 1) // 2


def temporal_conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = True,
) -> nn.Conv2d:
    """A (k, 1) convolution along T, padded so that stride 1 keeps T: (N, C_in, T, V) -> (N, C_out, T', V).

    ``T' = (T + 2 pad - d(k-1) - 1) // stride + 1``: an even ``kernel_size`` gives T - 1 frames at stride 1, as the
    originals' padding does."""
    check_positive_int(kernel_size, "kernel_size", block="temporal convolution")
    check_positive_int(stride, "stride", block="temporal convolution")
    check_positive_int(dilation, "dilation", block="temporal convolution")
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size=(kernel_size, 1),
        stride=(stride, 1),
        padding=(temporal_padding(kernel_size, dilation), 0),
        dilation=(dilation, 1),
        groups=groups,
        bias=bias,
    )


def conv_bn(
    in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1, groups: int = 1, bias: bool = True
) -> nn.Sequential:
    """``Sequential(conv (k, 1), BatchNorm)``, state_dict keys ``0.*`` (conv) and ``1.*`` (BN)."""
    return nn.Sequential(
        temporal_conv(in_channels, out_channels, kernel_size, stride, groups=groups, bias=bias),
        nn.BatchNorm2d(out_channels),
    )


def make_residual(
    in_channels: int,
    out_channels: int,
    stride: int = 1,
    enabled: bool = True,
    kernel_size: int = 1,
    bias: bool = True,
) -> nn.Module | None:
    """The residual branch of a block: ``None`` when disabled, the identity when shapes already agree
    (``in_channels == out_channels`` and stride 1), else a projection :func:`conv_bn` with the temporal stride."""
    if not enabled:
        return None
    if in_channels == out_channels and stride == 1:
        return nn.Identity()
    return conv_bn(in_channels, out_channels, kernel_size, stride, bias=bias)


def add_residual(y: torch.Tensor, x: torch.Tensor, residual: nn.Module | None) -> torch.Tensor:
    """``y + residual(x)``, or ``y`` when there is no residual."""
    return y if residual is None else y + residual(x)


def uses_batch_statistics(bn: nn.modules.batchnorm._BatchNorm) -> bool:
    """Whether ``bn`` normalises with the batch's own statistics (train mode, or no running statistics)."""
    return bn.training or bn.running_mean is None


def update_running_statistics(
    bn: nn.modules.batchnorm._BatchNorm, mean: torch.Tensor, var: torch.Tensor, count: float | torch.Tensor
) -> None:
    """What ``bn``'s own forward does to its batch count and running statistics, given the batch's per-channel
    ``mean`` and biased ``var`` over ``count`` values per channel (the running variance is the unbiased one)."""
    with torch.no_grad():
        bn.num_batches_tracked.add_(1)
        momentum = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
        bn.running_mean.lerp_(mean.detach(), momentum)
        bn.running_var.lerp_(var.detach() * count / max(count - 1, 1), momentum)


def batch_norm_stacked(y: torch.Tensor, bns: Sequence[nn.modules.batchnorm._BatchNorm]) -> torch.Tensor | None:
    """``torch.cat([bn_i(y_i) ...], 1)`` in one call, all on the batch's statistics: y (N, sum C_i, ...) holds each
    ``bn``'s channels in turn. BatchNorm is per channel, so stacking the channels changes nothing; each bn's batch
    count and running statistics are updated as its own forward would. None when the bns differ in eps, momentum,
    affinity or running statistics (run them one by one then)."""
    first = bns[0]
    if not all(uses_batch_statistics(bn) for bn in bns) or any(
        (bn.eps, bn.momentum, bn.weight is None, bn.running_mean is None)
        != (first.eps, first.momentum, first.weight is None, first.running_mean is None)
        for bn in bns
    ):
        return None
    tracking = first.training and first.running_mean is not None
    momentum = 0.0
    if tracking:
        if first.momentum is None and len({int(bn.num_batches_tracked) for bn in bns}) != 1:
            return None
        for bn in bns:
            bn.num_batches_tracked.add_(1)
        momentum = 1.0 / float(first.num_batches_tracked) if first.momentum is None else first.momentum
    mean = torch.cat([bn.running_mean for bn in bns]) if tracking else None  # updated in place by batch_norm
    var = torch.cat([bn.running_var for bn in bns]) if tracking else None
    weight = None if first.weight is None else torch.cat([bn.weight for bn in bns])
    bias = None if first.bias is None else torch.cat([bn.bias for bn in bns])
    out = F.batch_norm(y, mean, var, weight, bias, True, momentum, first.eps)
    if tracking:
        sizes = [bn.num_features for bn in bns]
        with torch.no_grad():
            for bn, m, v in zip(bns, mean.split(sizes), var.split(sizes), strict=True):
                bn.running_mean.copy_(m)
                bn.running_var.copy_(v)
    return out


def batchnorm_affine(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(scale, shift)``, each (C,), with ``bn(y) = scale * y + shift`` per channel: ``scale = gamma / sqrt(var +
    eps)``, ``shift = beta - mean * scale``. ``None`` when ``bn`` normalises with the batch's own statistics."""
    if uses_batch_statistics(bn):
        return None
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale, shift


def fold_batchnorm(
    weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.modules.batchnorm._BatchNorm
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A linear map's ``weight`` (C_out, ...) and ``bias`` with the BatchNorm that follows it folded in.

    ``bn(W x + b) = (scale * W) x + (scale * (b - mean) + beta)`` with ``scale = gamma / sqrt(var + eps)``.
    Returns ``None`` when ``bn`` normalises with the batch's own statistics (train mode, or no running
    statistics): there is nothing fixed to fold then.
    """
    affine = batchnorm_affine(bn)
    if affine is None:
        return None
    scale, shift = affine
    folded_bias = shift if bias is None else bias * scale + shift
    return weight * scale.view(-1, *([1] * (weight.dim() - 1))), folded_bias


_REFERENCE_KERNELS = contextvars.ContextVar("stviz_reference_kernels", default=False)


@contextlib.contextmanager
def reference_kernels() -> Iterator[None]:
    """Within the block, stviz's fast kernels give way to the plain PyTorch ops they stand for (a 1x1 convolution
    runs as ``F.conv2d``, Shift-GCN's linear as its einsum); the values agree up to rounding. :func:`stviz.cost.count`
    counts under it, so that a 1x1 convolution is counted as a convolution whichever kernel runs it."""
    token = _REFERENCE_KERNELS.set(True)
    try:
        yield
    finally:
        _REFERENCE_KERNELS.reset(token)


def using_reference_kernels() -> bool:
    """Whether :func:`reference_kernels` is active."""
    return _REFERENCE_KERNELS.get()


def runs_as_conv(x: torch.Tensor, in_channels: int, out_channels: int) -> bool:
    """Whether a 1x1 convolution from ``in_channels`` to ``out_channels`` on ``x`` (N, C_in, ...) runs as oneDNN's
    convolution rather than as MKL's batched product (:func:`conv_is_faster`, over x's positions)."""
    return conv_is_faster(x.device, x.numel() // in_channels, in_channels, out_channels)


def conv_is_faster(device: torch.device, positions: int, in_channels: int, out_channels: int) -> bool:
    """Whether a 1x1 convolution from ``in_channels`` to ``out_channels`` over ``positions`` positions runs as
    oneDNN's convolution: on a CPU where :mod:`stviz.cpu` found the convolution faster, from
    :data:`~stviz.cpu.CONV_MIN_CHANNELS` input channels (:data:`~stviz.cpu.CONV_MIN_UNBLOCKED_CHANNELS` where they are
    not a multiple of :data:`~stviz.cpu.CONV_CHANNEL_BLOCK`) and :data:`~stviz.cpu.CONV_MIN_MACS` multiply-accumulates
    on."""
    if device.type != "cpu" or cpu.POINTWISE_KERNEL != "conv" or in_channels < cpu.CONV_MIN_CHANNELS:
        return False
    if in_channels % cpu.CONV_CHANNEL_BLOCK and in_channels < cpu.CONV_MIN_UNBLOCKED_CHANNELS:
        return False
    return positions * in_channels * out_channels >= cpu.CONV_MIN_MACS


def rows_conv_is_faster(device: torch.device, rows: int, in_channels: int, out_channels: int) -> bool:
    """Whether :func:`linear_rows` runs as oneDNN's convolution: as :func:`conv_is_faster` at any channel count (rows
    are a channels-last image, which needs no reorder into oneDNN's blocks: 3 to 39 channels took 0.35-0.65 of MKL's
    time forward and backward on a Zen 5 EPYC), and never under :func:`reference_kernels`."""
    if device.type != "cpu" or cpu.POINTWISE_KERNEL != "conv" or using_reference_kernels():
        return False
    return rows * in_channels * out_channels >= cpu.CONV_MIN_MACS


def project_rows(weight: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``weight`` (O, D) applied to each sample of ``rows`` (N, D, P) -> (N, O, P): a 1x1 convolution without bias,
    as the faster kernel on this CPU (:func:`runs_as_conv`)."""
    if runs_as_conv(rows, rows.shape[1], weight.shape[0]):
        return F.conv1d(rows, weight.unsqueeze(-1))
    return torch.bmm(weight.expand(rows.shape[0], *weight.shape), rows)


def _rows_image(rows: torch.Tensor) -> torch.Tensor:
    """rows (M, C) as one channels-last image (1, C, M, 1), which oneDNN convolves without a reorder: a view."""
    m, c = rows.shape
    return rows.view(1, m, 1, c).permute(0, 3, 1, 2)


def linear_rows(rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``rows @ weight + bias``: rows (M, C), weight (C, D), bias D values or None -> (M, D). ``torch.addmm`` or
    ``torch.mm`` (MKL), or where :func:`rows_conv_is_faster`, a 1x1 convolution over the rows read as one channels-last
    image, which oneDNN takes without a reorder: about half addmm's time, forward and backward, on an AVX-512 CPU
    where MKL runs AVX2 kernels."""
    m, c = rows.shape
    d = weight.shape[1]
    if not rows_conv_is_faster(rows.device, m, c, d):
        return torch.mm(rows, weight) if bias is None else torch.addmm(bias.reshape(1, d), rows, weight)
    bias = None if bias is None else bias.reshape(d)
    y = F.conv2d(_rows_image(rows), weight.t().reshape(d, c, 1, 1), bias)  # (1, D, M, 1), channels last
    return y.permute(0, 2, 3, 1).contiguous().view(m, d)  # no copy where oneDNN wrote channels last (float32)


def linear_rows_backward(
    grad: torch.Tensor, rows: torch.Tensor, weight: torch.Tensor, need_rows: bool = True, need_weight: bool = True
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The gradients of :func:`linear_rows` for ``grad`` (M, D), the output's gradient: ``grad @ weight^T`` (M, C)
    for rows (M, C), and ``rows^T @ grad`` (C, D) for weight (C, D); each None where it is not needed. Where
    :func:`rows_conv_is_faster`, both from one :func:`pointwise_conv_backward` over the rows read as channels-last
    images; else ``torch.mm`` (MKL)."""
    m, c = rows.shape
    d = weight.shape[1]
    if not rows_conv_is_faster(rows.device, m, c, d):
        return (grad @ weight.t() if need_rows else None), (rows.t() @ grad if need_weight else None)
    kernel = weight.t().reshape(d, c, 1, 1)
    grad_image, grad_kernel = pointwise_conv_backward(
        _rows_image(grad), _rows_image(rows), kernel, need_rows, need_weight
    )
    grad_rows = None if grad_image is None else grad_image.permute(0, 2, 3, 1).contiguous().view(m, c)
    return grad_rows, (None if grad_kernel is None else grad_kernel.view(d, c).t())


def pointwise_conv_backward(
    grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, need_x: bool = True, need_weight: bool = True
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The gradients of a 1x1 convolution without bias, ``F.conv1d`` or ``F.conv2d(x, weight)``, for its output's
    gradient ``grad`` (N, D, ...): x's (N, C, ...) and weight's (D, C, 1, ...), each None where it is not needed.
    One convolution backward (oneDNN's on the CPU), which reads ``grad`` once for both."""
    dims = x.dim() - 2
    grad_x, grad_weight, _ = torch.ops.aten.convolution_backward(
        grad, x, weight, None, [1] * dims, [0] * dims, [1] * dims, False, [0] * dims, 1, [need_x, need_weight, False]
    )
    return grad_x, grad_weight


def pointwise_conv(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, act: nn.Module | None = None
) -> torch.Tensor:
    """``act(F.conv2d(x, weight, bias))`` for a 1x1 kernel: (N, D, ...) -> (N, C_out, ...), weight (C_out, D, ...).

    Where :mod:`stviz.cpu` picks MKL (Intel's CPUs, CPUs without AVX-512) as one batched matrix product per
    sample, 1.3x to 3x faster there than ``F.conv2d``, forward and backward (the convolution goes through a blocked
    memory layout and back); elsewhere, where it is large enough, as oneDNN's convolution (:func:`runs_as_conv`).
    ``act`` runs on the product before it is reshaped: an activation in place on a reshaped view would make
    autograd copy the view's whole base in the backward."""
    n, d = x.shape[:2]
    o = weight.shape[0]
    x3 = x.reshape(n, d, -1)
    if runs_as_conv(x3, d, o):
        y = F.conv1d(x3, weight.reshape(o, d, 1), bias)
    else:
        w = weight.reshape(1, o, d).expand(n, o, d)
        y = torch.bmm(w, x3) if bias is None else torch.baddbmm(bias.view(1, o, 1), w, x3)
    return (y if act is None else act(y)).view(n, o, *x.shape[2:])


def pointwise_conv_bn(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d):
    """``bn(W x + b)`` with :func:`pointwise_conv`: (N, C_in, ...) -> (N, C_out, ...), BatchNorm folded into W and b
    when it has fixed statistics (eval)."""
    folded = fold_batchnorm(weight, bias, bn)
    return bn(pointwise_conv(x, weight, bias)) if folded is None else pointwise_conv(x, *folded)


def pointwise_conv_to_channels_last(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, act: nn.Module | None = None
) -> torch.Tensor:
    """``act(F.conv2d(x, weight, bias))`` for a 1x1 kernel, written channels last: x (N, C_in, T, V) ->
    (N, C_out, T, V) in ``torch.channels_last`` strides, weight (C_out, C_in, ...), bias (C_out,).

    One batched product per sample, ``x[n]^T W^T`` (T*V, C_out), that reads x transposed where it lies. ``act`` runs
    on the product before it is viewed as (N, C_out, T, V)."""
    n, c, t, v = x.shape
    o = weight.shape[0]
    rows = x.reshape(n, c, t * v).transpose(1, 2)  # (N, T*V, C_in), a view
    y = torch.baddbmm(bias.view(1, 1, o), rows, weight.reshape(o, c).t().expand(n, c, o))  # (N, T*V, C_out)
    y = y if act is None else act(y)
    return y.view(n, t, v, o).permute(0, 3, 1, 2)


def pointwise_conv_from_channels_last(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``F.conv2d(h, weight, bias)`` for a 1x1 kernel on a channels-last h (N, C_in, T, V) -> contiguous (N, C_out, T,
    V), weight (C_out, C_in, ...), bias (C_out,): one batched product per sample, ``W h[n]``, with h read transposed
    where it lies."""
    if not h.is_contiguous(memory_format=torch.channels_last):
        raise ValueError(f"h must be channels last, got strides {h.stride()} for shape {tuple(h.shape)}")
    n, c, t, v = h.shape
    o = weight.shape[0]
    columns = h.permute(0, 2, 3, 1).reshape(n, t * v, c).transpose(1, 2)  # (N, C_in, T*V), a view
    y = torch.baddbmm(bias.view(1, o, 1), weight.reshape(o, c).expand(n, o, c), columns)
    return y.view(n, o, t, v)


def conv1x1(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A stride-1 1x1 convolution: :func:`pointwise_conv`, or ``F.conv2d`` under :func:`reference_kernels`.
    (N, C_in, T, V) -> (N, C_out, T, V), weight (C_out, C_in, 1, 1)."""
    if using_reference_kernels():
        return F.conv2d(x, weight.reshape(weight.shape[0], -1, 1, 1), bias)
    return pointwise_conv(x, weight, bias)


def _pointwise_input(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor | None:
    """``x`` subsampled by the stride when ``conv`` is a plain 1x1 convolution (no padding, one group) that runs as
    a matrix product, else None (also under :func:`reference_kernels`, and where :func:`runs_as_conv`)."""
    if conv.kernel_size != (1, 1) or conv.groups != 1 or conv.padding != (0, 0) or using_reference_kernels():
        return None
    if runs_as_conv(x, conv.in_channels, conv.out_channels):
        return None
    sh, sw = conv.stride
    return x if (sh, sw) == (1, 1) else x[:, :, ::sh, ::sw]


def conv_forward(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(x)``, through :func:`pointwise_conv` for a 1x1 convolution that runs as a matrix product:
    (N, C_in, T, V) -> (N, C_out, T', V)."""
    xs = _pointwise_input(x, conv)
    return conv(x) if xs is None else pointwise_conv(xs, conv.weight, conv.bias)


def conv_bn_forward(x: torch.Tensor, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> torch.Tensor:
    """``bn(conv(x))``; in eval mode one convolution with the BatchNorm folded in (:func:`fold_batchnorm`), and a
    1x1 convolution that runs as a matrix product through :func:`pointwise_conv`."""
    xs = _pointwise_input(x, conv)
    if xs is not None:
        return pointwise_conv_bn(xs, conv.weight, conv.bias, bn)
    folded = fold_batchnorm(conv.weight, conv.bias, bn)
    if folded is None:
        return bn(conv(x))
    return F.conv2d(x, *folded, conv.stride, conv.padding, conv.dilation, conv.groups)


def residual_forward(residual: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``residual(x)`` for a :func:`make_residual` branch (not None), a projection's BatchNorm folded in eval mode."""
    if isinstance(residual, nn.Sequential):
        return conv_bn_forward(x, *residual)
    return residual(x)


def dropout_(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout in place on a fresh tensor: ``x * (u >= p) / (1 - p)``, ``u ~ U[0, 1)`` drawn per entry.

    The distribution of :func:`torch.nn.functional.dropout` (each entry kept with probability ``1 - p`` and scaled
    by ``1 / (1 - p)``), with the mask drawn from uniform samples: on the CPU ``uniform_`` is about 4x faster than
    the ``bernoulli_`` that PyTorch's dropout draws (ST-GCN's dropout took a fifth of its training step). The
    draws are not PyTorch's, so the masks differ from ``nn.Dropout``'s under the same seed. x: any shape.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return x.mul_(0)
    keep = torch.rand(x.shape, dtype=torch.float32, device=x.device).ge_(p).mul_(1 / (1 - p))
    return x.mul_(keep.to(x.dtype))
