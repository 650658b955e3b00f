"""The discriminator of the adversarial losses, as the original SSIBench benchmark trains it."""

from __future__ import annotations

import math

import torch
from torch import nn


def _conv_leaky(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.LeakyReLU())


class SkipConvDiscriminator(nn.Module):
    r"""Cole et al.'s discriminator: convolutions at full resolution, then one dense score per image.

    For an image-domain input :math:`u` of shape (B, C, H, W), with :math:`d` = ``d_dim`` and
    :math:`K` = ``d_blocks``:

    .. math::

        h_0 = \phi(W_0 * u), \qquad
        h_k = \phi(W_{k,1} * h_{k-1}) + \phi(W_{k,2} * h_{k-1}) \quad (k = 1, \dots, K), \qquad
        D(u) = s\big(w^\top \operatorname{vec}(h_K) + b\big)

    where every :math:`W` is a 3×3 convolution without bias and with zero padding (:math:`W_0`:
    C → d channels, :math:`W_{k,i}`: d → d), so every :math:`h_k` is d × H × W; :math:`\phi` is the
    LeakyReLU of slope 0.01; :math:`w \in \mathbb{R}^{d H W}`, :math:`b` the dense layer; :math:`s`
    the sigmoid with ``use_sigmoid``, else the identity. Each block adds two convolution branches
    of its input (the "skip connections" of the original code: both branches read
    :math:`h_{k-1}`). The dense layer sees every position, so the score depends on where a feature
    sits in the image. Parameters: :math:`9 C d + 18 K d^2 + d H W + 1`, 14,289,153 with the
    defaults at 320×320, 92% of them in the dense layer.

    Architecture of E. K. Cole, F. Ong, S. S. Vasanawala, J. M. Pauly, "Fast Unsupervised MRI
    Reconstruction Without Fully-Sampled Ground Truth Data Using Generative Adversarial Networks",
    ICCV 2021 workshops (LCI). Same layers, defaults and parameter names as
    ``deepinv.models.gan.SkipConvDiscriminator`` of the deepinv pull request (#409) that the
    original benchmark trained its adversarial and UAIR losses with (``use_sigmoid=False`` there,
    for both), so its weights load here as they are.

    :param tuple img_size: (H, W) of the images it scores (the dense layer is sized by it).
    :param int d_dim: channels of every convolution.
    :param int d_blocks: blocks of two convolution branches.
    :param int in_channels: input channels (2: real and imaginary parts).
    :param bool use_sigmoid: squash the score to (0, 1).
    :return: one score per image, shape (B,).
    """

    def __init__(
        self,
        img_size: tuple[int, int] = (320, 320),
        d_dim: int = 128,
        d_blocks: int = 4,
        in_channels: int = 2,
        use_sigmoid: bool = True,
    ):
        super().__init__()
        self.img_size = tuple(int(side) for side in img_size)
        self.initial_conv = _conv_leaky(in_channels, d_dim)
        # Flat list, two branches per block: the original's parameter names (blocks.<i>.0.weight).
        self.blocks = nn.ModuleList(_conv_leaky(d_dim, d_dim) for _ in range(2 * d_blocks))
        self.final = nn.Linear(d_dim * math.prod(self.img_size), 1)
        self.use_sigmoid = use_sigmoid

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        if tuple(u.shape[-2:]) != self.img_size:
            raise ValueError(
                f"the discriminator was built for {self.img_size[0]}×{self.img_size[1]} images, got "
                f"{u.shape[-2]}×{u.shape[-1]}: set its img_size to the images' size"
            )
        h = self.initial_conv(u)
        for first, second in zip(self.blocks[::2], self.blocks[1::2]):
            h = first(h) + second(h)
        score = self.final(h.flatten(1)).squeeze(-1)
        return torch.sigmoid(score) if self.use_sigmoid else score
