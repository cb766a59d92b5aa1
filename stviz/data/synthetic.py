"""Synthetic skeleton actions in the NTU-25 layout, made by forward kinematics.

Each action rotates a few bones of the rest pose (:attr:`stviz.graph.NTU_RGBD.rest_pose`) over time; positions
follow by forward kinematics from the base of the spine. Coordinates keep the rest-pose convention: metres, x
towards the subject's left, y up, z towards the camera. A random view rotation about the vertical axis,
speed, amplitude, phase, body size, position and Gaussian joint noise make every sample different.

The classes come in pairs that a model can only separate with both axes:

* left/right pairs (``wave left hand``/``wave right hand``, ``kick left leg``/``kick right leg``): the right
  action is the exact left/right mirror of the left one, so a model blind to sides confuses them;
* time-reversed pairs (``arm circle forward``/``backward``, ``sit down``/``stand up``, ``raise both hands``/
  ``lower both hands``): the second is the first played backwards, with the same distribution of poses, so a
  model that pools over time before modelling it confuses them.

Arrays are ``(3, T, 25, M)`` per sample and ``(N, 3, T, 25, M)`` for a dataset, as NTU feeders give them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import networkx as nx
import numpy as np
import torch

from stviz.graph import NTU_RGBD, SkeletonGraph

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
]

ACTION_CLASSES: tuple[str, ...] = (
    "wave left hand",
    "wave right hand",
    "kick left leg",
    "kick right leg",
    "arm circle forward",
    "arm circle backward",
    "sit down",
    "stand up",
    "raise both hands",
    "lower both hands",
    "clap",
    "bow",
)
LEFT_RIGHT_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (2, 3))
TIME_REVERSED_PAIRS: tuple[tuple[int, int], ...] = ((4, 5), (6, 7), (8, 9))

SecondBody = Literal["zeros", "bystander"]

# ----------------------------------------------------------------------------
# Skeleton facts used by the kinematics.
# ----------------------------------------------------------------------------
_J = {name: i for i, name in enumerate(NTU_RGBD.joint_names)}
_REST = np.asarray(NTU_RGBD.rest_pose, dtype=np.float64)  # (V, 3)
_ROOT = _J["base of spine"]


def _kinematic_tree() -> tuple[list[int], np.ndarray]:
    """Joints in breadth-first order from the base of the spine, and each joint's parent in that tree."""
    tree = SkeletonGraph(NTU_RGBD).nx_graph
    order = [_ROOT] + [child for _, child in nx.bfs_edges(tree, _ROOT)]
    parent = np.arange(len(order))
    for par, child in nx.bfs_edges(tree, _ROOT):
        parent[child] = par
    return order, parent


_ORDER, _FK_PARENT = _kinematic_tree()
_OFFSET = _REST - _REST[_FK_PARENT]  # (V, 3): bone vector parent -> joint in the rest pose
_THIGH = float(np.linalg.norm(_OFFSET[_J["left knee"]]))


def mirror_permutation(layout=NTU_RGBD) -> tuple[int, ...]:
    """Index of each joint's left/right counterpart (joints without a side map to themselves)."""
    names = layout.joint_names
    lookup = {n: i for i, n in enumerate(names)}
    swap = {"left": "right", "right": "left"}
    perm = []
    for name in names:
        words = name.split(" ")
        perm.append(lookup[" ".join(swap.get(w, w) for w in words)])
    return tuple(perm)


_MIRROR = list(mirror_permutation())


