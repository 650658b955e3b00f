"""The leaderboard as one CSV file (``leaderboard.csv``): a row per method, ranked or not."""

from __future__ import annotations

import csv
from pathlib import Path

from ssibench.atomic_files import atomic_path
from ssibench.leaderboard.cost_columns import cost_columns
from ssibench.leaderboard.tables import Row, Table, hparams_cell, rank_interval_cell, trial_cell


def write_csv(tables: list[Table], path: Path) -> None:
    """Metrics as ``<name>_mean``/``<name>_se`` (standard error over seeds); the ``selection`` rule the
    row's models were chosen by; ``rank_interval``; ``oracle_PSNR`` and ``regret_db`` (with their standard
    errors); ``stability_db`` (empty for a row without curves); ``trial`` and ``hparams``: a tuning
    sweep's trial chosen in each seed and the values it set (empty otherwise);
    cost as one group of columns per device, each titled with its device (``GPU-h (NVIDIA H200)``,
    ``s/step (NVIDIA H200)``, ...), plus how many of the method's runs recorded their cost there;
    empty where nothing was recorded."""
    metric_names = sorted({m for t in tables for row in t.rows for m in row.metrics})
    columns = cost_columns(list({device for t in tables for row in t.rows for device in row.cost}))
    devices = sorted({column.device for column in columns})
    header = (
        ["scenario", "selection", "rank", "loss", "label", "kind", "status", "n_seeds", "rank_interval",
         "oracle_PSNR", "oracle_PSNR_se", "regret_db", "regret_db_se", "stability_db", "vs_best_ssl", "p_value",
         "reason", "trial", "hparams"]
        + [f"{m}_{stat}" for m in metric_names for stat in ("mean", "se")]
        + [column.header(name_device=True) for column in columns]
        + [f"cost runs ({device.name})" for device in devices]
    )
    width = len(header) - 19
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        for t in tables:
            for rank, row in enumerate(t.rows, start=1):
                values = [v for m in metric_names for v in row.metrics.get(m, ("", ""))]
                cost = [_blank(column.value(row.cost)) for column in columns]
                runs = [row.cost[device].runs if device in row.cost else "" for device in devices]
                interval = rank_interval_cell(row) if row.rank_interval is not None else ""
                oracle = [*(row.oracle or ("", "")), *(row.regret_db or ("", ""))]
                out.writerow(
                    [t.scenario, t.rule, rank, row.loss, row.label, row.kind, "ok", row.n_seeds, interval, *oracle,
                     _blank(row.stability_db), row.verdict, row.p_value, "", *(tuned(row) or ("", ""))]
                    + values + cost + runs
                )
            for entry in t.not_run:  # n_seeds: how many seeds the status and reason hold for
                blank = [""] * 8
                out.writerow(
                    [t.scenario, t.rule, "", "", entry.label, "", entry.status, len(entry.seeds), *blank, entry.reason,
                     "", ""] + [""] * width
                )


def tuned(row: Row) -> tuple[str, str] | tuple[()]:
    """``trial`` and ``hparams`` of a row from a tuning sweep (one per seed, as the tables print them), else ()."""
    return (trial_cell(row), hparams_cell(row)) if row.tuning else ()


def _blank(value: float | None):
    return "" if value is None else value
