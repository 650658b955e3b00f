"""The resolvers the project's configs use (``${device:auto}``, ``${loss_name:...}``, ...), registered
with OmegaConf by :func:`register`."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import time

import torch
from omegaconf import OmegaConf

from ssibench.cluster import slurm


def _device(name: str = "auto") -> str:
    """``${device:auto}`` in a config: CUDA when available, else the CPU; other names pass through."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _parallel_jobs(jobs_per_gpu: int) -> int:
    """Jobs at once for ``hydra/launcher=gpus``: ``jobs_per_gpu`` on each GPU, or on the CPU without one."""
    return max(torch.cuda.device_count(), 1) * int(jobs_per_gpu)


def _top_level_items(overrides: str) -> list[str]:
    """Hydra's ``override_dirname`` split back into its overrides: at the commas outside brackets and quotes."""
    items, depth, quote, start = [], 0, None, 0
    for i, char in enumerate(overrides):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(overrides[start:i])
            start = i + 1
    return [*items, overrides[start:]]


def _shell_safe(text: str) -> bool:
    """Whether ``text`` can be typed in a shell as it is (what ``shlex.quote`` leaves unquoted)."""
    return shlex.quote(text) == text


def _with_overrides(overrides: str) -> str:
    """``_<overrides>`` as one shell-safe folder name: paths flattened; overrides a shell would need
    quoted (a ``_target_`` list: brackets, braces, spaces) replaced by a hash of them, so that
    different ones still get different folders; long names shortened with a hash."""
    if not overrides:
        return ""
    items = _top_level_items(overrides.replace(os.sep, "-"))
    unsafe = [item for item in items if not _shell_safe(item)]
    name = ",".join(item for item in items if _shell_safe(item))
    if unsafe:
        name += f"{'_' if name else ''}{hashlib.sha1(','.join(unsafe).encode()).hexdigest()[:8]}"
    if len(name) > 120:  # file systems cap a name at 255 bytes
        name = f"{name[:100]}_{hashlib.sha1(overrides.encode()).hexdigest()[:8]}"
    return f"_{name}"


def _loss_name(choice, label) -> str:
    """The loss part of a run folder: its choice (``loss=mc``), else, for a loss given by ``_target_``
    overrides, its label made shell-safe, else ``custom``."""
    if choice is not None:
        return str(choice)
    safe = re.sub(r"[^\w.+-]+", "-", str(label)).strip("-") if label is not None else ""
    return safe or "custom"


# With resume=false a run folder gets a suffix unique to this launch: a fresh run never lands in an earlier folder.
_LAUNCH = f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{os.getpid()}"


def register() -> None:
    """Register every resolver (``replace=True``: registering again is harmless)."""
    # Resolved once in the config, so every object that needs a device (physics, generators, losses)
    # can interpolate ${trainer.device} instead of each re-deciding what "auto" means.
    OmegaConf.register_new_resolver("device", _device, replace=True)
    OmegaConf.register_new_resolver("parallel_jobs", _parallel_jobs, replace=True)
    # hydra/launcher=slurm: a job asks for a GPU only when it trains on CUDA.
    OmegaConf.register_new_resolver("slurm_gpus", slurm.gpus_per_job, replace=True)
    # ${mul:${physics.sigma},0.5}: hyper-parameters stated relative to the scenario's (e.g. σ/2).
    OmegaConf.register_new_resolver("mul", lambda a, b: float(a) * float(b), replace=True)
    # Run folders (conf/hydra/default.yaml): `mc_mri_seed0` + `_<other overrides>` (+ the fresh suffix).
    OmegaConf.register_new_resolver("with_overrides", _with_overrides, replace=True)
    OmegaConf.register_new_resolver("loss_name", _loss_name, replace=True)
    OmegaConf.register_new_resolver("fresh_folder", lambda resume: "" if resume else f"_fresh_{_LAUNCH}", replace=True)
