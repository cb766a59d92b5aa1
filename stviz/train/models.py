"""The models the trainer builds by name: the five families at the original's width or a reduced one.

Every model built here takes the joint stream (N, 3, T, V, M) as the data loaders give it and returns logits
(N, num_classes). EfficientGCN, whose original takes three input branches, is wrapped in
:class:`EfficientGCNFromJoints`, which forms those branches from the joints.

``width`` is the number of channels of the first stage; the other stages keep the original's ratios. The
originals' first widths are in :data:`ORIGINAL_WIDTH` (64 for ST-GCN, CTR-GCN, Shift-GCN and EfficientGCN's stem;
96 for MS-G3D).
"""

from __future__ import annotations

import torch
from torch import nn

from stviz.data import bone_stream
from stviz.models import CTRGCN, MSG3D, STGCN, EfficientGCN, ShiftGCN, efficientgcn_block_args

__all__ = [
    "FAMILIES",
    "ORIGINAL_WIDTH",
    "build_family_model",
    "check_width",
    "min_frames",
    "EfficientGCNFromJoints",
    "efficientgcn_inputs",
]

ORIGINAL_WIDTH = {"stgcn": 64, "ctrgcn": 64, "shiftgcn": 64, "msg3d": 96, "efficientgcn-b0": 64}
FAMILIES = tuple(ORIGINAL_WIDTH)

# The centre joint EfficientGCN's relative-position channels are measured from: the middle of the spine.
_CENTRE = 1


def efficientgcn_inputs(x: torch.Tensor) -> torch.Tensor:
    """EfficientGCN's three input branches from joint positions: (N, C, T, V, M) -> (N, 3, 2C, T, V, M).

    Branch J: positions and positions relative to the centre joint. Branch V: velocities over one and over two
    frames (0 where the later frame is missing). Branch B: bone vectors and the angle of each bone to each axis
    (arccos of its direction cosines).
    """
    relative = x - x[..., _CENTRE : _CENTRE + 1, :]
    one, two = torch.zeros_like(x), torch.zeros_like(x)
    one[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    two[:, :, :-2] = x[:, :, 2:] - x[:, :, :-2]
    bones = bone_stream(x)
    length = bones.norm(dim=1, keepdim=True) + 1e-4
    angles = torch.arccos((bones / length).clamp(-1.0, 1.0))
    branches = [torch.cat(pair, dim=1) for pair in ((x, relative), (one, two), (bones, angles))]
    return torch.stack(branches, dim=1)


class EfficientGCNFromJoints(nn.Module):
    """EfficientGCN fed with joint positions: forms its J, V, B branches, then runs ``model``.

    x: (N, 3, T, V, M) -> (N, num_classes). The state dict is the EfficientGCN's under ``model.``.
    """

    input_branches = None

    def __init__(self, model: EfficientGCN):
        super().__init__()
        if model.input_branches != 3 or model.in_channels != 6:
            raise ValueError(
                "EfficientGCNFromJoints needs an EfficientGCN with 3 input branches of 6 channels, got "
                f"{model.input_branches} branches of {model.in_channels}"
            )
        self.model = model
        # the model interface of stviz.models.base, for the joint input this wrapper takes
        self.in_channels, self.num_joints, self.min_frames = 3, model.num_joints, model.min_frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"EfficientGCNFromJoints expects joints (N, 3, T, V, M), got shape {tuple(x.shape)}")
        return self.model(efficientgcn_inputs(x))


def check_width(name: str, width: int) -> None:
    """Raise ``ValueError`` when ``width`` does not fit family ``name`` (or ``name`` is not a family)."""
    if name not in ORIGINAL_WIDTH:
        raise ValueError(f"unknown model {name!r}; expected one of {list(FAMILIES)}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    if name == "msg3d" and width % 6:
        raise ValueError(f"msg3d: width must be a multiple of 6 (its temporal branches), got {width}")
    if name == "efficientgcn-b0" and width % 4:
        raise ValueError(f"efficientgcn-b0: width must be a multiple of 4 (its attention reduction), got {width}")


_CLASSES = {"stgcn": STGCN, "ctrgcn": CTRGCN, "shiftgcn": ShiftGCN, "msg3d": MSG3D, "efficientgcn-b0": EfficientGCN}


def min_frames(name: str) -> int:
    """The fewest frames T that family ``name`` accepts."""
    if name not in _CLASSES:
        raise ValueError(f"unknown model {name!r}; expected one of {list(FAMILIES)}")
    return _CLASSES[name].min_frames


def build_family_model(
    name: str, num_classes: int, width: int | None = None, num_persons: int = 2, in_channels: int = 3
) -> nn.Module:
    """One of :data:`FAMILIES`, taking (N, in_channels, T, 25, num_persons); ``width`` None: the original's."""
    width = ORIGINAL_WIDTH.get(name) if width is None else width
    check_width(name, width)
    if name == "msg3d":
        return MSG3D(num_classes, in_channels, num_persons, widths=(width, 2 * width, 4 * width))
    if name == "efficientgcn-b0":
        scale = width / ORIGINAL_WIDTH[name]
        blocks = [(max(4, round(c * scale / 4) * 4), s, d) for c, s, d in efficientgcn_block_args(0)]
        model = EfficientGCN(0, num_classes, 3, 2 * in_channels, block_args=blocks, stem_channels=width)
        return EfficientGCNFromJoints(model)
    if name == "stgcn":
        return STGCN(num_classes, in_channels, base_channels=width)
    return _CLASSES[name](num_classes, in_channels, num_persons, base_channels=width)
