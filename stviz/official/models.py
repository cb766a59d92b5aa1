"""Adapters for the full models: stgcn / ctrgcn / shiftgcn / msg3d ``Model`` and effgcn ``EfficientGCN``.

Each model's :class:`~stviz.official.keys.KeyMap` nests its blocks' own maps by index, so the key tables live
in one place per block; keys that only the model holds (``data_bn``, the head, ST-GCN's ``edge_importance`` and
``A``) are mapped here. The originals' quirks set here: Shift-GCN ignores ``in_channels``, CTR-GCN's first layer
has 8 relation channels, MS-G3D's first G3D path widens in its graph convolution only on 3 input channels.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from stviz.models import CTRGCN, MSG3D, STGCN, EfficientGCN, ShiftGCN, efficientgcn_block_args
from stviz.models.base import TEN_LAYERS
from stviz.models.efficientgcn import EFFICIENTGCN_BASE, efficientgcn_stream
from stviz.official import adjacency, register
from stviz.official.channel import attention_keys
from stviz.official.keys import IDENTITY, KeyMap, nested, prefixes
from stviz.official.multiscale import graph_conv_keys, multi_window_keys
from stviz.official.shift import with_inert_xpos
from stviz.official.spatial import (
    RESIDUAL_UNIT,
    TCN_GCN_UNIT_KEYS,
    _effgcn_graph_keys,
    activation_name,
    ctrgcn_rel_channels,
    shift_unit_keys,
)

_WIDTHS = tuple(width for width, _ in TEN_LAYERS)


def _graph_check(repo: str, key: str):
    def check(value: torch.Tensor) -> None:
        want = adjacency(repo)
        if value.shape != want.shape or not torch.allclose(value.float(), want, atol=1e-6):
            raise ValueError(f"{repo} Model: {key} differs from the NTU graph stviz builds: another graph was used")

    return check


def _layers(inner: KeyMap | None = None, inner_by_index=None, rest: KeyMap = IDENTITY) -> KeyMap:
    """``l{i}.`` (1-based, CTR-GCN and Shift-GCN) <-> ``layers.{i-1}.``."""
    return nested(
        r"l(?P<i>\d+)\.",
        r"layers\.(?P<i>\d+)\.",
        (lambda g: inner) if inner is not None else (lambda g: inner_by_index(int(g["i"]))),
        lambda g: f"layers.{int(g['i']) - 1}.",
        lambda g: f"l{int(g['i']) + 1}.",
        rest,
    )


# ---------------------------------------------------------------------------- ST-GCN

STGCN_KEYS = nested(
    r"edge_importance\.(?P<i>\d+)$",
    r"layers\.(?P<i>\d+)\.gcn\.edge_importance$",
    lambda g: IDENTITY,
    lambda g: f"layers.{g['i']}.gcn.edge_importance",
    lambda g: f"edge_importance.{g['i']}",
    rest=nested(
        r"st_gcn_networks\.(?P<i>\d+)\.",
        r"layers\.(?P<i>\d+)\.",
        lambda g: IDENTITY,
        lambda g: f"layers.{g['i']}.",
        lambda g: f"st_gcn_networks.{g['i']}.",
        rest=prefixes({"fcn.": "classifier."}, dropped={"A": _graph_check("stgcn", "A")}),
    ),
)


@register("stgcn", "Model", keys=STGCN_KEYS)
def _stgcn(in_channels=3, num_class=60, graph_args=None, edge_importance_weighting=True, dropout=0.5):
    graph_args = graph_args or {"layout": "ntu-rgb+d", "strategy": "spatial"}
    if graph_args.get("layout") != "ntu-rgb+d" or graph_args.get("strategy") != "spatial":
        raise NotImplementedError(f"stviz builds ST-GCN's NTU 'spatial' graph only, got graph_args={graph_args}")
    return STGCN(num_class, in_channels, adjacency("stgcn"), edge_importance_weighting, dropout)


# ---------------------------------------------------------------------------- CTR-GCN and Shift-GCN


def _check_ntu(graph, num_point, model: str, graph_class: str = "graph.ntu_rgb_d.Graph") -> None:
    if graph not in (None, graph_class) or num_point != 25:
        raise NotImplementedError(
            f"{model}: stviz builds the NTU graph (25 joints) only, got graph={graph!r}, num_point={num_point}"
        )


@register("ctrgcn", "Model", keys=_layers(TCN_GCN_UNIT_KEYS))
def _ctrgcn(num_class=60, num_point=25, num_person=2, graph=None, graph_args=None, in_channels=3, drop_out=0,
            adaptive=True):  # fmt: skip
    _check_ntu(graph, num_point, "ctrgcn Model")
    return CTRGCN(
        num_class, in_channels, num_person, adjacency("ctrgcn"), drop_out, adaptive, ctrgcn_rel_channels(in_channels)
    )


def _shift_layer_keys(i: int) -> KeyMap:
    c_in, c_out = (3, _WIDTHS[0]) if i == 1 else (_WIDTHS[i - 2], _WIDTHS[i - 1])
    return shift_unit_keys(c_in, c_out)


@register("shiftgcn", "Model", keys=_layers(inner_by_index=_shift_layer_keys))
def _shiftgcn(num_class=60, num_point=25, num_person=2, graph=None, graph_args=None, in_channels=3):
    _check_ntu(graph, num_point, "shiftgcn Model")
    # The original hard-codes l1 = TCN_GCN_unit(3, 64): in_channels is ignored.
    return with_inert_xpos(ShiftGCN(num_class, 3, num_person, num_point, grad_mode="official"))


# ---------------------------------------------------------------------------- MS-G3D


def _msg3d_keys(num_gcn_scales: int = 13, num_g3d_scales: int = 6, **_) -> KeyMap:
    residual = prefixes(RESIDUAL_UNIT)
    g3d, gcn = multi_window_keys(num_g3d_scales), graph_conv_keys(num_gcn_scales)
    stage = lambda s: int(s) - 1  # noqa: E731
    return nested(
        r"gcn3d(?P<s>\d)\.", r"stages\.(?P<s>\d)\.gcn3d\.", lambda g: g3d,
        lambda g: f"stages.{stage(g['s'])}.gcn3d.", lambda g: f"gcn3d{int(g['s']) + 1}.",
        rest=nested(
            r"sgcn(?P<s>\d)\.(?P<j>\d)\.", r"stages\.(?P<s>\d)\.sgcn\.(?P<j>\d)\.",
            lambda g: gcn if g["j"] == "0" else residual,
            lambda g: f"stages.{stage(g['s'])}.sgcn.{g['j']}.", lambda g: f"sgcn{int(g['s']) + 1}.{g['j']}.",
            rest=nested(
                r"tcn(?P<s>\d)\.", r"stages\.(?P<s>\d)\.tcn\.", lambda g: residual,
                lambda g: f"stages.{stage(g['s'])}.tcn.", lambda g: f"tcn{int(g['s']) + 1}.",
            ),
        ),
    )  # fmt: skip


@register("msg3d", "Model", keys=_msg3d_keys)
def _msg3d(num_class=60, num_point=25, num_person=2, num_gcn_scales=13, num_g3d_scales=6, graph=None, in_channels=3):
    _check_ntu(graph, num_point, "msg3d Model", graph_class="graph.ntu_rgb_d.AdjMatrixGraph")
    return MSG3D(
        num_class, in_channels, num_person, num_gcn_scales, num_g3d_scales, adjacency("msg3d"),
        widen_first_g3d=in_channels == 3,
    )  # fmt: skip


# ---------------------------------------------------------------------------- EfficientGCN


class _EfficientGCNOriginalOutput(EfficientGCN):
    """Returns ``(logits, feature)`` as the original does; feature is (N, C', T', V, M)."""

    def forward(self, x: torch.Tensor):
        feature = self.features(x)
        return self.logits(feature), feature


def _effgcn_options(model_type="EfficientGCN-B0", block_args=None, scale_args=(1.2, 1.35), fusion_stage=2, **_):
    match = re.fullmatch(r".*?(?<!\d)(\d)", str(model_type))
    if match is None:  # the original reads the level from the last character alone: "EfficientGCN-B12" builds B2
        raise ValueError(
            f"effgcn: model_type must end in one digit, the level (EfficientGCN-B<level>), got {model_type!r}"
        )
    level = int(match.group(1))
    return efficientgcn_block_args(level, block_args or EFFICIENTGCN_BASE, tuple(scale_args)), fusion_stage


def _effgcn_stream_keys(max_graph_distance: int = 2, att_type: str = "stja") -> KeyMap:
    """EfficientGCN_Blocks keys: ``init_bn``, ``stem_scn``, ``stem_tcn``, ``block-{i}_scn``, ``block-{i}_tcn-{j}``,
    ``block-{i}_att`` -> ``init_bn``, ``stem_scn``, ``stem_tcn``, ``block{i}.scn``, ``block{i}.tcn{j}``,
    ``block{i}.att``."""
    graph = _effgcn_graph_keys(A=adjacency("effgcn"), max_graph_distance=max_graph_distance, prefix="conv.")
    parts = {"scn": graph, "att": attention_keys(att_type), "stem_scn": graph}
    return nested(
        r"(?P<part>init_bn|stem_scn|stem_tcn)\.|block-(?P<i>\d+)_(?P<block_part>scn|att|tcn-(?P<j>\d+))\.",
        r"(?P<part>init_bn|stem_scn|stem_tcn)\.|block(?P<i>\d+)\.(?P<block_part>scn|att|tcn(?P<j>\d+))\.",
        lambda g: parts.get(g["part"] or g["block_part"], IDENTITY),
        lambda g: f"{g['part']}." if g["part"] else f"block{g['i']}.{g['block_part'].replace('-', '')}.",
        lambda g: f"{g['part']}." if g["part"] else f"block-{g['i']}_{g['block_part'].replace('tcn', 'tcn-')}.",
    )


def _effgcn_keys(kernel_size=(5, 2), att_type="stja", **_) -> KeyMap:
    stream = _effgcn_stream_keys(kernel_size[1], att_type)
    return nested(
        r"input_branches\.(?P<b>\d+)\.|main_stream\.",
        r"branches\.(?P<b>\d+)\.|main_stream\.",
        lambda g: stream,
        lambda g: "main_stream." if g["b"] is None else f"branches.{g['b']}.",
        lambda g: "main_stream." if g["b"] is None else f"input_branches.{g['b']}.",
        rest=prefixes({"classifier.fc.": "fc."}),
    )


@register("effgcn", "EfficientGCN", keys=_effgcn_keys)
def _efficientgcn(
    model_type="EfficientGCN-B0", data_shape=(3, 6, 288, 25, 2), num_class=60, act_type="swish", block_args=None,
    scale_args=(1.2, 1.35), fusion_stage=2, stem_channel=64, kernel_size=(5, 2), layer_type="Sep", att_type="stja",
    expand_ratio=2, reduct_ratio=4, bias=True, edge=True, drop_prob=0.25, **_,
) -> nn.Module:  # fmt: skip
    if att_type != "stja":
        raise NotImplementedError(f"stviz's EfficientGCN builds att_type='stja' (the default), got {att_type!r}")
    args, _ = _effgcn_options(model_type, block_args, scale_args, fusion_stage)
    num_input, num_channel, _, num_point, _ = data_shape
    _check_ntu(None, num_point, "effgcn EfficientGCN")
    temporal_kernel, max_graph_distance = kernel_size
    return _EfficientGCNOriginalOutput(
        num_classes=num_class, input_branches=num_input, in_channels=num_channel, block_args=args,
        fusion_stage=fusion_stage, stem_channels=stem_channel, A=adjacency("effgcn"), temporal_kernel=temporal_kernel,
        max_graph_distance=max_graph_distance, layer_type=layer_type, expand_ratio=expand_ratio,
        reduct_ratio=reduct_ratio, activation=activation_name(act_type), bias=bias, edge_importance=edge,
        dropout=drop_prob,
    )  # fmt: skip


def _effgcn_blocks_keys(kernel_size=(5, 2), att_type="stja", **_) -> KeyMap:
    return _effgcn_stream_keys(kernel_size[1], att_type)


@register("effgcn", "EfficientGCN_Blocks", keys=_effgcn_blocks_keys)
def _efficientgcn_blocks(
    init_channel, block_args, layer_type="Sep", kernel_size=(5, 2), input_channel=0, act="swish", A=None, bias=True,
    edge=True, expand_ratio=2, reduct_ratio=4, att_type="stja", **_,
) -> nn.Module:  # fmt: skip
    if att_type != "stja":
        raise NotImplementedError(f"stviz's EfficientGCN blocks use att_type='stja' (the default), got {att_type!r}")
    A = adjacency("effgcn") if A is None else torch.as_tensor(A)
    return efficientgcn_stream(
        input_channel if input_channel > 0 else init_channel, [tuple(b) for b in block_args],
        init_channel if input_channel > 0 else None, A=A, temporal_kernel=kernel_size[0],
        max_graph_distance=kernel_size[1], layer_type=layer_type, expand_ratio=expand_ratio,
        reduct_ratio=reduct_ratio, activation=activation_name(act), bias=bias, edge_importance=edge,
    )  # fmt: skip


class _EfficientGCNClassifier(nn.Module):
    """EfficientGCN: ``EfficientGCN_Classifier``. GAP over (T, V, M), dropout, 1x1x1 conv: (N, C, T, V, M) -> (N, K)."""

    def __init__(self, channels: int, num_classes: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Conv3d(channels, num_classes, 1)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        if feature.dim() != 5:
            raise ValueError(f"EfficientGCN_Classifier: x must have shape (N, C, T, V, M), got {tuple(feature.shape)}")
        return self.fc(self.dropout(feature.mean((2, 3, 4), keepdim=True))).flatten(1)


@register("effgcn", "EfficientGCN_Classifier", keys=IDENTITY)
def _efficientgcn_classifier(curr_channel: int, num_class: int, drop_prob: float = 0.25, **_) -> nn.Module:
    return _EfficientGCNClassifier(curr_channel, num_class, drop_prob)
