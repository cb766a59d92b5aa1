"""Synthetic NTU-layout actions: shapes, determinism, kinematics, and the left/right and time-reversed pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stviz.data import (
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
from stviz.graph import SkeletonGraph, joint_index

CLEAN = {"view_range_deg": 0.0, "noise_std": 0.0}


def test_classes_and_pairs():
    assert len(ACTION_CLASSES) >= 8 and len(set(ACTION_CLASSES)) == len(ACTION_CLASSES)
    for left, right in LEFT_RIGHT_PAIRS:
        assert ACTION_CLASSES[left].replace("left", "right") == ACTION_CLASSES[right]
    assert len(TIME_REVERSED_PAIRS) >= 2


def test_make_action_shape_and_second_body():
    x = make_action(3, num_frames=40, rng=1)
    assert x.shape == (3, 40, 25, 2) and x.dtype == np.float32
    assert (x[..., 1] == 0).all() and np.abs(x[..., 0]).sum() > 0
    assert make_action(3, num_frames=40, rng=1, num_bodies=1).shape == (3, 40, 25, 1)
    other = make_action(3, num_frames=40, rng=1, second_body="bystander")[..., 1]
    assert np.abs(other).sum() > 0
    assert np.abs(other[0].mean() - x[0, ..., 0].mean()) > 0.5  # standing beside the actor


def test_dataset_is_balanced_and_deterministic():
    x, y = synthetic_dataset(480, seed=0)
    assert x.shape == (480, 3, 64, 25, 2) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [480 // len(ACTION_CLASSES)] * len(ACTION_CLASSES)
    x2, y2 = synthetic_dataset(480, seed=0)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = synthetic_dataset(480, seed=1)
    assert not torch.equal(x, x3)


def test_bones_are_rigid():
    """Forward kinematics only rotates bones: every bone keeps its rest length in every frame."""
    rest = SkeletonGraph().rest_pose
    parent = SkeletonGraph().bone_parent
    rest_len = (rest - rest[list(parent)]).norm(dim=-1)
    for label in range(len(ACTION_CLASSES)):
        x = torch.from_numpy(make_actions(label, 3, 32, rng=label, **CLEAN))[..., 0]  # (n, 3, T, V)
        size = (x[:, :, :, 3] - x[:, :, :, 2]).norm(dim=1) / rest_len[3]  # body scale from the neck->head bone
        lengths = (x - x[..., list(parent)]).norm(dim=1) / size[..., None]  # (n, T, V)
        torch.testing.assert_close(lengths, rest_len.expand_as(lengths), atol=1e-5, rtol=1e-5)


def test_right_class_is_the_mirror_of_the_left_class():
    spine = joint_index("middle of spine")
    for left, right in LEFT_RIGHT_PAIRS:
        a = torch.from_numpy(make_actions(left, 4, 32, rng=7, **CLEAN))
        b = torch.from_numpy(make_actions(right, 4, 32, rng=7, **CLEAN))
        a, b = a - a[:, :, :, spine : spine + 1], b - b[:, :, :, spine : spine + 1]  # remove the random position
        torch.testing.assert_close(b, mirror_left_right(a), atol=1e-5, rtol=0)
        assert (b - a).abs().max() > 0.1


def test_time_reversed_class_is_the_same_motion_backwards():
    for forward, backward in TIME_REVERSED_PAIRS:
        a = make_actions(forward, 3, 32, rng=5, noise_std=0.0)
        b = make_actions(backward, 3, 32, rng=5, noise_std=0.0)
        np.testing.assert_allclose(b, a[:, :, ::-1], atol=1e-6)
        assert np.abs(b - a).max() > 0.1


def test_coordinate_convention_x_left_y_up_z_to_camera():
    names = ("left hand", "right hand", "head", "left foot", "base of spine", "middle of spine")
    j = {name: joint_index(name) for name in names}

    def action(name, frames, seed=0):
        x = make_action(ACTION_CLASSES.index(name), frames, rng=seed, **CLEAN)[..., 0]  # (3, T, V)
        return x - x[:, :1, j["middle of spine"], None]  # origin: middle of spine in the first frame

    wave = action("wave left hand", 32)
    assert (wave[0, :, j["left hand"]] > 0.05).all() and (wave[1, :, j["left hand"]] > wave[1, :, j["head"]]).all()
    wave_r = action("wave right hand", 32)
    assert (wave_r[0, :, j["right hand"]] < -0.05).all()  # the waving hand stays on its own side
    kick = action("kick left leg", 64)
    assert (kick[2, :, j["left foot"]] - kick[2, 0, j["left foot"]]).max() > 0.3  # the foot comes forward
    sit = action("sit down", 64)
    assert sit[1, -1, j["base of spine"]] < sit[1, 0, j["base of spine"]] - 0.1  # the pelvis goes down


def test_mirror_permutation_and_mirror_is_an_involution():
    perm = mirror_permutation()
    assert perm[joint_index("left hand")] == joint_index("right hand") and perm[joint_index("head")] == 3
    assert all(perm[perm[v]] == v for v in range(25))
    x = torch.randn(2, 3, 5, 25, 2)
    torch.testing.assert_close(mirror_left_right(mirror_left_right(x)), x)
    np_x = x[0].numpy()
    assert isinstance(mirror_left_right(np_x), np.ndarray)
    with pytest.raises(ValueError, match=r"\(C, T, V, M\)"):
        mirror_left_right(torch.randn(3, 5, 25))


def test_train_test_split_is_stratified_and_disjoint():
    x, y = synthetic_dataset(144, num_frames=8, seed=0)
    (xa, ya), (xb, yb) = train_test_split(x, y, test_fraction=0.25, seed=0)
    assert len(ya) == 108 and len(yb) == 36
    assert torch.bincount(yb).tolist() == [3] * len(ACTION_CLASSES)
    flat_a, flat_b = xa.flatten(1), xb.flatten(1)
    assert not any(torch.equal(row, other) for row in flat_b for other in flat_a)
    again = train_test_split(x, y, test_fraction=0.25, seed=0)
    assert torch.equal(again[1][0], xb)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"label": 99}, r"label must be in \[0, 12\)"),
        ({"label": 0, "num_bodies": 3}, "num_bodies must be 1 or 2"),
        ({"label": 0, "second_body": "ghost"}, "second_body must be"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_action(**kwargs)
