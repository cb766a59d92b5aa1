"""Partitioned graph convolution (ST-GCN, EfficientGCN): K fixed matrices, columns are targets.

``y = sum_k (W_k x) (A_k * E_k)``: one 1x1 conv gives K*C_out channels (K-major), then
``einsum('nkctv,kvw->nctw')`` sums over partitions and source joints v, so column w of ``A_k`` lists what
joint w receives. Yan et al., AAAI 2018 (ST-GCN); Song et al., TPAMI 2022 (EfficientGCN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stviz.checks import check_adjacency, check_nctv, check_positive_int
from stviz.init import efficientgcn_init
from stviz.layers import (
    batchnorm_affine,
    conv1x1,
    conv_bn_forward,
    fold_batchnorm,
    linear_rows,
    make_activation,
    make_residual,
    runs_as_conv,
    uses_batch_statistics,
    using_reference_kernels,
)

__all__ = [
    "PartitionGraphConv",
    "partition_sum",
    "EfficientGraphLayer",
    "SPARSE_MAX_DENSITY",
    "graph_is_sparse",
    "sparse_graph_sum",
]


SPARSE_MAX_DENSITY = 0.25
"""Largest share of nonzero entries in the stacked graph (K, V, W) at which :class:`PartitionGraphConv` sums over
the graph with :func:`sparse_graph_sum` rather than a dense product (without autograd, on the CPU). ST-GCN's
partitions hold 73 nonzeros in 1,875 (4%), EfficientGCN's three hop partitions 127 (7%). On a 2-core CPU the sparse
sum took 0.17-0.4 of the dense product's time at 4-15%, 0.4-0.55 at 25% and 0.6-1.0 at 40% (frames x 64-256
channels)."""


def partition_sum(y: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``sum_k y[:, k] @ a[k]``: y (N, K, R, V) contiguous, a (K, V, W) -> (N, R, W), as one convolution.

    y read as a channels-last image (N, V, K, R), V channels and K rows of R pixels (a view), convolved with a (K, 1)
    kernel whose taps are the K partitions, ``kernel[w, v, k] = a[k, v, w]``: oneDNN takes the image as it lies and
    writes (N, R, W) contiguous, forward and backward, so neither y nor the output is copied into another layout. On
    a 2-core Zen 5 EPYC it took 0.65-0.74 of K batched products' time, forward and training step, at
    (8, 3, 2048-4096, 25); on a Zen 1 EPYC its training step took 0.75-0.80 of the einsum's."""
    n, _, r, _ = y.shape
    out = F.conv2d(y.permute(0, 3, 1, 2), a.permute(2, 1, 0).unsqueeze(-1))  # (N, W, 1, R), channels last
    return out.permute(0, 2, 3, 1).reshape(n, r, a.shape[2])


