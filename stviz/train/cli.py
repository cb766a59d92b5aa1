"""``python -m stviz.train``: train a model on synthetic actions or on NTU ``.npz`` files, one process or torchrun.

One process on the CPU::

    python -m stviz.train --model ctrgcn --width 16 --epochs 15 --batch-size 16 --frames 24 --bodies 1

One DistributedDataParallel job over 2 processes (gloo on CPU; NCCL when GPUs are present)::

    torchrun --standalone --nproc_per_node 2 -m stviz.train --model ctrgcn --width 16 --epochs 2

CTR-GCN's recipe on NTU-60 cross-subject (CTR-GCN's ``NTU60_CS.npz``) on a machine with 8 GPUs, its training clips
cropped to a random 50-100% of their valid frames and rotated at random anew every epoch, as CTR-GCN's feeder does
(``--p-interval`` and ``--random-rot`` change that)::

    torchrun --standalone --nproc_per_node 8 -m stviz.train --model ctrgcn --data NTU60_CS.npz --frames 64 \\
        --device cuda --amp --checkpoint ctrgcn_joint.pt --scores ctrgcn_joint_scores.pt

``--amp`` autocasts to float16 (with gradient scaling) on CUDA, to bfloat16 on the CPU.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from stviz import set_seed
from stviz.baselines import BASELINES, build_baseline
from stviz.data import ACTION_CLASSES, load_npz, synthetic_dataset, train_test_split
from stviz.data.ctrgcn import check_p_interval
from stviz.data.npz import NpzDataset
from stviz.train.distributed import init_distributed, is_main_process
from stviz.train.loop import TrainResult, train
from stviz.train.models import FAMILIES, ORIGINAL_WIDTH, build_family_model, check_width, min_frames
from stviz.train.recipes import RECIPES, get_recipe
from stviz.train.streams import STREAMS

__all__ = ["main", "build_parser", "save_scores", "npz_training_data", "NPZ_AUGMENTATION"]

# Fewer samples than this leave some class without a test sample.
MIN_SAMPLES = 2 * len(ACTION_CLASSES)

# How each recipe's original augments its NTU training clips: (p_interval of the crop, random rotation). Only
# CTR-GCN augments (a random 50-100% of the valid frames, a random rotation of up to 0.3 rad about each axis); the
# other originals train on the clips as they test on them, here the centre 95% as at test time.
TEST_P_INTERVAL = (0.95,)
NPZ_AUGMENTATION = {"ctrgcn": ((0.5, 1.0), True)}
NO_AUGMENTATION = (TEST_P_INTERVAL, False)


def _integer(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _integer(text, 1, "a positive integer")


def sample_count(text: str) -> int:
    """argparse type: enough synthetic samples for every class to have train and test samples."""
    return _integer(text, MIN_SAMPLES, f"an integer >= {MIN_SAMPLES} (two per class)")


def _number(text: str, ok, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not (math.isfinite(value) and ok(value)):
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    return _number(text, lambda v: v > 0, "a positive number")


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    return _number(text, lambda v: v >= 0, "a number >= 0")


def fraction(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    return _number(text, lambda v: 0 < v < 1, "a number between 0 and 1 (exclusive)")


def fraction_or_one(text: str) -> float:
    """argparse type: a number in (0, 1]."""
    return _number(text, lambda v: 0 < v <= 1, "a number in (0, 1]")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m stviz.train``."""
    parser = argparse.ArgumentParser(
        prog="python -m stviz.train",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    add = parser.add_argument
    add("--model", default="tiny-gcn", choices=[*FAMILIES, *sorted(BASELINES)], help="model to train")
    add("--recipe", choices=sorted(RECIPES), help="training recipe (default: the model's own, or adamw-onecycle)")
    add("--epochs", type=positive_int, help="epochs (the recipe's milestones and warm-up scale with them)")
    add("--batch-size", type=positive_int, help="global batch size, split over the processes")
    add("--lr", type=positive_float, help="base learning rate")
    add("--weight-decay", type=non_negative_float, help="weight decay (rules for named parameters stay)")
    add("--width", type=positive_int, help="channels of the first layer (the original's by default)")
    add("--stream", default="joint", choices=list(STREAMS), help="input stream")
    add("--data", default="synthetic", help="'synthetic' or a CTR-GCN-layout .npz file (x_train, y_train, ...)")
    add("--samples", type=sample_count, default=600, help="synthetic samples in all (train + test)")
    add("--frames", type=positive_int, default=32, help="frames per sample (T); .npz clips are resized to it")
    add("--bodies", type=int, default=1, choices=(1, 2), help="bodies per synthetic sample (M)")
    add("--test-fraction", type=fraction, default=0.25, help="synthetic share held out")
    add("--seed", type=int, default=0)
    add("--device", default="cpu", choices=("cpu", "cuda"))
    add("--amp", action="store_true", help="mixed precision: float16 autocast on CUDA, bfloat16 on the CPU")
    add(
        "--p-interval",
        type=fraction_or_one,
        nargs="+",
        metavar="P",
        help=".npz training crop: LOW HIGH draws a random share of the valid frames, P keeps the centre share P "
        "(default: the recipe's original, 0.5 1.0 for CTR-GCN, else 0.95 as at test time)",
    )
    add(
        "--random-rot",
        action=argparse.BooleanOptionalAction,
        help=".npz training: rotate each clip at random (default: as the recipe's original, on for CTR-GCN)",
    )
    add("--threads", type=positive_int, default=1, help="torch CPU threads per process")
    add("--checkpoint", type=Path, default=None, help="save here; reuse when it matches")
    add("--scores", type=Path, default=None, help="save the test logits and labels here (for stviz.ensemble)")
    add("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _load_data(args, recipe_name: str) -> tuple[tuple | NpzDataset, tuple, int]:
    """(train, test, num_classes) from the synthetic generator or an .npz file (its training split a Dataset)."""
    if args.data == "synthetic":
        x, y = synthetic_dataset(args.samples, num_frames=args.frames, num_bodies=args.bodies, seed=args.seed)
        train_set, test_set = train_test_split(x, y, args.test_fraction, seed=args.seed)
        return train_set, test_set, len(ACTION_CLASSES)
    path = Path(args.data)
    if not path.is_file():
        raise FileNotFoundError(f"--data: expected 'synthetic' or an existing .npz file, got {args.data!r}")
    return npz_training_data(path, args.frames, recipe_name, args.p_interval, args.random_rot, args.seed)


def npz_training_data(
    path: Path,
    frames: int,
    recipe_name: str,
    p_interval: Sequence[float] | None = None,
    rotate: bool | None = None,
    seed: int = 0,
) -> tuple[NpzDataset, tuple[torch.Tensor, torch.Tensor], int]:
    """CTR-GCN's feeder over an .npz file: (training Dataset, test (X, y), num_classes), clips of ``frames`` frames.

    The training clips are cropped, resized and rotated anew every epoch as ``recipe_name``'s original does
    (:data:`NPZ_AUGMENTATION`) unless ``p_interval`` or ``rotate`` say otherwise; the test clips are the centre
    95% of the valid frames, X (N, 3, frames, 25, 2).
    """
    default_interval, default_rotate = NPZ_AUGMENTATION.get(recipe_name, NO_AUGMENTATION)
    rotate = default_rotate if rotate is None else rotate
    train_set = NpzDataset(path, "train", frames, p_interval or default_interval, rotate, seed=seed)
    test_set = load_npz(path, "test", window=frames, p_interval=TEST_P_INTERVAL)
    num_classes = int(max(train_set.labels.max(), test_set[1].max())) + 1
    return train_set, test_set, num_classes


def save_scores(path: Path, result: TrainResult, labels: torch.Tensor, model: str, stream: str) -> None:
    """Write what :mod:`stviz.ensemble` reads: test logits (N, K), labels (N,), the model and the stream."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"scores": result.test_scores, "labels": labels, "model": model, "stream": stream}, path)


def main(argv: list[str] | None = None) -> TrainResult:
    """Parse the command line, train, print the held-out accuracy, save checkpoint and scores (rank 0)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.p_interval is not None:
        try:
            check_p_interval(args.p_interval)
        except ValueError:
            parser.error(f"argument --p-interval: expected P or LOW HIGH with LOW <= HIGH, got {args.p_interval}")
    if args.data == "synthetic" and (args.p_interval is not None or args.random_rot is not None):
        parser.error("arguments --p-interval and --random-rot: expected with --data FILE.npz, got --data synthetic")
    if args.data != "synthetic" and args.seed < 0:
        parser.error(f"argument --seed: expected an integer >= 0 with an .npz file, got {args.seed}")
    if args.model in FAMILIES:
        try:
            check_width(args.model, args.width if args.width is not None else ORIGINAL_WIDTH[args.model])
        except ValueError as error:
            parser.error(f"argument --width: {error}")
        if args.frames < min_frames(args.model):
            parser.error(
                f"argument --frames: expected at least {min_frames(args.model)} for {args.model}, got {args.frames}"
            )
    device = init_distributed(args.device)
    recipe = get_recipe(args.recipe or (args.model if args.model in FAMILIES else "adamw-onecycle"))
    train_set, test_set, num_classes = _load_data(args, recipe.name)
    set_seed(args.seed)
    bodies = test_set[0].shape[-1]
    if args.model in FAMILIES:
        model = build_family_model(args.model, num_classes, args.width, num_persons=bodies)
    else:
        model = build_baseline(args.model, num_classes, **({"hidden": args.width} if args.width else {}))
    result = train(
        model.to(device),
        train_set,
        test_set,
        recipe=recipe,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        seed=args.seed,
        stream=args.stream,
        checkpoint=args.checkpoint,
        progress=not args.no_progress,
        num_threads=args.threads,
        amp=args.amp,
    )
    if is_main_process():
        source = "loaded from checkpoint" if result.from_checkpoint else f"trained in {result.seconds:.1f} s"
        print(f"{args.model} ({args.stream}): held-out accuracy {result.test_accuracy:.3f} ({source})", flush=True)
        if args.scores is not None:
            save_scores(args.scores, result, test_set[1], args.model, args.stream)
    if torch.distributed.is_initialized():
        # every rank waits for rank 0's files; then the group, and with it gloo's threads, ends while Python runs
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return result
