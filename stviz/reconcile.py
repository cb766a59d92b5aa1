"""Published parameter and FLOP figures beside stviz's counts, each under the convention that explains it.

A published figure depends on what was counted: trainable parameters or only those of conv / norm / linear layers
(what ``thop`` sees), MACs or FLOPs, convolutions only or every product, the number of frames T, the persons per
sample, the classifier's number of classes, and the order an implementation contracts its products in.
:func:`reconcile` counts each model under the convention stated for each figure and says whether the count
matches the figure at the precision it was published with; where it does not, the gap is left unexplained.

stviz computes CTR-GCN's topology convolutions, ST-GCN's and EfficientGCN's widening graph convolutions and MS-G3D's
graph convolutions in a cheaper order than the originals (the same function, fewer MACs); :func:`original_order`
puts a model back in the originals' order for counting.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import torch
from torch import nn

from stviz.cost import Cost, count_model, count_shapes
from stviz.layers import add_residual
from stviz.models import build_model
from stviz.multiscale import G3DBlock, MultiScaleGraphConv
from stviz.spatial import ChannelTopologyConv, ChannelTopologyUnit, PartitionGraphConv

__all__ = ["Convention", "Figure", "FIGURES", "original_order", "model_cost", "counted", "reconcile"]


def _ctr_unit_in_original_order(unit: ChannelTopologyUnit):
    """CTR-GCN's ``unit_gcn`` as the original computes it: every subset embeds all T frames, then averages."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        y = sum(conv.explicit(x, a, unit.alpha) for conv, a in zip(unit.convs, unit.topology, strict=True))
        return torch.relu(add_residual(unit.bn(y), x, unit.residual))

    return forward


