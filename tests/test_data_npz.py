"""CTR-GCN's `.npz` layout: element-by-element layout, labels, errors, the crop-resize and the training feeder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stviz.data import bone_stream, crop_resize, load_npz
from stviz.data.npz import MAX_ROTATION, NpzDataset, random_rotation, rotation_matrix


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


def test_load_npz_offers_ctrgcn_test_inputs(tmp_path):
    """window=64 gives each sample exactly what CTR-GCN's feeder gives its model at test time."""
    g = torch.Generator().manual_seed(1)
    x = torch.zeros(3, 3, 300, 25, 2)
    lengths = [40, 100, 300]
    for i, n in enumerate(lengths):
        x[i, :, :n] = torch.randn(3, n, 25, 2, generator=g)
    write_npz(tmp_path / "ntu.npz", x, torch.tensor([2, 0, 1]), split="test")
    xs, ys = load_npz(tmp_path / "ntu.npz", "test", window=64)
    assert xs.shape == (3, 3, 64, 25, 2) and ys.tolist() == [2, 0, 1]
    for i in range(3):
        np.testing.assert_array_equal(xs[i].numpy(), crop_resize(x[i].numpy()))
    # 40 valid frames: int(0.05 * 40 / 2) = 1 cut at each end, 38 kept; output frame 0 samples input
    # 0.5 * 38 / 64 - 0.5 < 0, clamped to the first kept frame
    torch.testing.assert_close(xs[0, :, 0], x[0, :, 1], rtol=0, atol=0)
    raw, _ = load_npz(tmp_path / "ntu.npz", "test")
    assert raw.shape == (3, 3, 300, 25, 2)


def write_ramps(path, lengths, split="train", num_frames=120):
    """Clips whose every coordinate of frame t is t + 1 (plus a per-joint offset) over ``lengths`` valid frames.

    A crop-resized clip then shows which frames it came from: joint 0's coordinates at output frame t lie between
    its first and last source frames + 1. The other joints are offset in all three directions. The second body is
    absent (zeros), as for one actor.
    """
    x = torch.zeros(len(lengths), 3, num_frames, 25, 2)
    offsets = torch.randn(3, 1, 25, generator=torch.Generator().manual_seed(0))
    offsets[..., 0] = 0
    for i, n in enumerate(lengths):
        x[i, :, :n, :, 0] = torch.arange(1, n + 1, dtype=torch.float32)[None, :, None] + offsets
    write_npz(path, x, torch.arange(len(lengths)) % 5, split=split)
    return x


def test_npz_dataset_gives_clips_of_the_window_and_their_labels(tmp_path):
    write_ramps(tmp_path / "ntu.npz", [100, 80, 120])
    data = NpzDataset(tmp_path / "ntu.npz", "train", window=16, p_interval=(0.5, 1.0), seed=0)
    assert len(data) == 3 and data.labels.tolist() == [0, 1, 2]
    x, y = data[1]
    assert x.shape == (3, 16, 25, 2) and x.dtype == torch.float32 and y.dtype == torch.int64 and y.item() == 1
    assert not x[..., 1].any()  # the absent body stays absent
    torch.testing.assert_close(data[-1][0], data[2][0])
    with pytest.raises(IndexError):
        data[3]


def test_training_crops_are_drawn_anew_every_epoch_and_repeat_for_a_seed(tmp_path):
    write_ramps(tmp_path / "ntu.npz", [100, 80, 120])
    data = NpzDataset(tmp_path / "ntu.npz", "train", window=16, p_interval=(0.5, 1.0), seed=7)
    firsts = []
    for epoch in range(6):
        data.set_epoch(epoch)
        clip = data[2][0][0, :, 0, 0]  # x coordinate of joint 0: the source frame + 1, resized
        # a crop of at least max(0.5 x 120, 64) = 64 and at most 120 valid frames, stretched over 16 output frames
        assert 1 <= clip.min() and clip.max() <= 120 and clip.max() - clip.min() >= 64 * 15 / 16 - 1
        assert (clip.diff() > 0).all()  # in time order
        firsts.append(round(clip[0].item(), 4))
        assert torch.equal(data[2][0], data[2][0])  # the same item twice in an epoch
    assert len(set(firsts)) >= 4, firsts  # different crops from epoch to epoch
    again = NpzDataset(tmp_path / "ntu.npz", "train", window=16, p_interval=(0.5, 1.0), seed=7)
    again.set_epoch(5)
    torch.testing.assert_close(again[2][0], data[2][0], rtol=0, atol=0)  # the same for the same seed and epoch
    other = NpzDataset(tmp_path / "ntu.npz", "train", window=16, p_interval=(0.5, 1.0), seed=8)
    other.set_epoch(5)
    assert not torch.equal(other[2][0], data[2][0])


