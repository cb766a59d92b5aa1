"""Compatibility with the original implementations and their checkpoints.

Three functions::

    A  = official.adjacency(repo)                    # the repo's NTU adjacency
    m  = official.build(repo, name, **kwargs)        # stviz module == original class `name`
    sd = official.convert_state_dict(repo, name, torch.load(path, map_location="cpu", weights_only=True), **kwargs)
    m.load_state_dict(sd, strict=True)

``repo`` is one of ``stgcn``, ``ctrgcn``, ``effgcn``, ``shiftgcn``, ``msg3d``,
``tsm``. The adapters live in one submodule per topic (``spatial``,
``temporal``, ``shift``, ``channel``, ``multiscale``, ``tsm``, ``models``), each
registering itself with :func:`register` and its :class:`~stviz.official.keys.KeyMap`;
this package is the one place that knows the original class names, signatures and quirks.
:func:`convert_state_dict` is strict: it unwraps ``state_dict`` / ``model`` containers and
``module.`` prefixes, and reports every missing, leftover or shape-mismatched key.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from stviz.graph import SkeletonGraph
from stviz.official.keys import IDENTITY, KeyMap, convert
from stviz.spatial import cyclic_shift_indices

__all__ = [
    "REPOS",
    "adjacency",
    "build",
    "convert_state_dict",
    "key_map",
    "available",
    "register",
    "shift_indices",
]

REPOS = ("stgcn", "ctrgcn", "effgcn", "shiftgcn", "msg3d", "tsm")
_TOPICS = ("spatial", "temporal", "shift", "channel", "multiscale", "tsm", "models")


@dataclass(frozen=True)
class Adapter:
    """How to build one original class as an stviz module and map its keys."""

    build: Callable[..., nn.Module]
    # (**original_kwargs) -> KeyMap from the original's keys to the built module's keys.
    keys: Callable[..., KeyMap]


_REGISTRY: dict[tuple[str, str], Adapter] = {}
_LOADED = False


def register(repo: str, name: str, keys: KeyMap | Callable[..., KeyMap] = IDENTITY):
    """Decorator: register ``fn(**original_kwargs) -> nn.Module`` as ``(repo, name)``.

    ``keys`` maps the original's state_dict keys onto the module's: a :class:`KeyMap`, or a function of the
    constructor's keyword arguments returning one (the default: identical keys).
    """
    if repo not in REPOS:
        raise ValueError(f"unknown repo {repo!r}; expected one of {REPOS}")
    factory = keys if callable(keys) and not isinstance(keys, KeyMap) else (lambda **_: keys)

    def deco(fn):
        _REGISTRY[(repo, name)] = Adapter(fn, factory)
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
    """An stviz module that computes what the original class ``name`` computes.

    Raises ``TypeError`` naming the original's arguments for a keyword the original would refuse (an
    original with ``**kwargs``, as EfficientGCN's classes have, accepts and ignores any other keyword)."""
    return _built(_adapter(repo, name), repo, name, kwargs)


def _built(adapter: Adapter, repo: str, name: str, kwargs: dict) -> nn.Module:
    signature = inspect.signature(adapter.build)
    try:
        signature.bind(**kwargs)
    except TypeError as error:
        takes = ", ".join(p for p in signature.parameters if not p.startswith("_"))
        raise TypeError(f"{repo} {name}: {error}; the original takes ({takes})") from None
    return adapter.build(**kwargs)


def key_map(repo: str, name: str, **kwargs) -> KeyMap:
    """How the original ``name``'s keys map onto :func:`build`'s module, for these constructor arguments."""
    return _adapter(repo, name).keys(**kwargs)


def convert_state_dict(repo: str, name: str, state_dict, strict: bool = True, **kwargs) -> dict:
    """Map an original checkpoint (original key names) onto ``build(repo, name, **kwargs)``'s keys.

    Unwraps ``{"state_dict": ...}`` / ``{"model": ...}`` containers and ``module.`` prefixes, then raises
    ``ValueError`` naming every leftover, shape-mismatched and (when ``strict``) missing key, each with its
    original and its stviz name. ``strict=False`` converts a partial dict.
    """
    adapter = _adapter(repo, name)
    module = _built(adapter, repo, name, kwargs)
    return convert(state_dict, module, adapter.keys(**kwargs), f"{repo} {name}", strict)


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
    """Shift-GCN's spatial shift index tables (``shift_in``, ``shift_out``), int64 (V*C,): the cyclic shift
    along the joint index, :func:`stviz.spatial.cyclic_shift_indices`."""
    return cyclic_shift_indices(channels, num_joints)
