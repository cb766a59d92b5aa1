"""How far do single runs spread across seeds, and how much do 2- and 4-stream ensembles gain?

Trains one model per seed and per stream (joint, bone, joint-motion, bone-motion) on the same synthetic
training set, made harder than the zoo's (fewer clips, more joint noise, wider views) so that runs differ, and
scores each on the same held-out clips. The 2-stream ensemble sums joint and bone logits (weights 1 and 1), the
4-stream one all four with 0.6, 0.6, 0.4, 0.4, as the originals do. Writes the per-seed results to a small JSON
file that notebooks load (``stviz.zoo.load_seed_study``)::

    python benchmarks/seeds.py                     # 5 seeds, Shift-GCN at width 8, writes stviz/zoo/seed_study.json
    python benchmarks/seeds.py --seeds 0 1 2 --out /tmp/study.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from stviz import set_seed
from stviz.data import ACTION_CLASSES, synthetic_dataset
from stviz.ensemble import combine, stream_weights, top_k_accuracy
from stviz.train import STREAMS, predict, train
from stviz.train.models import FAMILIES, build_family_model
from stviz.zoo.recipes import ZOO

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "stviz" / "zoo" / "seed_study.json"
DATA_SEED = 500  # the training clips; the test clips use DATA_SEED + 1. No seed of the zoo's own data.


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="shiftgcn", choices=FAMILIES)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--train-samples", type=int, default=120)
    parser.add_argument("--test-samples", type=int, default=600)
    parser.add_argument("--noise", type=float, default=0.03, help="joint noise (metres)")
    parser.add_argument("--view-range", type=float, default=90.0, help="views drawn in +-this many degrees")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    def clips(count: int, seed: int):
        return synthetic_dataset(count, args.frames, 1, seed=seed, view_range_deg=args.view_range, noise_std=args.noise)

    train_set, (x_test, y_test) = clips(args.train_samples, DATA_SEED), clips(args.test_samples, DATA_SEED + 1)
    recipe = ZOO[args.model].recipe.scaled(args.epochs)
    streams = list(STREAMS)
    accuracy: dict[str, list[float]] = {stream: [] for stream in streams}
    ensembles: dict[str, list[float]] = {"ensemble_2": [], "ensemble_4": []}
    start = time.perf_counter()
    print(f"{args.model} width {args.width}, {len(train_set[1])} training / {len(y_test)} test clips, T={args.frames}")
    print(f"{'seed':>4}" + "".join(f"{s:>14}" for s in streams) + f"{'2-stream':>10}{'4-stream':>10}")
    for seed in args.seeds:
        scores = {}
        for stream in streams:
            set_seed(seed)
            model = build_family_model(args.model, len(ACTION_CLASSES), args.width, num_persons=1)
            train(model, train_set, recipe=recipe, seed=seed, stream=stream, progress=False)
            scores[stream] = predict(model, x_test, stream=stream)
            accuracy[stream].append(top_k_accuracy(scores[stream], y_test))
        for key, chosen in (("ensemble_2", streams[:2]), ("ensemble_4", streams)):
            fused = combine([scores[s] for s in chosen], stream_weights(chosen))
            ensembles[key].append(top_k_accuracy(fused, y_test))
        row = "".join(f"{accuracy[s][-1]:>14.3f}" for s in streams)
        print(f"{seed:>4}{row}{ensembles['ensemble_2'][-1]:>10.3f}{ensembles['ensemble_4'][-1]:>10.3f}", flush=True)
    study = {
        "model": args.model,
        "width": args.width,
        "seeds": args.seeds,
        "num_frames": args.frames,
        "train_samples": len(train_set[1]),
        "test_samples": len(y_test),
        "noise_std": args.noise,
        "view_range_deg": args.view_range,
        "data_seed": DATA_SEED,
        "recipe": recipe.to_dict(),
        "streams": streams,
        "accuracy": accuracy,
        **ensembles,
        "seconds": round(time.perf_counter() - start, 1),
        "torch_version": str(torch.__version__),
    }
    for key, values in (("joint", accuracy["joint"]), *ensembles.items()):
        spread = torch.tensor(values)
        print(f"{key:<11} mean {spread.mean():.3f}  min {spread.min():.3f}  max {spread.max():.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(study, indent=1) + "\n")
    print(f"wrote {args.out} in {study['seconds']:.0f} s ({time.process_time():.0f} s of CPU)")
    return study


if __name__ == "__main__":
    main()
