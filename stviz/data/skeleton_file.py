"""The NTU RGB+D ``.skeleton`` text format: a strict reader and an exact writer.

A ``.skeleton`` file is, line by line::

    frame count
    per frame:  body count
      per body: bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence handRightState
                isRestricted leanX leanY trackingState              (10 body fields)
                25                                                  (joint count)
                25 lines: x y z depthX depthY colorX colorY orientationW orientationX orientationY orientationZ
                          trackingState                             (12 joint fields)

Every error names the file and the line. A non-finite ``x``, ``y`` or ``z`` (``nan``, ``inf``) is an error, never a
silently dropped frame: the preprocessing pipelines cannot give such a joint any meaning. The other joint fields are
kept as read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["NUM_JOINTS", "MAX_BODIES_PER_FRAME", "BODY_FIELDS", "JOINT_FIELDS", "SkeletonBody"]
__all__ += ["read_skeleton_file", "write_skeleton_file", "check_count"]

NUM_JOINTS = 25
MAX_BODIES_PER_FRAME = 6  # Kinect v2 tracks at most six bodies
BODY_FIELDS = (
    "bodyID", "clipedEdges", "handLeftConfidence", "handLeftState", "handRightConfidence", "handRightState",
    "isRestricted", "leanX", "leanY", "trackingState",
)  # fmt: skip
JOINT_FIELDS = (
    "x", "y", "z", "depthX", "depthY", "colorX", "colorY",
    "orientationW", "orientationX", "orientationY", "orientationZ", "trackingState",
)  # fmt: skip
LINES_PER_BODY = 2 + NUM_JOINTS


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


def check_count(value, name: str) -> int:
    """``value`` as a positive int, or a ``ValueError``/``TypeError`` naming ``name``, what was expected and got."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


class _Lines:
    """Numbered lines of a file, with errors that name the file and the line."""

    def __init__(self, path: Path):
        self.path = path
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{path}: expected a .skeleton text file (ASCII/UTF-8), got undecodable byte "
                f"{raw[exc.start : exc.start + 1]!r} at byte {exc.start}"
            ) from None
        self.lines = text.splitlines()
        self.number = 0

    def error(self, message: str) -> ValueError:
        return ValueError(f"{self.path}: line {self.number}: {message}")

    @property
    def left(self) -> int:
        return len(self.lines) - self.number

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

    def count(self, what: str, largest: int, why: str) -> int:
        (value,) = self.numbers(1, what, int)
        if value < 0 or value > largest:
            raise self.error(f"{what} must be between 0 and {largest} ({why}), got {value}")
        return value


def _read_body(lines: _Lines, what: str) -> SkeletonBody:
    head = lines.fields(len(BODY_FIELDS), f"the body line of {what} ({' '.join(BODY_FIELDS)})")
    try:
        body_id, info = int(head[0]), tuple(float(v) for v in head[1:])
    except ValueError:
        raise lines.error(f"non-numeric field in the body line of {what}: {' '.join(head)!r}") from None
    (num_joints,) = lines.numbers(1, f"the joint count of {what}", int)
    if num_joints != NUM_JOINTS:
        raise lines.error(f"{what} has {num_joints} joints, expected {NUM_JOINTS}")
    joints = []
    for j in range(NUM_JOINTS):
        row = lines.numbers(len(JOINT_FIELDS), f"joint {j} of {what}")
        if not all(math.isfinite(v) for v in row[:3]):
            raise lines.error(f"joint {j} of {what}: expected finite x y z, got {row[:3]}")
        joints.append(row)
    return SkeletonBody(body_id, np.asarray(joints, dtype=np.float64), info)


def read_skeleton_file(path: str | Path) -> list[list[SkeletonBody]]:
    """Parse an NTU ``.skeleton`` file into a list of frames, each a list of bodies (in the file's order).

    Raises ``ValueError`` naming the file and the line number when the file is not UTF-8 text, is truncated, a
    count is negative or larger than the rest of the file (or than Kinect's 6 bodies), a joint count is not 25, a line
    has the wrong number of fields, a field is not a number, x, y or z is not finite, or non-empty lines follow the
    frames that the first line announces.
    """
    lines = _Lines(Path(path))
    num_frames = lines.count("the frame count", max(lines.left - 1, 0), "each frame needs at least its body-count line")
    frames = []
    for f in range(num_frames):
        num_bodies = lines.count(f"the body count of frame {f}", MAX_BODIES_PER_FRAME, "Kinect tracks at most 6")
        if num_bodies * LINES_PER_BODY > lines.left:
            raise lines.error(
                f"frame {f} announces {num_bodies} bodies ({num_bodies * LINES_PER_BODY} lines), "
                f"but only {lines.left} lines follow"
            )
        frames.append([_read_body(lines, f"frame {f} body {b}") for b in range(num_bodies)])
    extra = [i for i in range(lines.number, len(lines.lines)) if lines.lines[i].strip()]
    if extra:
        lines.number = extra[0] + 1
        raise lines.error(
            f"{len(extra)} more non-empty line(s) after the {num_frames} frame(s) that line 1 announces "
            f"(a wrong frame count, or two files joined?)"
        )
    return frames


def write_skeleton_file(path: str | Path, frames: Sequence[Sequence[SkeletonBody]]) -> Path:
    """Write frames of bodies in the exact NTU ``.skeleton`` text format; returns the path.

    ``frames[t]`` lists the bodies of frame t (possibly none). A body's ``joints`` may be (25, 3) positions only;
    the other joint fields are then written as zeros, with trackingState 2 (tracked).
    """
    out = [str(len(frames))]
    for t, bodies in enumerate(frames):
        out.append(str(len(bodies)))
        for body in bodies:
            if not isinstance(body, SkeletonBody):
                raise TypeError(
                    f"write_skeleton_file: frames[{t}] must list SkeletonBody objects (frames is a list of frames, "
                    f"each a list of bodies), got {type(body).__name__}"
                )
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