def sparse_graph_sum(y: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``out[f, w] = sum_{v, k} a[k, v, w] y[f, v, k]`` over the graph's nonzero entries only: y (F, V, K, D), rows of
    D channels; a (K, V, W) in y's dtype -> (F, W, D).

    One ``F.embedding_bag`` call on y's (F*V*K, D) rows: a bag per frame and target joint w holds the rows (v, k)
    that reach w, weighted by their entries. A zero entry adds nothing, even where y is not finite (a dense product
    would add 0 * inf = nan)."""
    f, v, k, d = y.shape
    w = a.shape[2]
    targets, sources, partitions = a.permute(2, 1, 0).nonzero(as_tuple=True)  # sorted by target joint
    row_in_frame = sources * k + partitions
    per_target = torch.bincount(targets, minlength=w)
    bag_starts = per_target.cumsum(0) - per_target  # where each target's bag starts within a frame's entries
    frames = torch.arange(f, device=y.device)[:, None]
    rows = (frames * (v * k) + row_in_frame).view(-1)
    offsets = (frames * row_in_frame.numel() + bag_starts).view(-1)
    weights = a[partitions, sources, targets].repeat(f)
    return F.embedding_bag(rows, y.reshape(f * v * k, d), offsets, mode="sum", per_sample_weights=weights).view(f, w, d)


def graph_is_sparse(a: torch.Tensor) -> bool:
    """Whether at most :data:`SPARSE_MAX_DENSITY` of the stacked graph ``a`` (K, V, W)'s entries are nonzero."""
    return torch.count_nonzero(a).item() <= SPARSE_MAX_DENSITY * a.numel()


class PartitionGraphConv(nn.Module):
    """Partitioned graph convolution ``y = sum_k (W_k x) (A_k * E_k)``.

    ST-GCN: ``ConvTemporalGraphical``; EfficientGCN: ``SpatialGraphConv``. ``E`` is the learnable edge
    importance (ones at init) when ``edge_importance`` is true.

    A: (K, V, V) fixed partition, or None when the caller passes A to forward (then ``num_subsets`` gives K).
    x: (N, C_in, T, V) -> (N, C_out, T, V).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        A: torch.Tensor | None = None,
        num_subsets: int | None = None,
        edge_importance: bool = False,
        bias: bool = True,
    ):
        super().__init__()
        check_positive_int(in_channels, "in_channels", block="PartitionGraphConv")
        check_positive_int(out_channels, "out_channels", block="PartitionGraphConv")
        if A is None and num_subsets is None:
            raise ValueError("PartitionGraphConv needs A (K, V, V) or num_subsets when A comes with each call")
        if A is not None:
            check_adjacency(A, "A", block="PartitionGraphConv", stacked=True)
            if num_subsets is not None and num_subsets != A.shape[0]:
                raise ValueError(f"PartitionGraphConv: num_subsets={num_subsets} but A has {A.shape[0]} partitions")
            num_subsets = A.shape[0]
            self.register_buffer("A", A.detach().clone().float(), persistent=False)
        else:
            self.A = None
        self.in_channels, self.out_channels, self.num_subsets = in_channels, out_channels, num_subsets
        self.conv = nn.Conv2d(in_channels, out_channels * num_subsets, 1, bias=bias)
        if edge_importance:
            if A is None:
                raise ValueError("PartitionGraphConv: edge_importance needs A at construction (its shape is A's)")
            self.edge_importance = nn.Parameter(torch.ones_like(self.A))
        else:
            self.edge_importance = None

    def graph(self, A: torch.Tensor | None = None) -> torch.Tensor:
        """The matrices actually applied, ``A * E``: (K, V, V)."""
        A = self.A if A is None else A
        if A is None:
            raise ValueError("PartitionGraphConv was built without A: pass A (K, V, V) to forward")
        return A if self.edge_importance is None else A * self.edge_importance

    def _checked_graph(self, x: torch.Tensor, A: torch.Tensor | None) -> torch.Tensor:
        """The applied graph (K, V, V) in x's dtype, after checking x and a forward-time A."""
        if A is not None:
            check_adjacency(A, "A", block=type(self).__name__, stacked=True)
        a = self.graph(A)
        if a.dim() != 3 or a.shape[0] != self.num_subsets:
            raise ValueError(f"PartitionGraphConv: A must have shape ({self.num_subsets}, V, V), got {tuple(a.shape)}")
        check_nctv(x, channels=self.in_channels, num_joints=a.shape[-1], block=type(self).__name__, weight=self.conv)
        return a.to(x.dtype)

    def explicit(
        self, x: torch.Tensor, A: torch.Tensor | None = None, bn: nn.BatchNorm2d | None = None
    ) -> torch.Tensor:
        """The original's order: 1x1 conv to K*C_out channels, then ``einsum('nkctv,kvw->nctw')``; ``bn(...)`` of it
        when ``bn`` is given (:meth:`forward`'s arguments). (N, C_in, T, V) -> (N, C_out, T, V)."""
        a = self._checked_graph(x, A)
        n, _, t, v = x.shape
        x = self.conv(x).view(n, self.num_subsets, self.out_channels, t, v)  # (N, K, C, T, V)
        y = torch.einsum("nkctv,kvw->nctw", x, a)  # (N, C, T, V)
        return y if bn is None else bn(y)

    def forward(self, x: torch.Tensor, A: torch.Tensor | None = None, bn: nn.BatchNorm2d | None = None) -> torch.Tensor:
        """:meth:`explicit`'s result in the cheaper order for the widths; ``bn(...)`` of it when ``bn`` is given.

        Widening (C_out > C_in): aggregate the K*C_in input channels over the graph first, then one 1x1 conv
        (fewer MACs). Otherwise project first, as :meth:`explicit`. When autograd records, the graph sum is
        :func:`partition_sum`, one more convolution, on the CPU, and the einsum elsewhere. Without autograd the
        conv writes rows (frame, joint) of K*C_out channels side by side (oneDNN's convolution on a channels-last x,
        or MKL's product reading x transposed), so the graph sum over (k, v) is one matrix product per frame with no
        permuted copy, or on the CPU, where the graph is sparse (:data:`SPARSE_MAX_DENSITY`), one sum over its
        nonzero entries (:func:`sparse_graph_sum`).

        ``bn``, the BatchNorm that follows the layer, is folded in when it has fixed statistics (eval): its scale
        goes into the conv's weight and bias, its shift into the pass that writes the output, so it costs no pass
        of its own. With batch statistics it runs after the layer.
        """
        a = self._checked_graph(x, A)
        weight, bias, shift, folded = self._weights_with(bn)
        if self.contraction_order == "aggregate-first":
            y = self._aggregate_then_project(x, a, weight, bias, shift)
        else:
            y = self._project_then_aggregate(x, a, weight, bias, shift)
        return bn(y) if bn is not None and not folded else y

    def _weights_with(
        self, bn: nn.BatchNorm2d | None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, bool]:
        """The 1x1 conv's weight (K*C_out, C_in, 1, 1) and bias with ``bn``'s scale folded in, ``bn``'s shift (C_out),
        and whether ``bn`` was folded (fixed statistics); the conv's own weight and bias and no shift otherwise."""
        affine = None if bn is None else batchnorm_affine(bn)
        weight, bias = self.conv.weight, self.conv.bias
        if affine is None:
            return weight, bias, None, False
        scale, shift = affine
        scale = scale.repeat(self.num_subsets)  # the K partitions' channels c all take channel c's scale
        return weight * scale.view(-1, 1, 1, 1), None if bias is None else bias * scale, shift, True

    def forward_plus_projection(
        self, x: torch.Tensor, bn: nn.BatchNorm2d, projection: nn.Conv2d, projection_bn: nn.BatchNorm2d
    ) -> torch.Tensor:
        """``forward(x, bn=bn) + projection_bn(projection(x))``: the layer with a residual 1x1 projection added
        (EfficientGCN's spatial layer when C_in != C_out). (N, C_in, T, V) -> (N, C_out, T, V).

        In eval without autograd, in the project-first order, the projection is one more partition whose graph is
        the identity: its C_out channels come out of the layer's 1x1 convolution beside the K partitions', both
        BatchNorms folded, and reach the output through the graph sum, so it costs no convolution and no pass of its
        own (EfficientGCN's six narrowing layers on a 2-core Zen 5 EPYC, two runs: 0.63-0.85 of the original's time,
        against 0.69-1.02 with the projection apart). Otherwise, and under :func:`~stviz.layers.reference_kernels`
        (what the cost tables count), the layer and then the projection."""
        one_pass = (
            projection.kernel_size == (1, 1)
            and projection.stride == (1, 1)
            and projection.groups == 1
            and not uses_batch_statistics(bn)
            and not uses_batch_statistics(projection_bn)
            and not torch.is_grad_enabled()
            and not using_reference_kernels()
            and self.contraction_order == "project-first"
        )
        if not one_pass:
            return self(x, bn=bn).add_(conv_bn_forward(x, projection, projection_bn))
        a = self._checked_graph(x, None)
        weight, bias, shift, _ = self._weights_with(bn)
        skip_weight, skip_bias = fold_batchnorm(projection.weight, projection.bias, projection_bn)
        if bias is None:  # the projection's bias alone: the K partitions' channels take none
            bias = skip_bias.new_zeros(self.num_subsets * self.out_channels)
        weight, bias = torch.cat([weight, skip_weight]), torch.cat([bias, skip_bias])
        identity = torch.eye(a.shape[1], dtype=a.dtype, device=a.device)
        return self._project_then_aggregate(x, torch.cat([a, identity[None]]), weight, bias, shift)

    @property
    def contraction_order(self) -> str:
        """``"aggregate-first"`` for a widening layer (C_out > C_in: K*C_in*V*V + K*C_in*C_out MACs per frame and
        joint row, against the original's K*C_in*C_out + K*C_out*V*V), else ``"project-first"``, the original's."""
        return "aggregate-first" if self.out_channels > self.in_channels else "project-first"

    def _aggregate_then_project(
        self,
        x: torch.Tensor,
        a: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        shift: torch.Tensor | None,
    ) -> torch.Tensor:
        n, c, t, v = x.shape
        k, d = self.num_subsets, self.out_channels
        z = linear_rows(x.reshape(n * c * t, v), a.permute(1, 0, 2).reshape(v, k * v), None)  # (N*C*T, K*V)
        z = z.view(n, c, t, k, v).permute(0, 1, 3, 2, 4).reshape(n, c * k, t, v)  # channels (c, k)
        weight = weight.view(k, d, c).permute(1, 2, 0).reshape(d, c * k, 1, 1)
        y = conv1x1(z, weight, None)  # (N, C_out, T, V)
        offset = self._output_offset(a, bias, shift, y.dtype)
        return y if offset is None else y.add_(offset)

    def _output_offset(
        self, a: torch.Tensor, bias: torch.Tensor | None, shift: torch.Tensor | None, dtype: torch.dtype
    ) -> torch.Tensor | None:
        """What the conv's bias and BN's shift add to the output, (1, C_out, 1, V) or (1, C_out, 1, 1) in ``dtype``;
        None when neither is given. The bias b_k of subset k reaches joint w through the column sum of A_k."""
        k, d = a.shape[0], self.out_channels
        total = None if bias is None else torch.matmul(bias.view(k, d).t(), a.sum(1))  # (C_out, V)
        if shift is not None:
            total = shift.view(d, 1) if total is None else total + shift.view(d, 1)
        return None if total is None else total.to(dtype).view(1, d, 1, -1)

    def _project_then_aggregate(
        self,
        x: torch.Tensor,
        a: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        shift: torch.Tensor | None,
    ) -> torch.Tensor:
        n, c, t, v = x.shape
        k, d = a.shape[0], self.out_channels  # K partitions (and a residual projection's, forward_plus_projection)
        if torch.is_grad_enabled() and x.device.type == "cpu" and not using_reference_kernels():
            # The 1x1 conv writes channels first; the graph sum over (k, v) is then one oneDNN convolution that reads
            # it where it lies (partition_sum): no permuted copy of y as the einsum makes. The cost tables count the
            # einsum (reference_kernels): the sum's multiply-accumulates are not a convolution's
            y = conv1x1(x, weight, bias).view(n, k, d * t, v)  # (N, K, C_out*T, V)
            out = partition_sum(y, a.to(y.dtype)).view(n, d, t, v)
            offset = self._output_offset(a, None, shift, out.dtype)  # the bias went through the sum
            return out if offset is None else out.add_(offset)
        if torch.is_grad_enabled():  # off the CPU with autograd: the einsum, whose backward is cheaper than rows'
            y = conv1x1(x, weight, bias).view(n, k, d, t, v)  # (N, K, C, T, V)
            y = torch.einsum("nkctv,kvw->nctw", y, a.to(y.dtype))
            offset = self._output_offset(a, None, shift, y.dtype)  # the bias went through the einsum
            return y if offset is None else y.add_(offset)
        # Rows (frame, joint) of K*C_out channels side by side, so the graph sum over (k, v) is one product per
        # frame. As oneDNN's convolution on a channels-last copy of x (linear_rows): it writes those rows without
        # converting its output's layout (ST-GCN's and EfficientGCN's project-first layers in eval, on a Zen 5 EPYC:
        # 0.58-0.91 of the original's time, against 0.77-1.08 with K batched products). As MKL's product, one per sample
        # that reads x transposed, without a copy of x.
        if runs_as_conv(x, c, k * d):
            rows = x.permute(0, 2, 3, 1).reshape(n * t * v, c)  # channels-last copy of x (a view if x is already)
            y = linear_rows(rows, weight.view(k * d, c).t(), None).view(n, t * v, k * d)
        else:
            frames = x.reshape(n, c, t * v).transpose(1, 2)  # (N, T*V, C_in): a view of x, channels-first or last
            y = torch.bmm(frames, weight.view(k * d, c).t().expand(n, c, k * d))  # (N, T*V, K*C_out)
        if y.device.type == "cpu" and graph_is_sparse(a):  # over the graph's nonzeros: (N, C_out, T, V) strided
            out = sparse_graph_sum(y.view(n * t, v, k, d), a.to(y.dtype)).view(n, t, v, d).permute(0, 3, 1, 2)
        else:
            y = y.view(n * t, v * k, d)  # rows (v, k) of each frame
            a_rows = a.permute(1, 0, 2).reshape(v * k, v).to(y.dtype)  # [(v, k), w]
            out = torch.matmul(y.transpose(1, 2), a_rows).view(n, t, d, v).transpose(1, 2)  # (N, C_out, T, V) strided
        offset = self._output_offset(a, bias, shift, out.dtype)  # added as the output is written in x's layout
        if offset is None:
            return out.contiguous()
        return torch.add(out, offset, out=x.new_empty(n, d, t, v, dtype=out.dtype))


class EfficientGraphLayer(nn.Module):
    """EfficientGCN spatial layer ``activation(bn(gcn(x)) + residual(x))``.

    EfficientGCN: ``Spatial_Graph_Layer``. gcn = :class:`PartitionGraphConv` on ``A[:max_graph_distance+1]`` of
    the 10-hop partition with edge importance; residual = None, identity (C_in = C_out) or 1x1 conv + BN.
    Initialised with :func:`stviz.init.efficientgcn_init`. x: (N, C_in, T, V) -> (N, C_out, T, V).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        A: torch.Tensor,
        max_graph_distance: int = 2,
        edge_importance: bool = True,
        bias: bool = True,
        residual: bool = True,
        activation: str | None = "swish",
    ):
        super().__init__()
        check_adjacency(A, "A", block="EfficientGraphLayer", stacked=True)
        bad_type = isinstance(max_graph_distance, bool) or not isinstance(max_graph_distance, int)
        if bad_type or not 0 <= max_graph_distance < A.shape[0]:
            raise ValueError(
                f"EfficientGraphLayer: max_graph_distance must be an int in 0..{A.shape[0] - 1} (A has "
                f"{A.shape[0]} hop partitions), got {max_graph_distance!r}"
            )
        self.in_channels = in_channels
        self.conv = PartitionGraphConv(
            in_channels, out_channels, A[: max_graph_distance + 1], None, edge_importance, bias
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.residual = make_residual(in_channels, out_channels, 1, residual, bias=bias)
        self.act = make_activation(activation)
        self.apply(efficientgcn_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.in_channels, block=type(self).__name__, weight=self.bn)
        if isinstance(self.residual, nn.Sequential):  # a 1x1 projection and its BN
            return self.act(self.conv.forward_plus_projection(x, self.bn, *self.residual))
        y = self.conv(x, bn=self.bn)  # a fresh tensor: BN folded in (eval) or applied (training)
        if self.residual is not None:
            y.add_(self.residual(x))
        return self.act(y)
