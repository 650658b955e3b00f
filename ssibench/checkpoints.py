"""Checkpoint files of a run: written atomically, read safely, and checked against the run's config.

A run keeps ``ckp_last.pth.tar`` (newest), ``ckp_previous.pth.tar`` (the one before, the fallback
when the newest is unreadable) and ``ckp_best.pth.tar`` in ``<run>/checkpoints/``. Every file is
written to a temporary name and renamed, so a kill never leaves a partial file under a real name,
and every read uses ``torch.load(weights_only=True)``: a checkpoint can hold tensors and plain data,
never code.
"""

from __future__ import annotations

import json
import os
import pickle
import random
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ssibench.atomic_files import atomic_path
from ssibench.config_checks import InputError
from ssibench.folders import RunDir

LAST = "ckp_last.pth.tar"
PREVIOUS = "ckp_previous.pth.tar"
BEST = "ckp_best.pth.tar"

# Config entries that may change between a run and its resumption without changing what it computes:
# where files go, logging, the device and loader workers, how long to train and how often to save.
_NOT_COMPARED = {
    *("paths", "logger", "hydra", "resume", "ckpt", "epochs", "only", "figure_slice"),
    *("trainer.device", "trainer.jobs_per_gpu", "trainer.num_workers", "trainer.show_progress_bar"),
    *("trainer.ckp_interval", "trainer.eval_interval", "trainer.pin_memory", "trainer.persistent_workers"),
    "trainer.worker_start_method",
    "simulation_batch_size",
}


class CheckpointError(InputError):
    """A checkpoint that cannot be used: missing, unreadable, or made by another config."""


def checkpoint_dir(output_dir: str | os.PathLike) -> Path:
    """Where a run's checkpoints go."""
    return RunDir(output_dir).checkpoints


def save_atomically(state: dict, path: Path, keep_previous: bool = False) -> None:
    """``torch.save`` to a temporary file, then rename; with ``keep_previous`` the file it replaces
    becomes ``ckp_previous.pth.tar``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous and path.exists():
            os.replace(path, path.with_name(PREVIOUS))


def read(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint, or raise :class:`CheckpointError` in one line saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist: give the path of a run's checkpoints/*.pth.tar")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (
        RuntimeError,
        pickle.UnpicklingError,
        EOFError,
        OSError,
        ValueError,
    ) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint ({first})") from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(f"{path} is not a model checkpoint (no 'state_dict'): give a run's checkpoints/*.pth.tar")
    return state


def latest(folder: str | os.PathLike) -> Path | None:
    """The newest readable checkpoint of a run (last, else previous), skipping a damaged one."""
    for name in (LAST, PREVIOUS):
        path = Path(folder) / name
        if path.exists():
            try:
                read(path)
                return path
            except CheckpointError as error:
                print(f"[ssibench] skipping a damaged checkpoint: {error}")
    return None


def comparable_config(cfg: DictConfig) -> dict:
    """The part of a run's config that determines its results, unresolved (``${trainer.device}``
    stays as written, so a CPU run can resume on a GPU)."""
    config = OmegaConf.to_container(cfg, resolve=False)
    for key in _NOT_COMPARED:
        *parents, leaf = key.split(".")
        node = config
        for parent in parents:
            node = node.get(parent, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return config


def config_differences(stored: dict, current: dict, prefix: str = "") -> list[str]:
    """``key: stored -> current`` for every entry that differs (flattened, sorted)."""
    out = []
    for key in sorted(set(stored) | set(current), key=str):
        a, b = stored.get(key, "<absent>"), current.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {json.dumps(a)} -> {json.dumps(b)}")
    return out


def check_same_run(
    stored_json: str | None,
    current: dict,
    what: str,
    keys: tuple[str, ...] | None = None,
    hint: str = "run with that config, or pass resume=false for a fresh run in a new folder",
) -> None:
    """Refuse ``what`` (a checkpoint or results) made with another config; ``keys`` limits the check
    to those top-level entries (e.g. only ``model`` and ``loss`` for a warm start)."""
    if stored_json is None:
        return
    stored = json.loads(stored_json)
    if keys is not None:
        stored, current = {k: stored.get(k) for k in keys}, {k: current.get(k) for k in keys}
    differences = config_differences(stored, current)
    if differences:
        shown = "; ".join(differences[:3]) + (f"; and {len(differences) - 3} more" if len(differences) > 3 else "")
        raise CheckpointError(f"{what} was made with another config ({shown}): {hint}")


def capture_random_state(generators: list[torch.Generator], loaders) -> dict:
    """Every random stream a resumed run must continue: torch (CPU, CUDA), numpy and Python's
    global ones, the components' own generators and the data order of the loaders."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        # numpy's key array as a tensor: weights_only checkpoints hold no numpy objects
        "numpy": (
            np_state[0],
            torch.from_numpy(np_state[1].astype(np.int64)),
            *np_state[2:],
        ),
        "python": random.getstate(),
        "generators": [g.get_state() for g in generators],
        "data_order": [loader.generator.get_state() for loader in loaders if loader.generator is not None],
    }


def restore_random_state(state: dict, generators: list[torch.Generator], loaders) -> None:
    # RNG states are CPU byte tensors, whatever device the checkpoint was mapped to.
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.cpu().numpy().astype(np.uint32), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if len(state["generators"]) != len(generators):
        raise CheckpointError(
            f"the checkpoint has {len(state['generators'])} random generators, this run {len(generators)}: "
            "it was made by another loss or scenario"
        )
    for generator, saved in zip(generators, state["generators"]):
        generator.set_state(saved.cpu())
    with_generator = [loader for loader in loaders if loader.generator is not None]
    for loader, saved in zip(with_generator, state["data_order"]):
        loader.generator.set_state(saved.cpu())
