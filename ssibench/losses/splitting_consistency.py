"""Splitting consistency: two independent measurement splits that must agree where nothing was measured."""

from __future__ import annotations

from deepinv.loss import SplittingLoss


class SplittingConsistencyLoss(SplittingLoss):
    r"""Measurement consistency of two reconstructions from independent splits, plus their agreement
    on the unmeasured k-space.

    .. math::

        \mathcal{L} = \ell(A\hat{x}_1, y) + \ell(A\hat{x}_2, y) + \ell(\bar{A}\hat{x}_1, \bar{A}\hat{x}_2),
        \qquad \hat{x}_k = f_\theta(M_k y, M_k A)

    where :math:`M_1, M_2` are independent random splits of the acquired samples, :math:`\bar{A}`
    is :math:`A` with the complement :math:`1 - M` of the acquisition mask (what was not measured),
    and :math:`\ell` is the MSE. One network serves both branches (the shared-weights form of the
    parallel framework of Hu et al., "Self-supervised learning for MRI reconstruction with a
    parallel network training framework", MICCAI 2021).

    The model is wrapped like :class:`deepinv.loss.SplittingLoss` (a new split at every call in
    training, the full measurements at evaluation).

    :param deepinv.physics.generator.BernoulliSplittingMaskGenerator mask_generator: draws :math:`M_k`.
    :param metric: distance; mean squared error by default.
    """

    def __init__(self, mask_generator, metric=None):
        super().__init__(metric=metric, mask_generator=mask_generator, eval_split_input=False)

    def forward(self, x_net, y, physics, model, **kwargs):
        x_net2 = model(y, physics)  # the wrapped model draws a second, independent split
        unmeasured = physics.clone()
        unmeasured.update(mask=1.0 - physics.mask)
        return (
            self.metric(physics.A(x_net), y)
            + self.metric(physics.A(x_net2), y)
            + self.metric(unmeasured.A(x_net), unmeasured.A(x_net2))
        )
