"""The signals that end a job early, turned into a checkpoint of the step it was at.

SLURM ends a job with SIGTERM when it requeues it (``scontrol requeue``) or preempts it, and sends
submitit's signal (USR2, or ``SUBMITIT_PREEMPT_SIGNAL``) ``signal_delay_s`` before its time limit;
a user's ``kill`` sends SIGTERM too. submitit, left alone, ignores SIGTERM (the job trains on until
SIGKILL) and, on USR2, requeues the job from inside the signal handler, wherever training is: work
since the last epoch checkpoint is lost either way.

While a :class:`StopSignals` is entered, both signals only note that they came (the handler does
nothing else: a handler that logs, interrupting a log write, raised "reentrant call"). The trainer
looks at :attr:`StopSignals.received` before each optimizer step, writes a checkpoint of the run as
it is (:mod:`ssibench.training.trainer`), then calls :meth:`StopSignals.hand_over`: USR2 goes on to
the handler it replaced (submitit's, which requeues the job and exits), SIGTERM ends the process
(SLURM requeues a requeued or preempted job itself). The requeued job resumes from that checkpoint.
SIGINT (Ctrl-C) keeps Python's behaviour: it stops at once, and the run resumes from its last epoch.
"""

from __future__ import annotations

import signal
import threading
from typing import NoReturn

from submitit.core.job_environment import JobEnvironment


def time_limit_signal() -> signal.Signals:
    """The signal submitit asks SLURM to send before the time limit (``--signal``)."""
    return signal.Signals[f"SIG{JobEnvironment.USR_SIG}"]


class StopSignals:
    """SIGTERM and the time-limit signal, noted while entered and handed over on request."""

    def __init__(self):
        self.received: signal.Signals | None = None
        self._replaced: dict[signal.Signals, object] = {}

    def __enter__(self) -> StopSignals:
        # Python runs handlers in the main thread only (a run in a thread keeps the handlers it has).
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, time_limit_signal()):
                self._replaced[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._replaced.items():
            signal.signal(signum, handler)
        self._replaced = {}

    def _note(self, signum: int, frame) -> None:
        self.received = signal.Signals(signum)  # nothing else: no I/O inside a signal handler

    def hand_over(self) -> NoReturn:
        """After the checkpoint: the time-limit signal to the handler it replaced (submitit's requeues
        the job and exits), else end the process as the signal would have (exit code 128 + signal)."""
        signum, replaced = self.received, self._replaced.get(self.received)
        self.__exit__()
        if signum == time_limit_signal() and callable(replaced):
            replaced(signum, None)
        raise SystemExit(128 + signum)
