"""How sure a table's order is: each method's rank interval, by bootstrap over its seeds and the test images.

A rank is the position in the table's order (#1 the lowest PSNR, as the tables number them). Each draw
resamples the test images (the same images for every method: they share the test set) and, for each
method, its seeds; the methods are ranked by their mean PSNR over the drawn seeds and images. The
interval holds the central 95% of a method's ranks over the draws: two methods whose intervals
overlap are not told apart by these seeds and images.
"""

from __future__ import annotations

import numpy as np

DRAWS = 2000
LEVEL = 0.95
FOOTNOTE = (
    f"Rank interval: the central {LEVEL:.0%} of each method's rank (#1 the lowest PSNR) over {DRAWS} bootstrap draws "
    "of its seeds and of the test images (the same images for every method); overlapping intervals: not told apart."
)


def rank_intervals(seed_images: list[np.ndarray | None], seed: int = 0) -> list[tuple[int, int] | None]:
    """For each method's per-seed, per-image scores (``(n_seeds, n_images)``; ``None``: none recorded),
    its rank interval among the methods that have them; ``None`` for the others, and for all when the
    methods were scored on different numbers of images."""
    usable = [k for k, scores in enumerate(seed_images) if scores is not None]
    if len(usable) < 2 or len({seed_images[k].shape[1] for k in usable}) != 1:
        return [None] * len(seed_images)
    rng = np.random.default_rng(seed)
    n_images = seed_images[usable[0]].shape[1]
    ranks = np.empty((DRAWS, len(usable)), dtype=int)
    for draw in range(DRAWS):
        images = rng.integers(0, n_images, n_images)
        means = []
        for k in usable:
            scores = seed_images[k]
            seeds = rng.integers(0, scores.shape[0], scores.shape[0])
            means.append(scores[np.ix_(seeds, images)].mean())
        ranks[draw] = np.argsort(np.argsort(means, kind="stable"), kind="stable") + 1
    tail = (1 - LEVEL) / 2
    low = np.quantile(ranks, tail, axis=0, method="lower")
    high = np.quantile(ranks, 1 - tail, axis=0, method="higher")
    out: list[tuple[int, int] | None] = [None] * len(seed_images)
    for position, k in enumerate(usable):
        out[k] = (int(low[position]), int(high[position]))
    return out
