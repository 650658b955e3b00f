"""The training data of a self-supervised run: its measurements, with no ground truth in them.

A run whose loss does not say ``supervised: true`` trains on items ``(x, y, params)`` whose ``x`` is
NaN, deepinv's convention for data without ground truth (:mod:`ssibench.data.given_measurements`). Simulated
measurements are read from their cache without its ``x`` member, so no training batch, loader,
resident copy or the discriminator's real-sample stream holds the training ground truth; the loss
contract (:mod:`ssibench.losses.contract`) still names a loss that reads ``x``. Test data keep theirs,
for scoring.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ssibench.compat.deepinv import PicklableHDF5Dataset


def without_ground_truth(dataset: Dataset) -> Dataset:
    """``dataset``'s items with ``x`` NaN: an HDF5 cache reopened without reading ``x``, else
    :class:`NaNGroundTruth` over it (measurements of one's own, ``dataset.measurements: true``)."""
    if isinstance(dataset, PicklableHDF5Dataset):
        return dataset.without_ground_truth()
    return NaNGroundTruth(dataset)


class NaNGroundTruth(Dataset):
    """Items ``(x, y, params)`` of ``dataset`` with ``x`` replaced by NaN of its shape, as they are read."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        x, *rest = self.dataset[index]
        return (torch.full_like(torch.as_tensor(x), float("nan")), *rest)
