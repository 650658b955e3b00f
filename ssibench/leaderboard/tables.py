"""The leaderboard's tables: the runs grouped by scenario and method, aggregated over seeds, ranked.

One table per scenario like SSIBench's (#, loss, metrics), ranked by PSNR ascending (the best
last), with the scores of the model one selection rule chose in each run (``rule``,
:mod:`ssibench.leaderboard.selection_view`): the mean ± standard error over seeds, the number of
seeds, a rank interval (:mod:`ssibench.leaderboard.rank_intervals`), the oracle's PSNR and the
selection regret, a paired Wilcoxon signed-rank test of each method against the best
self-supervised one over the same test images (per-image PSNR, averaged over seeds,
:mod:`ssibench.leaderboard.statistics`), what the method cost to train
(:mod:`ssibench.leaderboard.cost_columns`), and how stable its final PSNR is (the spread of its last
evaluated epochs, :func:`ssibench.leaderboard.run_curves.stability`). Every table has a zero-filled row:
the runs of ``loss=zero_filled`` where the sweep has them, else one made from the ``zero_filled``
scores every run records of its own test set (one per seed: all runs of a seed share it). Runs that
were skipped, failed or diverged, or have no metrics (test data without ground truth), are listed
under their table with the reason, as are runs that recorded no choice of the table's rule: once per
method and reason, with the seeds it holds for (:class:`Unranked`). Runs of one seed scored on
different test sets are refused (:mod:`ssibench.leaderboard.test_sets`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ssibench.evaluation.selection import DEFAULT_RULE
from ssibench.folders import RunDir
from ssibench.leaderboard.cost_columns import MISSING, CostColumn, Device, DeviceCost, cost_columns, method_cost
from ssibench.leaderboard.rank_intervals import rank_intervals
from ssibench.leaderboard.run_curves import stability
from ssibench.leaderboard.selection_view import oracle_and_regret, under_rule
from ssibench.leaderboard.statistics import paired_test
from ssibench.leaderboard.test_sets import check_one_test_set_per_seed

ZERO_FILLED_LABEL = "Zero-filled"  # as conf/loss/zero_filled.yaml labels it
ZERO_FILLED_FOOTNOTE = (
    "Zero-filled: x̂ = Aᴴy on each seed's test set; without a `loss=zero_filled` run, from the `zero_filled` "
    "scores the other runs record (no training, so no cost nor stability)."
)


@dataclass
class Row:
    """One method in one scenario, aggregated over its seeds."""

    loss: str
    label: str
    kind: str
    metrics: dict[str, tuple[float, float]]  # name -> (mean over seeds, standard error over seeds)
    n_seeds: int
    per_image: np.ndarray | None  # PSNR per test image, averaged over seeds
    seed_images: np.ndarray | None = None  # PSNR per seed and test image (n_seeds, n_images)
    verdict: str = ""
    p_value: float | None = None
    cost: dict[Device, DeviceCost] = field(default_factory=dict)
    runs: list[tuple[Path | None, dict]] = field(default_factory=list)  # (run folder when known, results)
    stability_db: float | None = None  # mean over seeds of the PSNR spread of the last evaluated epochs
    from_zero_filled_scores: bool = False  # the zero-filled row made from other runs' `zero_filled` blocks
    oracle: tuple[float, float] | None = None  # val_oracle's PSNR: (mean, standard error) over seeds
    regret_db: tuple[float, float] | None = None  # oracle − val_kspace PSNR: (mean, standard error) over seeds
    rank_interval: tuple[int, int] | None = None  # (lowest, highest) rank over the bootstrap draws
    tuning: list[dict] | None = None  # a tuning sweep's trial chosen in each seed (trial_choice), in seed order

    def verdict_text(self) -> str:
        """The comparison with the best SSL method as the tables print it: ``tie (p=0.31)``."""
        return self.verdict + (f" (p={self.p_value:.2g})" if self.p_value is not None else "")


class Unranked(NamedTuple):
    """A method listed under a table instead of ranked in it, once per status and reason."""

    label: str
    status: str  # skipped, failed, diverged, ok (no ground truth to score), or "no <rule>"
    reason: str
    seeds: tuple[int, ...]  # the seeds whose runs it holds for
    runs: int  # how many runs that is


@dataclass
class Table:
    scenario: str
    datasets: list[str]
    rule: str = DEFAULT_RULE  # the selection rule whose models the rows score
    rows: list[Row] = field(default_factory=list)
    not_run: list[Unranked] = field(default_factory=list)  # the methods listed under the table, with why

    @property
    def metric_names(self) -> list[str]:
        """Every metric of the rows, in the order the runs list them (a row may lack one: e.g. the
        zero-filled row of runs that scored Aᴴy on fewer metrics)."""
        return list(dict.fromkeys(name for row in self.rows for name in row.metrics))

    @property
    def seeds(self) -> list[int]:
        """Every seed of the table's runs, ranked or not."""
        ranked = (results["seed"] for row in self.rows for _, results in row.runs)
        return sorted({*ranked, *(seed for entry in self.not_run for seed in entry.seeds)})

    def status_of(self, entry: Unranked) -> str:
        """``skipped``; ``skipped in seeds 0, 2`` where the table holds several seeds."""
        if len(self.seeds) < 2:
            return entry.status
        return f"{entry.status} in seed{'s' if len(entry.seeds) > 1 else ''} {', '.join(map(str, entry.seeds))}"

    @property
    def budget(self) -> int | None:
        """The trials each method had per seed when the rows come from a tuning sweep, else None."""
        return max((choice["trials"] for row in self.rows for choice in row.tuning or ()), default=None)

    @property
    def cost_columns(self) -> list[CostColumn]:
        return cost_columns(list({device for row in self.rows for device in row.cost}))


