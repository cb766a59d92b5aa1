"""The benchmark's op-by-op originals compute what the stviz blocks and models compute.

``benchmarks/originals.py`` times every configuration of the seven models against the original's forward written
out op by op on the same weights (``benchmarks/original_forwards.py``). Here, on tiny inputs and without timing,
each of those transcriptions must give stviz's output in eval mode, and in train mode (dropout off, since
stviz draws its masks differently) the same output and the same input gradient, so that both sides of every
timed pair compute the same thing. The check runs in float64,
where two orders of summation agree to about 1e-12, so a tight tolerance separates a wrong formula from rounding.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import runpy
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from stviz import set_seed

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
ORIGINALS_PATH = BENCHMARKS / "originals.py"
ORIGINALS = runpy.run_path(str(ORIGINALS_PATH))
CASES = ORIGINALS["all_cases"](n=1, t=8, clips=1)


def test_every_family_and_model_is_covered():
    families = {name.split()[0] for name in CASES}
    assert families == {"stgcn", "ctrgcn", "shiftgcn", "effgcn", "msg3d", "model"}
    assert sum(name.startswith("model ") for name in CASES) == 7


def perturb(module: torch.nn.Module) -> None:
    """Move every weight and BatchNorm statistic away from its initial value, so that no path is inert (learned
    offsets start at 1e-6, CTR-GCN's BN weight at 1e-6) and folding BatchNorm into a convolution matters."""
    with torch.no_grad():
        for p in module.parameters():
            if p.is_floating_point():
                p.add_(0.1 * torch.randn_like(p))
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)


