"""Cost accounting: parameters, FLOPs/MACs split by kind, and CPU latency.

FLOPs come from :class:`torch.utils.flop_counter.FlopCounterMode`, which counts
``aten.convolution``, matrix products (``mm``, ``addmm``, ``bmm``: every einsum
lowers to one of them) and attention; 1 MAC = 2 FLOPs. It does not count
BatchNorm, activations, pooling, elementwise arithmetic or gathers.

Published figures mostly come from ``thop``, which counts MACs of convolution,
Linear and norm layers only (no einsum/bmm) and the parameters of those layers
only; :attr:`Cost.thop_params` and :attr:`Cost.thop_macs` reproduce that
convention.
"""

from __future__ import annotations

import ctypes
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from stviz.layers import reference_kernels
from stviz.models.base import check_interface

__all__ = [
    "Cost",
    "ModelInput",
    "count",
    "count_model",
    "count_shapes",
    "interleaved_times",
    "keep_freed_memory",
    "latency_ms",
    "model_input",
    "speed_ratio",
]

_CONV_OPS = {"convolution", "_convolution", "cudnn_convolution", "conv2d", "conv1d", "conv3d"}
_MATMUL_OPS = {"mm", "addmm", "bmm", "baddbmm", "matmul", "addmm_", "baddbmm_"}
_LINEAR_OPS = {"addmm"}  # nn.Linear with bias; einsum lowers to bmm / mm


def _accumulating_bmm_flops(self_shape, a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of ``out.baddbmm_(a, b)``: a (B, N, K) @ (B, K, M) product added into ``out``."""
    batch, n, k = a_shape
    return 2 * batch * n * k * b_shape[-1]


def _accumulating_mm_flops(self_shape, a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of ``out.addmm_(a, b)``: a (N, K) @ (K, M) product added into ``out``."""
    n, k = a_shape
    return 2 * n * k * b_shape[-1]


# FlopCounterMode's registry knows only the out-of-place products; a block that accumulates into its output in place
# (CTR-GCN's subsets) would otherwise go uncounted.
_IN_PLACE_PRODUCTS = {
    torch.ops.aten.baddbmm_: _accumulating_bmm_flops,
    torch.ops.aten.addmm_: _accumulating_mm_flops,
}
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
    parameters that a forward indexes (CTR-GCN's ``topology[k]``) in torch 2.13. The module's buffers are put back
    afterwards, so counting a module in training mode leaves BatchNorm's running statistics as they were.
    """
    buffers = {name: buffer.clone() for name, buffer in module.named_buffers()}
    try:
        with (
            torch.enable_grad(),
            reference_kernels(),
            FlopCounterMode(display=False, custom_mapping=_IN_PLACE_PRODUCTS) as counter,
        ):
            module(*inputs, **kwargs)
    finally:
        with torch.no_grad():
            for name, buffer in module.named_buffers():
                buffer.copy_(buffers[name])
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
    """The input convention of an stviz model, from the model interface (:class:`stviz.models.SkeletonModel`):
    ``in_channels``, ``num_joints``, ``input_branches``, ``min_frames``."""
    check_interface(model)
    if frames < model.min_frames:
        raise ValueError(f"{type(model).__name__} needs at least {model.min_frames} frames, got frames={frames}")
    return ModelInput(
        frames=frames,
        persons=persons,
        channels=model.in_channels,
        joints=model.num_joints,
        branches=model.input_branches,
    )


def count_model(model: nn.Module, frames: int = 64, persons: int = 2, streams: int = 1) -> Cost:
    """Cost of one sample (batch 1) of ``frames`` frames and ``persons`` persons, for ``streams`` models.

    This is the convention of the published tables: FLOPs per sample, persons folded into the batch.
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


def count_shapes(build: Callable[[], nn.Module], measure: Callable[[nn.Module, str], Cost]) -> Cost:
    """``measure(module, device)`` on ``build()`` in eval mode, moved to the ``meta`` device (shapes only, no values
    computed); on CPU tensors when an op has no meta kernel (e.g. the pure-PyTorch fallback of the learnable shift op,
    used when its C++ extension cannot be built). The module is built on the CPU, with weights drawn from seed 0 and
    the caller's RNG left as it was: on meta tensors its graphs' small matrix operations run through Python's
    reference kernels (MS-G3D took 0.77 s to build on the meta device, 0.24 s on the CPU)."""

    def built() -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return build().eval()

    try:
        return measure(built().to("meta"), "meta")
    except (NotImplementedError, RuntimeError):
        return measure(built(), "cpu")


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


def keep_freed_memory() -> bool:
    """Ask glibc to serve large tensors from its heap and keep freed memory (Linux only; False elsewhere).

    By default glibc gives each large allocation (up to 32 MB, more once such a block was freed) its own mapping,
    which the kernel zeroes page by page on first touch, and returns freed memory to the system: a block that
    allocates large temporaries pays these page faults on every call, by an amount that depends on what ran
    before. With this, benchmarks measure memory traffic and arithmetic alone. It changes this process for good.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, 1 << 31))


def interleaved_times(
    first: Callable[[], object],
    second: Callable[[], object],
    budget_s: float = 1.0,
    min_pairs: int = 5,
    max_pairs: int = 60,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[float], list[float]]:
    """Seconds of each call of ``first`` and ``second``, timed in turns (the order alternating) after one warm-up each.

    Load from other processes then hits both sides alike, so their ratio means something on a busy machine where
    absolute times do not. ``clock`` reads the time of each call (e.g. ``time.process_time`` for CPU time); the
    budget is always wall time.
    """
    first()
    second()
    times_first: list[float] = []
    times_second: list[float] = []
    start = time.perf_counter()
    while len(times_first) < max_pairs and (len(times_first) < min_pairs or time.perf_counter() - start < budget_s):
        swap = len(times_first) % 2 == 1
        a, b = (second, first) if swap else (first, second)
        t0 = clock()
        a()
        t1 = clock()
        b()
        t2 = clock()
        times_first.append(t2 - t1 if swap else t1 - t0)
        times_second.append(t1 - t0 if swap else t2 - t1)
    return times_first, times_second


def speed_ratio(
    first: Callable[[], object], second: Callable[[], object], budget_s: float = 1.0, threads: int | None = 2
) -> float:
    """Median over interleaved pairs of time(first) / time(second): below 1 means ``first`` is faster.

    Wrap forward calls in ``torch.no_grad()`` yourself where you time inference.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        a, b = interleaved_times(first, second, budget_s)
    finally:
        torch.set_num_threads(previous)
    return statistics.median(x / y for x, y in zip(a, b, strict=True))
