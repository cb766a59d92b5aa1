"""Checkpoint key mapping: how an original class's state_dict keys become stviz keys, and the strict check.

A :class:`KeyMap` renames keys both ways (original -> stviz for loading, stviz -> original for error messages),
converts values whose layout differs, and checks constants that stviz recomputes instead of storing. Adapters
build theirs from :func:`prefixes` (renamed prefixes) and :func:`nested` (sub-blocks by index); :func:`convert`
applies one to a checkpoint and reports every missing, leftover and shape-mismatched key with both names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["KeyMap", "IDENTITY", "prefixes", "nested", "unwrap", "convert"]

# Containers that training scripts wrap a state_dict in; unwrapped in this order.
WRAPPERS = ("state_dict", "model_state_dict", "model", "net")


def _keep(key: str, value: torch.Tensor) -> torch.Tensor:
    return value


def _accept(key: str, value: torch.Tensor) -> None:
    return None


@dataclass(frozen=True)
class KeyMap:
    """Original key -> stviz key (``None``: a constant stviz recomputes), and back; value conversion and checks."""

    to_stviz: Callable[[str], str | None]
    to_original: Callable[[str], str]
    convert_value: Callable[[str, torch.Tensor], torch.Tensor] = field(default=_keep)  # by original key
    check_dropped: Callable[[str, torch.Tensor], None] = field(default=_accept)  # by original key


IDENTITY = KeyMap(lambda key: key, lambda key: key)


def _swap(key: str, table: Mapping[str, str]) -> str:
    """Replace the longest prefix of ``key`` found in ``table`` (a prefix is a whole key or ends with '.')."""
    for old in sorted(table, key=len, reverse=True):
        if key == old or (old.endswith(".") and key.startswith(old)):
            return table[old] + key[len(old) :]
    return key


def prefixes(
    table: Mapping[str, str],
    dropped: Callable[[str, torch.Tensor], None] | Mapping[str, Callable[[torch.Tensor], None]] | None = None,
    convert_value: Callable[[str, torch.Tensor], torch.Tensor] = _keep,
) -> KeyMap:
    """Rename by prefix (``{"conv1.": "embed_u.", "PA": "topology"}``); keys in ``dropped`` are constants that
    stviz recomputes: each is checked by its function, then left out."""
    dropped = dropped or {}
    reverse = {new: old for old, new in table.items()}

    def to_stviz(key: str) -> str | None:
        return None if key in dropped else _swap(key, table)

    def check(key: str, value: torch.Tensor) -> None:
        dropped[key](value)

    return KeyMap(to_stviz, lambda key: _swap(key, reverse), convert_value, check)


def nested(
    original: str,
    stviz: str,
    inner: Callable[[dict[str, str]], KeyMap],
    to_stviz_prefix: Callable[[dict[str, str]], str],
    to_original_prefix: Callable[[dict[str, str]], str],
    rest: KeyMap = IDENTITY,
) -> KeyMap:
    """Keys of sub-blocks: ``original`` and ``stviz`` are regexes with named groups matching a key's prefix;
    ``inner(groups)`` maps the remainder; keys that match neither go through ``rest``."""
    orig_re, stviz_re = re.compile(original), re.compile(stviz)

    def split(key: str, pattern: re.Pattern) -> tuple[dict[str, str], str] | None:
        match = pattern.match(key)
        return (match.groupdict(), key[match.end() :]) if match else None

    def to_stviz(key: str) -> str | None:
        part = split(key, orig_re)
        if part is None:
            return rest.to_stviz(key)
        groups, tail = part
        new = inner(groups).to_stviz(tail)
        return None if new is None else to_stviz_prefix(groups) + new

    def to_original(key: str) -> str:
        part = split(key, stviz_re)
        if part is None:
            return rest.to_original(key)
        groups, tail = part
        return to_original_prefix(groups) + inner(groups).to_original(tail)

    def convert_value(key: str, value: torch.Tensor) -> torch.Tensor:
        part = split(key, orig_re)
        return rest.convert_value(key, value) if part is None else inner(part[0]).convert_value(part[1], value)

    def check_dropped(key: str, value: torch.Tensor) -> None:
        part = split(key, orig_re)
        return rest.check_dropped(key, value) if part is None else inner(part[0]).check_dropped(part[1], value)

    return KeyMap(to_stviz, to_original, convert_value, check_dropped)


def unwrap(checkpoint, where: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The state_dict inside a checkpoint: unwraps ``{"state_dict": ...}``, ``{"model": ...}`` (and
    ``model_state_dict``, ``net``) containers and strips the ``module.`` prefix of ``nn.DataParallel``."""
    sd = checkpoint
    while isinstance(sd, Mapping) and not all(isinstance(v, torch.Tensor) for v in sd.values()):
        inner = next((sd[k] for k in WRAPPERS if isinstance(sd.get(k), Mapping)), None)
        if inner is None:
            others = sorted(k for k, v in sd.items() if not isinstance(v, torch.Tensor))[:5]
            raise TypeError(
                f"{where}: expected a state_dict (str -> tensor) or a dict holding one under {WRAPPERS}; got a "
                f"dict whose entries {others} are not tensors"
            )
        sd = inner
    if not isinstance(sd, Mapping):
        raise TypeError(f"{where}: expected a state_dict (a dict of str -> tensor), got {type(sd).__name__}")
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k.removeprefix("module."): v for k, v in sd.items()}
    return dict(sd)


def convert(checkpoint, module: nn.Module, keymap: KeyMap, where: str, strict: bool = True) -> dict:
    """Map an original checkpoint onto ``module``'s keys, strictly.

    Raises ``ValueError`` listing every original key with no place in ``module`` (leftover), every key whose
    shape differs and, when ``strict``, every key of ``module`` that no original key fills (missing): each
    with its original and its stviz name. ``strict=False`` allows a partial dict (e.g. one key).
    """
    sd = unwrap(checkpoint, where)
    target = module.state_dict()
    out, leftover, mismatched = {}, [], []
    for key, value in sd.items():
        new = keymap.to_stviz(key)
        if new is None:
            keymap.check_dropped(key, value)
            continue
        value = keymap.convert_value(key, value)
        if new not in target:
            leftover.append(f"original {key!r} -> stviz {new!r}")
        elif new in out:
            leftover.append(f"original {key!r} -> stviz {new!r}, which another original key already fills")
        elif tuple(value.shape) != tuple(target[new].shape):
            mismatched.append(f"original {key!r} {tuple(value.shape)} -> stviz {new!r} {tuple(target[new].shape)}")
        else:
            out[new] = value
    missing = [f"stviz {k!r} <- original {keymap.to_original(k)!r}" for k in target if k not in out] if strict else []
    if leftover or mismatched or missing:
        lines = [f"{where}: the checkpoint does not match the stviz module"]
        for title, items in (("leftover", leftover), ("shape mismatch", mismatched), ("missing", missing)):
            lines += [f"  {title}: {item}" for item in items]
        raise ValueError("\n".join(lines))
    return out
