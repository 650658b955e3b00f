"""Simulated measurements, made once per (data, split, scenario, seed) and cached in HDF5.

As in the paper, y and each image's physics parameters (its mask) are simulated once with deepinv's
``generate_dataset`` and read back with ``HDF5Dataset(load_physics_generator_params=True)``, so every
loss sees exactly the same data. The file name holds a hash of everything that determines the
content, so changing e.g. the acceleration can never reuse stale measurements, and jobs of a sweep
that need the same file at once share it safely: a file lock, generation in a temporary folder and
an atomic rename, so an existing cache file is always complete.

Images are simulated ``batch_size`` at a time (default 64; the original benchmark: one at a time).
The content does not depend on the batch size: the generator draws each image's mask and noise in
the same order either way (tests/test_performance.py).
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
from torch.utils.data import Dataset
from tqdm import tqdm

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
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress_bar: bool = True,
) -> Path:
    """Simulate ``y = A(x)`` (with per-image params when a generator is given) into ``path`` once.

    The physics' state (fixed mask, coil maps) is stored beside the file and loaded back into
    ``physics``, so the operator used for training is the one that made the data.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    physics_state = path.with_suffix(".physics.pt")
    with FileLock(str(path) + ".lock"):
        if not path.exists():
            with (
                tempfile.TemporaryDirectory(dir=path.parent, prefix=".tmp-") as tmp,
                tqdm(total=len(train_set) + len(test_set), desc="Simulating measurements", disable=not progress_bar) as bar,
            ):
                h5 = generate_dataset(
                    train_dataset=_Counted(train_set, bar),
                    test_dataset=_Counted(test_set, bar),
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


class _Counted(Dataset):
    """``dataset``, advancing a progress bar at each image's first read (generate_dataset reads in
    this process, and reads the first image twice: once to choose how to collate)."""

    def __init__(self, dataset, bar: tqdm):
        self.dataset, self.bar, self.seen = dataset, bar, set()

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        if index not in self.seen:
            self.seen.add(index)
            self.bar.update(1)
        return self.dataset[index]
