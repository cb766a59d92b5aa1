"""The README's table of blocks and models against the originals, from runs saved by ``originals.py --save``.

Run: ``.venv/bin/python benchmarks/originals_table.py benchmarks/results/run24.json benchmarks/results/run25.json ...``.

Rows are grouped by block class (a class's configurations together) and full model, in the order the benchmark
times them. For each group the table gives its number of configurations, the range of its eval and training-step
ratios over its configurations and all the runs, its goal, and how many of its rows were over their goal in each
run (over: the unrounded ratio above the goal, as ``originals.py`` decides). Below the table, each run's rows over
their goal.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORIES = {
    "stgcn": "ST-GCN",
    "ctrgcn": "CTR-GCN",
    "shiftgcn": "Shift-GCN",
    "effgcn": "EfficientGCN",
    "msg3d": "MS-G3D",
}


@dataclass
class Group:
    """One block class or full model: its configurations, its ratios by mode, its goal, and per run its rows and
    those over the goal."""

    goal: float
    run_count: int
    configurations: set[str] = field(default_factory=set)
    ratios: dict[str, list[float]] = field(default_factory=lambda: {"eval": [], "train": []})
    rows: list[int] = field(init=False)
    over: list[int] = field(init=False)

    def __post_init__(self):
        self.rows, self.over = [0] * self.run_count, [0] * self.run_count


def group_of(name: str) -> str:
    """A row's group: ``"model X"`` for a full model, else the repository and class without its configuration
    (``"msg3d MultiScale_GraphConv(13) 3->96 T64"`` -> ``"msg3d MultiScale_GraphConv"``)."""
    if name.startswith("model "):
        return name
    repository, block = name.split()[:2]
    return f"{repository} {block.split('(')[0]}"


def label(group: str) -> str:
    """The table's first column: ``"MS-G3D `MultiScale_GraphConv`"``, or ``"model MS-G3D"``."""
    if group.startswith("model "):
        return group
    repository, block = group.split()
    return f"{REPOSITORIES[repository]} `{block}`"


def run_name(path: Path) -> str:
    """``run24.json`` -> ``"24"``; any other file name -> its stem."""
    match = re.fullmatch(r"run(\d+)", path.stem)
    return match.group(1) if match else path.stem


def load(paths: list[Path]) -> list[dict]:
    """The saved runs; all must hold the same rows (name and mode) timed with the same settings, or the table would
    compare unlike runs."""
    runs = [json.loads(p.read_text()) for p in paths]
    keys = [sorted((r["name"], r["mode"]) for r in run["rows"]) for run in runs]
    for path, run, k in zip(paths[1:], runs[1:], keys[1:], strict=True):
        if k != keys[0]:
            raise ValueError(f"{path} holds other rows than {paths[0]}: every run must time the same cases and modes")
        if run["settings"] != runs[0]["settings"]:
            raise ValueError(f"{path} was run with other settings than {paths[0]}: {run['settings']}")
    return runs


def groups(runs: list[dict]) -> dict[str, Group]:
    """The rows of every run by group, in the order of the first run."""
    found: dict[str, Group] = {}
    for i, run in enumerate(runs):
        for row in run["rows"]:
            g = found.setdefault(group_of(row["name"]), Group(row["goal"], len(runs)))
            if row["goal"] != g.goal:
                raise ValueError(f"{row['name']} has goal {row['goal']}, other rows of its group {g.goal}")
            g.configurations.add(row["name"])
            g.ratios[row["mode"]].append(row["ratio"])
            g.rows[i] += 1
            g.over[i] += row["ratio"] > row["goal"]
    return found


def span(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}" if values else "—"


def table(runs: list[dict], names: list[str]) -> str:
    """The markdown table: its two header lines, then one line per group."""
    lines = [
        f"| block or model | configurations | eval: stviz / original | training step | goal | rows over the goal "
        f"(runs {', '.join(names)}) |",
        "|---|---|---|---|---|---|",
    ]
    for name, g in groups(runs).items():
        configurations = "—" if name.startswith("model ") else str(len(g.configurations))
        over = ", ".join(str(n) for n in g.over)
        lines.append(
            f"| {label(name)} | {configurations} | {span(g.ratios['eval'])} | {span(g.ratios['train'])} | {g.goal} | "
            f"{over} of {g.rows[0]} |"
        )
    return "\n".join(lines)


def rows_over(runs: list[dict], names: list[str]) -> str:
    """Each run's rows over their goal, worst first (by ratio over goal, as ``originals.py`` lists them): ratio, and
    the median of the per-pair ratios."""
    lines = []
    for name, run in zip(names, runs, strict=True):
        over = sorted((r for r in run["rows"] if r["ratio"] > r["goal"]), key=lambda r: -r["ratio"] / r["goal"])
        family = run.get("cpu_family_model")  # recorded from run 46 on
        kernel = run.get("pointwise_kernel", "matmul")  # recorded from run 35 on; every run before ran the product
        processor = run["cpu"] if family is None else f"{run['cpu']} {family[0]}/{family[1]}"
        lines.append(
            f"run {name} ({run['date']}, {processor}, {kernel}, {run['seconds']} s): "
            f"{len(over)} of {len(run['rows'])} rows over their goal"
        )
        lines += [
            f"  {r['name']} ({r['mode']}) {r['ratio']:.2f} (pairs {r['pair_median']:.2f}) > {r['goal']}" for r in over
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="JSON files written by originals.py --save")
    args = parser.parse_args(argv)
    runs = load(args.runs)
    names = [run_name(p) for p in args.runs]
    print(table(runs, names))
    print()
    print(rows_over(runs, names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
