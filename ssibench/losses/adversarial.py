"""Multi-operator unsupervised adversarial losses (Cole et al.), with the original benchmark's random streams."""

from __future__ import annotations

import torch
from deepinv.loss.adversarial import DiscriminatorLoss, GeneratorLoss
from torch import nn
from torch.utils.data import DataLoader, Dataset

# The original benchmark (run seed 0) seeds each adversarial term's own mask generator and real-sample
# loader with 42; here a run with seed s uses 42 + s, so seed=0 starts them from the original's seeds
# (what that replays on which device: docs/scenarios.rst).
ORIGINAL_SEED = 42


def back_project(x_net: torch.Tensor, physics_g) -> torch.Tensor:
    r""":math:`A_g^H A_g \hat{x}`: what a zero-filled image of ``x_net`` measured by :math:`A_g` looks like."""
    return physics_g.A_adjoint(physics_g.A(x_net))


class FreshOperators:
    r"""Mixin of a term that re-measures with fresh operators :math:`A_g`, their masks drawn from
    ``physics_generator``, a generator of the term's own whose stream starts from ``42 + seed``.

    The original gives the generator term and the discriminator term each a generator of its own,
    seeded alike, so both draw the same masks at every step. The term declares that seed
    (``fixed_stream_seeds``); the run's random streams (:mod:`ssibench.training.random_streams`) seed it
    so, and save and restore it with the others.
    """

    def use_fresh_operators(self, physics_generator, seed: int) -> None:
        self.physics_generator = physics_generator
        self.fixed_stream_seeds = {"physics_generator.rng": ORIGINAL_SEED + seed}

    def fresh_operator(self, physics, batch_size: int):
        """A copy of ``physics`` with new masks, one per image."""
        physics_g = physics.clone()
        physics_g.update(**self.physics_generator.step(batch_size=batch_size))
        return physics_g


class TrainingMeasurements(nn.Module):
    r"""The real samples of a discriminator: batches of the training measurements in the original's order.

    Its own shuffled :class:`~torch.utils.data.DataLoader` over the training measurements (the
    run's batch size) draws its order from ``rng``. A pass starts at every epoch, on the same
    loader, so the order of epoch :math:`k` is the :math:`(k+1)`-th permutation drawn from ``rng``
    (it changes from epoch to epoch; nothing is reseeded); a caller that asks for more batches than
    an epoch holds gets a new pass. ``rng`` starts from ``42 + seed`` (``fixed_stream_seeds``: the
    run's random streams seed it so), as :class:`FreshOperators`' masks.

    State: ``rng``. Every epoch ends with its pass (the run's loader has as many batches as this
    one), so at an epoch boundary, where checkpoints are written, the position is always "a new
    pass starts": the state of ``rng`` there is all a resumed run needs.

    :param int seed: the run's seed.
    :param int batch_size: measurements per batch (the run's).
    """

    def __init__(self, seed: int = 0, batch_size: int = 4):
        super().__init__()
        self.rng = torch.Generator()  # CPU, as a DataLoader's
        self.fixed_stream_seeds = {"rng": ORIGINAL_SEED + seed}
        self.batch_size = batch_size
        self.epoch: int | None = None  # of the current pass; None before the first
        self._loader: DataLoader | None = None
        self._batches = None

    def attach(self, dataset: Dataset) -> None:
        """Measurements ``(x, y, ...)`` to serve (``x`` is never read)."""
        self._loader = DataLoader(dataset, batch_size=self.batch_size, shuffle=True, generator=self.rng)
        self._batches, self.epoch = None, None

    def next_measurements(self, epoch: int | None = None) -> torch.Tensor:
        """The measurements ``y`` of the next batch of the pass of ``epoch``."""
        if self._loader is None:
            raise RuntimeError("attach() was not called: the discriminator has no real samples")
        if self._batches is None or (epoch is not None and epoch != self.epoch):
            self._new_pass(epoch)
        try:
            batch = next(self._batches)
        except StopIteration:  # more steps than an epoch of batches (e.g. a benchmark of steps)
            self._new_pass(epoch)
            batch = next(self._batches)
        return batch[1]

    def _new_pass(self, epoch: int | None) -> None:
        self._batches, self.epoch = iter(self._loader), epoch


