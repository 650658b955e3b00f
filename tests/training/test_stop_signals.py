"""Nothing lost to a stop signal: on SIGTERM (a requeue, a preemption, a kill) or SLURM's time-limit
signal the run finishes its step, checkpoints it, mid-epoch and in the first epoch too, and the same
command continues from that step to the results of an uninterrupted run, bit for bit on the CPU.

The runs signal themselves during a chosen step (tests/helpers/signal_after_step.py, or a patched step
counter in-process), so where they stop does not depend on timing. Under a real SLURM the cluster
tests send the signals from outside."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import torch
from conftest import HELPERS, assert_ok, compose_cfg, launch, launch_env

from ssibench.results import schema as results_io
from ssibench.run import run
from ssibench.training import checkpoints
from ssibench.training.cost_meter import CostMeter

# ei draws a random transform per batch; 3 batches an epoch, so a step can be mid-epoch or the last.
RUN = ("debug=smoke", "trainer.device=cpu", "loss=ei", "epochs=2", "split.max_train=12")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("uninterrupted")
    return run(compose_cfg(*RUN, data_dir=data_dir, output_dir=out)), (out / "metrics.csv").read_text()


def assert_same_as(uninterrupted, results: dict, out) -> None:
    expected, curves = uninterrupted
    assert results["per_image"] == expected["per_image"] and results["metrics"] == expected["metrics"]
    assert (out / "metrics.csv").read_text() == curves  # every epoch's loss averages, the stopped one too


def test_sigterm_in_the_first_epoch_checkpoints_that_step_and_the_same_command_resumes_from_it(
    uninterrupted, tmp_path, data_dir
):
    out = tmp_path / "run"
    args = (*RUN, f"hydra.run.dir={out}")
    stopped = subprocess.run(
        [sys.executable, str(HELPERS / "signal_after_step.py"), "SIGTERM", "2", *args],
        cwd=tmp_path, env=launch_env(data_dir), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    last = checkpoints.checkpoint_dir(out) / checkpoints.LAST
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-3000:]
    assert f"SIGTERM: stopped at epoch 0, step 2: {last}" in stopped.stdout
    assert "Logging error" not in stopped.stderr and not (out / "results.json").exists()
    state = torch.load(last, weights_only=True)
    assert state["epoch"] == -1 and state["partial_epoch"]["steps"] == 2  # before deepinv's first checkpoint

    resumed = launch(*args, cwd=tmp_path, data_dir=data_dir)  # the same command
    assert_ok(resumed)
    assert f"loaded {last} (epoch 0, step 2)" in resumed.stdout
    assert_same_as(uninterrupted, results_io.read(out / "results.json"), out)


@pytest.fixture
def signal_after(monkeypatch):
    """``signal_after(signum, k)``: this process sends itself ``signum`` during its k-th training step."""

    def arm(signum: signal.Signals, step: int) -> None:
        count_step, steps = CostMeter.step, []

        def step_then_signal(meter):
            count_step(meter)
            steps.append(1)
            if len(steps) == step:
                os.kill(os.getpid(), signum)

        monkeypatch.setattr(CostMeter, "step", step_then_signal)

    yield arm
    monkeypatch.undo()


@pytest.mark.parametrize(("step", "stopped_at"), [(3, "epoch 1, step 0"), (5, "epoch 1, step 2")])
def test_the_time_limit_signal_checkpoints_then_goes_on_to_submitits_requeue(
    step, stopped_at, signal_after, uninterrupted, tmp_path, data_dir, capsys
):
    """USR2 (submitit's time-limit signal) goes on, after the checkpoint, to the handler it found:
    here a stand-in for submitit's, which requeues the job and exits (sys.exit(-1))."""
    out = tmp_path / "run"
    last = checkpoints.checkpoint_dir(out) / checkpoints.LAST
    requeued = []

    def submitit_requeue(signum, frame):
        requeued.append(torch.load(last, weights_only=True)["partial_epoch"]["steps"])  # written before
        sys.exit(-1)

    previous = signal.signal(signal.SIGUSR2, submitit_requeue)
    try:
        signal_after(signal.SIGUSR2, step)
        with pytest.raises(SystemExit):
            run(compose_cfg(*RUN, data_dir=data_dir, output_dir=out))
        assert f"SIGUSR2: stopped at {stopped_at}: {last}" in capsys.readouterr().out
        assert requeued == [int(stopped_at[-1])]
        assert signal.getsignal(signal.SIGUSR2) is submitit_requeue  # handed back as it was
    finally:
        signal.signal(signal.SIGUSR2, previous)

    resumed = run(compose_cfg(*RUN, data_dir=data_dir, output_dir=out))  # the requeued job
    assert f"loaded {last} ({stopped_at})" in capsys.readouterr().out
    assert_same_as(uninterrupted, resumed, out)
