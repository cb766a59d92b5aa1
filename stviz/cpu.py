"""The CPU under the blocks: its vendor, and which library runs a 1x1 convolution fastest on it.

A 1x1 convolution of (N, D, T, V) is one (O, D) @ (D, T*V) matrix product per sample. PyTorch's CPU build can run
it through MKL (``torch.bmm``) or through oneDNN (``F.conv2d``, which reorders input and output through a blocked
layout). Which is faster depends on the CPU (``benchmarks/pointwise.py`` times the two on the models' shapes):

* On the Intel Xeon (AVX-512) and the earlier AMD EPYC without AVX-512 that this project was developed on, MKL's
  product was 1.2x to 3x faster than the convolution, forward and backward.
* On an AMD EPYC (Zen 5) with AVX-512, MKL runs its AVX2 kernels, as on every CPU not made by Intel: a 2048^3
  product reaches 190 GFLOP/s on 2 cores, where oneDNN's 1x1 convolution reaches 350. From about 32 input
  channels on the convolution takes 0.5-0.85 of the product's time, forward or training step, when the channels
  fill oneDNN's blocks of 16; 36 to 44 channels (MS-G3D's first stack has 39) are a loss in eval and a tie in
  training, 56 a smaller gain. Below 32 channels, and on small tensors, oneDNN's reorders cost more than they save.
  Rows (M, C) read as one channels-last image need no reorder: there the convolution wins at any channel count (3
  to 39 channels in 0.35-0.65 of the product's time, :func:`stviz.layers.rows_conv_is_faster`).
* On an AMD EPYC (Zen 4, family 25) with AVX-512, whose AVX-512 runs on 256-bit units, the two reach the same
  rate (110-140 GFLOP/s on 2 cores), and the product took 0.4-1.08 of the convolution's time on the models' shapes.

:data:`POINTWISE_KERNEL` is the choice made here at import: ``"conv"`` on an AVX-512 CPU not made by Intel, except
AMD's before Zen 5, else ``"matmul"``. Set it to either to compare; the two agree up to rounding.
"""

from __future__ import annotations

import platform
from pathlib import Path

import torch

__all__ = [
    "cpu_vendor",
    "cpu_name",
    "cpu_family_model",
    "pointwise_kernel_for",
    "POINTWISE_KERNEL",
    "POINTWISE_REASON",
    "CONV_MIN_CHANNELS",
    "CONV_CHANNEL_BLOCK",
    "CONV_MIN_UNBLOCKED_CHANNELS",
    "CONV_MIN_MACS",
]

# Where "conv" is chosen, smaller channels-first products stay with MKL: oneDNN's reorders cost about 90 us whatever
# the size, and with few input channels they cost more than the product saves (benchmarks/pointwise.py, the crossovers
# at about 32 channels and 8-13 million multiply-accumulates). oneDNN's AVX-512 layout holds channels in blocks of 16,
# padding the last one: input channels that are not a multiple of 16 take the convolution from 48 on (pointwise.py
# --keep-freed-memory, N=8, T=64, eval: 32 -> 96 channels in 0.77-0.89 of the product's time, 36, 39 and 44 -> 96 in
# 1.04-1.3, 48 -> 96 in 0.7, 56 -> 96 in 0.8).
CONV_MIN_CHANNELS = 32
CONV_CHANNEL_BLOCK = 16
CONV_MIN_UNBLOCKED_CHANNELS = 48
CONV_MIN_MACS = 1 << 23


def _cpuinfo(field: str) -> str | None:
    """The first value of ``field`` in Linux's /proc/cpuinfo; None where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_vendor() -> str:
    """The CPU's vendor as the processor names itself ("GenuineIntel", "AuthenticAMD"; "unknown" if unreadable).

    It matters besides the instruction set: MKL picks other matrix kernels on an AMD CPU than on an Intel one with
    the same AVX-512, which run slower and round differently.
    """
    return _cpuinfo("vendor_id") or platform.processor() or "unknown"


def cpu_name() -> str:
    """The processor's model name ("AMD EPYC"), else what :mod:`platform` knows."""
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_family_model() -> tuple[int, int] | None:
    """The processor's (family, model) as Linux numbers them ((25, 17): an AMD Zen 4 EPYC); None where unreadable.

    The model name alone does not tell AMD's generations apart ("AMD EPYC" in a virtual machine).
    """
    family, model = _cpuinfo("cpu family"), _cpuinfo("model\t")
    return (int(family), int(model)) if family and model and family.isdigit() and model.isdigit() else None


# AMD's first processors whose AVX-512 units are 512 bits wide (Zen 5, family 0x1A). Zen 4 (family 0x19) runs
# AVX-512 on 256-bit units, at the rate of MKL's AVX2 kernels.
AMD_FULL_WIDTH_AVX512_FAMILY = 26


def pointwise_kernel_for(vendor: str, capability: str, family_model: tuple[int, int] | None = None) -> tuple[str, str]:
    """``("conv", why)`` where oneDNN's 1x1 convolution beats MKL's product on a CPU of this ``vendor``, instruction
    set (``torch.backends.cpu.get_cpu_capability()``) and ``family_model`` (:func:`cpu_family_model`; None if
    unknown), else ``("matmul", why)``."""
    if capability != "AVX512":
        return "matmul", f"no measurement favours oneDNN's convolution on {vendor} with {capability}"
    if vendor == "GenuineIntel":
        return "matmul", "MKL's AVX-512 product beats oneDNN's convolution on Intel's CPUs"
    family = None if family_model is None else family_model[0]
    if vendor == "AuthenticAMD" and family is not None and family < AMD_FULL_WIDTH_AVX512_FAMILY:
        return (
            "matmul",
            f"this AMD CPU (family {family}) runs AVX-512 on 256-bit units, no faster than MKL's AVX2 kernels",
        )
    return "conv", f"MKL runs AVX2 kernels on this {vendor} CPU, oneDNN runs AVX-512"


POINTWISE_KERNEL, POINTWISE_REASON = pointwise_kernel_for(
    cpu_vendor(), torch.backends.cpu.get_cpu_capability(), cpu_family_model()
)
