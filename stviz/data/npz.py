"""CTR-GCN's preprocessed ``.npz`` archives (``NTU60_CS.npz`` and friends), with its feeder's test-time transform."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from stviz.data.ctrgcn import crop_resize
from stviz.data.skeleton_file import NUM_JOINTS, check_count

__all__ = ["load_npz"]

_EXPECTED = "a .npz archive with x_<split> (N, T, 150) and one-hot y_<split> (N, num_class), as CTR-GCN writes it"


def _describe(head: bytes) -> str:
    """What a file's first bytes say it is."""
    if head.startswith(b"\x93NUMPY"):
        return "a single .npy array"
    if not head:
        return "an empty file"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return f"a binary file starting with {head[:8]!r}"
    return f"a text file starting with {head[:20].decode('utf-8')!r}"


def _read_arrays(path: Path, keys: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """The two arrays of ``keys`` from the archive, or a ``ValueError`` that names the file and what it holds."""
    with open(path, "rb") as file:
        head = file.read(64)
    if not head.startswith(b"PK"):
        raise ValueError(f"{path}: expected {_EXPECTED}, got {_describe(head)}")
    damaged = (ValueError, OSError, EOFError, zipfile.BadZipFile)
    try:
        data = np.load(path, allow_pickle=False)
    except damaged as exc:
        raise ValueError(
            f"{path}: expected {_EXPECTED}, got a zip archive that cannot be opened (truncated?): {exc}"
        ) from None
    with data:
        missing = [k for k in keys if k not in data.files]
        if missing:
            raise ValueError(f"{path}: expected arrays {list(keys)}, missing {missing}; found {sorted(data.files)}")
        try:
            return data[keys[0]], data[keys[1]]
        except damaged as exc:
            raise ValueError(f"{path}: expected {_EXPECTED}, got a damaged or truncated array: {exc}") from None


def load_npz(
    path: str | Path,
    split: Literal["train", "test"] = "train",
    window: int | None = None,
    p_interval: Sequence[float] = (0.95,),
    rng: np.random.Generator | int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load CTR-GCN's ``.npz`` layout: X float32 (N, 3, T, 25, 2), y int64 (N,).

    The file holds ``x_<split>`` (N, T, 150), each row (2 persons x 25 joints x 3 coordinates), and one-hot
    ``y_<split>`` (N, num_class). With ``window`` (CTR-GCN's test configuration: ``window=64``,
    ``p_interval=(0.95,)``) each sample goes through :func:`crop_resize`, so X is (N, 3, window, 25, 2): exactly the
    inputs CTR-GCN's checkpoints are evaluated on.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = Path(path)
    x, y = _read_arrays(path, (f"x_{split}", f"y_{split}"))
    if x.ndim != 3 or x.shape[2] != 2 * NUM_JOINTS * 3:
        raise ValueError(f"{path}: x_{split} must have shape (N, T, 150) = (N, T, 2 x 25 x 3), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{path}: x_{split} must hold floats, got dtype {x.dtype}")
    if y.ndim != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(f"{path}: y_{split} must be one-hot (N={x.shape[0]}, num_class), got {y.shape}")
    if not (np.isin(y, (0, 1)).all() and (y.sum(1) == 1).all()):
        raise ValueError(f"{path}: y_{split} rows must be one-hot (a single 1 per row)")
    n, t, _ = x.shape
    x = x.reshape(n, t, 2, NUM_JOINTS, 3).transpose(0, 4, 1, 3, 2)  # (N, C, T, V, M)
    if window is not None:
        rng = np.random.default_rng(rng)
        window = check_count(window, "window")
        crops = [crop_resize(sample, window, p_interval, rng) for sample in x]
        x = np.stack(crops) if n else np.zeros((0, 3, window, NUM_JOINTS, 2), np.float32)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(y.argmax(1).astype(np.int64))
