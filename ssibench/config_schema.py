"""Schemas of the loss, physics and trainer config groups: Hydra structured configs.

Each YAML of these groups lists its group's schema first in its defaults list
(``- /schema/loss@_here_``; a YAML that extends another inherits it), so a key the schema lacks or a value of the wrong type fails when
the config is composed, with Hydra's message, before anything runs. What a loss needs from a
scenario (``requires``) and what a scenario offers (``provides``) are :class:`Capability` names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


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


def register() -> None:
    store = ConfigStore.instance()
    store.store(group="schema", name="physics", node=PhysicsSchema)
    store.store(group="schema", name="loss", node=LossSchema)
    store.store(group="schema", name="trainer", node=TrainerSchema)
