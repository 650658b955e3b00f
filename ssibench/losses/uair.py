"""UAIR: unsupervised adversarial image reconstruction (Pajot et al. 2019)."""

from __future__ import annotations

import torch
from deepinv.loss.adversarial import DiscriminatorLoss, GeneratorLoss

from ssibench.losses.adversarial import fresh_operator


def _discriminator_view(y: torch.Tensor, physics, domain: str) -> torch.Tensor:
    """Measurements as the discriminator sees them: raw k-space, or back-projected by Aᴴ
    (multi-coil k-space is 5-D; a 2-D discriminator needs the coil-combined image)."""
    if domain == "measurements":
        return y
    if domain == "A_adjoint":
        return physics.A_adjoint(y)
    raise ValueError(f"domain must be 'measurements' or 'A_adjoint', got {domain!r}")


class UAIRGeneratorLoss(GeneratorLoss):
    r"""UAIR generator loss: re-measured reconstructions must look like real measurements, and
    reconstructing them again must be consistent with them.

    .. math::

        \mathcal{L}_G = w_\text{adv}\big(D(\hat{y}_g) - 1\big)^2
        + w_\text{mc}\,\| A_g f_\theta(\hat{y}_g, A_g) - \hat{y}_g \|_2^2,
        \qquad \hat{y}_g = A_g \hat{x},\ \hat{x} = f_\theta(y, A)

    with :math:`A_g` the operator with fresh masks. Pajot, de Bézenac & Gallinari, "Unsupervised
    adversarial image reconstruction", ICLR 2019. Unlike deepinv 0.5's ``UAIRGeneratorLoss``, the
    re-reconstruction is given its operator :math:`A_g` (unrolled networks need it).

    :param physics_generator: draws the masks of :math:`A_g`.
    :param str domain: what the discriminator sees: ``measurements`` or ``A_adjoint`` (multi-coil).
    """

    def __init__(
        self, physics_generator, domain: str = "measurements", weight_adv: float = 0.5, weight_mc: float = 1.0, device="cpu"
    ):
        super().__init__(weight_adv=weight_adv, device=device)
        self.physics_generator = physics_generator
        self.domain = domain
        self.weight_mc = weight_mc

    def forward(self, x_net, physics, model, D=None, **kwargs):
        physics_g = fresh_operator(physics, self.physics_generator, x_net.size(0))
        y_g = physics_g.A(x_net)
        adversarial = self.adversarial_loss(None, _discriminator_view(y_g, physics_g, self.domain), D)
        consistency = torch.nn.functional.mse_loss(physics_g.A(model(y_g, physics_g)), y_g)
        return adversarial + self.weight_mc * consistency


class UAIRDiscriminatorLoss(DiscriminatorLoss):
    r"""UAIR discriminator loss: acquired measurements are real, re-measured reconstructions fake.

    .. math::

        \mathcal{L}_D = \big(D(y) - 1\big)^2 + D(A_g \hat{x})^2

    (least-squares GAN; in the ``A_adjoint`` domain both sides are back-projected by their
    operators). Pajot, de Bézenac & Gallinari, ICLR 2019.
    """

    def __init__(self, physics_generator, domain: str = "measurements", weight_adv: float = 1.0, device="cpu"):
        super().__init__(weight_adv=weight_adv, device=device)
        self.physics_generator = physics_generator
        self.domain = domain

    def forward(self, y, x_net, physics, D=None, **kwargs):
        physics_g = fresh_operator(physics, self.physics_generator, x_net.size(0))
        real = _discriminator_view(y, physics, self.domain)
        fake = _discriminator_view(physics_g.A(x_net), physics_g, self.domain)
        return self.adversarial_loss(real, fake, D)
