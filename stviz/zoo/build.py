"""``python -m stviz.zoo.build`` (``make zoo``): retrain every zoo model from its recipe and save its checkpoint.

Deterministic for a seed (one CPU thread). Prints, per model, the accuracy on its own held-out split, on fresh
clips from a seed no training uses, on the left/right and time-reversed pairs of those, and the training time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from stviz import set_seed
from stviz.data import ACTION_CLASSES, LEFT_RIGHT_PAIRS, TIME_REVERSED_PAIRS, synthetic_dataset, train_test_split
from stviz.train import train
from stviz.train.models import build_family_model
from stviz.zoo.recipes import FRESH_SEED, ZOO, ZooEntry

__all__ = ["build_entry", "measure", "main"]

CHECKPOINT_DIR = Path(__file__).parent / "weights"
FRESH_SAMPLES = 600


@torch.no_grad()
def measure(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Accuracy of ``model`` on (x, y), and on the clips of the left/right and of the time-reversed pairs."""
    model.eval()
    correct = torch.cat([model(chunk).argmax(1) for chunk in x.split(128)]) == y
    scores = {"accuracy": correct.float().mean().item()}
    for key, pairs in (("left_right", LEFT_RIGHT_PAIRS), ("time_reversed", TIME_REVERSED_PAIRS)):
        members = torch.isin(y, torch.tensor([c for pair in pairs for c in pair]))
        scores[key] = correct[members].float().mean().item()
    return scores


def build_entry(entry: ZooEntry, progress: bool = False) -> tuple[torch.nn.Module, dict]:
    """Train ``entry`` from scratch; return the model (eval mode) and its ``info`` dict."""
    x, y = synthetic_dataset(entry.samples, num_frames=entry.num_frames, num_bodies=entry.num_bodies, seed=entry.seed)
    train_set, test_set = train_test_split(x, y, entry.test_fraction, seed=entry.seed)
    set_seed(entry.seed)
    model = build_family_model(entry.family, len(ACTION_CLASSES), entry.width, num_persons=entry.num_bodies)
    result = train(model, train_set, test_set, recipe=entry.recipe, seed=entry.seed, progress=progress)
    fresh = synthetic_dataset(FRESH_SAMPLES, num_frames=entry.num_frames, num_bodies=entry.num_bodies, seed=FRESH_SEED)
    fresh_scores = measure(model, *fresh)
    info = {
        "name": entry.name,
        "family": entry.family,
        "width": entry.width,
        "classes": list(ACTION_CLASSES),
        "num_frames": entry.num_frames,
        "num_bodies": entry.num_bodies,
        "samples": entry.samples,
        "test_fraction": entry.test_fraction,
        "seed": entry.seed,
        "recipe": entry.recipe.to_dict(),
        "test_accuracy": result.test_accuracy,
        "fresh_seed": FRESH_SEED,
        "fresh_samples": FRESH_SAMPLES,
        "fresh_accuracy": fresh_scores["accuracy"],
        "fresh_left_right_accuracy": fresh_scores["left_right"],
        "fresh_time_reversed_accuracy": fresh_scores["time_reversed"],
        "train_seconds": result.seconds,
        "history": result.history,
        "parameters": sum(p.numel() for p in model.parameters()),
        "torch_version": str(torch.__version__),
    }
    return model, info


def main(argv: list[str] | None = None) -> dict[str, dict]:
    """Train the zoo models named on the command line (default: all) and save them."""
    parser = argparse.ArgumentParser(prog="python -m stviz.zoo.build", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"models to retrain, from {list(ZOO)} (default: all)")
    parser.add_argument("--out", type=Path, default=CHECKPOINT_DIR, help="folder for the checkpoints")
    parser.add_argument("--progress", action="store_true", help="show a progress bar per model")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in ZOO]
    if unknown:
        parser.error(f"argument names: expected names from {list(ZOO)}, got {unknown}")
    args.out.mkdir(parents=True, exist_ok=True)
    infos = {}
    start = time.perf_counter()
    for name in args.names or list(ZOO):
        cpu = time.process_time()  # one thread: CPU time is about the wall time on a quiet machine
        model, info = build_entry(ZOO[name], args.progress)
        cpu = time.process_time() - cpu
        torch.save({"state_dict": model.state_dict(), "info": info}, args.out / f"{name}.pt")
        infos[name] = info
        print(
            f"{name:<16} test {info['test_accuracy']:.3f}  fresh {info['fresh_accuracy']:.3f}  "
            f"(left/right {info['fresh_left_right_accuracy']:.3f}, time-reversed "
            f"{info['fresh_time_reversed_accuracy']:.3f})  {info['parameters']:,} params  "
            f"trained in {info['train_seconds']:.0f} s ({cpu:.0f} s of CPU to build)",
            flush=True,
        )
    print(f"zoo built in {time.perf_counter() - start:.0f} s ({time.process_time():.0f} s of CPU)", flush=True)
    return infos


if __name__ == "__main__":
    main()
