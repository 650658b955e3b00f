"""The SLURM path against real daemons (`hydra/launcher=slurm`, submitit): the README's sweep as a job
array, requeues and a time limit that resume to the numbers of an uninterrupted run, a cancelled job.

Needs a SLURM controller this machine can submit to (`.ci/slurm/start` brings up one node; `.ci/run`
does, and sets SSIBENCH_REQUIRE_CLUSTER=1 so that a missing one fails here instead of skipping).
The jobs train on the node's CPU; `hydra.launcher.partition` is the cluster's default partition."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from conftest import CONF, ROOT, TESTS, launch_env
from ssibench import checkpoints
from ssibench import results as results_io

REQUIRE_CLUSTER = os.environ.get("SSIBENCH_REQUIRE_CLUSTER") == "1"  # set by .ci/run: no skipping there
# ei draws a random transform per batch: a resumed job must continue those draws and the data order.
RUN = ("debug=smoke", "loss=ei", "physics=mri", "epochs=3", "split.max_train=8")
REQUEUE_WAIT_S = 600  # a job's whole life here, requeues included (each requeue waits ~16 s to start again)


def _no_cluster() -> str | None:
    """Why no job can be submitted here, or None."""
    if shutil.which("sbatch") is None:
        return "no sbatch (SLURM's client commands) on this machine"
    try:
        states = subprocess.run(["sinfo", "--noheader", "--format=%T"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "sinfo timed out: no SLURM controller reachable"
    if states.returncode != 0:
        return f"no SLURM controller reachable: {states.stderr.strip()}"
    if not {"idle", "mixed", "allocated"} & set(states.stdout.split()):
        return f"no SLURM node up (sinfo: {' '.join(states.stdout.split()) or 'none'})"
    return None


@pytest.fixture(scope="module")
def cluster():
    reason = _no_cluster()
    if reason is not None:
        if REQUIRE_CLUSTER:
            pytest.fail(f"{reason}; .ci/slurm/start brings up a one-node cluster")
        pytest.skip(reason)


def _env(data_dir: Path) -> dict:
    """launch.py's environment, with this checkout importable in the job (which starts in the tmp dir)."""
    env = launch_env(data_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env["PYTHONPATH"]])
    return env


def submit(sweep_dir: Path, data_dir: Path, *overrides: str, env: dict | None = None) -> subprocess.Popen:
    """`python launch.py -m hydra/launcher=slurm ...` into ``sweep_dir``, as the README says (running);
    ``env``: variables added to the environment (sbatch hands it on to the jobs)."""
    command = [sys.executable, str(ROOT / "launch.py"), "-m", "hydra/launcher=slurm", *overrides, f"hydra.sweep.dir={sweep_dir}"]
    return subprocess.Popen(
        command, cwd=sweep_dir.parent, env={**_env(data_dir), **(env or {})}, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def finish(sweep: subprocess.Popen, timeout: float = REQUEUE_WAIT_S) -> tuple[int, str]:
    try:
        output, _ = sweep.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        sweep.kill()
        output, _ = sweep.communicate()
        pytest.fail(f"the sweep did not end in {timeout} s:\n{output[-3000:]}")
    return sweep.returncode, output


def wait_for(what: str, found, sweep: subprocess.Popen, timeout: float = 300):
    """Poll ``found()`` until it returns something true, while the sweep runs."""
    deadline = time.monotonic() + timeout
    while not (result := found()):
        if sweep.poll() is not None:
            pytest.fail(f"the sweep ended before {what}:\n{sweep.stdout.read()[-3000:]}")
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.2)
    return result


def job_ids(sweep_dir: Path) -> list[str]:
    """The sweep's job ids (`<array>_<index>`, or `<id>` for a sweep of one job), from submitit's folders."""
    return sorted(path.parent.name for path in (sweep_dir / ".submitit").glob("*/*_submitted.pkl"))


def job_log(sweep_dir: Path, job: str) -> str:
    """The job's stdout, over all its sessions (submitit opens it in append mode)."""
    return (sweep_dir / ".submitit" / job / f"{job}_0_log.out").read_text()


def run_dir(sweep_dir: Path, number: int = 0) -> Path:
    return next(sweep_dir.glob(f"{number}_*"))


def sacct_state(job: str) -> str:
    out = subprocess.run(["sacct", "--noheader", "-X", "--format=State", "--jobs", job], capture_output=True, text=True)
    return out.stdout.split()[0] if out.stdout.split() else ""


