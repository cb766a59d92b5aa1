"""The originals' NTU pipelines, step by step, on `.skeleton` files written here with hand-computed expectations.

Every body is a rigid stick figure (TEMPLATE, metres) placed in camera space, so each step's result can be worked out
by hand: which body is kept, which frames are zero, where the origin is, where a rotation puts a joint.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stviz.data import (
    SkeletonBody,
    crop_resize,
    ctrgcn_actors,
    preprocess_skeleton,
    read_skeleton_file,
    read_slots,
    slot_energy,
    valid_frame_count,
    write_skeleton_file,
)

TEMPLATE = np.zeros((25, 3))
TEMPLATE[[0, 1, 20, 2, 3]] = [[0, 0, 0], [0, 0.3, 0], [0, 0.5, 0], [0, 0.6, 0], [0, 0.75, 0]]  # spine and head
TEMPLATE[[4, 5, 6, 7, 21, 22]] = [[-0.2, 0.5, 0], [-0.25, 0.3, 0], [-0.25, 0.1, 0], [-0.25, 0.05, 0], [-0.25, 0, 0],
                                  [-0.22, 0.05, 0]]  # left arm  # fmt: skip
TEMPLATE[[12, 13, 14, 15]] = [[-0.1, 0, 0], [-0.1, -0.45, 0], [-0.1, -0.85, 0], [-0.1, -0.9, 0.1]]  # left leg
TEMPLATE[[8, 9, 10, 11, 23, 24]] = TEMPLATE[[4, 5, 6, 7, 21, 22]] * [-1, 1, 1]  # right arm: the mirror
TEMPLATE[[16, 17, 18, 19]] = TEMPLATE[[12, 13, 14, 15]] * [-1, 1, 1]  # right leg
CENTRED = TEMPLATE - TEMPLATE[1]  # the template with its middle of the spine at the origin


def spine_to_z(p):
    """Where 2s-AGCN's rotation puts p when hip->spine is along +y and the shoulders along x: (x, -z, y)."""
    p = np.asarray(p, dtype=np.float64)
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], -1)


def body(body_id, offset, shape=TEMPLATE):
    return SkeletonBody(body_id, shape + np.asarray(offset, dtype=np.float64))


def write(tmp_path, frames, name="S001C001P001R001A001.skeleton"):
    return write_skeleton_file(tmp_path / name, frames)


@pytest.fixture
def lead_trail(tmp_path):
    """One actor (id 7) in frames 3..16 of 20, walking +1 cm per frame along x; frames 0-2 and 17-19 are empty."""
    frames = [[] for _ in range(20)]
    for t in range(3, 17):
        frames[t] = [body(7, [0.5 + 0.01 * (t - 3), 0.2, 3.0])]
    return write(tmp_path, frames)


# --- ST-GCN ---------------------------------------------------------------------------------------------------------


def test_stgcn_keeps_frames_at_their_index_in_raw_camera_coordinates(lead_trail):
    x = preprocess_skeleton(lead_trail, pipeline="stgcn")
    assert x.shape == (3, 300, 25, 2) and x.dtype == np.float32
    assert (x[:, :3] == 0).all() and (x[:, 17:] == 0).all()  # leading and trailing empty frames stay empty
    assert (x[..., 1] == 0).all()  # no second body
    np.testing.assert_allclose(x[:, 3, 1, 0], [0.5, 0.5, 3.0], atol=1e-6)  # no centring: raw middle of the spine
    np.testing.assert_allclose(x[:, 16, 1, 0], [0.63, 0.5, 3.0], atol=1e-6)


@pytest.fixture
def crowd(tmp_path):
    """40 frames: actor A (id 1) walks; B is id 2 in frames 0-19 and id 3 in 20-39 (an id switch); a short body S
    (id 4, frames 5-10) and a wide still object O (id 5). From frame 20 the file lists B before A."""
    frames = []
    obj = np.zeros((25, 3))
    obj[:, 0] = np.linspace(-0.6, 0.6, 25)
    obj[:, 1] = np.arange(25) % 2 * 0.1  # 1.2 m wide, 0.1 m high
    for t in range(40):
        a, b = body(1, [-0.5 + 0.02 * t, 0.2, 3.0]), body(2 if t < 20 else 3, [0.8 + 0.005 * t, 0.2, 3.5])
        listed = [a, b] if t < 20 else [b, a]
        if 5 <= t <= 10:
            listed.append(body(4, [-1.0, 0.0, 2.5], TEMPLATE * 0.5))
        listed.append(body(5, [0.0, -0.9, 2.8], obj))
        frames.append(listed)
    return write(tmp_path, frames)