def mean_and_error(values) -> tuple[float, float]:
    """The mean over seeds and its standard error (0 for one seed)."""
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


def _seed_images(blocks: list[dict], rank_by: str) -> np.ndarray | None:
    """The per-image ``rank_by`` scores of each seed's block, ``(n_seeds, n_images)``; None unless all have them."""
    images = [block.get(rank_by) for block in blocks]
    if not all(v is not None and len(v) == len(images[0]) for v in images):
        return None
    return np.array(images, dtype=float)


def _aggregate(runs: list[tuple[Path | None, dict]], rank_by: str) -> Row:
    results = [r for _, r in runs]
    first = results[0]
    metrics = {name: mean_and_error([r["metrics"][name]["mean"] for r in results]) for name in first["metrics"]}
    seed_images = _seed_images([r.get("per_image", {}) for r in results], rank_by)
    per_image = seed_images.mean(axis=0) if seed_images is not None else None
    oracles = [oracle_and_regret(r, rank_by) for r in results]
    known = all(oracles)
    spreads = [stability(RunDir(folder).curves) for folder, _ in runs if folder and RunDir(folder).curves.is_file()]
    spreads = [spread for spread in spreads if spread is not None]
    tuning = [r["tuning"] for r in sorted(results, key=lambda r: r["seed"]) if r.get("tuning")]
    return Row(
        first["loss"], first["label"], first["kind"], metrics, len(results), per_image, seed_images,
        cost=method_cost(results), runs=list(runs), stability_db=float(np.mean(spreads)) if spreads else None,
        oracle=mean_and_error([o[0] for o in oracles]) if known else None,
        regret_db=mean_and_error([o[1] for o in oracles]) if known else None,
        tuning=tuning if len(tuning) == len(results) else None,
    )


def _zero_filled_row(runs: list[tuple[Path | None, dict]], rank_by: str) -> Row | None:
    """Aᴴy on each seed's test set, from the ``zero_filled`` block of the seed's first run (every run
    of a seed scores the same test set, :mod:`ssibench.leaderboard.test_sets`); None when no run
    scored it on ``rank_by``."""
    by_seed: dict[int, dict] = {}
    for _, results in runs:
        if rank_by in results.get("zero_filled", {}):
            by_seed.setdefault(results["seed"], results)
    if not by_seed:
        return None
    seeds = [by_seed[seed] for seed in sorted(by_seed)]
    names = [name for name in seeds[0]["zero_filled"] if all(name in r["zero_filled"] for r in seeds)]
    metrics = {name: mean_and_error([r["zero_filled"][name]["mean"] for r in seeds]) for name in names}
    seed_images = _seed_images([r.get("zero_filled_per_image", {}) for r in seeds], rank_by)
    per_image = seed_images.mean(axis=0) if seed_images is not None else None
    return Row("zero_filled", ZERO_FILLED_LABEL, "no-learning", metrics, len(seeds), per_image, seed_images,
               from_zero_filled_scores=True)  # fmt: skip


