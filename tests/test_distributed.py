"""torchrun: 2 CPU processes train as one DistributedDataParallel job and equal one process on the same batches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stviz.train.cli import main

ROOT = Path(__file__).resolve().parents[1]
# TinyGCN with BatchNorm, trained by SGD (CTR-GCN's recipe) over 3 epochs of 36 clips at global batch 8.
ARGS = ["--model", "tiny-gcn", "--recipe", "ctrgcn", "--lr", "0.05", "--width", "8", "--frames", "8"]
ARGS += ["--samples", "48", "--epochs", "3", "--batch-size", "8", "--seed", "3"]


def write_npz(path):
    """A CTR-GCN-layout .npz of 24 training and 12 test clips (20 valid frames of 30), 4 classes."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 24), ("test", 12)):
        x = np.zeros((n, 30, 150), dtype=np.float32)
        x[:, :20] = rng.normal(size=(n, 20, 150))
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, np.eye(4, dtype=np.float32)[np.arange(n) % 4]
    np.savez(path, **arrays)
    return path


def torchrun(args):
    """Two CPU ranks started by ``python -m torch.distributed.run`` (the ``torchrun`` command) with this interpreter."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    return run


@pytest.mark.parametrize("data", ["synthetic", "npz"])
def test_two_processes_equal_one(tmp_path, data):
    """On the .npz file the training clips are cropped and rotated anew every epoch (CTR-GCN's recipe)."""
    args = ARGS if data == "synthetic" else [*ARGS, "--data", str(write_npz(tmp_path / "ntu.npz"))]
    two = tmp_path / "two.pt"
    run = torchrun(["-m", "stviz.train", *args, "--checkpoint", str(two), "--scores", str(tmp_path / "scores.pt")])
    assert run.stdout.count("world size 2, backend gloo") == 1, run.stdout
    assert run.stdout.count("held-out accuracy") == 1  # rank 0 alone reports ...
    assert run.stderr.count("training TinyGCN:   0%|          | 0/3 [00:00<?, ?it/s]") == 1  # ... and draws the bar
    one = main([*args, "--checkpoint", str(tmp_path / "one.pt"), "--no-progress"])
    saved = torch.load(two, weights_only=True)
    for key, value in one.model.state_dict().items():
        torch.testing.assert_close(saved["state_dict"][key], value, rtol=1e-5, atol=1e-5, msg=key)
    for key, values in one.history.items():
        assert saved["history"][key] == pytest.approx(values, rel=1e-5, abs=1e-6), key
    scores = torch.load(tmp_path / "scores.pt", weights_only=True)
    torch.testing.assert_close(scores["scores"], one.test_scores, rtol=1e-4, atol=1e-5)
    assert len(scores["labels"]) == 12 and scores["stream"] == "joint"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="thread names are read from Linux's /proc")
def test_gloo_threads_end_with_the_job(tmp_path):
    """The process group dies at the job's end, its gloo threads with it: threads that outlive it into interpreter
    shutdown can free a collective's tensors there and abort the process (1 job in 84 did, before the fix)."""
    script = tmp_path / "job.py"
    script.write_text(
        "import os, sys\n"
        "from stviz.train.cli import main\n"
        "main(sys.argv[1:])\n"
        "names = [open(f'/proc/self/task/{t}/comm').read().strip() for t in os.listdir('/proc/self/task')]\n"
        "left = sorted(n for n in names if 'gloo' in n)\n"
        "os.write(1, f'gloo threads left: {left}\\n'.encode())\n"  # one write: the two ranks share the pipe
    )
    run = torchrun([str(script), *ARGS, "--epochs", "1", "--no-progress"])
    assert run.stdout.count("gloo threads left: []") == 2, run.stdout
