"""Bone and motion streams against explicit loops over joints and frames (CTR-GCN's feeder)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stviz.data import bone_stream, motion_stream
from stviz.graph import NTU_EDGES_1BASED, SkeletonGraph


def bone_loop(x):
    """CTR-GCN's bone pairs, 1-based (v1, v2) with bone[v1] = x[v1] - x[v2]; the centre 21 pairs with itself."""
    out = torch.zeros_like(x)
    for v1, v2 in list(NTU_EDGES_1BASED) + [(21, 21)]:
        out[..., v1 - 1, :] = x[..., v1 - 1, :] - x[..., v2 - 1, :]
    return out


def motion_loop(x):
    out = torch.zeros_like(x)
    for t in range(x.shape[-3] - 1):
        out[..., t, :, :] = x[..., t + 1, :, :] - x[..., t, :, :]
    return out


@pytest.mark.parametrize("shape", [(3, 7, 25, 2), (4, 3, 7, 25, 2)])
def test_bone_stream_matches_loop(shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(bone_stream(x), bone_loop(x))
    assert bone_stream(x).shape == x.shape


@pytest.mark.parametrize("shape", [(3, 7, 25, 2), (4, 3, 7, 25, 2)])
def test_motion_stream_matches_loop(shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    out = motion_stream(x)
    torch.testing.assert_close(out, motion_loop(x))
    assert (out[..., -1, :, :] == 0).all()


def test_bone_of_centre_is_zero_and_every_other_bone_is_not():
    x = torch.randn(3, 5, 25, 2)
    bones = bone_stream(x)
    centre = SkeletonGraph().center
    assert (bones[:, :, centre] == 0).all()
    assert (bones[:, :, [v for v in range(25) if v != centre]].abs().sum((0, 1, 3)) > 0).all()


def test_numpy_in_numpy_out_and_input_untouched():
    x = np.random.default_rng(0).normal(size=(3, 6, 25, 1)).astype(np.float32)
    before = x.copy()
    bones, motion = bone_stream(x), motion_stream(x)
    assert isinstance(bones, np.ndarray) and isinstance(motion, np.ndarray)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(bones, bone_loop(torch.from_numpy(x)).numpy())
    np.testing.assert_allclose(motion, motion_loop(torch.from_numpy(x)).numpy())


def test_bone_motion_is_motion_of_bones():
    x = torch.randn(2, 3, 6, 25, 2)
    torch.testing.assert_close(motion_stream(bone_stream(x)), bone_stream(motion_stream(x)))


def test_custom_parent_list():
    x = torch.arange(3 * 2 * 3 * 1, dtype=torch.float32).reshape(3, 2, 3, 1)
    out = bone_stream(x, parent=(0, 0, 1))
    torch.testing.assert_close(out[:, :, 2], x[:, :, 2] - x[:, :, 1])


@pytest.mark.parametrize(
    ("fn", "x", "match"),
    [
        (bone_stream, torch.randn(3, 5, 25), r"\(C, T, V, M\)"),
        (bone_stream, torch.randn(3, 5, 18, 2), "V=18 joints but the parent list has 25"),
        (motion_stream, torch.randn(2, 2, 3, 5, 25, 2), r"\(N, C, T, V, M\)"),
    ],
)
def test_bad_shapes_are_named(fn, x, match):
    with pytest.raises(ValueError, match=match):
        fn(x)
