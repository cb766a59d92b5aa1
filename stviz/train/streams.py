"""The four input streams of multi-stream training, by name, formed from the joint stream batch by batch.

``joint`` is the input itself; ``bone`` the vectors from each joint's parent; ``joint-motion`` and
``bone-motion`` their frame differences (bone first, then motion, as CTR-GCN's data feeder does). All map
(N, C, T, V, M) to the same shape.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from stviz.data import bone_stream, motion_stream

__all__ = ["STREAMS", "stream_transform"]


def _joint(x: torch.Tensor) -> torch.Tensor:
    return x


def _bone_motion(x: torch.Tensor) -> torch.Tensor:
    return motion_stream(bone_stream(x))


STREAMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "joint": _joint,
    "bone": bone_stream,
    "joint-motion": motion_stream,
    "bone-motion": _bone_motion,
}


def stream_transform(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function forming stream ``name`` from joint positions (N, C, T, V, M)."""
    if name not in STREAMS:
        raise ValueError(f"stream must be one of {list(STREAMS)}, got {name!r}")
    return STREAMS[name]
