"""EfficientGCN's `Attention_Layer` (every ``att_type``) as :class:`stviz.channel.AttentionLayer`.

Original keys ``att.*`` live under ``attention.*``; inside `ST_Joint_Att`, ``fcn`` is our
``squeeze``, ``conv_t`` our ``frame_gate`` and ``conv_v`` our ``joint_gate``. `Part_Att`'s
``joints`` index table is recomputed from ``parts``, so it is dropped.
"""

from __future__ import annotations

import torch

from stviz.channel import (
    NTU_PARTS,
    AttentionLayer,
    ChannelAttention,
    FrameAttention,
    JointAttention,
    PartAttention,
    SpatialTemporalJointAttention,
)
from stviz.official import register
from stviz.temporal import make_activation

_STJA_KEYS = {
    "att.fcn.": "attention.squeeze.",
    "att.conv_t.": "attention.frame_gate.",
    "att.conv_v.": "attention.joint_gate.",
}
_DROPPED = {"pa": ("att.joints",)}


def _parts(parts) -> tuple[tuple[int, ...], ...]:
    if parts is None:
        return NTU_PARTS
    return tuple(tuple(int(j) for j in torch.as_tensor(p).tolist()) for p in parts)


def _convert(
    sd: dict, out_channel: int, att_type: str = "stja", act="swish", reduct_ratio: int = 4, bias: bool = True,
    parts=None,
) -> dict:  # fmt: skip
    known = _attention_layer(out_channel, att_type, act, reduct_ratio, bias, parts).state_dict()
    out = {}
    for key, value in sd.items():
        if key in _DROPPED.get(att_type, ()):
            continue
        new = key
        if att_type == "stja":
            for old, ours in _STJA_KEYS.items():
                if key.startswith(old):
                    new = ours + key[len(old) :]
        elif key.startswith("att."):
            new = "attention." + key[len("att.") :]
        if new not in known:
            raise KeyError(f"effgcn Attention_Layer({att_type!r}): no stviz key for original key {key!r}")
        out[new] = value
    return out


@register("effgcn", "Attention_Layer", convert=_convert)
def _attention_layer(
    out_channel: int, att_type: str = "stja", act="swish", reduct_ratio: int = 4, bias: bool = True, parts=None,
) -> AttentionLayer:  # fmt: skip
    if att_type == "stja":
        attention = SpatialTemporalJointAttention(out_channel, reduct_ratio, bias)
    elif att_type == "pa":
        attention = PartAttention(out_channel, _parts(parts), reduct_ratio, bias)
    elif att_type == "ca":
        attention = ChannelAttention(out_channel)
    elif att_type == "fa":
        attention = FrameAttention()
    elif att_type == "ja":
        attention = JointAttention(sum(len(p) for p in _parts(parts)))
    else:
        raise ValueError(f"att_type must be one of 'stja', 'pa', 'ca', 'fa', 'ja', got {att_type!r}")
    return AttentionLayer(out_channel, attention, make_activation(act))  # the original passes a module instance
