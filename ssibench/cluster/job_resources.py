"""What a job was given: its CPU threads and the memory it may use, read from SLURM, the cgroup and
the kernel, so that a job sized for a slice of a node stays inside that slice.

- **Threads.** torch starts one intra-op thread per core of the node, whatever the job was given. In
  a SLURM job (``SLURM_CPUS_PER_TASK``) :func:`use_job_threads` sets them to its CPUs. Elsewhere
  ``OMP_NUM_THREADS``, when set, is honoured by torch itself: the user's, or, in a local joblib sweep
  (``hydra/launcher=joblib`` or ``gpus``), joblib's share of the cores (its workers get
  ``cores // n_jobs`` unless the user set it). Without either, at most the CPUs the process may use
  (its affinity and cgroup CPU quota, as :func:`joblib.cpu_count` counts them).
- **Memory.** :func:`usable_memory` is the least of the job's cgroup memory limit (v2 or v1, the
  tightest of its cgroup and their parents), SLURM's ``SLURM_MEM_PER_NODE`` (or
  ``SLURM_MEM_PER_CPU`` × its CPUs) and the node's available memory (``MemAvailable``: free pages
  plus the page cache the kernel can reclaim).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import joblib
import torch

log = logging.getLogger(__name__)  # the run's lines (ssibench.training.progress)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
MEMINFO = Path("/proc/meminfo")
_MB = 1024**2
_V1_UNLIMITED = 2**62  # cgroup v1 writes "no limit" as a page-rounded 2**63 - 1


def job_threads(environ: Mapping[str, str] = os.environ) -> tuple[int, str] | None:
    """The intra-op threads a job should run with and where that number comes from, or ``None``
    where torch's own choice stands (``OMP_NUM_THREADS`` is set)."""
    if environ.get("SLURM_CPUS_PER_TASK"):
        return int(environ["SLURM_CPUS_PER_TASK"]), "SLURM_CPUS_PER_TASK"
    if environ.get("OMP_NUM_THREADS"):
        return None
    return min(torch.get_num_threads(), joblib.cpu_count()), "the CPUs this process may use"


def use_job_threads(environ: Mapping[str, str] = os.environ) -> None:
    """Set torch's intra-op threads to :func:`job_threads` (saying so when that changes them)."""
    threads = job_threads(environ)
    if threads is not None and threads[0] != torch.get_num_threads():
        torch.set_num_threads(threads[0])
        log.info(f"[ssibench] {threads[0]} CPU threads ({threads[1]})")


def usable_memory(
    environ: Mapping[str, str] = os.environ,
    cgroup_root: Path = CGROUP_ROOT,
    proc_cgroup: Path = PROC_CGROUP,
    meminfo: Path = MEMINFO,
) -> int:
    """Bytes of RAM this job may use: the least of its cgroup limit, its SLURM allocation and the
    node's available memory."""
    limits = [cgroup_memory_limit(cgroup_root, proc_cgroup), slurm_memory(environ), available_memory(meminfo)]
    return min(limit for limit in limits if limit is not None)


def slurm_memory(environ: Mapping[str, str] = os.environ) -> int | None:
    """The job's memory on this node as SLURM allocated it (``--mem`` or ``--mem-per-cpu``; in MB)."""
    if environ.get("SLURM_MEM_PER_NODE"):
        return int(environ["SLURM_MEM_PER_NODE"]) * _MB
    if environ.get("SLURM_MEM_PER_CPU"):
        cpus = environ.get("SLURM_CPUS_PER_TASK") or environ.get("SLURM_CPUS_ON_NODE") or "1"
        return int(environ["SLURM_MEM_PER_CPU"]) * int(cpus) * _MB
    return None


def cgroup_memory_limit(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int | None:
    """The tightest memory limit of this process's cgroup and its parents (v2 ``memory.max``, else
    v1 ``memory.limit_in_bytes``), ``None`` when there is none."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    found = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: one hierarchy for every controller
            found += _limits(cgroup_root, path, "memory.max")
        elif "memory" in controllers.split(","):
            found += _limits(cgroup_root / controllers, path, "memory.limit_in_bytes")
    limits = [value for value in found if value < _V1_UNLIMITED]
    return min(limits) if limits else None


def _limits(mount: Path, path: str, name: str) -> list[int]:
    """The numeric ``name`` files from the cgroup ``path`` up to the mount's root ("max": none)."""
    folder = mount / path.lstrip("/")
    values = []
    while True:
        try:
            text = (folder / name).read_text().strip()
        except OSError:
            text = ""
        if text.isdigit():
            values.append(int(text))
        if folder == mount or mount not in folder.parents:
            return values
        folder = folder.parent


def available_memory(meminfo: Path = MEMINFO) -> int:
    """The node's ``MemAvailable`` (free pages and reclaimable page cache); free pages where the
    kernel does not report it."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
