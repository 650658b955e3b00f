"""The paired test that marks a difference between two methods as real or as a tie."""

from __future__ import annotations

import numpy as np
from scipy.stats import wilcoxon

ALPHA = 0.05  # significance level of the paired tests


def paired_test(a: np.ndarray, b: np.ndarray) -> tuple[str, float]:
    """Wilcoxon signed-rank test (two-sided) of per-image values ``a`` against ``b`` over the same
    test images: ``better``, ``worse`` or ``tie`` (p ≥ :data:`ALPHA`), and the p-value."""
    if np.allclose(a, b):
        return "tie", 1.0
    p = float(wilcoxon(a, b).pvalue)
    if p >= ALPHA:
        return "tie", p
    return ("better" if np.median(a - b) > 0 else "worse"), p
