"""Parts that misbehave on purpose, plugged in by `_target_`: a dataset of the wrong type and a loss that diverges."""

from __future__ import annotations

import torch
from deepinv.loss import Loss
from torch.utils.data import Dataset


class ComplexImages(Dataset):
    """A wrong dataset: complex (H, W) images instead of (2, H, W) real ones."""

    def __init__(self, n: int = 24, img_size: int = 32):
        self.x = torch.rand(n, img_size, img_size, generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return torch.complex(self.x[i], torch.zeros_like(self.x[i]))


class NonFiniteFromEpoch(Loss):
    """‖A x̂ − y‖², and NaN from ``epoch`` on: a training run that diverges, on cue."""

    def __init__(self, epoch: int = 1):
        super().__init__()
        self.epoch = epoch

    def forward(self, x_net, y, physics, epoch=None, **kwargs):
        loss = (physics.A(x_net) - y).abs().pow(2).flatten(1).mean(1)
        return loss * float("nan") if epoch is not None and epoch >= self.epoch else loss
