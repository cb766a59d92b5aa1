"""stviz's teaching pipeline, step by step (bodies by id, motion selection, one origin, view alignment, length)."""

from __future__ import annotations

import numpy as np
import pytest
from test_data_skeleton_file import two_body_frames

from stviz.data import (
    align_view,
    bodies_to_array,
    centre_on_joint,
    make_action,
    preprocess_skeleton,
    select_bodies,
    to_fixed_length,
    write_skeleton_file,
)
from stviz.data.synthetic import _rot


def test_bodies_to_array_orders_by_first_appearance(tmp_path):
    frames, actor = two_body_frames()
    xyz, ids = bodies_to_array(frames)
    assert ids == [222, 111] and xyz.shape == (2, 20, 25, 3)
    assert (xyz[0, 12:] == 0).all() and (xyz[:, 5] == 0).all()
    np.testing.assert_allclose(xyz[1, 6], actor[6])


def test_select_bodies_puts_the_moving_body_first():
    frames, actor = two_body_frames()
    xyz, _ = bodies_to_array(frames)
    chosen = select_bodies(xyz, 2)
    np.testing.assert_array_equal(chosen[0], xyz[1])  # the actor moves most
    np.testing.assert_array_equal(chosen[1], xyz[0])
    one = select_bodies(xyz, 1)
    assert one.shape == (1, 20, 25, 3)
    padded = select_bodies(xyz[:1], 3)
    assert padded.shape == (3, 20, 25, 3) and (padded[1:] == 0).all()


def test_centre_on_middle_of_spine_keeps_absent_frames_zero():
    frames, _ = two_body_frames()
    x = select_bodies(bodies_to_array(frames)[0], 2)
    centred = centre_on_joint(x)
    np.testing.assert_allclose(centred[0, 0, 1], 0.0, atol=1e-12)
    assert (centred[:, 5] == 0).all() and (centred[1, 12:] == 0).all()
    np.testing.assert_allclose(centred[0, 3] - centred[0, 0], x[0, 3] - x[0, 0])  # translation kept


def test_align_view_undoes_a_camera_rotation():
    body = make_action(0, 8, rng=3, num_bodies=1, view_range_deg=0.0, noise_std=0.0)[..., 0].transpose(1, 2, 0)
    rotation = _rot("y", np.array(1.1)) @ _rot("x", np.array(0.3)) @ _rot("z", np.array(-0.2))
    camera = body @ rotation.T + [0.4, 0.8, 3.0]  # as Kinect would see it, 3 m away
    out = align_view(centre_on_joint(camera[None]))[0]
    expected = body - body[0, 1]
    np.testing.assert_allclose(out, expected, atol=1e-6)
    up, across = out[0, 1] - out[0, 0], out[0, 4] - out[0, 8]
    assert up[0] == pytest.approx(0, abs=1e-9) and up[2] == pytest.approx(0, abs=1e-9) and up[1] > 0
    assert across[1] == pytest.approx(0, abs=0.05) and across[0] > 0


def test_to_fixed_length_modes():
    x = np.zeros((2, 6, 25, 3))
    x[0, :4] = np.arange(4)[:, None, None] + 1.0  # 4 valid frames, 2 empty ones at the end
    rep = to_fixed_length(x, 10, "repeat")
    assert rep.shape == (2, 10, 25, 3)
    assert rep[0, :, 0, 0].tolist() == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2]
    zer = to_fixed_length(x, 6, "zeros")
    assert zer[0, :, 0, 0].tolist() == [1, 2, 3, 4, 0, 0]
    res = to_fixed_length(x, 7, "resample")
    np.testing.assert_allclose(res[0, :, 0, 0], np.linspace(1, 4, 7))
    assert to_fixed_length(x, 3, "repeat")[0, :, 0, 0].tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="mode must be"):
        to_fixed_length(x, 5, "stretch")


def test_preprocess_skeleton_end_to_end(tmp_path):
    frames, _ = two_body_frames()
    path = write_skeleton_file(tmp_path / "S001C002P003R001A023.skeleton", frames)
    x = preprocess_skeleton(path, pipeline="teaching", num_frames=32)
    assert x.shape == (3, 32, 25, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0, 1, 0], 0.0, atol=1e-6)  # the actor's middle of spine is the origin
    np.testing.assert_allclose(preprocess_skeleton(frames, pipeline="teaching", num_frames=32), x, atol=1e-5)
