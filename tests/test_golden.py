"""stviz.golden finds the shipped cases from the repository alone, and STVIZ_GOLDEN overrides it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stviz import golden

SHIPPED = Path(__file__).resolve().parent / "golden"


def test_finds_the_shipped_cases(monkeypatch):
    monkeypatch.delenv("STVIZ_GOLDEN", raising=False)
    assert golden.golden_dir().resolve() == SHIPPED.resolve()
    case = golden.load_case("tsm_shift_fold8")
    module = golden.build_case(case)
    torch.testing.assert_close(module(case["input"]), case["output"], atol=1e-4, rtol=1e-4)


def test_weights_are_loaded_from_the_case(monkeypatch):
    monkeypatch.delenv("STVIZ_GOLDEN", raising=False)
    case = golden.load_case("ctrgcn_unit_gcn_64_64.pt")
    module = golden.build_case(case)
    assert not module.training
    with torch.no_grad():
        torch.testing.assert_close(module(case["input"]), case["output"], atol=1e-4, rtol=1e-4)


def test_environment_variable_overrides_and_missing_cases_say_where(monkeypatch, tmp_path):
    monkeypatch.setenv("STVIZ_GOLDEN", str(tmp_path))
    assert golden.golden_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match=f"not_there.pt not found in {tmp_path}"):
        golden.load_case("not_there")
