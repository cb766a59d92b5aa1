"""Channel modelling: EfficientGCN's attention modules and the arithmetic of channel-wise layers.

Every attention module maps ``x`` (N, C, T, V) to a gate that broadcasts against ``x``;
:class:`AttentionLayer` applies it as ``act(bn(x * gate) + x)``. The cost functions give the
closed-form parameter and multiply-accumulate (MAC) counts of dense, grouped and depthwise
temporal convolutions, of EfficientGCN's temporal layers and of CTR-GCN's channel-wise
topology refinement; ``tests/test_channel.py`` checks them against :func:`stviz.cost.count`.

Papers: Song et al., "Constructing Stronger and Faster Baselines for Skeleton-based Action
Recognition" (EfficientGCN, TPAMI 2022); Chen et al., "Channel-wise Topology Refinement Graph
Convolution" (CTR-GCN, ICCV 2021).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from stviz.checks import check_nctv, reduced_channels
from stviz.init import efficientgcn_init
from stviz.layers import conv_bn_forward, conv_forward, make_activation
from stviz.spatial.topology import default_rel_channels

__all__ = [
    "NTU_PARTS",
    "NTU_PART_NAMES",
    "SpatialTemporalJointAttention",
    "PartAttention",
    "ChannelAttention",
    "FrameAttention",
    "JointAttention",
    "AttentionLayer",
    "temporal_conv_cost",
    "efficient_temporal_cost",
    "channel_topology_cost",
    "topology_distances",
    "most_different_channels",
]

# EfficientGCN's five NTU body parts (0-based joint indices).
NTU_PARTS = ((4, 5, 6, 7, 21, 22), (8, 9, 10, 11, 23, 24), (12, 13, 14, 15), (16, 17, 18, 19), (0, 1, 2, 3, 20))
NTU_PART_NAMES = ("left arm", "right arm", "left leg", "right leg", "torso")


# ----------------------------------------------------------------------------
# Attention modules: x (N, C, T, V) -> gate broadcastable to (N, C, T, V).
# ----------------------------------------------------------------------------


def _pooled_mlp(
    channels: int, hidden: int, out: int, bias: bool = True, last: nn.Module | None = None
) -> nn.Sequential:
    """Global average pool, 1x1 conv to ``hidden``, BN, ReLU, 1x1 conv to ``out`` (then ``last``): (N, C, T, V) ->
    (N, out, 1, 1). The shared shape of EfficientGCN's part, channel and joint attentions (keys ``1.*``, ``2.*``,
    ``4.*``)."""
    layers = [nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1, bias=bias), nn.BatchNorm2d(hidden), nn.ReLU()]
    return nn.Sequential(*layers, nn.Conv2d(hidden, out, 1, bias=bias), *([last] if last is not None else []))


class SpatialTemporalJointAttention(nn.Module):
    """EfficientGCN: `ST_Joint_Att`. A frame gate times a joint gate, per channel.

    Pools over joints (one vector per frame) and over frames (one per joint), squeezes both
    through one shared 1x1 conv + BN + Hardswish to ``channels // reduction``, then expands
    each back to C with its own 1x1 conv and a sigmoid.
    Input (N, C, T, V); output (N, C, T, V) = frame gate (N, C, T, 1) * joint gate (N, C, 1, V).
    """

    def __init__(self, channels: int, reduction: int = 4, bias: bool = True):
        super().__init__()
        inner = reduced_channels(channels, reduction, "reduction", type(self).__name__)
        self.channels = channels
        # the bottleneck always uses Hardswish, and both gates always have a bias
        self.squeeze = nn.Sequential(nn.Conv2d(channels, inner, 1, bias=bias), nn.BatchNorm2d(inner), nn.Hardswish())
        self.frame_gate = nn.Conv2d(inner, channels, 1)
        self.joint_gate = nn.Conv2d(inner, channels, 1)

    def factors(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two gates: over frames (N, C, T, 1) and over joints (N, C, 1, V), each in (0, 1)."""
        check_nctv(x, channels=self.channels, block=type(self).__name__, weight=self)
        n, c, t, v = x.shape
        pooled = torch.cat([x.mean(3, keepdim=True), x.mean(2, keepdim=True).transpose(2, 3)], dim=2)  # (N, C, T+V, 1)
        conv, bn, act = self.squeeze
        h_t, h_v = act(conv_bn_forward(pooled, conv, bn)).split([t, v], dim=2)  # (N, R, T, 1), (N, R, V, 1)
        gate_t = conv_forward(h_t, self.frame_gate).sigmoid()  # (N, C, T, 1)
        return gate_t, conv_forward(h_v.transpose(2, 3), self.joint_gate).sigmoid()  # (N, C, 1, V)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate_t, gate_v = self.factors(x)
        return gate_t * gate_v  # (N, C, T, V)


