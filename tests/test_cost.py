"""stviz.cost on toy modules whose FLOPs and parameters are known by hand."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
import torch
from torch import nn

from stviz.cost import Cost, ModelInput, count, count_model, count_shapes, latency_ms, model_input
from stviz.graph import SkeletonGraph
from stviz.spatial import ChannelTopologyUnit


class Toy(nn.Module):
    """conv (3,1) -> BN -> einsum with a learned (V, V) matrix -> GAP -> Linear; plus a frozen and an unused part."""

    def __init__(self, v: int = 5):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, (3, 1), padding=(1, 0))  # 4*8*3 + 8 = 104 params
        self.bn = nn.BatchNorm2d(8)  # 16 params
        self.A = nn.Parameter(torch.eye(v))  # 25 params, not a thop layer
        self.frozen = nn.Parameter(torch.zeros(10), requires_grad=False)
        self.fc = nn.Linear(8, 3)  # 27 params
        self.unused = nn.Conv2d(8, 8, 1)  # 72 params, never called

    def forward(self, x):
        x = self.bn(self.conv(x))
        x = torch.einsum("nctv,vw->nctw", x, self.A)
        return self.fc(x.mean((2, 3)))


def test_toy_counts_by_hand():
    n, t, v = 2, 10, 5
    cost = count(Toy(v).eval(), torch.randn(n, 4, t, v))
    assert cost.conv_macs == n * 8 * t * v * 4 * 3
    assert cost.graph_macs == n * 8 * t * v * v
    assert cost.linear_flops // 2 == n * 8 * 3
    assert cost.macs == cost.conv_macs + cost.graph_macs + n * 8 * 3
    assert cost.matmul_macs == cost.graph_macs + n * 8 * 3
    assert cost.thop_macs == cost.conv_macs + n * 8 * 3
    assert cost.params == 104 + 16 + 25 + 27 + 72
    assert cost.all_params == cost.params + 10
    assert cost.thop_params == 104 + 16 + 27 + 72  # layers only: no raw nn.Parameter
    assert cost.inputs == "(2, 4, 10, 5)"


def test_existing_fields_keep_working():
    cost = Cost(params=1, all_params=2, flops=10, conv_flops=6, matmul_flops=4)
    assert (cost.macs, cost.conv_macs, cost.matmul_macs, cost.graph_macs, cost.thop_params) == (5, 3, 2, 2, 0)


def test_scaled_multiplies_everything_but_the_input():
    cost = count(Toy().eval(), torch.randn(1, 4, 6, 5))
    four = cost.scaled(4)
    assert (four.params, four.flops, four.thop_params) == (4 * cost.params, 4 * cost.flops, 4 * cost.thop_params)
    assert four.inputs == "4 x (1, 4, 6, 5)"


class ToyModel(nn.Module):
    """(N, C, T, V, M) or (N, I, C, T, V, M) -> (N, 2): records the shape it was called with."""

    def __init__(self, input_branches=None):
        super().__init__()
        self.in_channels, self.num_joints, self.input_branches, self.min_frames = 3, 25, input_branches, 1
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        self.seen = tuple(x.shape)
        dims = tuple(range(2, x.dim())) if self.input_branches is None else (1, *range(3, x.dim()))
        return self.fc(x.mean(dims))


@pytest.mark.parametrize("branches, want", [(None, (1, 3, 64, 25, 2)), (3, (1, 3, 3, 64, 25, 2))])
def test_model_input_conventions(branches, want):
    model = ToyModel(branches)
    assert model_input(model).shape() == want
    cost = count_model(model, frames=64, persons=2)
    assert model.seen == want and cost.inputs == str(want)
    assert ModelInput(frames=300, persons=1).shape(batch=4) == (4, 3, 300, 25, 1)


def test_count_model_restores_training_mode():
    model = ToyModel().train()
    count_model(model)
    assert model.training


def test_latency_is_positive_and_restores_threads():
    before = torch.get_num_threads()
    ms = latency_ms(nn.Identity(), torch.zeros(1), warmup=1, repeat=3, threads=1)
    assert ms >= 0 and torch.get_num_threads() == before


def test_meta_device_counts_like_real_tensors():
    real = count(Toy().eval(), torch.randn(2, 4, 10, 5))
    with torch.device("meta"):
        toy = Toy().eval()
    meta = count(toy, torch.empty(2, 4, 10, 5, device="meta"))
    assert (meta.flops, meta.conv_flops, meta.matmul_flops, meta.params) == (
        real.flops,
        real.conv_flops,
        real.matmul_flops,
        real.params,
    )
    model = ToyModel()
    model.to("meta")
    assert count_model(model).inputs == "(1, 3, 64, 25, 2)"


def test_count_shapes_counts_on_meta_and_leaves_the_callers_random_stream():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    devices = []

    def measure(module, device):
        devices.append((device, {p.device.type for p in module.parameters()}))
        return count_model(module, frames=8)

    cost = count_shapes(ToyModel, measure)
    assert devices == [("meta", {"meta"})] and torch.equal(torch.rand(3), expected)
    assert cost == count_model(ToyModel().eval(), frames=8)


def test_interleaved_times_alternate_and_count_each_call():
    from stviz.cost import interleaved_times

    calls = []
    first, second = lambda: calls.append("a"), lambda: calls.append("b")
    a, b = interleaved_times(first, second, budget_s=0.0, min_pairs=4, max_pairs=4)
    assert len(a) == len(b) == 4
    # one warm-up each, then pairs in alternating order: ab, ba, ab, ba
    assert "".join(calls) == "ab" + "ab" + "ba" + "ab" + "ba"


def test_speed_ratio_sees_which_call_does_more_work():
    import time

    from stviz.cost import speed_ratio

    ratio = speed_ratio(lambda: time.sleep(0.001), lambda: time.sleep(0.004), budget_s=0.05, threads=None)
    assert ratio < 0.6


def test_in_place_accumulating_products_are_counted():
    """CTR-GCN's unit accumulates its subsets with ``baddbmm_``, which FlopCounterMode alone does not count."""

    class Accumulate(torch.nn.Module):
        def forward(self, a, b, out):
            return out.clone().baddbmm_(a, b).sum(0).addmm_(a[0], b[0])

    a, b, out = torch.randn(4, 5, 6), torch.randn(4, 6, 7), torch.randn(4, 5, 7)
    cost = count(Accumulate(), a, b, out)
    assert cost.matmul_flops == 2 * 4 * 5 * 6 * 7 + 2 * 5 * 6 * 7


def test_keep_freed_memory_tells_glibc_in_its_own_process():
    """It changes the allocator of the process it runs in for good, so it runs in a child process here."""
    code = "import sys; from stviz.cost import keep_freed_memory; sys.exit(0 if keep_freed_memory() else 3)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    expected = 0 if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc" else 3
    assert run.returncode == expected, run.stderr[-2000:]


def test_counting_a_module_in_training_mode_leaves_its_running_statistics():
    unit = ChannelTopologyUnit(8, 8, SkeletonGraph().inward_outward()).train()
    before = {name: buffer.clone() for name, buffer in unit.named_buffers()}
    count(unit, torch.randn(2, 8, 6, 25))
    for name, buffer in unit.named_buffers():
        assert torch.equal(buffer, before[name]), name
