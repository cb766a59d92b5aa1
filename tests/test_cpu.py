"""The kernel choice for 1x1 convolutions (:mod:`stviz.cpu`): which CPUs take oneDNN's convolution, and that the
blocks then run it."""

import pytest
import torch
import torch.nn.functional as F

from stviz import cpu
from stviz.graph import SkeletonGraph
from stviz.layers import conv_is_faster, pointwise_conv, reference_kernels, rows_conv_is_faster, runs_as_conv
from stviz.multiscale import G3DBlock, MultiScaleGraphConv


@pytest.mark.parametrize(
    "vendor, capability, family_model, kernel",
    [
        ("AuthenticAMD", "AVX512", (26, 2), "conv"),  # Zen 5: AVX-512 at full width
        ("AuthenticAMD", "AVX512", None, "conv"),
        ("AuthenticAMD", "AVX512", (25, 17), "matmul"),  # Zen 4: AVX-512 on 256-bit units
        ("GenuineIntel", "AVX512", (6, 85), "matmul"),
        ("AuthenticAMD", "AVX2", (25, 1), "matmul"),
    ],
)
def test_kernel_choice_follows_the_vendor_the_instruction_set_and_the_family(vendor, capability, family_model, kernel):
    chosen, reason = cpu.pointwise_kernel_for(vendor, capability, family_model)
    assert chosen == kernel and reason


def test_the_cpu_is_named():
    assert cpu.cpu_name() and cpu.cpu_vendor()


def test_the_family_is_read_from_linux(monkeypatch):
    fields = {"cpu family": "25", "model\t": "17"}
    monkeypatch.setattr(cpu, "_cpuinfo", fields.get)
    assert cpu.cpu_family_model() == (25, 17)
    monkeypatch.setattr(cpu, "_cpuinfo", lambda field: None)
    assert cpu.cpu_family_model() is None


def test_this_cpus_choice_is_the_rules():
    assert (cpu.POINTWISE_KERNEL, cpu.POINTWISE_REASON) == cpu.pointwise_kernel_for(
        cpu.cpu_vendor(), torch.backends.cpu.get_cpu_capability(), cpu.cpu_family_model()
    )