class PartAttention(nn.Module):
    """EfficientGCN: `Part_Att`. Per channel, a softmax over body parts shared by each part's joints.

    Input (N, C, T, V); output (N, C, T, V) (constant over T, equal within a part).
    """

    def __init__(self, channels: int, parts=NTU_PARTS, reduction: int = 4, bias: bool = True):
        super().__init__()
        inner = reduced_channels(channels, reduction, "reduction", type(self).__name__)
        if not parts:
            raise ValueError(f"{type(self).__name__}: parts must list at least one body part, got {parts!r}")
        self.channels, self.num_parts = channels, len(parts)
        joint_part = {j: p for p, joints in enumerate(parts) for j in joints}
        if sum(len(joints) for joints in parts) != len(joint_part) or sorted(joint_part) != list(
            range(len(joint_part))
        ):
            raise ValueError(f"parts must cover joints 0..V-1 exactly once, got {parts}")
        self.register_buffer("joint_part", torch.tensor([joint_part[j] for j in range(len(joint_part))]), False)
        self.fcn = _pooled_mlp(channels, inner, channels * self.num_parts, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.channels, num_joints=len(self.joint_part), block=type(self).__name__, weight=self)
        n, c, t, v = x.shape
        weights = self.fcn(x).view(n, c, 1, self.num_parts).softmax(dim=3)  # (N, C, 1, P), channel-major
        return weights.index_select(3, self.joint_part).expand(n, c, t, v)  # (N, C, T, V)


