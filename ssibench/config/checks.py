"""Checks of a run's config before anything is computed, each failing with one line that says what to do."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from omegaconf import DictConfig

from ssibench.config import tuning
from ssibench.errors import InputError


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_config(cfg: DictConfig) -> None:
    """Raise :class:`InputError` for the first value of ``cfg`` a run cannot use."""
    for key, minimum in (
        ("epochs", 0),
        ("seed", 0),
        ("img_size", 8),
        ("trainer.batch_size", 1),
    ):
        value = cfg.get(key) if "." not in key else cfg.trainer.get(key.split(".")[1])
        if not _is_int(value) or value < minimum:
            raise InputError(f"{key} must be an integer >= {minimum}, got {value!r}")
    physics = cfg.physics
    if physics.get("acceleration") is not None and not physics.acceleration > 1:
        raise InputError(f"physics.acceleration must be > 1 (undersampling), got {physics.acceleration:g}")
    if physics.get("sigma") is not None and not physics.sigma >= 0:
        raise InputError(f"physics.sigma is a noise level and must be >= 0, got {physics.sigma}")
    if physics.get("coils") is not None and not (_is_int(physics.coils) and physics.coils >= 1):
        raise InputError(f"physics.coils must be an integer >= 1, got {physics.coils!r}")
    _check_device(str(cfg.trainer.device))
    tuning.check(cfg)  # the search spaces and the trial (applied before: RunContext.from_hydra)
    check_writable(Path(cfg.paths.data_dir))


def _check_device(device: str) -> None:
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise InputError(
            f"trainer.device={device} is not a device: use cpu, cuda or cuda:<index>, or leave it out "
            "(the default takes a GPU when there is one)"
        ) from None
    if parsed.type != "cuda":
        return
    if not torch.cuda.is_available():
        raise InputError(
            f"trainer.device={device} but no CUDA device is available (torch {torch.__version__}): "
            "use trainer.device=cpu, or leave it out to take a GPU only when there is one"
        )
    if parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise InputError(f"trainer.device={device} but this machine has {torch.cuda.device_count()} GPU(s)")


def check_writable(data_dir: Path) -> None:
    """The data dir holds the dataset and the measurement caches: it must be a writable folder."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as error:
        raise InputError(
            f"data dir {data_dir} is not a writable folder ({error.strerror or error}): "
            "set SSIBENCH_DATA_DIR or paths.data_dir to one"
        ) from None