def test_stgcn_fills_slots_in_list_order_not_by_id(crowd):
    x = preprocess_skeleton(crowd, pipeline="stgcn")
    # slot 0 is A until frame 19, then B (listed first from frame 20); slot 1 the other way round
    np.testing.assert_allclose(x[:, 0, 1, 0], [-0.5, 0.5, 3.0], atol=1e-6)
    np.testing.assert_allclose(x[:, 25, 1, 0], [0.8 + 0.125, 0.5, 3.5], atol=1e-6)
    np.testing.assert_allclose(x[:, 0, 1, 1], [0.8, 0.5, 3.5], atol=1e-6)
    np.testing.assert_allclose(x[:, 25, 1, 1], [-0.5 + 0.5, 0.5, 3.0], atol=1e-6)
    assert (x[:, 40:] == 0).all()


# --- 2s-AGCN (MS-G3D, Shift-GCN) -----------------------------------------------------------------------------------


def test_agcn_packs_repeats_centres_per_frame_and_turns_the_spine_onto_z(lead_trail):
    x = preprocess_skeleton(lead_trail, pipeline="2s-agcn")
    assert x.shape == (3, 300, 25, 2) and x.dtype == np.float32
    assert (x[..., 1] == 0).all()
    assert (np.abs(x[..., 0]).sum((0, 2)) > 0).all()  # no empty frame: packed to the front, then repeated
    np.testing.assert_allclose(x[:, :, 1, 0], 0.0, atol=1e-6)  # every frame centred on its own middle of the spine
    # the walk is gone (per-frame centring) and the figure stands on z: (x, y, z) -> (x, -z, y)
    expected = spine_to_z(CENTRED)  # (25, 3)
    np.testing.assert_allclose(x[:, 123, :, 0].T, expected, atol=1e-6)
    np.testing.assert_allclose(x[:, 0, 3, 0], [0, 0, 0.45], atol=1e-6)  # head straight above
    np.testing.assert_allclose(x[:, 0, 4, 0], [-0.2, 0, 0.2], atol=1e-6)  # left shoulder
    np.testing.assert_allclose(x[:, 0, 15, 0], [-0.1, -0.1, -1.2], atol=1e-6)  # left foot, its toe towards -y


def test_agcn_repeats_the_clip_from_its_start(tmp_path):
    """A body only in frames 0-13 with a distinct pose per frame: frame t of the 300 shows pose t mod 14."""
    frames = []
    for t in range(14):
        shape = TEMPLATE.copy()
        shape[7] += [0, 0.01 * t, 0]  # the left hand rises 1 cm per frame
        frames.append([body(1, [0.3, 0.2, 3.0], shape)])
    x = preprocess_skeleton(write(tmp_path, frames), pipeline="2s-agcn")
    hand_height = x[2, :, 7, 0]  # z after the rotation is the old y
    for t in (0, 13, 14, 27, 299):
        assert hand_height[t] == pytest.approx(-0.25 + 0.01 * (t % 14), abs=1e-6)


def test_agcn_second_body_is_packed_and_centred_on_the_main_body(tmp_path):
    """A (id 1) walks in frames 0-29; B (id 2) stands still in frames 10-19."""
    frames = []
    for t in range(30):
        frames.append([body(1, [0.01 * t, 0.2, 3.0])] + ([body(2, [1.0, 0.2, 3.5])] if 10 <= t < 20 else []))
    x = preprocess_skeleton(write(tmp_path, frames), pipeline="2s-agcn")
    # B's 10 frames move to 0-9 and repeat; each frame k is centred on A's frame k mod 30
    for k in (0, 9, 35, 299):
        b_minus_a = [1.0 - 0.01 * (k % 30), 0.0, 0.5]
        np.testing.assert_allclose(x[:, k, 1, 1], spine_to_z(b_minus_a), atol=1e-6)


