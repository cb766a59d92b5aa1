"""NTU RGB+D data: the ``.skeleton`` text format, the standard preprocessing, and CTR-GCN's ``.npz`` layout.

A ``.skeleton`` file is, line by line::

    frame count
    per frame:  body count
      per body: bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence handRightState
                isRestricted leanX leanY trackingState              (10 body fields)
                25                                                  (joint count)
                25 lines: x y z depthX depthY colorX colorY orientationW orientationX orientationY orientationZ
                          trackingState                             (12 joint fields)

The preprocessing is a pipeline of small functions on ``(bodies, T, V, 3)`` arrays::

    frames = read_skeleton_file(path)
    xyz, ids = bodies_to_array(frames)        # (B, T, 25, 3), zeros where a body is absent
    x = select_bodies(xyz, 2)                 # the 2 bodies that move most
    x = centre_on_joint(x)                    # origin at the middle of the spine
    x = align_view(x)                         # hip->spine along +y, right->left shoulder along +x
    x = to_fixed_length(x, 64)                # repeat, zero-pad or resample the valid frames
    # -> transpose to (3, T, 25, 2): preprocess_skeleton does all of it
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

__all__ = [
    "SkeletonBody",
    "BODY_FIELDS",
    "JOINT_FIELDS",
    "read_skeleton_file",
    "write_skeleton_file",
    "bodies_to_array",
    "select_bodies",
    "centre_on_joint",
    "align_view",
    "to_fixed_length",
    "preprocess_skeleton",
    "load_npz",
]

NUM_JOINTS = 25
BODY_FIELDS = (
    "bodyID", "clipedEdges", "handLeftConfidence", "handLeftState", "handRightConfidence", "handRightState",
    "isRestricted", "leanX", "leanY", "trackingState",
)  # fmt: skip
JOINT_FIELDS = (
    "x", "y", "z", "depthX", "depthY", "colorX", "colorY",
    "orientationW", "orientationX", "orientationY", "orientationZ", "trackingState",
)  # fmt: skip

# Joints (0-based) the preprocessing uses.
BASE_OF_SPINE, MIDDLE_OF_SPINE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 1, 4, 8


@dataclass
class SkeletonBody:
    """One tracked body in one frame: its id, the other 9 body fields, and joints (25, 12) float64."""

    body_id: int
    joints: np.ndarray
    info: tuple[float, ...] = field(default=(0, 0, 0, 0, 0, 0, 0.0, 0.0, 2))

    @property
    def xyz(self) -> np.ndarray:
        """Camera-space joint positions (25, 3) in metres."""
        return self.joints[:, :3]


# ----------------------------------------------------------------------------
# The text format.
# ----------------------------------------------------------------------------


class _Lines:
    """Numbered lines of a file, with errors that name the file and the line."""

    def __init__(self, path: Path):
        self.path = path
        self.lines = path.read_text().splitlines()
        self.number = 0

    def error(self, message: str) -> ValueError:
        return ValueError(f"{self.path}: line {self.number}: {message}")

    def fields(self, count: int, what: str) -> list[str]:
        if self.number >= len(self.lines):
            self.number += 1
            raise self.error(f"file ends early: expected {what}")
        self.number += 1
        parts = self.lines[self.number - 1].split()
        if len(parts) != count:
            raise self.error(f"expected {count} field(s) for {what}, got {len(parts)}")
        return parts

    def numbers(self, count: int, what: str, kind=float) -> list:
        parts = self.fields(count, what)
        try:
            return [kind(p) for p in parts]
        except ValueError:
            raise self.error(f"non-numeric field in {what}: {' '.join(parts)!r}") from None


def read_skeleton_file(path: str | Path) -> list[list[SkeletonBody]]:
    """Parse an NTU ``.skeleton`` file into a list of frames, each a list of bodies.

    Raises ``ValueError`` naming the file and the line number when the file is truncated, a joint count is not
    25, a line has the wrong number of fields, or a field is not a number.
    """
    lines = _Lines(Path(path))
    (num_frames,) = lines.numbers(1, "the frame count", int)
    frames = []
    for f in range(num_frames):
        (num_bodies,) = lines.numbers(1, f"the body count of frame {f}", int)
        bodies = []
        for b in range(num_bodies):
            what = f"frame {f} body {b}"
            head = lines.fields(len(BODY_FIELDS), f"the body line of {what} ({' '.join(BODY_FIELDS)})")
            try:
                body_id, info = int(head[0]), tuple(float(v) for v in head[1:])
            except ValueError:
                raise lines.error(f"non-numeric field in the body line of {what}: {' '.join(head)!r}") from None
            (num_joints,) = lines.numbers(1, f"the joint count of {what}", int)
            if num_joints != NUM_JOINTS:
                raise lines.error(f"{what} has {num_joints} joints, expected {NUM_JOINTS}")
            joints = [lines.numbers(len(JOINT_FIELDS), f"joint {j} of {what}") for j in range(NUM_JOINTS)]
            bodies.append(SkeletonBody(body_id, np.asarray(joints, dtype=np.float64), info))
        frames.append(bodies)
    return frames


def write_skeleton_file(path: str | Path, frames: Sequence[Sequence[SkeletonBody]]) -> Path:
    """Write frames of bodies in the exact NTU ``.skeleton`` text format; returns the path.

    ``frames[t]`` lists the bodies of frame t (possibly none). A body's ``joints`` may be (25, 3) positions only;
    the other joint fields are then written as zeros, with trackingState 2 (tracked).
    """
    out = [str(len(frames))]
    for bodies in frames:
        out.append(str(len(bodies)))
        for body in bodies:
            joints = np.asarray(body.joints, dtype=np.float64)
            if joints.shape == (NUM_JOINTS, 3):
                joints = np.concatenate([joints, np.zeros((NUM_JOINTS, 8)), np.full((NUM_JOINTS, 1), 2.0)], 1)
            if joints.shape != (NUM_JOINTS, len(JOINT_FIELDS)):
                raise ValueError(f"body joints must be (25, 3) or (25, 12), got {joints.shape}")
            out.append(" ".join([str(int(body.body_id))] + [f"{v:g}" for v in body.info]))
            out.append(str(NUM_JOINTS))
            for row in joints:
                out.append(" ".join(f"{v:.7g}" for v in row[:-1]) + f" {int(row[-1])}")
    path = Path(path)
    path.write_text("\n".join(out) + "\n")
    return path


# ----------------------------------------------------------------------------
# Preprocessing: small functions on (B, T, V, 3) arrays.
# ----------------------------------------------------------------------------


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
    coordinates: the actor moves, a misdetected object or a bystander barely does (the NTU preprocessing).
    """
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
    reliably and close to the centre of mass. One origin for the whole clip (CTR-GCN's choice) keeps the body's
    own translation (walking, sitting down) in the data; absent bodies and frames stay zero.
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


PadMode = Literal["repeat", "zeros", "resample"]


def to_fixed_length(x: np.ndarray, num_frames: int, mode: PadMode = "repeat") -> np.ndarray:
    """Bring the valid frames (any body present) to ``num_frames``. (M, T, V, 3) -> (M, num_frames, V, 3).

    ``'repeat'`` tiles the clip until it is long enough (2s-AGCN's padding of null frames), ``'zeros'`` pads
    with zero frames, both cutting longer clips; ``'resample'`` linearly interpolates the clip to exactly
    ``num_frames`` (CTR-GCN's ``valid_crop_resize`` with the whole clip).
    """
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
    if mode == "resample":
        src = np.linspace(0, length - 1, num_frames)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, length - 1)
        w = (src - lo)[None, :, None, None]
        return (1 - w) * valid[:, lo] + w * valid[:, hi]
    raise ValueError(f"mode must be 'repeat', 'zeros' or 'resample', got {mode!r}")


