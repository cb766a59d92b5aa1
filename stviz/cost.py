"""Cost accounting: parameters, FLOPs/MACs split by kind, and CPU latency.

FLOPs come from :class:`torch.utils.flop_counter.FlopCounterMode`, which counts
``aten.convolution``, matrix products (``mm``, ``addmm``, ``bmm``: every einsum
lowers to one of them) and attention; 1 MAC = 2 FLOPs. It does not count
BatchNorm, activations, pooling, elementwise arithmetic or gathers.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["Cost", "count", "latency_ms"]

_CONV_OPS = {"convolution", "_convolution", "cudnn_convolution", "conv2d", "conv1d", "conv3d"}
_MATMUL_OPS = {"mm", "addmm", "bmm", "baddbmm", "matmul"}


@dataclass(frozen=True)
class Cost:
    """What a forward pass costs. FLOPs are per call, for the inputs given."""

    params: int  # trainable parameters
    all_params: int  # every nn.Parameter, frozen ones (and int index tables) included
    flops: int
    conv_flops: int
    matmul_flops: int  # einsum / bmm / mm / addmm: the graph aggregation and linear layers

    @property
    def macs(self) -> int:
        return self.flops // 2

    @property
    def conv_macs(self) -> int:
        return self.conv_flops // 2

    @property
    def matmul_macs(self) -> int:
        return self.matmul_flops // 2


def count(module: nn.Module, *inputs, **kwargs) -> Cost:
    """Parameters and FLOPs of ``module(*inputs, **kwargs)`` (run once, under no_grad)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*inputs, **kwargs)
    conv = matmul = 0
    for op, n in counter.get_flop_counts().get("Global", {}).items():
        name = op.__name__.split(".")[0] if hasattr(op, "__name__") else str(op)
        if name in _CONV_OPS:
            conv += n
        elif name in _MATMUL_OPS:
            matmul += n
    return Cost(
        params=sum(p.numel() for p in module.parameters() if p.requires_grad),
        all_params=sum(p.numel() for p in module.parameters()),
        flops=counter.get_total_flops(),
        conv_flops=conv,
        matmul_flops=matmul,
    )


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