def mirror_left_right(x: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Reflect skeletons through the body's mid-plane: swap left and right joints and negate x.

    ``x``: (C, T, V, M) or (N, C, T, V, M) with C >= 1 and x in channel 0. Same type and shape out.
    """
    if x.ndim not in (4, 5) or x.shape[-2] != len(_MIRROR):
        raise ValueError(
            f"mirror_left_right expects (C, T, V, M) or (N, C, T, V, M) with V={len(_MIRROR)}, "
            f"got shape {tuple(x.shape)}"
        )
    out = x[..., _MIRROR, :]
    sign = [-1.0] + [1.0] * (x.shape[-4] - 1)
    sign = torch.tensor(sign, dtype=x.dtype) if isinstance(x, torch.Tensor) else np.asarray(sign, dtype=x.dtype)
    return out * sign.reshape(-1, 1, 1, 1)


# ----------------------------------------------------------------------------
# Rotations and forward kinematics, vectorised over (n, T).
# ----------------------------------------------------------------------------


def _rot(axis: str, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) about the x, y or z axis by ``angle`` radians (right-handed)."""
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    rows = {
        "x": ((one, zero, zero), (zero, c, -s), (zero, s, c)),
        "y": ((c, zero, s), (zero, one, zero), (-s, zero, c)),
        "z": ((c, -s, zero), (s, c, zero), (zero, zero, one)),
    }[axis]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def forward_kinematics(local: dict[int, np.ndarray], root_shift: np.ndarray) -> np.ndarray:
    """Joint positions (n, T, V, 3) from bone rotations.

    ``local[v]`` (n, T, 3, 3) rotates the bone from v's parent to v (and everything below it) in the parent's
    frame; bones not in ``local`` keep their rest direction. ``root_shift`` (n, T, 3) moves the base of the spine.
    """
    n, t = root_shift.shape[:2]
    eye = np.broadcast_to(np.eye(3), (n, t, 3, 3))
    glob = [None] * len(_ORDER)
    pos = np.empty((n, t, len(_ORDER), 3))
    glob[_ROOT] = local.get(_ROOT, eye)
    pos[:, :, _ROOT] = _REST[_ROOT] + root_shift
    for v in _ORDER[1:]:
        p = _FK_PARENT[v]
        glob[v] = glob[p] @ local[v] if v in local else glob[p]
        pos[:, :, v] = pos[:, :, p] + glob[v] @ _OFFSET[v]
    return pos


# ----------------------------------------------------------------------------
# Motions: each returns (local rotations, root shift) for n samples of T frames.
# ----------------------------------------------------------------------------


def _bump(t: np.ndarray, start: np.ndarray, width: np.ndarray) -> np.ndarray:
    """sin^2 pulse from 0 up to 1 and back inside [start, start + width]; (n, T)."""
    u = np.clip((t - start) / width, 0.0, 1.0)
    return np.sin(np.pi * u) ** 2


def _ramp(t: np.ndarray, start: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Smoothstep from 0 to 1 inside [start, start + width]; (n, T)."""
    u = np.clip((t - start) / width, 0.0, 1.0)
    return u * u * (3 - 2 * u)


def _window(rng: np.random.Generator, n: int, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Random (start, width) whose centre is uniform in [0.35, 0.65]: the same distribution played backwards."""
    width = rng.uniform(low, high, (n, 1))
    centre = rng.uniform(0.35, 0.65, (n, 1))
    return centre - width / 2, width


def _wave_left(t, rng, amp, speed):
    n = t.shape[0]
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    swing = np.radians(30 + 35 * np.sin(2 * np.pi * 3 * speed * t + phase))
    raised = np.broadcast_to(np.radians(140) * amp, t.shape)  # upper arm out and up
    return {_J["left elbow"]: _rot("z", raised), _J["left wrist"]: _rot("z", amp * swing)}, 0


def _kick_left(t, rng, amp, speed):
    start, width = _window(rng, t.shape[0], 0.25, 0.45)
    k = _bump(t, start, width)
    return {_J["left knee"]: _rot("x", -np.radians(75) * amp * k), _J["left ankle"]: _rot("x", np.radians(25) * k)}, 0


def _circle_forward(t, rng, amp, speed):
    phase = rng.uniform(0, 2 * np.pi, (t.shape[0], 1))
    angle = phase - 2 * np.pi * 2 * speed * t
    return {_J["right elbow"]: _rot("x", angle)}, 0


def _sit_down(t, rng, amp, speed):
    start, width = _window(rng, t.shape[0], 0.3, 0.5)
    theta = np.radians(85) * amp * _ramp(t, start, width)
    local = {}
    for knee, ankle in (("left knee", "left ankle"), ("right knee", "right ankle")):
        local[_J[knee]] = _rot("x", -theta)  # thigh swings forward
        local[_J[ankle]] = _rot("x", theta)  # shin stays vertical
    local[_J["middle of spine"]] = _rot("x", 0.3 * theta)  # lean forward
    shift = np.stack([0 * theta, -_THIGH * (1 - np.cos(theta)), -_THIGH * np.sin(theta)], -1)  # feet stay put
    return local, shift


def _raise_hands(t, rng, amp, speed):
    start, width = _window(rng, t.shape[0], 0.3, 0.5)
    theta = -np.radians(170) * np.minimum(amp, 1.0) * _ramp(t, start, width)
    return {_J["left elbow"]: _rot("x", theta), _J["right elbow"]: _rot("x", theta)}, 0


def _clap(t, rng, amp, speed):
    phase = rng.uniform(0, 2 * np.pi, (t.shape[0], 1))
    open_angle = np.radians(-18 + 33 * amp * (1 + np.cos(2 * np.pi * 3 * speed * t + phase)) / 2)
    forward = _rot("x", np.full_like(t, -np.radians(80)))
    return {_J["left elbow"]: _rot("y", open_angle) @ forward, _J["right elbow"]: _rot("y", -open_angle) @ forward}, 0


def _bow(t, rng, amp, speed):
    start, width = _window(rng, t.shape[0], 0.4, 0.6)
    return {_J["middle of spine"]: _rot("x", np.radians(60) * amp * _bump(t, start, width))}, 0


# label -> (motion, mirror after kinematics, reverse time)
_MotionFn = Callable[..., tuple[dict[int, np.ndarray], np.ndarray | int]]
_RECIPES: tuple[tuple[_MotionFn, bool, bool], ...] = (
    (_wave_left, False, False),
    (_wave_left, True, False),
    (_kick_left, False, False),
    (_kick_left, True, False),
    (_circle_forward, False, False),
    (_circle_forward, False, True),
    (_sit_down, False, False),
    (_sit_down, False, True),
    (_raise_hands, False, False),
    (_raise_hands, False, True),
    (_clap, False, False),
    (_bow, False, False),
)
assert len(_RECIPES) == len(ACTION_CLASSES)


def _bystander(n: int, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A second person standing beside the actor with a slow sway; (n, T, V, 3)."""
    sway = np.radians(4) * np.sin(2 * np.pi * t + rng.uniform(0, 2 * np.pi, (n, 1)))
    side = rng.choice([-1.0, 1.0], (n, 1, 1)) * rng.uniform(0.8, 1.2, (n, 1, 1))
    pos = forward_kinematics({_J["middle of spine"]: _rot("z", sway)}, np.zeros((n, t.shape[1], 3)))
    return pos + np.concatenate([side, 0 * side, 0 * side], -1)[:, :, None, :]


def make_actions(
    label: int,
    num_samples: int,
    num_frames: int = 64,
    rng: np.random.Generator | int = 0,
    num_bodies: int = 2,
    second_body: SecondBody = "zeros",
    view_range_deg: float = 45.0,
    noise_std: float = 0.01,
) -> np.ndarray:
    """``num_samples`` random performances of one action, float32 (n, 3, T, 25, M)."""
    if not 0 <= label < len(ACTION_CLASSES):
        raise ValueError(f"label must be in [0, {len(ACTION_CLASSES)}), got {label}")
    if num_bodies not in (1, 2):
        raise ValueError(f"num_bodies must be 1 or 2, got {num_bodies}")
    if second_body not in ("zeros", "bystander"):
        raise ValueError(f"second_body must be 'zeros' or 'bystander', got {second_body!r}")
    rng = np.random.default_rng(rng)
    n = num_samples
    t = np.broadcast_to(np.linspace(0.0, 1.0, num_frames), (n, num_frames))
    amp = rng.uniform(0.8, 1.2, (n, 1))
    speed = rng.uniform(0.8, 1.25, (n, 1))
    motion, mirror, reverse = _RECIPES[label]
    local, shift = motion(t, rng, amp, speed)
    bodies = [forward_kinematics(local, np.broadcast_to(shift, (n, num_frames, 3)))]  # (n, T, V, 3)
    if mirror:
        bodies[0] = bodies[0][:, :, _MIRROR] * np.array([-1.0, 1.0, 1.0])
    if reverse:
        bodies[0] = bodies[0][:, ::-1]
    if num_bodies == 2:
        other = _bystander(n, t, rng) if second_body == "bystander" else None
        bodies.append(other)
    # body size, view (yaw about the vertical axis) and position in the room, then sensor noise
    size = rng.uniform(0.9, 1.1, (n, 1, 1, 1))
    yaw = _rot("y", np.radians(rng.uniform(-view_range_deg, view_range_deg, n)))[:, None, None]  # (n, 1, 1, 3, 3)
    place = np.concatenate([rng.uniform(-0.3, 0.3, (n, 1)), 0 * amp, rng.uniform(-0.3, 0.3, (n, 1))], -1)
    out = np.zeros((n, num_bodies, num_frames, 25, 3))
    for m, body in enumerate(bodies):
        if body is None:
            continue
        moved = (yaw @ (size * body)[..., None])[..., 0] + place[:, None, None, :]
        out[:, m] = moved + rng.normal(0.0, noise_std, moved.shape)
    return np.ascontiguousarray(out.transpose(0, 4, 2, 3, 1), dtype=np.float32)  # (n, 3, T, V, M)


def make_action(
    label: int,
    num_frames: int = 64,
    rng: np.random.Generator | int = 0,
    num_bodies: int = 2,
    second_body: SecondBody = "zeros",
    view_range_deg: float = 45.0,
    noise_std: float = 0.01,
) -> np.ndarray:
    """One random performance of action ``label``: float32 (3, T, 25, M).

    M=2 by default, with the second body all zeros (a single-person action, as NTU stores it) or, with
    ``second_body='bystander'``, a person standing beside the actor.
    """
    return make_actions(label, 1, num_frames, rng, num_bodies, second_body, view_range_deg, noise_std)[0]


def synthetic_dataset(
    num_samples: int,
    num_frames: int = 64,
    num_bodies: int = 2,
    seed: int = 0,
    second_body: SecondBody = "zeros",
    view_range_deg: float = 45.0,
    noise_std: float = 0.01,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A balanced, shuffled dataset: X float32 (N, 3, T, 25, M), y int64 (N,). Deterministic for a seed.

    Views are rotated by up to ``view_range_deg`` about the vertical axis (NTU's cameras sit at -45, 0 and +45
    degrees); ``noise_std`` is the joint noise in metres.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    rng = np.random.default_rng(seed)
    num_classes = len(ACTION_CLASSES)
    y = rng.permutation(np.arange(num_samples) % num_classes)
    x = np.empty((num_samples, 3, num_frames, 25, num_bodies), dtype=np.float32)
    for label in range(num_classes):
        idx = np.flatnonzero(y == label)
        if len(idx):
            x[idx] = make_actions(label, len(idx), num_frames, rng, num_bodies, second_body, view_range_deg, noise_std)
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


def train_test_split(
    x: torch.Tensor, y: torch.Tensor, test_fraction: float = 0.25, seed: int = 0
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Stratified split into ((X_train, y_train), (X_test, y_test)); the same fraction of every class is held out."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if len(x) != len(y):
        raise ValueError(f"X has {len(x)} samples but y has {len(y)}")
    rng = np.random.default_rng(seed)
    labels = y.numpy()
    test = []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        num_test = max(1, int(round(test_fraction * len(idx)))) if len(idx) > 1 else 0
        test.extend(idx[:num_test])
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[test] = True
    train_idx, test_idx = torch.from_numpy(np.flatnonzero(~is_test)), torch.from_numpy(np.flatnonzero(is_test))
    return (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx])
