"""Measurements you already have, used as they are instead of simulated from images.

A dataset config marked ``measurements: true`` gives items ``(x, y, params)``: ``y`` the measured
k-space, ``params`` the physics parameters of each measurement (its mask) and ``x`` the ground
truth, or NaN where there is none (deepinv's convention, as in the original benchmark's custom-dataset
section). Without ground truth every self-supervised loss still trains, and the metrics, which
compare with it, are not computed.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import torch

from ssibench.compat.deepinv import PicklableHDF5Dataset
from ssibench.errors import InputError


def hdf5_measurements(path: str | os.PathLike) -> tuple[PicklableHDF5Dataset, PicklableHDF5Dataset]:
    """The train and test splits of an HDF5 file in deepinv's ``HDF5Dataset`` layout, as
    ``deepinv.datasets.generate_dataset`` writes it: ``y_train``, ``y_test``, per-measurement
    parameters (``mask_train``, ``mask_test``) and, optionally, ground truth ``x_train``, ``x_test``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: set dataset.path to your HDF5 file of measurements")
    with h5py.File(path, "r") as f:
        missing = [name for name in ("y_train", "y_test") if name not in f]
    if missing:
        raise InputError(
            f"{path} has no {' or '.join(missing)}: measurements must be in deepinv's HDF5Dataset layout "
            "(y_train, y_test, their parameters e.g. mask_train, mask_test, optional x_train, x_test)"
        )
    return (
        PicklableHDF5Dataset(path, split="train", load_physics_generator_params=True),
        PicklableHDF5Dataset(path, split="test", load_physics_generator_params=True),
    )


def _has_ground_truth(item) -> bool:
    return not torch.isnan(torch.as_tensor(item[0])).all().item()


def has_ground_truth(dataset, what: str = "test") -> bool:
    """Whether the items of ``dataset`` (the ``what`` set) come with ground truth: all of them or none.

    :raises InputError: when only some do (metrics are computed on all images of a set or on none).
    """
    flags = [_has_ground_truth(item) for item in dataset]
    if any(flags) and not all(flags):
        raise InputError(
            f"{flags.count(False)} of {len(flags)} {what} measurements have no ground truth: "
            f"give ground truth for all {what} images (metrics) or for none (no metrics)"
        )
    return all(flags)


def check_measurements(dataset, physics, img_size: int, scenario: str, device: str | torch.device = "cpu") -> None:
    """Refuse measurements the scenario's operator cannot have made (one line saying what to change)."""
    item = dataset[0]
    if not isinstance(item, (tuple, list)) or len(item) != 3 or not item[2]:
        raise InputError(
            "measurement items must be (x, y, params) with params the physics parameters of y (e.g. its mask): "
            "x is NaN without ground truth"
        )
    x, y, params = item
    physics.update(**{name: torch.as_tensor(value, device=device)[None] for name, value in params.items()})
    expected = tuple(physics.A(torch.zeros(1, 2, img_size, img_size, device=device)).shape[1:])
    if tuple(y.shape) != expected:
        raise InputError(
            f"measurements are {tuple(y.shape)} but physics={scenario} at img_size={img_size} makes {expected}: "
            "choose the scenario and img_size that made them"
        )
    if _has_ground_truth(item) and tuple(x.shape) != (2, img_size, img_size):
        raise InputError(f"ground truth images are {tuple(x.shape)}, expected {(2, img_size, img_size)} (real, imaginary, H, W)")
