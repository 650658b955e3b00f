"""Composing transforms in a loss config, where YAML cannot spell deepinv's ``*``."""

from __future__ import annotations

import functools
import operator

from deepinv.transform import Transform


def chain(transforms: list[Transform]) -> Transform:
    """``T1 * T2 * ...``: apply the transforms one after the other (deepinv's ``*`` on transforms)."""
    return functools.reduce(operator.mul, transforms)
