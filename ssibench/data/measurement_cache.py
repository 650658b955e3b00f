"""Simulated measurements, made once per (data, split, scenario, seed) and cached in HDF5.

As in the paper, y and each image's physics parameters (its mask) are simulated once with deepinv's
``generate_dataset`` and read back with ``HDF5Dataset(load_physics_generator_params=True)``, so every
loss sees exactly the same data. The file name holds a hash of everything that determines the
content, so changing e.g. the acceleration can never reuse stale measurements, and jobs of a sweep
that need the same file at once share it safely: a file lock, generation in a temporary folder and
an atomic rename, so an existing cache file is always complete. Its sidecar ``.json`` holds the key
and the SHA-256 of the files: a cache damaged later (a truncated copy, a full disk) or made with
other parameters is rebuilt under the lock, never used.

Images are simulated ``batch_size`` at a time (``simulation_batch_size``; the original benchmark: one at a time).
The content does not depend on the batch size: the generator draws each image's mask and noise in
the same order either way (tests/training/test_performance.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import torch
from deepinv.datasets import generate_dataset
from filelock import FileLock
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import Dataset
from tqdm import tqdm

from ssibench.folders import DataDir
from ssibench.results.code_identity import code_of

log = logging.getLogger(__name__)  # the run's lines (ssibench.training.progress)

# Bump when the layout or the making of the cache files changes.
_FORMAT = 3  # 2: the sidecar holds the key and the files' SHA-256; 3: simulated on the CPU whatever the device


# The parts whose code makes the measurements: the images, the split, and what build_scenario instantiates.
SIMULATING = ("dataset", "split", "physics.operator", "physics.generator", "physics.noise")


def cache_key(cfg: DictConfig) -> dict:
    """Everything that determines the simulated measurements of a run: their config (not the device,
    since they are simulated on the CPU whatever the training device) and the code of the parts that
    make them (:func:`ssibench.results.code_identity.code_of`: an edited operator of one's own re-simulates)."""
    return {
        "format": _FORMAT,
        "dataset": OmegaConf.to_container(cfg.dataset, resolve=True, enum_to_str=True),
        "split": OmegaConf.to_container(cfg.split, resolve=True, enum_to_str=True),
        "physics": without_devices(OmegaConf.to_container(cfg.physics, resolve=True, enum_to_str=True)),
        "img_size": cfg.img_size,
        "seed": cfg.seed,
        "code": code_of(cfg, SIMULATING),
    }


def without_devices(node):
    """``node`` (plain containers) without its entries named ``device``, at any depth."""
    if isinstance(node, dict):
        return {key: without_devices(value) for key, value in node.items() if key != "device"}
    if isinstance(node, list):
        return [without_devices(value) for value in node]
    return node


def cache_path(data_dir: DataDir, key: dict) -> Path:
    """The cache file of ``key`` in the data folder: its name holds a hash of the key."""
    return data_dir.measurement_cache(hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16])


def simulate_measurements(
    path: Path,
    key: dict,
    train_set,
    test_set,
    physics,
    physics_generator=None,
    batch_size: int = 8,
    progress_bar: bool = True,
) -> Path:
    """Simulate ``y = A(x)`` (with per-image params when a generator is given) into ``path`` once, on
    the CPU (``physics`` and ``physics_generator`` must be there: the same bytes on every machine).

    The physics' state (fixed mask, coil maps) is stored beside the file: :func:`load_operator`
    gives it to the training operator, so that it is the one that made the data.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    physics_state = path.with_suffix(".physics.pt")
    sidecar = path.with_suffix(".json")
    with FileLock(str(path) + ".lock"):
        if not _is_complete(path, physics_state, sidecar, key):
            if path.exists():
                log.info(f"[ssibench] measurement cache {path} is damaged or was made with other parameters: rebuilding")
            log.info(f"[ssibench] simulating measurements into {path}")
            with (
                tempfile.TemporaryDirectory(dir=path.parent, prefix=".tmp-") as tmp,
                tqdm(
                    total=len(train_set) + len(test_set), desc="Simulating measurements", disable=not progress_bar
                ) as bar,
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
                    device="cpu",
                    verbose=False,
                )
                record = {
                    "key": key,
                    "sha256": {"measurements": _sha256(h5), "physics": _sha256(Path(tmp) / "physics0.pt")},
                }
                (Path(tmp) / "sidecar.json").write_text(json.dumps(record, indent=2, sort_keys=True))
                os.replace(Path(tmp) / "physics0.pt", physics_state)
                os.replace(Path(tmp) / "sidecar.json", sidecar)
                os.replace(h5, path)  # last, so an existing cache file is always complete
    return path


def load_operator(path: Path, physics) -> None:
    """Give ``physics`` (on any device) the state of the operator that made the cache ``path``."""
    device = next(iter(physics.buffers()), torch.empty(0)).device
    physics.load_state_dict(torch.load(path.with_suffix(".physics.pt"), map_location=device, weights_only=True))


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _is_complete(path: Path, physics_state: Path, sidecar: Path, key: dict) -> bool:
    """The cache exists, was made with ``key``, and its files are byte for byte those written."""
    if not (path.exists() and physics_state.exists() and sidecar.exists()):
        return False
    try:
        record = json.loads(sidecar.read_text())
        return (
            record["key"] == json.loads(json.dumps(key))  # as stored: tuples become lists
            and record["sha256"]["measurements"] == _sha256(path)
            and record["sha256"]["physics"] == _sha256(physics_state)
        )
    except (ValueError, KeyError, TypeError):
        return False


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