@contextlib.contextmanager
def original_order(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, ``model``'s CTR-GCN units and its ST-GCN, EfficientGCN and MS-G3D graph convolutions run in
    the originals' order.

    MS-G3D's blocks use their ``explicit`` forward (aggregate every scale, then project; unfold the windows);
    CTR-GCN's topology convolutions embed every frame before averaging over T; ST-GCN's and EfficientGCN's graph
    convolutions project before they aggregate. Results are unchanged; MAC counts become the originals'.
    """
    patched = []
    for module in model.modules():
        if isinstance(module, (MultiScaleGraphConv, G3DBlock, PartitionGraphConv, ChannelTopologyConv)):
            module.forward = module.explicit
        elif isinstance(module, ChannelTopologyUnit):
            module.forward = _ctr_unit_in_original_order(module)
        else:
            continue
        patched.append(module)
    try:
        yield model
    finally:
        for module in patched:
            del module.forward  # back to the class's forward


@dataclass(frozen=True)
class Convention:
    """How one figure was counted: T, persons, classes, the originals' order, and which quantity."""

    quantity: str  # "params", "thop params", "MACs", "conv MACs", "thop MACs"
    frames: int = 64
    persons: int = 2
    classes: int = 60
    original_order: bool = False

    def describe(self) -> str:
        if self.quantity.endswith("params"):
            kind = {"params": "trainable parameters", "thop params": "conv/norm/linear parameters (thop)"}
            return f"{kind[self.quantity]}, {self.classes}-class head"
        kind = {"MACs": "all MACs (conv + einsum/matmul)", "conv MACs": "conv MACs only",
                "thop MACs": "conv + linear MACs (thop)"}  # fmt: skip
        order = ", originals' order" if self.original_order else ""
        return f"{kind[self.quantity]}, T={self.frames}, {self.persons} persons, {self.classes}-class head{order}"


@dataclass(frozen=True)
class Figure:
    """One published figure (``"1.46M"``, ``"1.97G"``), its source, and the convention we count it under."""

    model: str  # an stviz model name
    published: str
    source: str
    convention: Convention
    note: str = ""

    def __post_init__(self):
        _parse(self.published)  # refuses a figure that does not read like "1.46M"

    @property
    def value(self) -> float:
        """The published number in units (1.46M -> 1_460_000)."""
        number, unit = _parse(self.published)
        return float(number) * {"M": 1e6, "G": 1e9}[unit]

    @property
    def decimals(self) -> int:
        """How many decimals the figure was published with."""
        number, _ = _parse(self.published)
        return len(number.partition(".")[2])


def _parse(text: str) -> tuple[str, str]:
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([MG])", text)
    if found is None:
        raise ValueError(f"a published figure reads like '1.46M' or '5.22G', got {text!r}")
    return found.group(1), found.group(2)


_CTRGCN = "CTR-GCN (Chen et al., ICCV 2021), as later comparison tables quote it"
_MSG3D_TABLES = "MS-G3D, as later comparison tables quote it (beside CTR-GCN's 1.46M / 1.97G)"
_MSG3D_ISSUE = "the MS-G3D author, MS-G3D issue #16 ('about 24G MACs')"
_MSG3D = "Liu et al., CVPR 2020 (MS-G3D), per stream"
_SHIFT = "the Shift-GCN authors, Shift-GCN issue #7 ('computed by hand')"
_SHIFT_PAPER = "Cheng et al., CVPR 2020 (Shift-GCN)"
_STGCN = "ST-GCN (Yan et al., AAAI 2018); FLOPs as the Shift-GCN paper quotes them"
_EFF_V1 = "EfficientGCN repository README (arXiv v1)"
_EFF_TPAMI = "EfficientGCN, Song et al., TPAMI 2022"

_PARAMS, _THOP_PARAMS = Convention("params"), Convention("thop params")
FIGURES: tuple[Figure, ...] = (
    Figure("ctrgcn", "1.46M", _CTRGCN, Convention("params", classes=120), "the NTU-120 model: 120-class head"),
    Figure("ctrgcn", "1.97G", _CTRGCN, Convention("MACs", 64, classes=120, original_order=True)),
    Figure("stgcn", "3.1M", _STGCN, _PARAMS),
    Figure("stgcn", "16.2G", _STGCN, Convention("conv MACs", 300)),
    Figure("shiftgcn", "0.69M", _SHIFT_PAPER, _PARAMS),
    Figure("shiftgcn", "2.5G", _SHIFT, Convention("conv MACs", 300), "closest convention; counted by hand"),
    Figure("msg3d", "3.2M", _MSG3D, _PARAMS),
    Figure("msg3d", "2.8M", _MSG3D_TABLES, _THOP_PARAMS, "thop misses the learned graph residuals"),
    Figure("msg3d", "24G", _MSG3D_ISSUE, Convention("conv MACs", 300, original_order=True)),
    Figure("msg3d", "5.22G", _MSG3D_TABLES, Convention("thop MACs", 64, original_order=True)),
    Figure("efficientgcn-b0", "0.32M", _EFF_V1, _THOP_PARAMS, "thop misses the edge masks"),
    Figure("efficientgcn-b2", "0.79M", _EFF_V1, _THOP_PARAMS),
    Figure("efficientgcn-b4", "2.03M", _EFF_V1, _THOP_PARAMS),
    Figure("efficientgcn-b0", "3.08G", _EFF_V1, Convention("thop MACs", 288)),
    Figure("efficientgcn-b2", "6.12G", _EFF_V1, Convention("thop MACs", 288)),
    Figure("efficientgcn-b4", "15.24G", _EFF_V1, Convention("thop MACs", 288)),
    Figure("efficientgcn-b0", "0.29M", _EFF_TPAMI, _THOP_PARAMS, "the TPAMI network, not the repository's"),
    Figure("efficientgcn-b4", "1.1M", _EFF_TPAMI, _THOP_PARAMS, "the TPAMI network, not the repository's"),
    Figure("efficientgcn-b0", "2.73G", _EFF_TPAMI, Convention("thop MACs", 288)),
    Figure("efficientgcn-b2", "4.05G", _EFF_TPAMI, Convention("thop MACs", 288)),
    Figure("efficientgcn-b4", "8.36G", _EFF_TPAMI, Convention("thop MACs", 288)),
)


def model_cost(name: str, frames: int, persons: int = 2, classes: int = 60, in_original_order: bool = False) -> Cost:
    """Model ``name`` with ``classes`` classes counted on one sample of ``frames`` frames and ``persons`` persons, in
    stviz's contraction orders or the originals' (:func:`original_order`). Counted once per process, on shapes alone
    (on CPU tensors where an op has no meta kernel: :func:`~stviz.cost.count_shapes`): a count depends on the
    architecture and the input's shape, never on the weights."""
    return _model_cost(name, frames, persons, classes, in_original_order)


@cache
def _model_cost(name: str, frames: int, persons: int, classes: int, in_original_order: bool) -> Cost:
    """:func:`model_cost`, cached on all five arguments (given by position, so that defaults share the entry)."""

    def measure(model: nn.Module, _device: str) -> Cost:
        if not in_original_order:
            return count_model(model, frames=frames, persons=persons)
        with original_order(model):
            return count_model(model, frames=frames, persons=persons)

    return count_shapes(lambda: build_model(name, num_classes=classes), measure)


def counted(name: str, convention: Convention) -> int:
    """Model ``name`` counted under ``convention``: parameters, or MACs per sample (counted on shapes alone)."""
    cost = model_cost(name, convention.frames, convention.persons, convention.classes, convention.original_order)
    return {"params": cost.params, "thop params": cost.thop_params, "MACs": cost.macs, "conv MACs": cost.conv_macs,
            "thop MACs": cost.thop_macs}[convention.quantity]  # fmt: skip


def reconcile(figures: tuple[Figure, ...] = FIGURES) -> list[dict]:
    """One row per figure: the published figure, our count under its convention, and whether they match.

    ``counted`` is our count in the figure's unit (M: 1e6 parameters, G: 1e9 MACs) and ``rounded`` the same count
    written as the figure is (as many decimals, the same unit). ``match`` is "yes" when ``rounded`` equals the
    published figure; otherwise ``gap %``, ``100 * (published / counted - 1)`` (positive: the figure is above our
    count), is what stays unexplained.
    """
    rows = []
    for figure in figures:
        ours = counted(figure.model, figure.convention)
        unit = 1e6 if figure.published.endswith("M") else 1e9
        rounded = f"{ours / unit:.{figure.decimals}f}{figure.published[-1]}"
        match = rounded == figure.published
        rows.append({"model": figure.model, "published": figure.published, "counted": ours / unit, "rounded": rounded,
                     "match": "yes" if match else "no", "gap %": 100 * (figure.value / ours - 1),
                     "convention": figure.convention.describe(), "note": figure.note,
                     "source": figure.source})  # fmt: skip
    return rows
