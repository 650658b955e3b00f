"""A run's parts from its config: the model, the loss terms, the discriminator and its losses, the
optimizers, the metrics and the registry of random streams. No I/O: the benchmark trainer
(:mod:`ssibench.training`) and ``bench``'s bare deepinv trainer are both built from these parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import deepinv as dinv
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from ssibench.data.pipeline import Measurements
from ssibench.losses.contract import enforce_contract
from ssibench.training.random_streams import RandomStreams


@dataclass
class Parts:
    """What one run trains and scores, on its device.

    :param model: the reconstructor f_θ.
    :param losses: the loss terms of the model (deepinv ``Loss`` objects, summed).
    :param optimizer: the model's optimizer, or deepinv's ``AdversarialOptimizer`` of the model and D.
    :param metrics: test metrics by the name they have in results (PSNR, SSIM).
    :param streams: every random stream of the run, registered and seeded.
    :param discriminator: D of the adversarial losses, else ``None``.
    :param losses_d: the loss terms of D.
    """

    model: torch.nn.Module
    losses: list
    optimizer: torch.optim.Optimizer
    metrics: dict
    streams: RandomStreams
    device: torch.device
    discriminator: torch.nn.Module | None = None
    losses_d: list = field(default_factory=list)

    @property
    def adversarial(self) -> bool:
        return self.discriminator is not None


def assemble(cfg: DictConfig, data: Measurements, device: str | torch.device) -> Parts:
    """Instantiate the run's parts on ``device`` and register their random streams.

    The global generators are seeded first, so the initial weights depend on the seed alone; then
    every component's own generators are registered under a name that says whose they are
    (``loss.1.transform.rng``), which seeds each from the run's seed and that name. Last, every loss
    term is put under the loss contract (:mod:`ssibench.losses.contract`).
    """
    device = torch.device(device)
    streams = RandomStreams(cfg.seed)
    streams.seed_globals()
    model = instantiate(cfg.model).to(device)
    losses = [instantiate(term) for term in cfg.loss.losses]
    make_optimizer = instantiate(cfg.trainer.optimizer)
    metrics = {name: instantiate(cfg.metrics[name]) for name in cfg.metrics}

    discriminator, losses_d = None, []
    if cfg.loss.get("discriminator") is not None:
        discriminator = instantiate(cfg.loss.discriminator).to(device)
        given = {}
        if cfg.loss.get("real_samples") is not None:  # D's real samples: a stream over the training measurements
            given["real_samples"] = instantiate(cfg.loss.real_samples)
            given["real_samples"].attach(data.train)
        losses_d = [instantiate(term, **given) for term in cfg.loss.losses_d]
        optimizer = dinv.training.AdversarialOptimizer(
            make_optimizer(model.parameters()), make_optimizer(discriminator.parameters())
        )
    else:
        optimizer = make_optimizer(model.parameters())

    streams.register_module("physics", data.physics)
    for k, term in enumerate(losses):
        streams.register_module(f"loss.{k}", term)
    for k, term in enumerate(losses_d):
        streams.register_module(f"loss_d.{k}", term)
    streams.register_module("model", model)
    if discriminator is not None:
        streams.register_module("discriminator", discriminator)
    # Every term, D's too: no ground truth unless the loss says it is supervised, the call checked.
    label, supervised = cfg.loss.get("label"), bool(cfg.loss.get("supervised", False))
    enforce_contract(losses, cfg.loss.losses, label, supervised)
    enforce_contract(losses_d, cfg.loss.get("losses_d", []), label, supervised)
    return Parts(model, losses, optimizer, metrics, streams, device, discriminator, losses_d)
