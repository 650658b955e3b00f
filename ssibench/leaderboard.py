"""The leaderboard of one or more sweeps, built from the runs' results.json files.

    python -m ssibench.leaderboard multirun/2026-11-25/10-00-00 [more sweep dirs] [--out DIR]

One table per scenario like SSIBench's (#, loss, metrics), ranked by PSNR ascending (the best
last), with the mean ± std over seeds, the number of seeds, and a paired Wilcoxon signed-rank test
of each method against the best self-supervised one over the same test images (per-image PSNR,
averaged over seeds), so a 0.1 dB difference is marked as the tie it may be. Runs that were
skipped or failed, or have no metrics (test data without ground truth), are listed under their
table with the reason. Writes ``leaderboard.md``, ``leaderboard.csv`` and the figures
(:mod:`ssibench.figures`) into the first sweep dir (or ``--out``) and prints the tables.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon

from ssibench import results as results_io
from ssibench.figures import write_figures
from ssibench.folders import RunDir

ALPHA = 0.05  # significance level of the paired tests


@dataclass
class Row:
    """One method in one scenario, aggregated over its seeds."""

    loss: str
    label: str
    kind: str
    metrics: dict[str, tuple[float, float]]  # name -> (mean over seeds, std over seeds)
    n_seeds: int
    per_image: np.ndarray | None  # PSNR per test image, averaged over seeds
    verdict: str = ""
    p_value: float | None = None


@dataclass
class Table:
    scenario: str
    datasets: list[str]
    rows: list[Row] = field(default_factory=list)
    not_run: list[tuple[str, str, str]] = field(default_factory=list)  # unranked: (label, status, reason)


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


def paired_test(a: np.ndarray, b: np.ndarray) -> tuple[str, float]:
    """Wilcoxon signed-rank test of per-image values ``a`` against ``b``: better, worse or tie."""
    if np.allclose(a, b):
        return "tie", 1.0
    p = float(wilcoxon(a, b).pvalue)
    if p >= ALPHA:
        return "tie", p
    return ("better" if np.median(a - b) > 0 else "worse"), p


def _aggregate(runs: list[dict], rank_by: str) -> Row:
    first = runs[0]
    names = list(first["metrics"])
    metrics = {}
    for name in names:
        values = np.array([r["metrics"][name]["mean"] for r in runs])
        metrics[name] = (float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0)
    images = [r.get("per_image", {}).get(rank_by) for r in runs]
    same_images = all(v is not None and len(v) == len(images[0]) for v in images)
    per_image = np.mean(np.array(images, dtype=float), axis=0) if same_images else None
    return Row(first["loss"], first["label"], first["kind"], metrics, len(runs), per_image)


def build_tables(results: list[dict], rank_by: str = "PSNR") -> list[Table]:
    """Group runs by scenario and loss, aggregate seeds, rank, and test against the best SSL method."""
    by_scenario: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        by_scenario[r["physics"]].append(r)
    tables = []
    for scenario, runs in sorted(by_scenario.items()):
        table = Table(scenario, sorted({r["dataset"] for r in runs}))
        ok: dict[str, list[dict]] = defaultdict(list)
        for r in runs:
            if r["status"] == "ok" and r["metrics"]:
                ok[r["loss"]].append(r)
            else:  # not run, or run on test data without ground truth (no metrics to rank by)
                table.not_run.append((r["label"], r["status"], r["reason"] or ""))
        table.rows = sorted((_aggregate(v, rank_by) for v in ok.values()), key=lambda row: row.metrics[rank_by][0])
        candidates = [row for row in table.rows if row.kind == "self-supervised"]
        if candidates:
            best = max(candidates, key=lambda row: row.metrics[rank_by][0])
            for row in table.rows:
                if row is best:
                    row.verdict = "best SSL"
                elif row.per_image is not None and best.per_image is not None and len(row.per_image) == len(best.per_image):
                    row.verdict, row.p_value = paired_test(row.per_image, best.per_image)
        table.not_run.sort()
        tables.append(table)
    return tables


def _cell(mean: float, std: float, n_seeds: int, digits: int) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if n_seeds > 1 else f"{mean:.{digits}f}"


def _digits(name: str) -> int:
    return 2 if name.upper() == "PSNR" else 4


def to_markdown(tables: list[Table]) -> str:
    lines = ["# Leaderboard", ""]
    for table in tables:
        metric_names = list(table.rows[0].metrics) if table.rows else []
        lines += [f"## Scenario `{table.scenario}` ({', '.join(table.datasets)})", ""]
        header = ["#", "Loss", *metric_names, "seeds", "vs best SSL (Wilcoxon, per-image PSNR)"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for rank, row in enumerate(table.rows, start=1):
            cells = [_cell(*row.metrics[m], row.n_seeds, _digits(m)) for m in metric_names]
            verdict = row.verdict + (f" (p={row.p_value:.2g})" if row.p_value is not None else "")
            lines.append("| " + " | ".join([str(rank), row.label, *cells, str(row.n_seeds), verdict]) + " |")
        if table.not_run:
            lines += ["", "Not ranked:"]
            lines += [f"- {label}: {status} — {reason}" for label, status, reason in table.not_run]
        lines.append("")
    lines.append(f"Mean ± std over seeds; ties: p ≥ {ALPHA} in a two-sided Wilcoxon signed-rank test.")
    return "\n".join(lines) + "\n"


def write_csv(tables: list[Table], path: Path) -> None:
    metric_names = sorted({m for t in tables for row in t.rows for m in row.metrics})
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(
            ["scenario", "rank", "loss", "label", "kind", "status", "n_seeds", "vs_best_ssl", "p_value", "reason"]
            + [f"{m}_{stat}" for m in metric_names for stat in ("mean", "std")]
        )
        for t in tables:
            for rank, row in enumerate(t.rows, start=1):
                values = [v for m in metric_names for v in row.metrics.get(m, ("", ""))]
                out.writerow([t.scenario, rank, row.loss, row.label, row.kind, "ok", row.n_seeds, row.verdict, row.p_value, ""] + values)
            for label, status, reason in t.not_run:
                out.writerow([t.scenario, "", "", label, "", status, "", "", "", reason] + [""] * 2 * len(metric_names))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ssibench-leaderboard", description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="sweep folders (searched recursively for results.json)")
    parser.add_argument(
        "--out", type=Path, help="where to write leaderboard.md/.csv and the figures (default: the first sweep folder)"
    )
    args = parser.parse_args(argv)
    missing = [str(d) for d in args.dirs if not d.is_dir()]
    if missing:
        print(f"error: not a folder: {', '.join(missing)} (give the sweep folder, e.g. multirun/<date>/<time>)", file=sys.stderr)
        return 2
    runs = collect_runs(args.dirs)
    results = [r for _, r in runs]
    if not results:
        print(f"error: no results.json below {', '.join(map(str, args.dirs))}: run a sweep into it first", file=sys.stderr)
        return 2
    tables = build_tables(results)
    out = args.out or args.dirs[0]
    out.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(tables)
    (out / "leaderboard.md").write_text(markdown)
    write_csv(tables, out / "leaderboard.csv")
    print(markdown)
    figures = write_figures(tables, runs, out)
    print(f"written: {', '.join(str(p) for p in [out / 'leaderboard.md', out / 'leaderboard.csv', *figures])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
