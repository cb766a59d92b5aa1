"""CTR-GCN's preprocessed ``.npz`` archives (``NTU60_CS.npz`` and friends), and its feeder's transforms.

:func:`load_npz` reads one split as tensors, optionally crop-resized once. :class:`NpzDataset` is the feeder for
training: every time a sample is drawn it is cropped and resized again, and optionally rotated
(:func:`random_rotation`), from a random generator seeded by ``(seed, epoch, index)``, so an epoch's clips are the
same on every run and on every process of a distributed job, and differ from one epoch to the next.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from stviz.data.ctrgcn import check_p_interval, crop_resize
from stviz.data.skeleton_file import NUM_JOINTS, check_count

__all__ = ["load_npz", "NpzDataset", "random_rotation", "rotation_matrix"]

# CTR-GCN's training rotation: up to 0.3 radians about each axis.
MAX_ROTATION = 0.3

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
            got = "an array of Python objects" if "allow_pickle" in str(exc) else "a damaged or truncated array"
            raise ValueError(f"{path}: expected {_EXPECTED}, got {got}: {exc}") from None


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
    x, labels = _read_split(path, split)
    n = len(x)
    x = _as_nctvm(x)  # (N, C, T, V, M)
    if window is not None:
        rng = np.random.default_rng(rng)
        window = check_count(window, "window")
        crops = [crop_resize(sample, window, p_interval, rng) for sample in x]
        x = np.stack(crops) if n else np.zeros((0, 3, window, NUM_JOINTS, 2), np.float32)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), labels


def _read_split(path: str | Path, split: str) -> tuple[np.ndarray, torch.Tensor]:
    """One split, checked: x as stored (N, T, 150) and the labels, int64 (N,)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = Path(path)
    x, y = _read_arrays(path, (f"x_{split}", f"y_{split}"))
    if x.ndim != 3 or x.shape[2] != 2 * NUM_JOINTS * 3:
        raise ValueError(f"{path}: x_{split} must have shape (N, T, 150) = (N, T, 2 x 25 x 3), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{path}: x_{split} must hold floats, got dtype {x.dtype}")
    for start in range(0, len(x), 1024):  # in chunks: a full split is several GB
        finite = np.isfinite(x[start : start + 1024]).all((1, 2))
        if not finite.all():
            raise ValueError(f"{path}: x_{split} holds NaN or inf, first in sample {start + int(np.argmin(finite))}")
    if y.ndim != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(f"{path}: y_{split} must be one-hot (N={x.shape[0]}, num_class), got {y.shape}")
    if not (np.isin(y, (0, 1)).all() and (y.sum(1) == 1).all()):
        raise ValueError(f"{path}: y_{split} rows must be one-hot (a single 1 per row)")
    return x, torch.from_numpy(y.argmax(1).astype(np.int64))


def _as_nctvm(x: np.ndarray) -> np.ndarray:
    """CTR-GCN's stored layout (..., T, 150) (bodies, joints, xyz) -> (..., 3, T, 25, 2): a view, no copy."""
    x = x.reshape(*x.shape[:-1], 2, NUM_JOINTS, 3)  # (..., T, M, V, C)
    return np.moveaxis(x, (-1, -3), (-4, -1))  # (..., C, T, V, M)


def rotation_matrix(angles: Sequence[float]) -> np.ndarray:
    """float32 (3, 3): rotation by ``angles`` (a, b, c) radians about x, then y, then z, as CTR-GCN composes it.

    Each factor turns the coordinates (passive form): about x, ``y' = y cos a + z sin a`` and
    ``z' = z cos a - y sin a``; likewise about y (``x' = x cos b - z sin b``) and about z
    (``x' = x cos c + y sin c``). The product is ``R_z @ R_y @ R_x``.
    """
    a, b, c = (float(angle) for angle in angles)
    about_x = [[1, 0, 0], [0, np.cos(a), np.sin(a)], [0, -np.sin(a), np.cos(a)]]
    about_y = [[np.cos(b), 0, -np.sin(b)], [0, 1, 0], [np.sin(b), 0, np.cos(b)]]
    about_z = [[np.cos(c), np.sin(c), 0], [-np.sin(c), np.cos(c), 0], [0, 0, 1]]
    return (np.array(about_z) @ np.array(about_y) @ np.array(about_x)).astype(np.float32)


