"""CTR-GCN's `.npz` layout: element-by-element layout, labels, errors, and the test-time crop-resize."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stviz.data import crop_resize, load_npz


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