def test_agcn_keeps_the_two_most_energetic_slots_even_a_wide_object(tmp_path):
    """Slots per frame: a 3 m wide plank O, actor A, a half-size actor B. Energy is a spread of positions, not
    motion, so the plank wins and becomes body 0, the body everything is centred on."""
    plank = np.zeros((25, 3))
    plank[:, 0] = np.linspace(-1.5, 1.5, 25)
    plank[0], plank[1] = [0, 0, 0], [0, 0.2, 0]  # its "hip -> spine" is along +y, its "shoulders" (4, 8) along +x
    energies = [slot_energy(p[None]) for p in (plank, TEMPLATE, TEMPLATE * 0.5)]
    assert energies[0] > energies[1] > energies[2]  # the premise: O > A > B
    frames = [[body(9, [0, -0.5, 3.2], plank), body(1, [0.01 * t, 0.2, 3.0]), body(2, [1, 0.1, 3.5], TEMPLATE * 0.5)]
              for t in range(20)]  # fmt: skip
    x = preprocess_skeleton(write(tmp_path, frames), pipeline="2s-agcn")
    np.testing.assert_allclose(x[:, 0, :, 0].T, spine_to_z(plank - plank[1]), atol=1e-6)  # body 0: the plank
    a_minus_plank = TEMPLATE[1] + [0.05, 0.2, 3.0] - (plank[1] + [0, -0.5, 3.2])  # A at frame 5
    np.testing.assert_allclose(x[:, 5, 1, 1], spine_to_z(a_minus_plank), atol=1e-6)  # body 1: A; B is dropped


