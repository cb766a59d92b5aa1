"""Skeleton data: synthetic actions, NTU RGB+D files, and the bone and motion streams."""

from stviz.data.ntu import (
    SkeletonBody,
    align_view,
    bodies_to_array,
    centre_on_joint,
    load_npz,
    preprocess_skeleton,
    read_skeleton_file,
    select_bodies,
    to_fixed_length,
    write_skeleton_file,
)
from stviz.data.streams import bone_stream, motion_stream
from stviz.data.synthetic import (
    ACTION_CLASSES,
    LEFT_RIGHT_PAIRS,
    TIME_REVERSED_PAIRS,
    make_action,
    make_actions,
    mirror_left_right,
    mirror_permutation,
    synthetic_dataset,
    train_test_split,
)

__all__ = [
    "ACTION_CLASSES",
    "LEFT_RIGHT_PAIRS",
    "TIME_REVERSED_PAIRS",
    "make_action",
    "make_actions",
    "synthetic_dataset",
    "train_test_split",
    "mirror_left_right",
    "mirror_permutation",
    "SkeletonBody",
    "read_skeleton_file",
    "write_skeleton_file",
    "bodies_to_array",
    "select_bodies",
    "centre_on_joint",
    "align_view",
    "to_fixed_length",
    "preprocess_skeleton",
    "load_npz",
    "bone_stream",
    "motion_stream",
]
