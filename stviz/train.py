"""The shared CPU trainer: seeded, deterministic, with a tqdm bar and checkpoints that are reused when they match.

>>> from stviz.data import synthetic_dataset, train_test_split
>>> train_set, test_set = train_test_split(*synthetic_dataset(480), test_fraction=0.25)
>>> result = train(TinyGCN(12), train_set, test_set, epochs=10)   # doctest: +SKIP

Command line: ``python -m stviz.train --model tiny-gcn --epochs 10 --samples 480 --checkpoint out.pt``.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from stviz import set_seed
from stviz.baselines import BASELINES, build_baseline
from stviz.data.synthetic import ACTION_CLASSES, synthetic_dataset, train_test_split

__all__ = ["TrainResult", "train", "evaluate", "main"]

Data = tuple[torch.Tensor, torch.Tensor]


@dataclass
class TrainResult:
    """What :func:`train` returns. ``history`` has one entry per epoch for each key."""

    model: nn.Module
    history: dict[str, list[float]] = field(default_factory=dict)
    test_accuracy: float | None = None
    seconds: float = 0.0
    from_checkpoint: bool = False


def _check_data(data: Data, name: str) -> Data:
    if not (isinstance(data, tuple | list) and len(data) == 2):
        raise TypeError(f"{name} must be a pair (X, y) of tensors")
    x, y = data
    if x.dim() != 5 or y.dim() != 1 or len(x) != len(y):
        raise ValueError(f"{name}: expected X (N, C, T, V, M) and y (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    if y.dtype != torch.int64:
        raise ValueError(f"{name}: y must be int64 class indices, got {y.dtype}")
    return x, y


@torch.no_grad()
def evaluate(model: nn.Module, data: Data, batch_size: int = 128) -> dict[str, float]:
    """Mean cross-entropy ``loss`` and ``accuracy`` (fraction correct) of ``model`` in eval mode on (X, y)."""
    x, y = _check_data(data, "data")
    was_training = model.training
    model.eval()
    loss = correct = 0.0
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size])
        target = y[start : start + batch_size]
        loss += nn.functional.cross_entropy(logits, target, reduction="sum").item()
        correct += (logits.argmax(1) == target).sum().item()
    model.train(was_training)
    return {"loss": loss / len(x), "accuracy": correct / len(x)}


def _fingerprint(data: Data | None) -> str | None:
    """A hash of the data, so a checkpoint is only reused for the data it was trained on."""
    if data is None:
        return None
    digest = hashlib.sha1()
    for tensor in data:
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def train(
    model: nn.Module,
    train_data: Data,
    test_data: Data | None = None,
    *,
    epochs: int,
    batch_size: int = 32,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    num_threads: int | None = 1,
) -> TrainResult:
    """Train ``model`` with AdamW, a cosine learning-rate schedule and cross-entropy on CPU.

    ``train_data``/``test_data``: (X (N, C, T, V, M), y (N,) int64). Seeded: the same arguments give the same
    weights. When ``checkpoint`` names an existing file whose config (model, hyper-parameters, data hash)
    matches, its weights and history are loaded instead of training; otherwise the result is saved there.
    ``num_threads`` sets torch's CPU threads while training (None: leave as is). One thread is the default: these
    models are too small to gain from more, and on a shared, oversubscribed CPU two spinning threads ran ten
    times slower than one.
    """
    x, y = _check_data(train_data, "train_data")
    if test_data is not None:
        _check_data(test_data, "test_data")
    config = {
        "model": type(model).__name__,
        "model_config": getattr(model, "config", None),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "seed": seed,
        "train_data": _fingerprint(train_data),
        "test_data": _fingerprint(test_data),
    }
    if checkpoint is not None and Path(checkpoint).exists():
        saved = torch.load(checkpoint, weights_only=True)
        if saved.get("config") == config:
            model.load_state_dict(saved["state_dict"])
            model.eval()
            return TrainResult(model, saved["history"], saved["test_accuracy"], saved["seconds"], True)

    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        result = _fit(model, x, y, test_data, epochs, batch_size, lr, weight_decay, seed, progress)
    finally:
        torch.set_num_threads(previous_threads)
    if checkpoint is not None:
        Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "state_dict": model.state_dict(),
                "config": config,
                "history": result.history,
                "test_accuracy": result.test_accuracy,
                "seconds": result.seconds,
            },
            checkpoint,
        )
    return result


def _fit(model, x, y, test_data, epochs, batch_size, lr, weight_decay, seed, progress) -> TrainResult:
    """The training loop of :func:`train`."""
    set_seed(seed)
    order = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = -(-len(x) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.2
    )
    history: dict[str, list[float]] = {"train_loss": [], "train_accuracy": []}
    if test_data is not None:
        history.update(test_loss=[], test_accuracy=[])
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=f"training {type(model).__name__}", disable=not progress, leave=False)
    for _ in bar:
        model.train()
        loss_sum = correct = 0.0
        for idx in torch.randperm(len(x), generator=order).split(batch_size):
            logits = model(x[idx])
            loss = nn.functional.cross_entropy(logits, y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y[idx]).sum().item()
        history["train_loss"].append(loss_sum / len(x))
        history["train_accuracy"].append(correct / len(x))
        if test_data is not None:
            scores = evaluate(model, test_data)
            history["test_loss"].append(scores["loss"])
            history["test_accuracy"].append(scores["accuracy"])
        bar.set_postfix({k: f"{v[-1]:.3f}" for k, v in history.items()})
    seconds = time.perf_counter() - start
    model.eval()
    test_accuracy = history["test_accuracy"][-1] if test_data is not None else None
    return TrainResult(model, history, test_accuracy, seconds, False)


def main(argv: list[str] | None = None) -> TrainResult:
    """Train a baseline on synthetic actions from the command line."""
    parser = argparse.ArgumentParser(prog="python -m stviz.train", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-gcn", choices=sorted(BASELINES), help="baseline to train")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=600, help="synthetic samples in all (train + test)")
    parser.add_argument("--frames", type=int, default=32, help="frames per sample (T)")
    parser.add_argument("--bodies", type=int, default=1, choices=(1, 2), help="bodies per sample (M)")
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--hidden", type=int, default=16, help="width of the first layer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", type=Path, default=None, help="save here; reuse when it matches")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)

    x, y = synthetic_dataset(args.samples, num_frames=args.frames, num_bodies=args.bodies, seed=args.seed)
    train_set, test_set = train_test_split(x, y, args.test_fraction, seed=args.seed)
    set_seed(args.seed)
    model = build_baseline(args.model, len(ACTION_CLASSES), hidden=args.hidden)
    result = train(
        model,
        train_set,
        test_set,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        seed=args.seed,
        checkpoint=args.checkpoint,
        progress=not args.no_progress,
    )
    source = "loaded from checkpoint" if result.from_checkpoint else f"trained in {result.seconds:.1f} s"
    print(f"{args.model}: held-out accuracy {result.test_accuracy:.3f} ({source})")
    return result


if __name__ == "__main__":
    main()
