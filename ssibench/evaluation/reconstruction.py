"""The reconstruction of one fixed test slice, saved by every run for the leaderboard's figures.

``reconstruction.pt`` in a run's folder is a ``torch.save`` of a dict: ``index`` (the test image),
``ground_truth``, ``zero_filled`` (Aᴴy) and ``reconstruction`` as (H, W) float32 magnitude images
on the CPU, and ``metrics`` with the run's metrics of both (``{"reconstruction": {"PSNR": ...},
"zero_filled": {...}}``). The ground truth is read only here, after training, for the figure.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from deepinv.utils.signals import complex_abs
from torch.utils.data import DataLoader, Dataset, Subset

from ssibench.errors import InputError


def figure_index(index: int | None, n_test: int) -> int:
    """The test image of the figure: ``index``, or the middle one when ``None``."""
    if index is None:
        return n_test // 2
    if not 0 <= index < n_test:
        raise InputError(
            f"figure_slice={index} but the test set has {n_test} images: choose 0..{n_test - 1} or null (the middle one)"
        )
    return index


def _magnitude(x: torch.Tensor) -> torch.Tensor:
    return complex_abs(x, keepdim=False)[0].detach().float().cpu()


def save_reconstruction(
    trainer, test_data: Dataset, index: int, metric_names: list[str], path: str | os.PathLike
) -> dict:
    """Reconstruct test image ``index`` with the trained model and save it with its ground truth and Aᴴy.

    The sample goes through the Trainer's own path (its physics parameters set as in testing; the
    model in eval mode, without gradients), so the image is the one the test metrics scored.
    With no loss (nothing learned) the reconstruction is Aᴴy, as in results.json.
    """
    loader = DataLoader(Subset(test_data, [index]), batch_size=1)
    x, y, physics = trainer.get_samples_offline([iter(loader)], 0)
    with torch.no_grad():
        zero_filled = trainer.no_learning_inference(y, physics)
        x_net = trainer.model_inference(y, physics, x=x, train=False) if trainer.losses else zero_filled
        metrics = {
            label: {
                name: float(metric(x_net=estimate, x=x).item()) for name, metric in zip(metric_names, trainer.metrics)
            }
            for label, estimate in (("reconstruction", x_net), ("zero_filled", zero_filled))
        }
    saved = {
        "index": index,
        "ground_truth": _magnitude(x),
        "zero_filled": _magnitude(zero_filled),
        "reconstruction": _magnitude(x_net),
        "metrics": metrics,
    }
    torch.save(saved, Path(path))
    return saved


def load_reconstruction(path: str | os.PathLike) -> dict:
    return torch.load(Path(path), map_location="cpu", weights_only=True)
