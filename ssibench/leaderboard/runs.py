"""The runs a leaderboard is built from: every ``results.json`` below the sweep folders, each run once."""

from __future__ import annotations

import json
from pathlib import Path

from ssibench.folders import RunDir
from ssibench.results import schema as results_io


class UnreadableRun(ValueError):
    """A results.json that cannot be read or does not fit the schema: one line naming the file."""


def collect_runs(dirs: list[Path]) -> list[tuple[Path, dict]]:
    """Every run below ``dirs``: its folder and its results.json. Raise :class:`UnreadableRun` for
    the first results.json that is damaged or does not fit the schema (:mod:`ssibench.results.schema`)."""
    found = []
    for folder in dirs:
        for path in sorted(Path(folder).rglob(RunDir(folder).results.name)):
            try:
                results = results_io.read(path)
            except (OSError, ValueError, TypeError, KeyError) as error:
                # TypeError, KeyError: JSON of another shape than the schema's (a list, a number for a block)
                reason = (str(error).splitlines() or [type(error).__name__])[0]
                raise UnreadableRun(
                    f"{path} is not a readable results.json ({reason}): repair or restore it, "
                    "or leave that run folder out"
                ) from error
            found.append((path.parent, results))
    return found


def collect(dirs: list[Path]) -> list[dict]:
    """Every results.json below ``dirs``."""
    return [results for _, results in collect_runs(dirs)]


def unique_runs(runs: list[tuple[Path, dict]]) -> tuple[list[tuple[Path, dict]], list[str]]:
    """``runs`` with each run once, and a line per run left out: a folder found twice (given twice,
    or inside another folder given), or a run with the same identity as an earlier one (a copied
    folder, or the same config, code and seed run again elsewhere), which would count as one more seed."""
    kept: list[tuple[Path, dict]] = []
    seen_folders: set[Path] = set()
    seen: dict[str, tuple[Path, dict]] = {}
    notes = []
    for folder, results in runs:
        where = Path(folder).resolve()
        if where in seen_folders:
            notes.append(f"{folder} was given twice (itself, or inside another folder given): counted once")
            continue
        seen_folders.add(where)
        first = seen.setdefault(_identity(results), (folder, results))
        if first[0] != folder:
            why = "a copy of it" if first[1] == results else "the same config, code, seed and status"
            notes.append(f"{folder} is the same run as {first[0]} ({why}): left out, so that it counts once")
            continue
        kept.append((folder, results))
    return kept, notes


def _identity(results: dict) -> str:
    """What makes two results the same run: its identifying config (:func:`ssibench.config.context.identifying_config`),
    code, loss, scenario, seed and status (a failed run and its successful re-run are both kept: one is ranked,
    the other listed); the whole record for a run that records no config."""
    if isinstance(results.get("config"), dict):
        keys = ("loss", "physics", "dataset", "seed", "status", "config", "code")
        return json.dumps([results.get(key) for key in keys], sort_keys=True, default=str)
    return json.dumps(results, sort_keys=True, default=str)
