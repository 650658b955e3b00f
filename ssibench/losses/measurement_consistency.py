"""Measurement consistency in the image (adjoint) domain, for multi-coil MRI."""

from __future__ import annotations

import torch
from deepinv.loss import Loss


class AdjointMCLoss(Loss):
    r"""Measurement consistency after back-projection to the image domain.

    .. math::

        \mathcal{L}(\hat{x}, y) = \| A^{H} A \hat{x} - A^{H} y \|_2^2, \qquad \hat{x} = f_\theta(y, A)

    In multi-coil MRI, comparing the coil images combined by :math:`A^H` rather than the raw coil
    k-spaces weights the coils by their sensitivities; SSIBench uses this form in its multi-coil
    scenario (A. Wang, S. McDonagh, M. Davies, "SSIBench: Benchmarking Self-Supervised Learning
    Methods for Accelerated MRI Reconstruction").

    :param metric: distance between the two images; mean squared error by default.
    """

    def __init__(self, metric: torch.nn.Module | None = None):
        super().__init__()
        self.metric = torch.nn.MSELoss() if metric is None else metric

    def forward(self, y, x_net, physics, **kwargs):
        return self.metric(physics.A_adjoint(physics.A(x_net)), physics.A_adjoint(y))
