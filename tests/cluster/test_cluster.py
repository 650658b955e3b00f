"""The SLURM path against real daemons (`hydra/launcher=slurm`, submitit): the README's sweep as a job
array, requeues and a time limit that resume to the numbers of an uninterrupted run, a cancelled job.

Needs a SLURM controller this machine can submit to (`.ci/slurm/start` brings up one node; `.ci/run`
does, and sets SSIBENCH_REQUIRE_CLUSTER=1 so that a missing one fails here instead of skipping).
The jobs train on the node's CPU; `hydra.launcher.partition` is the cluster's default partition."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import CONF, HELPERS, ROOT, launch_env
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from ssibench.results import schema as results_io
from ssibench.training import checkpoints

REQUIRE_CLUSTER = os.environ.get("SSIBENCH_REQUIRE_CLUSTER") == "1"  # set by .ci/run: no skipping there
# ei draws a random transform per batch: a resumed job must continue those draws and the data order.
RUN = ("debug=smoke", "loss=ei", "physics=mri", "epochs=3", "split.max_train=8")
# One CPU and 2 GB a job: two jobs at once on the 2-CPU node (the preset's defaults ask 2 CPUs and 8 GB).
ONE_CPU = ("hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2")
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


def gated(gate: Path, after: int, data_dir: Path) -> dict:
    """The environment that holds a job after its ``after``-th optimizer step until a stop signal has
    come (tests/helpers/step_gate/sitecustomize.py); ``gate`` appears when it is held there."""
    return {
        "PYTHONPATH": os.pathsep.join([str(HELPERS / "step_gate"), _env(data_dir)["PYTHONPATH"]]),
        "SSIBENCH_STEP_GATE": str(gate), "SSIBENCH_STEP_GATE_AFTER": str(after),
    }  # fmt: skip


def requeue_when_held(sweep_dir: Path, gate: Path, timeout: float = REQUEUE_WAIT_S) -> None:
    """``scontrol requeue`` the sweep's job once it is held at its gate (what a preemption with
    PreemptMode=REQUEUE does: SIGTERM, then SLURM starts the job again)."""
    deadline = time.monotonic() + timeout
    while not (gate.exists() and job_ids(sweep_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if gate.exists():
        (job,) = job_ids(sweep_dir)
        subprocess.run(["scontrol", "requeue", job], check=True)


@pytest.fixture(scope="module")
def sweeps(cluster, tmp_path_factory, data_dir) -> dict[str, Path]:
    """Every sweep of the tests below, submitted at once so that they share the node and their waits
    (requeues, time limits) overlap; each ends equal to the README sweep's ei job, the uninterrupted run.

    - ``readme``: the README's CPU-partition sweep, a job array of mc and ei;
    - ``first_epoch``: ei, requeued when held after its first step (of 2 an epoch);
    - ``mid_run``: ei, requeued when held after its fifth step (in its third epoch, after the second
      epoch's checkpoint);
    - ``time_limit``: ei with a 2-minute limit and the signal asked 60 s before it, held after its
      third step (in its second epoch) until that signal comes (the run alone is shorter than a minute).

    The jobs ask one CPU each (`cpus_per_task=1`, on this 2-CPU node two run at once, on one thread
    each: equal threads, equal arithmetic)."""
    root = tmp_path_factory.mktemp("sweeps")
    timeouts = ("hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=60", "hydra.launcher.max_num_timeout=4")
    started = {
        "readme": submit(root / "readme", data_dir, *RUN[:1], "loss=mc,ei", *RUN[2:], *ONE_CPU),
        "first_epoch": submit(root / "first_epoch", data_dir, *RUN, *ONE_CPU, env=gated(root / "gate1", 1, data_dir)),
        "mid_run": submit(root / "mid_run", data_dir, *RUN, *ONE_CPU, env=gated(root / "gate5", 5, data_dir)),
        "time_limit": submit(root / "time_limit", data_dir, *RUN, *ONE_CPU, *timeouts, env=gated(root / "gate3", 3, data_dir)),
    }
    watchers = [
        threading.Thread(target=requeue_when_held, args=(root / name, root / gate), daemon=True)
        for name, gate in (("first_epoch", "gate1"), ("mid_run", "gate5"))
    ]
    for watcher in watchers:
        watcher.start()
    outputs = {name: finish(sweep) for name, sweep in started.items()}
    for name, (status, output) in outputs.items():
        assert status == 0, f"{name}: {output[-3000:]}"
    return {name: root / name for name in started}


@pytest.mark.cluster
@pytest.mark.slow
def test_the_readme_sweep_runs_as_a_job_array_on_a_partition_without_gpus(sweeps):
    readme_sweep = sweeps["readme"]
    (array,) = {job.split("_")[0] for job in job_ids(readme_sweep)}
    script = (readme_sweep / ".submitit" / array / f"{array}_submission.sh").read_text()
    # trainer.device=auto on a partition whose nodes have no GPU: no GPU asked (else sbatch refuses).
    assert "#SBATCH --gpus-per-node=0" in script and "#SBATCH --cpus-per-task=1" in script, script
    for job in job_ids(readme_sweep):
        assert final_state(job) == "COMPLETED"
        log = job_log(readme_sweep, job)
        # Each submitit message once (its own handlers and Hydra's printed each twice).
        assert log.count("Job completed successfully") == 1, log
    for number in (0, 1):
        results = results_io.read(run_dir(readme_sweep, number) / "results.json")
        assert results["status"] == "ok" and results["device"] == "cpu"
        job_log_of_run = (run_dir(readme_sweep, number) / "launch.log").read_text()  # the job's lines, in its folder
        assert f"[ssibench] loss={results['loss']} physics={results['physics']}" in job_log_of_run


@pytest.mark.parametrize(("sweep", "epoch", "step"), [("first_epoch", 0, 1), ("mid_run", 2, 1)])
@pytest.mark.cluster
@pytest.mark.slow
def test_a_requeued_job_resumes_from_the_checkpoint_written_on_the_signal_to_the_same_results(
    sweeps, sweep, epoch, step
):
    (job,) = job_ids(sweeps[sweep])
    log, run = job_log(sweeps[sweep], job), run_dir(sweeps[sweep])
    last = checkpoints.checkpoint_dir(run) / checkpoints.LAST
    # The first session checkpointed the step it was at on SIGTERM; the second started from it and
    # ran that epoch to its end once.
    assert f"SIGTERM: stopped at epoch {epoch}, step {step}: {last}" in log, log
    loaded = log.find(f"loaded {last} (epoch {epoch}, step {step})")
    line = f"[ssibench] epoch {epoch + 1}/3"
    assert loaded >= 0 and log.count(line) == 1 and log.index(line) > loaded, log
    assert_same_results(run, run_dir(sweeps["readme"], 1))


@pytest.mark.cluster
@pytest.mark.slow
def test_a_job_past_its_time_limit_is_requeued_and_resumes_to_the_same_results(sweeps):
    # SLURM signals (USR2) up to a minute before signal_delay_s asks: with 2 minutes and 60 s, a session
    # lasts 0 to 60 s; the one after the held one may be signalled again, and keeps what it reached.
    (job,) = job_ids(sweeps["time_limit"])
    log, run = job_log(sweeps["time_limit"], job), run_dir(sweeps["time_limit"])
    last = checkpoints.checkpoint_dir(run) / checkpoints.LAST
    # The step the signal found was checkpointed, then submitit requeued the job, which went on from it.
    assert f"SIGUSR2: stopped at epoch 1, step 1: {last}" in log, log
    assert "Caught signal SIGUSR2" in log and "this job is timed-out" in log, log
    assert f"loaded {last} (epoch 1, step 1)" in log, log
    assert_same_results(run_dir(sweeps["time_limit"]), run_dir(sweeps["readme"], 1))


@pytest.mark.cluster
@pytest.mark.slow
def test_a_cancelled_job_ends_the_sweep_with_an_error_within_a_minute(cluster, tmp_path, data_dir):
    sweep_dir = tmp_path / "sweep"
    sweep = submit(sweep_dir, data_dir, *RUN[:3], "epochs=50", *ONE_CPU)
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
