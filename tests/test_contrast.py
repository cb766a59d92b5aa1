"""``python -m stviz.contrast``: both tables, one row per block and per model, numbers that match the counts."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from stviz.contrast import BLOCKS, Block, block_rows, format_table, main, model_rows
from stviz.models import MODEL_NAMES


@pytest.fixture(scope="module")
def printed():
    result = subprocess.run(
        [sys.executable, "-m", "stviz.contrast", "--no-latency"], capture_output=True, text=True, check=True
    )
    return result.stdout


def test_command_prints_one_line_per_block_and_model(printed):
    lines = printed.splitlines()
    for block in BLOCKS:
        assert sum(block.name in line for line in lines) == 1, block.name
    for name in MODEL_NAMES:
        assert sum(line.startswith(name + " ") for line in lines) == 1, name
    assert "3,098,832" in printed and "345,333" in printed and "324,708" in printed  # trainable and thop params


def test_every_axis_is_covered():
    assert {b.axis for b in BLOCKS} == {"spatial", "temporal", "channel", "multi-scale", "shift"}


def test_rows_carry_the_counts():
    models = {r["model"]: r for r in model_rows(frames=64)}
    assert models["ctrgcn"]["params"] == 1_446_672
    assert models["ctrgcn"]["GMAC"] == pytest.approx(1.939, abs=1e-3)  # SPEC.md §2, FlopCounterMode on the original
    assert models["stgcn"]["conv GMAC"] == pytest.approx(3.462, abs=1e-3)
    blocks = {r["block"]: r for r in block_rows(latency=False)}
    assert blocks["TSM: TemporalShift (fold_div=8)"]["params"] == 0
    assert blocks["TSM: TemporalShift (fold_div=8)"]["MMAC"] == 0


def test_latency_column_when_asked(capsys, monkeypatch):
    monkeypatch.setattr("stviz.contrast.BLOCKS", BLOCKS[-1:])
    monkeypatch.setattr("stviz.contrast.MODEL_NAMES", ("efficientgcn-b0",))
    main(["--repeat", "1", "--frames", "8"])
    out = capsys.readouterr().out
    assert " ms" in out and "TSM: TemporalShift" in out and "efficientgcn-b0" in out


def test_format_table_aligns_columns():
    table = format_table([{"a": "x", "n": 1000}, {"a": "longer", "n": 5}])
    header, rule, first, second = table.splitlines()
    assert len(rule.split()) == 2 and first.endswith("1,000") and second.endswith("    5")


class _NoMetaKernel(torch.nn.Module):
    """A 1x1 conv whose forward uses an op without a meta kernel (data-dependent nonzero)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(64, 64, 1)

    def forward(self, x):
        torch.nonzero(x[0, 0, 0])  # no meta implementation
        return self.conv(x)


def test_counting_falls_back_to_cpu_without_a_meta_kernel(monkeypatch):
    block = Block("temporal", "test: no meta kernel", "1x1 conv", "-", "W", "-", lambda g: _NoMetaKernel())
    monkeypatch.setattr("stviz.contrast.BLOCKS", (block,))
    (row,) = block_rows(latency=False)
    assert row["params"] == 64 * 64 + 64
    assert row["MMAC"] == pytest.approx(64 * 64 * 64 * 25 / 1e6)
