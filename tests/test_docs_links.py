"""Every relative link in the README, CONTRIBUTING, docs/ and the notebooks' markdown leads somewhere: the file
exists, and an anchor into a markdown file names one of its headings (GitHub's slugs)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")  # [text](target)
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)


def slug(heading: str) -> str:
    """GitHub's anchor for a markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def markdown_texts() -> list[tuple[Path, str]]:
    """(file, markdown) of each document and of each notebook's markdown cells."""
    texts = [
        (p, p.read_text()) for p in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(ROOT.glob("docs/*.md"))]
    ]
    for nb in sorted(ROOT.glob("notebooks/*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        texts.append((nb, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")))
    return texts


def relative_links() -> list[tuple[Path, str]]:
    return [
        (path, target)
        for path, text in markdown_texts()
        for target in LINK.findall(text)
        if not re.match(r"[a-z]+:", target) and not (target.startswith("#") and path.suffix != ".md")
    ]


def test_slug_follows_github():
    assert slug("How stviz's blocks differ from the originals") == "how-stvizs-blocks-differ-from-the-originals"
    assert slug("Trained models, training and ensembles") == "trained-models-training-and-ensembles"


def test_there_are_links_to_check():
    assert len(relative_links()) > 50


@pytest.mark.parametrize("source", sorted({str(p.relative_to(ROOT)) for p, _ in relative_links()}))
def test_relative_links_resolve(source):
    broken = []
    for path, target in relative_links():
        if str(path.relative_to(ROOT)) != source:
            continue
        file, _, anchor = target.partition("#")
        destination = (path.parent / file).resolve() if file else path  # "#anchor": a heading of this page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md":
            anchors = {slug(h) for h in HEADING.findall(destination.read_text())}
            if anchor not in anchors:
                broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{source}: " + "; ".join(broken)
