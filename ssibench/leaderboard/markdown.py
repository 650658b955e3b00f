"""The leaderboard as Markdown (``leaderboard.md``, also printed): one table per scenario.

Text from the runs (labels, reasons, scenario and dataset names) is escaped: ``<``, ``>`` and
``&`` as HTML entities (a renderer shows them, never interprets them), ``|`` and ``\\`` with a
backslash (a cell stays one cell), and line breaks as spaces (a row stays one line).
"""

from __future__ import annotations

import re

from ssibench.leaderboard.cost_columns import FOOTNOTE as COST_FOOTNOTE
from ssibench.leaderboard.rank_intervals import FOOTNOTE as RANK_FOOTNOTE
from ssibench.leaderboard.run_curves import STABILITY_FOOTNOTE
from ssibench.leaderboard.selection_view import REGRET_FOOTNOTE, selection_line
from ssibench.leaderboard.statistics import ALPHA
from ssibench.leaderboard.tables import (
    ZERO_FILLED_FOOTNOTE,
    Table,
    hparams_cell,
    oracle_cells,
    rank_interval_cell,
    row_metric_cell,
    stability_cell,
    trial_cell,
)


def escape(text: str) -> str:
    """``text`` as literal Markdown inline text, safe inside a table cell."""
    text = text.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"\s*[\r\n]+\s*", " ", text).replace("|", "\\|")


def code(text: str) -> str:
    """``text`` as a code span (shown verbatim): fenced by more backticks than it holds in a row."""
    text = re.sub(r"[\r\n]+", " ", text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def to_markdown(tables: list[Table]) -> str:
    lines = ["# Leaderboard", ""]
    for table in tables:
        metric_names = table.metric_names
        columns = table.cost_columns
        name_device = len({column.device for column in columns}) > 1
        datasets = ", ".join(escape(name) for name in table.datasets)
        tuned = table.budget is not None
        lines += [f"## Scenario {code(table.scenario)} ({datasets})", "", selection_line(table.rule, table.budget), ""]
        header = [
            "#", "Loss", *map(escape, metric_names), "seeds", *(("trial", "hparams") if tuned else ()),
            "rank interval", "oracle PSNR", "regret (dB)",
            "stability (dB)", "vs best SSL (Wilcoxon, per-image PSNR)",
            *(escape(column.header(name_device)) for column in columns),
        ]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for rank, row in enumerate(table.rows, start=1):
            cells = [
                str(rank), escape(row.label),
                *(row_metric_cell(row, m) for m in metric_names),
                str(row.n_seeds), *((trial_cell(row), escape(hparams_cell(row))) if tuned else ()),
                rank_interval_cell(row), *oracle_cells(row), stability_cell(row), row.verdict_text(),
                *(escape(column.text(row.cost, row.n_seeds)) for column in columns),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        if table.not_run:
            lines += ["", "Not ranked:"]
            lines += [
                f"- {escape(entry.label)}: {escape(table.status_of(entry))} — {escape(entry.reason)}"
                for entry in table.not_run
            ]
        lines.append("")
    lines.append(f"Mean ± standard error over seeds; ties: p ≥ {ALPHA} in a two-sided Wilcoxon signed-rank test.")
    lines.append(RANK_FOOTNOTE)
    lines.append(REGRET_FOOTNOTE)
    lines.append(STABILITY_FOOTNOTE)
    lines.append(ZERO_FILLED_FOOTNOTE)
    lines.append(COST_FOOTNOTE)
    return "\n".join(lines) + "\n"
