"""Multi-operator unsupervised adversarial losses (Cole et al. 2020)."""

from __future__ import annotations

import torch
from deepinv.loss.adversarial import DiscriminatorLoss, GeneratorLoss
from torch.utils.data import DataLoader, Dataset


def fresh_operator(physics, physics_generator, batch_size: int):
    """A copy of ``physics`` with new masks drawn from ``physics_generator``, one per image."""
    physics_g = physics.clone()
    physics_g.update(**physics_generator.step(batch_size=batch_size))
    return physics_g


def back_project(x_net: torch.Tensor, physics_g) -> torch.Tensor:
    r""":math:`A_g^H A_g \hat{x}`: what a zero-filled image of ``x_net`` measured by :math:`A_g` looks like."""
    return physics_g.A_adjoint(physics_g.A(x_net))


class MultiOperatorAdversarialGeneratorLoss(GeneratorLoss):
    r"""Generator side of the multi-operator unsupervised adversarial loss.

    .. math::

        \mathcal{L}_G = \big(D(A_g^H A_g \hat{x}) - 1\big)^2, \qquad \hat{x} = f_\theta(y, A)

    with :math:`A_g` the operator with fresh masks from the scenario's generator: the network is
    trained so that its reconstructions, re-measured by new operators and zero-filled, cannot be
    told apart from zero-filled real acquisitions (least-squares GAN). Cole, Pauly, Vasanawala &
    Ong, "Unsupervised MRI reconstruction with generative adversarial networks" (2020).

    :param physics_generator: draws the masks of :math:`A_g`.
    :param float weight_adv: weight of the term.
    """

    def __init__(self, physics_generator, weight_adv: float = 1.0, device="cpu"):
        super().__init__(weight_adv=weight_adv, device=device)
        self.physics_generator = physics_generator

    def forward(self, x_net, physics, D=None, **kwargs):
        fake = back_project(x_net, fresh_operator(physics, self.physics_generator, x_net.size(0)))
        return self.adversarial_loss(None, fake, D)


class MultiOperatorAdversarialDiscriminatorLoss(DiscriminatorLoss):
    r"""Discriminator side of the multi-operator unsupervised adversarial loss.

    .. math::

        \mathcal{L}_D = \big(D(A'^H y') - 1\big)^2 + D\big(A_g^H A_g \hat{x}\big)^2

    where :math:`y'` are measurements of *other* training images with their own operators
    :math:`A'` (so the discriminator never sees a reconstruction next to its own data), and
    :math:`A_g` has fresh masks (Cole et al. 2020, least-squares GAN).

    The run attaches its training measurements with :meth:`attach_training_data`; they are
    served in a shuffled, endlessly restarting order.

    :param physics_generator: draws the masks of :math:`A_g`.
    :param float weight_adv: weight of the term.
    """

    def __init__(self, physics_generator, weight_adv: float = 1.0, device="cpu"):
        super().__init__(weight_adv=weight_adv, device=device)
        self.physics_generator = physics_generator
        self.device = device
        self._loader = None
        self._batches = iter(())

    def attach_training_data(self, dataset: Dataset, batch_size: int, seed: int) -> None:
        """Measurements ``(x, y, params)`` to draw the real samples from (``x`` is never read)."""
        self._loader = DataLoader(
            dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed + 1)
        )
        self._batches = iter(())

    def _real_batch(self):
        if self._loader is None:
            raise RuntimeError("attach_training_data() was not called: the discriminator has no real samples")
        try:
            return next(self._batches)
        except StopIteration:  # more steps than an epoch of batches: start a new pass
            self._batches = iter(self._loader)
            return next(self._batches)

    def forward(self, x_net, physics, D=None, **kwargs):
        _, y_real, params = self._real_batch()
        physics_real = physics.clone()
        physics_real.update(**{k: v.to(self.device) for k, v in params.items()})
        real = physics_real.A_adjoint(y_real.to(self.device))
        fake = back_project(x_net, fresh_operator(physics, self.physics_generator, x_net.size(0)))
        return self.adversarial_loss(real, fake, D)
