"""A run's data, top to bottom: images -> split -> checks -> measurements (simulated once, cached) -> loaders.

:func:`measurements` gives the train and test measurements of a run and the operator that made
them; :func:`loaders` batches them for training and testing. Items are ``(x, y, params)``: ``params``
holds each measurement's physics parameters (its mask), ``x`` the ground truth (NaN without).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from deepinv.physics import Physics
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset, Subset

from ssibench.compat.deepinv import PicklableHDF5Dataset
from ssibench.config.context import RunContext
from ssibench.data.given_measurements import check_measurements, has_ground_truth
from ssibench.data.ground_truth import without_ground_truth
from ssibench.data.loader import loader_options
from ssibench.data.measurement_cache import cache_key, cache_path, load_operator, simulate_measurements
from ssibench.data.resident import ResidentBatches, resident
from ssibench.data.splits import slab_validation
from ssibench.data.test_set_identity import fingerprint, signature
from ssibench.errors import InputError
from ssibench.folders import DataDir
from ssibench.parts.scenarios import build_scenario
from ssibench.training.progress import progress_bars
from ssibench.training.random_streams import RandomStreams


@dataclass(frozen=True)
class Measurements:
    """The measurements a run trains and tests on.

    :param train: training items ``(x, y, params)``; ``x`` NaN unless the loss is supervised
        (:mod:`ssibench.data.ground_truth`).
    :param test: test items.
    :param physics: the operator that made them (its fixed mask and coil maps), on the training device.
    :param ground_truth: whether the test items have ground truth (else no metric can be computed).
    :param test_set: the test items' fingerprint, bit for bit, for comparing runs (:mod:`ssibench.data.test_set_identity`).
    :param test_signature: their signature, the same on CPUs that round differently.
    :param validation: the training measurements held out for validation (``split.val_fraction``),
        with their ground truth; ``None`` without.
    :param validation_set: their fingerprint.
    :param validation_ground_truth: whether the validation items have ground truth (the oracle rule).
    """

    train: Dataset
    test: Dataset
    physics: Physics
    ground_truth: bool
    test_set: str | None
    test_signature: dict | None
    validation: Dataset | None = None
    validation_set: str | None = None
    validation_ground_truth: bool = False


def measurements(cfg: DictConfig, context: RunContext | None = None) -> Measurements:
    """The run's train and test measurements and the operator that made them.

    Identical for every loss of the same data, split, scenario and seed: simulated once, then read
    from the cache. A dataset config marked ``measurements: true`` gives them as they are (split by
    ``split=`` unless it comes as a (train, test) pair), never simulated. Without a ``context``, it
    is read from Hydra.
    """
    context = context or RunContext.from_hydra(cfg)
    if cfg.dataset.get("measurements", False):
        train, test, physics, held_out = _given(cfg, context.choices["physics"])
        ground_truth = has_ground_truth(test)
    else:
        train, test, physics, held_out = _simulated(cfg)
        ground_truth = True  # simulated from images
    if cfg.loss.get("supervised", False) and not has_ground_truth([train[0]]):
        raise InputError(
            f"loss={context.choices['loss']} needs ground truth, which the training data lack: "
            "choose a self-supervised loss"
        )
    validation = Subset(train, held_out) if held_out else None  # evaluation data: their ground truth kept
    if not cfg.loss.get("supervised", False):
        train = without_ground_truth(train)  # from here on, no training item holds x
    if held_out:
        held = set(held_out)
        train = Subset(train, [k for k in range(len(train)) if k not in held])
    held = dict(validation=validation, validation_set=None, validation_ground_truth=False)
    if validation is not None:
        held["validation_set"] = fingerprint(validation)
        held["validation_ground_truth"] = has_ground_truth(validation, "validation")
    if not ground_truth:
        return Measurements(train, test, physics, False, None, None, **held)
    return Measurements(train, test, physics, True, fingerprint(test), signature(test), **held)


def _simulated(cfg: DictConfig):
    cache, validation = simulated_cache(cfg)
    physics, _ = build_scenario(cfg.physics, cfg.seed)  # on the training device
    load_operator(cache, physics)
    train = PicklableHDF5Dataset(cache, split="train", load_physics_generator_params=True)
    test = PicklableHDF5Dataset(cache, split="test", load_physics_generator_params=True)
    return train, test, physics, validation


def simulated_cache(cfg: DictConfig) -> tuple[Path, list[int]]:
    """The cache file of the run's simulated measurements, made once, and the positions of its
    training measurements held out for validation. Masks, noise and the split are drawn from CPU
    generators and the simulation runs on the CPU, whatever ``trainer.device``: the same command
    tests on the same bytes on a laptop and on a GPU node. The validation images are simulated with
    the training images (the same draws whatever ``split.val_fraction``), and only then held out."""
    images = _instantiate_dataset(cfg.dataset)
    train_images, test_images = instantiate(cfg.split)(images)
    check_images(train_images, cfg.img_size)
    physics, physics_generator = build_scenario(cfg.physics, cfg.seed, device="cpu")
    key = cache_key(cfg)
    return simulate_measurements(
        cache_path(DataDir(cfg.paths.data_dir), key),
        key,
        train_images,
        test_images,
        physics,
        physics_generator=None if cfg.physics.get("fixed_mask", False) else physics_generator,
        batch_size=cfg.simulation_batch_size,
        progress_bar=progress_bars(cfg.trainer.show_progress_bar),
    ), _validation_of(train_images)


def _validation_of(train) -> list[int]:
    """The positions a split holds out of its training set (none for a split of one's own that does not say)."""
    return list(getattr(train, "validation", []))


def _given(cfg: DictConfig, scenario: str):
    spec = OmegaConf.to_container(cfg.dataset, resolve=True)
    del spec["measurements"]  # ours, not the dataset's
    data = _instantiate_dataset(OmegaConf.create(spec))
    if isinstance(data, (tuple, list)):
        train, test = data
        # a (train, test) pair comes in its own order, like one slab: its last val_fraction is held out
        validation = slab_validation(list(range(len(train))), cfg.split.get("val_fraction", 0.0))
    else:
        train, test = instantiate(cfg.split)(data)
        validation = _validation_of(train)
    physics, _ = build_scenario(cfg.physics, cfg.seed)  # each measurement's params set its mask
    check_measurements(train, physics, cfg.img_size, scenario, cfg.trainer.device)
    return train, test, physics, validation


def _instantiate_dataset(cfg: DictConfig):
    try:
        return instantiate(cfg)
    except InstantiationException as error:
        # e.g. fastMRI not prepared, or measurements in another layout: the message says what to do
        if isinstance(error.__cause__, (FileNotFoundError, InputError)):
            raise InputError(str(error.__cause__)) from None
        raise


def check_images(dataset, img_size: int) -> None:
    """Measurements are simulated from images: items must be ``x`` or ``(x, ...)`` with ``x`` a real
    floating tensor of shape (2, img_size, img_size) (real and imaginary parts)."""
    first = dataset[0]
    x = first[0] if isinstance(first, (tuple, list)) else first
    expected = (2, img_size, img_size)
    if not isinstance(x, torch.Tensor):
        raise InputError(
            f"dataset items must be an image tensor x or a tuple (x, ...), got {type(x).__name__}: "
            f"return x as a float tensor of shape {expected}"
        )
    if not x.dtype.is_floating_point or x.is_complex():
        raise InputError(
            f"dataset images are {x.dtype} but must be real floating tensors of shape {expected} "
            "(real and imaginary parts as 2 channels): convert with torch.view_as_real(x).movedim(-1, 0).float()"
        )
    if tuple(x.shape) != expected:
        raise InputError(
            f"dataset images are {tuple(x.shape)} but the physics expects {expected} (real/imaginary, H, W): "
            f"set img_size to the data's size or resize the images"
        )


class Loaders(NamedTuple):
    """A run's batches: ``train`` shuffled by its ``data_order`` stream; ``test`` in order (``None``
    without ground truth: there is nothing to score); ``validation`` in order (``None`` without)."""

    train: object
    test: object | None
    validation: object | None


def loaders(cfg: DictConfig, data: Measurements, streams: RandomStreams) -> Loaders:
    """The run's training, test and validation batches.

    Resident on the training device when ``trainer.resident_data`` says so (auto: when they fit,
    :mod:`ssibench.data.resident`), else DataLoaders; both give the same batches in the same order.
    """
    order = streams.register("data_order", torch.Generator())
    batch_size = cfg.trainer.batch_size
    test = data.test if data.ground_truth else None
    splits = [s for s in (data.train, test, data.validation) if s is not None]
    if resident(cfg.trainer.resident_data, splits, cfg.trainer.device):
        batches = lambda split: ResidentBatches(split, batch_size, cfg.trainer.device) if split is not None else None
        train = ResidentBatches(data.train, batch_size, cfg.trainer.device, shuffle=True, generator=order)
        return Loaders(train, batches(test), batches(data.validation))
    options = loader_options(cfg.trainer)
    batches = lambda split: DataLoader(split, batch_size=batch_size, **options) if split is not None else None
    train = DataLoader(data.train, batch_size=batch_size, shuffle=True, generator=order, **options)
    return Loaders(train, batches(test), batches(data.validation))
