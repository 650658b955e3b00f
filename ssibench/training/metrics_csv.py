"""A run's curves: per-epoch training losses and test metrics (``metrics.csv``), with or without W&B."""

from __future__ import annotations

import csv
from pathlib import Path

from ssibench.atomic_files import atomic_path


def write_curves(trainer, metric_names: list[str], path: Path) -> None:
    """The trainer's loss and test-metric histories, one row per epoch since ``trainer.history_start``
    (a resumed run's histories come from its checkpoints, so its curves are whole)."""
    epochs = list(range(trainer.history_start, trainer.epochs))
    evaluated = [e for e in epochs if e % trainer.eval_interval == 0 or e + 1 == trainer.epochs]
    columns: dict[str, dict[int, float]] = {}
    for name, history in trainer.loss_history.items():
        columns[f"train/{name}"] = dict(zip(epochs, history))
    classes = {type(metric).__name__: name for metric, name in zip(trainer.metrics, metric_names)}
    for class_name, history in trainer.eval_metrics_history.items():
        columns[f"eval/{classes.get(class_name, class_name)}"] = dict(zip(evaluated, history))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["epoch", *columns])
        for epoch in epochs:
            out.writerow([epoch, *(column.get(epoch, "") for column in columns.values())])
