"""Equal-budget tuning: the search spaces of the losses, and the values each trial of ``+tune=quasirandom`` sets.

Every loss gets the same number of trials, ``tune.trials``, in each (scenario, seed), as in the external
tuning ruleset of AlgoPerf (G. E. Dahl, F. Schneider, Z. Nado, ..., "Benchmarking Neural Network Training
Algorithms", 2023, arXiv:2306.07179; F. Kasimbeg et al., "Accelerating neural network training: An analysis of
the AlgoPerf competition", ICLR 2025): a quasirandom search over each method's own search space. Here a
loss's space is the learning rate, common to every loss that trains (``tune.space``, conf/tune/quasirandom.yaml,
one range for all), and the hyper-parameters its YAML declares under ``loss.search_space``. Trial 0 is the
loss's defaults (the paper's values); trial k > 0 is point k of a scrambled Halton sequence
(:class:`scipy.stats.qmc.Halton`) seeded from the run's seed, mapped onto the space. The point depends only on
the space, the seed and k: the same on every machine, whatever else the sweep runs and in whatever order.

A trial is an ordinary run: :meth:`ssibench.config.context.RunContext.from_hydra` applies its values
(:func:`apply_trial`) before the run's identity is taken, so its folder, its identity (resume, "already
finished") and results.json ``config`` hold them, under their own keys and in ``tune.values``, with its index
``tune.trial``. No key may change the simulated measurements: every trial reads the same cache.

A space's entry is a config path from the root (``loss.splitting.mask_generator.split_ratio``) mapped to either
``{scale: linear|log, low, high}`` (uniform in the value, or in its logarithm) or ``{choices: [...]}``.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from ssibench.errors import InputError
from ssibench.training.random_streams import stream_seed

SCALES = ("linear", "log")
COMMON = "tune.space"  # the space every loss that trains searches: the learning rate
LOSS = "loss.search_space"  # a loss's own hyper-parameters
# What makes the simulated measurements (ssibench.data.measurement_cache.cache_key): the same for every trial.
_DATA = ("dataset", "split", "physics", "img_size", "seed")
_SIGNIFICANT = 6  # a value's digits: the same on every machine (exp/log may differ in their last bit)


@dataclass(frozen=True)
class Dimension:
    """One hyper-parameter searched: a ``scale`` between ``low`` and ``high``, or one of ``choices``."""

    key: str
    scale: str | None = None
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None

    def value(self, u: float) -> Any:
        """The value at ``u`` in [0, 1): uniform in the value (linear) or its logarithm (log), or the
        choice of index ``floor(u * n)``."""
        if self.choices is not None:
            return self.choices[min(int(math.floor(u * len(self.choices))), len(self.choices) - 1)]
        if self.scale == "log":
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        return float(f"{value:.{_SIGNIFICANT}g}")


def search_space(cfg: DictConfig) -> list[Dimension]:
    """The dimensions a trial of ``cfg`` sets, sorted by key: none for a loss that trains nothing (no
    ``loss.losses``); else the common ones (``tune.space``, where ``+tune`` is given) and the loss's own.
    Each is checked: :class:`InputError` in one line for a bad scale or range, a key that is not a path of
    ``cfg``, one that would change the measurements, or a loss's key that ``tune.space`` already searches."""
    own = _dimensions(cfg, LOSS)
    common = _dimensions(cfg, COMMON) if cfg.get("tune") is not None else []
    for dimension in own:
        if dimension.key in {c.key for c in common}:
            raise InputError(
                f"{LOSS}: {dimension.key} is searched for every loss ({COMMON}, one range for all): "
                "leave it out of the loss's search_space"
            )
    loss = cfg.get("loss")
    if not isinstance(loss, DictConfig) or not loss.get("losses"):
        return []  # trains nothing (zero_filled): nothing to tune
    return sorted([*common, *own], key=lambda d: d.key)


def _dimensions(cfg: DictConfig, where: str) -> list[Dimension]:
    node = OmegaConf.select(cfg, where, default=None)
    if node is None:
        return []
    if not isinstance(node, DictConfig):
        raise InputError(f"{where} must map config paths to {{scale, low, high}} or {{choices}}, got {node!r}")
    return [_dimension(cfg, where, str(key), node[key]) for key in node]


def _dimension(cfg: DictConfig, where: str, key: str, spec) -> Dimension:
    name = f"{where}[{key}]"
    usage = "use {scale: log|linear, low: L, high: H} with L < H, or {choices: [...]}"
    spec = OmegaConf.to_container(spec, resolve=True, enum_to_str=True) if OmegaConf.is_config(spec) else spec
    if not isinstance(spec, dict):
        raise InputError(f"{name} is {spec!r}: {usage}")
    extra = sorted(set(spec) - {"scale", "low", "high", "choices"})
    if extra:
        raise InputError(f"{name} has {extra[0]}, which is not a field: {usage}")
    _check_key(cfg, where, key)
    choices = spec.get("choices")
    if choices is not None:
        if any(spec.get(field) is not None for field in ("scale", "low", "high")):
            raise InputError(f"{name} has both choices and scale/low/high: give one of them")
        if not isinstance(choices, list) or not choices:
            raise InputError(f"{name}.choices must be a non-empty list, got {choices!r}")
        return Dimension(key, choices=tuple(choices))
    scale, low, high = spec.get("scale"), spec.get("low"), spec.get("high")
    if scale not in SCALES:
        raise InputError(f"{name}.scale is {scale!r}, not log or linear: {usage}")
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (low, high))
    if not numbers or not low < high:
        raise InputError(f"{name}: low={low!r} and high={high!r} must be numbers with low < high: {usage}")
    if scale == "log" and low <= 0:
        raise InputError(f"{name}: a log scale needs low > 0, got low={low!r}: use scale: linear, or a positive low")
    return Dimension(key, scale=scale, low=float(low), high=float(high))


