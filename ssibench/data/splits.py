"""Train/test splits of an image dataset, as `split=` choices."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, Subset

from ssibench.errors import InputError


def _limit(indices: list[int], max_n: int | None) -> list[int]:
    return indices if max_n is None else indices[:max_n]


def slab_split(
    dataset: Dataset,
    test_fraction: float = 0.2,
    n_slabs: int = 5,
    gap: int = 2,
    max_train: int | None = None,
    max_test: int | None = None,
) -> tuple[Subset, Subset]:
    """Split an ordered stack of slices into contiguous slabs with a gap between train and test.

    The stack is cut into ``n_slabs`` equal blocks; the last ``test_fraction`` of each block is test,
    and ``gap`` slices on each side of every test slab are dropped, so no test slice is a neighbour
    of a training slice while the test set still covers the whole anatomy.
    """
    if not 0 < test_fraction < 1:
        raise InputError(f"split.test_fraction must be in (0, 1), got {test_fraction}")
    n = len(dataset)
    bounds = [round(k * n / n_slabs) for k in range(n_slabs + 1)]
    train, test = [], []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        n_test = max(1, round((stop - start) * test_fraction))
        test_start = stop - n_test
        test += range(test_start, stop)
        train += range(start, test_start)
    blocked = set()
    for t in test:
        blocked.update(range(t - gap, t + gap + 1))
    train = [i for i in train if i not in blocked]
    if not train or not test:
        raise InputError(f"slab_split of {n} images left an empty train or test set: use fewer slabs or a smaller gap")
    return Subset(dataset, _limit(train, max_train)), Subset(dataset, _limit(test, max_test))


def random_split(
    dataset: Dataset,
    test_fraction: float = 0.2,
    seed: int = 0,
    max_train: int | None = None,
    max_test: int | None = None,
) -> tuple[Subset, Subset]:
    """A random split with its own fixed generator (the paper's 0.8/0.2 split of fastMRI)."""
    if not 0 < test_fraction < 1:
        raise InputError(f"split.test_fraction must be in (0, 1), got {test_fraction}")
    train, test = torch.utils.data.random_split(
        dataset, (1 - test_fraction, test_fraction), generator=torch.Generator().manual_seed(seed)
    )
    if not len(train) or not len(test):
        raise InputError(f"random_split of {len(dataset)} images left an empty train or test set: give more images")
    return (
        Subset(dataset, _limit(list(train.indices), max_train)),
        Subset(dataset, _limit(list(test.indices), max_test)),
    )
