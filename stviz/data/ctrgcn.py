"""CTR-GCN's NTU pipeline (its three data scripts) and its feeder's crop-and-resize.

The scripts track bodies by *id*, drop frames with no body, denoise, pick two actors, and move the origin once per
clip; nothing is rotated. Step by step (thresholds as in the original):

1. **Frames.** Frames with no body are dropped; the others are numbered 0, 1, ... Each id collects its joints in
   float32, and its frame interval runs from its first frame onwards, one frame per appearance (an id that
   disappears and comes back is stored as if it had not left).
2. **Motion**, only with several ids: the sum over x, y, z of the variance over all its frames and joints.
3. **Denoising**, only with several ids: ids with at most 11 frames go. If two or more remain, a frame is noisy when
   its x extent exceeds 0.8 times its y extent; in order of first appearance, and while more than one id is left, an
   id with at least 69.754% noisy frames goes, and the others' motion becomes the lower of the old value and the
   variance over their clean frames.
4. **Actors.** Ids sorted by motion, most first; actor 1 is the first. Each further id fills actor 1's slot where
   its interval does not overlap actor 1's, else actor 2's where it does not overlap actor 2's (an overlap of a
   single frame does not count), else it is dropped. With several ids, frames where both actors are zero go.
5. **Origin.** Actor 1's joint 2 (1-based, middle of the spine) in its first non-zero frame is subtracted from
   every frame; frames where an actor is missing are set back to zero.
6. **Padding** to 300 frames with zeros; a single actor has zeros in the second slot.

The feeder then counts the non-zero frames and, at test time, centre-crops them to 95% and resizes the time axis to
64 frames: :func:`crop_resize`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from stviz.data.skeleton_file import NUM_JOINTS, SkeletonBody, check_count
from stviz.data.slot_pipelines import MAX_FRAMES

__all__ = ["ctrgcn_actors", "ctrgcn_pipeline", "check_p_interval", "crop_resize", "valid_frame_count"]

MIN_FRAMES = 11  # ids with at most this many frames are noise
SPREAD_RATIO = 0.8  # a frame is noisy when x extent > SPREAD_RATIO * y extent
NOISY_SHARE = 0.69754  # an id with at least this share of noisy frames is noise
_ROW = NUM_JOINTS * 3  # one actor's 75 values in a row


class _Track:
    """One body id: its float32 joints (n, 25, 3), its first frame, its motion."""

    def __init__(self, first: int):
        self.first = first
        self.joints: list[np.ndarray] = []
        self.motion = np.float32(0)

    @property
    def last(self) -> int:
        return self.first + len(self.joints) - 1

    def array(self) -> np.ndarray:
        return np.stack(self.joints)


def _tracks(frames: Sequence[Sequence[SkeletonBody]]) -> tuple[dict[int, _Track], int]:
    """Step 1: the tracks by id, in order of first appearance, and the number of non-empty frames."""
    tracks: dict[int, _Track] = {}
    valid = -1
    for bodies in frames:
        if not bodies:
            continue
        valid += 1
        for body in bodies:
            track = tracks.setdefault(body.body_id, _Track(valid))
            track.joints.append(body.xyz.astype(np.float32))
    if valid < 0:
        raise ValueError("CTR-GCN pipeline: expected at least one frame with a body, got none")
    return tracks, valid + 1


def _variance(joints: np.ndarray) -> np.float32:
    """Sum over x, y, z of the variance over all frames and joints, in float32 as the original."""
    return np.sum(np.var(joints.reshape(-1, 3), axis=0))


def _clean_frames(joints: np.ndarray) -> np.ndarray:
    """Frames (n,) whose x extent is at most SPREAD_RATIO times their y extent."""
    extent = joints.max(1) - joints.min(1)  # (n, 3)
    return extent[:, 0].astype(np.float64) <= SPREAD_RATIO * extent[:, 1].astype(np.float64)


def _denoise(tracks: dict[int, _Track]) -> list[int]:
    """Steps 2-4's selection: the ids left after denoising, most motion first."""
    for track in tracks.values():
        track.motion = _variance(track.array())
    ids = [i for i, track in tracks.items() if len(track.joints) > MIN_FRAMES]
    if len(ids) > 1:
        for i in list(ids):
            if len(ids) == 1:
                break
            joints = tracks[i].array()
            clean = _clean_frames(joints)
            noisy = len(clean) - clean.sum()
            if noisy == 0:
                continue
            if noisy / len(clean) >= NOISY_SHARE:
                ids.remove(i)
            else:
                tracks[i].motion = min(tracks[i].motion, _variance(joints[clean]))
    if not ids:
        raise ValueError(f"CTR-GCN pipeline: every body id has at most {MIN_FRAMES} frames; none is left")
    return sorted(ids, key=lambda i: tracks[i].motion, reverse=True)


def _place(out: np.ndarray, track: _Track, column: slice, body_id: int) -> None:
    if track.last >= len(out):
        raise ValueError(
            f"CTR-GCN pipeline: body id {body_id} appears {len(track.joints)} times from frame {track.first}, "
            f"more than the {len(out)} non-empty frames (an id listed twice in one frame); CTR-GCN's scripts fail here"
        )
    out[track.first : track.last + 1, column] = track.array().reshape(-1, _ROW)


