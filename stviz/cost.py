"""Cost accounting: parameters, FLOPs/MACs split by kind, and CPU latency.

FLOPs come from :class:`torch.utils.flop_counter.FlopCounterMode`, which counts
``aten.convolution``, matrix products (``mm``, ``addmm``, ``bmm``: every einsum
lowers to one of them) and attention; 1 MAC = 2 FLOPs. It does not count
BatchNorm, activations, pooling, elementwise arithmetic or gathers.

Published figures mostly come from ``thop``, which counts MACs of convolution,
Linear and norm layers only (no einsum/bmm) and the parameters of those layers
only; :attr:`Cost.thop_params` and :attr:`Cost.thop_macs` reproduce that
convention (SPEC.md pitfalls 5 and 14).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["Cost", "ModelInput", "count", "count_model", "latency_ms", "model_input"]

_CONV_OPS = {"convolution", "_convolution", "cudnn_convolution", "conv2d", "conv1d", "conv3d"}
_MATMUL_OPS = {"mm", "addmm", "bmm", "baddbmm", "matmul"}
_LINEAR_OPS = {"addmm"}  # nn.Linear with bias; einsum lowers to bmm / mm
# Layer types whose parameters thop counts (it hooks these and skips raw nn.Parameters of other modules).
_THOP_LAYERS = (
    nn.modules.conv._ConvNd,
    nn.modules.batchnorm._NormBase,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.Linear,
    nn.Embedding,
    nn.PReLU,
)


@dataclass(frozen=True)
class Cost:
    """What a forward pass costs. FLOPs are per call, for the inputs given."""

    params: int  # trainable parameters
    all_params: int  # every nn.Parameter, frozen ones included (buffers such as index tables are not)
    flops: int
    conv_flops: int
    matmul_flops: int  # einsum / bmm / mm / addmm: the graph aggregation and linear layers
    linear_flops: int = 0  # the addmm part of matmul_flops (nn.Linear, e.g. a classifier)
    thop_params: int = 0  # parameters of conv / norm / linear layers only, as thop counts them
    inputs: str = ""  # the input shapes counted, e.g. "(1, 3, 64, 25, 2)"

    @property
    def macs(self) -> int:
        return self.flops // 2

    @property
    def conv_macs(self) -> int:
        return self.conv_flops // 2

    @property
    def matmul_macs(self) -> int:
        return self.matmul_flops // 2

    @property
    def graph_macs(self) -> int:
        """MACs of einsum / bmm / mm: the graph aggregation (and any einsum-based linear map)."""
        return (self.matmul_flops - self.linear_flops) // 2

    @property
    def thop_macs(self) -> int:
        """MACs as thop reports them: convolutions and Linear layers, no einsum / bmm."""
        return (self.conv_flops + self.linear_flops) // 2

    def scaled(self, streams: int) -> Cost:
        """The cost of an ensemble of ``streams`` identical models (e.g. Shift-GCN 4s)."""
        fields = ("params", "all_params", "flops", "conv_flops", "matmul_flops", "linear_flops", "thop_params")
        return replace(self, **{f: streams * getattr(self, f) for f in fields}, inputs=f"{streams} x {self.inputs}")


def _shape_text(inputs) -> str:
    return ", ".join(str(tuple(x.shape)) for x in inputs if isinstance(x, torch.Tensor))


def count(module: nn.Module, *inputs, **kwargs) -> Cost:
    """Parameters and FLOPs of ``module(*inputs, **kwargs)`` (one forward, nothing backpropagated).

    The forward runs with autograd enabled: under ``no_grad``, FlopCounterMode's module tracker fails on
    parameters that a forward indexes (CTR-GCN's ``topology[k]``) in torch 2.13.
    """
    with torch.enable_grad(), FlopCounterMode(display=False) as counter:
        module(*inputs, **kwargs)
    conv = matmul = linear = 0
    for op, n in counter.get_flop_counts().get("Global", {}).items():
        name = op.__name__.split(".")[0] if hasattr(op, "__name__") else str(op)
        if name in _CONV_OPS:
            conv += n
        elif name in _MATMUL_OPS:
            matmul += n
            linear += n if name in _LINEAR_OPS else 0
    return Cost(
        params=sum(p.numel() for p in module.parameters() if p.requires_grad),
        all_params=sum(p.numel() for p in module.parameters()),
        flops=counter.get_total_flops(),
        conv_flops=conv,
        matmul_flops=matmul,
        linear_flops=linear,
        thop_params=sum(
            p.numel() for m in module.modules() if isinstance(m, _THOP_LAYERS) for p in m.parameters(recurse=False)
        ),
        inputs=_shape_text(inputs),
    )


@dataclass(frozen=True)
class ModelInput:
    """A model-level input convention: what one "sample" is when a paper counts FLOPs.

    ``branches=None``: (N, C, T, V, M), as ST-GCN, CTR-GCN, Shift-GCN and MS-G3D take it.
    ``branches=I``: EfficientGCN's (N, I, C, T, V, M), I input branches (J, V, B) of C channels each.
    """

    frames: int = 64
    persons: int = 2
    channels: int = 3
    joints: int = 25
    branches: int | None = None

    def shape(self, batch: int = 1) -> tuple[int, ...]:
        tail = (self.channels, self.frames, self.joints, self.persons)
        return (batch, *tail) if self.branches is None else (batch, self.branches, *tail)

    def tensor(self, batch: int = 1, seed: int = 0, device: torch.device | str = "cpu") -> torch.Tensor:
        """A random input; on ``device="meta"`` only its shape (enough for :func:`count`)."""
        if torch.device(device).type == "meta":
            return torch.empty(self.shape(batch), device="meta")
        return torch.randn(self.shape(batch), generator=torch.Generator().manual_seed(seed)).to(device)


def model_input(model: nn.Module, frames: int = 64, persons: int = 2) -> ModelInput:
    """The input convention of an stviz model: it reads ``model.in_channels`` and ``model.input_branches``."""
    return ModelInput(
        frames=frames,
        persons=persons,
        channels=getattr(model, "in_channels", 3),
        joints=getattr(model, "num_joints", 25),
        branches=getattr(model, "input_branches", None),
    )


def count_model(model: nn.Module, frames: int = 64, persons: int = 2, streams: int = 1) -> Cost:
    """Cost of one sample (batch 1) of ``frames`` frames and ``persons`` persons, for ``streams`` models.

    This is the convention of SPEC.md §2 / NUMBERS.md: FLOPs per sample, persons folded into the batch.
    A model built under ``torch.device("meta")`` is counted from shapes alone, in a fraction of the time.
    """
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        cost = count(model, model_input(model, frames, persons).tensor(device=device))
    finally:
        model.train(was_training)
    return cost if streams == 1 else cost.scaled(streams)


def latency_ms(module: nn.Module, *inputs, warmup: int = 5, repeat: int = 30, threads: int | None = 2) -> float:
    """Median forward latency in milliseconds under ``torch.no_grad()``."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            for _ in range(warmup):
                module(*inputs)
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                module(*inputs)
                times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return 1e3 * statistics.median(times)
