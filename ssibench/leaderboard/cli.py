"""``ssibench leaderboard <dirs> [--selection RULE] [--against embedded|SWEEP] [--out DIR] [--html SITE] [--wandb]``
(also ``ssibench-leaderboard``).

Every table scores each run by the model one selection rule chose in it (``--selection``, default
``val_kspace``; :mod:`ssibench.leaderboard.selection_view`), and says which.

Builds the tables of every run below the folders (sweeps or single runs) and writes
``leaderboard.md``, ``leaderboard.csv`` and the figures into the first folder (or ``--out``),
prints the Markdown; ``--html`` also writes the static site, ``--wandb`` logs the tables to W&B.
``--against embedded`` ranks the given runs among the runs shipped with ssibench (the embedded
leaderboard of docs/default_scale.rst, :mod:`ssibench.leaderboard.shipped`), which are only read; ``--against SWEEP``
does the same with a sweep folder. A run found twice (a folder given twice, or inside another one
given) or given twice (a copied folder, the same config, code and seed) counts once, with a printed
line naming the one left out. Bad input (no runs, an unreadable results.json, runs of one seed scored
on different test sets or whose records contradict each other about it, a run the shipped ones cannot
be compared with, a folder the site may not replace) ends with one line and exit code 2 before
anything is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ssibench.atomic_files import atomic_path
from ssibench.evaluation.selection import DEFAULT_RULE
from ssibench.leaderboard.csv_table import write_csv
from ssibench.leaderboard.figures import write_figures
from ssibench.leaderboard.html_site import SiteError, owned_files, write_site
from ssibench.leaderboard.markdown import to_markdown
from ssibench.leaderboard.runs import UnreadableRun, collect_runs, unique_runs
from ssibench.leaderboard.selection_view import RULE_TEXT
from ssibench.leaderboard.shipped import AgainstError, load, rank_against, resolve
from ssibench.leaderboard.tables import build_tables
from ssibench.leaderboard.test_sets import MixedTestSets
from ssibench.leaderboard.trial_choice import TuningChoiceError, choose_trials


def _error(message: str) -> int:
    print(f"ssibench-leaderboard: error: {message}", file=sys.stderr)
    return 2


def default_rule(runs: list[tuple[Path | None, dict]]) -> str:
    """:data:`DEFAULT_RULE`, or ``last`` (with a printed line) where some scored run records no selection:
    runs made before the selection rules (the shipped ones until they are re-run) share a table only
    under the rule every run records."""
    old = [folder for folder, r in runs if r["status"] == "ok" and r["metrics"] and "selection" not in r]
    if not old:
        return DEFAULT_RULE
    print(
        f"[leaderboard] {len(old)} of the runs ({old[0]}{', ...' if len(old) > 1 else ''}) record their last epoch "
        f"only (made before the selection rules): every table shows --selection last; re-run them for {DEFAULT_RULE}"
    )
    return "last"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ssibench leaderboard", description="The leaderboard of one or more sweeps, from their runs' results.json."
    )
    parser.add_argument(
        "dirs", nargs="+", type=Path, help="sweep or run folders (searched recursively for results.json)"
    )
    parser.add_argument(
        "--out", type=Path, help="where to write leaderboard.md/.csv and the figures (default: the first folder given)"
    )
    parser.add_argument(
        "--against", metavar="embedded|SWEEP",
        help="rank the given runs among the runs shipped with ssibench (embedded: the leaderboard of "
        "docs/default_scale.rst) or those of a sweep folder; those are only read, a given run of the same method, "
        "scenario and seed replaces its own",
    )
    parser.add_argument(
        "--selection", choices=list(RULE_TEXT),
        help="which model of each run the tables score: " + "; ".join(f"{k}: {v}" for k, v in RULE_TEXT.items())
        + f" (default {DEFAULT_RULE}; last where some run records no other rule, with a line saying so)",
    )
    parser.add_argument(
        "--html", type=Path, metavar="SITE", help="also write a static site (index.html and assets/) into this folder"
    )
    parser.add_argument(
        "--wandb", action="store_true",
        help="also log the tables to a W&B run (WANDB_PROJECT, default ssibench; WANDB_ENTITY; WANDB_MODE)",
    )
    args = parser.parse_args(argv)
    missing = [str(d) for d in args.dirs if not d.is_dir()]
    if missing:
        return _error(f"not a folder: {', '.join(missing)} (give the sweep folder, e.g. multirun/<date>/<time>)")
    try:
        runs, duplicates = unique_runs(collect_runs(args.dirs))
    except UnreadableRun as error:
        return _error(str(error))
    for line in duplicates:
        print(f"[leaderboard] {line}")
    if not runs:
        return _error(f"no results.json below {', '.join(map(str, args.dirs))}: run a sweep into it first")
    sources = list(args.dirs)
    if args.against is not None:
        against = resolve(args.against).resolve()
        given = [path for path in (*args.dirs, args.out, args.html) if path is not None]
        inside = [str(path) for path in given if path.resolve().is_relative_to(against)]
        if inside:
            return _error(
                f"{', '.join(inside)} is inside {against}, the runs ranked against, which are only read: "
                "give your own run or sweep folders, and --out/--html elsewhere"
            )
        try:
            shipped = load(args.against)
            rule = args.selection or default_rule(runs + shipped)
            # a tuning sweep's trials are chosen inside each side before a given run replaces a shipped one
            runs, replaced = rank_against(choose_trials(shipped, rule), choose_trials(runs, rule))
        except (AgainstError, UnreadableRun, TuningChoiceError) as error:
            return _error(str(error))
        for line in replaced:
            print(f"[leaderboard] {line}")
        sources.append(against)
    else:
        rule = args.selection or default_rule(runs)
    try:
        runs = choose_trials(runs, rule)
        tables = build_tables([r for _, r in runs], folders=[folder for folder, _ in runs], rule=rule)
        if args.html is not None:
            owned_files(args.html)  # refuse a folder the site may not write into before writing anything
    except (MixedTestSets, SiteError, TuningChoiceError) as error:
        return _error(str(error))

    out = args.out or args.dirs[0]
    out.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(tables)
    with atomic_path(out / "leaderboard.md") as tmp:
        tmp.write_text(markdown)
    write_csv(tables, out / "leaderboard.csv")
    print(markdown)
    figures = write_figures(tables, runs, out)
    written = [out / "leaderboard.md", out / "leaderboard.csv", *(path for paths in figures.values() for path in paths)]
    if args.html is not None:
        try:
            written.append(write_site(args.html, tables, figures, sources))
        except SiteError as error:
            return _error(str(error))
    print(f"written: {', '.join(str(p) for p in written)}")
    if args.wandb:
        from ssibench.leaderboard.wandb_table import WandbError, log_leaderboard

        try:
            print(f"logged to W&B: {log_leaderboard(tables, sources, out)}")
        except WandbError as error:
            return _error(str(error))
    return 0
