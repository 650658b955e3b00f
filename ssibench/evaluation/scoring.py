"""Scoring a trained (or loaded) model on the test set: per-image metrics of it and of Aᴴy, and the saved slice."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import DataLoader

from ssibench.data.pipeline import Measurements
from ssibench.evaluation.reconstruction import save_reconstruction
from ssibench.parts.assembly import Parts


def evaluate(
    trainer, parts: Parts, data: Measurements, test_loader: DataLoader, figure_slice: int, reconstruction: Path
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per-image test metrics of the model and of the zero-filled reconstruction Aᴴy (by metric name),
    and the reconstruction of test image ``figure_slice`` saved to ``reconstruction``.

    The random streams are seeded first, so evaluation draws (e.g. Noise2Inverse's splits) are the
    same whether the model was just trained or loaded from a checkpoint. With no loss (nothing
    learned) the model's scores are the zero-filled ones.
    """
    parts.streams.seed()
    trainer.test(test_loader, compare_no_learning=True)
    names = list(parts.metrics)
    save_reconstruction(trainer, data.test, figure_slice, names, reconstruction)
    per_image = {name: list(trainer.logs_metrics_eval[k].vals) for k, name in enumerate(names)}
    zero_filled = {name: list(trainer.logs_metrics_no_learning[k].vals) for k, name in enumerate(names)}
    return (zero_filled if not parts.losses else per_image), zero_filled
