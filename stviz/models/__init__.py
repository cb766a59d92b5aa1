"""Full skeleton action-recognition models, one module per family, each with its layer and its model.

* :mod:`stviz.models.stgcn` -- :class:`STGCNBlock`, :class:`STGCN` (Yan et al., AAAI 2018);
* :mod:`stviz.models.ctrgcn` -- :class:`ChannelTopologyBlock`, :class:`CTRGCN` (Chen et al., ICCV 2021);
* :mod:`stviz.models.shiftgcn` -- :class:`ShiftGCNUnit`, :class:`ShiftGCN` (Cheng et al., CVPR 2020);
* :mod:`stviz.models.efficientgcn` -- :class:`EfficientGCNBlock`, :class:`EfficientGCN` (Song et al., TPAMI 2022);
* :mod:`stviz.models.msg3d` -- :class:`MSG3DStage`, :class:`MSG3D` (Liu et al., CVPR 2020).

Every model is a :class:`~stviz.models.base.SkeletonModel`: it takes (N, C, T, V, M) (EfficientGCN:
(N, I, C, T, V, M)) and returns logits (N, num_classes). :func:`build_model` builds any registered model by name.
"""

from stviz.models.base import LayerStackModel, SkeletonModel
from stviz.models.ctrgcn import CTRGCN, ChannelTopologyBlock
from stviz.models.efficientgcn import EfficientGCN, EfficientGCNBlock, efficientgcn_block_args
from stviz.models.msg3d import MSG3D, MSG3DStage
from stviz.models.registry import MODELS, build_model, register_model
from stviz.models.shiftgcn import ShiftGCN, ShiftGCNUnit
from stviz.models.stgcn import STGCN, STGCNBlock

# The models the contrast table and the benchmarks show (every EfficientGCN level is in MODELS).
MODEL_NAMES = ("stgcn", "ctrgcn", "shiftgcn", "msg3d", "efficientgcn-b0", "efficientgcn-b2", "efficientgcn-b4")

__all__ = [
    "SkeletonModel",
    "LayerStackModel",
    "STGCNBlock",
    "STGCN",
    "ChannelTopologyBlock",
    "CTRGCN",
    "ShiftGCNUnit",
    "ShiftGCN",
    "EfficientGCNBlock",
    "EfficientGCN",
    "efficientgcn_block_args",
    "MSG3DStage",
    "MSG3D",
    "MODELS",
    "MODEL_NAMES",
    "register_model",
    "build_model",
]
