"""What a run prints: progress bars on a terminal; elsewhere (a file, a SLURM log) one line per epoch,
so that ``grep`` finds the numbers and a log stays small."""

from __future__ import annotations

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
