"""Simulated measurements, made once per (data, split, scenario, seed) and cached in HDF5.

As in the paper, y and each image's physics parameters (its mask) are simulated once with deepinv's
``generate_dataset`` and read back with ``HDF5Dataset(load_physics_generator_params=True)``, so every
loss sees exactly the same data. The file name holds a hash of everything that determines the
content, so changing e.g. the acceleration can never reuse stale measurements, and jobs of a sweep
that need the same file at once share it safely: a file lock, generation in a temporary folder and
an atomic rename, so an existing cache file is always complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from deepinv.datasets import generate_dataset
from filelock import FileLock
from omegaconf import DictConfig, OmegaConf

# Bump when the layout of the cache files changes.
_FORMAT = 1


def cache_key(cfg: DictConfig) -> dict:
    """Everything that determines the simulated measurements of a run."""
    return {
        "format": _FORMAT,
        "dataset": OmegaConf.to_container(cfg.dataset, resolve=True),
        "split": OmegaConf.to_container(cfg.split, resolve=True),
        "physics": OmegaConf.to_container(cfg.physics, resolve=True),
        "img_size": cfg.img_size,
        "seed": cfg.seed,
    }


def cache_path(cache_dir: str | os.PathLike, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"measurements-{digest}.h5"


def simulate_measurements(
    path: Path,
    key: dict,
    train_set,
    test_set,
    physics,
    physics_generator=None,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
) -> Path:
    """Simulate ``y = A(x)`` (with per-image params when a generator is given) into ``path`` once.

    The physics' state (fixed mask, coil maps) is stored beside the file and loaded back into
    ``physics``, so the operator used for training is the one that made the data.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    physics_state = path.with_suffix(".physics.pt")
    with FileLock(str(path) + ".lock"):
        if not path.exists():
            with tempfile.TemporaryDirectory(dir=path.parent, prefix=".tmp-") as tmp:
                h5 = generate_dataset(
                    train_dataset=train_set,
                    test_dataset=test_set,
                    physics=physics,
                    physics_generator=physics_generator,
                    save_physics_generator_params=True,
                    save_dir=tmp,
                    dataset_filename="measurements",
                    batch_size=batch_size,
                    device=device,
                    verbose=False,
                )
                os.replace(Path(tmp) / "physics0.pt", physics_state)
                path.with_suffix(".json").write_text(json.dumps(key, indent=2, sort_keys=True))
                os.replace(h5, path)  # last, so an existing cache file is always complete
    physics.load_state_dict(torch.load(physics_state, map_location=device, weights_only=True))
    return path
