"""DataLoader settings by device: keep data loading off the training's critical path."""

from __future__ import annotations

import multiprocessing
import os
import sys

import torch
from omegaconf import DictConfig

from ssibench.errors import InputError

# CUDA: up to 4 workers fill batches while the GPU trains.
_CUDA_WORKERS = 4
# How workers start, unless trainer.worker_start_method says. Never the process's ambient method: inside
# joblib's worker processes it is loky's, which cannot start them ("'Process' object has no attribute
# 'env'"), and spawn or forkserver children there fail too (they are told to start by 'loky'). On Linux,
# fork: workers inherit the imported modules instead of importing torch and deepinv again (what
# DataLoader did by default before Python 3.14); elsewhere spawn, the platform's own default.
_AUTO_START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"


def loader_options(trainer: DictConfig) -> dict:
    """``num_workers``, ``pin_memory``, ``persistent_workers`` and how workers start, for the run's DataLoaders.

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
    options = {"num_workers": workers, "pin_memory": pin_memory, "persistent_workers": persistent}
    if workers > 0:
        options["multiprocessing_context"] = _start_method(trainer.worker_start_method)
    return options


def _start_method(choice: str) -> str:
    if choice == "auto":
        return _AUTO_START_METHOD
    available = multiprocessing.get_all_start_methods()
    if choice not in available:
        raise InputError(f"trainer.worker_start_method={choice}: use auto or one of {', '.join(available)}")
    return choice
