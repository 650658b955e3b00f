"""Parts that misbehave on purpose, plugged in by `_target_`: a dataset of the wrong type, a loss that
diverges, losses that read the ground truth, and losses that break the loss contract."""

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


def _mc(x_net, y, physics):
    return (physics.A(x_net) - y).abs().pow(2).flatten(1).mean(1)


# Every way a loss might read the ground truth x, by name (ReadsGroundTruth's `read`).
GROUND_TRUTH_READS = {
    "arithmetic": lambda x_net, x: (x_net - x).pow(2).flatten(1).mean(1),
    "reflected arithmetic": lambda x_net, x: (x - x_net).pow(2).flatten(1).mean(1),
    "shape": lambda x_net, x: x_net.new_zeros(x.shape[0]),
    "attribute": lambda x_net, x: x_net.new_zeros(len(x_net)) * x.max(),
    "indexing": lambda x_net, x: (x_net[0] - x[0]).abs().mean().expand(len(x_net)),
    "torch function": lambda x_net, x: torch.nn.functional.mse_loss(x_net, x).expand(len(x_net)),
    "torch.mean": lambda x_net, x: x_net.new_zeros(len(x_net)) + torch.mean(x),
    "in a list": lambda x_net, x: torch.stack([x_net, x]).diff(dim=0).abs().flatten(1).mean(1),
    "to": lambda x_net, x: (x_net - x.to(x_net)).abs().flatten(1).mean(1),
    "comparison": lambda x_net, x: (x_net * (x > 0.5)).flatten(1).mean(1),
    "len": lambda x_net, x: x_net.new_zeros(len(x)),
    "iteration": lambda x_net, x: torch.stack([(a - b).abs().mean() for a, b in zip(x_net, x)]),
    "bool": lambda x_net, x: x_net.new_zeros(len(x_net)) if x else x_net.new_ones(len(x_net)),
    "float": lambda x_net, x: x_net.new_zeros(len(x_net)) + float(x),
    "caught": lambda x_net, x: _swallowing(x_net, x),
}


def _swallowing(x_net, x):
    try:
        return x_net.new_zeros(len(x_net)) + x.sum()
    except Exception:  # a loss that catches the refusal and goes on without x
        return x_net.new_zeros(len(x_net))


class ReadsGroundTruth(Loss):
    """‖A x̂ − y‖² plus a read of the ground truth x (one of ``GROUND_TRUTH_READS``): a
    self-supervised loss that cheats. In a loss saying ``supervised: true`` it is allowed."""

    def __init__(self, read: str = "arithmetic"):
        super().__init__()
        self.read = GROUND_TRUTH_READS[read]

    def forward(self, x_net, y, physics, x=None, **kwargs):
        return _mc(x_net, y, physics) + 0 * self.read(x_net, x)


class OwnCallMSE(Loss):
    """A supervised MSE written with its own ``__call__`` (a common habit, e.g. to add a decorator):
    deepinv's trainer calls it, and its ``forward`` is never entered."""

    def __call__(self, x_net, x=None, **kwargs):
        return (x_net - x).pow(2).flatten(1).mean(1)


class WithoutKwargs(Loss):
    """A loss whose forward takes no ``**kwargs``: the trainer's other keywords do not fit it."""

    def forward(self, x_net, y, physics):
        return _mc(x_net, y, physics)


class ReturnsFloat(Loss):
    """A loss that returns a Python float instead of a tensor."""

    def forward(self, x_net, y, physics, **kwargs):
        return float(_mc(x_net, y, physics).mean())


class ReturnsPixelMap(Loss):
    """A loss that returns one value per pixel instead of one per image."""

    def forward(self, x_net, y, physics, **kwargs):
        return (physics.A(x_net) - y).abs().pow(2)


class RecordsKeywords(Loss):
    """‖A x̂ − y‖², remembering the keywords the trainer called it with."""

    def __init__(self):
        super().__init__()
        self.keywords: set[str] = set()

    def forward(self, x_net, y, physics, **kwargs):
        self.keywords |= {"x_net", "y", "physics", *kwargs}
        return _mc(x_net, y, physics)
