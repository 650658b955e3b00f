"""The deepinv Trainer, wired for benchmark runs."""

from __future__ import annotations

import os
from pathlib import Path

import deepinv as dinv


class BenchmarkTrainer(dinv.Trainer):
    """deepinv's :class:`~deepinv.Trainer`, checkpointing into one fixed folder of the run.

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


def checkpoint_dir(output_dir: str | os.PathLike) -> Path:
    """Where a run's checkpoints go (``ckp_<epoch>.pth.tar``, ``ckp_best.pth.tar``)."""
    return Path(output_dir) / "checkpoints"
