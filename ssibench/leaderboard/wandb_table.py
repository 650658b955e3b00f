"""The leaderboard logged to Weights & Biases (``--wandb``): one W&B Table per scenario.

The run lands where W&B's own environment says: ``WANDB_PROJECT`` (default ``ssibench``),
``WANDB_ENTITY``, ``WANDB_MODE`` (``offline`` needs no account; ``wandb sync`` later), and
``WANDB_DIR`` for its files (default: the folder the leaderboard is written to). Each table
``leaderboard/<scenario>`` has the columns of ``leaderboard.csv`` for that scenario (rank order,
the selection rule, metrics as mean and standard error, the rank interval, the oracle and the regret,
a tuning sweep's chosen trials, the paired test, the cost columns per device); ``not_ranked/<scenario>`` lists the runs
that were skipped, failed or diverged, with their reasons.
"""

from __future__ import annotations

import os
from pathlib import Path

from ssibench.leaderboard.csv_table import tuned
from ssibench.leaderboard.tables import Table, rank_interval_cell

DEFAULT_PROJECT = "ssibench"


class WandbError(RuntimeError):
    """W&B refused the run (no key, failed login): one line that gives the ways out."""


def table_data(table: Table) -> tuple[list[str], list[list]]:
    """The columns and rows of one scenario's W&B Table, in rank order."""
    columns = table.cost_columns
    header = ["rank", "selection", "loss", "label", "kind"]
    header += [f"{name} {stat}" for name in table.metric_names for stat in ("mean", "se")]
    header += ["seeds", "trial", "hparams", "rank interval", "oracle PSNR", "regret (dB)", "stability (dB)",
               "vs best SSL", "p"] + [column.header(name_device=True) for column in columns]  # fmt: skip
    rows = []
    for rank, row in enumerate(table.rows, start=1):
        metrics = [value for name in table.metric_names for value in row.metrics.get(name, (None, None))]
        cost = [column.value(row.cost) for column in columns]
        interval = rank_interval_cell(row) if row.rank_interval is not None else None
        rows.append(
            [rank, table.rule, row.loss, row.label, row.kind, *metrics, row.n_seeds, *(tuned(row) or (None, None)),
             interval, row.oracle and row.oracle[0], row.regret_db and row.regret_db[0], row.stability_db,
             row.verdict, row.p_value, *cost]
        )
    return header, rows


def log_leaderboard(tables: list[Table], sources: list[Path], out: Path) -> str:
    """Log every scenario's table to a new W&B run; :return: where it went (its URL, or its
    offline folder)."""
    import wandb  # imported here: the leaderboard without --wandb does not pay for it

    try:
        run = wandb.init(
            project=os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT,
            name="leaderboard",
            job_type="leaderboard",
            dir=None if os.environ.get("WANDB_DIR") else str(out),
            config={"sweeps": [str(source) for source in sources]},
        )
    except (wandb.errors.UsageError, wandb.errors.AuthenticationError, wandb.errors.CommError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WandbError(
            f"W&B refused the run ({first_line}): log in with `wandb login`, or log offline with WANDB_MODE=offline"
        ) from error
    logged = {}
    for table in tables:
        if table.rows:
            columns, data = table_data(table)
            logged[f"leaderboard/{table.scenario}"] = wandb.Table(columns=columns, data=data)
        if table.not_run:
            logged[f"not_ranked/{table.scenario}"] = wandb.Table(
                columns=["label", "status", "reason", "seeds"],
                data=[[e.label, e.status, e.reason, ", ".join(map(str, e.seeds))] for e in table.not_run],
            )
    run.log(logged)
    where = run.url or run.dir
    run.finish()
    return where
