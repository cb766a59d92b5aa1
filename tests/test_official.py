"""Every golden case in tests/golden, checked as the stviz.official contract says.

Each case names an original class, its constructor kwargs, a state_dict with the
original key names, an input and the original's output in eval mode (and, where
recorded, gradients). We build the stviz equivalent through ``stviz.official``,
load the converted weights strictly and compare at atol = rtol = 1e-4.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from stviz import golden, official

GOLDEN = Path(os.environ.get("STVIZ_GOLDEN", Path(__file__).resolve().parent / "golden"))
CASES = sorted(GOLDEN.glob("*.pt")) if GOLDEN.is_dir() else []
TOL = dict(atol=1e-4, rtol=1e-4)


def load_case(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def require_adapter(case: dict) -> None:
    if (case["repo"], case["name"]) not in official.available():
        pytest.skip(f"stviz.official has no adapter for {case['repo']}.{case['name']} yet")


def first(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def test_golden_folder_present():
    if not CASES:
        pytest.skip(f"no golden cases at {GOLDEN} (set STVIZ_GOLDEN to point elsewhere)")
    assert len(CASES) >= 1


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_forward(path):
    case = load_case(path)
    if case["name"] == "adjacency":
        torch.testing.assert_close(official.adjacency(case["repo"]), case["output"], **TOL)
        return
    if case["name"] == "shift_indices":
        got = official.shift_indices(**case["kwargs"])
        assert set(got) == set(case["output"])
        for key, want in case["output"].items():
            assert torch.equal(got[key], want), key
        return
    require_adapter(case)
    torch.testing.assert_close(golden.run_case(case), case["output"], **TOL)


@pytest.mark.parametrize("path", [p for p in CASES if "backward" in load_case(p)], ids=lambda p: p.stem)
def test_backward(path):
    case = load_case(path)
    require_adapter(case)
    module = golden.build_case(case)
    x = case["input"].clone().requires_grad_(True)
    out = first(module(x, *case.get("forward_args", [])))
    out.backward(case["backward"]["grad_output"])
    torch.testing.assert_close(x.grad, case["backward"]["grad_input"], **TOL)
    params = dict(module.named_parameters())
    for orig_key, want in case["backward"]["param_grads"].items():
        (key,) = official.convert_state_dict(
            case["repo"], case["name"], {orig_key: want}, strict=False, **case["kwargs"]
        )
        torch.testing.assert_close(params[key].grad, want, **TOL, msg=f"grad of {orig_key} -> {key}")


@pytest.mark.parametrize("path", [p for p in CASES if "init_state_dict" in load_case(p)], ids=lambda p: p.stem)
def test_initialisation_in_distribution(path):
    """Same keys and shapes as the original right after construction; same init scheme.

    Constant inits (zeros, ones, 1e-6) must match exactly; random ones must have
    the same mean and spread within sampling error.
    """
    case = load_case(path)
    require_adapter(case)
    torch.manual_seed(0)
    module = official.build(case["repo"], case["name"], **case["kwargs"])
    ours = module.state_dict()
    want = official.convert_state_dict(case["repo"], case["name"], case["init_state_dict"], **case["kwargs"])
    assert set(want) <= set(ours), f"keys missing from stviz module: {sorted(set(want) - set(ours))}"
    for key, ref in want.items():
        got = ours[key]
        assert got.shape == ref.shape, f"{key}: {tuple(got.shape)} vs original {tuple(ref.shape)}"
        if not ref.is_floating_point() or ref.numel() == 0:
            continue
        ref, got = ref.double(), got.double()
        if torch.all(ref == ref.flatten()[0]):
            torch.testing.assert_close(got, ref, msg=f"{key}: the original initialises it to a constant")
        elif ref.numel() >= 64:
            tol = 4 * ref.std() / ref.numel() ** 0.5 + 1e-12
            assert abs(got.mean() - ref.mean()) <= tol + 0.05 * ref.abs().mean(), f"{key}: mean differs"
            assert 0.7 <= (got.std() / ref.std()).item() <= 1.4, f"{key}: spread differs"
