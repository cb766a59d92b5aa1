"""Compatibility with the original implementations and their checkpoints.

Three functions (OFFICIAL_API.md)::

    A  = official.adjacency(repo)                    # the repo's NTU adjacency
    m  = official.build(repo, name, **kwargs)        # stviz module == original class `name`
    sd = official.convert_state_dict(repo, name, original_sd, **kwargs)
    m.load_state_dict(sd, strict=True)

``repo`` is one of ``stgcn``, ``ctrgcn``, ``effgcn``, ``shiftgcn``, ``msg3d``,
``tsm``. The adapters live in one submodule per topic (``spatial``,
``temporal``, ``shift``, ``channel``, ``multiscale``, ``tsm``, ``models``), each
registering itself with :func:`register`; this package is the one place that
knows the original class names, signatures and quirks.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from stviz.graph import SkeletonGraph

__all__ = ["REPOS", "adjacency", "build", "convert_state_dict", "available", "register", "shift_indices"]

REPOS = ("stgcn", "ctrgcn", "effgcn", "shiftgcn", "msg3d", "tsm")
_TOPICS = ("spatial", "temporal", "shift", "channel", "multiscale", "tsm", "models")


@dataclass(frozen=True)
class Adapter:
    """How to build one original class as an stviz module and map its keys."""

    build: Callable[..., nn.Module]
    # (original_state_dict, **kwargs) -> stviz state_dict. None: keys are identical.
    convert: Callable[..., dict] | None = None


_REGISTRY: dict[tuple[str, str], Adapter] = {}
_LOADED = False


def register(repo: str, name: str, convert: Callable[..., dict] | None = None):
    """Decorator: register ``fn(**original_kwargs) -> nn.Module`` as ``(repo, name)``."""
    if repo not in REPOS:
        raise ValueError(f"unknown repo {repo!r}; expected one of {REPOS}")

    def deco(fn):
        _REGISTRY[(repo, name)] = Adapter(fn, convert)
        return fn

    return deco


def _load_adapters() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for topic in _TOPICS:
            try:
                importlib.import_module(f"{__name__}.{topic}")
            except ModuleNotFoundError as e:
                if e.name != f"{__name__}.{topic}":
                    raise


def available() -> list[tuple[str, str]]:
    """Every ``(repo, name)`` that :func:`build` accepts."""
    _load_adapters()
    return sorted(_REGISTRY)


def _adapter(repo: str, name: str) -> Adapter:
    _load_adapters()
    if repo not in REPOS:
        raise ValueError(f"unknown repo {repo!r}; expected one of {REPOS}")
    try:
        return _REGISTRY[(repo, name)]
    except KeyError:
        names = sorted(n for r, n in _REGISTRY if r == repo)
        raise ValueError(f"{repo} has no adapter for {name!r}; available: {names}") from None


def build(repo: str, name: str, **kwargs) -> nn.Module:
    """An stviz module that computes what the original class ``name`` computes."""
    return _adapter(repo, name).build(**kwargs)


def convert_state_dict(repo: str, name: str, state_dict: dict, **kwargs) -> dict:
    """Map an original ``state_dict`` (original key names) onto :func:`build`'s module."""
    adapter = _adapter(repo, name)
    if adapter.convert is None:
        return dict(state_dict)
    return adapter.convert(state_dict, **kwargs)


def adjacency(repo: str) -> torch.Tensor:
    """The NTU adjacency exactly as each repository's Graph class yields it.

    ``stgcn``: (3, 25, 25) 'spatial' partition with the max_hop=1 quirk;
    ``ctrgcn``: (3, 25, 25) identity / inward / outward;
    ``effgcn``: (11, 25, 25) hop partition over 10 hops;
    ``msg3d``: (25, 25) binary adjacency without self-loops.
    """
    g = SkeletonGraph("ntu-rgb+d")
    if repo == "stgcn":
        return g.stgcn_partition("spatial", max_hop=1, centre_distance="official")
    if repo == "ctrgcn":
        return g.inward_outward()
    if repo == "effgcn":
        return g.hop_partition(max_hop=10)
    if repo == "msg3d":
        return g.binary_adjacency()
    raise ValueError(f"no adjacency for repo {repo!r}; expected one of ('stgcn', 'ctrgcn', 'effgcn', 'msg3d')")


def shift_indices(channels: int, num_joints: int = 25) -> dict[str, torch.Tensor]:
    """Shift-GCN's spatial shift index tables (``shift_in``, ``shift_out``), int64 (V*C,).

    ``shift_in[v*C + c]`` points at joint ``(v + c) % V`` of channel c and
    ``shift_out[v*C + c]`` at joint ``(v - c) % V``: a cyclic shift along the
    joint index (SPEC.md pitfall 10).
    """
    v = torch.arange(num_joints)[:, None]
    c = torch.arange(channels)[None, :]
    shift_in = ((v + c) % num_joints) * channels + c
    shift_out = ((v - c) % num_joints) * channels + c
    return {"shift_in": shift_in.reshape(-1), "shift_out": shift_out.reshape(-1)}
