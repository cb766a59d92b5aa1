"""Baselines and the trainer: shapes, blindness by construction, determinism, checkpoints, CLI, learning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stviz import set_seed
from stviz.baselines import BASELINES, SideBlindGCN, TimeBlindGCN, TinyGCN, build_baseline
from stviz.data import ACTION_CLASSES, make_actions, mirror_left_right, synthetic_dataset, train_test_split
from stviz.train import evaluate, train


@pytest.fixture(scope="module")
def small_data():
    x, y = synthetic_dataset(48, num_frames=16, num_bodies=2, seed=0)
    return train_test_split(x, y, test_fraction=0.25, seed=0)


@pytest.mark.parametrize("name", sorted(BASELINES))
@pytest.mark.parametrize(("t", "m"), [(16, 2), (13, 1)])
def test_baseline_shapes(name, t, m):
    set_seed(0)
    model = build_baseline(name, num_classes=7, hidden=8).eval()
    assert model(torch.randn(3, 3, t, 25, m)).shape == (3, 7)


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (torch.randn(2, 3, 8, 25), ValueError, r"\(N, C, T, V, M\)"),
        (torch.randn(2, 6, 8, 25, 2), ValueError, "C=6 channels, expected 3"),
        (torch.randn(2, 3, 8, 18, 2), ValueError, "V=18 joints, but the graph has 25"),
        (torch.zeros(2, 3, 8, 25, 2, dtype=torch.int64), TypeError, "floating-point"),
    ],
)
@pytest.mark.parametrize("cls", [TinyGCN, TimeBlindGCN, SideBlindGCN])
def test_bad_input_is_named(cls, x, error, match):
    with pytest.raises(error, match=match):
        cls(5)(x)


def test_time_blind_model_is_invariant_to_time_order():
    set_seed(0)
    x = torch.randn(4, 3, 16, 25, 2)
    blind, tiny = TimeBlindGCN(5).eval(), TinyGCN(5).eval()
    shuffled = x[:, :, torch.randperm(16)]
    torch.testing.assert_close(blind(x.flip(2)), blind(x))
    torch.testing.assert_close(blind(shuffled), blind(x))
    assert not torch.allclose(tiny(x.flip(2)), tiny(x), rtol=1e-5, atol=1e-6)  # untrained, so differences are small


def test_side_blind_model_is_invariant_to_mirroring():
    set_seed(0)
    x = torch.randn(4, 3, 16, 25, 2)
    blind, tiny = SideBlindGCN(5).eval(), TinyGCN(5).eval()
    torch.testing.assert_close(blind(mirror_left_right(x)), blind(x))
    assert not torch.allclose(tiny(mirror_left_right(x)), tiny(x), rtol=1e-5, atol=1e-6)


def test_training_is_deterministic(small_data):
    train_set, test_set = small_data
    runs = []
    for seed in (0, 0, 1):
        set_seed(seed)
        runs.append(
            train(TinyGCN(len(ACTION_CLASSES), hidden=8), train_set, test_set, epochs=2, seed=seed, progress=False)
        )
    a, b, c = (r.model.state_dict() for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert runs[0].history == runs[1].history
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert set(runs[0].history) == {"train_loss", "train_accuracy", "test_loss", "test_accuracy"}
    assert len(runs[0].history["train_loss"]) == 2 and runs[0].test_accuracy == runs[0].history["test_accuracy"][-1]


def test_checkpoint_round_trip(small_data, tmp_path):
    train_set, test_set = small_data
    path = tmp_path / "ckpt" / "tiny.pt"
    set_seed(0)
    first = train(
        TinyGCN(len(ACTION_CLASSES), hidden=8), train_set, test_set, epochs=1, checkpoint=path, progress=False
    )
    assert path.exists() and not first.from_checkpoint
    saved = torch.load(path, weights_only=True)
    assert saved["config"]["model"] == "TinyGCN" and saved["config"]["model_config"]["hidden"] == 8
    set_seed(123)  # a different initialisation: loading must overwrite it
    second = train(
        TinyGCN(len(ACTION_CLASSES), hidden=8), train_set, test_set, epochs=1, checkpoint=path, progress=False
    )
    assert second.from_checkpoint and second.history == first.history and not second.model.training
    assert all(torch.equal(v, second.model.state_dict()[k]) for k, v in first.model.state_dict().items())
    assert evaluate(second.model, test_set)["accuracy"] == pytest.approx(first.test_accuracy)
    # a different configuration (here: the learning rate) trains again and overwrites the file
    third = train(
        TinyGCN(len(ACTION_CLASSES), hidden=8), train_set, test_set, epochs=1, lr=3e-2, checkpoint=path, progress=False
    )
    assert not third.from_checkpoint and torch.load(path, weights_only=True)["config"]["lr"] == 3e-2


def test_train_rejects_bad_data():
    with pytest.raises(ValueError, match=r"X \(N, C, T, V, M\) and y \(N,\)"):
        train(TinyGCN(3), (torch.randn(4, 3, 8, 25), torch.zeros(4, dtype=torch.int64)), epochs=1, progress=False)
    with pytest.raises(ValueError, match="int64"):
        train(TinyGCN(3), (torch.randn(4, 3, 8, 25, 1), torch.zeros(4)), epochs=1, progress=False)


def test_command_line(tmp_path):
    out = tmp_path / "out.pt"
    cmd = [
        sys.executable,
        "-m",
        "stviz.train",
        "--model",
        "tiny-gcn",
        "--epochs",
        "1",
        "--samples",
        "24",
        "--bodies",
        "2",
        "--frames",
        "8",
        "--hidden",
        "4",
        "--checkpoint",
        str(out),
        "--no-progress",
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "tiny-gcn: held-out accuracy" in run.stdout and "trained in" in run.stdout and out.exists()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert "loaded from checkpoint" in again.stdout
    usage = subprocess.run([sys.executable, "-m", "stviz.train", "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "--checkpoint" in usage.stdout and "time-blind-gcn" in usage.stdout


def test_tiny_gcn_learns_time_order_that_the_time_blind_model_cannot():
    """On 'sit down' vs 'stand up' (the same motion backwards) TinyGCN learns; TimeBlindGCN is at chance.

    The test set pairs every 'sit down' clip with that very clip played backwards, so a model that ignores time
    order gives both the same answer and scores exactly 50%.
    """
    sit, stand = ACTION_CLASSES.index("sit down"), ACTION_CLASSES.index("stand up")
    frames = 32
    x_train = np.concatenate(
        [make_actions(sit, 48, frames, rng=0, num_bodies=1), make_actions(stand, 48, frames, rng=1, num_bodies=1)]
    )
    y_train = torch.tensor([0] * 48 + [1] * 48)
    test_sit = make_actions(sit, 20, frames, rng=2, num_bodies=1)
    x_test = np.concatenate([test_sit, test_sit[:, :, ::-1]])
    y_test = torch.tensor([0] * 20 + [1] * 20)
    train_set, test_set = (torch.from_numpy(x_train), y_train), (torch.from_numpy(x_test.copy()), y_test)
    accuracy = {}
    for cls in (TinyGCN, TimeBlindGCN):
        set_seed(0)
        result = train(cls(2, hidden=8), train_set, test_set, epochs=6, batch_size=16, lr=1e-2, progress=False)
        accuracy[cls.__name__] = result.test_accuracy
    assert accuracy["TinyGCN"] >= 0.85, accuracy
    assert accuracy["TimeBlindGCN"] == 0.5, accuracy


def test_learnability_benchmark_runs():
    cmd = [sys.executable, "benchmarks/learnability.py", "--samples", "24", "--frames", "8", "--epochs", "1"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr
    rows = [line.split() for line in run.stdout.splitlines() if line.split()[:1] and line.split()[0] in BASELINES]
    assert [r[0] for r in rows] == list(BASELINES) and all(0 <= float(r[1]) <= 1 for r in rows)
