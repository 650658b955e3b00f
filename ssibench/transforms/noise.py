"""Noise transforms for consistency losses."""

from __future__ import annotations

import torch
from deepinv.transform import RandomNoise


class RangeNoise(RandomNoise):
    """deepinv's RandomNoise with a noise level drawn uniformly in ``sigma_range`` for each draw.

    deepinv 0.5 draws the level on the CPU whatever the generator's device, so a CUDA generator
    (needed for the noise itself on CUDA) fails; here it is drawn on the generator's device.
    """

    def __init__(self, sigma_range: list[float], **kwargs):
        super().__init__(sigma=tuple(sigma_range), **kwargs)

    def _get_params(self, *args) -> dict:
        low, high = self.sigma
        levels = torch.rand(self.n_trans, generator=self.rng, device=self.rng.device) * (high - low) + low
        return {"noise_model": [self.noise_class(sigma=level.item(), rng=self.rng) for level in levels]}