class ChannelAttention(nn.Module):
    """EfficientGCN: `Channel_Att` (squeeze-and-excitation, fixed ratio 4). Input (N, C, T, V); output (N, C, 1, 1)."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        if channels // 4 < 1:
            raise ValueError(f"ChannelAttention: channels // 4 must be >= 1, got {channels} // 4")
        self.fcn = _pooled_mlp(channels, channels // 4, channels, last=nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.channels, block=type(self).__name__, weight=self)
        return self.fcn(x)


class FrameAttention(nn.Module):
    """EfficientGCN: `Frame_Att`. A (9, 1) conv over the per-frame mean and max; linear, no sigmoid.

    Input (N, C, T, V); output (N, 1, T, 1).
    """

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size=(9, 1), padding=(4, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, block=type(self).__name__, weight=self)
        stats = torch.stack([x.mean(dim=(1, 3)), x.amax(dim=(1, 3))], dim=1)  # (N, 2, T)
        return self.conv(stats.unsqueeze(-1))  # (N, 1, T, 1)


class JointAttention(nn.Module):
    """EfficientGCN: `Joint_Att`. A softmax over joints from the per-joint means.

    Input (N, C, T, V); output (N, 1, 1, V).
    """

    def __init__(self, num_joints: int = 25):
        super().__init__()
        self.num_joints = num_joints
        if num_joints // 2 < 1:
            raise ValueError(f"JointAttention: num_joints // 2 must be >= 1, got {num_joints} // 2")
        self.fcn = _pooled_mlp(num_joints, num_joints // 2, num_joints, last=nn.Softmax(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, num_joints=self.num_joints, block=type(self).__name__, weight=self)
        return self.fcn(x.transpose(1, 3)).transpose(1, 3)  # (N, V, 1, 1) -> (N, 1, 1, V)


class AttentionLayer(nn.Module):
    """EfficientGCN: `Attention_Layer`. ``activation(bn(x * attention(x)) + x)``. Input and output (N, C, T, V).

    Initialised with :func:`stviz.init.efficientgcn_init`, as EfficientGCN initialises the whole network.
    """

    def __init__(self, channels: int, attention: nn.Module, activation: str | None = "swish"):
        super().__init__()
        if not isinstance(attention, nn.Module):
            raise TypeError(
                f"AttentionLayer: attention must be an nn.Module such as SpatialTemporalJointAttention({channels}), "
                f"got {type(attention).__name__} {attention!r}"
            )
        self.channels = channels
        self.attention = attention
        self.bn = nn.BatchNorm2d(channels)
        self.act = make_activation(activation)
        self.apply(efficientgcn_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_nctv(x, channels=self.channels, block=type(self).__name__, weight=self)
        return self.act(self.bn(x * self.attention(x)) + x)


# ----------------------------------------------------------------------------
# Closed-form costs. Params count conv weights and biases and BatchNorm's weight and bias;
# MACs count convolutions (and, for CTR-GCN, the einsum) for one sample, as FlopCounterMode does.
# ----------------------------------------------------------------------------


def temporal_conv_cost(
    in_channels: int, out_channels: int, kernel_size: int, groups: int = 1, frames: int = 64, joints: int = 25,
    stride: int = 1, bias: bool = True,
) -> dict[str, int]:  # fmt: skip
    """Params and MACs of a ``(k, 1)`` temporal conv with ``groups`` (groups = C is depthwise)."""
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
    weights = out_channels * (in_channels // groups) * kernel_size
    frames_out = (frames - 1) // stride + 1
    return {"params": weights + (out_channels if bias else 0), "macs": weights * frames_out * joints}


def _conv_bn_cost(c_in: int, c_out: int, k: int, groups: int, frames: int, joints: int, stride: int, bias: bool):
    cost = temporal_conv_cost(c_in, c_out, k, groups, frames, joints, stride, bias)
    return {"params": cost["params"] + 2 * c_out, "macs": cost["macs"]}


def efficient_temporal_cost(
    kind: Literal["Basic", "Sep", "Bottleneck", "SG"], channels: int, kernel_size: int = 5, ratio: int = 2,
    frames: int = 64, joints: int = 25, stride: int = 1, bias: bool = True,
) -> dict[str, int]:  # fmt: skip
    """Params and MACs of an EfficientGCN temporal layer, with its residual, for one sample.

    ``ratio`` is the expand ratio for ``Sep`` (0 skips the expand conv) and the reduction
    ratio for ``Bottleneck`` and ``SG``; ``Basic`` ignores it.
    """
    c, k, t, v, s = channels, kernel_size, frames, joints, stride
    t_out = (t - 1) // s + 1
    if kind == "Basic":
        parts = [_conv_bn_cost(c, c, k, 1, t, v, s, bias)]
    elif kind == "Sep":
        inner = c * ratio if ratio > 0 else c
        expand = [_conv_bn_cost(c, inner, 1, 1, t, v, 1, bias)] if ratio > 0 else []
        parts = expand + [
            _conv_bn_cost(inner, inner, k, inner, t, v, s, bias),
            _conv_bn_cost(inner, c, 1, 1, t_out, v, 1, bias),
        ]
    elif kind == "Bottleneck":
        inner = c // ratio
        parts = [
            _conv_bn_cost(c, inner, 1, 1, t, v, 1, bias),
            _conv_bn_cost(inner, inner, k, 1, t, v, s, bias),
            _conv_bn_cost(inner, c, 1, 1, t_out, v, 1, bias),
        ]
    elif kind == "SG":
        inner = c // ratio
        parts = [
            _conv_bn_cost(c, c, k, c, t, v, 1, bias),
            _conv_bn_cost(c, inner, 1, 1, t, v, 1, bias),
            _conv_bn_cost(inner, c, 1, 1, t, v, 1, bias),
            _conv_bn_cost(c, c, k, c, t, v, s, bias),
        ]
    else:
        raise ValueError(f"kind must be one of 'Basic', 'Sep', 'Bottleneck', 'SG', got {kind!r}")
    if s != 1:  # strided residual: Conv1x1(stride) + BN
        parts.append(_conv_bn_cost(c, c, 1, 1, t, v, s, bias))
    return {"params": sum(p["params"] for p in parts), "macs": sum(p["macs"] for p in parts)}


def channel_topology_cost(
    in_channels: int,
    out_channels: int,
    frames: int = 64,
    joints: int = 25,
    rel_channels: int | None = None,
    embed_pooled: bool = False,
) -> dict[str, int]:
    """Params and MACs of one CTR-GCN `CTRGC`, split into the shared part and the refinement.

    ``shared``: the value conv (C_in -> C_out) and the aggregation with one V x V matrix,
    ``out[c, t, u] = sum_v A[u, v] x[c, t, v]`` (the MACs are the same for C matrices).
    ``refinement``: the two relation convs (C_in -> R, ``rel_channels``, by default max(C_in // 8, 1) as in
    :class:`~stviz.spatial.ChannelTopologyConv`) and the conv R -> C_out that turns the (R, V, V) relations into
    C_out topologies. The original embeds every frame and then averages over T; with ``embed_pooled`` the
    embeddings run once on the time-averaged input, as stviz's forward does (the same values, 1/T of their MACs).
    """
    r = default_rel_channels(in_channels) if rel_channels is None else rel_channels
    t, v = frames, joints
    shared = {
        "params": in_channels * out_channels + out_channels,
        "macs": in_channels * out_channels * t * v + out_channels * t * v * v,
    }
    refinement = {
        "params": 2 * (in_channels * r + r) + r * out_channels + out_channels,
        "macs": 2 * in_channels * r * (1 if embed_pooled else t) * v + r * out_channels * v * v,
    }
    return {"shared": shared, "refinement": refinement}


# ----------------------------------------------------------------------------
# Comparing per-channel topologies.
# ----------------------------------------------------------------------------


def topology_distances(topologies: torch.Tensor) -> torch.Tensor:
    """Euclidean (Frobenius) distance between every pair of per-channel topologies: (C, V, V) -> (C, C)."""
    if topologies.dim() != 3 or topologies.shape[1] != topologies.shape[2]:
        raise ValueError(f"topologies must have shape (C, V, V), got {tuple(topologies.shape)}")
    flat = topologies.reshape(topologies.shape[0], -1).double()  # (C, V*V)
    return torch.cdist(flat, flat)


def most_different_channels(topologies: torch.Tensor, k: int) -> list[int]:
    """``k`` channels whose topologies are far apart (greedy farthest-point selection).

    Starts from the channel farthest on average from all others, then repeatedly adds the channel
    whose nearest already chosen channel is farthest. (C, V, V) -> list of k channel indices.
    """
    dist = topology_distances(topologies)
    if not 1 <= k <= dist.shape[0]:
        raise ValueError(f"k must be in 1..{dist.shape[0]}, got {k}")
    chosen = [int(dist.mean(1).argmax())]
    while len(chosen) < k:
        nearest = dist[:, chosen].min(1).values
        nearest[chosen] = -1.0  # never pick a channel twice, even among exact copies
        chosen.append(int(nearest.argmax()))
    return chosen
