"""pyproject.toml and environment.yml name the same packages; an install carries the kernel sources."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def names(specs):
    return {re.split(r"[<>=!~\[ ]", s.strip(), maxsplit=1)[0].lower() for s in specs}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = names(project["dependencies"]) | names(project["optional-dependencies"]["dev"])
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("  - pip:")
    pip_specs = [ln.split("- ", 1)[1] for ln in lines[start + 1 :] if ln.startswith("      - ")]
    listed = names(s for s in pip_specs if not s.startswith("-e"))
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"
    assert "-e ." in pip_specs, "environment.yml must install stviz itself"


def test_every_kernel_source_ships_with_an_install():
    """A non-editable install compiles the shift op from <prefix>/share/stviz/csrc: every file of csrc/ that the
    build reads (sources and the headers they include) must be listed in the data files."""
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    shipped = {p for patterns in data_files.values() for pattern in patterns for p in ROOT.glob(pattern)}
    kernel_files = {p for p in (ROOT / "csrc").rglob("*") if p.suffix in (".cpp", ".cu", ".cuh", ".h")}
    assert kernel_files and kernel_files <= shipped, f"not shipped: {sorted(kernel_files - shipped)}"
    for target, patterns in data_files.items():  # each lands in the folder that mirrors its place in csrc/
        assert all(f"share/stviz/{Path(pattern).parent}" == target for pattern in patterns), target
