"""The Layout page of the documentation (docs/layout.rst) names every folder and top-level module of
the package, and nothing that is not there: a newcomer finds a part from it."""

from __future__ import annotations

import re

from conftest import ROOT

PACKAGE = ROOT / "ssibench"
LAYOUT = ROOT / "docs" / "layout.rst"


def _layout_entries(text: str) -> set[str]:
    """The ``ssibench/...`` entries of the page's one ``code-block``: its lines indented by 3 spaces."""
    block = text[text.index(".. code-block:: text") :].splitlines()[1:]
    end = next((i for i, line in enumerate(block) if line.strip() and not line.startswith("   ")), len(block))
    listing = "\n".join(line[3:] for line in block[:end])
    return {m.group(1).rstrip("/") for m in re.finditer(r"^(ssibench/\S+)", listing, re.MULTILINE)}


def test_the_layout_page_is_the_tree():
    listed = _layout_entries(LAYOUT.read_text())
    present = {
        f"ssibench/{p.name}" for p in PACKAGE.iterdir()
        if (p.is_dir() and p.name != "__pycache__") or (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))
    }
    assert listed == present, f"on {LAYOUT.name} only: {listed - present}; in the tree only: {present - listed}"


def test_the_layout_is_read_from_its_block_only():
    page = (".. code-block:: text\n\n   ssibench/a.py   one\n                   two\n   ssibench/b/     three\n\n"
            "ssibench/c.py: after the block\n")
    assert _layout_entries(page) == {"ssibench/a.py", "ssibench/b"}


def test_the_readme_points_to_the_layout_page():
    assert "(docs/layout.rst)" in (ROOT / "README.md").read_text()


def test_at_most_four_modules_at_the_top():
    top = [p.name for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")]
    assert "run.py" in top and len(top) <= 4, top
