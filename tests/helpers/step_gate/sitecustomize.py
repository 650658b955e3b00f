"""Holds a job at a chosen optimizer step until a stop signal has come, so that where a SLURM job is
interrupted does not depend on timing (tests/cluster/test_cluster.py).

On PYTHONPATH with SSIBENCH_STEP_GATE=<file> and SSIBENCH_STEP_GATE_AFTER=<k>, a Python process
(Python imports ``sitecustomize`` at start-up) started while <file> does not exist writes it after its
k-th optimizer step, then waits until the run's stop-signal handler has noted a signal (a test sends
one once it sees the file); the run then checkpoints before its next step. A requeued job starts with
the file there and runs freely. The run's code and config are those of an ungated run."""

import os
import signal
import time
from pathlib import Path

gate = os.environ.get("SSIBENCH_STEP_GATE")
if gate and not Path(gate).exists():
    from ssibench.training.cost_meter import CostMeter

    after, count_step, steps = int(os.environ["SSIBENCH_STEP_GATE_AFTER"]), CostMeter.step, 0

    def signal_noted() -> bool:
        handler = signal.getsignal(signal.SIGTERM)  # ssibench's StopSignals._note while training
        return getattr(getattr(handler, "__self__", None), "received", None) is not None

    def step_then_wait(meter: CostMeter) -> None:
        global steps
        count_step(meter)
        steps += 1
        if steps == after:
            Path(gate).touch()
            deadline = time.monotonic() + 300
            while not signal_noted() and time.monotonic() < deadline:
                time.sleep(0.05)

    CostMeter.step = step_then_wait
