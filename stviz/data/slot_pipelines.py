"""The pipelines that read bodies by slot: ST-GCN's, 2s-AGCN's (also MS-G3D's and Shift-GCN's) and EfficientGCN's.

A *slot* is a position in a frame's body list: slot 0 holds whichever body the file lists first in that frame,
whatever its id. All three generators fill ``(slots, T, 25, 3)`` arrays this way and zero-pad to 300 frames, frames at
their original index. They differ after that:

* ST-GCN keeps slots 0 and 1 and stops there: raw camera coordinates.
* 2s-AGCN fills 4 slots, keeps the 2 with the most *energy* (the sum over x, y, z of the standard deviation over all
  joints of the non-empty frames), then normalises (:func:`agcn_normalize`): pads null frames, centres every frame on
  the main body's middle of the spine, and rotates the first frame's spine onto +z and shoulders onto +x.
* EfficientGCN's reader selects bodies as 2s-AGCN does (in float32) and normalises only for its X-view benchmark.

"Empty" follows the originals: a frame or body counts as empty when the *sum* of its coordinates is exactly 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from stviz.data.skeleton_file import NUM_JOINTS, SkeletonBody, check_count

__all__ = ["MAX_FRAMES", "read_slots", "slot_energy", "stgcn_pipeline", "agcn_pipeline", "agcn_normalize"]
__all__ += ["efficientgcn_raw_pipeline", "rotation_onto"]

MAX_FRAMES = 300  # the originals' fixed clip length (NTU's longest clip)
HIP, SPINE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 1, 4, 8  # 0-based NTU joints


def read_slots(
    frames: Sequence[Sequence[SkeletonBody]], num_slots: int, num_frames: int = MAX_FRAMES, dtype=np.float32
) -> np.ndarray:
    """Bodies by slot, zero-padded in time: (num_slots, num_frames, 25, 3) of ``dtype``.

    Slot m of frame t holds the m-th body the file lists in frame t; bodies past ``num_slots`` are dropped. A clip
    without any body away from the origin (the originals leave such files out) is a ``ValueError``.
    """
    num_slots, num_frames = check_count(num_slots, "num_slots"), check_count(num_frames, "num_frames")
    if len(frames) > num_frames:
        raise ValueError(
            f"the clip has {len(frames)} frames, expected at most num_frames={num_frames} "
            "(the originals' generators fail on longer clips)"
        )
    if not any(body.xyz.any() for bodies in frames for body in bodies[:num_slots]):
        raise ValueError(
            "expected a body with a joint away from (0, 0, 0) in at least one frame, got none: NTU lists such "
            "samples as missing, and the originals' generators skip them"
        )
    out = np.zeros((num_slots, num_frames, NUM_JOINTS, 3), dtype)
    for t, bodies in enumerate(frames):
        for m, body in enumerate(bodies[:num_slots]):
            out[m, t] = body.xyz
    return out


def slot_energy(body: np.ndarray) -> float:
    """2s-AGCN's body energy of one slot (T, 25, 3): sum over x, y, z of the std over joints of non-empty frames."""
    present = body.sum((1, 2)) != 0
    if not present.any():
        return 0.0
    kept = body[present]
    return kept[..., 0].std() + kept[..., 1].std() + kept[..., 2].std()


def _keep_most_energetic(slots: np.ndarray, keep: int = 2) -> np.ndarray:
    """The ``keep`` slots of highest energy, highest first; among equal energies the later slot comes first."""
    energy = np.array([slot_energy(body) for body in slots])
    order = np.argsort(energy, kind="stable")[::-1][:keep]
    return slots[order]


def _to_ctvm(x: np.ndarray) -> np.ndarray:
    """(M, T, V, C) -> float32 (C, T, V, M), the layout every original stores a sample in."""
    return np.ascontiguousarray(x.transpose(3, 1, 2, 0), dtype=np.float32)


def stgcn_pipeline(frames: Sequence[Sequence[SkeletonBody]], num_frames: int = MAX_FRAMES) -> np.ndarray:
    """ST-GCN's NTU generator: slots 0 and 1, raw camera coordinates, zero-padded. float32 (3, num_frames, 25, 2)."""
    return _to_ctvm(read_slots(frames, 2, num_frames, np.float64))