class MultiOperatorAdversarialGeneratorLoss(FreshOperators, GeneratorLoss):
    r"""Generator side of the multi-operator unsupervised adversarial loss.

    .. math::

        \mathcal{L}_G = w \,\operatorname{mean}_i \big(D(A_g^H A_g \hat{x})_i - 1\big)^2,
        \qquad \hat{x} = f_\theta(y, A)

    (least-squares GAN, :math:`w` = ``weight_adv``) with :math:`A_g` the operator with fresh masks:
    the network is trained so that its reconstructions, re-measured by new operators and
    zero-filled, cannot be told apart from zero-filled acquisitions of other images. E. K. Cole,
    F. Ong, S. S. Vasanawala, J. M. Pauly, "Fast Unsupervised MRI Reconstruction Without
    Fully-Sampled Ground Truth Data Using Generative Adversarial Networks", ICCV 2021 workshops; as
    ``MultiOperatorUnsupAdversarialGeneratorLoss(metric="A_adjoint")`` of the deepinv pull request
    the original benchmark used. The masks of :math:`A_g` come from this term's own generator,
    seeded with ``seed`` at the start of a run like the discriminator term's, so both draw the same
    masks at every step, as in the original. (The original's generator term also draws real samples
    from a loader of its own and never scores them: that loader is left out.)

    :param physics_generator: draws the masks of :math:`A_g` (a generator of its own).
    :param int seed: the run's seed; the masks start from ``42 + seed``.
    :param float weight_adv: :math:`w`.
    """

    def __init__(self, physics_generator, seed: int = 0, weight_adv: float = 1.0, device="cpu"):
        super().__init__(weight_adv=weight_adv, device=device)
        self.use_fresh_operators(physics_generator, seed)

    def forward(self, x_net, physics, D=None, **kwargs):
        fake = back_project(x_net, self.fresh_operator(physics, x_net.size(0)))
        return self.adversarial_loss(None, fake, D)


class MultiOperatorAdversarialDiscriminatorLoss(FreshOperators, DiscriminatorLoss):
    r"""Discriminator side of the multi-operator unsupervised adversarial loss.

    .. math::

        \mathcal{L}_D = w \Big[\operatorname{mean}_j \big(D(A_1^H \tilde{y})_j - 1\big)^2
        + \operatorname{mean}_i D\big(A_g^H A_g \hat{x}\big)_i^2\Big]

    (least-squares GAN, :math:`w` = ``weight_adv``) where :math:`\tilde{y}` are measurements of
    *other* training images, each zero outside its own mask, :math:`A_1` the operator with a mask
    of ones (as in the original), so :math:`A_1^H \tilde{y}` is their zero-filled image
    (coil-combined in multi-coil); :math:`A_g` has fresh masks. Cole et al., ICCV 2021 workshops;
    as ``MultiOperatorUnsupAdversarialDiscriminatorLoss(metric="A_adjoint")`` of the deepinv pull
    request the original benchmark used.

    Its random streams are the original's: the masks of :math:`A_g` from its own generator, and
    :math:`\tilde{y}` from :class:`TrainingMeasurements` (its own loader over the training
    measurements, a new pass each epoch), both seeded at the start of a run.

    :param physics_generator: draws the masks of :math:`A_g` (a generator of its own).
    :param real_samples: the stream of :math:`\tilde{y}`, attached to the training measurements (the
        loss config's ``real_samples``; the run gives it).
    :param int seed: the run's seed; the masks start from ``42 + seed``.
    :param float weight_adv: :math:`w`.
    """

    def __init__(
        self, physics_generator, real_samples: TrainingMeasurements, seed: int = 0, weight_adv: float = 1.0, device="cpu"
    ):
        super().__init__(weight_adv=weight_adv, device=device)
        self.use_fresh_operators(physics_generator, seed)
        self.device = device
        self.real_samples = real_samples

    def forward(self, x_net, physics, D=None, epoch=None, **kwargs):
        y_real = self.real_samples.next_measurements(epoch).to(self.device)
        physics_g = self.fresh_operator(physics, x_net.size(0))
        fake = back_project(x_net, physics_g)
        # Done with, the copy of the physics serves as A_1 (a clone costs more than a network pass here).
        physics_g.update(mask=torch.ones_like(physics_g.mask[:1]))
        return self.adversarial_loss(physics_g.A_adjoint(y_real), fake, D)
