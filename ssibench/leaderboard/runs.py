"""The runs a leaderboard is built from: every ``results.json`` below the sweep folders."""

from __future__ import annotations

from pathlib import Path

from ssibench import results as results_io
from ssibench.folders import RunDir


def collect_runs(dirs: list[Path]) -> list[tuple[Path, dict]]:
    """Every run below ``dirs``: its folder and its results.json."""
    found = []
    for folder in dirs:
        for path in sorted(Path(folder).rglob(RunDir(folder).results.name)):
            found.append((path.parent, results_io.read(path)))
    return found


def collect(dirs: list[Path]) -> list[dict]:
    """Every results.json below ``dirs``."""
    return [results for _, results in collect_runs(dirs)]
