"""UAIR: unsupervised adversarial image reconstruction (Pajot et al. 2019), as the original benchmark trains it."""

from __future__ import annotations

import torch
from deepinv.loss.adversarial import DiscriminatorLoss, GeneratorLoss

from ssibench.losses.adversarial import FreshOperators


def _discriminator_view(y: torch.Tensor, physics, domain: str) -> torch.Tensor:
    """Measurements as the discriminator sees them: raw k-space, or back-projected by Aᴴ
    (multi-coil k-space is 5-D; a 2-D discriminator needs the coil-combined image)."""
    if domain == "measurements":
        return y
    if domain == "A_adjoint":
        return physics.A_adjoint(y)
    raise ValueError(f"domain must be 'measurements' or 'A_adjoint', got {domain!r}")


class UAIRGeneratorLoss(FreshOperators, GeneratorLoss):
    r"""UAIR generator loss: re-measured reconstructions must look like real measurements, and
    reconstructing them again must be consistent with them.

    .. math::

        \mathcal{L}_G = w_\text{adv}\,\operatorname{mean}_i \big(D(V_g \hat{y}_g)_i - 1\big)^2
        + w_\text{mc}\,\operatorname{mean}\big(V_g A_g f_\theta(\hat{y}_g, A_g) - V_g \hat{y}_g\big)^2,
        \qquad \hat{y}_g = A_g \hat{x},\ \hat{x} = f_\theta(y, A)

    with :math:`A_g` the operator with fresh masks and :math:`V_g` the discriminator's view:
    the identity in the ``measurements`` domain, :math:`A_g^H` in the ``A_adjoint`` domain
    (multi-coil), where the consistency term is compared in the image domain too, as in the
    original. Least-squares GAN. Pajot, de Bézenac & Gallinari, "Unsupervised adversarial image
    reconstruction", ICLR 2019; as ``UAIRGeneratorLoss(metric_adv=...)`` of the deepinv pull request
    the original benchmark used (deepinv 0.5's ``UAIRGeneratorLoss`` has neither fresh operators
    nor the domain, and calls the network without its operator, which unrolled networks need).
    The masks of :math:`A_g` come from this term's own generator, seeded like the discriminator
    term's (:class:`~ssibench.losses.adversarial.FreshOperators`).

    :param physics_generator: draws the masks of :math:`A_g` (a generator of its own).
    :param str domain: what the discriminator sees: ``measurements`` or ``A_adjoint`` (multi-coil).
    :param int seed: the run's seed; the masks start from ``42 + seed``.
    :param float weight_adv: :math:`w_\text{adv}` (0.5, the paper's).
    :param float weight_mc: :math:`w_\text{mc}`.
    """

    def __init__(
        self,
        physics_generator,
        domain: str = "measurements",
        seed: int = 0,
        weight_adv: float = 0.5,
        weight_mc: float = 1.0,
        device="cpu",
    ):
        super().__init__(weight_adv=weight_adv, device=device)
        self.use_fresh_operators(physics_generator, seed)
        self.domain = domain
        self.weight_mc = weight_mc

    def forward(self, x_net, physics, model, D=None, **kwargs):
        physics_g = self.fresh_operator(physics, x_net.size(0))
        y_g = physics_g.A(x_net)
        y_again = physics_g.A(model(y_g, physics_g))
        seen = _discriminator_view(y_g, physics_g, self.domain)
        adversarial = self.adversarial_loss(None, seen, D)
        consistency = torch.nn.functional.mse_loss(_discriminator_view(y_again, physics_g, self.domain), seen)
        return adversarial + self.weight_mc * consistency


class UAIRDiscriminatorLoss(FreshOperators, DiscriminatorLoss):
    r"""UAIR discriminator loss: acquired measurements are real, re-measured reconstructions fake.

    .. math::

        \mathcal{L}_D = w \Big[\operatorname{mean}_i \big(D(V y)_i - 1\big)^2
        + \operatorname{mean}_i D(V_g A_g \hat{x})_i^2\Big]

    (least-squares GAN, :math:`w` = ``weight_adv``; :math:`V, V_g` the identity in the
    ``measurements`` domain, :math:`A^H, A_g^H` in the ``A_adjoint`` domain). Pajot, de Bézenac &
    Gallinari, ICLR 2019; as ``UAIRDiscriminatorLoss(metric_adv=...)`` of the deepinv pull request
    the original benchmark used, its masks from a generator of its own seeded like the generator
    term's.

    :param physics_generator: draws the masks of :math:`A_g` (a generator of its own).
    :param str domain: what the discriminator sees: ``measurements`` or ``A_adjoint`` (multi-coil).
    :param int seed: the run's seed; the masks start from ``42 + seed``.
    :param float weight_adv: :math:`w`.
    """

    def __init__(
        self, physics_generator, domain: str = "measurements", seed: int = 0, weight_adv: float = 1.0, device="cpu"
    ):
        super().__init__(weight_adv=weight_adv, device=device)
        self.use_fresh_operators(physics_generator, seed)
        self.domain = domain

    def forward(self, y, x_net, physics, D=None, **kwargs):
        physics_g = self.fresh_operator(physics, x_net.size(0))
        real = _discriminator_view(y, physics, self.domain)
        fake = _discriminator_view(physics_g.A(x_net), physics_g, self.domain)
        return self.adversarial_loss(real, fake, D)
