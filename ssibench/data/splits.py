"""Train/test splits of an image dataset, as `split=` choices, and the validation part of the training set.

A split returns ``(train, test)``; its ``train`` is :class:`TrainingImages`, which also says which of
its images are held out for validation (``split.val_fraction``). They are held out *after* the
measurements are simulated (:mod:`ssibench.data.pipeline`), so the masks and noise of every image are
drawn in the same order whatever the fraction: the test set and every remaining training
measurement are the same as without a validation set.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, Subset

from ssibench.errors import InputError


class TrainingImages(Subset):
    """The training images of a split; ``validation``: the positions (in this subset) held out for validation."""

    def __init__(self, dataset: Dataset, indices: list[int], validation: list[int]):
        super().__init__(dataset, indices)
        self.validation = validation


def _limit(indices: list[int], max_n: int | None) -> list[int]:
    return indices if max_n is None else indices[:max_n]


def _check_val_fraction(val_fraction: float) -> None:
    if not 0 <= val_fraction < 1:
        raise InputError(f"split.val_fraction must be in [0, 1), got {val_fraction}")


def _checked(train: list[int], validation: list[int], val_fraction: float) -> list[int]:
    """``validation`` sorted, when it leaves training images (at least one image held out when asked)."""
    if val_fraction > 0 and not validation:
        validation = [len(train) - 1]
    if len(validation) >= len(train):
        raise InputError(
            f"split.val_fraction={val_fraction} holds out {len(validation)} of {len(train)} training images, "
            "leaving none to train on: lower it, or give more training images"
        )
    return sorted(validation)


def slab_validation(indices: list[int], val_fraction: float) -> list[int]:
    """The last ``val_fraction`` of each training slab (a run of consecutive images), as positions in
    ``indices``: validation images neighbour training images, as they come from the same anatomy,
    and the test slabs keep their gap to both."""
    _check_val_fraction(val_fraction)
    runs, start = [], 0
    for k in range(1, len(indices) + 1):
        if k == len(indices) or indices[k] != indices[k - 1] + 1:
            runs.append((start, k))
            start = k
    held = [k for a, b in runs for k in range(b - round((b - a) * val_fraction), b)]
    return _checked(indices, held, val_fraction)


def slab_split(
    dataset: Dataset,
    test_fraction: float = 0.2,
    n_slabs: int = 5,
    gap: int = 2,
    max_train: int | None = None,
    max_test: int | None = None,
    val_fraction: float = 0.0,
) -> tuple[TrainingImages, Subset]:
    """Split an ordered stack of slices into contiguous slabs with a gap between train and test.

    The stack is cut into ``n_slabs`` equal blocks; the last ``test_fraction`` of each block is test,
    and ``gap`` slices on each side of every test slab are dropped, so no test slice is a neighbour
    of a training slice while the test set still covers the whole anatomy. The last ``val_fraction``
    of each training slab is held out for validation (:func:`slab_validation`).
    """
    _check_val_fraction(val_fraction)
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
    train = _limit(train, max_train)
    return TrainingImages(dataset, train, slab_validation(train, val_fraction)), Subset(dataset, _limit(test, max_test))


def random_split(
    dataset: Dataset,
    test_fraction: float = 0.2,
    seed: int = 0,
    max_train: int | None = None,
    max_test: int | None = None,
    val_fraction: float = 0.0,
) -> tuple[TrainingImages, Subset]:
    """A random split with its own fixed generator (the paper's 0.8/0.2 split of fastMRI); a random
    ``val_fraction`` of the training images, drawn from the split's ``seed`` too, is held out for validation."""
    _check_val_fraction(val_fraction)
    if not 0 < test_fraction < 1:
        raise InputError(f"split.test_fraction must be in (0, 1), got {test_fraction}")
    train, test = torch.utils.data.random_split(
        dataset, (1 - test_fraction, test_fraction), generator=torch.Generator().manual_seed(seed)
    )
    if not len(train) or not len(test):
        raise InputError(f"random_split of {len(dataset)} images left an empty train or test set: give more images")
    train = _limit(list(train.indices), max_train)
    # its own generator: the train/test split is the one drawn without a validation set
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed + 1)).tolist()
    validation = _checked(train, order[: round(len(train) * val_fraction)], val_fraction)
    return TrainingImages(dataset, train, validation), Subset(dataset, _limit(list(test.indices), max_test))
