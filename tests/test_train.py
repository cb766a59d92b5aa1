"""Baselines and the trainer: shapes, blindness, determinism, checkpoints, recipes, streams, CLI, ensembles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler

from stviz import set_seed
from stviz.baselines import BASELINES, SideBlindGCN, TimeBlindGCN, TinyGCN, build_baseline
from stviz.data import ACTION_CLASSES, make_actions, mirror_left_right, synthetic_dataset, train_test_split
from stviz.data.npz import NpzDataset
from stviz.ensemble import combine, stream_weights, top_k_accuracy
from stviz.train import STREAMS, Recipe, evaluate, get_recipe, predict, train
from stviz.train.cli import main as cli_main
from stviz.train.cli import npz_training_data
from stviz.train.models import FAMILIES, build_family_model
from stviz.train.recipes import build_optimizer, build_schedule

ROOT = Path(__file__).resolve().parents[1]


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
    assert set(runs[0].history) == {"train_loss", "train_accuracy", "lr", "test_loss", "test_accuracy"}
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
    assert not third.from_checkpoint and torch.load(path, weights_only=True)["config"]["recipe"]["lr"] == 3e-2


def test_train_rejects_bad_data():
    with pytest.raises(ValueError, match=r"X \(N, C, T, V, M\) and y \(N,\)"):
        train(TinyGCN(3), (torch.randn(4, 3, 8, 25), torch.zeros(4, dtype=torch.int64)), epochs=1, progress=False)
    with pytest.raises(ValueError, match="int64"):
        train(TinyGCN(3), (torch.randn(4, 3, 8, 25, 1), torch.zeros(4)), epochs=1, progress=False)


def test_command_line(tmp_path, capsys):
    out = tmp_path / "out.pt"
    args = ["--model", "tiny-gcn", "--epochs", "1", "--samples", "24", "--bodies", "2", "--frames", "8", "--width", "4"]
    args += ["--checkpoint", str(out), "--no-progress"]
    run = subprocess.run([sys.executable, "-m", "stviz.train", *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "tiny-gcn (joint): held-out accuracy" in run.stdout and "trained in" in run.stdout and out.exists()
    cli_main(args)  # the same command again, in this process
    assert "loaded from checkpoint" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli_main(["--help"])
    usage = capsys.readouterr().out
    assert "--checkpoint" in usage and "time-blind-gcn" in usage and "torchrun --standalone" in usage


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
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    rows = [line.split() for line in run.stdout.splitlines() if line.split()[:1] and line.split()[0] in BASELINES]
    assert [r[0] for r in rows] == list(BASELINES) and all(0 <= float(r[1]) <= 1 for r in rows)


# ---------------------------------------------------------------------------- recipes


def test_recipes_hold_the_originals_settings():
    ctr, shift, msg3d, eff, stgcn = (get_recipe(n) for n in ("ctrgcn", "shiftgcn", "msg3d", "efficientgcn-b0", "stgcn"))
    for recipe in (ctr, shift, msg3d, eff, stgcn):
        assert recipe.optimizer == "sgd" and recipe.nesterov and recipe.momentum == 0.9
    assert (ctr.lr, ctr.weight_decay, ctr.milestones, ctr.warmup_epochs, ctr.epochs, ctr.batch_size) == (
        0.1,
        4e-4,
        (35, 55),
        5,
        65,
        64,
    )
    assert (shift.milestones, shift.epochs, shift.batch_size) == ((60, 80, 100), 140, 64)
    assert (msg3d.lr, msg3d.weight_decay, msg3d.milestones, msg3d.epochs, msg3d.batch_size) == (
        0.05,
        5e-4,
        (30, 40),
        50,
        32,
    )
    assert (eff.schedule, eff.warmup_epochs, eff.epochs, eff.batch_size, eff.weight_decay) == (
        "cosine",
        10,
        70,
        32,
        1e-4,
    )
    assert (stgcn.milestones, stgcn.epochs) == ((10, 50), 80)
    assert Recipe.from_dict(ctr.to_dict()) == ctr and Recipe.from_dict(shift.to_dict()) == shift


def _learning_rates(recipe: Recipe, steps_per_epoch: int) -> list[float]:
    optimizer = build_optimizer(torch.nn.Linear(2, 2), recipe)
    schedule = build_schedule(optimizer, recipe, steps_per_epoch)
    rates = []
    for _ in range(recipe.epochs * steps_per_epoch):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return rates


def test_schedules_warm_up_step_and_fall_as_a_cosine():
    ctr = _learning_rates(get_recipe("ctrgcn"), 2)  # 65 epochs, 2 steps each
    assert ctr[0] == pytest.approx(0.01) and ctr[9] == pytest.approx(0.1)  # linear over 5 epochs = 10 steps
    assert ctr[2 * 34 + 1] == pytest.approx(0.1) and ctr[2 * 35] == pytest.approx(0.01)
    assert ctr[2 * 55] == pytest.approx(0.001)
    eff = _learning_rates(get_recipe("efficientgcn"), 1)
    assert eff[4] == pytest.approx(0.05) and max(eff) == pytest.approx(0.1)
    assert eff[10 + 30] == pytest.approx(0.1 * 0.5 * (np.cos(np.pi * 30 / 60) + 1)) and eff[-1] < 1e-3
    short = get_recipe("ctrgcn").scaled(13)
    assert short.milestones == (7, 11) and short.warmup_epochs == pytest.approx(1.0)
    assert max(_learning_rates(short.replace(warmup_epochs=0.3), 2)) == pytest.approx(0.1)  # never above the base


def test_shift_gcn_recipe_sets_weight_decay_per_parameter():
    model = build_family_model("shiftgcn", 12, 8, num_persons=1)
    optimizer = build_optimizer(model, get_recipe("shiftgcn"))
    decay_of = {id(p): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}
    named = dict(model.named_parameters())
    assert decay_of[id(named["layers.0.gcn1.weight"])] == 1e-3
    assert decay_of[id(named["layers.0.gcn1.feature_mask"])] == 0.0
    assert decay_of[id(named["layers.0.gcn1.bias"])] == 1e-4 and decay_of[id(named["fc.weight"])] == 1e-4
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(named)


def small_family_run(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.nn.Module]:
    """24 synthetic clips of 8 frames and one body, and a seeded narrow model of family ``name``."""
    x, y = synthetic_dataset(24, num_frames=8, num_bodies=1, seed=0)
    set_seed(0)
    return x, y, build_family_model(name, len(ACTION_CLASSES), {"msg3d": 6}.get(name, 8), num_persons=1)


@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_trains_with_its_recipe(name):
    x, y, model = small_family_run(name)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(model, (x, y), recipe=name, epochs=1, batch_size=12, progress=False)
    assert np.isfinite(result.history["train_loss"][0]) and result.recipe.nesterov
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert predict(model, x).shape == (24, len(ACTION_CLASSES))


@pytest.mark.parametrize("name", FAMILIES)
def test_mixed_precision_on_the_cpu_trains_every_family_in_bfloat16(name):
    """--amp on the CPU: the forward pass runs under bfloat16 autocast, the weights stay float32."""
    x, y, model = small_family_run(name)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    dtypes = set()
    hooks = [
        m.register_forward_hook(lambda m, i, out: dtypes.add(out.dtype))
        for m in model.modules()
        if not list(m.children())
    ]
    result = train(model, (x, y), recipe=name, epochs=1, batch_size=12, progress=False, amp=True)
    for hook in hooks:
        hook.remove()
    assert torch.bfloat16 in dtypes and np.isfinite(result.history["train_loss"][0])
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.isfinite(predict(model, x)).all()


def test_mixed_precision_on_the_cpu_stays_close_to_float32(small_data):
    """One epoch of TinyGCN in bfloat16 ends near the float32 run (bfloat16 keeps 8 bits of mantissa)."""
    train_set, _ = small_data
    losses = {}
    for amp in (False, True):
        set_seed(0)
        model = TinyGCN(len(ACTION_CLASSES), hidden=8)
        losses[amp] = train(model, train_set, epochs=1, progress=False, amp=amp).history["train_loss"][0]
    assert losses[True] != losses[False] and losses[True] == pytest.approx(losses[False], rel=0.05)


# ---------------------------------------------------------------------------- streams and ensembles


def test_streams_are_formed_batch_by_batch(small_data):
    train_set, test_set = small_data
    x = test_set[0]
    bone = STREAMS["bone"](x)
    assert torch.equal(STREAMS["bone-motion"](x)[:, :, :-1], bone[:, :, 1:] - bone[:, :, :-1])
    set_seed(0)
    model = TinyGCN(len(ACTION_CLASSES), hidden=8)
    result = train(model, train_set, test_set, epochs=1, stream="bone", progress=False)
    torch.testing.assert_close(result.test_scores, model.eval()(bone))
    with pytest.raises(ValueError, match=r"stream must be one of .*got 'velocity'"):
        train(model, train_set, epochs=1, stream="velocity", progress=False)


def test_ensemble_weights_and_accuracy():
    assert stream_weights(["joint", "bone"]) == [1.0, 1.0]
    assert stream_weights(["joint", "bone", "joint-motion", "bone-motion"]) == [0.6, 0.6, 0.4, 0.4]
    labels = torch.tensor([0, 1, 2, 3])
    joint = torch.eye(4)[[0, 1, 3, 2]] * 2  # right on the first two
    bone = torch.eye(4)[[1, 1, 2, 3]] * 3  # right on the last three
    assert top_k_accuracy(joint, labels) == 0.5 and top_k_accuracy(bone, labels) == 0.75
    assert top_k_accuracy(combine([joint, bone]), labels) == 0.75
    assert top_k_accuracy(joint, labels, k=5) == 1.0
    with pytest.raises(ValueError, match=r"one weight per score tensor \(2\), got 1"):
        combine([joint, bone], [1.0])
    with pytest.raises(ValueError, match="streams must be joint, bone, joint-motion or bone-motion, got"):
        stream_weights(["joint", "velocity"])


def test_ensemble_command_line_reads_saved_scores(tmp_path):
    labels = torch.arange(6) % 3
    # each stream is right on 4 of 6 clips, confident (1.0) where right and hesitant (0.5) where wrong
    joint = torch.eye(3)[[0, 1, 2, 0, 2, 1]] * torch.tensor([1, 1, 1, 1, 0.5, 0.5])[:, None]
    bone = torch.eye(3)[[1, 2, 2, 0, 1, 2]] * torch.tensor([0.5, 0.5, 1, 1, 1, 1])[:, None]
    streams = {"joint": joint, "bone": bone}
    paths = []
    for stream, scores in streams.items():
        paths.append(tmp_path / f"{stream}.pt")
        torch.save({"scores": scores, "labels": labels, "stream": stream, "model": "x"}, paths[-1])
    run = subprocess.run(
        [sys.executable, "-m", "stviz.ensemble", *map(str, paths)], capture_output=True, text=True, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    assert "joint         top-1 0.6667" in run.stdout and "bone          top-1 0.6667" in run.stdout
    assert "ensemble      top-1 1.0000  top-5 1.0000  (weights 1, 1)" in run.stdout


# ---------------------------------------------------------------------------- curves


def test_training_curves_come_back_and_are_drawn(small_data):

    from matplotlib.collections import PathCollection

    from stviz.viz import plot_seed_study, plot_training_curves

    train_set, test_set = small_data
    set_seed(0)
    result = train(TinyGCN(len(ACTION_CLASSES), hidden=8), train_set, test_set, epochs=2, progress=False)
    loss_ax, accuracy_ax = plot_training_curves(result.history)
    assert [line.get_label() for line in loss_ax.get_lines()] == ["train", "test"]
    np.testing.assert_allclose(accuracy_ax.get_lines()[1].get_ydata(), result.history["test_accuracy"])
    study = {"accuracy": {"joint": [0.8, 0.9], "bone": [0.7, 0.85]}, "ensemble_2": [0.9, 0.95], "ensemble_4": [1, 1]}
    ax = plot_seed_study(study)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["joint", "bone", "2-stream", "4-stream"]
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [len(c.get_offsets()) for c in dots] == [2, 2, 2, 2] and "2 seeds" in ax.get_title()
    np.testing.assert_allclose(dots[1].get_offsets()[:, 1], [70, 85])  # percent
    assert ax.get_ylabel() == "held-out accuracy (%)"


def test_command_line_trains_on_an_npz_file_in_ctrgcn_layout(tmp_path):
    """x_<split> (N, T, 150) zero-padded after the valid frames, one-hot y_<split> (N, num_class)."""
    rng = np.random.default_rng(0)

    def split(n):
        x = np.zeros((n, 30, 150), dtype=np.float32)
        x[:, :20] = rng.normal(size=(n, 20, 150))  # 20 valid frames of 2 persons x 25 joints x 3
        return x, np.eye(5, dtype=np.float32)[np.arange(n) % 5]

    (x_train, y_train), (x_test, y_test) = split(20), split(10)
    path = tmp_path / "NTU_tiny.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    scores = tmp_path / "scores.pt"
    result = cli_main(["--data", str(path), "--frames", "8", "--epochs", "1", "--no-progress", "--scores", str(scores)])
    saved = torch.load(scores, weights_only=True)
    assert saved["scores"].shape == (10, 5) and saved["labels"].tolist() == [0, 1, 2, 3, 4] * 2
    assert result.model(torch.zeros(1, 3, 8, 25, 2)).shape == (1, 5) and len(result.history["train_loss"]) == 1


def write_ntu_npz(path, n_train=20, n_test=10, seed=0):
    """CTR-GCN's layout: x_<split> (N, 30, 150) with 20 valid frames then zeros, one-hot y_<split> (N, 5)."""
    rng = np.random.default_rng(seed)

    def split(n):
        x = np.zeros((n, 30, 150), dtype=np.float32)
        x[:, :20] = rng.normal(size=(n, 20, 150))
        return x, np.eye(5, dtype=np.float32)[np.arange(n) % 5]

    (x_train, y_train), (x_test, y_test) = split(n_train), split(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def test_npz_training_augments_as_the_recipes_original(tmp_path):
    path = write_ntu_npz(tmp_path / "ntu.npz")
    ctrgcn, (x_test, y_test), num_classes = npz_training_data(path, 8, "ctrgcn", seed=4)
    assert (ctrgcn.p_interval, ctrgcn.rotate, ctrgcn.seed, ctrgcn.window) == ((0.5, 1.0), True, 4, 8)
    assert x_test.shape == (10, 3, 8, 25, 2) and num_classes == 5 and y_test.tolist() == [0, 1, 2, 3, 4] * 2
    stgcn, _, _ = npz_training_data(path, 8, "stgcn")
    assert (stgcn.p_interval, stgcn.rotate) == ((0.95,), False)  # no augmentation: cropped as at test time
    chosen, _, _ = npz_training_data(path, 8, "ctrgcn", p_interval=(0.8, 0.9), rotate=False)
    assert (chosen.p_interval, chosen.rotate) == ((0.8, 0.9), False)


class RecordingNpzDataset(NpzDataset):
    """An NpzDataset that records the (epoch, index) of every item drawn."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.drawn = []

    def __getitem__(self, index):
        self.drawn.append((self.epoch, int(index)))
        return super().__getitem__(index)


def test_train_draws_a_datasets_clips_anew_every_epoch(tmp_path):
    path = write_ntu_npz(tmp_path / "ntu.npz")
    _, test_set, _ = npz_training_data(path, 8, "ctrgcn")
    weights = []
    for _ in range(2):
        data = RecordingNpzDataset(path, "train", 8, (0.5, 1.0), rotate=True, seed=2)
        set_seed(0)
        model = TinyGCN(5, hidden=8)
        result = train(model, data, test_set, recipe="ctrgcn", epochs=3, batch_size=8, progress=False)
        weights.append(model.state_dict())
        assert len(result.history["train_loss"]) == 3 and np.isfinite(result.history["train_loss"]).all()
        for epoch in range(3):  # every sample once per epoch, drawn with that epoch's random numbers
            drawn = data.drawn[1:]  # the first is train()'s look at item 0
            assert sorted(i for e, i in drawn if e == epoch) == list(range(20))
    assert all(torch.equal(v, weights[1][k]) for k, v in weights[0].items())  # seeded: the same weights


def test_npz_items_do_not_depend_on_the_process_that_draws_them(tmp_path):
    """Under a DistributedSampler each rank draws its share; item i of epoch e is the same on any rank."""
    path = write_ntu_npz(tmp_path / "ntu.npz")
    single = NpzDataset(path, "train", 8, (0.5, 1.0), rotate=True, seed=5)
    ranks = [NpzDataset(path, "train", 8, (0.5, 1.0), rotate=True, seed=5) for _ in range(2)]
    for epoch in (0, 1):
        single.set_epoch(epoch)
        for r, data in enumerate(ranks):
            data.set_epoch(epoch)
            sampler = DistributedSampler(data, num_replicas=2, rank=r, shuffle=True, seed=5)
            sampler.set_epoch(epoch)
            for i in sampler:
                assert torch.equal(data[i][0], single[i][0])
