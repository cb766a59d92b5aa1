"""Bad inputs to the data layer: each gets a clear error naming what was expected and what was got.

Covers the `.skeleton` reader, the preprocessing pipelines and their arguments, `crop_resize`, and `load_npz`.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from stviz.data import (
    SkeletonBody,
    bone_stream,
    crop_resize,
    load_npz,
    motion_stream,
    preprocess_skeleton,
    read_skeleton_file,
    select_bodies,
    to_fixed_length,
    write_skeleton_file,
)
from stviz.data.npz import NpzDataset

BODY_LINE = "72057594037931101 0 1 1 1 1 0 0.02764709 0.05899339 2"
JOINT_LINE = (
    "0.2181153 0.1725972 3.785547 0.2821783 0.1910064 1025.812 534.6875 -0.2608186 0.0134025 0.9640719 -0.04557 2"
)


def skeleton_text(num_frames=2, bodies=1):
    lines = [str(num_frames)]
    for _ in range(num_frames):
        lines.append(str(bodies))
        for _ in range(bodies):
            lines += [BODY_LINE, "25"] + [JOINT_LINE] * 25
    return lines


def write_lines(tmp_path, lines, name="bad.skeleton"):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


def still_body(body_id=1, offset=(0.0, 0.2, 3.0)):
    joints = np.zeros((25, 3))
    joints[:, 1] = np.linspace(-0.9, 0.75, 25)
    joints[:, 0] = np.linspace(-0.2, 0.2, 25)
    return SkeletonBody(body_id, joints + offset)


# --- the .skeleton reader ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda s: ["-3"] + s[1:], r"line 1: the frame count must be between 0 and \d+ .*got -3"),
        (lambda s: ["1000000000"] + s[1:], r"line 1: the frame count must be between 0 and 56 .*got 1000000000"),
        (lambda s: s[:1] + ["-1"] + s[2:], r"line 2: the body count of frame 0 must be between 0 and 6 .*got -1"),
        (lambda s: s[:1] + ["7"] + s[2:], r"line 2: the body count of frame 0 must be between 0 and 6 .*got 7"),
        (lambda s: s[:1] + ["3"] + s[2:], r"line 2: frame 0 announces 3 bodies \(81 lines\), but only 55 lines follow"),
        (lambda s: s[:4] + [JOINT_LINE.replace("0.2181153", "nan", 1)] + s[5:], r"line 5: joint 0 .*finite x y z.*nan"),
        (lambda s: s[:6] + [JOINT_LINE.replace("3.785547", "inf", 1)] + s[7:], r"line 7: joint 2 .*finite x y z.*inf"),
        (lambda s: ["two"] + s[1:], r"line 1: non-numeric field in the frame count: 'two'"),
        (lambda s: s[:3] + ["24"] + s[4:], r"line 4: frame 0 body 0 has 24 joints, expected 25"),
        (
            lambda s: s[:2] + ["abc " + BODY_LINE.split(" ", 1)[1]] + s[3:],
            r"line 3: non-numeric field in the body line",
        ),
        (lambda s: s[:10] + [JOINT_LINE + " 7"] + s[11:], r"line 11: expected 12 field\(s\) for joint 6 .*got 13"),
        (lambda s: [], r"line 1: file ends early: expected the frame count"),
    ],
)
def test_reader_refuses_bad_text_naming_file_line_expected_and_got(tmp_path, mutate, expected):
    path = write_lines(tmp_path, mutate(skeleton_text()))
    with pytest.raises(ValueError, match=expected) as info:
        read_skeleton_file(path)
    assert str(path) in str(info.value)


def test_reader_nan_in_another_field_is_kept_as_read(tmp_path):
    """Only x, y, z matter to the pipelines; a NaN orientation is read as NaN, not refused and not dropped."""
    lines = skeleton_text()
    lines[4] = JOINT_LINE.replace("-0.2608186", "nan")
    frames = read_skeleton_file(write_lines(tmp_path, lines))
    assert len(frames) == 2 and np.isnan(frames[0][0].joints[0, 7])


def test_reader_refuses_a_binary_file_naming_it(tmp_path):
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_bytes(b"2\n1\n\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match=r"expected a \.skeleton text file \(ASCII/UTF-8\), got undecodable byte") as e:
        read_skeleton_file(path)
    assert str(path) in str(e.value) and "at byte 4" in str(e.value)


# --- preprocess_skeleton and the pipelines ----------------------------------------------------------------------------


@pytest.fixture
def clip(tmp_path):
    return write_skeleton_file(tmp_path / "clip.skeleton", [[still_body()] for _ in range(20)])


def test_pipeline_is_required_and_the_error_lists_which_checkpoint_needs_which(clip):
    with pytest.raises(TypeError, match=r"needs pipeline=") as info:
        preprocess_skeleton(clip)
    for name in ("'stgcn' for ST-GCN", "'2s-agcn' for 2s-AGCN, MS-G3D, Shift-GCN", "'ctrgcn' for CTR-GCN"):
        assert name in str(info.value)


def test_unknown_pipeline_names_the_choices_and_what_was_given(clip):
    with pytest.raises(ValueError, match=r"pipeline must be one of \['stgcn', '2s-agcn', .*got 'msg3d'"):
        preprocess_skeleton(clip, pipeline="msg3d")


@pytest.mark.parametrize("pipeline", ["stgcn", "2s-agcn", "efficientgcn-raw", "ctrgcn", "teaching"])
@pytest.mark.parametrize(("num_frames", "error", "got"), [(0, ValueError, "got 0"), (-5, ValueError, "got -5"),
                                                          (2.5, TypeError, "got float 2.5")])  # fmt: skip
def test_num_frames_must_be_a_positive_int(clip, pipeline, num_frames, error, got):
    with pytest.raises(error, match=r"num_frames must be a positive int, " + got):
        preprocess_skeleton(clip, pipeline=pipeline, num_frames=num_frames)


@pytest.mark.parametrize(("max_bodies", "error", "got"), [(0, ValueError, "got 0"), (-1, ValueError, "got -1"),
                                                          (True, TypeError, "got bool True")])  # fmt: skip
def test_max_bodies_must_be_a_positive_int(clip, max_bodies, error, got):
    with pytest.raises(error, match=r"max_bodies must be a positive int, " + got):
        preprocess_skeleton(clip, pipeline="teaching", max_bodies=max_bodies)
    with pytest.raises(error, match=r"max_bodies must be a positive int, " + got):
        select_bodies(np.zeros((1, 4, 25, 3)), max_bodies)


def test_teaching_options_are_refused_by_the_originals_pipelines(clip):
    with pytest.raises(TypeError, match="unexpected keyword argument 'align'"):
        preprocess_skeleton(clip, pipeline="2s-agcn", align=False)


@pytest.mark.parametrize("pipeline", ["stgcn", "2s-agcn", "efficientgcn-raw"])
def test_a_clip_longer_than_num_frames_is_refused(clip, pipeline):
    with pytest.raises(ValueError, match=r"clip.skeleton: the clip has 20 frames, expected at most num_frames=10"):
        preprocess_skeleton(clip, pipeline=pipeline, num_frames=10)


def test_ctrgcn_clip_longer_than_num_frames_is_refused(clip):
    with pytest.raises(ValueError, match=r"the clip has 20 frames after denoising, expected at most 10"):
        preprocess_skeleton(clip, pipeline="ctrgcn", num_frames=10)


@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [
        ("ctrgcn", r"expected at least one frame with a body, got none"),
        ("teaching", r"no body in any frame"),
        *[(p, r"expected a body with a joint away from \(0, 0, 0\)") for p in ("stgcn", "2s-agcn", "efficientgcn-raw")],
    ],
)
@pytest.mark.parametrize("frames", [0, 5])
def test_a_file_without_bodies_is_refused(tmp_path, pipeline, expected, frames):
    path = write_skeleton_file(tmp_path / "empty.skeleton", [[] for _ in range(frames)])
    with pytest.raises(ValueError, match=expected) as info:
        preprocess_skeleton(path, pipeline=pipeline)
    assert "empty.skeleton" in str(info.value)


@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [
        ("ctrgcn", r"every joint of the first actor is at \(0, 0, 0\) in every frame"),
        *[(p, r"expected a body with a joint away from \(0, 0, 0\)") for p in ("stgcn", "2s-agcn", "efficientgcn-raw")],
    ],
)
def test_a_file_whose_bodies_are_all_at_the_origin_is_refused(tmp_path, pipeline, expected):
    path = write_skeleton_file(tmp_path / "zero.skeleton", [[SkeletonBody(1, np.zeros((25, 3)))] for _ in range(3)])
    with pytest.raises(ValueError, match=expected):
        preprocess_skeleton(path, pipeline=pipeline)


def test_st_gcn_refuses_a_clip_whose_only_body_away_from_the_origin_is_past_its_two_slots(tmp_path):
    zero = SkeletonBody(1, np.zeros((25, 3)))
    path = write_skeleton_file(tmp_path / "third.skeleton", [[zero, zero, still_body(3)] for _ in range(3)])
    with pytest.raises(ValueError, match=r"expected a body with a joint away from \(0, 0, 0\)"):
        preprocess_skeleton(path, pipeline="stgcn")


def test_reader_refuses_lines_after_the_announced_frames_and_allows_blank_ones(tmp_path):
    lines = skeleton_text(num_frames=2)
    with pytest.raises(ValueError, match=r"line 30: 28 more non-empty line\(s\) after the 1 frame\(s\) that line 1"):
        read_skeleton_file(write_lines(tmp_path, ["1", *lines[1:]]))
    with pytest.raises(ValueError, match=r"line 58: 1 more non-empty line"):
        read_skeleton_file(write_lines(tmp_path, [*lines, "hello world"]))
    assert len(read_skeleton_file(write_lines(tmp_path, [*lines, "", "  "]))) == 2


def test_write_skeleton_file_names_what_a_frame_must_hold(tmp_path):
    with pytest.raises(TypeError, match=r"frames\[0\] must list SkeletonBody objects .*got ndarray"):
        write_skeleton_file(tmp_path / "x.skeleton", np.zeros((3, 1, 25, 3)))


def test_ctrgcn_refuses_a_file_whose_ids_are_all_too_short(tmp_path):
    frames = [[still_body(1)] for _ in range(6)] + [[still_body(2)] for _ in range(6)]
    path = write_skeleton_file(tmp_path / "short.skeleton", frames)
    with pytest.raises(ValueError, match=r"short.skeleton: .*every body id has at most 11 frames; none is left"):
        preprocess_skeleton(path, pipeline="ctrgcn")


def test_ctrgcn_refuses_an_id_listed_twice_in_a_frame(tmp_path):
    frames = [[still_body(1)] for _ in range(5)]
    frames[2] = [still_body(1), still_body(1, (0.5, 0.2, 3.0))]
    path = write_skeleton_file(tmp_path / "twice.skeleton", frames)
    with pytest.raises(ValueError, match=r"body id 1 appears 6 times from frame 0, more than the 5 non-empty frames"):
        preprocess_skeleton(path, pipeline="ctrgcn")


def test_efficientgcn_refuses_more_than_four_bodies(tmp_path):
    frames = [[still_body(i, (i, 0.2, 3.0)) for i in range(5)] for _ in range(3)]
    path = write_skeleton_file(tmp_path / "five.skeleton", frames)
    with pytest.raises(ValueError, match=r"frame 0 has 5 bodies; EfficientGCN's reader expects at most 4"):
        preprocess_skeleton(path, pipeline="efficientgcn-raw")


def test_to_fixed_length_names_the_modes():
    with pytest.raises(ValueError, match=r"mode must be 'repeat', 'zeros' or 'resample', got 'stretch'"):
        to_fixed_length(np.ones((1, 4, 25, 3)), 8, "stretch")


# --- crop_resize ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "kwargs", "error", "expected"),
    [
        (np.ones((3, 10, 25)), {}, ValueError, r"expects one sample \(C, T, V, M\), got \(3, 10, 25\)"),
        (np.zeros((3, 10, 25, 2)), {}, ValueError, r"expected at least one non-zero frame, got none"),
        (np.ones((3, 10, 25, 2)), {"p_interval": (1.5,)}, ValueError, r"0 < low <= high <= 1, got \(1.5,\)"),
        (np.ones((3, 10, 25, 2)), {"p_interval": (0.9, 0.5)}, ValueError, r"0 < low <= high <= 1, got \(0.9, 0.5\)"),
        (np.ones((3, 10, 25, 2)), {"p_interval": ()}, ValueError, r"must be \(p,\) or \(low, high\).*got \(\)"),
        (np.ones((3, 10, 25, 2)), {"window": 0}, ValueError, r"window must be a positive int, got 0"),
        ([[1.0]], {}, ValueError, r"expects one sample \(C, T, V, M\), got list"),
    ],
)
def test_crop_resize_refuses_bad_inputs(x, kwargs, error, expected):
    with pytest.raises(error, match=expected):
        crop_resize(x, **kwargs)


# --- load_npz -------------------------------------------------------------------------------------------------------


def good_npz(path):
    np.savez(path, x_test=np.zeros((2, 4, 150), np.float32), y_test=np.eye(3)[[0, 2]])
    return path


def test_load_npz_refuses_a_npy_file(tmp_path):
    path = tmp_path / "x.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros((2, 4, 150)))
    with pytest.raises(ValueError, match=r"x\.npz: expected a \.npz archive with x_<split> .*got a single \.npy array"):
        load_npz(path, "test")


def test_load_npz_refuses_a_text_file(tmp_path):
    path = tmp_path / "labels.npz"
    path.write_text("x_test,y_test\n1,2\n")
    with pytest.raises(ValueError, match=r"labels\.npz: expected a \.npz .*got a text file starting with 'x_test"):
        load_npz(path, "test")


def test_load_npz_refuses_an_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.npz: expected a \.npz archive.*got an empty file"):
        load_npz(path, "test")


def test_load_npz_refuses_a_truncated_archive(tmp_path):
    path = good_npz(tmp_path / "cut.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.npz: expected a \.npz .*got a zip archive that cannot be opened"):
        load_npz(path, "test")


def test_load_npz_refuses_a_damaged_member(tmp_path):
    path = tmp_path / "bad_member.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_test.npy", b"\x93NUMPY not really")
        archive.writestr("y_test.npy", b"\x93NUMPY not really")
    with pytest.raises(ValueError, match=r"bad_member\.npz: expected a \.npz .*got a damaged or truncated array"):
        load_npz(path, "test")


def test_load_npz_and_the_dataset_refuse_nan_naming_the_sample(tmp_path):
    x = np.zeros((3, 4, 150), np.float32)
    x[2, 1, 7] = np.inf
    np.savez(tmp_path / "nan.npz", x_test=x, y_test=np.eye(3))
    for load in (lambda: load_npz(tmp_path / "nan.npz", "test"), lambda: NpzDataset(tmp_path / "nan.npz", "test")):
        with pytest.raises(ValueError, match=r"nan\.npz: x_test holds NaN or inf, first in sample 2"):
            load()


def test_dataset_epoch_and_crop_interval_are_checked_when_given(tmp_path):
    np.savez(tmp_path / "ones.npz", x_test=np.ones((2, 4, 150), np.float32), y_test=np.eye(3)[[0, 2]])
    dataset = NpzDataset(tmp_path / "ones.npz", "test")
    with pytest.raises(ValueError, match=r"set_epoch: epoch must be an integer >= 0, got -1"):
        dataset.set_epoch(-1)
    for p in (0.9, np.float32(0.5)):
        with pytest.raises(ValueError, match=r"p_interval must be a sequence, \(p,\) or \(low, high\), got the number"):
            load_npz(tmp_path / "ones.npz", "test", window=4, p_interval=p)


def test_load_npz_names_an_object_array(tmp_path):
    x = np.empty((2, 4, 150), dtype=object)
    np.savez(tmp_path / "objects.npz", x_test=x, y_test=np.eye(3)[[0, 2]])
    with pytest.raises(ValueError, match=r"objects\.npz: expected a \.npz archive .*got an array of Python objects"):
        load_npz(tmp_path / "objects.npz", "test")


def test_load_npz_refuses_integer_coordinates(tmp_path):
    path = tmp_path / "ints.npz"
    np.savez(path, x_test=np.zeros((2, 4, 150), np.int64), y_test=np.eye(3)[[0, 2]])
    with pytest.raises(ValueError, match=r"x_test must hold floats, got dtype int64"):
        load_npz(path, "test")


def test_load_npz_names_the_splits(tmp_path):
    with pytest.raises(ValueError, match=r"split must be 'train' or 'test', got 'val'"):
        load_npz(good_npz(tmp_path / "a.npz"), "val")


def test_load_npz_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        load_npz(tmp_path / "nowhere.npz")


def test_load_npz_window_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match=r"window must be a positive int, got -1"):
        load_npz(good_npz(tmp_path / "a.npz"), "test", window=-1)


def test_load_npz_with_window_refuses_an_all_zero_sample(tmp_path):
    with pytest.raises(ValueError, match=r"crop_resize: expected at least one non-zero frame, got none"):
        load_npz(good_npz(tmp_path / "a.npz"), "test", window=64)


def test_torch_inputs_work_like_numpy_in_crop_resize():
    x = torch.ones(3, 10, 25, 2)
    assert crop_resize(x, window=4).shape == (3, 4, 25, 2)


@pytest.mark.parametrize("x", [np.zeros((3, 4, 25, 2), np.uint8), torch.zeros(3, 4, 25, 2, dtype=torch.long)])
def test_streams_refuse_integer_coordinates(x):
    for stream in (bone_stream, motion_stream):
        with pytest.raises(TypeError, match=r"x must hold float coordinates, got dtype (uint8|torch.int64)"):
            stream(x)
