"""What a run prints: progress bars on a terminal; elsewhere (a file, a SLURM log) one line per epoch,
so that ``grep`` finds the numbers and a log stays small.

The run's lines go through :mod:`logging` (the ``ssibench`` loggers, one per module):
:func:`log_run_lines` sends them to stdout as they are (the message only) and to the run folder's job
log that Hydra opened (``launch.log``: every file handler of the root logger, with its time stamps),
for single runs, sweep jobs and SLURM jobs alike.
"""

from __future__ import annotations

import logging
import sys


def progress_bars(setting) -> bool:
    """``trainer.show_progress_bar``: ``auto`` shows bars only when stdout is a terminal."""
    if setting == "auto":
        return sys.stdout.isatty()
    return bool(setting)


def epoch_line(epoch: int, epochs: int, losses: dict[str, float], scores: dict[str, float], seconds: float) -> str:
    """``[ssibench] epoch 3/20: loss 1.2e-03 | val kspace 0.0412 PSNR 25.02 | test PSNR 24.31 SSIM 0.6012 | 4.1 s``
    from the epoch's losses and its scores by column (``val/kspace``, ``test/PSNR``, ...)."""
    parts = [f"[ssibench] epoch {epoch}/{epochs}:"]
    if losses:
        total = sum(losses.values())
        terms = f" ({', '.join(f'{name} {value:.3g}' for name, value in losses.items())})" if len(losses) > 1 else ""
        parts.append(f"loss {total:.4g}{terms}")
    for kind in ("val", "test"):
        shown = [f"{column.split('/', 1)[1]} {value:.4g}" for column, value in scores.items() if column.startswith(f"{kind}/")]
        if shown:
            parts.append(f"| {kind} " + " ".join(shown))
    parts.append(f"| {seconds:.1f} s")
    return " ".join(parts)


class _Stdout(logging.StreamHandler):
    """The message alone, on ``sys.stdout`` as it is at each line (a redirected stream, pytest's capture)."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _):  # StreamHandler sets it; the current sys.stdout is used instead
        pass


def log_run_lines() -> None:
    """Route the ``ssibench`` loggers' lines: to stdout, message only (the console shows what it always
    did, with or without Hydra), and to each file the root logger writes (Hydra's ``launch.log`` in the
    run folder, set up again for each job). Called as a run starts: a worker that runs several jobs of
    a sweep logs each into its own folder."""
    logger = logging.getLogger("ssibench")
    logger.setLevel(logging.INFO)
    logger.propagate = False  # Hydra's console handler would print each line again, prefixed
    files = [handler for handler in logging.getLogger().handlers if isinstance(handler, logging.FileHandler)]
    logger.handlers = [_Stdout(), *files]
