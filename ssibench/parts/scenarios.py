"""Build a scenario (`physics=` choice): the forward operator A and its mask generator."""

from __future__ import annotations

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig


def build_scenario(cfg: DictConfig, seed: int, device: str | None = None):
    """The operator and the mask generator of a scenario, seeded for reproducible measurements.

    With ``fixed_mask`` the operator gets one mask from the generator for every image. ``device``
    replaces the scenario's own (that of its operator and generator, ``trainer.device``): the
    measurements are simulated on the CPU, whatever the training device, so that every device
    trains and tests on the same bytes.
    :return: ``(physics, physics_generator)``.
    """
    on = {} if device is None else {"device": device}
    rng = torch.Generator(torch.device(device or cfg.generator.device)).manual_seed(seed)
    generator = instantiate(cfg.generator, rng=rng, **on)
    # deepinv's operators concatenate img_size with other tuples: a YAML list must become a tuple.
    sizes = {"img_size": tuple(cfg.operator.img_size)} if "img_size" in cfg.operator else {}
    physics = instantiate(cfg.operator, _partial_=True)(**sizes, **on)
    if cfg.get("noise") is not None:
        physics.noise_model = instantiate(cfg.noise, rng=rng)
    if cfg.get("fixed_mask", False):
        physics.update(**generator.step(batch_size=1))
    return physics, generator
