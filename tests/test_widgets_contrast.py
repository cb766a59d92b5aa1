"""The contrast widget, headless: params, MACs and an interleaved time ratio for the chosen models."""

from __future__ import annotations

import pytest
import torch

from stviz.cost import count_model
from stviz.models import build_model
from stviz.widgets.contrast import cost_explorer


@pytest.fixture(scope="module")
def ui():
    return cost_explorer(models=("shiftgcn",), reference="efficientgcn-b0", frames=16, budget_s=0.0)


def test_rows_carry_the_counts_and_ratios(ui):
    reference, shift = ui.rows
    assert reference["model"] == "efficientgcn-b0" and reference["time ratio"] == 1.0
    assert shift["params"] == sum(p.numel() for p in build_model("shiftgcn").parameters() if p.requires_grad)
    with torch.device("meta"):
        fresh = build_model("shiftgcn")
    assert shift["GMAC"] * 1e9 == count_model(fresh, frames=16).macs
    assert shift["MAC ratio"] == pytest.approx(shift["GMAC"] / reference["GMAC"])
    assert shift["time ratio"] > 0
    assert ui.image.value[:4] == b"\x89PNG"


def test_frames_change_the_macs_not_the_params(ui):
    before = {row["model"]: row for row in ui.rows}
    ui.frames.value = 32
    after = {row["model"]: row for row in ui.rows}
    assert after["shiftgcn"]["params"] == before["shiftgcn"]["params"]
    assert after["shiftgcn"]["GMAC"] == pytest.approx(2 * before["shiftgcn"]["GMAC"], rel=0.02)
    assert "T = 32" in ui.summary.value


def test_the_reference_is_not_listed_twice(ui):
    ui.models.value = ("shiftgcn", "efficientgcn-b0")
    assert [row["model"] for row in ui.rows] == ["efficientgcn-b0", "shiftgcn"]


def test_bad_arguments_name_what_was_expected():
    with pytest.raises(ValueError, match="reference='resnet'"):
        cost_explorer(reference="resnet")
    with pytest.raises(ValueError, match="frames must be an integer in 16..288 in steps of 16, got 20"):
        cost_explorer(frames=20)