def random_rotation(
    x: np.ndarray, rng: np.random.Generator | int | None = None, max_angle: float = MAX_ROTATION
) -> np.ndarray:
    """CTR-GCN's training rotation of one clip (3, T, V, M): one random rotation for every frame and body.

    The three angles are drawn uniformly in ``[-max_angle, max_angle]`` (:func:`rotation_matrix`); lengths, and so
    bone lengths, do not change, and zero (padding) frames stay zero. Returns float32 (3, T, V, M).
    """
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.shape[0] != 3:
        raise ValueError(f"random_rotation expects one clip (3, T, V, M), got {getattr(x, 'shape', type(x).__name__)}")
    angles = np.random.default_rng(rng).uniform(-max_angle, max_angle, size=3)
    return np.einsum("dc,ctvm->dtvm", rotation_matrix(angles), x.astype(np.float32, copy=False))


class NpzDataset(Dataset):
    """One split of a CTR-GCN ``.npz`` archive as CTR-GCN's feeder gives it: item i is (X (3, window, 25, 2), y).

    Each item is cropped from the sample's valid frames and resized to ``window`` frames (:func:`crop_resize`):
    ``p_interval=(low, high)`` draws a random share of the frames at a random offset (CTR-GCN's training,
    ``(0.5, 1.0)``), ``(p,)`` keeps the centre share ``p`` (its test time, ``(0.95,)``: the same clip every time).
    ``rotate`` then applies :func:`random_rotation` (CTR-GCN's training). The random numbers of item i in epoch e
    come from ``numpy.random.default_rng((seed, e, i))``: call :meth:`set_epoch` at the start of every epoch, as
    with a ``DistributedSampler``. The archive is held in memory as stored, (N, T, 150); ``labels`` is int64 (N,).
    """

    def __init__(
        self,
        path: str | Path,
        split: Literal["train", "test"] = "train",
        window: int = 64,
        p_interval: Sequence[float] = (0.5, 1.0),
        rotate: bool = False,
        seed: int = 0,
    ):
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"NpzDataset: seed must be an integer >= 0, got {seed!r}")
        self.window = check_count(window, "window")
        self.p_interval = check_p_interval(p_interval)
        self.rotate, self.seed, self.epoch = bool(rotate), int(seed), 0
        self.path, self.split = Path(path), split
        self._x, self.labels = _read_split(self.path, split)

    def __len__(self) -> int:
        return len(self._x)

    def set_epoch(self, epoch: int) -> None:
        """Draw the crops and rotations of epoch ``epoch`` from now on."""
        if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 0:
            raise ValueError(f"NpzDataset.set_epoch: epoch must be an integer >= 0, got {epoch!r}")
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = range(len(self))[index]  # an IndexError out of range; negative indices count from the end
        rng = np.random.default_rng((self.seed, self.epoch, index))
        clip = _as_nctvm(self._x[index])  # (3, T, 25, 2)
        if not clip.any():
            raise ValueError(f"{self.path}: x_{self.split}[{index}] has no non-zero frame to crop; expected a clip")
        clip = crop_resize(clip, self.window, self.p_interval, rng)
        if self.rotate:
            clip = random_rotation(clip, rng)
        return torch.from_numpy(np.ascontiguousarray(clip)), self.labels[index]

    def fingerprint(self) -> str:
        """A hash of the data and of the transform's settings (a checkpoint is reused only for the same ones)."""
        digest = hashlib.sha1(repr((self._x.shape, self.window, self.p_interval, self.rotate, self.seed)).encode())
        digest.update(np.ascontiguousarray(self._x).tobytes())
        digest.update(self.labels.numpy().tobytes())
        return digest.hexdigest()
