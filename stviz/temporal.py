"""Temporal blocks: multi-scale temporal convolutions and EfficientGCN's temporal layers.

Every block maps (N, C, T, V) to (N, C', T', V) with ``T' = floor((T - 1) / stride) + 1``.
Convolutions run along T only: kernels are (k, 1), so joints never mix here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from stviz.checks import check_nctv, check_odd_kernel, check_positive_int, reduced_channels
from stviz.frame_max_pool import max_pool_frames
from stviz.init import ctrgcn_init, efficientgcn_init
from stviz.layers import (
    batch_norm_stacked,
    conv1x1,
    conv_bn,
    conv_bn_forward,
    fold_batchnorm,
    make_activation,
    make_residual,
    pointwise_conv_from_channels_last,
    pointwise_conv_to_channels_last,
    residual_forward,
    runs_as_conv,
    temporal_conv,
    uses_batch_statistics,
    using_reference_kernels,
)

__all__ = [
    "TemporalConvBN",
    "MultiScaleTemporalConv",
    "MSG3DTemporalConv",
    "TemporalBasicLayer",
    "TemporalBottleneckLayer",
    "TemporalSepLayer",
    "TemporalSandglassLayer",
]


class TemporalConvBN(nn.Module):
    """A (k, 1) temporal convolution (optionally strided and dilated) followed by BatchNorm.

    CTR-GCN / MS-G3D: ``TemporalConv``. (N, C_in, T, V) -> (N, C_out, T', V).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.in_channels = in_channels
        self.conv = temporal_conv(in_channels, out_channels, kernel_size, stride, dilation)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, block=type(self).__name__, weight=self)
        return self.bn(self.conv(x))


