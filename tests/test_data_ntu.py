"""NTU RGB+D `.skeleton` reader/writer, preprocessing pipeline and CTR-GCN `.npz` loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stviz.data import (
    SkeletonBody,
    align_view,
    bodies_to_array,
    centre_on_joint,
    load_npz,
    make_action,
    preprocess_skeleton,
    read_skeleton_file,
    select_bodies,
    to_fixed_length,
    write_skeleton_file,
)
from stviz.data.synthetic import _rot

# One body line and one joint line as they appear in NTU's files.
BODY_LINE = "72057594037931101 0 1 1 1 1 0 0.02764709 0.05899339 2"
JOINT_LINE = (
    "0.2181153 0.1725972 3.785547 0.2821783 0.1910064 1025.812 534.6875 -0.2608186 0.0134025 0.9640719 -0.04557493 2"
)


def ntu_text(num_frames=2, joint_line=JOINT_LINE, joint_count="25"):
    lines = [str(num_frames)]
    for _ in range(num_frames):
        lines += ["1", BODY_LINE, joint_count] + [joint_line] * 25
    return "\n".join(lines) + "\n"


def test_reads_ntu_text_exactly(tmp_path):
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text(ntu_text())
    frames = read_skeleton_file(path)
    assert len(frames) == 2 and [len(f) for f in frames] == [1, 1]
    body = frames[0][0]
    assert body.body_id == 72057594037931101
    assert body.info == (0, 1, 1, 1, 1, 0, 0.02764709, 0.05899339, 2)
    assert body.joints.shape == (25, 12)
    np.testing.assert_allclose(body.xyz[3], [0.2181153, 0.1725972, 3.785547])
    assert body.joints[0, 5] == pytest.approx(1025.812)


def two_body_frames(num_frames=20, seed=0):
    """An actor who moves (wave) and a still bystander who leaves after 12 frames; frame 5 has no body."""
    actor = make_action(0, num_frames, rng=seed, num_bodies=1)[..., 0].transpose(1, 2, 0)  # (T, V, 3)
    still = make_action(0, 1, rng=seed + 1, num_bodies=1, noise_std=0.0)[:, 0, :, 0].T + [1.0, 0.0, 0.0]
    frames = []
    for t in range(num_frames):
        bodies = [] if t == 5 else [SkeletonBody(111, actor[t])]
        if t < 12 and t != 5:
            bodies.insert(0, SkeletonBody(222, still))  # the bystander comes first in the file
        frames.append(bodies)
    return frames, actor


def test_write_then_read_round_trip(tmp_path):
    frames, actor = two_body_frames()
    path = write_skeleton_file(tmp_path / "a.skeleton", frames)
    lines = path.read_text().splitlines()
    bodies = sum(len(f) for f in frames)
    assert lines[0] == "20" and len(lines) == 1 + 20 + bodies * 27
    assert len(lines[2].split()) == 10 and lines[3] == "25" and len(lines[4].split()) == 12
    back = read_skeleton_file(path)
    assert [[b.body_id for b in f] for f in back] == [[b.body_id for b in f] for f in frames]
    np.testing.assert_allclose(back[0][1].xyz, actor[0], atol=1e-6)
    assert back[0][1].joints[:, 11].tolist() == [2] * 25  # trackingState written as tracked


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
    x = preprocess_skeleton(path, num_frames=32)
    assert x.shape == (3, 32, 25, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0, 1, 0], 0.0, atol=1e-6)  # the actor's middle of spine is the origin
    np.testing.assert_allclose(preprocess_skeleton(frames, num_frames=32), x, atol=1e-5)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda lines: lines[:40], r"line 41: file ends early"),
        (lambda lines: lines[:3] + ["24"] + lines[4:], r"line 4: frame 0 body 0 has 24 joints, expected 25"),
        (lambda lines: lines[:10] + [JOINT_LINE.replace("1025.812", "abc")] + lines[11:], r"line 11: non-numeric"),
        (lambda lines: lines[:10] + [" ".join(JOINT_LINE.split()[:11])] + lines[11:], r"line 11: expected 12 field"),
        (lambda lines: ["two"] + lines[1:], r"line 1: non-numeric field in the frame count"),
        (lambda lines: lines[:2] + [BODY_LINE.replace("0.02764709", "x")] + lines[3:], r"line 3: non-numeric"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, mutate, match):
    path = tmp_path / "bad.skeleton"
    path.write_text("\n".join(mutate(ntu_text().splitlines())) + "\n")
    with pytest.raises(ValueError, match=match) as info:
        read_skeleton_file(path)
    assert "bad.skeleton" in str(info.value)


def write_npz(path, x, y, num_class=5, split="train"):
    """CTR-GCN's layout: x (N, T, 150) with persons, joints, coordinates in that order; one-hot y."""
    n, c, t, v, m = x.shape
    flat = x.permute(0, 2, 4, 3, 1).reshape(n, t, m * v * c).numpy()  # (N, T, M*V*C)
    np.savez(path, **{f"x_{split}": flat, f"y_{split}": np.eye(num_class)[y.numpy()]})


def test_load_npz_layout(tmp_path):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(4, 3, 6, 25, 2, generator=g), torch.tensor([0, 3, 4, 1])
    write_npz(tmp_path / "ntu.npz", x, y)
    raw = np.load(tmp_path / "ntu.npz")["x_train"]
    # element by element: row t holds person m, joint v, coordinate c at m*75 + v*3 + c
    assert raw[1, 2, 1 * 75 + 7 * 3 + 2] == x[1, 2, 2, 7, 1].item()
    xs, ys = load_npz(tmp_path / "ntu.npz", "train")
    assert xs.dtype == torch.float32 and ys.dtype == torch.int64
    torch.testing.assert_close(xs, x)
    assert ys.tolist() == [0, 3, 4, 1]


def test_load_npz_errors(tmp_path):
    x, y = torch.randn(2, 3, 4, 25, 2), torch.tensor([0, 1])
    write_npz(tmp_path / "a.npz", x, y)
    with pytest.raises(ValueError, match=r"missing \['x_test', 'y_test'\]"):
        load_npz(tmp_path / "a.npz", "test")
    np.savez(tmp_path / "b.npz", x_train=np.zeros((2, 4, 75)), y_train=np.eye(3)[[0, 1]])
    with pytest.raises(ValueError, match=r"\(N, T, 150\)"):
        load_npz(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", x_train=np.zeros((2, 4, 150)), y_train=np.eye(3)[[0, 1, 2]])
    with pytest.raises(ValueError, match="one-hot"):
        load_npz(tmp_path / "c.npz")
    np.savez(tmp_path / "d.npz", x_train=np.zeros((2, 4, 150)), y_train=np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="single 1 per row"):
        load_npz(tmp_path / "d.npz")
