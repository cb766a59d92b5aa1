"""The stored notebooks read right without a kernel: self-contained, lean, pictures for every widget.

These check the committed files (nbval checks that the outputs still come out of the code).
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from stviz import viz

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
OUTSIDE = re.compile(r"SPEC\.md|NUMBERS\.md|USERS\.md|OFFICIAL_API|STYLE\.md|\.\./shared|\.\./benchmarks")
WIDGET = "application/vnd.jupyter.widget-view+json"


def _outputs(nb: dict):
    for cell in nb["cells"]:
        yield from cell.get("outputs", [])


def test_all_seven_notebooks_are_there_and_together_under_3_mb():
    assert len(NOTEBOOKS) == 7
    assert sum(p.stat().st_size for p in NOTEBOOKS) <= 3_000_000


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_reads_right_without_a_kernel(path):
    text = path.read_text()
    nb = json.loads(text)
    assert path.stat().st_size <= 600_000, f"{path.name}: {path.stat().st_size // 1000} kB with outputs"
    # JupyterLab 4 writes this display name; any other marks the notebook modified as soon as it opens
    assert nb["metadata"]["kernelspec"]["display_name"] == "Python 3 (ipykernel)"
    assert not OUTSIDE.findall(text), f"{path.name} cites files a clone does not have"
    assert not re.findall(r"/(?:work|tmp|root|home)/[\w.-]+/", text), f"{path.name} stores a path of this machine"
    assert nb["nbformat"] == 4 and nb["nbformat_minor"] >= 5 and all("id" in c for c in nb["cells"]), (
        f"{path.name}: a cell without an id (nbformat 4.5 requires one; nbformat.validator.normalize adds them)"
    )
    ids = [c["id"] for c in nb["cells"]]
    assert len(set(ids)) == len(ids), f"{path.name}: two cells share an id"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in code if "".join(c["source"]).strip()), "unexecuted cell"
    assert not [o for o in _outputs(nb) if o["output_type"] == "error"]
    for output in _outputs(nb):
        data = output.get("data", {})
        if WIDGET in data:
            assert "image/png" in data, f"{path.name}: a widget output without a picture for readers without a kernel"
        if "text/html" in data:
            assert "https://" not in "".join(data["text/html"]), f"{path.name}: HTML output fetches from the network"
        if "image/png" in data:
            png = base64.b64decode("".join(data["image/png"]))
            width = int.from_bytes(png[16:20], "big")  # PNG header: IHDR width in pixels
            assert width <= 1.05 * viz.WIDTH * viz.DPI, f"{path.name}: a picture {width} px wide"
