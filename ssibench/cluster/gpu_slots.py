"""One GPU per job when parallel jobs share a node with several GPUs (e.g. ``hydra/launcher=gpus``).

Every job asking for plain ``cuda`` on a node with several GPUs claims one of
``n_gpus × jobs_per_gpu`` slots, each a file lock in a per-user folder of the node's temporary
directory, holds it for the whole run, and makes its GPU the current device, so everything the
run puts on "cuda" lands there. Locks are named after the physical GPU (``CUDA_VISIBLE_DEVICES``),
so jobs that see different subsets of the node's GPUs still count each GPU once. A lock dies with
its process, so a killed job frees its slot. With one GPU, none, or an explicit ``cuda:<i>``,
nothing is claimed.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import torch
from filelock import FileLock, Timeout

from ssibench.errors import InputError

log = logging.getLogger(__name__)  # the run's lines (ssibench.training.progress)

POLL_SECONDS = 5.0


def default_lock_dir() -> Path:
    """Per node (its temporary directory) and per user (jobs of others are not ours to wait for)."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"ssibench-gpu-slots-{user}"


def _physical_names(n_gpus: int) -> list[str]:
    """What each visible GPU index is on the node: its CUDA_VISIBLE_DEVICES entry, else the index."""
    visible = [name.strip() for name in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if name.strip()]
    if len(visible) < n_gpus:
        return [str(i) for i in range(n_gpus)]
    return [re.sub(r"[^A-Za-z0-9_.-]", "_", name) for name in visible[:n_gpus]]


@contextmanager
def gpu_slot(
    device: str, jobs_per_gpu: int = 1, lock_dir: str | os.PathLike | None = None, poll_seconds: float = POLL_SECONDS
) -> Iterator[str]:
    """Claim a GPU slot for the duration of the block; yields the device the job is to use.

    ``device`` is the run's resolved ``trainer.device``: only plain ``cuda`` with several GPUs
    visible is pinned, to ``cuda:<i>`` (also made the current CUDA device); any other device is
    yielded unchanged. Slots fill GPU by GPU before a GPU gets a second job; when all are taken,
    the job waits (and says so once). The slot is freed when the block ends, also on an error.
    """
    if jobs_per_gpu < 1:
        raise InputError(f"trainer.jobs_per_gpu={jobs_per_gpu}: give 1 or more jobs per GPU")
    n_gpus = torch.cuda.device_count() if device == "cuda" else 0
    if n_gpus < 2:
        yield device
        return
    folder = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    names = _physical_names(n_gpus)
    slots = [(gpu, job) for job in range(jobs_per_gpu) for gpu in range(n_gpus)]  # spread before doubling up
    waiting = False
    with ExitStack() as held:
        while True:
            gpu = _claim(held, folder, names, slots)
            if gpu is not None:
                break
            if not waiting:
                log.info(
                    f"[ssibench] all {len(slots)} GPU slots ({n_gpus} GPUs × trainer.jobs_per_gpu={jobs_per_gpu}) "
                    f"are taken: waiting for one (locks in {folder})"
                )
                waiting = True
            time.sleep(poll_seconds)
        previous = torch.cuda.current_device()
        torch.cuda.set_device(gpu)
        try:
            yield f"cuda:{gpu}"
        finally:
            torch.cuda.set_device(previous)


def _claim(held: ExitStack, folder: Path, names: list[str], slots: list[tuple[int, int]]) -> int | None:
    """Take the first free slot (registered on ``held`` for release); its GPU index, or None."""
    for gpu, job in slots:
        lock = FileLock(str(folder / f"gpu{names[gpu]}-job{job}.lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            continue
        held.callback(lock.release)
        return gpu
    return None
