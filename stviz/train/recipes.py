"""Training recipes: the optimiser, learning-rate schedule, batch size and epochs of each original.

A :class:`Recipe` is a frozen record; :data:`RECIPES` holds the originals' NTU-60 settings by model name, and
``"adamw-onecycle"``, the quick recipe the notebooks use for seconds-long runs. :meth:`Recipe.scaled` shortens a
recipe for small data while keeping its shape (milestones and warm-up move in proportion to the epochs).

All originals use SGD with Nesterov momentum 0.9 and cross-entropy. Their settings, in short:

* ST-GCN: lr 0.1, divided by 10 at epochs 10 and 50, 80 epochs, batch 64, decay 1e-4.
* CTR-GCN: lr 0.1, 5 epochs of linear warm-up, divided by 10 at epochs 35 and 55, 65 epochs, batch 64, decay 4e-4.
* Shift-GCN: lr 0.1, divided by 10 at epochs 60, 80 and 100, 140 epochs, batch 64; its decay is set per
  parameter: 1e-3 on the shift graph convolution's pointwise weight, 0 on its feature mask, 1e-4 elsewhere.
* MS-G3D: lr 0.05, divided by 10 at epochs 30 and 40, 50 epochs, batch 32, decay 5e-4.
* EfficientGCN: lr 0.1, 10 epochs of linear warm-up, then a half-cosine to 0, 70 epochs, batch 32, decay 1e-4.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

__all__ = ["Recipe", "RECIPES", "get_recipe", "build_optimizer", "build_schedule"]

Optimizer = Literal["sgd", "adamw"]
Schedule = Literal["step", "cosine", "one-cycle"]


@dataclass(frozen=True)
class Recipe:
    """How to train: optimiser, learning rate and its schedule, weight decay, batch size and epochs.

    ``milestones`` (step schedule) are epochs at which the learning rate is multiplied by ``gamma``. The warm-up
    raises the learning rate linearly, step by step, over ``warmup_epochs``; the cosine schedule then falls as a
    half-cosine to 0 at the last step. ``weight_decay_rules`` are ``(regex, decay)`` pairs: a parameter whose name
    matches a regex (first match wins) gets that decay instead of ``weight_decay``.
    """

    name: str
    optimizer: Optimizer = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    weight_decay_rules: tuple[tuple[str, float], ...] = ()
    schedule: Schedule = "step"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    epochs: int = 65
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"Recipe {self.name!r}: optimizer must be 'sgd' or 'adamw', got {self.optimizer!r}")
        if self.schedule not in ("step", "cosine", "one-cycle"):
            raise ValueError(
                f"Recipe {self.name!r}: schedule must be 'step', 'cosine' or 'one-cycle', got {self.schedule!r}"
            )
        for field, value in (("epochs", self.epochs), ("batch_size", self.batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Recipe {self.name!r}: {field} must be a positive integer, got {value!r}")
        if not (isinstance(self.lr, int | float) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"Recipe {self.name!r}: lr must be a positive finite number, got {self.lr!r}")
        if not (isinstance(self.weight_decay, int | float) and self.weight_decay >= 0):
            raise ValueError(f"Recipe {self.name!r}: weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(
                f"Recipe {self.name!r}: warmup_epochs must be in [0, epochs={self.epochs}), got {self.warmup_epochs}"
            )

    def replace(self, **changes) -> Recipe:
        """A copy with some fields changed (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def scaled(self, epochs: int, **changes) -> Recipe:
        """The same recipe over ``epochs`` epochs: milestones and warm-up scale in proportion."""
        factor = epochs / self.epochs
        milestones = tuple(max(1, round(m * factor)) for m in self.milestones)
        return self.replace(epochs=epochs, milestones=milestones, warmup_epochs=self.warmup_epochs * factor, **changes)

    def to_dict(self) -> dict:
        """Plain types only (lists, not tuples), so the recipe can be stored in a ``weights_only`` checkpoint."""
        return {name: _plain(value) for name, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> Recipe:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["milestones"] = tuple(data.get("milestones", ()))
        data["weight_decay_rules"] = tuple(tuple(rule) for rule in data.get("weight_decay_rules", ()))
        return cls(**data)


def _plain(value):
    """Tuples, nested too, as lists."""
    return [_plain(v) for v in value] if isinstance(value, tuple | list) else value


RECIPES: dict[str, Recipe] = {
    "stgcn": Recipe("stgcn", lr=0.1, weight_decay=1e-4, milestones=(10, 50), epochs=80, batch_size=64),
    "ctrgcn": Recipe(
        "ctrgcn", lr=0.1, weight_decay=4e-4, milestones=(35, 55), warmup_epochs=5, epochs=65, batch_size=64
    ),
    "shiftgcn": Recipe(
        "shiftgcn",
        lr=0.1,
        weight_decay=1e-4,
        weight_decay_rules=((r"(^|\.)gcn1\.weight$", 1e-3), (r"feature_mask$", 0.0)),
        milestones=(60, 80, 100),
        epochs=140,
        batch_size=64,
    ),
    "msg3d": Recipe("msg3d", lr=0.05, weight_decay=5e-4, milestones=(30, 40), epochs=50, batch_size=32),
    "efficientgcn": Recipe(
        "efficientgcn", lr=0.1, weight_decay=1e-4, schedule="cosine", warmup_epochs=10, epochs=70, batch_size=32
    ),
    "adamw-onecycle": Recipe(
        "adamw-onecycle", optimizer="adamw", lr=1e-2, weight_decay=1e-4, schedule="one-cycle", epochs=10, batch_size=32
    ),
}


def get_recipe(name: str | Recipe) -> Recipe:
    """A recipe by name (``'ctrgcn'``, ``'efficientgcn-b0'`` is read as ``'efficientgcn'``), or the recipe itself."""
    if isinstance(name, Recipe):
        return name
    if not isinstance(name, str):
        raise TypeError(f"recipe must be a name or a Recipe, got {type(name).__name__}")
    key = "efficientgcn" if re.fullmatch(r"efficientgcn-b\d", name) else name
    if key not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; expected one of {sorted(RECIPES)}")
    return RECIPES[key]


def build_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """The recipe's optimiser over ``model``'s trainable parameters, one group per weight decay."""
    groups: dict[float, list[nn.Parameter]] = {}
    rules = [(re.compile(pattern), decay) for pattern, decay in recipe.weight_decay_rules]
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decay = next((d for pattern, d in rules if pattern.search(name)), recipe.weight_decay)
        groups.setdefault(decay, []).append(param)
    param_groups = [{"params": params, "weight_decay": decay} for decay, params in groups.items()]
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(param_groups, lr=recipe.lr)
    return torch.optim.SGD(param_groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov)


def build_schedule(
    optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The recipe's learning-rate schedule, stepped once per optimiser step."""
    total = recipe.epochs * steps_per_epoch
    if recipe.schedule == "one-cycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=total, pct_start=0.2)
    warmup = recipe.warmup_epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warmup:
            return min(1.0, (step + 1) / warmup)
        if recipe.schedule == "cosine":
            return 0.5 * (math.cos(math.pi * (step - warmup) / max(total - warmup, 1)) + 1)
        epoch = step // steps_per_epoch
        return recipe.gamma ** sum(epoch >= m for m in recipe.milestones)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
