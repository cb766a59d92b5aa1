"""The one registry of models: ``name -> constructor``; each family module registers its models."""

from __future__ import annotations

import functools
from collections.abc import Callable

from stviz.checks import check_positive_int
from stviz.models.base import SkeletonModel

__all__ = ["MODELS", "register_model", "build_model"]

MODELS: dict[str, Callable[..., SkeletonModel]] = {}


def register_model(name: str, **defaults):
    """Class decorator: register ``cls(**defaults, num_classes=...)`` as ``name``; returns the class unchanged."""

    def deco(cls):
        if name in MODELS:
            raise ValueError(f"model name {name!r} is registered twice")
        MODELS[name] = functools.partial(cls, **defaults) if defaults else cls
        return cls

    return deco


def build_model(name: str, num_classes: int = 60) -> SkeletonModel:
    """A registered model by name, NTU-60 configuration (``'stgcn'``, ``'ctrgcn'``, ``'efficientgcn-b0'``, ...)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    check_positive_int(num_classes, "num_classes", block=f"build_model({name!r})")
    return MODELS[name](num_classes=num_classes)