def _check_key(cfg: DictConfig, where: str, key: str) -> None:
    """``key`` is a path of the composed config, and not one that makes the measurements."""
    if key.split(".")[0] in _DATA or key.split(".")[0] == "tune":
        raise InputError(
            f"{where}: {key} would change the data or the trial itself: search the loss's and the trainer's "
            "hyper-parameters only (every trial trains on the same measurements)"
        )
    node = cfg
    for depth, part in enumerate(key.split(".")):
        child = _child(node, part)
        if child is None:
            close = difflib.get_close_matches(key, list(_paths(cfg)), n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InputError(
                f"{where}: {key} is not a key of the composed config{hint}: name a path from the root, "
                "e.g. loss.splitting.mask_generator.split_ratio"
            )
        if depth < key.count(".") and child._is_interpolation():
            written = ".".join(key.split(".")[: depth + 1])
            raise InputError(
                f"{where}: {key} passes through {written}, which is {child._value()}: "
                "name the entry where the value is written"
            )
        node = child


def _child(node, part: str):
    """The node of ``node``'s entry ``part`` (a list's by its index), or None where there is none."""
    try:
        if isinstance(node, ListConfig):
            return node._get_node(int(part)) if part.isdigit() and int(part) < len(node) else None
        if isinstance(node, DictConfig):
            return node._get_node(part)
    except Exception:  # noqa: BLE001  a node OmegaConf cannot give: not a path
        return None
    return None


def _paths(node, prefix: str = ""):
    """Every path of ``node``'s entries, for the "did you mean" of a misspelt key."""
    if isinstance(node, DictConfig):
        items = [(str(k), k) for k in node.keys() if not (prefix == "" and k == "hydra")]
    elif isinstance(node, ListConfig):
        items = [(str(i), i) for i in range(len(node))]
    else:
        return
    for name, key in items:
        path = f"{prefix}{name}"
        yield path
        try:
            child = node._get_node(key)
        except Exception:  # noqa: BLE001  a node OmegaConf cannot give: no paths below it
            continue
        if isinstance(child, (DictConfig, ListConfig)) and not child._is_interpolation():
            yield from _paths(child, f"{path}.")


def trial_values(space: list[Dimension], seed: int, trial: int) -> dict[str, Any]:
    """The values of trial ``trial`` of a run of ``seed``: none for trial 0 (the defaults); else point
    ``trial`` of the scrambled Halton sequence of ``len(space)`` dimensions seeded from ``seed``."""
    if trial == 0 or not space:
        return {}
    from scipy.stats import qmc  # imported here: only a tuned run needs it

    rng = np.random.default_rng(stream_seed(seed, "tune"))
    try:
        sampler = qmc.Halton(len(space), scramble=True, rng=rng)
    except TypeError:  # scipy < 1.15 names it seed
        sampler = qmc.Halton(len(space), scramble=True, seed=rng)
    sampler.fast_forward(trial)
    point = sampler.random(1)[0]
    return {dimension.key: dimension.value(float(u)) for dimension, u in zip(space, point)}


def check(cfg: DictConfig) -> None:
    """Raise :class:`InputError` (one line) for a bad search space of ``cfg`` (the loss's, with or without
    ``+tune``) or a bad trial index: the checks :func:`apply_trial` makes, without setting anything."""
    search_space(cfg)
    _trial(cfg)


def apply_trial(cfg: DictConfig) -> dict[str, Any]:
    """Set the values of ``cfg``'s trial (``tune.trial``) in ``cfg``, at their keys and in ``tune.values``,
    and return them; nothing without ``+tune``. The same values whenever it is called again.
    Raises :class:`InputError` (one line) for a bad trial index or search space."""
    trial = _trial(cfg)
    if trial is None:
        return {}
    values = trial_values(search_space(cfg), cfg.seed, trial)
    for key, value in values.items():
        OmegaConf.update(cfg, key, value, merge=False)
    with open_dict(cfg):
        cfg.tune.values = values
    return values


def _trial(cfg: DictConfig) -> int | None:
    """``tune.trial``, checked against ``tune.trials``; None without ``+tune``."""
    tune = cfg.get("tune")
    if tune is None:
        return None
    trials, trial = tune.get("trials"), tune.get("trial")
    for name, value, minimum in (("tune.trials", trials, 1), ("tune.trial", trial, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if trial >= trials:
        raise InputError(f"tune.trial={trial} is not one of the {trials} trials: give tune.trials={trial + 1} or more")
    return trial
