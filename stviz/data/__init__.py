"""Skeleton data: synthetic actions, NTU RGB+D files and the originals' preprocessing, the bone and motion streams."""

from stviz.data.ctrgcn import crop_resize, ctrgcn_actors, ctrgcn_pipeline, valid_frame_count
from stviz.data.npz import load_npz
from stviz.data.preprocess import CHECKPOINTS, PIPELINES, preprocess_skeleton
from stviz.data.skeleton_file import SkeletonBody, read_skeleton_file, write_skeleton_file
from stviz.data.slot_pipelines import (
    agcn_normalize,
    agcn_pipeline,
    efficientgcn_raw_pipeline,
    read_slots,
    slot_energy,
    stgcn_pipeline,
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
from stviz.data.teaching import (
    align_view,
    bodies_to_array,
    centre_on_joint,
    select_bodies,
    teaching_pipeline,
    to_fixed_length,
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
    "PIPELINES",
    "CHECKPOINTS",
    "preprocess_skeleton",
    "stgcn_pipeline",
    "agcn_pipeline",
    "agcn_normalize",
    "efficientgcn_raw_pipeline",
    "read_slots",
    "slot_energy",
    "ctrgcn_pipeline",
    "ctrgcn_actors",
    "crop_resize",
    "valid_frame_count",
    "teaching_pipeline",
    "bodies_to_array",
    "select_bodies",
    "centre_on_joint",
    "align_view",
    "to_fixed_length",
    "load_npz",
    "bone_stream",
    "motion_stream",
]
