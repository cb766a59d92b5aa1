"""Multi-stream ensembles: the saved test scores of several streams, summed with the originals' weights.

The published accuracies of CTR-GCN, Shift-GCN and MS-G3D are ensembles: each stream (joint, bone, joint-motion,
bone-motion) is a model trained on its own, and their test logits are added. The weights are the originals':

* four streams (CTR-GCN, Shift-GCN): 0.6 for joint and bone, 0.4 for the two motion streams;
* three streams (CTR-GCN, without bone-motion): 0.6, 0.6 and 0.4;
* two streams, joint and bone (CTR-GCN, MS-G3D): 1 and 1.

Command line, on files written by ``python -m stviz.train --scores``::

    python -m stviz.ensemble joint.pt bone.pt joint_motion.pt bone_motion.pt
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from stviz.checks import read_torch_file

__all__ = ["stream_weights", "combine", "top_k_accuracy", "load_scores", "ensemble_accuracy", "main"]

_MOTION = ("joint-motion", "bone-motion")


def stream_weights(streams: Sequence[str]) -> list[float]:
    """The originals' weight for each stream: 0.6/0.4 (joint, bone / motion) once motion is in, else 1 each."""
    unknown = [s for s in streams if s not in ("joint", "bone", *_MOTION)]
    if unknown:
        raise ValueError(f"streams must be joint, bone, joint-motion or bone-motion, got {unknown}")
    if not any(s in _MOTION for s in streams):
        return [1.0] * len(streams)
    return [0.4 if s in _MOTION else 0.6 for s in streams]


def combine(scores: Sequence[torch.Tensor], weights: Sequence[float] | None = None) -> torch.Tensor:
    """Weighted sum of per-stream logits, each (N, K); weights default to 1 each."""
    if not scores:
        raise ValueError("combine needs at least one score tensor, got none")
    weights = [1.0] * len(scores) if weights is None else list(weights)
    if len(weights) != len(scores):
        raise ValueError(f"expected one weight per score tensor ({len(scores)}), got {len(weights)}")
    shapes = {tuple(s.shape) for s in scores}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"expected score tensors of one shape (N, K), got shapes {sorted(shapes)}")
    return sum(w * s.float() for w, s in zip(weights, scores, strict=True))


def top_k_accuracy(scores: torch.Tensor, labels: torch.Tensor, k: int = 1) -> float:
    """Fraction of rows whose label is among the ``k`` highest scores; scores (N, K), labels (N,) int64."""
    if scores.dim() != 2 or labels.shape != scores.shape[:1]:
        raise ValueError(f"expected scores (N, K) and labels (N,), got {tuple(scores.shape)} and {tuple(labels.shape)}")
    top = scores.topk(min(k, scores.shape[1]), dim=1).indices
    return (top == labels[:, None]).any(1).float().mean().item()


def load_scores(path: str | Path) -> dict:
    """A scores file written by ``python -m stviz.train --scores``: ``scores`` (N, K), ``labels`` (N,), ``stream``."""
    path = Path(path)
    saved = read_torch_file(path, "a scores file written by stviz.train --scores")
    keys = {"scores", "labels", "stream"}
    if not (isinstance(saved, dict) and keys <= saved.keys()):
        got = f"keys {sorted(saved)}" if isinstance(saved, dict) else type(saved).__name__
        raise ValueError(f"{path}: expected a dict with keys {sorted(keys)}, got {got}")
    return saved


def ensemble_accuracy(files: Sequence[dict], weights: Sequence[float] | None = None) -> dict[str, float | list[float]]:
    """Top-1 and top-5 of the weighted sum of several loaded scores files (same test samples, same order)."""
    labels = files[0]["labels"]
    for entry in files[1:]:
        if not torch.equal(entry["labels"], labels):
            raise ValueError("the scores files hold different test labels; they must score the same samples in order")
    weights = stream_weights([f["stream"] for f in files]) if weights is None else list(weights)
    fused = combine([f["scores"] for f in files], weights)
    return {"weights": weights, "top1": top_k_accuracy(fused, labels, 1), "top5": top_k_accuracy(fused, labels, 5)}


def main(argv: list[str] | None = None) -> dict[str, float | list[float]]:
    """Print each stream's and the ensemble's top-1 and top-5."""
    parser = argparse.ArgumentParser(prog="python -m stviz.ensemble", description=__doc__.splitlines()[0])
    parser.add_argument("scores", nargs="+", type=Path, help="scores files, one per stream")
    parser.add_argument("--weights", nargs="+", type=float, help="one weight per file (default: the originals')")
    args = parser.parse_args(argv)
    if args.weights is not None and len(args.weights) != len(args.scores):
        parser.error(f"argument --weights: expected {len(args.scores)} values (one per file), got {len(args.weights)}")
    if args.weights is not None and not all(math.isfinite(w) for w in args.weights):
        parser.error(f"argument --weights: expected finite numbers, got {args.weights}")
    files = [load_scores(path) for path in args.scores]
    for path, entry in zip(args.scores, files, strict=True):
        top1, top5 = (top_k_accuracy(entry["scores"], entry["labels"], k) for k in (1, 5))
        print(f"{entry['stream']:<13} top-1 {top1:.4f}  top-5 {top5:.4f}  ({path})")
    result = ensemble_accuracy(files, args.weights)
    weights = ", ".join(f"{w:g}" for w in result["weights"])
    print(f"{'ensemble':<13} top-1 {result['top1']:.4f}  top-5 {result['top5']:.4f}  (weights {weights})")
    return result


if __name__ == "__main__":
    main()
