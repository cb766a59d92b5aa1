"""EfficientGCN: its block (spatial graph layer + temporal layers + attention) and its model, with compound scaling.

Song et al., "Constructing Stronger and Faster Baselines for Skeleton-based Action Recognition", TPAMI 2022
(arXiv 2106.15125).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from stviz.channel import AttentionLayer, SpatialTemporalJointAttention
from stviz.checks import check_in_range
from stviz.graph import SkeletonGraph
from stviz.models.base import SkeletonModel
from stviz.models.registry import register_model
from stviz.persons import fold_persons, unfold_persons
from stviz.spatial import EfficientGraphLayer
from stviz.temporal import TemporalBasicLayer, TemporalBottleneckLayer, TemporalSandglassLayer, TemporalSepLayer

__all__ = [
    "EFFICIENTGCN_BASE",
    "TEMPORAL_LAYERS",
    "efficientgcn_block_args",
    "EfficientGCNBlock",
    "efficientgcn_stream",
    "EfficientGCN",
]

# [channels, stride, depth] of the four blocks before scaling, and the largest level built by name (B8).
EFFICIENTGCN_BASE = ((48, 1, 0.5), (24, 1, 0.5), (64, 2, 1), (128, 2, 1))
MAX_LEVEL = 8
TEMPORAL_LAYERS = {
    "Basic": TemporalBasicLayer,
    "Sep": TemporalSepLayer,
    "Bottleneck": TemporalBottleneckLayer,
    "SG": TemporalSandglassLayer,
}


def efficientgcn_block_args(
    level: int, base: Sequence[Sequence[float]] = EFFICIENTGCN_BASE, scale: tuple[float, float] = (1.2, 1.35)
) -> list[tuple[int, int, int]]:
    """EfficientGCN-B<level>'s ``[channels, stride, depth]`` per block: compound scaling with Python's round().

    ``channels = max(round(c * 1.2**x / 16) * 16, 16)``, ``depth = round(d * 1.35**x)``; round() is half-to-even,
    so B0's depth 0.5 becomes 0 and its 24 channels become 32.
    """
    if isinstance(level, bool) or not isinstance(level, int) or level < 0:
        raise ValueError(f"efficientgcn_block_args: level must be an integer >= 0, got {level!r}")
    width, depth = scale[0] ** level, scale[1] ** level
    return [(max(int(round(c * width / 16)) * 16, 16), int(s), int(round(d * depth))) for c, s, d in base]


def temporal_layer(
    layer_type: str, channels: int, kernel_size: int, stride: int, expand_ratio: int, reduct_ratio: int, bias: bool,
    activation: str | None, residual: bool = True,
) -> nn.Module:  # fmt: skip
    """One EfficientGCN temporal layer by type name (``Basic``, ``Sep``, ``Bottleneck``, ``SG``)."""
    if layer_type not in TEMPORAL_LAYERS:
        raise ValueError(f"layer_type must be one of {sorted(TEMPORAL_LAYERS)}, got {layer_type!r}")
    common = dict(stride=stride, residual=residual, bias=bias, activation=activation)
    if layer_type == "Basic":
        return TemporalBasicLayer(channels, kernel_size, **common)
    if layer_type == "Sep":
        return TemporalSepLayer(channels, kernel_size, expand_ratio, **common)
    return TEMPORAL_LAYERS[layer_type](channels, kernel_size, reduct_ratio, **common)


class EfficientGCNBlock(nn.Sequential):
    """EfficientGCN block: ``scn`` (spatial graph layer), ``tcn0 ... tcn{depth-1}`` (the first strided), ``att``.

    EfficientGCN: one ``block-i`` of ``EfficientGCN_Blocks``. The attention is ST-Joint attention inside an
    :class:`~stviz.channel.AttentionLayer`. x: (N, C_in, T, V) -> (N, C_out, T', V).
    """

    def __init__(
        self, in_channels: int, out_channels: int, A: torch.Tensor, stride: int = 1, depth: int = 1,
        temporal_kernel: int = 5, max_graph_distance: int = 2, layer_type: str = "Sep", expand_ratio: int = 2,
        reduct_ratio: int = 4, activation: str | None = "swish", bias: bool = True, edge_importance: bool = True,
    ):  # fmt: skip
        super().__init__()
        self.add_module(
            "scn",
            EfficientGraphLayer(
                in_channels, out_channels, A, max_graph_distance, edge_importance, bias, activation=activation
            ),
        )
        for j in range(depth):
            s = stride if j == 0 else 1
            layer = temporal_layer(
                layer_type, out_channels, temporal_kernel, s, expand_ratio, reduct_ratio, bias, activation
            )
            self.add_module(f"tcn{j}", layer)
        attention = SpatialTemporalJointAttention(out_channels, reduct_ratio, bias)
        self.add_module("att", AttentionLayer(out_channels, attention, activation))


def efficientgcn_stream(
    in_channels: int, block_args: Sequence[Sequence[int]], stem_channels: int | None = None, *, A: torch.Tensor,
    temporal_kernel: int = 5, max_graph_distance: int = 2, layer_type: str = "Sep", expand_ratio: int = 2,
    reduct_ratio: int = 4, activation: str | None = "swish", bias: bool = True, edge_importance: bool = True,
) -> nn.Sequential:  # fmt: skip
    """A stream of :class:`EfficientGCNBlock` (``block0``, ``block1``, ...) over ``block_args`` rows
    ``(channels, stride, depth)``; with ``stem_channels``, first an input BN (``init_bn``) and a stem: spatial graph
    layer (``stem_scn``) and basic temporal layer (``stem_tcn``). EfficientGCN: ``EfficientGCN_Blocks``.
    x: (N, C_in, T, V) -> (N, block_args[-1][0], T', V)."""
    seq, last = nn.Sequential(), in_channels
    if stem_channels is not None:
        seq.add_module("init_bn", nn.BatchNorm2d(in_channels))
        seq.add_module(
            "stem_scn",
            EfficientGraphLayer(
                in_channels, stem_channels, A, max_graph_distance, edge_importance, bias, activation=activation
            ),
        )
        seq.add_module("stem_tcn", TemporalBasicLayer(stem_channels, temporal_kernel, bias=bias, activation=activation))
        last = stem_channels
    options = dict(
        A=A, temporal_kernel=temporal_kernel, max_graph_distance=max_graph_distance, layer_type=layer_type,
        expand_ratio=expand_ratio, reduct_ratio=reduct_ratio, activation=activation, bias=bias,
        edge_importance=edge_importance,
    )  # fmt: skip
    for i, (width, stride, depth) in enumerate(block_args):
        seq.add_module(f"block{i}", EfficientGCNBlock(last, width, stride=stride, depth=depth, **options))
        last = width
    return seq


@register_model("efficientgcn-b0", level=0)
@register_model("efficientgcn-b1", level=1)
@register_model("efficientgcn-b2", level=2)
@register_model("efficientgcn-b3", level=3)
@register_model("efficientgcn-b4", level=4)
@register_model("efficientgcn-b5", level=5)
@register_model("efficientgcn-b6", level=6)
@register_model("efficientgcn-b7", level=7)
@register_model("efficientgcn-b8", level=8)
class EfficientGCN(SkeletonModel):
    """EfficientGCN-B<level>.

    I input branches (J, V, B features), each: BN, stem (spatial graph layer + temporal basic layer), then
    ``block_args[:fusion_stage]`` as :class:`EfficientGCNBlock`; the branch outputs are concatenated on channels
    and run through ``block_args[fusion_stage:]``. Head: GAP over (T, V, M), dropout, 1x1x1 conv.
    x: (N, I, C, T, V, M) -> (N, num_classes); :meth:`features` gives the last feature map.
    """

    def __init__(
        self, level: int = 0, num_classes: int = 60, input_branches: int = 3, in_channels: int = 6,
        block_args: Sequence[Sequence[int]] | None = None, fusion_stage: int = 2, stem_channels: int = 64,
        A: torch.Tensor | None = None, temporal_kernel: int = 5, max_graph_distance: int = 2, layer_type: str = "Sep",
        expand_ratio: int = 2, reduct_ratio: int = 4, activation: str | None = "swish", bias: bool = True,
        edge_importance: bool = True, dropout: float = 0.25,
    ):  # fmt: skip
        named_level = isinstance(level, int) and not isinstance(level, bool) and 0 <= level <= MAX_LEVEL
        if block_args is None and not named_level:
            raise ValueError(  # B100's widths would ask for terabytes
                f"EfficientGCN: level must be an integer in 0..{MAX_LEVEL} (EfficientGCN-B0 to B{MAX_LEVEL}), got "
                f"{level!r}; the number of classes is the keyword num_classes"
            )
        A = SkeletonGraph("ntu-rgb+d").hop_partition(max_hop=10) if A is None else A
        super().__init__(in_channels, A.shape[-1])
        if layer_type not in TEMPORAL_LAYERS:
            raise ValueError(f"EfficientGCN: layer_type must be one of {sorted(TEMPORAL_LAYERS)}, got {layer_type!r}")
        self.input_branches = input_branches
        self.block_args = [tuple(b) for b in (efficientgcn_block_args(level) if block_args is None else block_args)]
        check_in_range(fusion_stage, 0, len(self.block_args), "fusion_stage", "EfficientGCN")
        options = dict(
            A=A, temporal_kernel=temporal_kernel, max_graph_distance=max_graph_distance, layer_type=layer_type,
            expand_ratio=expand_ratio, reduct_ratio=reduct_ratio, activation=activation, bias=bias,
            edge_importance=edge_importance,
        )  # fmt: skip
        self.branches = nn.ModuleList(
            efficientgcn_stream(in_channels, self.block_args[:fusion_stage], stem_channels, **options)
            for _ in range(input_branches)
        )
        fused = stem_channels if fusion_stage == 0 else self.block_args[fusion_stage - 1][0]
        self.main_stream = efficientgcn_stream(input_branches * fused, self.block_args[fusion_stage:], **options)
        last = self.block_args[-1][0] * (input_branches if fusion_stage == len(self.block_args) else 1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Conv3d(last, num_classes, 1)
        nn.init.normal_(self.fc.weight, std=0.001)  # every block initialises itself (stviz.init.efficientgcn_init)
        nn.init.zeros_(self.fc.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map: (N, I, C, T, V, M) -> (N, C', T', V, M)."""
        self.check_input(x)
        n = x.shape[0]
        x = torch.cat([branch(fold_persons(x[:, i])) for i, branch in enumerate(self.branches)], 1)  # (N*M, I*C1, T, V)
        return unfold_persons(self.main_stream(x), n)  # (N, C', T', V, M)

    def logits(self, feature: torch.Tensor) -> torch.Tensor:
        """The head on :meth:`features`' output: (N, C', T', V, M) -> GAP, dropout, 1x1x1 conv -> (N, num_classes)."""
        pooled = feature.mean((2, 3, 4), keepdim=True)  # (N, C', 1, 1, 1)
        return self.fc(self.dropout(pooled)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.features(x))
