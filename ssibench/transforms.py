"""Transforms for loss configs that YAML cannot spell directly."""

from __future__ import annotations

import functools
import operator

from deepinv.transform import RandomNoise, Transform


def chain(transforms: list[Transform]) -> Transform:
    """``T1 * T2 * ...``: apply the transforms one after the other (deepinv's ``*`` on transforms)."""
    return functools.reduce(operator.mul, transforms)


def random_noise(sigma_range: list[float], **kwargs) -> RandomNoise:
    """deepinv's RandomNoise with a noise level drawn uniformly in ``sigma_range`` (it wants a tuple)."""
    return RandomNoise(sigma=tuple(sigma_range), **kwargs)
