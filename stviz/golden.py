"""The golden cases: outputs recorded from the original implementations, shipped in the repository's tests/golden.

Each case is a ``.pt`` dict (format in ``tests/golden/README.md``): the original's class name and arguments, its
weights under the original key names, an input and the original's output. ``STVIZ_GOLDEN=/path/to/dir`` points
everything (tests and notebooks) at another folder of cases in the same format.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from stviz import official

__all__ = ["golden_dir", "load_case", "build_case", "run_case"]


def golden_dir() -> Path:
    """``$STVIZ_GOLDEN`` if set, else the ``tests/golden`` folder of the repository this stviz was installed from.

    A clone installed in editable mode (``make setup``) finds it beside the package; otherwise it is looked for
    from the working directory (the repository root or its ``notebooks/`` folder).
    """
    if os.environ.get("STVIZ_GOLDEN"):
        return Path(os.environ["STVIZ_GOLDEN"])
    candidates = [Path(__file__).resolve().parents[1], Path.cwd(), Path.cwd().parent]
    for root in candidates:
        if (root / "tests" / "golden").is_dir():
            return root / "tests" / "golden"
    tried = ", ".join(str(root / "tests" / "golden") for root in candidates)
    raise FileNotFoundError(f"no golden cases found (tried {tried}); set STVIZ_GOLDEN to a folder of .pt cases")


def load_case(name: str) -> dict:
    """Load golden case ``name`` (file name, with or without ``.pt``) from :func:`golden_dir`."""
    path = golden_dir() / (name if name.endswith(".pt") else f"{name}.pt")
    if not path.is_file():
        raise FileNotFoundError(f"golden case {path.name} not found in {path.parent}")
    return torch.load(path, weights_only=True)


def build_case(case: dict) -> nn.Module:
    """The stviz module for ``case`` via :mod:`stviz.official`, with the case's original weights, in eval mode."""
    module = official.build(case["repo"], case["name"], **case["kwargs"])
    if case["state_dict"]:
        weights = official.convert_state_dict(case["repo"], case["name"], case["state_dict"], **case["kwargs"])
        module.load_state_dict(weights, strict=True)
    return module.eval() if isinstance(module, nn.Module) else module


def run_case(case: dict) -> torch.Tensor:
    """:func:`build_case`'s module on the case's input (and its ``forward_args``, e.g. ST-GCN's ``A``), without
    autograd: the output to compare with ``case["output"]`` (the first of a tuple, as ST-GCN's blocks return (x, A))."""
    module = build_case(case)
    with torch.no_grad():
        out = module(case["input"], *case.get("forward_args", []))
    return out[0] if isinstance(out, (tuple, list)) else out