def build_tables(
    results: list[dict], rank_by: str = "PSNR", folders: list[Path] | None = None, rule: str = DEFAULT_RULE
) -> list[Table]:
    """Group runs by scenario and loss, aggregate seeds, rank, and test against the best SSL method,
    each run scored by the model ``rule`` chose in it.

    ``folders``: each run's folder, in the order of ``results`` (for the config links of the HTML
    page and to name runs in errors). Raises :class:`~ssibench.leaderboard.test_sets.MixedTestSets`
    when runs of one scenario and seed were scored on different test sets."""
    runs = list(zip(folders if folders is not None else [None] * len(results), results))
    check_one_test_set_per_seed(runs)
    by_scenario: dict[str, list[tuple[Path | None, dict]]] = defaultdict(list)
    for folder, r in runs:
        by_scenario[r["physics"]].append((folder, r))
    tables = []
    for scenario, scenario_runs in sorted(by_scenario.items()):
        table = Table(scenario, sorted({r["dataset"] for _, r in scenario_runs}), rule)
        ok: dict[str, list[tuple[Path | None, dict]]] = defaultdict(list)
        unranked: dict[tuple[str, str, str], list[int]] = defaultdict(list)  # (label, status, reason) -> seeds
        for folder, r in scenario_runs:
            chosen, why = under_rule(r, rule)
            if why is not None:
                unranked[r["label"], f"no {rule}", why].append(r["seed"])
            elif r["status"] == "ok" and r["metrics"]:
                ok[r["loss"]].append((folder, chosen))
            else:  # not run, or run on test data without ground truth (no metrics to rank by)
                unranked[r["label"], r["status"], r["reason"] or ""].append(r["seed"])
        table.not_run = sorted(Unranked(*key, tuple(sorted(set(s))), len(s)) for key, s in unranked.items())
        rows = [_aggregate(v, rank_by) for v in ok.values()]
        if "zero_filled" not in ok:  # a swept zero_filled is that row already (its cost, config, per-image scores)
            rows += [row for row in [_zero_filled_row([run for v in ok.values() for run in v], rank_by)] if row]
        table.rows = sorted(rows, key=lambda row: row.metrics[rank_by][0])
        for row, interval in zip(table.rows, rank_intervals([row.seed_images for row in table.rows])):
            row.rank_interval = interval
        candidates = [row for row in table.rows if row.kind == "self-supervised"]
        if candidates:
            best = max(candidates, key=lambda row: row.metrics[rank_by][0])
            for row in table.rows:
                if row is best:
                    row.verdict = "best SSL"
                elif (
                    row.per_image is not None
                    and best.per_image is not None
                    and len(row.per_image) == len(best.per_image)
                ):
                    row.verdict, row.p_value = paired_test(row.per_image, best.per_image)
        tables.append(table)
    return tables


def metric_cell(mean: float, error: float, n_seeds: int, name: str) -> str:
    """``27.60 ± 0.14`` (mean ± standard error; PSNR with 2 decimals, other metrics 4), the mean alone for one seed."""
    digits = 2 if name.upper() in ("PSNR", "DB") else 4
    mean = round(mean, digits) + 0.0  # a regret of -1e-9 dB reads 0.00, not -0.00
    return f"{mean:.{digits}f} ± {error:.{digits}f}" if n_seeds > 1 else f"{mean:.{digits}f}"


def row_metric_cell(row: Row, name: str) -> str:
    """The row's ``name`` cell, :data:`MISSING` where its runs did not score that metric."""
    return metric_cell(*row.metrics[name], row.n_seeds, name) if name in row.metrics else MISSING


def rank_interval_cell(row: Row) -> str:
    """``3–5``, ``4`` when the interval is one rank, :data:`MISSING` without per-image scores."""
    if row.rank_interval is None:
        return MISSING
    low, high = row.rank_interval
    return str(low) if low == high else f"{low}–{high}"


def oracle_cells(row: Row) -> tuple[str, str]:
    """The oracle's PSNR and the regret (dB) as the tables print them; :data:`MISSING` where unknown."""
    if row.oracle is None:
        return MISSING, MISSING
    return metric_cell(*row.oracle, row.n_seeds, "PSNR"), metric_cell(*row.regret_db, row.n_seeds, "dB")


def stability_cell(row: Row) -> str:
    """``0.42`` (dB), :data:`MISSING` for a row without curves."""
    return MISSING if row.stability_db is None else f"{row.stability_db:.2f}"


def trial_cell(row: Row) -> str:
    """The trial chosen in each seed (``2``; ``2, 0, 3`` for three seeds), :data:`MISSING` for an untuned row."""
    return MISSING if not row.tuning else ", ".join(str(choice["trial"]) for choice in row.tuning)


def hparams_cell(row: Row) -> str:
    """The values the chosen trials set (``trainer.optimizer.lr=0.00032``; one group per seed, ``;``-separated),
    the defaults' too where trial 0 won; :data:`MISSING` for an untuned row."""
    if not row.tuning:
        return MISSING
    return "; ".join(
        ", ".join(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}"
                  for key, value in choice["values"].items()) or "defaults"
        for choice in row.tuning
    )
