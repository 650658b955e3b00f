"""Measurements held on the training device and batched by index: no loader, no copies per step.

A run's simulated measurements are small next to the memory of the machine that trains on them
(the default 107 + 27 slices at 64×64 take a few MB; fastMRI's ~1,000 middle slices at 320×320
about 1.6 GB). Loaded once, they are batched by slicing, in the order a shuffled DataLoader with
the same generator would give, so a run's numbers do not depend on the path its data takes.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import Dataset, default_collate

from ssibench.cluster.job_resources import usable_memory
from ssibench.errors import InputError

# auto: resident when the measurements take at most this fraction of the memory the job may use.
_BUDGET_FRACTION = 0.25


class ResidentBatches:
    """A split's items ``(x, y, params)`` stacked on ``device``, served in batches like a DataLoader
    (deepinv's Trainer iterates it, asks its ``len`` and ``drop_last``).

    With ``shuffle``, each pass draws from ``generator`` exactly what
    ``DataLoader(shuffle=True, generator=generator)`` draws (a seed for its workers, the order, and
    the permutation its sampler draws to find that the pass has ended), so the batches, and the
    generator's state after each pass, are the same.
    """

    drop_last = False

    def __init__(self, dataset: Dataset, batch_size: int, device, shuffle: bool = False, generator=None):
        self.dataset, self.batch_size, self.shuffle, self.generator = dataset, batch_size, shuffle, generator
        items = default_collate([dataset[i] for i in range(len(dataset))])
        self.items = _to(items, torch.device(device))

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            torch.empty((), dtype=torch.int64).random_(generator=self.generator)  # the DataLoader's worker seed
            order = torch.randperm(n, generator=self.generator)
        else:
            order = torch.arange(n)
        for start in range(0, n, self.batch_size):
            if self.shuffle and start + self.batch_size > n:
                self._end_of_pass()  # a partial last batch: the loader's sampler ends before it
            yield _take(self.items, order[start : start + self.batch_size])
        if self.shuffle and n % self.batch_size == 0:
            self._end_of_pass()  # asked past a full last batch

    def _end_of_pass(self) -> None:
        """RandomSampler finds its end by drawing the (empty) rest of a new permutation."""
        torch.randperm(len(self.dataset), generator=self.generator)


def _to(value, device):
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {key: _to(v, device) for key, v in value.items()}
    return type(value)(_to(v, device) for v in value)


def _take(value, index):
    if isinstance(value, torch.Tensor):
        return value[index.to(value.device)]
    if isinstance(value, dict):
        return {key: _take(v, index) for key, v in value.items()}
    return type(value)(_take(v, index) for v in value)


def _nbytes(value) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    return sum(_nbytes(v) for v in value)


def resident(setting, datasets: list[Dataset], device) -> bool:
    """``trainer.resident_data``: true, false, or auto (when the datasets fit in a quarter of the
    memory ``device`` has for this job: the GPU's free memory, or for the CPU the RAM the job may use,
    :func:`ssibench.cluster.job_resources.usable_memory`)."""
    if setting in (True, False):
        return setting
    if setting != "auto":
        raise InputError(f"trainer.resident_data={setting}: use auto, true or false")
    needed = sum(_nbytes(dataset[0]) * len(dataset) for dataset in datasets if len(dataset))
    return needed <= _BUDGET_FRACTION * usable_device_memory(torch.device(device))


def usable_device_memory(device: torch.device) -> int:
    """The memory of `device` this job may use: the GPU's free memory, or the RAM it may use."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return usable_memory()
