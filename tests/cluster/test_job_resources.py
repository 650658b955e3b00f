"""What a job was given: threads from SLURM, memory from its cgroup (v2, v1), SLURM or MemAvailable.
The cgroup and /proc files are fakes written into tmp_path: a real limit needs root (the cluster
tests run the real thing under slurmd)."""

from __future__ import annotations

import os

import pytest
import torch

from ssibench.cluster import job_resources
from ssibench.cluster.job_resources import (
    cgroup_memory_limit,
    job_threads,
    slurm_memory,
    usable_memory,
    use_job_threads,
)

GIB = 1024**3


@pytest.fixture
def fake_node(tmp_path):
    """A fake /sys/fs/cgroup, /proc/self/cgroup and /proc/meminfo (16 GiB available)."""
    root, proc_cgroup, meminfo = tmp_path / "cgroup", tmp_path / "proc_cgroup", tmp_path / "meminfo"
    meminfo.write_text(f"MemTotal: {64 * GIB // 1024} kB\nMemFree: 1024 kB\nMemAvailable: {16 * GIB // 1024} kB\n")
    proc_cgroup.write_text("0::/\n")

    def write(path: str, content: str):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(content + "\n")

    return root, proc_cgroup, meminfo, write


def test_threads_are_slurms_cpus_per_task_even_with_an_inherited_omp_num_threads():
    assert job_threads({"SLURM_CPUS_PER_TASK": "3", "OMP_NUM_THREADS": "16"}) == (3, "SLURM_CPUS_PER_TASK")


def test_outside_slurm_omp_num_threads_stands_as_torch_reads_it():
    # The user's, or the share joblib's workers get in a local sweep (cores // n_jobs).
    assert job_threads({"OMP_NUM_THREADS": "2"}) is None


def test_without_either_threads_are_at_most_the_cpus_the_process_may_use(monkeypatch):
    monkeypatch.setattr(job_resources.joblib, "cpu_count", lambda: 1)  # e.g. a cgroup quota of one CPU
    assert job_threads({}) == (1, "the CPUs this process may use")


def test_use_job_threads_sets_torch_and_says_so(monkeypatch, capsys):
    monkeypatch.setattr(torch, "set_num_threads", lambda n: monkeypatch.setattr(torch, "get_num_threads", lambda: n))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    use_job_threads({"SLURM_CPUS_PER_TASK": "2"})
    assert torch.get_num_threads() == 2 and "2 CPU threads (SLURM_CPUS_PER_TASK)" in capsys.readouterr().out


def test_a_joblib_sweep_shares_the_cores_out_between_its_jobs(monkeypatch):
    """What a job of `hydra/launcher=joblib hydra.launcher.n_jobs=2` sees: joblib's workers get
    OMP_NUM_THREADS = cores // n_jobs, unless the user set it."""
    import joblib

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    jobs = 2
    in_worker = joblib.delayed(lambda: os.environ.get("OMP_NUM_THREADS"))  # read in the worker, not here
    seen = joblib.Parallel(n_jobs=jobs)(in_worker() for _ in range(jobs))
    assert seen == [str(max(1, joblib.cpu_count() // jobs))] * jobs


def test_memory_is_the_cgroup_v2_limit_the_tightest_of_the_job_and_its_parents(fake_node):
    root, proc_cgroup, meminfo, write = fake_node
    proc_cgroup.write_text("0::/system.slice/slurmstepd.scope/job_7/step_0/user/task_0\n")
    write("system.slice/slurmstepd.scope/job_7/memory.max", str(4 * GIB))  # SLURM limits the job
    write("system.slice/slurmstepd.scope/job_7/step_0/user/task_0/memory.max", "max")
    write("memory.max", "max")
    assert cgroup_memory_limit(root, proc_cgroup) == 4 * GIB
    assert usable_memory({}, root, proc_cgroup, meminfo) == 4 * GIB


def test_memory_is_the_cgroup_v1_limit(fake_node):
    root, proc_cgroup, meminfo, write = fake_node
    proc_cgroup.write_text("5:cpu,cpuacct:/slurm/uid_0/job_7\n4:memory:/slurm/uid_0/job_7\n0::/\n")
    write("memory/slurm/uid_0/job_7/memory.limit_in_bytes", str(2 * GIB))
    write("memory/memory.limit_in_bytes", "9223372036854771712")  # v1's "no limit"
    assert usable_memory({}, root, proc_cgroup, meminfo) == 2 * GIB


def test_memory_is_slurms_allocation_without_a_cgroup_limit(fake_node):
    root, proc_cgroup, meminfo, _ = fake_node
    assert slurm_memory({"SLURM_MEM_PER_NODE": "4096"}) == 4 * GIB
    per_cpu = {"SLURM_MEM_PER_CPU": "1024", "SLURM_CPUS_PER_TASK": "3"}
    assert usable_memory(per_cpu, root, proc_cgroup, meminfo) == 3 * GIB


def test_memory_is_memavailable_not_free_pages_without_limits(fake_node):
    root, proc_cgroup, meminfo, write = fake_node
    write("memory.max", "max")
    assert usable_memory({}, root, proc_cgroup, meminfo) == 16 * GIB  # not MemFree's 1 MiB
    assert usable_memory({"SLURM_MEM_PER_NODE": str(32 * 1024)}, root, proc_cgroup, meminfo) == 16 * GIB
