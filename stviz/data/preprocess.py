"""``preprocess_skeleton``: one NTU ``.skeleton`` file through a named pipeline.

A checkpoint only gives meaningful accuracy on data preprocessed the way it was trained. Which pipeline to use:

=====================  =====================================================================================
``pipeline``           for checkpoints of
=====================  =====================================================================================
``"stgcn"``            ST-GCN
``"2s-agcn"``          2s-AGCN, MS-G3D, Shift-GCN; EfficientGCN's X-view configuration
``"efficientgcn-raw"`` EfficientGCN's X-sub, X-sub120 and X-set120 configurations (the feeder then keeps 288 frames)
``"ctrgcn"``           CTR-GCN; then :func:`stviz.data.crop_resize` (``window=64``), as its feeder does at test time
``"teaching"``         none: stviz's own readable pipeline, for the notebooks
=====================  =====================================================================================

There is no default: the argument is required, so that no checkpoint silently sees another pipeline's data.
``docs/preprocessing.md`` sets out how the pipelines differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from stviz.data.ctrgcn import ctrgcn_pipeline
from stviz.data.skeleton_file import SkeletonBody, read_skeleton_file
from stviz.data.slot_pipelines import agcn_pipeline, efficientgcn_raw_pipeline, stgcn_pipeline
from stviz.data.teaching import teaching_pipeline

__all__ = ["PIPELINES", "CHECKPOINTS", "preprocess_skeleton"]

PIPELINES: dict[str, Callable[..., np.ndarray]] = {
    "stgcn": stgcn_pipeline,
    "2s-agcn": agcn_pipeline,
    "efficientgcn-raw": efficientgcn_raw_pipeline,
    "ctrgcn": ctrgcn_pipeline,
    "teaching": teaching_pipeline,
}
CHECKPOINTS = {
    "stgcn": "ST-GCN",
    "2s-agcn": "2s-AGCN, MS-G3D, Shift-GCN, EfficientGCN X-view",
    "efficientgcn-raw": "EfficientGCN X-sub, X-sub120, X-set120",
    "ctrgcn": "CTR-GCN (then crop_resize)",
    "teaching": "no checkpoint: stviz's teaching variant",
}


def _choices() -> str:
    return "; ".join(f"{name!r} for {CHECKPOINTS[name]}" for name in PIPELINES)


def preprocess_skeleton(
    source: str | Path | Sequence[Sequence[SkeletonBody]], pipeline: str | None = None, **options
) -> np.ndarray:
    """Preprocess one ``.skeleton`` path (or parsed frames) with a named pipeline: float32 (3, T, 25, M).

    ``pipeline`` is required (see the module's table). The originals' pipelines return (3, 300, 25, 2), as each
    original stores a sample; ``num_frames`` changes the 300. ``"teaching"`` also takes ``max_bodies``, ``mode``
    and ``align`` (defaults 64 frames, 2 bodies, ``'repeat'``, aligned).
    """
    if pipeline is None:
        raise TypeError(f"preprocess_skeleton needs pipeline=, the one your checkpoint was trained on: {_choices()}")
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline must be one of {list(PIPELINES)}, got {pipeline!r}: {_choices()}")
    frames = read_skeleton_file(source) if isinstance(source, str | Path) else source
    try:
        return PIPELINES[pipeline](frames, **options)
    except ValueError as exc:
        if isinstance(source, str | Path) and str(source) not in str(exc):
            raise ValueError(f"{source}: {exc}") from None
        raise
