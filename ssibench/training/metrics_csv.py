"""A run's curves: per-epoch training losses, validation scores and test metrics (``metrics.csv``), with or without W&B.

Columns: ``epoch`` (from 0, as results.json's ``selection.<rule>.epoch``), ``train/<loss term>``,
``val/kspace`` and ``val/<metric>`` (the validation scores the selection rules read) and
``test/<metric>`` (shown, never used to choose); a score is empty in an epoch that was not evaluated.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ssibench.atomic_files import atomic_path


def write_curves(trainer, path: Path) -> None:
    """The trainer's loss histories and scores, one row per epoch since ``trainer.history_start``
    (a resumed run's histories come from its checkpoints, so its curves are whole)."""
    epochs = list(range(trainer.history_start, trainer.epochs))
    columns: dict[str, dict[int, float]] = {}
    for name, history in trainer.loss_history.items():
        columns[f"train/{name}"] = dict(zip(epochs, history))
    for kind in ("val", "test"):
        columns |= {column: values for column, values in trainer.scores.items() if column.startswith(f"{kind}/")}
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["epoch", *columns])
        for epoch in epochs:
            out.writerow([epoch, *(column.get(epoch, "") for column in columns.values())])