def test_conv_from_the_thresholds_on_and_only_on_the_cpu(monkeypatch):
    monkeypatch.setattr(cpu, "POINTWISE_KERNEL", "conv")
    c = cpu.CONV_MIN_CHANNELS
    positions = -(-cpu.CONV_MIN_MACS // (c * 64))  # just enough for C_in -> 64 channels
    x = torch.zeros(1, c, positions)
    assert runs_as_conv(x, c, 64)
    assert not runs_as_conv(x[..., 1:], c, 64)  # one position fewer: too few multiply-accumulates
    assert not runs_as_conv(torch.zeros(1, c - 1, 2 * positions), c - 1, 64)  # too few input channels
    assert not runs_as_conv(x.to("meta"), c, 64)
    monkeypatch.setattr(cpu, "POINTWISE_KERNEL", "matmul")
    assert not runs_as_conv(x, c, 64)


def test_conv_takes_channels_off_its_blocks_only_from_the_higher_threshold(monkeypatch):
    monkeypatch.setattr(cpu, "POINTWISE_KERNEL", "conv")
    monkeypatch.setattr(cpu, "CONV_MIN_MACS", 0)
    block, unblocked = cpu.CONV_CHANNEL_BLOCK, cpu.CONV_MIN_UNBLOCKED_CHANNELS
    assert cpu.CONV_MIN_CHANNELS < unblocked
    on_blocks = -(-cpu.CONV_MIN_CHANNELS // block) * block  # the first multiple of 16 from the lower threshold
    assert runs_as_conv(torch.zeros(1, on_blocks, 4), on_blocks, 96)
    assert not runs_as_conv(torch.zeros(1, on_blocks + 7, 4), on_blocks + 7, 96)  # 39: MS-G3D's first stack
    assert not runs_as_conv(torch.zeros(1, unblocked - 1, 4), unblocked - 1, 96)
    off_blocks = unblocked if unblocked % block else unblocked + 1
    assert runs_as_conv(torch.zeros(1, off_blocks, 4), off_blocks, 96)


@pytest.mark.parametrize("in_channels, scales, convolved", [(3, 13, False), (4, 12, True)])
def test_a_graph_conv_stack_off_the_blocks_projects_with_the_product(monkeypatch, in_channels, scales, convolved):
    """MS-G3D's first graph conv stacks 13 x 3 = 39 channels: on a CPU that picks the convolution, its projection
    still runs as MKL's product, in eval and in training; a stack of 12 x 4 = 48 channels is convolved."""
    monkeypatch.setattr(cpu, "POINTWISE_KERNEL", "conv")
    calls = []

    def spy(conv):
        return lambda *a, **k: calls.append(a[1].shape) or conv(*a, **k)

    monkeypatch.setattr(F, "conv1d", spy(F.conv1d))
    monkeypatch.setattr(F, "conv2d", spy(F.conv2d))
    m = MultiScaleGraphConv(in_channels, 96, SkeletonGraph().binary_adjacency(), scales)
    x = torch.randn(2, in_channels, 64, 25)  # 3,200 positions: enough multiply-accumulates for the convolution
    m(x).sum().backward()
    m.eval()
    with torch.no_grad():
        m(x)
    stack_convs = [shape for shape in calls if shape[1] == scales * in_channels]
    assert (len(stack_convs) == 2) if convolved else not stack_convs, calls


def test_rows_take_the_convolution_at_any_channel_count(monkeypatch):
    """Rows (M, C) are a channels-last image: on a CPU that picks the convolution they take it at 3 or 39 channels,
    where a channels-first 1x1 convolution stays with MKL's product; not below the size threshold, nor under
    reference_kernels, nor on a CPU that picks MKL."""
    here = torch.device("cpu")
    monkeypatch.setattr(cpu, "POINTWISE_KERNEL", "conv")
    assert rows_conv_is_faster(here, 12_800, 39, 96) and not conv_is_faster(here, 12_800, 39, 96)
    assert rows_conv_is_faster(here, 38_400, 3, 96) and not rows_conv_is_faster(here, 100, 3, 96)
    with reference_kernels():
        assert not rows_conv_is_faster(here, 12_800, 39, 96)
    monkeypatch.setattr(cpu, "POINTWISE_KERNEL", "matmul")
    assert not rows_conv_is_faster(here, 12_800, 39, 96)


def test_a_narrow_g3d_block_in_eval_convolves_rows(monkeypatch):
    """MS-G3D's first G3D block (3 channels, 6 scales, window 3) in eval on a CPU that picks the convolution: the
    aggregation (75 window nodes), the projection of the 18-channel stack and the collapse (3 x 96 channels) each
    run as one convolution over a channels-last image, none converting a layout."""
    monkeypatch.setattr(cpu, "POINTWISE_KERNEL", "conv")
    calls = []
    conv2d = F.conv2d
    channels_last = torch.channels_last
    monkeypatch.setattr(
        F,
        "conv2d",
        lambda *a, **k: (
            calls.append((a[0].shape[1], a[0].is_contiguous(memory_format=channels_last))) or conv2d(*a, **k)
        ),
    )
    block = G3DBlock(3, 96, SkeletonGraph().binary_adjacency(), 6, 3, graph_channels=96).eval()
    with torch.no_grad():
        block(torch.randn(8, 3, 64, 25))
    assert calls == [(75, True), (18, True), (288, True)]


@pytest.mark.parametrize("kernel", ["matmul", "conv"])
def test_pointwise_conv_runs_the_chosen_kernel(monkeypatch, kernel):
    monkeypatch.setattr(cpu, "POINTWISE_KERNEL", kernel)
    calls = []
    conv1d = F.conv1d
    monkeypatch.setattr(F, "conv1d", lambda *a, **k: calls.append("conv") or conv1d(*a, **k))
    monkeypatch.setattr(cpu, "CONV_MIN_MACS", 0)
    x, w, b = torch.randn(2, 48, 3, 5), torch.randn(6, 48, 1, 1), torch.randn(6)
    torch.testing.assert_close(pointwise_conv(x, w, b), F.conv2d(x, w, b), rtol=1e-5, atol=1e-5)
    assert calls == (["conv"] if kernel == "conv" else [])
