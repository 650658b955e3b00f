"""``python tests/helpers/signal_after_step.py SIGNAL K launch.py-arguments...``: ``python launch.py`` that
sends itself SIGNAL during its K-th optimizer step (after the step's update, as a signal from SLURM
may land), so a test stops a run at a known step without timing it from outside."""

import os
import runpy
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # this checkout's ssibench, as `python launch.py` imports it
from ssibench.training.cost_meter import CostMeter  # noqa: E402

signum, after = signal.Signals[sys.argv[1]], int(sys.argv[2])
count_step = CostMeter.step
steps = 0


def step_then_signal(meter: CostMeter) -> None:
    global steps
    count_step(meter)
    steps += 1
    if steps == after:
        os.kill(os.getpid(), signum)


CostMeter.step = step_then_signal
launch = str(ROOT / "launch.py")
sys.argv = [launch, *sys.argv[3:]]
runpy.run_path(launch, run_name="__main__")
