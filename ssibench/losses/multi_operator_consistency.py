"""Multi-operator consistency in the measurement domain (the MO term of CC-SSDU)."""

from __future__ import annotations

from deepinv.loss import MOILoss


class MOConsistencyLoss(MOILoss):
    r"""Multi-operator consistency, measured against the acquired data.

    .. math::

        \mathcal{L} = \| y - A\, f_\theta(A_g \hat{x}, A_g) \|_2^2, \qquad \hat{x} = f_\theta(y, A)

    where :math:`A_g` is the operator :math:`A` with a new mask drawn from ``physics_generator``.
    Unlike :class:`deepinv.loss.MOILoss`, which compares :math:`f_\theta(A_g\hat{x}, A_g)` with
    :math:`\hat{x}` in the image domain, the re-reconstruction must reproduce the acquired
    measurements :math:`y`. Proposed with SSDU as CC-SSDU in Zhang et al., "Self-Supervised Deep
    Learning for MRI Reconstruction with Cross-Consistency" (IEEE TMI 2024).

    :param deepinv.physics.generator.PhysicsGenerator physics_generator: draws the masks of :math:`A_g`.
    :param metric: distance in the measurement domain; mean squared error by default.
    :param bool apply_noise: re-measure with the noise model, :math:`A_g\hat{x} + \epsilon`, as MOI does.
    """

    def __init__(self, physics_generator, metric=None, apply_noise: bool = True, weight: float = 1.0):
        super().__init__(physics_generator=physics_generator, metric=metric, apply_noise=apply_noise, weight=weight)

    def forward(self, x_net, y, physics, model, **kwargs):
        physics_g = self.next_physics(physics)
        y_g = physics_g(x_net) if self.noise else physics_g.A(x_net)
        return self.weight * self.metric(physics.A(model(y_g, physics_g)), y)
