"""Workarounds of DeepInverse 0.5 behaviours, in one place, each naming the behaviour it fixes.

They were written for the deepinv versions in ``WRITTEN_FOR`` (pyproject.toml pins the same
range); importing this module under another version warns, so whoever upgrades deepinv re-checks
each workaround here against the new version's code and drops those it no longer needs.
"""

from __future__ import annotations

import contextlib
import copy
import os
import types
import warnings
from collections.abc import Mapping

import deepinv as dinv
import torch
from deepinv.datasets import HDF5Dataset
from deepinv.physics import Physics
from packaging.specifiers import SpecifierSet
from torch.utils.data import Dataset

WRITTEN_FOR = SpecifierSet(">=0.5,<0.6")

if dinv.__version__ not in WRITTEN_FOR:
    warnings.warn(
        f"ssibench's deepinv workarounds (ssibench/compat/deepinv.py) were written for deepinv {WRITTEN_FOR}, "
        f"this is {dinv.__version__}: check each one against it",
        stacklevel=2,
    )


class PicklableHDF5Dataset(Dataset):
    """deepinv's :class:`~deepinv.datasets.HDF5Dataset`, opened once per process, on its first read.

    Behaviour fixed: deepinv 0.5's ``HDF5Dataset`` opens its h5py file in ``__init__`` and keeps it
    (and a lambda) on the object, so it cannot be pickled. DataLoader workers that are started by
    ``spawn`` or ``forkserver`` receive their dataset pickled (the default start method inside
    joblib's worker processes, and on Linux from Python 3.14): every such run failed with
    ``TypeError: h5py objects cannot be pickled``. A forked worker would instead share its
    parent's open HDF5 handle, which h5py does not support. Here the file is opened lazily in each
    process that reads it, and pickling leaves the open file behind.

    Behaviour fixed too: ``HDF5Dataset`` has no way to leave a file's ground truth unread. With
    ``ground_truth=False`` its ``x`` member is dropped as the file is opened, so ``x`` is never read
    and each item's ``x`` is NaN of the ground truth's shape (deepinv's convention for data without
    ground truth is a scalar NaN; the shape keeps batches of ``x`` collating and plotting as before).

    :param path: the HDF5 file, in deepinv's layout (``generate_dataset``).
    :param ground_truth: read the ground truth ``x`` (else NaN).
    :param kwargs: passed to ``HDF5Dataset`` (``split``, ``load_physics_generator_params``, ...).
    """

    def __init__(self, path: str | os.PathLike, ground_truth: bool = True, **kwargs):
        self.path, self.ground_truth, self.kwargs = str(path), ground_truth, kwargs
        dataset = HDF5Dataset(self.path, **self.kwargs)
        self._length = len(dataset)
        self._x_shape = tuple(dataset.x.shape[1:]) if hasattr(dataset, "x") else ()
        dataset.close()
        self._dataset, self._pid = None, None

    def without_ground_truth(self) -> PicklableHDF5Dataset:
        """The same items, their ``x`` never read from the file: NaN."""
        return PicklableHDF5Dataset(self.path, ground_truth=False, **self.kwargs)

    def _open(self) -> HDF5Dataset:
        if self._dataset is None or self._pid != os.getpid():
            self._dataset, self._pid = HDF5Dataset(self.path, **self.kwargs), os.getpid()
            if not self.ground_truth and hasattr(self._dataset, "x"):
                del self._dataset.x  # the file's x member, unread: HDF5Dataset then gives NaN
        return self._dataset

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int):
        item = self._open()[index]
        if self.ground_truth:
            return item
        return (torch.full(self._x_shape, float("nan")), *item[1:])

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_dataset": None, "_pid": None}


@contextlib.contextmanager
def quiet_missing_ground_truth():
    """Behaviour fixed: deepinv 0.5's ``Trainer.get_samples`` warns "x contains NaN or inf values"
    for a batch whose ground truth is NaN, which is deepinv's own convention for data without
    ground truth and what every self-supervised run of the benchmark trains on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="x contains NaN or inf values", category=UserWarning)
        yield


def record_single_generator_term(trainer, loss) -> None:
    """Behaviour fixed: deepinv 0.5's ``AdversarialTrainer.compute_loss`` updates the meters of the
    generator's loss terms only when there are several, so a single term stayed 0 in the curves
    (``metrics.csv``, W&B). Call after its training step with the step's total generator loss."""
    if len(trainer.losses) == 1:
        trainer.logs_losses_train[0].update(float(loss.detach()))


def clone_physics(physics: Physics) -> Physics:
    """What ``physics.clone()`` returns (a deep copy, its generators copies in the same state), in ~0.2 ms.

    Behaviour fixed: deepinv 0.5's ``Physics.clone`` finds the generators to copy by listing, with
    ``dir`` and ``inspect.getattr_static``, every attribute of every object it reaches, tensors
    included: 0.22 s a call for this benchmark's MRI operators on an idle 2-core CPU, longer than an
    ``mc`` training step, and the multi-operator losses clone the operator on every step. Here the generators are found
    through the instance dicts and containers that ``copy.deepcopy`` itself follows (from torch 2.4
    deepcopy also copies a generator it meets, so none can be left shared).
    """
    memo, pending, seen = {}, [physics], set()
    while pending:
        node = pending.pop()
        if id(node) in seen or isinstance(node, (torch.Tensor, type, types.ModuleType, types.FunctionType)):
            continue
        seen.add(id(node))
        if isinstance(node, torch.Generator):
            memo[id(node)] = torch.Generator(node.device)
            memo[id(node)].set_state(node.get_state())
        elif isinstance(node, Mapping):
            pending.extend(node.values())
        elif isinstance(node, (list, tuple, set, frozenset)):
            pending.extend(node)
        elif isinstance(node, types.MethodType):
            pending.append(node.__self__)
        elif hasattr(node, "__dict__"):
            pending.extend(vars(node).values())
    return copy.deepcopy(physics, memo)



class FastClone:
    """Mixed into an operator class: its ``clone`` is :func:`clone_physics` (the same copy as
    deepinv's ``Physics.clone``, ~1000 times sooner). Every loss that re-measures with a fresh
    operator clones the run's operator at every step (MOI, MO-EI, MOC-SSDU, the GAN losses, ...)."""

    def clone(self):
        return clone_physics(self)


class MRI(FastClone, dinv.physics.MRI):
    """deepinv's single-coil :class:`~deepinv.physics.MRI`, cloned by :func:`clone_physics`."""


class MultiCoilMRI(FastClone, dinv.physics.MultiCoilMRI):
    """deepinv's :class:`~deepinv.physics.MultiCoilMRI`, cloned by :func:`clone_physics`."""
