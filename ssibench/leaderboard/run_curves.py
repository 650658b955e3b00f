"""A run's curves as the leaderboard reads them (``metrics.csv``, written by :mod:`ssibench.training.metrics_csv`),
and the stability of its final number.

``metrics.csv`` has one row per epoch, numbered from 0 as the trainer counts, with a ``train/<term>``
column per loss term, ``val/...`` columns, and a ``test/<metric>`` column per test metric (empty in an
epoch that was not evaluated). The figures number epochs from 1, as the run's log does.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

STABILITY_EPOCHS = 5  # the last evaluated epochs whose test PSNR spread is the stability
STABILITY_FOOTNOTE = (
    f"Stability (dB): the standard deviation of each run's test PSNR over its last {STABILITY_EPOCHS} evaluated "
    "epochs (metrics.csv), mean over seeds; a large value means the final-epoch PSNR is one draw from a curve that "
    "still swings by that much. —: no curves (nothing trained, e.g. zero-filled) or fewer than 2 evaluated epochs."
)


def read_curves(path: Path, metric: str) -> tuple[dict[int, float], dict[int, float]]:
    """(test ``metric``, training loss = the sum of its terms) per epoch (from 0), from a run's metrics.csv."""
    tested, loss = {}, {}
    with open(path, newline="") as f:
        for line in csv.DictReader(f):
            epoch = int(line["epoch"])
            if line.get(f"test/{metric}"):
                tested[epoch] = float(line[f"test/{metric}"])
            terms = [float(v) for k, v in line.items() if k.startswith("train/") and v]
            if terms:
                loss[epoch] = sum(terms)
    return tested, loss


def stability(path: Path, metric: str = "PSNR") -> float | None:
    """The std (over epochs, ddof=1) of the test ``metric`` over the last :data:`STABILITY_EPOCHS`
    evaluated epochs of ``path`` (a metrics.csv); None for fewer than 2 evaluated epochs."""
    tested, _ = read_curves(path, metric)
    last = [tested[epoch] for epoch in sorted(tested)[-STABILITY_EPOCHS:]]
    return float(np.std(last, ddof=1)) if len(last) >= 2 else None
