"""The discriminator of the adversarial losses."""

from __future__ import annotations

import torch
from torch import nn


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x):
        return nn.functional.leaky_relu(x + self.body(x), 0.2)


class SkipConvDiscriminator(nn.Module):
    r"""Convolutional discriminator with skip (residual) connections, one score per image.

    A stem convolution, then ``n_blocks`` stages of a residual block followed by 2× average-pool
    downsampling, then a 1×1 convolution averaged over space:
    :math:`D(u) \in \mathbb{R}` for an image-domain input :math:`u` of shape (B, C, H, W). Skip
    connections keep gradients informative for the generator early in training, as in the
    discriminators of the adversarial MRI methods SSIBench compares (Cole et al., "Unsupervised
    MRI reconstruction with generative adversarial networks", 2020).

    :param int in_channels: input channels (2: real and imaginary parts).
    :param int channels: feature channels of every stage.
    :param int n_blocks: residual stages, each halving the resolution.
    :param bool use_sigmoid: squash scores to (0, 1) (off for the least-squares GAN losses used here).
    """

    def __init__(self, in_channels: int = 2, channels: int = 32, n_blocks: int = 3, use_sigmoid: bool = False):
        super().__init__()
        stages = [nn.Conv2d(in_channels, channels, 3, padding=1), nn.LeakyReLU(0.2)]
        for _ in range(n_blocks):
            stages += [_ResidualBlock(channels), nn.AvgPool2d(2)]
        stages.append(nn.Conv2d(channels, 1, 1))
        self.net = nn.Sequential(*stages)
        self.use_sigmoid = use_sigmoid

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        score = self.net(u).mean(dim=(-2, -1))  # (B, 1)
        return torch.sigmoid(score) if self.use_sigmoid else score