def test_test_time_clips_are_the_centre_crop_every_epoch(tmp_path):
    write_ramps(tmp_path / "ntu.npz", [100, 80, 120], split="test")
    data = NpzDataset(tmp_path / "ntu.npz", "test", window=16, p_interval=(0.95,), seed=3)
    expected, _ = load_npz(tmp_path / "ntu.npz", "test", window=16, p_interval=(0.95,))
    for epoch in (0, 1, 9):
        data.set_epoch(epoch)
        torch.testing.assert_close(torch.stack([data[i][0] for i in range(3)]), expected, rtol=0, atol=0)
    # 100 valid frames: int(0.05 * 100 / 2) = 2 cut at each end, so frames 3..98 (values) are kept
    assert expected[0, 0, 0, 0, 0] >= 3 and expected[0, 0, -1, 0, 0] <= 98


def test_rotation_turns_joints_and_keeps_bone_lengths(tmp_path):
    write_ramps(tmp_path / "ntu.npz", [100, 80, 120])
    plain = NpzDataset(tmp_path / "ntu.npz", "train", window=16, p_interval=(0.5, 1.0), seed=1)
    rotated = NpzDataset(tmp_path / "ntu.npz", "train", window=16, p_interval=(0.5, 1.0), rotate=True, seed=1)
    turns = []
    for epoch in (0, 1):
        plain.set_epoch(epoch)
        rotated.set_epoch(epoch)
        x, turned = plain[0][0], rotated[0][0]
        assert not torch.allclose(turned, x, atol=1e-3)
        # coordinates reach 100, so float32 rounding of the bone vectors is about 1e-5
        lengths = bone_stream(x[None]).norm(dim=1)
        torch.testing.assert_close(bone_stream(turned[None]).norm(dim=1), lengths, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(turned.norm(dim=0), x.norm(dim=0), rtol=1e-5, atol=1e-4)
        assert not turned[..., 1].any()  # zeros stay zeros
        # the rotation R with turned = R @ x, by least squares over all frames and joints
        turns.append(turned.reshape(3, -1).double() @ torch.linalg.pinv(x.reshape(3, -1).double()))
        torch.testing.assert_close(turns[-1] @ turns[-1].T, torch.eye(3, dtype=torch.float64), atol=1e-5, rtol=0)
    assert not torch.allclose(turns[0], turns[1], atol=1e-2)  # a new rotation every epoch


def test_rotation_matrix_is_a_rotation_within_the_angle_bound():
    rng = np.random.default_rng(0)
    for _ in range(20):
        angles = rng.uniform(-MAX_ROTATION, MAX_ROTATION, size=3)
        r = rotation_matrix(angles).astype(np.float64)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-6)
        assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-6)
        # three turns of at most 0.3 rad make one turn of at most 0.9 rad
        assert np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1)) <= 3 * MAX_ROTATION
    # about x by a: y' = y cos a + z sin a
    np.testing.assert_allclose(rotation_matrix([0.2, 0, 0]) @ [0, 1, 0], [0, np.cos(0.2), -np.sin(0.2)], atol=1e-7)
    with pytest.raises(ValueError, match=r"expects one clip \(3, T, V, M\), got \(2, 4, 25, 2\)"):
        random_rotation(np.zeros((2, 4, 25, 2)))


def test_npz_dataset_errors_name_what_was_expected(tmp_path):
    x = write_ramps(tmp_path / "ntu.npz", [10, 20])
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        NpzDataset(tmp_path / "ntu.npz", seed=-1)
    with pytest.raises(ValueError, match=r"p_interval must be \(p,\) or \(low, high\).*got \(1.0, 0.5\)"):
        NpzDataset(tmp_path / "ntu.npz", p_interval=(1.0, 0.5))
    with pytest.raises(ValueError, match=r"missing \['x_test', 'y_test'\]"):
        NpzDataset(tmp_path / "ntu.npz", "test")
    x[1] = 0
    write_npz(tmp_path / "empty.npz", x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"x_train\[1\] has no non-zero frame to crop"):
        NpzDataset(tmp_path / "empty.npz")[1]
