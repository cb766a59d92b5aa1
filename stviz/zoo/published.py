"""Published NTU RGB+D top-1 accuracies (%): one stream against the multi-stream ensembles the headlines quote.

Each :class:`PublishedResult` is one figure with its source. ``streams`` counts the separately trained models
whose scores are summed (1: joint only). EfficientGCN is one model with three early-fused input branches, not a
score ensemble, so its one figure has ``streams=1`` and says so in ``note``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PublishedResult", "PUBLISHED", "published_table"]


@dataclass(frozen=True)
class PublishedResult:
    """One published top-1 accuracy (%) on NTU RGB+D 60 cross-subject / cross-view (None: not reported)."""

    model: str
    streams: int
    xsub: float | None
    xview: float | None
    source: str
    note: str = ""


_CTRGCN = "Chen et al., Channel-wise Topology Refinement Graph Convolution, ICCV 2021"
_SHIFTGCN = "Cheng et al., Skeleton-Based Action Recognition with Shift Graph Convolutional Network, CVPR 2020"
_MSG3D = "Liu et al., Disentangling and Unifying Graph Convolutions (MS-G3D), CVPR 2020"
_EFFICIENTGCN = "Song et al., EfficientGCN, arXiv 2106.15125 v1 and the authors' repository README"

PUBLISHED: tuple[PublishedResult, ...] = (
    PublishedResult("CTR-GCN", 1, 89.9, None, _CTRGCN, "joint stream"),
    PublishedResult("CTR-GCN", 4, 92.4, 96.8, _CTRGCN, "joint, bone, joint-motion, bone-motion; 0.6/0.6/0.4/0.4"),
    PublishedResult("Shift-GCN", 1, 87.8, 95.1, _SHIFTGCN, "joint stream"),
    PublishedResult("Shift-GCN", 4, 90.7, 96.5, _SHIFTGCN, "joint, bone, joint-motion, bone-motion; 0.6/0.6/0.4/0.4"),
    PublishedResult("MS-G3D", 2, 91.5, 96.2, _MSG3D, "joint and bone, summed with weight 1 each"),
    PublishedResult(
        "EfficientGCN-B0", 1, 89.9, 94.7, _EFFICIENTGCN, "one model; its 3 input branches are fused inside it"
    ),
)


def published_table() -> list[dict[str, object]]:
    """:data:`PUBLISHED` as a list of plain dicts (one row per figure), e.g. for ``pandas.DataFrame``."""
    return [
        {
            "model": r.model,
            "streams": r.streams,
            "NTU-60 X-Sub": r.xsub,
            "NTU-60 X-View": r.xview,
            "source": r.source,
            "note": r.note,
        }
        for r in PUBLISHED
    ]
