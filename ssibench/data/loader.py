"""DataLoader settings by device: keep data loading off the training's critical path."""

from __future__ import annotations

import os

import torch
from omegaconf import DictConfig

from ssibench.config_checks import InputError

# CUDA: up to 4 workers fill batches while the GPU trains.
_CUDA_WORKERS = 4


def loader_options(trainer: DictConfig) -> dict:
    """``num_workers``, ``pin_memory`` and ``persistent_workers`` for the run's DataLoaders.

    ``auto`` chooses by device: on the CPU no workers (they would compete with the training for the
    same cores; loading a batch from the HDF5 cache costs ~1% of a step there), on CUDA workers and
    pinned memory for asynchronous copies; workers persist across epochs when there are any.
    """
    cuda = torch.device(trainer.device).type == "cuda"
    workers = trainer.num_workers
    if workers == "auto":
        workers = min(_CUDA_WORKERS, os.cpu_count() or 1) if cuda else 0
    if not isinstance(workers, int) or workers < 0:
        raise InputError(f"trainer.num_workers={workers}: use auto or a number >= 0")
    pin_memory = cuda if trainer.pin_memory == "auto" else bool(trainer.pin_memory)
    persistent = workers > 0 if trainer.persistent_workers == "auto" else bool(trainer.persistent_workers)
    if persistent and workers == 0:
        raise InputError("trainer.persistent_workers=true needs trainer.num_workers > 0")
    return {"num_workers": workers, "pin_memory": pin_memory, "persistent_workers": persistent}
