"""Bad input and bad states around the shift op: a killed build, odd T in Shift-GCN units, non-finite positions.

Each test asserts the exception type and that the message names what was expected and what was got.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from stviz import build_lock, official, ops
from stviz.models.shiftgcn import ShiftGCNUnit
from stviz.shift import LearnableTemporalShift, ShiftTCN

SHIFTS = [ops.temporal_shift, ops.temporal_shift_reference]


def plant_lock(build_dir: Path, pid: int, age_seconds: float = 0.0) -> Path:
    """A stviz lock owned by ``pid`` on this host, and torch's lock beside it, as a build leaves them."""
    build_dir.mkdir(parents=True, exist_ok=True)
    lock = build_dir / build_lock.LOCK_NAME
    lock.write_text(f'{{"pid": {pid}, "host": "{os.uname().nodename}", "started": {time.time() - age_seconds}}}')
    (build_dir / build_lock.TORCH_LOCK_NAME).touch()
    if age_seconds:
        os.utime(lock, (time.time() - age_seconds,) * 2)
    return lock


def test_a_killed_build_does_not_block_the_next_import(compiled, tmp_path, monkeypatch):
    """A build process is killed while it holds both locks; the next import clears them and loads the op."""
    if ops._cuda_buildable() and compiled.backend != "cuda-extension":
        pytest.skip("the CUDA build failed in this session: the next import would try it again, from nothing")
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    _, build_dir, _ = ops._build_target(with_cuda=ops._cuda_buildable())  # the build the next import loads
    # start from a copy of the finished build, so that the next load needs no compiler run
    shutil.copytree(Path(compiled.library).parent, build_dir, ignore=shutil.ignore_patterns("*lock"))
    holder = (
        "import sys, time; from pathlib import Path; from stviz.build_lock import hold_lock\n"
        f"with hold_lock(Path({str(build_dir)!r})):\n"
        f"    (Path({str(build_dir)!r}) / 'lock').touch()  # torch's lock, as cpp_extension.load takes it\n"
        "    print('building', flush=True)\n"
        "    time.sleep(600)\n"
    )
    build = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    assert build.stdout.readline().strip() == "building"
    build.kill()
    build.wait(timeout=30)
    locks = [build_dir / build_lock.LOCK_NAME, build_dir / build_lock.TORCH_LOCK_NAME]
    assert all(lock.exists() for lock in locks)  # what the killed build left behind

    code = "import stviz.ops as o; print(o.load_extension(verbose=False).backend)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == compiled.backend
    assert f"clearing the stale build lock {locks[0]}" in run.stderr
    assert f"its build process {build.pid} is gone" in run.stderr
    assert not any(lock.exists() for lock in locks)


def test_a_lock_older_than_any_build_is_cleared(tmp_path):
    lock = plant_lock(tmp_path, os.getpid(), age_seconds=7200)  # a live process, but two hours old
    with pytest.warns(
        RuntimeWarning, match=r"stale build lock .*\(it is \d+ s old, longer than a build can take \(3600 s\)"
    ):
        with build_lock.hold_lock(tmp_path, wait_seconds=5, stale_seconds=3600):
            assert lock.exists()  # ours now
            assert not (tmp_path / build_lock.TORCH_LOCK_NAME).exists()
    assert not lock.exists()


def test_a_live_lock_times_out_naming_the_lock_and_the_fix(tmp_path):
    lock = plant_lock(tmp_path, os.getpid())  # held by a running process: this one
    with pytest.raises(build_lock.BuildLockTimeout) as error:
        with build_lock.hold_lock(tmp_path, wait_seconds=0.3):
            pass
    message = str(error.value)
    assert f"build lock {lock} is held by process {os.getpid()}" in message
    assert f"rm -f {lock} {tmp_path / build_lock.TORCH_LOCK_NAME}" in message
    assert lock.exists()  # a live build's lock is left alone


