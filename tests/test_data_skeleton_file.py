"""The NTU `.skeleton` reader and writer: exact text, round trip, malformed files named by file and line."""

from __future__ import annotations

import numpy as np
import pytest

from stviz.data import SkeletonBody, make_action, read_skeleton_file, write_skeleton_file

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


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda lines: lines[:40], r"line 30: frame 1 announces 1 bodies \(27 lines\), but only 10 lines follow"),
        (lambda lines: lines[:29], r"line 30: file ends early: expected the body count of frame 1"),
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
