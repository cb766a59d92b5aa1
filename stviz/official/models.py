"""Adapters for the full models: stgcn / ctrgcn / shiftgcn / msg3d ``Model`` and effgcn ``EfficientGCN``.

Each converter splits an original checkpoint by sub-block prefix and hands every piece to that block's own
adapter (:func:`stviz.official.convert_state_dict`), so the key tables live in one place per block. Keys
that only the model holds (``data_bn``, the head, ST-GCN's ``edge_importance`` and ``A``) are mapped here.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from stviz.models import (
    _EFFICIENTGCN_BASE,
    _TEN_LAYERS,
    CTRGCN,
    MSG3D,
    STGCN,
    EfficientGCN,
    ShiftGCN,
    efficientgcn_block_args,
)
from stviz.official import adjacency, convert_state_dict, register

_WIDTHS = tuple(width for width, _ in _TEN_LAYERS)


def _unwrap(sd: dict) -> dict:
    """Drop the ``module.`` prefix that checkpoints saved from ``nn.DataParallel`` carry (CTR-GCN, MS-G3D, ...)."""
    return {k.removeprefix("module."): v for k, v in sd.items()}


def _split(sd: dict, pattern: str) -> tuple[dict[tuple, dict], dict]:
    """Group keys matching ``pattern`` (groups = sub-block id, last group = the rest of the key)."""
    groups: dict[tuple, dict] = {}
    rest = {}
    for key, value in sd.items():
        match = re.fullmatch(pattern, key)
        if match:
            *ident, tail = match.groups()
            groups.setdefault(tuple(ident), {})[tail] = value
        else:
            rest[key] = value
    return groups, rest


def _prefixed(prefix: str, sd: dict) -> dict:
    return {f"{prefix}{k}": v for k, v in sd.items()}


def _head(rest: dict, names: dict[str, str], model: str) -> dict:
    """Map the model-level keys left over (``data_bn.*``, the head) by prefix; anything else is an error."""
    out = {}
    for key, value in rest.items():
        prefix = next((p for p in names if key.startswith(p)), None)
        if prefix is None:
            raise KeyError(f"{model}: no stviz key for original key {key!r}")
        out[names[prefix] + key[len(prefix) :]] = value
    return out


def _check_graph(a: torch.Tensor, want: torch.Tensor, key: str) -> None:
    if a.shape != want.shape or not torch.allclose(a.float(), want.float(), atol=1e-6):
        raise ValueError(f"{key} differs from the NTU graph stviz builds: the checkpoint used another graph")


# ---------------------------------------------------------------------------- ST-GCN


def _convert_stgcn(sd: dict, **kwargs) -> dict:
    sd = _unwrap(sd)
    if "A" in sd:  # a registered buffer of the original Model; stviz recomputes it
        _check_graph(sd.pop("A"), adjacency("stgcn"), "A")
    out = {}
    layers, rest = _split(sd, r"st_gcn_networks\.(\d+)\.(.+)")
    for (i,), block in layers.items():
        out.update(_prefixed(f"layers.{i}.", convert_state_dict("stgcn", "st_gcn", block)))
    importance, rest = _split(rest, r"edge_importance\.(\d+)()")
    for (i,), value in importance.items():
        out[f"layers.{i}.gcn.edge_importance"] = value[""]
    out.update(_head(rest, {"data_bn.": "data_bn.", "fcn.": "classifier."}, "stgcn Model"))
    return out


@register("stgcn", "Model", convert=_convert_stgcn)
def _stgcn(in_channels=3, num_class=60, graph_args=None, edge_importance_weighting=True, dropout=0.5, **_):
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


def _convert_ctrgcn(sd: dict, **kwargs) -> dict:
    layers, rest = _split(_unwrap(sd), r"l(\d+)\.(.+)")
    out = {}
    for (i,), block in layers.items():
        out.update(_prefixed(f"layers.{int(i) - 1}.", convert_state_dict("ctrgcn", "TCN_GCN_unit", block)))
    out.update(_head(rest, {"data_bn.": "data_bn.", "fc.": "fc."}, "ctrgcn Model"))
    return out


@register("ctrgcn", "Model", convert=_convert_ctrgcn)
def _ctrgcn(num_class=60, num_point=25, num_person=2, graph=None, graph_args=None, in_channels=3, drop_out=0,
            adaptive=True):  # fmt: skip
    _check_ntu(graph, num_point, "ctrgcn Model")
    return CTRGCN(num_class, in_channels, num_person, adjacency("ctrgcn"), drop_out, adaptive)


def _convert_shiftgcn(sd: dict, **kwargs) -> dict:
    parts, rest = _split(_unwrap(sd), r"l(\d+)\.(gcn1|tcn1|residual)\.(.+)")
    out = {}
    for (i, part), block in parts.items():
        i = int(i) - 1
        c_in, c_out = (3, 64) if i == 0 else (_WIDTHS[i - 1], _WIDTHS[i])
        if part == "gcn1":
            block = convert_state_dict("shiftgcn", "Shift_gcn", block, in_channels=c_in, out_channels=c_out)
        elif part == "tcn1":
            block = convert_state_dict("shiftgcn", "Shift_tcn", block, in_channels=c_out, out_channels=c_out)
        out.update(_prefixed(f"layers.{i}.{part}.", block))
    out.update(_head(rest, {"data_bn.": "data_bn.", "fc.": "fc."}, "shiftgcn Model"))
    return out


@register("shiftgcn", "Model", convert=_convert_shiftgcn)
def _shiftgcn(num_class=60, num_point=25, num_person=2, graph=None, graph_args=None, in_channels=3):
    _check_ntu(graph, num_point, "shiftgcn Model")
    # The original hard-codes l1 = TCN_GCN_unit(3, 64): in_channels is ignored (SPEC.md pitfall 10).
    return ShiftGCN(num_class, 3, num_person, num_point, grad_mode="official")


# ---------------------------------------------------------------------------- MS-G3D


def _convert_msg3d(sd: dict, num_gcn_scales: int = 13, num_g3d_scales: int = 6, **kwargs) -> dict:
    out = {}
    g3d, rest = _split(_unwrap(sd), r"gcn3d(\d)\.(.+)")
    for (s,), block in g3d.items():
        block = convert_state_dict("msg3d", "MultiWindow_MS_G3D", block, num_scales=num_g3d_scales)
        out.update(_prefixed(f"stages.{int(s) - 1}.gcn3d.", block))
    sgcn, rest = _split(rest, r"sgcn(\d)\.(\d)\.(.+)")
    for (s, j), block in sgcn.items():
        if j == "0":
            block = convert_state_dict("msg3d", "MultiScale_GraphConv", block, num_scales=num_gcn_scales)
        else:
            block = convert_state_dict("msg3d", "MultiScale_TemporalConv", block)
        out.update(_prefixed(f"stages.{int(s) - 1}.sgcn.{j}.", block))
    tcn, rest = _split(rest, r"tcn(\d)\.(.+)")
    for (s,), block in tcn.items():
        out.update(
            _prefixed(f"stages.{int(s) - 1}.tcn.", convert_state_dict("msg3d", "MultiScale_TemporalConv", block))
        )
    out.update(_head(rest, {"data_bn.": "data_bn.", "fc.": "fc."}, "msg3d Model"))
    return out


@register("msg3d", "Model", convert=_convert_msg3d)
def _msg3d(num_class=60, num_point=25, num_person=2, num_gcn_scales=13, num_g3d_scales=6, graph=None, in_channels=3):
    _check_ntu(graph, num_point, "msg3d Model", graph_class="graph.ntu_rgb_d.AdjMatrixGraph")
    return MSG3D(num_class, in_channels, num_person, num_gcn_scales, num_g3d_scales, adjacency("msg3d"))


# ---------------------------------------------------------------------------- EfficientGCN


class _EfficientGCNOriginalOutput(EfficientGCN):
    """Returns ``(logits, feature)`` as the original does; feature is (N, C', T', V, M)."""

    def forward(self, x: torch.Tensor):
        feature = self.features(x)
        return self._logits(feature), feature


_EFFGCN_TEMPORAL = {"Basic": "Temporal_Basic_Layer", "Sep": "Temporal_Sep_Layer",
                    "Bottleneck": "Temporal_Bottleneck_Layer", "SG": "Temporal_SG_Layer"}  # fmt: skip


def _effgcn_options(model_type="EfficientGCN-B0", block_args=None, scale_args=(1.2, 1.35), fusion_stage=2, **_):
    level = int(model_type[-1])
    return efficientgcn_block_args(level, block_args or _EFFICIENTGCN_BASE, tuple(scale_args)), fusion_stage


def _convert_effgcn(sd: dict, **kwargs) -> dict:
    args, fusion_stage = _effgcn_options(**kwargs)
    act, reduct_ratio, bias = kwargs.get("act_type", "swish"), kwargs.get("reduct_ratio", 4), kwargs.get("bias", True)
    temporal = _EFFGCN_TEMPORAL[kwargs.get("layer_type", "Sep")]
    parts, rest = _split(_unwrap(sd), r"(input_branches\.\d+|main_stream)\.([a-z_]+|block-\d+_[a-z]+(?:-\d+)?)\.(.+)")
    out = {}
    for (stream, name), block in parts.items():
        stream = stream.replace("input_branches", "branches")
        if name.endswith("_scn"):
            block = convert_state_dict("effgcn", "Spatial_Graph_Layer", block)
        elif name == "stem_tcn":
            block = convert_state_dict("effgcn", "Temporal_Basic_Layer", block)
        elif name.endswith("_att"):
            i = int(name.split("-")[1].split("_")[0]) + (0 if stream.startswith("branches") else fusion_stage)
            block = convert_state_dict("effgcn", "Attention_Layer", block, out_channel=args[i][0], act=act,
                                       reduct_ratio=reduct_ratio, bias=bias)  # fmt: skip
        elif "_tcn-" in name:
            block = convert_state_dict("effgcn", temporal, block)
        out.update(_prefixed(f"{stream}.{name.replace('-', '')}.", block))
    out.update(_head(rest, {"classifier.fc.": "fc."}, "effgcn EfficientGCN"))
    return out


@register("effgcn", "EfficientGCN", convert=_convert_effgcn)
def _efficientgcn(
    model_type="EfficientGCN-B0", data_shape=(3, 6, 288, 25, 2), num_class=60, act_type="swish", block_args=None,
    scale_args=(1.2, 1.35), fusion_stage=2, stem_channel=64, kernel_size=(5, 2), layer_type="Sep", att_type="stja",
    expand_ratio=2, reduct_ratio=4, bias=True, edge=True, drop_prob=0.25, **_,
) -> nn.Module:  # fmt: skip
    if att_type != "stja":
        raise NotImplementedError(f"stviz's EfficientGCN builds att_type='stja' (the default), got {att_type!r}")
    args, _ = _effgcn_options(model_type, block_args, scale_args, fusion_stage)
    num_input, num_channel, _, num_point, _ = data_shape
    temporal_kernel, max_graph_distance = kernel_size
    return _EfficientGCNOriginalOutput(
        num_classes=num_class, input_branches=num_input, in_channels=num_channel, block_args=args,
        fusion_stage=fusion_stage, stem_channels=stem_channel, A=adjacency("effgcn"), temporal_kernel=temporal_kernel,
        max_graph_distance=max_graph_distance, layer_type=layer_type, expand_ratio=expand_ratio,
        reduct_ratio=reduct_ratio, act=act_type, bias=bias, edge_importance=edge, dropout=drop_prob,
    )  # fmt: skip