def final_state(job: str, timeout: float = 60) -> str:
    """The job's state once it has ended (submitit reports its result before the job's process exits)."""
    deadline = time.monotonic() + timeout
    while (state := sacct_state(job)) in ("", "PENDING", "RUNNING", "COMPLETING", "REQUEUED") and time.monotonic() < deadline:
        time.sleep(1)
    return state


def assert_same_results(run: Path, reference: Path) -> None:
    """Bit-exact on the CPU: per-image scores and the whole metrics.csv history."""
    expected, got = (results_io.read(folder / "results.json") for folder in (reference, run))
    assert got["status"] == "ok", got
    assert got["per_image"] == expected["per_image"] and got["metrics"] == expected["metrics"]
    assert (run / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()


@pytest.fixture(scope="module")
def readme_sweep(cluster, tmp_path_factory, data_dir) -> Path:
    """The README's CPU-partition sweep at the smoke scale with the preset's default resources: a job
    array of mc and ei. Its ei job is the uninterrupted run the interrupted ones must equal."""
    sweep_dir = tmp_path_factory.mktemp("readme_sweep") / "sweep"
    status, output = finish(submit(sweep_dir, data_dir, *RUN[:1], "loss=mc,ei", *RUN[2:]))
    assert status == 0, output[-3000:]
    return sweep_dir


@pytest.mark.cluster
def test_the_readme_sweep_runs_as_a_job_array_on_a_partition_without_gpus(readme_sweep):
    (array,) = {job.split("_")[0] for job in job_ids(readme_sweep)}
    script = (readme_sweep / ".submitit" / array / f"{array}_submission.sh").read_text()
    # trainer.device=auto on a partition whose nodes have no GPU: no GPU asked (else sbatch refuses).
    assert "#SBATCH --gpus-per-node=0" in script and "#SBATCH --cpus-per-task=2" in script, script
    for job in job_ids(readme_sweep):
        assert final_state(job) == "COMPLETED"
        log = job_log(readme_sweep, job)
        # Each submitit message once (its own handlers and Hydra's printed each twice).
        assert log.count("Job completed successfully") == 1, log
    for number in (0, 1):
        results = results_io.read(run_dir(readme_sweep, number) / "results.json")
        assert results["status"] == "ok" and results["device"] == "cpu"


@pytest.mark.cluster
def test_a_job_requeued_mid_run_resumes_to_the_same_results(readme_sweep, tmp_path, data_dir):
    sweep_dir = tmp_path / "sweep"
    sweep = submit(sweep_dir, data_dir, *RUN)
    (job,) = wait_for("job", lambda: job_ids(sweep_dir), sweep)
    last = wait_for("first checkpoint", lambda: next(sweep_dir.glob(f"0_*/checkpoints/{checkpoints.LAST}"), None), sweep)
    subprocess.run(["scontrol", "requeue", job], check=True)  # what a preemption with PreemptMode=REQUEUE does
    status, output = finish(sweep)
    assert status == 0, output[-3000:]
    assert re.search(rf"loaded {re.escape(str(last))} \(epoch \d+(, step \d+)?\)", job_log(sweep_dir, job)), job_log(sweep_dir, job)
    assert_same_results(run_dir(sweep_dir), run_dir(readme_sweep, 1))


@pytest.mark.cluster
def test_a_job_past_its_time_limit_is_requeued_and_resumes_to_the_same_results(readme_sweep, tmp_path, data_dir):
    # SLURM signals (USR2) up to a minute before signal_delay_s asks: with 2 minutes and 60 s, a session
    # lasts 0 to 60 s, so the run needs several and keeps only what the checkpoints hold.
    sweep_dir = tmp_path / "sweep"
    sweep = submit(
        sweep_dir, data_dir, *RUN,
        "hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=60", "hydra.launcher.max_num_timeout=4",
    )
    status, output = finish(sweep)
    assert status == 0, output[-3000:]
    (job,) = job_ids(sweep_dir)
    log = job_log(sweep_dir, job)
    assert "Caught signal SIGUSR2" in log and "this job is timed-out" in log, log
    assert "loaded " in log, log  # a later session started from a checkpoint
    assert_same_results(run_dir(sweep_dir), run_dir(readme_sweep, 1))


@pytest.mark.cluster
def test_a_job_requeued_in_its_first_epoch_resumes_from_the_checkpoint_written_on_the_signal(
    readme_sweep, tmp_path, data_dir
):
    # The job waits after its first step (of 2 an epoch) until the requeue's SIGTERM has come
    # (tests/step_gate/sitecustomize.py), so the signal lands inside the first epoch whatever the timing.
    sweep_dir, gate = tmp_path / "sweep", tmp_path / "gate"
    gated = {
        "PYTHONPATH": os.pathsep.join([str(TESTS / "step_gate"), _env(data_dir)["PYTHONPATH"]]),
        "SSIBENCH_STEP_GATE": str(gate), "SSIBENCH_STEP_GATE_AFTER": "1",
    }  # fmt: skip
    sweep = submit(sweep_dir, data_dir, *RUN, env=gated)
    (job,) = wait_for("job", lambda: job_ids(sweep_dir), sweep)
    wait_for("the job's first step", gate.exists, sweep)
    run = run_dir(sweep_dir)
    assert not checkpoints.checkpoint_dir(run).exists(), "a checkpoint before the signal"
    subprocess.run(["scontrol", "requeue", job], check=True)
    status, output = finish(sweep)
    assert status == 0, output[-3000:]
    log = job_log(sweep_dir, job)
    last = checkpoints.checkpoint_dir(run) / checkpoints.LAST
    # The first session checkpointed the step it was at; the second started from it, inside the
    # first epoch, which ended once, after it.
    assert f"SIGTERM: stopped at epoch 0, step 1: {last}" in log, log
    loaded = log.find(f"loaded {last} (epoch 0, step 1)")
    assert loaded >= 0 and log.count("[ssibench] epoch 1/3") == 1 and log.index("[ssibench] epoch 1/3") > loaded, log
    assert_same_results(run, run_dir(readme_sweep, 1))


@pytest.mark.cluster
def test_a_cancelled_job_ends_the_sweep_with_an_error_within_a_minute(cluster, tmp_path, data_dir):
    sweep_dir = tmp_path / "sweep"
    sweep = submit(sweep_dir, data_dir, *RUN[:3], "epochs=50")
    (job,) = wait_for("job", lambda: job_ids(sweep_dir), sweep)
    wait_for("the job to run", lambda: sacct_state(job) == "RUNNING", sweep)
    subprocess.run(["scancel", job], check=True)
    cancelled = time.monotonic()
    status, output = finish(sweep, timeout=120)
    assert time.monotonic() - cancelled < 60, "the sweep noticed the cancelled job late (is accounting, sacct, on?)"
    assert status != 0 and "CANCELLED" in output, output[-3000:]
    assert final_state(job).startswith("CANCELLED")  # sacct: "CANCELLED by <uid>", cut to "CANCELLED+"


# The preset's GPU request, without a cluster: `sinfo` is a stand-in that lists the partitions.


def _gpus_per_node(*overrides: str) -> int:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("config", overrides=["hydra/launcher=slurm", *overrides], return_hydra_config=True)
    GlobalHydra.instance().clear()
    return cfg.hydra.launcher.gpus_per_node


@pytest.fixture
def partitions(tmp_path, monkeypatch):
    """A `sinfo` on PATH listing a default CPU partition `cpu` and a partition `gpu` with GPUs."""
    sinfo = tmp_path / "bin" / "sinfo"
    sinfo.parent.mkdir()
    sinfo.write_text("#!/bin/sh\nprintf 'cpu* (null)\\ngpu gpu:a100:4(S:0-1),mps:100\\n'\n")
    sinfo.chmod(0o755)
    monkeypatch.setenv("PATH", f"{sinfo.parent}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize(
    ("overrides", "gpus"),
    [
        ((), 0),  # auto, default partition: its nodes have no GPU
        (("hydra.launcher.partition=gpu",), 1),
        (("hydra.launcher.partition=cpu",), 0),
        (("trainer.device=auto", "hydra.launcher.partition=gpu"), 1),
        (("trainer.device=cpu", "hydra.launcher.partition=gpu"), 0),
        (("trainer.device=cuda",), 1),
        (("trainer.device=cuda:1",), 2),  # a job numbers its own GPUs from 0
        (("hydra.launcher.gpus_per_node=4",), 4),
    ],
)
def test_a_job_asks_for_a_gpu_only_when_it_trains_on_cuda(partitions, overrides, gpus):
    assert _gpus_per_node(*overrides) == gpus


def test_without_sinfo_auto_says_to_choose_the_device(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(Exception, match="set trainer.device=cpu or trainer.device=cuda"):
        _gpus_per_node("hydra.launcher.partition=gpu")
