"""Skeleton layouts: joint names, bones (0-based ``(child, parent)`` pairs), centre joint and a rest pose.

NTU RGB+D (25 joints), OpenPose (18) and COCO (17); :func:`get_layout` finds one by name.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Layout", "NTU_EDGES_1BASED", "NTU_RGBD", "OPENPOSE_18", "COCO_17", "LAYOUTS", "get_layout"]


@dataclass(frozen=True)
class Layout:
    """A skeleton layout: joint names, bones, centre joint and a rest pose.

    ``edges`` are 0-based ``(child, parent)`` pairs; ``rest_pose`` is ``(V, 3)``
    in metres with x towards the subject's left, y up and z towards the camera.
    """

    name: str
    joint_names: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    center: int
    rest_pose: tuple[tuple[float, float, float], ...]

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)


# NTU RGB+D 25 joints. The 1-indexed edge list shared by every repository;
# note (22,23),(23,8): the hand tip hangs on the thumb.
NTU_EDGES_1BASED = (
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21),
    (10, 9), (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1),
    (18, 17), (19, 18), (20, 19), (22, 23), (23, 8), (24, 25), (25, 12),
)  # fmt: skip

NTU_RGBD = Layout(
    name="ntu-rgb+d",
    joint_names=(
        "base of spine", "middle of spine", "neck", "head",
        "left shoulder", "left elbow", "left wrist", "left hand",
        "right shoulder", "right elbow", "right wrist", "right hand",
        "left hip", "left knee", "left ankle", "left foot",
        "right hip", "right knee", "right ankle", "right foot",
        "spine", "left hand tip", "left thumb", "right hand tip", "right thumb",
    ),
    edges=tuple((i - 1, j - 1) for i, j in NTU_EDGES_1BASED),
    center=20,
    rest_pose=(
        (0.00, 0.00, 0.00), (0.00, 0.25, 0.00), (0.00, 0.52, 0.00), (0.00, 0.64, 0.00),
        (0.18, 0.44, 0.00), (0.22, 0.17, 0.00), (0.24, -0.07, 0.00), (0.25, -0.14, 0.00),
        (-0.18, 0.44, 0.00), (-0.22, 0.17, 0.00), (-0.24, -0.07, 0.00), (-0.25, -0.14, 0.00),
        (0.10, -0.02, 0.00), (0.11, -0.42, 0.00), (0.11, -0.82, 0.00), (0.15, -0.88, 0.08),
        (-0.10, -0.02, 0.00), (-0.11, -0.42, 0.00), (-0.11, -0.82, 0.00), (-0.15, -0.88, 0.08),
        (0.00, 0.46, 0.00), (0.26, -0.23, 0.00), (0.21, -0.17, 0.03),
        (-0.26, -0.23, 0.00), (-0.21, -0.17, 0.03),
    ),
)  # fmt: skip

# OpenPose 18 keypoints (ST-GCN's 'openpose' layout, Kinetics-skeleton).
OPENPOSE_18 = Layout(
    name="openpose",
    joint_names=(
        "nose", "neck", "right shoulder", "right elbow", "right wrist",
        "left shoulder", "left elbow", "left wrist", "right hip", "right knee",
        "right ankle", "left hip", "left knee", "left ankle", "right eye",
        "left eye", "right ear", "left ear",
    ),
    edges=(
        (4, 3), (3, 2), (7, 6), (6, 5), (13, 12), (12, 11), (10, 9), (9, 8),
        (11, 5), (8, 2), (5, 1), (2, 1), (0, 1), (15, 0), (14, 0), (17, 15), (16, 14),
    ),
    center=1,
    rest_pose=(
        (0.00, 0.62, 0.05), (0.00, 0.46, 0.00), (-0.18, 0.44, 0.00), (-0.22, 0.17, 0.00),
        (-0.24, -0.07, 0.00), (0.18, 0.44, 0.00), (0.22, 0.17, 0.00), (0.24, -0.07, 0.00),
        (-0.10, -0.02, 0.00), (-0.11, -0.42, 0.00), (-0.11, -0.82, 0.00), (0.10, -0.02, 0.00),
        (0.11, -0.42, 0.00), (0.11, -0.82, 0.00), (-0.04, 0.66, 0.04), (0.04, 0.66, 0.04),
        (-0.08, 0.64, 0.00), (0.08, 0.64, 0.00),
    ),
)  # fmt: skip

# COCO 17 keypoints (pyskl's 'coco' layout).
COCO_17 = Layout(
    name="coco",
    joint_names=(
        "nose", "left eye", "right eye", "left ear", "right ear",
        "left shoulder", "right shoulder", "left elbow", "right elbow",
        "left wrist", "right wrist", "left hip", "right hip",
        "left knee", "right knee", "left ankle", "right ankle",
    ),
    edges=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 5), (12, 6), (9, 7), (7, 5),
        (10, 8), (8, 6), (5, 0), (6, 0), (1, 0), (3, 1), (2, 0), (4, 2),
    ),
    center=0,
    rest_pose=(
        (0.00, 0.62, 0.05), (0.04, 0.66, 0.04), (-0.04, 0.66, 0.04), (0.08, 0.64, 0.00),
        (-0.08, 0.64, 0.00), (0.18, 0.44, 0.00), (-0.18, 0.44, 0.00), (0.22, 0.17, 0.00),
        (-0.22, 0.17, 0.00), (0.24, -0.07, 0.00), (-0.24, -0.07, 0.00), (0.10, -0.02, 0.00),
        (-0.10, -0.02, 0.00), (0.11, -0.42, 0.00), (-0.11, -0.42, 0.00), (0.11, -0.82, 0.00),
        (-0.11, -0.82, 0.00),
    ),
)  # fmt: skip

LAYOUTS = {layout.name: layout for layout in (NTU_RGBD, OPENPOSE_18, COCO_17)}
_ALIASES = {
    "ntu": "ntu-rgb+d",
    "ntu25": "ntu-rgb+d",
    "ntu_rgb_d": "ntu-rgb+d",
    "openpose18": "openpose",
    "coco17": "coco",
}


def get_layout(name: str | Layout) -> Layout:
    """Return a layout by name (``'ntu-rgb+d'``, ``'openpose'``, ``'coco'``)."""
    if isinstance(name, Layout):
        return name
    key = _ALIASES.get(name, name)
    if key not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; expected one of {sorted(LAYOUTS)}")
    return LAYOUTS[key]
