"""What a run prints: progress bars on a terminal; elsewhere (a file, a SLURM log) one line per epoch,
so that ``grep`` finds the numbers and a log stays small."""

from __future__ import annotations

import re
import sys


def progress_bars(setting) -> bool:
    """``trainer.show_progress_bar``: ``auto`` shows bars only when stdout is a terminal."""
    if setting == "auto":
        return sys.stdout.isatty()
    return bool(setting)


def epoch_line(epoch: int, epochs: int, losses: dict[str, float], metrics: dict[str, float], seconds: float) -> str:
    """``[ssibench] epoch 3/20: loss 1.2e-03 (MCLoss 1.2e-03) | test PSNR 24.31 SSIM 0.6012 | 4.1 s``."""
    parts = [f"[ssibench] epoch {epoch}/{epochs}:"]
    if losses:
        total = sum(losses.values())
        terms = f" ({', '.join(f'{name} {value:.3g}' for name, value in losses.items())})" if len(losses) > 1 else ""
        parts.append(f"loss {total:.4g}{terms}")
    if metrics:
        parts.append("| test " + " ".join(f"{name} {value:.4g}" for name, value in metrics.items()))
    parts.append(f"| {seconds:.1f} s")
    return " ".join(parts)


class UnknownChoiceHint:
    """``sys.stderr``, adding one line on ``hydra.searchpath`` after Hydra's report of an unknown choice
    (``Could not find 'loss/foo'`` and the built-in options): Hydra writes that report itself, in one
    write, and exits, with no hook to extend it."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        unknown = re.search(r"Could not find '([^']+)/([^'/]+)'", text)
        if unknown:
            group, name = unknown.groups()
            self._stream.write(
                f"ssibench: a {group} of your own? put it in <folder>/{group}/{name}.yaml and add that folder to "
                f"Hydra's search path: hydra.searchpath=[file:///absolute/path/to/<folder>] (README: Your own loss, ...)\n"
            )
        return written

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