def rotation_onto(v: np.ndarray, target: tuple[int, int, int]) -> np.ndarray:
    """2s-AGCN's rotation (3, 3) float64 about ``v x target`` by the angle between them, taking ``v`` onto ``target``.

    As in the original, it is the identity when that axis or that angle is below 1e-6: ``v`` already along
    ``target``, ``v`` zero, and also ``v`` pointing exactly opposite to ``target`` (then nothing is rotated).
    """
    target = np.asarray(target)
    axis = np.cross(v, target)
    angle = 0.0
    if np.abs(v).sum() >= 1e-6:
        cosine = np.dot(v / np.linalg.norm(v), target / np.linalg.norm(target))
        angle = np.arccos(np.clip(cosine, -1.0, 1.0))
    if np.abs(axis).sum() < 1e-6 or abs(angle) < 1e-6:
        return np.eye(3)
    k = axis / math.sqrt(np.dot(axis, axis))
    w = math.cos(angle / 2.0)
    a, b, c = k * math.sin(angle / 2.0)  # the unit quaternion (w, a, b, c)
    return np.array(
        [
            [w * w + a * a - b * b - c * c, 2 * (a * b - w * c), 2 * (a * c + w * b)],
            [2 * (a * b + w * c), w * w + b * b - a * a - c * c, 2 * (b * c - w * a)],
            [2 * (a * c - w * b), 2 * (b * c + w * a), w * w + c * c - a * a - b * b],
        ]
    )


def _pad_null_frames(body: np.ndarray) -> None:
    """In place on (T, V, 3): pack a late-starting body to the front, then repeat its clip over the trailing zeros."""
    if body.sum() == 0:
        return
    if body[0].sum() == 0:
        packed = body[body.sum((1, 2)) != 0].copy()
        body[:] = 0
        body[: len(packed)] = packed
    length = len(body)
    frame_sums = body.sum((1, 2))
    for f in range(1, length):
        if frame_sums[f] == 0 and body[f:].sum() == 0:
            repeats = math.ceil((length - f) / f)
            body[f:] = np.concatenate([body[:f]] * repeats)[: length - f]
            return


def _rotate(x: np.ndarray, rotation: np.ndarray) -> None:
    """In place on (M, T, V, 3) float32: rotate every non-empty frame of every non-empty body."""
    for body in x:
        if body.sum() == 0:
            continue
        frames = body.sum((1, 2)) != 0
        body[frames] = (body[frames].astype(np.float64) @ rotation.T).astype(body.dtype)


def agcn_normalize(x: np.ndarray) -> np.ndarray:
    """2s-AGCN's ``pre_normalization`` on one sample (M, T, V, 3) float32; returns a normalised copy.

    1. Pad: a body whose first frame is empty has its non-empty frames packed to the front; once its data ends,
       the rest of the T frames repeat its clip from the start (gaps in the middle stay zero).
    2. Centre: every frame minus *that frame's* middle of the spine (joint 1, 0-based) of body 0; joints that are
       exactly zero stay zero (where body 0 is absent nothing is subtracted).
    3. Rotate so that body 0's first-frame bone hip -> spine (joints 0 -> 1) is along +z,
    4. then so that its first-frame vector left -> right shoulder (joints 4 -> 8) is along +x.
    """
    x = np.array(x, dtype=np.float32)
    if x.ndim != 4 or x.shape[2:] != (NUM_JOINTS, 3):
        raise ValueError(f"agcn_normalize expects (M, T, 25, 3), got {x.shape}")
    for body in x:
        _pad_null_frames(body)
    if x.sum() == 0:
        return x
    centre = x[0, :, SPINE : SPINE + 1].copy()  # (T, 1, 3)
    for m in range(len(x)):
        if x[m].sum() != 0:
            x[m] = (x[m] - centre) * (x[m].sum(-1) != 0)[..., None]
    if x.sum() == 0:
        return x
    _rotate(x, rotation_onto(x[0, 0, SPINE] - x[0, 0, HIP], (0, 0, 1)))
    _rotate(x, rotation_onto(x[0, 0, RIGHT_SHOULDER] - x[0, 0, LEFT_SHOULDER], (1, 0, 0)))
    return x


def agcn_pipeline(frames: Sequence[Sequence[SkeletonBody]], num_frames: int = MAX_FRAMES) -> np.ndarray:
    """2s-AGCN's NTU generator (used by MS-G3D and Shift-GCN): float32 (3, num_frames, 25, 2).

    Up to 4 slots read in float64, the 2 most energetic kept (most first), stored as float32, then
    :func:`agcn_normalize`.
    """
    slots = read_slots(frames, 4, num_frames, np.float64)
    kept = _keep_most_energetic(slots).astype(np.float32)
    return _to_ctvm(agcn_normalize(kept))


def efficientgcn_raw_pipeline(frames: Sequence[Sequence[SkeletonBody]], num_frames: int = MAX_FRAMES) -> np.ndarray:
    """EfficientGCN's reader without its normalisation (its X-sub, X-sub120 and X-set120 configurations).

    Up to 4 slots read in float32, the 2 most energetic kept: raw camera coordinates, float32 (3, num_frames, 25, 2).
    Its reader fails on a frame with more than 4 bodies, so such a file is refused.
    """
    for t, bodies in enumerate(frames):
        if len(bodies) > 4:
            raise ValueError(f"frame {t} has {len(bodies)} bodies; EfficientGCN's reader expects at most 4")
    return _to_ctvm(_keep_most_energetic(read_slots(frames, 4, num_frames, np.float32)))
