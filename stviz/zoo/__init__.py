"""Trained models of every family, shipped with the package: ST-GCN, CTR-GCN, Shift-GCN, EfficientGCN-B0, MS-G3D.

Each was trained by stviz on synthetic actions (:func:`stviz.data.synthetic_dataset`) with its original's
recipe adapted to short runs (:mod:`stviz.zoo.recipes`), at a reduced width that its ``info`` records, and reaches
at least 95% accuracy on held-out and on fresh clips, the left/right and time-reversed pairs included.

>>> from stviz import zoo
>>> zoo.available()                                   # doctest: +SKIP
['stgcn', 'ctrgcn', 'shiftgcn', 'efficientgcn-b0', 'msg3d']
>>> model, info = zoo.load("ctrgcn")                  # doctest: +SKIP
>>> x, y = synthetic_dataset(8, num_frames=info["num_frames"], num_bodies=info["num_bodies"], seed=123)
>>> model(x).argmax(1)                                # logits over ACTION_CLASSES    # doctest: +SKIP

``make zoo`` retrains them all (``python -m stviz.zoo.build``).
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from stviz.train import load_checkpoint
from stviz.train.models import build_family_model
from stviz.zoo.recipes import ZOO

__all__ = ["available", "load", "checkpoint_path", "load_seed_study"]

_CHECKPOINTS = Path(__file__).parent / "weights"
_SEED_STUDY = Path(__file__).parent / "seed_study.json"


def checkpoint_path(name: str) -> Path:
    """Where the checkpoint of zoo model ``name`` lives inside the package."""
    if name not in ZOO:
        raise ValueError(f"unknown zoo model {name!r}; expected one of {list(ZOO)}")
    return _CHECKPOINTS / f"{name}.pt"


def available() -> list[str]:
    """The names of the zoo models whose checkpoints are present, in the zoo's order."""
    return [name for name in ZOO if checkpoint_path(name).is_file()]


def load(name: str) -> tuple[nn.Module, dict]:
    """Zoo model ``name`` in eval mode, and its ``info``.

    The model takes the joint stream (N, 3, info['num_frames'], 25, info['num_bodies']), as ``synthetic_dataset``
    gives it, and returns logits (N, 12) over ``ACTION_CLASSES``. ``info`` holds the family, width, frames,
    bodies, data and training seed, the recipe, accuracies (own test split, fresh clips, the pairs), the training
    time and the per-epoch history. Loading uses ``torch.load(..., weights_only=True)`` and a strict state dict.
    """
    path = checkpoint_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"zoo checkpoint {path} is missing; `make zoo` (python -m stviz.zoo.build) makes it")
    saved = load_checkpoint(path)  # weights_only; a dict whose 'state_dict' maps names to tensors
    if "info" not in saved:
        raise ValueError(f"{path}: expected a zoo checkpoint with 'state_dict' and 'info', got keys {sorted(saved)}")
    info = saved["info"]
    model = build_family_model(info["family"], len(info["classes"]), info["width"], num_persons=info["num_bodies"])
    model.load_state_dict(saved["state_dict"], strict=True)
    return model.eval(), info


def load_seed_study() -> dict:
    """The per-seed results of ``benchmarks/seeds.py``: single-stream and 2-/4-stream ensemble accuracies.

    Keys: ``accuracy`` (stream -> one accuracy per seed), ``ensemble_2``, ``ensemble_4``, ``seeds`` and the
    settings (model, width, frames, clips, noise, views, recipe).
    """
    if not _SEED_STUDY.is_file():
        raise FileNotFoundError(f"{_SEED_STUDY} is missing; `make zoo` (python benchmarks/seeds.py) writes it")
    return json.loads(_SEED_STUDY.read_text())
