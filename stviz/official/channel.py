"""EfficientGCN's `Attention_Layer` (every ``att_type``) as :class:`stviz.channel.AttentionLayer`, and the
attention modules on their own (`ST_Joint_Att`, `Part_Att`, `Channel_Att`, `Frame_Att`, `Joint_Att`).

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
from stviz.official.keys import KeyMap, prefixes
from stviz.official.spatial import activation_name

_STJA_KEYS = {"fcn.": "squeeze.", "conv_t.": "frame_gate.", "conv_v.": "joint_gate."}


def _parts(parts) -> tuple[tuple[int, ...], ...]:
    if parts is None:
        return NTU_PARTS
    return tuple(tuple(int(j) for j in torch.as_tensor(p).tolist()) for p in parts)


def _joints_check(parts, key: str):
    def check(value: torch.Tensor) -> None:
        want = PartAttention(4, _parts(parts), 1).joint_part
        if not torch.equal(value.long().flatten(), want):
            raise ValueError(f"{key}: the checkpoint's joint -> part table {value.tolist()} is not {want.tolist()}")

    return check


def attention_keys(att_type: str = "stja", parts=None, **_) -> KeyMap:
    """Attention_Layer keys: ``att.*`` -> ``attention.*`` (ST_Joint_Att renamed inside); Part_Att's ``joints``
    index table is recomputed from ``parts`` and dropped."""
    table = {f"att.{old}": f"attention.{new}" for old, new in _STJA_KEYS.items()} if att_type == "stja" else {}
    table["att."] = "attention."
    dropped = {"att.joints": _joints_check(parts, "att.joints")} if att_type == "pa" else None
    return prefixes(table, dropped=dropped)


@register("effgcn", "Attention_Layer", keys=attention_keys)
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
    return AttentionLayer(out_channel, attention, activation_name(act))  # the original passes a module instance


# ---------------------------------------------------------------------------- the attention modules on their own


@register("effgcn", "ST_Joint_Att", keys=prefixes(_STJA_KEYS))
def _st_joint_att(channel: int, reduct_ratio: int, bias: bool, **_) -> SpatialTemporalJointAttention:
    return SpatialTemporalJointAttention(channel, reduct_ratio, bias)


@register(
    "effgcn", "Part_Att", keys=lambda parts=None, **_: prefixes({}, dropped={"joints": _joints_check(parts, "joints")})
)
def _part_att(channel: int, parts, reduct_ratio: int, bias: bool, **_) -> PartAttention:
    return PartAttention(channel, _parts(parts), reduct_ratio, bias)


@register("effgcn", "Channel_Att")
def _channel_att(channel: int, **_) -> ChannelAttention:
    return ChannelAttention(channel)


@register("effgcn", "Frame_Att")
def _frame_att(**_) -> FrameAttention:
    return FrameAttention()


@register("effgcn", "Joint_Att")
def _joint_att(parts, **_) -> JointAttention:
    return JointAttention(sum(len(p) for p in _parts(parts)))
