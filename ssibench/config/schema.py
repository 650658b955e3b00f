"""Schemas of the loss, physics, trainer and tune config groups: Hydra structured configs.

Each YAML of these groups lists its group's schema first in its defaults list
(``- /schema/loss@_here_``; a YAML that extends another inherits it), so a key the schema lacks or a value of the wrong type fails when
the config is composed, with Hydra's message, before anything runs. A config of one's own that does
not list it (a YAML on ``hydra.searchpath``, ``_target_`` overrides) is typed when the run starts
(:func:`apply`), with the same checks. What a loss needs from a
scenario (``requires``) and what a scenario offers (``provides``) are :class:`Capability` names.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from ssibench.errors import InputError


class Capability(Enum):
    """What a scenario offers a loss: measurement noise of a known σ; a single coil."""

    noise = "noise"
    single_coil = "single_coil"


@dataclass
class PhysicsSchema:
    """A scenario (``physics=``): the operator A, the mask generator, the noise, and what they offer."""

    operator: Any = MISSING  # the forward operator (deepinv Physics), gets img_size and device
    generator: Any = MISSING  # the mask generator: a new mask per image, or one for all with fixed_mask
    mc_loss: Any = MISSING  # the measurement-consistency term of the losses built on it
    acceleration: float = 6.0
    fixed_mask: bool = False
    noise: Any = None  # a deepinv noise model, or none
    sigma: Optional[float] = None  # the noise level, where there is noise
    coils: Optional[int] = None  # simulated coils, multicoil only
    provides: list[Capability] = field(default_factory=list)
    discriminator_domain: str = "measurements"  # what a discriminator on measurements sees: measurements | A_adjoint


@dataclass
class SearchDimension:
    """One hyper-parameter of a search space (:mod:`ssibench.config.tuning`, which checks it): ``scale`` log
    or linear between ``low`` and ``high``, or one of ``choices``."""

    scale: Optional[str] = None  # log | linear (a str, so that a wrong one gets tuning's one-line message)
    low: Optional[float] = None
    high: Optional[float] = None
    choices: Optional[list[Any]] = None


@dataclass
class LossSchema:
    """A loss (``loss=``): its terms, what it needs, and the discriminator of an adversarial loss."""

    label: str = MISSING  # its name in results and leaderboards
    losses: list[Any] = field(default_factory=list)  # the terms, summed; none: nothing is trained
    requires: list[Capability] = field(default_factory=list)  # what the scenario must provide
    supervised: bool = False  # reads the ground truth (the oracle)
    discriminator: Any = None  # D of an adversarial loss
    losses_d: list[Any] = field(default_factory=list)  # D's terms
    real_samples: Any = None  # D's stream of real samples over the training measurements
    # Building blocks that several losses share by interpolation (${loss.splitting}, ...).
    splitting: Any = None
    weighted_split: Any = None
    weighted_splitting: Any = None
    equivariance: Any = None
    # Its own hyper-parameters searched by +tune=quasirandom (ssibench/config/tuning.py), by config path from
    # the root (loss.splitting.mask_generator.split_ratio); the learning rate is every loss's (tune.space).
    search_space: dict[str, SearchDimension] = field(default_factory=dict)


@dataclass
class TuneSchema:
    """Equal-budget tuning (``+tune=quasirandom``, :mod:`ssibench.config.tuning`): trial ``trial`` of ``trials``."""

    trials: int = 1  # trials per (loss, scenario, seed): a -m sweep runs trial 0 .. trials-1
    trial: int = 0  # 0: the loss's defaults; k > 0: point k of the quasirandom sequence
    space: dict[str, SearchDimension] = field(default_factory=dict)  # searched for every loss that trains
    values: dict[str, Any] = field(default_factory=dict)  # what the trial set (by the run, not by hand)


@dataclass
class TrainerSchema:
    """Optimisation, precision, data loading and checkpoints (``trainer=``)."""

    device: str = "cpu"
    jobs_per_gpu: int = 1
    batch_size: int = 4
    optimizer: Any = MISSING
    precision: str = "fp32"  # fp32 | bf16 | fp16 (checked when the run starts)
    compile: bool = False
    num_workers: Any = "auto"  # auto | int
    pin_memory: Any = "auto"  # auto | bool
    persistent_workers: Any = "auto"  # auto | bool
    worker_start_method: str = "auto"
    ckp_interval: int = 1
    eval_interval: int = 1
    show_progress_bar: Any = "auto"  # auto | bool
    resident_data: Any = "auto"  # auto | bool


SCHEMAS = {"loss": LossSchema, "physics": PhysicsSchema, "trainer": TrainerSchema, "tune": TuneSchema}


def apply(cfg: DictConfig) -> None:
    """Type each group of ``cfg`` that has a schema by it, in place: a YAML of one's own that does not
    list its schema (or a loss given by ``_target_`` overrides) is then checked like a built-in one.
    A key the schema lacks, a value of the wrong type or a missing ``label`` raise
    :class:`~ssibench.config.checks.InputError` in one line."""
    for group, schema in SCHEMAS.items():
        node = cfg.get(group)
        if node is None or OmegaConf.get_type(node) is schema:
            continue  # composed with its schema (every built-in choice)
        try:
            typed = OmegaConf.merge(OmegaConf.structured(schema), node)
        except OmegaConfBaseException as error:
            key = f"{group}.{error.full_key}"
            if isinstance(error, ConfigKeyError):
                close = difflib.get_close_matches(str(error.key), [f.name for f in fields(schema)], n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise InputError(
                    f"{key} is not a key of a {group} config{hint}: its keys are {', '.join(f.name for f in fields(schema))}"
                ) from None
            raise InputError(f"{key}: {str(error.msg).splitlines()[0]}") from None
        missing = [f.name for f in fields(schema) if OmegaConf.is_missing(typed, f.name)]
        if missing:
            raise InputError(f"{group}.{missing[0]} is not set: every {group} config needs one")
        with open_dict(cfg):
            cfg[group] = typed


def register() -> None:
    store = ConfigStore.instance()
    store.store(group="schema", name="physics", node=PhysicsSchema)
    store.store(group="schema", name="loss", node=LossSchema)
    store.store(group="schema", name="trainer", node=TrainerSchema)
    store.store(group="schema", name="tune", node=TuneSchema)
