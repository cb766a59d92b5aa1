"""Does TSM's shift pay off? TSMSkeletonNet with the shift against the same net without it, well trained.

Both models have the same parameters; without the shift the net is a bag of poses, whose logits cannot change
when a clip is played backwards. Half of the synthetic classes are time-reversed pairs, so that is where the two
should differ. Trains each model on the same clips, scores both on fresh clips (seeds no training clip uses) and
writes the confusion matrices to a small JSON file that notebook 05 loads (``stviz.tsm_study.load_tsm_study``)::

    python benchmarks/tsm_training.py                    # writes stviz/tsm_study.json
    python benchmarks/tsm_training.py --epochs 5 --out /tmp/tsm.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from stviz import set_seed
from stviz.data import ACTION_CLASSES, synthetic_dataset
from stviz.data.synthetic import TIME_REVERSED_PAIRS
from stviz.train import predict, train
from stviz.tsm import TSMSkeletonNet
from stviz.tsm_study import DEFAULT_PATH

TRAIN_SEED, TEST_SEED = 0, 10_000
MODELS = {"shift": 4, "bag of poses": None}  # label -> fold_div


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--train-samples", type=int, default=1800)
    parser.add_argument("--test-samples", type=int, default=2400)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)

    train_set = synthetic_dataset(args.train_samples, args.frames, 1, seed=TRAIN_SEED)
    x_test, y_test = synthetic_dataset(args.test_samples, args.frames, 1, seed=TEST_SEED)
    k = len(ACTION_CLASSES)
    confusion, seconds = {}, {}
    for label, fold_div in MODELS.items():
        set_seed(0)
        model = TSMSkeletonNet(k, hidden=args.hidden, fold_div=fold_div)
        start = time.perf_counter()
        train(model, train_set, epochs=args.epochs, seed=0, progress=False)
        seconds[label] = round(time.perf_counter() - start, 1)
        with torch.no_grad():
            pred = predict(model, x_test).argmax(1)
        counts = torch.zeros(k, k, dtype=torch.long).index_put_((y_test, pred), torch.tensor(1), accumulate=True)
        confusion[label] = counts.tolist()
        print(f"{label:14s} accuracy {(pred == y_test).float().mean():.3f}  ({seconds[label]} s)")
    study = {
        "classes": list(ACTION_CLASSES),
        "time_reversed_pairs": [list(p) for p in TIME_REVERSED_PAIRS],
        "confusion": confusion,  # label -> [true class][predicted class] counts on the test clips
        "fold_div": MODELS,
        "hidden": args.hidden,
        "frames": args.frames,
        "bodies": 1,
        "train_samples": args.train_samples,
        "test_samples": args.test_samples,
        "train_seed": TRAIN_SEED,
        "test_seed": TEST_SEED,
        "epochs": args.epochs,
        "recipe": "adamw-onecycle (stviz.train's default)",
        "train_seconds": seconds,
    }
    args.out.write_text(json.dumps(study, indent=1) + "\n")
    print("wrote", args.out)
    return study


if __name__ == "__main__":
    main()
