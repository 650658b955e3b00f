"""Your own parts, defined outside the ssibench package: a loss, a model, image and measurement
datasets, a forward operator and a metric. Each plugs in by `_target_` on the command line or by a
YAML in your own config folder (my_conf/); see docs/own_parts.rst. Run from the repository root
with this folder importable:

    PYTHONPATH=examples python launch.py debug=smoke hydra.searchpath=[file://$PWD/examples/my_conf] loss=l1_mc
"""

from __future__ import annotations

import torch
from deepinv.loss import Loss
from deepinv.loss.metric import Metric
from deepinv.models import Reconstructor
from deepinv.physics import MRI, LinearPhysics
from deepinv.physics.generator import GaussianMaskGenerator
from torch.utils.data import Dataset


class L1MCLoss(Loss):
    """Measurement consistency in the ℓ1 norm, ‖A f(y) − y‖₁: self-supervised, so it never reads ``x``."""

    def forward(self, x_net, y, physics, model, x=None, **kwargs):
        return (physics.A(x_net) - y).abs().flatten(1).mean(1)


class ResidualCNN(Reconstructor):
    """x̂ = Aᴴy + CNN(Aᴴy): a small learned reconstructor that uses the physics."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(2, channels, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(channels, 2, 3, padding=1),
        )

    def forward(self, y, physics, **kwargs):
        x0 = physics.A_adjoint(y)
        return x0 + self.net(x0)


class Ellipses(Dataset):
    """Images: deterministic random ellipses as (2, H, W) complex images (imaginary part 0)."""

    def __init__(self, n: int = 24, img_size: int = 32):
        g = torch.Generator().manual_seed(0)
        grid = torch.linspace(-1, 1, img_size)
        yy, xx = torch.meshgrid(grid, grid, indexing="ij")
        centre, radii = torch.rand(n, 2, generator=g) * 0.6 - 0.3, torch.rand(n, 2, generator=g) * 0.5 + 0.3
        dx = (xx - centre[:, :1, None]) / radii[:, :1, None]
        dy = (yy - centre[:, 1:, None]) / radii[:, 1:, None]
        self.x = (dx**2 + dy**2 <= 1).float()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return torch.stack([self.x[i], torch.zeros_like(self.x[i])])


class UndersampledEllipses(Dataset):
    """Measurements without ground truth, as a scanner gives them: items ``(NaN, y, {"mask": mask})``.

    Made here from :class:`Ellipses` (single-coil k-space, a random Gaussian mask each) so that the
    example runs anywhere; with your data, return your k-space and its mask.
    """

    def __init__(self, n: int = 24, img_size: int = 32, acceleration: int = 6):
        images = torch.stack(list(Ellipses(n, img_size)))
        generator = GaussianMaskGenerator((img_size, img_size), acceleration=acceleration, rng=torch.Generator().manual_seed(0))
        self.mask = generator.step(batch_size=n)["mask"]
        self.y = MRI(img_size=(img_size, img_size))(images, mask=self.mask)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return torch.tensor(float("nan")), self.y[i], {"mask": self.mask[i]}


class MaskedFFT(LinearPhysics):
    """Single-coil Cartesian MRI written by hand: y = M F x, F the centred orthonormal 2-D FFT,
    M the sampling mask (a parameter each measurement sets, from the scenario's mask generator)."""

    def __init__(self, img_size, device="cpu", **kwargs):
        super().__init__(**kwargs)
        self.register_buffer("mask", torch.ones(1, 1, *img_size, device=device))

    def A(self, x, mask=None, **kwargs):
        self.update_parameters(mask=mask)
        return _centred(torch.fft.fft2, x) * self.mask

    def A_adjoint(self, y, mask=None, **kwargs):
        self.update_parameters(mask=mask)
        return _centred(torch.fft.ifft2, y * self.mask)


def _centred(fft, x):
    """An orthonormal 2-D (inverse) FFT centred on the image, on (B, 2, H, W) real/imaginary channels."""
    z = torch.fft.fftshift(fft(torch.fft.ifftshift(torch.complex(x[:, 0], x[:, 1]), dim=(-2, -1)), norm="ortho"), dim=(-2, -1))
    return torch.stack([z.real, z.imag], dim=1)


class RelativeError(Metric):
    """‖x̂ − x‖ / ‖x‖ per image (lower is better)."""

    lower_better = True

    def metric(self, x_net, x, *args, **kwargs):
        return (x_net - x).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)