def test_agcn_follows_slots_through_an_id_switch(crowd):
    """Slots 0 and 1 (the two actors, in list order) outweigh slot 2 (mostly the object) and slot 3 (object and short
    body): body 0 is A until frame 19 and B from frame 20, where the file lists B first; each frame is centred on it."""
    slots = read_slots(read_skeleton_file(crowd), 4, 300, np.float64)
    energies = [slot_energy(body) for body in slots]
    assert energies[0] > energies[1] > energies[2] > energies[3]
    x = preprocess_skeleton(crowd, pipeline="2s-agcn")
    np.testing.assert_allclose(x[:, :40, 1, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(x[:, 0, 1, 1], spine_to_z([1.3, 0, 0.5]), atol=1e-6)  # B minus A
    np.testing.assert_allclose(x[:, 25, 1, 1], spine_to_z([-0.925, 0, -0.5]), atol=1e-6)  # A minus B
    np.testing.assert_allclose(x[:, 40:80], x[:, :40], atol=1e-6)  # then the 40 frames repeat


def test_teaching_pipeline_tracks_ids_and_does_not_join_a_switch(crowd):
    """By id, A (walking) and id 2 move most; id 3, the same person after the switch, is left out."""
    x = preprocess_skeleton(crowd, pipeline="teaching", num_frames=40, mode="zeros", align=False)
    np.testing.assert_allclose(x[:, 0, :, 0].T, CENTRED, atol=1e-6)
    assert (np.abs(x[:, :20, :, 1]).sum((0, 2)) > 0).all() and (x[:, 20:, :, 1] == 0).all()


def test_agcn_second_rotation_turns_the_shoulders_onto_x(tmp_path):
    """The actor faces 45 degrees away from the camera: after both rotations the figure is back to (x, -z, y)."""
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
    yaw = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    frames = [[body(1, [0.2, 0.1, 3.0], TEMPLATE @ yaw.T)] for _ in range(5)]
    x = preprocess_skeleton(write(tmp_path, frames), pipeline="2s-agcn")
    np.testing.assert_allclose(x[:, 2, :, 0].T, spine_to_z(CENTRED), atol=1e-6)
    np.testing.assert_allclose(x[:, 0, 8, 0] - x[:, 0, 4, 0], [0.4, 0, 0], atol=1e-6)  # left -> right shoulder on +x


def test_agcn_does_not_turn_a_subject_seen_from_behind(tmp_path):
    """Shoulders exactly opposite to +x: the cross product is zero, so the original applies no second rotation."""
    behind = TEMPLATE * [-1, 1, -1]  # turned 180 degrees about the vertical
    frames = [[body(1, [0.0, 0.2, 3.0], behind)] for _ in range(5)]
    x = preprocess_skeleton(write(tmp_path, frames), pipeline="2s-agcn")
    np.testing.assert_allclose(x[:, 0, 4, 0], [0.2, 0, 0.2], atol=1e-6)  # left shoulder stays on +x
    np.testing.assert_allclose(x[:, 0, 8, 0] - x[:, 0, 4, 0], [-0.4, 0, 0], atol=1e-6)


def test_efficientgcn_raw_selects_by_energy_without_normalising(tmp_path):
    plank = np.zeros((25, 3))
    plank[:, 0] = np.linspace(-1.5, 1.5, 25)
    frames = [[body(2, [1, 0.1, 3.5], TEMPLATE * 0.5), body(1, [0, 0.2, 3.0]), body(9, [0, -0.5, 3.2], plank)]
              for _ in range(6)]  # fmt: skip
    x = preprocess_skeleton(write(tmp_path, frames), pipeline="efficientgcn-raw")
    np.testing.assert_allclose(x[:, 0, :, 0].T, plank + [0, -0.5, 3.2], atol=1e-6)  # the plank, raw
    np.testing.assert_allclose(x[:, 0, 1, 1], [0, 0.5, 3.0], atol=1e-6)  # then the actor; the half-size body dropped
    assert (x[:, 6:] == 0).all()


# --- CTR-GCN --------------------------------------------------------------------------------------------------------


def test_ctrgcn_drops_empty_frames_and_centres_once(lead_trail):
    x = preprocess_skeleton(lead_trail, pipeline="ctrgcn")
    assert x.shape == (3, 300, 25, 2) and x.dtype == np.float32
    assert valid_frame_count(x) == 14 and (x[:, 14:] == 0).all() and (x[..., 1] == 0).all()
    # one origin: the first frame's middle of the spine (0.5, 0.5, 3.0); the walk stays; no rotation
    np.testing.assert_allclose(x[:, 0, :, 0].T, CENTRED, atol=1e-6)
    np.testing.assert_allclose(x[:, 13, 1, 0], [0.13, 0, 0], atol=1e-6)


def test_ctrgcn_denoises_and_joins_an_id_switch_into_one_actor(crowd):
    joints, placed = ctrgcn_actors(read_skeleton_file(crowd))
    assert placed[0] == 1 and sorted(placed[1:]) == [2, 3]  # S (too short) and O (too wide) are gone
    assert joints.shape == (40, 150)
    x = preprocess_skeleton(crowd, pipeline="ctrgcn")
    assert valid_frame_count(x) == 40
    np.testing.assert_allclose(x[:, 0, :, 0].T, CENTRED, atol=1e-6)  # A's first frame is the origin
    np.testing.assert_allclose(x[:, 30, 1, 0], [0.6, 0, 0], atol=1e-6)  # A walked 2 cm per frame
    # B, ids 2 then 3, is actor 2 throughout, relative to the same origin (-0.5, 0.5, 3.0)
    np.testing.assert_allclose(x[:, 0, 1, 1], [1.3, 0, 0.5], atol=1e-6)
    np.testing.assert_allclose(x[:, 30, 1, 1], [1.3 + 0.15, 0, 0.5], atol=1e-6)


def test_ctrgcn_a_returning_id_is_stored_without_its_gap(tmp_path):
    """A (id 1) is in frames 0-9 and 15-29; only the short body S (id 4) is in 10-14. S is dropped (5 frames), A's 25
    appearances are stored as frames 0-24, and the 5 frames where both actors are now zero are removed."""
    frames = []
    for t in range(30):
        frames.append([body(4, [1, 0, 3], TEMPLATE * 0.5)] if 10 <= t < 15 else [body(1, [0.01 * t, 0.2, 3.0])])
    x = preprocess_skeleton(write(tmp_path, frames), pipeline="ctrgcn")
    assert valid_frame_count(x) == 25 and (x[:, 25:] == 0).all() and (x[..., 1] == 0).all()
    np.testing.assert_allclose(x[:, 9, 1, 0], [0.09, 0, 0], atol=1e-6)
    np.testing.assert_allclose(x[:, 10, 1, 0], [0.15, 0, 0], atol=1e-6)  # frame 15 of the file


def test_ctrgcn_keeps_a_short_body_when_it_is_the_only_id(tmp_path):
    frames = [[body(3, [0.1 * t, 0.2, 3.0])] for t in range(5)]
    x = preprocess_skeleton(write(tmp_path, frames), pipeline="ctrgcn")
    assert valid_frame_count(x) == 5
    np.testing.assert_allclose(x[:, 4, 1, 0], [0.4, 0, 0], atol=1e-6)


def test_ctrgcn_motion_ignores_noisy_frames(tmp_path):
    """C jumps around wildly but is wide in 6 of its 20 frames (30% < 69.754%): its motion is then measured on its
    clean frames only, where it stands still, so the gently walking A becomes actor 1."""
    frames = []
    for t in range(20):
        wide = TEMPLATE * [8, 0.2, 1] if t % 10 < 3 else TEMPLATE
        frames.append([body(5, [0, 0.2, 3.5], wide), body(1, [0.01 * t, 0.2, 3.0])])
    joints, placed = ctrgcn_actors(read_skeleton_file(write(tmp_path, frames)))
    assert placed == [1, 5]
    np.testing.assert_allclose(joints[0, 3:6], TEMPLATE[1] + [0, 0.2, 3.0], atol=1e-6)


def test_ctrgcn_intervals_touching_at_one_frame_do_not_overlap(tmp_path):
    """X (id 1) in frames 0-20, Y (id 2) in frames 20-39, both in frame 20: a one-frame overlap counts as none, so Y
    joins X's slot and overwrites frame 20. The second slot stays empty."""
    frames = []
    for t in range(40):
        frames.append(
            ([body(1, [0.02 * t, 0.2, 3.0])] if t <= 20 else []) + ([body(2, [2, 0.2, 3.0])] if t >= 20 else [])
        )
    x = preprocess_skeleton(write(tmp_path, frames), pipeline="ctrgcn")
    assert (x[..., 1] == 0).all() and valid_frame_count(x) == 40
    np.testing.assert_allclose(x[:, 19, 1, 0], [0.38, 0, 0], atol=1e-6)
    np.testing.assert_allclose(x[:, 20, 1, 0], [2.0, 0, 0], atol=1e-6)  # Y, not X


# --- crop_resize ----------------------------------------------------------------------------------------------------


def test_crop_resize_test_time_centre_crop_and_bilinear_resize(lead_trail):
    x = preprocess_skeleton(lead_trail, pipeline="ctrgcn")  # 14 valid frames, joint 1 walks 0.00 .. 0.13 in x
    out = crop_resize(x)
    assert out.shape == (3, 64, 25, 2) and out.dtype == np.float32
    # int(0.05 * 14 / 2) = 0 frames cut; output frame i samples input (i + 0.5) * 14 / 64 - 0.5, clamped to [0, 13]
    assert out[0, 0, 1, 0] == pytest.approx(0.0, abs=1e-7)
    assert out[0, 32, 1, 0] == pytest.approx(0.01 * 6.609375, abs=1e-7)
    assert out[0, 63, 1, 0] == pytest.approx(0.13, abs=1e-7)
    half = crop_resize(x, p_interval=(0.5,))  # int(0.5 * 14 / 2) = 3 cut at each end: frames 3..10
    assert half[0, 0, 1, 0] == pytest.approx(0.03, abs=1e-7) and half[0, 63, 1, 0] == pytest.approx(0.10, abs=1e-7)
    reference = F.interpolate(torch.from_numpy(x[:, :14]).permute(0, 2, 3, 1).reshape(1, 1, 150, 14), size=(150, 64),
                              mode="bilinear", align_corners=False)  # fmt: skip
    np.testing.assert_array_equal(out, reference.reshape(3, 25, 2, 64).permute(0, 3, 1, 2).numpy())


def test_crop_resize_training_draws_length_and_offset(lead_trail):
    x = preprocess_skeleton(lead_trail, pipeline="ctrgcn")
    a = crop_resize(x, p_interval=(0.5, 1.0), rng=3)
    np.testing.assert_array_equal(a, crop_resize(x, p_interval=(0.5, 1.0), rng=3))  # seeded
    # with 14 valid frames, the floor of 64 frames caps the crop at all 14: nothing is random but the draw itself
    np.testing.assert_allclose(a, crop_resize(x), atol=1e-7)
    long = np.zeros((3, 300, 25, 2), np.float32)
    long[0, :200] = np.arange(200)[:, None, None] + 1.0
    starts = {
        float(crop_resize(long, window=8, p_interval=(0.5, 0.6), rng=s, min_length=10)[0, 0, 0, 0]) for s in range(8)
    }
    assert len(starts) > 1  # a random offset
    for seed in range(8):
        out = crop_resize(long, window=100, p_interval=(0.5, 0.5), rng=seed, min_length=10)
        # p = 0.5 keeps 100 of the 200 valid frames; resizing 100 frames to 100 is the identity
        first = out[0, 0, 0, 0]
        np.testing.assert_allclose(out[0, :, 0, 0], first + np.arange(100), atol=1e-4)
        assert 1 <= first <= 101


def test_crop_resize_keeps_the_input_type_contract(lead_trail):
    x = preprocess_skeleton(lead_trail, pipeline="ctrgcn")
    np.testing.assert_array_equal(crop_resize(torch.from_numpy(x)), crop_resize(x))


def test_pipelines_share_the_teaching_variant_only_by_name(lead_trail):
    teaching = preprocess_skeleton(lead_trail, pipeline="teaching", num_frames=32)
    assert teaching.shape == (3, 32, 25, 2)
    for name in ("stgcn", "2s-agcn", "ctrgcn"):
        assert not np.allclose(preprocess_skeleton(lead_trail, pipeline=name)[:, :32], teaching)