class MultiScaleTemporalConv(nn.Module):
    """Multi-scale temporal convolution: parallel dilated branches, a max-pool branch and a 1x1 branch.

    CTR-GCN: ``MultiScale_TemporalConv`` (the defaults); MS-G3D's variant is :class:`MSG3DTemporalConv`.
    ``B = len(dilations) + 2`` branches of ``out_channels // B`` channels each are concatenated:

    * dilated branch d: 1x1 conv -> BN -> act -> (k, 1) conv (stride, dilation d) -> BN;
    * max branch: 1x1 conv -> BN -> act -> max-pool (3, 1) with the stride -> BN;
    * 1x1 branch: 1x1 conv with the stride -> BN.

    ``out = activation(cat(branches) + residual(x))``; the residual is None (``residual=False``), the identity
    (same width, stride 1) or a strided (k_res, 1) conv + BN. CTR-GCN has no final activation
    (``activation=None``) and initialises convs with kaiming-normal (fan-out) and BN weights with N(1, 0.02)
    (``init="ctrgcn"``, :func:`stviz.init.ctrgcn_init`); MS-G3D ends with a ReLU and keeps PyTorch's default init
    (``init="pytorch"``). ``branch_activation`` is the activation inside the branches.

    Input (N, C_in, T, V); output (N, C_out, floor((T - 1) / stride) + 1, V).
    Papers: Chen et al., ICCV 2021 (CTR-GCN); Liu et al., CVPR 2020 (MS-G3D).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int] = 3,
        stride: int = 1,
        dilations: Sequence[int] = (1, 2, 3, 4),
        residual: bool = True,
        residual_kernel_size: int = 1,
        activation: str | None = None,
        branch_activation: str | None = "relu",
        init: str = "ctrgcn",
    ):
        super().__init__()
        num_branches = len(dilations) + 2
        if out_channels % num_branches:
            raise ValueError(
                f"{type(self).__name__}: out_channels={out_channels} must be divisible by the {num_branches} branches "
                f"(len(dilations) + 2 with dilations={list(dilations)})"
            )
        kernel_sizes = [kernel_size] * len(dilations) if isinstance(kernel_size, int) else list(kernel_size)
        if len(kernel_sizes) != len(dilations):
            raise ValueError(
                f"{type(self).__name__}: got {len(kernel_sizes)} kernel sizes for {len(dilations)} dilations"
            )
        if init not in ("ctrgcn", "pytorch"):
            raise ValueError(f"{type(self).__name__}: init must be 'ctrgcn' or 'pytorch', got {init!r}")
        for k in kernel_sizes:
            check_odd_kernel(k, block=type(self).__name__)
        check_positive_int(stride, "stride", block=type(self).__name__)
        for d in dilations:
            check_positive_int(d, "each dilation", block=type(self).__name__)
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.kernel_sizes, self.dilations = tuple(kernel_sizes), tuple(dilations)
        branch = out_channels // num_branches

        def squeeze():  # 1x1 conv -> BN -> act: the entry of every branch but the last
            return [nn.Conv2d(in_channels, branch, 1), nn.BatchNorm2d(branch), make_activation(branch_activation)]

        self.branches = nn.ModuleList(
            nn.Sequential(*squeeze(), TemporalConvBN(branch, branch, k, stride, d))
            for k, d in zip(kernel_sizes, dilations, strict=True)
        )
        self.branches.append(
            nn.Sequential(
                *squeeze(),
                nn.MaxPool2d((3, 1), stride=(stride, 1), padding=(1, 0)),
                nn.BatchNorm2d(branch),
            )
        )
        strided_pointwise = nn.Conv2d(in_channels, branch, 1, stride=(stride, 1))
        self.branches.append(nn.Sequential(strided_pointwise, nn.BatchNorm2d(branch)))

        self.residual = make_residual(in_channels, out_channels, stride, residual, residual_kernel_size)
        self.act = make_activation(activation)
        if init == "ctrgcn":
            self.apply(ctrgcn_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, block=type(self).__name__, weight=self)
        entries = self._joint_entries(x)  # the first B - 1 branches start from these
        if entries is None:
            branches = [_run_branch(branch, x) for branch in self.branches]
        else:
            branches = [_run_branch(branch[3:], h) for branch, h in zip(self.branches[:-1], entries, strict=True)]
            branches.append(_run_branch(self.branches[-1], x))
        out = torch.cat(branches, dim=1)  # (N, C_out, T', V)
        if self.residual is not None:
            out += residual_forward(self.residual, x)  # in place: the concatenation is a fresh tensor
        return self.act(out)

    def _joint_entries(self, x: torch.Tensor) -> tuple[torch.Tensor, ...] | None:
        """The 1x1 conv -> BN -> act entries of the first B - 1 branches as one convolution: B - 1 views
        (N, C_out/B, T, V) of one tensor; x is read once instead of B - 1 times.

        In eval each BN is folded into its rows. With batch statistics (training) one BatchNorm runs over the
        stacked channels (:func:`~stviz.layers.batch_norm_stacked`) where the 1x1 conv runs as oneDNN's
        convolution (:func:`~stviz.layers.runs_as_conv`), which reorders x into its blocked layout once instead of
        B - 1 times. Otherwise None: each branch runs on its own, so that training rounds as it always has (the
        zoo's checkpoints retrain bit for bit)."""
        entries = [branch[:3] for branch in self.branches[:-1]]
        convs, bns = [conv for conv, _, _ in entries], [bn for _, bn, _ in entries]
        if not any(uses_batch_statistics(bn) for bn in bns):
            folded = [fold_batchnorm(conv.weight, conv.bias, bn) for conv, bn in zip(convs, bns, strict=True)]
            y = conv1x1(x, torch.cat([w for w, _ in folded]), torch.cat([b for _, b in folded]))
        elif runs_as_conv(x, self.in_channels, sum(conv.out_channels for conv in convs)):
            biases = [conv.weight.new_zeros(conv.out_channels) if conv.bias is None else conv.bias for conv in convs]
            y = batch_norm_stacked(F.conv2d(x, torch.cat([conv.weight for conv in convs]), torch.cat(biases)), bns)
            if y is None:
                return None
        else:
            return None
        return torch.split(entries[0][2](y), convs[0].out_channels, dim=1)


def _run_branch(branch: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """A branch's layers in order, each convolution and the BatchNorm after it as one convolution in eval mode."""
    layers = list(branch)  # a Sequential or a slice of one
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, TemporalConvBN):
            x = conv_bn_forward(x, layer.conv, layer.bn)
        elif isinstance(layer, nn.Conv2d) and i + 1 < len(layers) and isinstance(layers[i + 1], nn.BatchNorm2d):
            x = conv_bn_forward(x, layer, layers[i + 1])
            i += 1
        elif isinstance(layer, nn.MaxPool2d):
            x = max_pool_frames(x, layer)
        else:
            x = layer(x)
        i += 1
    return x


class MSG3DTemporalConv(MultiScaleTemporalConv):
    """MS-G3D's multi-scale temporal convolution: CTR-GCN's branches, a ReLU after the sum, default init.

    MS-G3D: ``MultiScale_TemporalConv``. Defaults k=3 and dilations (1, 2, 3, 4) give 6 branches, so
    ``out_channels`` must be a multiple of 6 (96 in the model). ``activation`` is applied after the sum,
    ``branch_activation`` inside the branches. (N, C_in, T, V) -> (N, C_out, T', V).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilations: Sequence[int] = (1, 2, 3, 4),
        residual: bool = True,
        residual_kernel_size: int = 1,
        activation: str | None = "relu",
        branch_activation: str | None = "relu",
    ):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size=kernel_size,
            stride=stride,
            dilations=dilations,
            residual=residual,
            residual_kernel_size=residual_kernel_size,
            activation=activation,
            branch_activation=branch_activation,
            init="pytorch",
        )


class _EfficientTemporalLayer(nn.Module):
    """Shared parts of EfficientGCN's temporal layers: checks, activation, residual path, initialisation.

    Subclasses build their convolutions, then call ``self.apply(efficientgcn_init)`` (the network's init).
    """

    def __init__(
        self, channels: int, kernel_size: int, stride: int, residual: bool, bias: bool, activation: str | None
    ):
        super().__init__()
        block = type(self).__name__
        check_positive_int(channels, "channels", block=block)
        check_odd_kernel(kernel_size, block=block)
        check_positive_int(stride, "stride", block=block)
        self.channels = self.in_channels = channels
        self.stride = stride
        self.act = make_activation(activation)
        self.residual = make_residual(channels, channels, stride, residual, bias=bias)

    def _add_residual(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``h + residual(x)`` (a projection's BatchNorm folded in eval), or ``h`` without a residual. Added in place:
        ``h`` is a fresh BatchNorm or convolution output that no backward needs."""
        return h if self.residual is None else h.add_(residual_forward(self.residual, x))

    def _check(self, x: torch.Tensor) -> None:
        check_nctv(x, channels=self.channels, block=type(self).__name__, weight=self)


class TemporalBasicLayer(_EfficientTemporalLayer):
    """One full (k, 1) temporal convolution: ``act(BN(conv(x)) + res(x))``.

    EfficientGCN: ``Temporal_Basic_Layer``. (N, C, T, V) -> (N, C, T', V). Song et al., TPAMI 2022.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 5,
        stride: int = 1,
        residual: bool = True,
        bias: bool = True,
        activation: str | None = "swish",
    ):
        super().__init__(channels, kernel_size, stride, residual, bias, activation)
        self.conv = temporal_conv(channels, channels, kernel_size, stride, bias=bias)
        self.bn = nn.BatchNorm2d(channels)
        self.apply(efficientgcn_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.act(self._add_residual(conv_bn_forward(x, self.conv, self.bn), x))  # eval: BN folded in


class TemporalBottleneckLayer(_EfficientTemporalLayer):
    """Bottleneck: 1x1 reduce by r -> (k, 1) conv -> 1x1 expand, activation after each and after the sum.

    EfficientGCN: ``Temporal_Bottleneck_Layer``. (N, C, T, V) -> (N, C, T', V). Song et al., TPAMI 2022.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 5,
        reduct_ratio: int = 4,
        stride: int = 1,
        residual: bool = True,
        bias: bool = True,
        activation: str | None = "swish",
    ):
        super().__init__(channels, kernel_size, stride, residual, bias, activation)
        inner = reduced_channels(channels, reduct_ratio, "reduct_ratio", type(self).__name__)
        self.reduct_conv = conv_bn(channels, inner, bias=bias)
        self.conv = conv_bn(inner, inner, kernel_size, stride, bias=bias)
        self.expand_conv = conv_bn(inner, channels, bias=bias)
        self.apply(efficientgcn_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        h = self.act(conv_bn_forward(x, *self.reduct_conv))  # (N, C/r, T, V)
        h = self.act(conv_bn_forward(h, *self.conv))  # (N, C/r, T', V)
        return self.act(self._add_residual(conv_bn_forward(h, *self.expand_conv), x))


class TemporalSepLayer(_EfficientTemporalLayer):
    """Separable (MobileNetV2-style): 1x1 expand by e -> depthwise (k, 1) -> 1x1 project; no activation at the end.

    EfficientGCN: ``Temporal_Sep_Layer`` (the default layer type). ``expand_ratio=0`` skips the expansion.
    ``out = BN(point(act(BN(depth(act(BN(expand(x)))))))) + res(x)``; (N, C, T, V) -> (N, C, T', V).
    Song et al., TPAMI 2022.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 5,
        expand_ratio: int = 2,
        stride: int = 1,
        residual: bool = True,
        bias: bool = True,
        activation: str | None = "swish",
    ):
        super().__init__(channels, kernel_size, stride, residual, bias, activation)
        inner = channels * expand_ratio if expand_ratio > 0 else channels
        self.expand_conv = conv_bn(channels, inner, bias=bias) if expand_ratio > 0 else None
        self.depth_conv = conv_bn(inner, inner, kernel_size, stride, groups=inner, bias=bias)
        self.point_conv = conv_bn(inner, channels, bias=bias)
        self.apply(efficientgcn_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        folded = self._folded_channels_last(x)
        if folded is not None:
            return self._forward_channels_last(x, *folded)
        if self._trains_channels_last(x):
            return self._train_channels_last(x)
        h = x if self.expand_conv is None else self.act(conv_bn_forward(x, *self.expand_conv))  # (N, C*e, T, V)
        h = self.act(conv_bn_forward(h, *self.depth_conv))  # (N, C*e, T', V)
        return self._add_residual(conv_bn_forward(h, *self.point_conv), x)

    def _folded_channels_last(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """The expand, depthwise and project convolutions with their BatchNorms folded in, when the forward keeps the
        expanded tensor channels last (:meth:`_forward_channels_last`): in eval, on a CPU where both 1x1
        convolutions run as MKL products or both as oneDNN's convolutions (:func:`~stviz.layers.runs_as_conv`),
        outside :func:`~stviz.layers.reference_kernels`; else None."""
        if self.expand_conv is None or x.device.type != "cpu" or using_reference_kernels():
            return None
        inner = self.depth_conv[0].in_channels
        if runs_as_conv(x, self.channels, inner) != runs_as_conv(x, inner, self.channels):
            return None
        folded = [
            fold_batchnorm(conv.weight, conv.bias, bn)
            for conv, bn in (self.expand_conv, self.depth_conv, self.point_conv)
        ]
        return None if any(f is None for f in folded) else folded

    def _trains_channels_last(self, x: torch.Tensor) -> bool:
        """Whether a forward with batch statistics keeps everything after the input channels last
        (:meth:`_train_channels_last`): on a CPU where both 1x1 convolutions run as oneDNN's convolutions
        (:func:`~stviz.layers.runs_as_conv`), outside :func:`~stviz.layers.reference_kernels`."""
        if self.expand_conv is None or x.device.type != "cpu" or using_reference_kernels():
            return False
        inner = self.depth_conv[0].in_channels
        return runs_as_conv(x, self.channels, inner) and runs_as_conv(x, inner, self.channels)

    def _train_channels_last(self, x: torch.Tensor) -> torch.Tensor:
        """The forward on a channels-last copy of x (N, C, T, V) -> (N, C, T', V): every convolution, BatchNorm and
        activation reads and writes that layout, so no oneDNN convolution converts one, forward or backward (on a
        2-core Zen 5 EPYC, in turns in one process: 0.71-0.92 of the original's training step at 7 of the 14
        configurations, against 0.83-1.00 contiguous); the residual sum, the residual's layout first, writes the
        output contiguous."""
        h = self.act(self.expand_conv[1](self.expand_conv[0](x.contiguous(memory_format=torch.channels_last))))
        h = self.act(self.depth_conv[1](self.depth_conv[0](h)))  # (N, C*e, T', V)
        y = self.point_conv[1](self.point_conv[0](h))  # (N, C, T', V), channels last
        return y.contiguous() if self.residual is None else torch.add(residual_forward(self.residual, x), y)

    def _forward_channels_last(
        self,
        x: torch.Tensor,
        expand: tuple[torch.Tensor, torch.Tensor],
        depth: tuple[torch.Tensor, torch.Tensor],
        point: tuple[torch.Tensor, torch.Tensor],
    ) -> torch.Tensor:
        """The eval forward with the expanded tensor (N, C*e, T, V) channels last: the expansion writes it so, the
        depthwise convolution runs on it in that layout (oneDNN's channels-last depthwise kernel; on a contiguous tensor
        oneDNN converts the layout on the way in and out), and the projection reads it back. With MKL's products the
        projection writes the output contiguous (2-14% faster than contiguous for EfficientGCN-B0 to B4, 2-core AVX2
        CPU); with oneDNN's convolutions the input is copied channels last once, no convolution converts a layout, and
        the residual sum writes the output contiguous (0.8-0.9 of the contiguous time at 64-272 channels, 2-core
        AVX-512 CPU). With MKL's products training stays contiguous: there the channels-last BatchNorms and depthwise
        backward are slower; with oneDNN's it runs channels last too (:meth:`_train_channels_last`).
        x (N, C, T, V) -> (N, C, T', V); ``expand``, ``depth``, ``point``: each convolution's (weight, bias) with its
        BatchNorm folded in."""
        conv = self.depth_conv[0]
        onednn = runs_as_conv(x, self.channels, conv.in_channels)
        if onednn:
            h = self.act(F.conv2d(x.contiguous(memory_format=torch.channels_last), *expand))  # (N, C*e, T, V)
        else:
            h = pointwise_conv_to_channels_last(x, *expand, self.act)  # (N, C*e, T, V), channels last
        h = self.act(F.conv2d(h, *depth, conv.stride, conv.padding, conv.dilation, conv.groups))  # channels last
        if not onednn:
            return self._add_residual(pointwise_conv_from_channels_last(h, *point), x)
        y = F.conv2d(h, *point)  # (N, C, T', V), channels last; the residual's layout first: the sum is contiguous
        return y.contiguous() if self.residual is None else torch.add(residual_forward(self.residual, x), y)


class TemporalSandglassLayer(_EfficientTemporalLayer):
    """Sandglass: depthwise (k, 1) -> 1x1 reduce by r -> 1x1 expand -> strided depthwise (k, 1); no final activation.

    EfficientGCN: ``Temporal_SG_Layer``. ``out = BN(dw2(act(BN(pw2(BN(pw1(act(BN(dw1(x)))))))))) + res(x)``;
    (N, C, T, V) -> (N, C, T', V). Song et al., TPAMI 2022; Zhou et al., ECCV 2020 (MobileNeXt).
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 5,
        reduct_ratio: int = 4,
        stride: int = 1,
        residual: bool = True,
        bias: bool = True,
        activation: str | None = "swish",
    ):
        super().__init__(channels, kernel_size, stride, residual, bias, activation)
        inner = reduced_channels(channels, reduct_ratio, "reduct_ratio", type(self).__name__)
        self.depth_conv1 = conv_bn(channels, channels, kernel_size, groups=channels, bias=bias)
        self.point_conv1 = conv_bn(channels, inner, bias=bias)
        self.point_conv2 = conv_bn(inner, channels, bias=bias)
        self.depth_conv2 = conv_bn(channels, channels, kernel_size, stride, groups=channels, bias=bias)
        self.apply(efficientgcn_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        h = self.act(conv_bn_forward(x, *self.depth_conv1))  # (N, C, T, V)
        h = conv_bn_forward(h, *self.point_conv1)  # (N, C/r, T, V)
        h = self.act(conv_bn_forward(h, *self.point_conv2))  # (N, C, T, V)
        return self._add_residual(conv_bn_forward(h, *self.depth_conv2), x)  # (N, C, T', V)
