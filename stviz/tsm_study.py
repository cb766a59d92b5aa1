"""Notebook 05's training study: TSMSkeletonNet with and without the shift, scored on fresh clips.

``benchmarks/tsm_training.py`` trains both models and writes ``tsm_study.json`` next to this module; this module
loads it and reads accuracies, with Wilson intervals, off its confusion matrices.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = ["DEFAULT_PATH", "load_tsm_study", "accuracy", "wilson_interval"]

DEFAULT_PATH = Path(__file__).parent / "tsm_study.json"
_KEYS = ("classes", "time_reversed_pairs", "confusion", "test_samples", "epochs")


def load_tsm_study(path: str | Path = DEFAULT_PATH) -> dict:
    """The study as written by ``benchmarks/tsm_training.py``: ``confusion[label][true][predicted]`` counts and
    the settings (classes, pairs, hidden width, frames, clips, epochs, seeds)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; `python benchmarks/tsm_training.py` writes it")
    study = json.loads(path.read_text())
    missing = [key for key in _KEYS if key not in study]
    if missing:
        raise ValueError(f"{path}: expected keys {list(_KEYS)}, missing {missing}")
    return study


def accuracy(confusion: list[list[int]], classes: list[int] | None = None) -> tuple[int, int]:
    """(correct, total) over the rows ``classes`` (all rows when None) of a (K, K) [true][predicted] matrix."""
    rows = range(len(confusion)) if classes is None else classes
    return sum(confusion[i][i] for i in rows), sum(sum(confusion[i]) for i in rows)


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion ``correct / total`` (95% for z = 1.96)."""
    if total < 1 or not 0 <= correct <= total:
        raise ValueError(f"wilson_interval expects 0 <= correct <= total and total >= 1, got {correct}/{total}")
    p, n = correct / total, total
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
