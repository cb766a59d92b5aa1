"""``python -m stviz.zoo.build`` (``make zoo``): retrain every zoo model from its recipe and save its checkpoint.

Deterministic for a seed (one CPU thread). Prints, per model, the accuracy on its own held-out split, on fresh
clips from a seed no training uses, on the left/right and time-reversed pairs of those, and the training time.

``python -m stviz.zoo.build --check stgcn ...`` retrains the named models without saving them and compares their
weights with the shipped checkpoints bit for bit: it prints the largest absolute difference of every tensor that
differs and exits with status 1 if any does. Bit-for-bit equality holds for the same torch version on a CPU of the
same vendor using the same instruction set (all three stored in each checkpoint's ``info``); another version or CPU
may round differently.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from stviz import set_seed
from stviz.cpu import cpu_vendor
from stviz.data import ACTION_CLASSES, LEFT_RIGHT_PAIRS, TIME_REVERSED_PAIRS, synthetic_dataset, train_test_split
from stviz.train import TrainResult, load_checkpoint, predict, train
from stviz.train.models import build_family_model
from stviz.zoo.recipes import FRESH_SEED, ZOO, ZooEntry

__all__ = [
    "train_entry",
    "build_entry",
    "build_platform",
    "platform_mismatch",
    "measure",
    "compare_state_dicts",
    "check",
    "main",
]

CHECKPOINT_DIR = Path(__file__).parent / "weights"
FRESH_SAMPLES = 600


def measure(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Accuracy of ``model`` on (x, y), and on the clips of the left/right and of the time-reversed pairs."""
    correct = predict(model.eval(), x).argmax(1) == y
    scores = {"accuracy": correct.float().mean().item()}
    for key, pairs in (("left_right", LEFT_RIGHT_PAIRS), ("time_reversed", TIME_REVERSED_PAIRS)):
        members = torch.isin(y, torch.tensor([c for pair in pairs for c in pair]))
        scores[key] = correct[members].float().mean().item()
    return scores


def train_entry(entry: ZooEntry, progress: bool = False) -> tuple[torch.nn.Module, TrainResult]:
    """Train ``entry`` from scratch on its synthetic clips; return the model (eval mode) and the training result."""
    x, y = synthetic_dataset(entry.samples, num_frames=entry.num_frames, num_bodies=entry.num_bodies, seed=entry.seed)
    train_set, test_set = train_test_split(x, y, entry.test_fraction, seed=entry.seed)
    set_seed(entry.seed)
    model = build_family_model(entry.family, len(ACTION_CLASSES), entry.width, num_persons=entry.num_bodies)
    result = train(model, train_set, test_set, recipe=entry.recipe, seed=entry.seed, progress=progress)
    return model, result


def build_platform() -> dict[str, str]:
    """What bit-for-bit rebuilds depend on besides the code: the torch version, and the CPU's vendor and the
    instruction set torch uses on it."""
    return {
        "torch_version": str(torch.__version__),
        "cpu_vendor": cpu_vendor(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def platform_mismatch(info: dict) -> dict[str, str]:
    """The entries of :func:`build_platform` that a checkpoint's ``info`` records with another value ({} when none
    differs; entries it does not record are not compared)."""
    here = build_platform()
    return {key: info[key] for key in here if key in info and info[key] != here[key]}


def build_entry(entry: ZooEntry, progress: bool = False) -> tuple[torch.nn.Module, dict]:
    """Train ``entry`` from scratch; return the model (eval mode) and its ``info`` dict."""
    model, result = train_entry(entry, progress)
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
        **build_platform(),
    }
    return model, info


def _bits(tensor: torch.Tensor) -> torch.Tensor:
    """The bytes of ``tensor`` (0-d included), so that -0.0 and 0.0 or two NaNs with different bits differ."""
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)


def compare_state_dicts(built: dict[str, torch.Tensor], shipped: dict[str, torch.Tensor]) -> list[str]:
    """One line per difference between two state dicts (empty when they are equal bit for bit).

    A tensor present in one only, or with another shape or dtype, is named; a tensor whose values differ is named
    with the largest absolute difference of its values.
    """
    lines = [f"{name}: missing from the retrained model" for name in shipped if name not in built]
    lines += [f"{name}: not in the shipped checkpoint" for name in built if name not in shipped]
    for name in (name for name in built if name in shipped):
        new, old = built[name], shipped[name]
        if new.shape != old.shape or new.dtype != old.dtype:
            lines.append(f"{name}: retrained {new.dtype} {tuple(new.shape)}, shipped {old.dtype} {tuple(old.shape)}")
        elif not torch.equal(_bits(new), _bits(old)):
            difference = (new.detach().cpu().double() - old.double()).abs().nan_to_num(float("inf")).max().item()
            if difference == 0:
                lines.append(f"{name}: equal values with other bits (-0.0 for 0.0, or another NaN)")
            else:
                lines.append(f"{name}: max abs difference {difference:.3g} ({new.numel()} values)")
    return lines


def check(names: list[str], folder: Path = CHECKPOINT_DIR, progress: bool = False) -> bool:
    """Retrain the zoo models ``names`` and compare their weights with the checkpoints in ``folder``.

    Prints one line per model, and one per tensor that differs. True when every model matches bit for bit.
    """
    all_equal = True
    for name in names:
        path = folder / f"{name}.pt"
        if not path.is_file():
            print(f"{name}: no checkpoint at {path} to compare with", flush=True)
            all_equal = False
            continue
        saved = load_checkpoint(path)
        shipped, info = saved["state_dict"], saved.get("info", {})
        mismatch = platform_mismatch(info)
        if mismatch:
            print(
                f"{name}: built with {mismatch}, retrained with {build_platform()}: expect rounding differences",
                flush=True,
            )
        start, cpu = time.perf_counter(), time.process_time()
        model, _ = train_entry(ZOO[name], progress)
        took = f"{time.perf_counter() - start:.0f} s, {time.process_time() - cpu:.0f} s of CPU"
        differences = compare_state_dicts(model.state_dict(), shipped)
        if differences:
            all_equal = False
            print(f"{name}: {len(differences)} of {len(shipped)} tensors differ from {path} ({took})", flush=True)
            for line in differences:
                print(f"  {line}", flush=True)
        else:
            print(f"{name}: all {len(shipped)} tensors equal bit for bit ({took})", flush=True)
    return all_equal


def main(argv: list[str] | None = None) -> dict[str, dict]:
    """Train the zoo models named on the command line (default: all) and save them, or ``--check`` them."""
    parser = argparse.ArgumentParser(prog="python -m stviz.zoo.build", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"models to retrain, from {list(ZOO)} (default: all)")
    parser.add_argument("--out", type=Path, default=CHECKPOINT_DIR, help="folder for the checkpoints")
    parser.add_argument("--progress", action="store_true", help="show a progress bar per model")
    parser.add_argument(
        "--check",
        action="store_true",
        help="retrain without saving and compare with the checkpoints in --out bit for bit; exit 1 if any differs",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in ZOO]
    if unknown:
        parser.error(f"argument names: expected names from {list(ZOO)}, got {unknown}")
    if args.check:
        sys.exit(0 if check(args.names or list(ZOO), args.out, args.progress) else 1)
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
