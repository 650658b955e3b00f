"""The README's Layout section names every folder and top-level module of the package, and nothing
that is not there: a newcomer finds a part from it."""

from __future__ import annotations

import re

from conftest import ROOT

PACKAGE = ROOT / "ssibench"


def _layout_entries() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Layout") :]
    block = section[section.index("```") + 3 : section.index("```", section.index("```") + 3)]
    return {m.group(1).rstrip("/") for m in re.finditer(r"^(ssibench/\S+)", block, re.MULTILINE)}


def test_the_readme_layout_is_the_tree():
    listed = _layout_entries()
    present = {
        f"ssibench/{p.name}" for p in PACKAGE.iterdir()
        if (p.is_dir() and p.name != "__pycache__") or (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))
    }
    assert listed == present, f"in the README only: {listed - present}; in the tree only: {present - listed}"


def test_at_most_four_modules_at_the_top():
    top = [p.name for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")]
    assert "run.py" in top and len(top) <= 4, top