def test_load_extension_falls_back_when_the_lock_times_out(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setattr(ops, "_state", ops._LoaderState())
    monkeypatch.setattr(ops, "hold_lock", functools.partial(build_lock.hold_lock, wait_seconds=0.3))
    _, build_dir, _ = ops._build_target(with_cuda=False)
    lock = plant_lock(build_dir, os.getpid())
    if ops._cuda_buildable():  # with a GPU the CUDA build is tried first: held too, so both time out
        plant_lock(ops._build_target(with_cuda=True)[1], os.getpid())
    with pytest.warns(
        RuntimeWarning, match=f"unavailable on this machine .*build lock {re.escape(str(lock))} is held by"
    ):
        assert ops.load_extension(verbose=False).backend == "pytorch-fallback"
    assert f"rm -f {lock} {build_dir / build_lock.TORCH_LOCK_NAME}" in ops.load_extension().reason


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("frames", range(1, 10))
def test_shift_gcn_unit_main_path_and_residual_agree_for_any_t(stride, frames):
    torch.manual_seed(frames)
    for c_in, c_out in [(8, 8), (8, 16)]:  # identity residual (at stride 1) and projection residual
        unit = ShiftGCNUnit(c_in, c_out, stride).eval()
        x = torch.randn(2, c_in, frames, 25)
        if frames < stride:
            with pytest.raises(ValueError, match=f"ShiftGCNUnit: x has T={frames} frames, expected at least {stride}"):
                unit(x)
            continue
        with torch.no_grad():
            main = unit.tcn1(unit.gcn1(x))
            out = unit(x)
            assert main.shape[2] == out.shape[2] == frames // stride
            residual = unit.residual(x[:, :, : main.shape[2] * stride])  # the frames the shift covers
            torch.testing.assert_close(out, torch.relu(main + residual))
            if frames % stride == 0:  # the original's layer, unchanged where it ran
                torch.testing.assert_close(out, torch.relu(main + unit.residual(x)))


@pytest.mark.parametrize("module", [LearnableTemporalShift(4, stride=3), ShiftTCN(4, 4, stride=3)])
def test_shift_modules_refuse_too_few_frames(module):
    with pytest.raises(ValueError, match=r"x has T=2 frames, expected at least 3 \(shape"):
        module(torch.randn(1, 4, 2, 5))


def test_shift_modules_check_dtype_device_and_their_arguments():
    x = torch.randn(1, 4, 6, 5, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"ShiftTCN: x has dtype torch.float64 but the weights are torch.float32"):
        ShiftTCN(4, 4)(x)
    with pytest.raises(TypeError, match=r"LearnableTemporalShift: x has dtype torch.float64 but the weights"):
        LearnableTemporalShift(4)(x)
    with pytest.raises(TypeError, match=r"ypos is on device meta but x is on cpu"):
        ops.temporal_shift(x.float(), torch.zeros(4, device="meta"))
    with pytest.raises(ValueError, match=r"channels must be an integer >= 1, got -1"):
        LearnableTemporalShift(-1)
    with pytest.raises(ValueError, match=r"init_scale must be a number >= 0 \(frames\), got -3"):
        LearnableTemporalShift(4, init_scale=-3)


@pytest.mark.parametrize("fn", SHIFTS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_positions_are_refused_on_every_path(fn, bad):
    x = torch.randn(2, 4, 9, 5)
    ypos = torch.tensor([0.5, -1.0, bad, 2.0])
    with pytest.raises(ValueError, match=rf"ypos must be finite frame offsets, got {bad} at channel 2$"):
        fn(x, ypos)
    ypos[3] = bad
    with pytest.raises(ValueError, match=rf"got {bad} at channel 2 \(and 1 more channels\)"):
        fn(x, ypos, stride=2)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_the_official_shift_refuses_a_non_finite_xpos(bad):
    shift = official.build("shiftgcn", "Shift", channel=4)
    with torch.no_grad():
        shift.xpos[1] = bad
    with pytest.raises(ValueError, match=rf"ShiftWithInertXpos: xpos must be finite frame offsets, got {bad} at chan"):
        shift(torch.randn(2, 4, 9, 5))


def test_non_finite_positions_are_refused_by_the_module_and_the_compiled_kernel(compiled):
    shift = LearnableTemporalShift(4)
    with torch.no_grad():
        shift.ypos[1] = float("nan")
    with pytest.raises(ValueError, match="ypos must be finite frame offsets, got nan at channel 1"):
        shift(torch.randn(1, 4, 6, 5))
    x = torch.randn(1, 4, 6, 5)
    offset = torch.tensor([0.0, float("nan"), 0.0, 0.0])
    with pytest.raises(RuntimeError, match="offsets must be finite, got nan at channel 1"):
        torch.ops.stviz.temporal_shift(x, offset, 1)
    with pytest.raises(RuntimeError, match="offsets must be finite, got nan at channel 1"):
        torch.ops.stviz.temporal_shift_backward(x, x, offset, 1)


@pytest.mark.parametrize("grad_mode", ["exact", "official"])
def test_a_nan_position_gradient_stays_nan_on_every_path(compiled, grad_mode):
    """NaN in x reaches channel 0's position gradient: neither path, nor the sign rule, turns it into a number."""
    x = torch.randn(2, 3, 8, 5)
    x[0, 0, 4, 2] = float("nan")
    grads = []
    for fn in SHIFTS:
        ypos = torch.tensor([0.3, -1.2, 2.5], requires_grad=True)
        fn(x, ypos, stride=2, grad_mode=grad_mode).nan_to_num(0.0).sum().backward()
        grads.append(ypos.grad)
        assert torch.isnan(ypos.grad[0]) and torch.isfinite(ypos.grad[1:]).all(), ypos.grad
    torch.testing.assert_close(grads[0], grads[1], equal_nan=True)


@pytest.mark.parametrize("fn", SHIFTS)
def test_position_shapes_and_frame_counts_name_expected_and_got(fn):
    x = torch.randn(2, 4, 5, 3)
    with pytest.raises(ValueError, match=r"ypos must have shape \(C,\) = \(4,\) .* got \(4, 1\)"):
        fn(x, torch.zeros(4, 1))
    with pytest.raises(ValueError, match="x has T=5 frames; stride 6 needs T >= 6 for one output frame"):
        fn(x, torch.zeros(4), stride=6)
