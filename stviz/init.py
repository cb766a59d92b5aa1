"""Weight initialisation schemes, one function per scheme, used by every block that needs one.

A block applies its family's scheme in its own constructor, so a block built on its own is initialised exactly as
it is inside a model; a model only initialises what it owns (its input BatchNorm and its head).

* :func:`kaiming_conv` -- Kaiming-normal weights (fan-out, ReLU gain), zero bias: CTR-GCN's and Shift-GCN's convs.
* :func:`ctrgcn_init` -- Kaiming-normal convs, BatchNorm weights drawn from N(1, 0.02): CTR-GCN's temporal blocks.
* :func:`efficientgcn_init` -- Kaiming-normal convs (fan-out, leaky-ReLU gain), BatchNorm 1 / 0: EfficientGCN.

Blocks of ST-GCN and MS-G3D keep PyTorch's default initialisation, as their papers' code does.
"""

from __future__ import annotations

from torch import nn

__all__ = ["kaiming_conv", "ctrgcn_init", "efficientgcn_init"]


def kaiming_conv(conv: nn.Module, nonlinearity: str = "relu") -> None:
    """Kaiming-normal weight (fan-out) and zero bias for one convolution."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity=nonlinearity)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def ctrgcn_init(module: nn.Module) -> None:
    """For ``module.apply``: convs Kaiming-normal (fan-out) with zero bias; BatchNorm weight N(1, 0.02), bias 0."""
    if isinstance(module, nn.Conv2d):
        kaiming_conv(module)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def efficientgcn_init(module: nn.Module) -> None:
    """For ``module.apply``: convs Kaiming-normal (fan-out, leaky-ReLU gain) with zero bias; BatchNorm 1 / 0."""
    if isinstance(module, nn.Conv2d):
        kaiming_conv(module, nonlinearity="leaky_relu")
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
