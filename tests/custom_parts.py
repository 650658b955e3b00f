"""Parts defined outside the package, plugged in by `_target_` only: a model, datasets, a loss."""

from __future__ import annotations

import torch
from deepinv.loss import Loss
from deepinv.models import Reconstructor
from torch.utils.data import Dataset


class TinyResidualNet(Reconstructor):
    """x̂ = Aᴴy + CNN(Aᴴy): the smallest learned reconstructor that still uses the physics."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(2, channels, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(channels, 2, 3, padding=1),
        )

    def forward(self, y, physics, **kwargs):
        x0 = physics.A_adjoint(y)
        return x0 + self.net(x0)


class EllipsePhantoms(Dataset):
    """Deterministic random ellipses as (2, H, W) complex images with zero imaginary part."""

    def __init__(self, n: int = 24, img_size: int = 32):
        g = torch.Generator().manual_seed(0)
        grid = torch.linspace(-1, 1, img_size)
        yy, xx = torch.meshgrid(grid, grid, indexing="ij")
        images = []
        for _ in range(n):
            cx, cy, a, b = (torch.rand(4, generator=g) * torch.tensor([0.6, 0.6, 0.5, 0.5]) + torch.tensor([-0.3, -0.3, 0.3, 0.3]))
            images.append((((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2 <= 1).float())
        self.x = torch.stack(images)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return torch.stack([self.x[i], torch.zeros_like(self.x[i])])


class ComplexEllipses(EllipsePhantoms):
    """A wrong dataset: complex (H, W) images instead of (2, H, W) real ones."""

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
