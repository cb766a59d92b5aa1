"""Can the synthetic classes be learned, and only by a model that sees both sides and time order?

Trains TinyGCN, TimeBlindGCN and SideBlindGCN on the same synthetic split and prints held-out accuracy, the
accuracy on the left/right and time-reversed pairs, and training time::

    python benchmarks/learnability.py                 # 600 samples, T=32, M=1, 10 epochs
    python benchmarks/learnability.py --bodies 2 --frames 64
"""

from __future__ import annotations

import argparse

import torch

from stviz import set_seed
from stviz.baselines import BASELINES, build_baseline
from stviz.data import ACTION_CLASSES, LEFT_RIGHT_PAIRS, TIME_REVERSED_PAIRS, synthetic_dataset, train_test_split
from stviz.train import train


def pair_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, pairs) -> float:
    """Accuracy on the test samples whose class belongs to one of ``pairs``."""
    members = torch.tensor([c for pair in pairs for c in pair])
    keep = torch.isin(y, members)
    with torch.no_grad():
        return (model(x[keep]).argmax(1) == y[keep]).float().mean().item()


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--bodies", type=int, default=1, choices=(1, 2))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--models", nargs="+", default=list(BASELINES), choices=list(BASELINES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads while training")
    args = parser.parse_args(argv)

    x, y = synthetic_dataset(args.samples, num_frames=args.frames, num_bodies=args.bodies, seed=args.seed)
    train_set, test_set = train_test_split(x, y, test_fraction=0.25, seed=args.seed)
    print(
        f"{len(ACTION_CLASSES)} classes, {len(train_set[1])} train / {len(test_set[1])} test samples, "
        f"T={args.frames}, M={args.bodies}, {args.epochs} epochs, {args.threads} thread(s); chance = "
        f"{1 / len(ACTION_CLASSES):.3f}"
    )
    header = f"{'model':<16}{'held-out acc':>14}{'left/right pairs':>18}{'time-reversed pairs':>21}{'seconds':>9}"
    print(header)
    print("-" * len(header))
    table = {}
    for name in args.models:
        set_seed(args.seed)
        model = build_baseline(name, len(ACTION_CLASSES))
        result = train(
            model,
            train_set,
            test_set,
            epochs=args.epochs,
            batch_size=args.batch_size,
            seed=args.seed,
            progress=False,
            num_threads=args.threads,
        )
        table[name] = {
            "accuracy": result.test_accuracy,
            "left_right": pair_accuracy(result.model, *test_set, LEFT_RIGHT_PAIRS),
            "time_reversed": pair_accuracy(result.model, *test_set, TIME_REVERSED_PAIRS),
            "seconds": result.seconds,
        }
        row = table[name]
        print(
            f"{name:<16}{row['accuracy']:>14.3f}{row['left_right']:>18.3f}{row['time_reversed']:>21.3f}"
            f"{row['seconds']:>9.1f}",
            flush=True,
        )
    return table


if __name__ == "__main__":
    main()