def ctrgcn_actors(frames: Sequence[Sequence[SkeletonBody]]) -> tuple[np.ndarray, list[int]]:
    """Steps 1-4: the actors' joints, float32 (T', 75) for one actor or (T', 150) for two, and the ids placed.

    ``ids`` lists the ids in the order they were placed (actor 1's first).
    """
    tracks, num_frames = _tracks(frames)
    ranked = list(tracks) if len(tracks) == 1 else _denoise(tracks)  # a single id is never denoised
    if len(ranked) == 1:
        out = np.zeros((num_frames, _ROW), np.float32)
        _place(out, tracks[ranked[0]], slice(None), ranked[0])
        return (out if len(tracks) == 1 else out[out.sum(1) != 0]), ranked
    out = np.zeros((num_frames, 2 * _ROW), np.float32)
    first = tracks[ranked[0]]
    _place(out, first, slice(0, _ROW), ranked[0])
    spans, placed = [[first.first, first.last], [0, 0]], [ranked[0]]
    for i in ranked[1:]:
        track = tracks[i]
        for slot, span in enumerate(spans):
            if min(span[1], track.last) - max(span[0], track.first) <= 0:
                _place(out, track, slice(slot * _ROW, (slot + 1) * _ROW), i)
                span[:] = [min(span[0], track.first), max(span[1], track.last)]
                placed.append(i)
                break
    return out[out.sum(1) != 0], placed


def ctrgcn_pipeline(frames: Sequence[Sequence[SkeletonBody]], num_frames: int = MAX_FRAMES) -> np.ndarray:
    """CTR-GCN's three scripts on one clip: float32 (3, num_frames, 25, 2), a row of its ``NTU60_CS.npz``."""
    num_frames = check_count(num_frames, "num_frames")
    joints, _ = ctrgcn_actors(frames)
    if len(joints) > num_frames:
        raise ValueError(f"the clip has {len(joints)} frames after denoising, expected at most {num_frames}")
    actors = joints.reshape(len(joints), -1, NUM_JOINTS, 3)  # (T', M, 25, 3)
    missing = actors.reshape(len(joints), actors.shape[1], -1).sum(-1) == 0  # (T', M)
    present = np.flatnonzero((actors[:, 0] != 0).any((1, 2)))
    if len(present) == 0:
        raise ValueError("CTR-GCN pipeline: every joint of the first actor is at (0, 0, 0) in every frame")
    first = present[0]
    actors = actors - actors[first, 0, 1]
    if actors.shape[1] == 2:  # the original re-zeroes missing frames only with two actors
        actors[missing] = 0
    out = np.zeros((num_frames, 2, NUM_JOINTS, 3), np.float32)
    out[: len(actors), : actors.shape[1]] = actors
    return np.ascontiguousarray(out.transpose(3, 0, 2, 1))


def valid_frame_count(x: np.ndarray | torch.Tensor) -> int:
    """CTR-GCN's feeder's count of frames of (C, T, V, M) whose values do not sum to 0."""
    return int((x.sum((0, 2, 3)) != 0).sum())


def check_p_interval(p_interval: Sequence[float]) -> tuple[float, ...]:
    """The crop's ``p_interval`` as a tuple of floats: ``(p,)`` or ``(low, high)`` with 0 < low <= high <= 1."""
    if np.ndim(p_interval) == 0:
        raise ValueError(f"p_interval must be a sequence, (p,) or (low, high), got the number {p_interval!r}")
    p_interval = tuple(float(p) for p in p_interval)
    in_range = all(0 < p <= 1 for p in p_interval) and p_interval == tuple(sorted(p_interval))
    if len(p_interval) not in (1, 2) or not in_range:
        raise ValueError(f"p_interval must be (p,) or (low, high) with 0 < low <= high <= 1, got {p_interval}")
    return p_interval


def crop_resize(
    x: np.ndarray | torch.Tensor,
    window: int = 64,
    p_interval: Sequence[float] = (0.95,),
    rng: np.random.Generator | int | None = None,
    min_length: int = 64,
) -> np.ndarray:
    """CTR-GCN's feeder transform ``valid_crop_resize``: (C, T, V, M) -> float32 numpy (C, window, V, M).

    The valid frames are the first :func:`valid_frame_count` ones (the pipelines put them first). With one value
    ``p`` (test time) the centre ``p`` share of them is kept, ``int((1 - p) * valid / 2)`` frames cut at each end.
    With two values ``(low, high)`` (training) ``p`` is drawn uniformly in that range, the crop keeps
    ``min(max(floor(valid * p), min_length), valid)`` frames at a random offset (``rng``, a numpy Generator or
    seed). The crop is then resized to ``window`` frames by bilinear interpolation with ``align_corners=False``.
    """
    window = check_count(window, "window")
    if not isinstance(x, np.ndarray | torch.Tensor) or x.ndim != 4:
        raise ValueError(f"crop_resize expects one sample (C, T, V, M), got {getattr(x, 'shape', type(x).__name__)}")
    data = torch.as_tensor(x).detach().cpu().to(torch.float32)
    c, _, v, m = data.shape
    valid = valid_frame_count(data)
    if valid == 0:
        raise ValueError("crop_resize: expected at least one non-zero frame, got none")
    p_interval = check_p_interval(p_interval)
    if len(p_interval) == 1:
        bias = int((1 - p_interval[0]) * valid / 2)
        crop = data[:, bias : valid - bias]
    else:
        rng = np.random.default_rng(rng)
        p = rng.random() * (p_interval[1] - p_interval[0]) + p_interval[0]
        length = min(max(int(np.floor(valid * p)), min_length), valid)
        bias = int(rng.integers(0, valid - length + 1))
        crop = data[:, bias : bias + length]
    rows = crop.permute(0, 2, 3, 1).reshape(1, 1, c * v * m, crop.shape[1])
    resized = F.interpolate(rows, size=(c * v * m, window), mode="bilinear", align_corners=False)
    return resized.reshape(c, v, m, window).permute(0, 3, 1, 2).contiguous().numpy()
