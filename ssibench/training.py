"""The deepinv Trainer, wired for benchmark runs."""

from __future__ import annotations

import os
from pathlib import Path

import deepinv as dinv
import torch

from ssibench.precision import AdversarialPrecisionMixin, PrecisionMixin


class _FixedFolder:
    """Checkpoint into one fixed folder of the run.

    deepinv 0.5 creates a new timestamped sub-folder (with ``exist_ok=False``) at every
    ``setup_train``, i.e. at ``train()`` and again at ``test()``: two jobs starting in the same
    second crash, and one run scatters its files. Here ``save_path`` is used as given.
    """

    def setup_train(self, train: bool = True, **kwargs):
        folder = self.save_path
        self.save_path = None  # skip the timestamped folder
        super().setup_train(train=train, **kwargs)
        self.save_path = folder
        if folder is not None:
            os.makedirs(folder, exist_ok=True)


class BenchmarkTrainer(_FixedFolder, PrecisionMixin, dinv.Trainer):
    """deepinv's :class:`~deepinv.Trainer`, checkpointing into the run's folder, with the
    networks' ``precision`` and ``compile`` (:mod:`ssibench.precision`)."""


class AdversarialBenchmarkTrainer(_FixedFolder, AdversarialPrecisionMixin, dinv.training.AdversarialTrainer):
    """deepinv's :class:`~deepinv.training.AdversarialTrainer`, checkpointing into the run's folder,
    and restoring the discriminator from ``ckpt_pretrained`` (deepinv 0.5 forgets the path before
    it gets to it, so the discriminator restarted from scratch)."""

    def setup_train(self, train: bool = True, **kwargs):
        ckpt = self.ckpt_pretrained
        super().setup_train(train=train, **kwargs)
        if ckpt is not None:
            state = torch.load(ckpt, map_location=self.device, weights_only=True)
            self.D.load_state_dict(state["state_dict_D"])


def checkpoint_dir(output_dir: str | os.PathLike) -> Path:
    """Where a run's checkpoints go (``ckp_<epoch>.pth.tar``, ``ckp_best.pth.tar``)."""
    return Path(output_dir) / "checkpoints"


def seed_random_generators(modules: list[torch.nn.Module], seed: int) -> int:
    """Seed the ``torch.Generator`` of every component inside ``modules`` from the run's seed.

    Losses hold their own generators (split masks, fresh acquisition masks, transforms), created
    with a fixed default seed: without this, a seed sweep would vary the weights and the data but
    replay the same loss randomness. Each generator gets its own stream and keeps its device.

    :return: the number of generators seeded.
    """
    count = 0
    for module in modules:
        for part in module.modules():
            rng = getattr(part, "rng", None)
            if isinstance(rng, torch.Generator):
                rng.manual_seed(seed * 10_007 + count)
                count += 1
    return count
