"""benchmarks/shift.py: every dtype it is asked for is timed against a copy of that dtype, and its goals are checked
(the CPU goals on float32, the GPU's bandwidth goal on every dtype). Tiny shapes, no timing asserted."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHIFT_SCRIPT, CUDA_CHECK = ROOT / "benchmarks" / "shift.py", ROOT / "benchmarks" / "cuda_check.sh"
SHIFT = runpy.run_path(str(SHIFT_SCRIPT))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
def test_each_dtype_is_timed_against_a_copy_of_that_dtype(dtype):
    results = SHIFT["run"](
        torch.device("cpu"), threads=torch.get_num_threads(), warmup=0, repeat=2, dtype=dtype, shape=(2, 8, 12, 5)
    )
    names = [r[0] for r in results]
    assert names[0] == "copy (x.clone())" and results[0][3] == 1.0
    assert any(n.startswith("shift op, pure PyTorch") for n in names) and "TSM shift (fold_div 8)" in names
    x_bytes = 2 * 8 * 12 * 5 * torch.finfo(dtype).bits // 8
    assert results[0][5] == 2 * x_bytes  # the copy reads and writes x once
    stride_2 = next(r for r in results if r[0].endswith("stride 2"))
    assert stride_2[5] == x_bytes * 1.5  # reads x, writes half of its frames
    assert all(r[1] > 0 and r[3] > 0 and 0 <= r[6] <= 1 for r in results)


def _row(name, forward_ms, nbytes, host_bound=0.0):
    return (name, forward_ms, 1.0, 1.0, 1.0, nbytes, host_bound)


def test_gpu_goal_is_the_least_forward_bandwidth_of_the_kernel_rows():
    copy = _row("copy (x.clone())", 1.0, 100)
    fast = _row("CUDA kernel alone, stride 1", 1.5, 100)  # 67% of the copy's bandwidth
    slow = _row("CUDA kernel alone, stride 2", 1.5, 75, host_bound=0.25)  # 50%, the host as slow in 1 round of 4
    other = _row("shift op, compiled, stride 1", 10.0, 100)  # the op as called (its checks wait for the GPU): no goal
    check = SHIFT["check_gpu_goal"]
    assert check([copy, fast, other], "float16") == [
        "ok: float16: CUDA kernel alone, forward: least bandwidth 67% of the copy's (CUDA kernel alone, stride 1), "
        "goal >= 60%"
    ]
    (line,) = check([copy, fast, slow], "bfloat16")
    assert line.startswith("MISSED: bfloat16") and "50%" in line and "stride 2" in line
    assert line.endswith("the host was as slow as the GPU in 25% of its rounds")
    (line,) = check([copy, other], "float32")
    assert line.startswith("MISSED: float32: no compiled shift op")


def test_cpu_goals_flag_a_ratio_over_its_limit():
    copy = _row("copy (x.clone())", 1.0, 100)
    within = ("shift op, compiled, stride 1", 1.4, 2.4, 1.4, 2.4, 100, 1.0)
    over = ("TSM shift (fold_div 8)", 1.4, 1.4, 1.4, 1.4, 100, 1.0)  # forward 1.4 > 1.3
    lines = SHIFT["check_goals"]([copy, within, over])
    assert [ln.split(":")[0] for ln in lines] == ["ok", "ok", "MISSED", "ok"]
    assert "TSM shift forward: worst 1.40x" in lines[2]


def test_cuda_check_script_names_files_that_exist():
    """benchmarks/cuda_check.sh (run on a GPU machine) parses, and every test file and script it names is there."""
    assert subprocess.run(["bash", "-n", str(CUDA_CHECK)], capture_output=True).returncode == 0
    named = set(re.findall(r"(?:tests|benchmarks)/[\w/]+\.py", CUDA_CHECK.read_text()))
    assert {"benchmarks/shift.py", "tests/test_shift_op.py", "tests/test_shift_cuda_on_host.py"} <= named
    assert all((ROOT / path).is_file() for path in named), [p for p in named if not (ROOT / p).is_file()]


def test_a_count_below_one_is_refused():
    run = subprocess.run(
        [sys.executable, str(SHIFT_SCRIPT), "--calls", "0"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2 and "--calls and --repeat must be at least 1" in run.stderr


class _Validated(Exception):
    pass


def test_cuda_check_trains_each_family_with_flags_it_accepts(monkeypatch):
    """The GPU check's training step: every family it names accepts its flags (width, frames) up to where training
    would start on the GPU."""
    from stviz.train import cli

    script = CUDA_CHECK.read_text()
    flags = re.search(r"short=\((.*)\)", script).group(1).split()
    models = re.search(r"for model in (.*); do", script).group(1).split()
    assert set(models) == set(cli.FAMILIES) and flags[flags.index("--device") + 1] == "cuda"

    def stop(device):
        raise _Validated(device)

    monkeypatch.setattr(cli, "init_distributed", stop)
    for model in models:
        with pytest.raises(_Validated, match="cuda"):
            cli.main(["--model", model, *flags])