def preprocess_skeleton(
    source: str | Path | Sequence[Sequence[SkeletonBody]],
    num_frames: int = 64,
    max_bodies: int = 2,
    mode: PadMode = "repeat",
    align: bool = True,
) -> np.ndarray:
    """The whole pipeline on a ``.skeleton`` path (or parsed frames): float32 (3, T, 25, M)."""
    frames = read_skeleton_file(source) if isinstance(source, str | Path) else source
    xyz, _ = bodies_to_array(frames)
    if len(xyz) == 0:
        raise ValueError(f"{source if isinstance(source, str | Path) else 'frames'}: no body in any frame")
    x = centre_on_joint(select_bodies(xyz, max_bodies))
    if align:
        x = align_view(x)
    x = to_fixed_length(x, num_frames, mode)
    return np.ascontiguousarray(x.transpose(3, 1, 2, 0), dtype=np.float32)  # (M, T, V, C) -> (C, T, V, M)


# ----------------------------------------------------------------------------
# CTR-GCN's preprocessed .npz.
# ----------------------------------------------------------------------------


def load_npz(path: str | Path, split: Literal["train", "test"] = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Load CTR-GCN's ``NTU60_CS.npz`` layout: X float32 (N, 3, T, 25, 2), y int64 (N,).

    The file holds ``x_<split>`` (N, T, 150), each row (2 persons x 25 joints x 3 coordinates), and one-hot
    ``y_<split>`` (N, num_class).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    with np.load(path) as data:
        keys = (f"x_{split}", f"y_{split}")
        missing = [k for k in keys if k not in data]
        if missing:
            raise ValueError(f"{path}: missing {missing}; found {sorted(data.files)}")
        x, y = data[keys[0]], data[keys[1]]
    if x.ndim != 3 or x.shape[2] != 2 * NUM_JOINTS * 3:
        raise ValueError(f"{path}: x_{split} must have shape (N, T, 150) = (N, T, 2 x 25 x 3), got {x.shape}")
    if y.ndim != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(f"{path}: y_{split} must be one-hot (N={x.shape[0]}, num_class), got {y.shape}")
    if not (np.isin(y, (0, 1)).all() and (y.sum(1) == 1).all()):
        raise ValueError(f"{path}: y_{split} rows must be one-hot (a single 1 per row)")
    n, t, _ = x.shape
    x = x.reshape(n, t, 2, NUM_JOINTS, 3).transpose(0, 4, 1, 3, 2)  # (N, C, T, V, M)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(y.argmax(1).astype(np.int64))
