"""The benchmark scripts' transcriptions of the original forwards compute what the stviz blocks compute.

Only correctness is tested here; the timings are the scripts' business (benchmarks/ is never timed in tests).
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

ORIGINALS = runpy.run_path(str(Path(__file__).resolve().parents[1] / "benchmarks" / "originals.py"))


@pytest.mark.parametrize("name", list(ORIGINALS["pairs"](c=16)))
def test_transcribed_original_equals_block(name):
    torch.manual_seed(0)
    block, original = ORIGINALS["pairs"](c=16)[name]
    x = torch.randn(2, 16, 12, 25)
    with torch.no_grad():
        torch.testing.assert_close(block(x), original(block, x.clone()), atol=1e-5, rtol=1e-5)