@pytest.mark.parametrize("name", list(CASES))
def test_transcribed_original_equals_stviz(name):
    set_seed(0)
    module, ours, theirs, shape = CASES[name].make()
    module.double()
    perturb(module)
    x = torch.randn(shape, dtype=torch.float64)
    module.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x.clone()), atol=1e-9, rtol=1e-9)
    module.train()
    for m in module.modules():  # ST-GCN's dropout draws its masks its own way (tests/test_layers.py checks it)
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    grads = []
    for fn in (ours, theirs):
        xi = x.clone().requires_grad_(True)
        y = fn(xi)
        y.backward(torch.ones_like(y))
        grads.append((y.detach(), xi.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0], atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(grads[0][1], grads[1][1], atol=1e-9, rtol=1e-9)


FORK = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform")
SETTINGS = ORIGINALS["Settings"](budget=0.01, pairs=3, clock="wall", threads=1)


def failing_make():
    raise KeyError("no such block")


def in_new_interpreter(body: str, timeout_s: float = 120) -> str:
    """``body`` run by a new Python, after ``O`` (originals.py's namespace) and ``CASES`` (tiny cases) are defined: a
    process that has run nothing multi-threaded, whatever this one ran. Returns what it printed; past ``timeout_s``
    the test fails, and the interpreter and every process it forked are killed."""
    setup = f"import runpy, torch\nO = runpy.run_path({str(ORIGINALS_PATH)!r})\n"
    setup += "CASES = O['all_cases'](n=1, t=8, clips=1)\n"
    command = [sys.executable, "-c", setup + textwrap.dedent(body)]
    pipe = subprocess.PIPE
    with subprocess.Popen(command, stdout=pipe, stderr=pipe, text=True, start_new_session=True) as python:
        try:
            printed, errors = python.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(python.pid, signal.SIGKILL)
            python.communicate()
            pytest.fail(f"no answer from a new interpreter after {timeout_s} s")
    assert python.returncode == 0, errors
    return printed


@FORK
def test_each_case_is_timed_in_its_own_process():
    """From a new interpreter, which has run nothing multi-threaded: a fork copies no threads (the test below), and
    this pytest process may have run multi-threaded work."""
    printed = in_new_interpreter("""
        threads = torch.get_num_threads()
        settings = O["Settings"](budget=0.01, pairs=3, clock="wall", threads=threads + 1)
        timing = O["in_fresh_process"](CASES["stgcn ConvTemporalGraphical 3->64 T8"], "eval", settings)
        assert timing.pairs >= 3 and timing.ours_ms > 0 and timing.theirs_ms > 0, timing
        assert torch.get_num_threads() == threads  # the case set its threads in another process
        print("timed")
    """)
    assert printed.split() == ["timed"]


@FORK
@pytest.mark.skipif(sys.platform != "linux", reason="reads which OpenMP runtime is loaded from /proc/self/maps")
def test_a_fork_after_multithreaded_work_is_reported_not_left_hanging():
    """With GNU OpenMP the forked process's first multi-threaded op waits forever for threads it does not have: it is
    reported within THREADS_TIMEOUT_S instead of CASE_TIMEOUT_S (15 minutes). OpenMP runtimes that handle a fork time
    the case."""
    printed = in_new_interpreter("""
        import time
        O["run_threaded_ops"](2)  # this process now has OpenMP's threads, which a fork does not copy
        O["in_fresh_process"].__globals__.update(THREADS_TIMEOUT_S=5, CASE_TIMEOUT_S=30)
        settings = O["Settings"](budget=0.01, pairs=3, clock="wall", threads=2)
        start = time.perf_counter()
        try:
            O["in_fresh_process"](CASES["stgcn ConvTemporalGraphical 3->64 T8"], "eval", settings)
            print("timed")
        except RuntimeError as error:
            print(error)
        print(time.perf_counter() - start)
        maps = open("/proc/self/maps").read()
        print("libgomp" in maps and "libiomp" not in maps)
    """)
    *outcome, seconds, gnu_openmp = printed.strip().splitlines()
    assert float(seconds) < 60
    if gnu_openmp == "True":
        assert outcome[0].startswith(
            "stgcn ConvTemporalGraphical 3->64 T8 (eval): its forked process hung in its first 2-thread op"
        ), printed
        assert "OpenMP's threads do not survive a fork" in outcome[0]
    else:
        assert outcome == ["timed"] or "hung in its first 2-thread op" in outcome[0], printed


@FORK
def test_a_failing_case_is_reported():
    """On one thread: no multi-threaded op runs in the forked process, whatever this process ran."""
    failing = ORIGINALS["Case"]("no such case", 1.0, failing_make)
    with pytest.raises(RuntimeError, match=r"(?s)no such case \(eval\) failed in its process.*KeyError"):
        ORIGINALS["in_fresh_process"](failing, "eval", SETTINGS)


@FORK
def test_a_case_whose_process_dies_is_reported(monkeypatch):
    in_fresh_process = ORIGINALS["in_fresh_process"]
    monkeypatch.setitem(in_fresh_process.__globals__, "settled_measure", lambda *_: os._exit(3))
    with pytest.raises(RuntimeError, match=r"stgcn st_gcn 3->64 s1 T8 \(train\): its process died \(exit code 3\)"):
        in_fresh_process(CASES["stgcn st_gcn 3->64 s1 T8"], "train", SETTINGS)


BOUND = runpy.run_path(str(BENCHMARKS / "multiscale_bound.py"))


def test_bound_times_the_block_before_batchnorm():
    """``benchmarks/multiscale_bound.py`` times a graph conv's products alone: they must be its 1x1 convolution on the
    explicit stack, bias included, with the same gradients for the input and every weight."""
    set_seed(0)
    block = CASES["msg3d MultiScale_GraphConv(4, powers) 64->64 T8"].make()[0].double().train()
    perturb(block)
    x = torch.randn(2, 64, 8, 25, dtype=torch.float64)
    results = []
    for fn in (BOUND["products"], lambda b, x: b.conv(b.aggregate(x))):
        xi = x.clone().requires_grad_(True)
        block.zero_grad()
        y = fn(block, xi)
        y.backward(torch.ones_like(y) + xi[:, :1].detach())
        results.append([y.detach(), xi.grad] + [p.grad.clone() for p in block.parameters() if p.grad is not None])
    assert len(results[0]) == len(results[1]) == 5  # output, input, the graph's offsets, the conv's weight and bias
    for ours, explicit in zip(*results, strict=True):
        torch.testing.assert_close(ours, explicit, atol=1e-9, rtol=1e-9)


def test_bound_names_the_cases_it_takes():
    with pytest.raises(SystemExit, match="must name one MultiScale_GraphConv case"):
        BOUND["main"](["--case", "stgcn ConvTemporalGraphical", "--batch", "1", "--frames", "8"])
    with pytest.raises(SystemExit, match="no wider than the output"):
        BOUND["main"](["--case", "msg3d MultiScale_GraphConv(13) 3->96", "--batch", "1", "--frames", "8"])


TABLE = runpy.run_path(str(BENCHMARKS / "originals_table.py"))
RESULTS = BENCHMARKS / "results"


def saved_run(path: Path, ratios: dict[tuple[str, str], float], budget: float = 1.0) -> Path:
    """A run as ``originals.py --save`` writes it, with these ratios (the original at 10 ms)."""
    timing = ORIGINALS["Timing"]
    graph_conv = ("msg3d MultiScale_GraphConv", ORIGINALS["MSG3D_GRAPH_GOAL"])
    rows = [
        (ORIGINALS["Case"](name, graph_conv[1] if name.startswith(graph_conv[0]) else ORIGINALS["GOAL"], failing_make),
         mode, timing(10 * ratio, 10.0, ratio, 10))
        for (name, mode), ratio in ratios.items()
    ]  # fmt: skip
    args = argparse.Namespace(
        threads=2, frames=64, batch=8, clips=2, budget=budget, pairs=10, clock="wall", keep_freed_memory=False,
        in_process=False, modes=["eval", "train"], only=[],
    )  # fmt: skip
    record = ORIGINALS["run_record"](rows, args, 12.3)
    assert record["seconds"] == 12 and record["settings"]["budget"] == budget and len(record["rows"]) == len(rows)
    assert record["pointwise_kernel"] in ("matmul", "conv") and record["cpu_vendor"] and record["cpu_capability"]
    assert record["cpu_family_model"] == ORIGINALS["cpu"].cpu_family_model()
    path.write_text(json.dumps(record))
    return path


def test_saved_runs_make_the_table(tmp_path, capsys):
    names = ["msg3d MultiScale_GraphConv(13) 3->96 T64", "msg3d MultiScale_GraphConv(4, powers) 64->64 T64",
             "ctrgcn CTRGC 3->64 T64", "model MS-G3D"]  # fmt: skip
    first = {(n, m): r for n, r in zip(names, (0.7004, 0.5, 0.9, 0.6), strict=True) for m in ("eval", "train")}
    second = {**first, (names[1], "train"): 0.8, (names[2], "eval"): 1.2}
    runs = [saved_run(tmp_path / "run7.json", first), saved_run(tmp_path / "other.json", second)]
    TABLE["main"]([str(p) for p in runs])
    printed = capsys.readouterr().out
    lines = TABLE["table"](TABLE["load"](runs), ["7", "other"]).splitlines()
    assert printed.startswith("\n".join(lines) + "\n\nrun 7 (")  # the table, then the rows over, run by run
    assert lines[0].endswith("rows over the goal (runs 7, other) |")
    assert lines[2:] == [
        "| MS-G3D `MultiScale_GraphConv` | 2 | 0.50–0.70 | 0.50–0.80 | 0.7 | 2, 3 of 4 |",  # 0.7004 is over 0.7
        "| CTR-GCN `CTRGC` | 1 | 0.90–1.20 | 0.90–0.90 | 1.0 | 0, 1 of 2 |",
        "| model MS-G3D | — | 0.60–0.60 | 0.60–0.60 | 1.0 | 0, 0 of 2 |",
    ]
    over = TABLE["rows_over"](TABLE["load"](runs), ["7", "other"]).splitlines()
    assert over[0].endswith("12 s): 2 of 8 rows over their goal") and over[3].endswith("4 of 8 rows over their goal")
    assert over[4] == "  ctrgcn CTRGC 3->64 T64 (eval) 1.20 (pairs 1.20) > 1.0"  # worst first: 1.2 / 1.0


def test_runs_of_other_cases_are_refused(tmp_path):
    one = saved_run(tmp_path / "a.json", {("model MS-G3D", "eval"): 0.6})
    two = saved_run(tmp_path / "b.json", {("model MS-G3D", "train"): 0.6})
    with pytest.raises(ValueError, match=r"b\.json holds other rows than .*a\.json"):
        TABLE["load"]([one, two])
    slower = saved_run(tmp_path / "c.json", {("model MS-G3D", "eval"): 0.6}, budget=2.0)
    with pytest.raises(ValueError, match=r"c\.json was run with other settings than .*a\.json: .*'budget': 2\.0"):
        TABLE["load"]([one, slower])


def test_readme_tables_come_from_the_saved_runs():
    """Each of the README's block tables (one per processor) is exactly what ``originals_table.py`` prints for the
    runs its header names, all of them on one processor with one kernel for the 1x1 convolutions."""
    readme = (BENCHMARKS.parent / "README.md").read_text()
    starts = [i for i in range(len(readme)) if readme.startswith("| block or model | configurations", i)]
    assert len(starts) == 5
    for start in starts:
        block = readme[start : readme.index("\n\n", start)]
        names = block.split("(runs ", 1)[1].split(")", 1)[0].split(", ")
        runs = TABLE["load"]([RESULTS / f"run{name}.json" for name in names])
        assert len(names) >= 3 and {run["settings"]["threads"] for run in runs} == {2}
        processor = {(run["cpu"], run.get("cpu_capability"), tuple(run.get("cpu_family_model") or ())) for run in runs}
        assert len(processor) == 1 and len({run.get("pointwise_kernel") for run in runs}) == 1
        assert block == TABLE["table"](runs, names)


@pytest.mark.parametrize("kernel", ["matmul", "conv"])
def test_the_1x1_kernel_can_be_chosen_for_a_run(tmp_path, monkeypatch, kernel):
    """``--pointwise-kernel`` overrides stviz.cpu's choice for the run, and the saved run says which one ran."""
    monkeypatch.setattr(ORIGINALS["cpu"], "POINTWISE_KERNEL", ORIGINALS["cpu"].POINTWISE_KERNEL)  # restored after
    path = tmp_path / "run.json"
    settings = "--batch 1 --frames 8 --budget 0 --pairs 2 --modes eval --in-process".split()
    threads = ["--threads", str(torch.get_num_threads())]
    only = ["--only", "stgcn ConvTemporalGraphical 3->64"]
    ORIGINALS["main"](only + settings + threads + ["--pointwise-kernel", kernel, "--save", str(path)])
    assert json.loads(path.read_text())["pointwise_kernel"] == kernel


def test_a_run_is_saved_as_it_is_printed(tmp_path, capsys):
    """``originals.py --save`` writes the rows it prints, with their goals, and its exit status is the verdict."""
    path = tmp_path / "run.json"
    only = ["--only", "stgcn ConvTemporalGraphical 3->64", "msg3d MultiScale_GraphConv(13) 3->96"]
    settings = "--batch 1 --frames 8 --budget 0 --pairs 2 --modes eval --in-process --save".split()
    threads = ["--threads", str(torch.get_num_threads())]  # timed in this process: leave its threads as they are
    status = ORIGINALS["main"](only + settings + [str(path)] + threads)
    rows = json.loads(path.read_text())["rows"]
    assert [(r["name"], r["mode"], r["goal"]) for r in rows] == [
        ("stgcn ConvTemporalGraphical 3->64 T8", "eval", 1.0),
        ("msg3d MultiScale_GraphConv(13) 3->96 T8", "eval", 0.7),
    ]
    printed = capsys.readouterr().out
    for r in rows:
        assert r["ratio"] == r["stviz_ms"] / r["original_ms"] and r["pairs"] >= 2
        assert f"{r['name']:58s} eval  {r['stviz_ms']:9.2f} {r['original_ms']:9.2f} {r['ratio']:6.2f}" in printed
    over = sum(r["ratio"] > r["goal"] for r in rows)
    assert status == (1 if over else 0) and f"{over} of 2 over their goal" in printed
    with pytest.raises(SystemExit):
        ORIGINALS["main"](["--only", "no such block"])
    assert "--only no such block: no configuration's name contains any of these" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ORIGINALS["main"](["--save", str(tmp_path / "no folder" / "run.json")])
    assert "--save: no folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ORIGINALS["main"](["--threads", "0"])
    assert "--threads 0: at least 1" in capsys.readouterr().err
