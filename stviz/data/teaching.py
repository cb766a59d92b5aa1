"""stviz's own teaching pipeline: small, readable steps on ``(bodies, T, V, 3)`` arrays.

No released checkpoint was trained on this pipeline; for an official checkpoint use the original's pipeline
(:func:`stviz.data.preprocess_skeleton` with ``pipeline="stgcn"``, ``"2s-agcn"`` or ``"ctrgcn"``). This one exists to
show the ideas one at a time::

    xyz, ids = bodies_to_array(frames)        # (B, T, 25, 3), zeros where a body is absent
    x = select_bodies(xyz, 2)                 # the 2 bodies that move most
    x = centre_on_joint(x)                    # origin at the middle of the spine
    x = align_view(x)                         # hip->spine along +y, right->left shoulder along +x
    x = to_fixed_length(x, 64)                # repeat, zero-pad or resample the valid frames
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from stviz.data.skeleton_file import NUM_JOINTS, SkeletonBody, check_count

__all__ = ["bodies_to_array", "select_bodies", "centre_on_joint", "align_view", "to_fixed_length"]
__all__ += ["teaching_pipeline"]

# Joints (0-based) the preprocessing uses.
BASE_OF_SPINE, MIDDLE_OF_SPINE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 1, 4, 8

PadMode = Literal["repeat", "zeros", "resample"]


def bodies_to_array(frames: Sequence[Sequence[SkeletonBody]]) -> tuple[np.ndarray, list[int]]:
    """Stack bodies by id: positions (B, T, 25, 3) float64 with zeros where a body is absent, and the B ids."""
    ids = list(dict.fromkeys(body.body_id for bodies in frames for body in bodies))
    xyz = np.zeros((len(ids), len(frames), NUM_JOINTS, 3))
    slot = {body_id: i for i, body_id in enumerate(ids)}
    for t, bodies in enumerate(frames):
        for body in bodies:
            xyz[slot[body.body_id], t] = body.xyz
    return xyz, ids


def _present(x: np.ndarray) -> np.ndarray:
    """(B, T) mask of frames where a body has any non-zero joint."""
    return np.abs(x).sum((-1, -2)) > 0


def select_bodies(xyz: np.ndarray, max_bodies: int = 2) -> np.ndarray:
    """Keep the ``max_bodies`` bodies with the most motion, most first; pad with zero bodies. (max_bodies, T, V, 3).

    Motion energy is the variance over the frames where the body is present, summed over joints and
    coordinates: the actor moves, a misdetected object or a bystander barely does.
    """
    max_bodies = check_count(max_bodies, "max_bodies")
    if xyz.ndim != 4 or xyz.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"select_bodies expects (B, T, 25, 3), got {xyz.shape}")
    present = _present(xyz)
    energy = np.array([xyz[b, present[b]].var(0).sum() if present[b].sum() > 1 else 0.0 for b in range(len(xyz))])
    keep = np.argsort(-energy, kind="stable")[:max_bodies]
    out = np.zeros((max_bodies,) + xyz.shape[1:])
    out[: len(keep)] = xyz[keep]
    return out


def centre_on_joint(x: np.ndarray, joint: int = MIDDLE_OF_SPINE) -> np.ndarray:
    """Subtract the first body's ``joint`` in its first present frame from every present joint. (M, T, V, 3).

    The default is the middle of the spine (joint 2 in NTU's 1-based numbering): a torso joint that Kinect tracks
    reliably and close to the centre of mass. One origin for the whole clip keeps the body's own translation
    (walking, sitting down) in the data; absent bodies and frames stay zero.
    """
    present = _present(x)
    if not present[0].any():
        raise ValueError("centre_on_joint: the first body is absent in every frame")
    origin = x[0, np.argmax(present[0]), joint]
    return np.where(present[..., None, None], x - origin, 0.0)


def align_view(
    x: np.ndarray,
    hip: int = BASE_OF_SPINE,
    spine: int = MIDDLE_OF_SPINE,
    left_shoulder: int = LEFT_SHOULDER,
    right_shoulder: int = RIGHT_SHOULDER,
) -> np.ndarray:
    """Rotate about the origin so that, in the first body's first present frame, hip->spine points along +y and
    right->left shoulder along +x. (M, T, V, 3).

    Afterwards z = x cross y points out of the subject's chest: the rest-pose convention of :mod:`stviz.graph`
    (x to the subject's left, y up, z towards a camera the subject faces).
    """
    present = _present(x)
    if not present[0].any():
        raise ValueError("align_view: the first body is absent in every frame")
    ref = x[0, np.argmax(present[0])]
    up = ref[spine] - ref[hip]
    across = ref[left_shoulder] - ref[right_shoulder]
    ey = up / np.linalg.norm(up)
    ex = across - (across @ ey) * ey
    if np.linalg.norm(ex) < 1e-8:
        raise ValueError("align_view: the shoulder line is parallel to the spine")
    ex = ex / np.linalg.norm(ex)
    rotation = np.stack([ex, ey, np.cross(ex, ey)])  # rows: the new axes in old coordinates
    return np.where(present[..., None, None], x @ rotation.T, 0.0)


def to_fixed_length(x: np.ndarray, num_frames: int, mode: PadMode = "repeat") -> np.ndarray:
    """Bring the valid frames (any body present) to ``num_frames``. (M, T, V, 3) -> (M, num_frames, V, 3).

    ``'repeat'`` tiles the clip until it is long enough, ``'zeros'`` pads with zero frames, both cutting longer
    clips; ``'resample'`` linearly interpolates the clip to exactly ``num_frames`` (endpoints kept).
    """
    num_frames = check_count(num_frames, "num_frames")
    if mode not in ("repeat", "zeros", "resample"):
        raise ValueError(f"mode must be 'repeat', 'zeros' or 'resample', got {mode!r}")
    valid = x[:, _present(x).any(0)]
    if valid.shape[1] == 0:
        raise ValueError("to_fixed_length: every frame is empty")
    length = valid.shape[1]
    if mode == "repeat":
        reps = -(-num_frames // length)
        return np.concatenate([valid] * reps, axis=1)[:, :num_frames]
    if mode == "zeros":
        out = np.zeros((x.shape[0], num_frames) + x.shape[2:])
        out[:, : min(length, num_frames)] = valid[:, :num_frames]
        return out
    src = np.linspace(0, length - 1, num_frames)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, length - 1)
    w = (src - lo)[None, :, None, None]
    return (1 - w) * valid[:, lo] + w * valid[:, hi]


def teaching_pipeline(
    frames: Sequence[Sequence[SkeletonBody]],
    num_frames: int = 64,
    max_bodies: int = 2,
    mode: PadMode = "repeat",
    align: bool = True,
) -> np.ndarray:
    """The teaching steps above on parsed frames: float32 (3, num_frames, 25, max_bodies)."""
    num_frames, max_bodies = check_count(num_frames, "num_frames"), check_count(max_bodies, "max_bodies")
    xyz, _ = bodies_to_array(frames)
    if len(xyz) == 0:
        raise ValueError("teaching pipeline: no body in any frame")
    x = centre_on_joint(select_bodies(xyz, max_bodies))
    if align:
        x = align_view(x)
    x = to_fixed_length(x, num_frames, mode)
    return np.ascontiguousarray(x.transpose(3, 1, 2, 0), dtype=np.float32)  # (M, T, V, C) -> (C, T, V, M)
