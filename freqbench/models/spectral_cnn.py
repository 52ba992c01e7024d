"""The spectral-pooling CNN of Rippel, Snoek & Adams (NeurIPS 2015, arXiv 1506.03767, section 5.2) as
architecture entries ``spectral_cnn_cifar10`` and ``spectral_cnn_fashion_mnist``.

The network (REFERENCE.md section 3): M blocks m = 1 .. M of

    3x3 conv with ``min(96 + 32 m, 288)`` filters (padding 1, bias) -> ReLU -> spectral pool to
    ``floor(gamma H_m)`` per axis,

then a 1x1 conv with the last block's channels and ReLU, a 1x1 conv to the class count, and global
average pooling, whose output are the logits; gamma = 0.85. No batch norm, no dropout, no max pooling,
as in the paper. The public reproduction of the paper (Jain, Samet & Wainger, "tensorflow-fft-cnn-spectral")
builds the same stack, with m counted from 1 and the first 1x1 conv as wide as block M.

- **Spectral parameterisation**: every 3x3 conv is a :class:`~freqbench.nn.spectral_conv.SpectralConv2d`
  (each filter stored as its Hermitian half spectrum, ``w = irfft2(theta, s=(3, 3))``), as the paper
  trains them. The two 1x1 convs are plain ``nn.Conv2d``: the spectrum of a 1x1 filter is the filter
  itself (one DC bin), so the parameterisation would change nothing but add a dead imaginary part.
- **Frequency dropout** (paper section 5): in training, pool m keeps a random fraction
  ``u ~ U[c_m, 1]`` of its output resolution, ``c_m = alpha + (m / M)(beta - alpha)`` with alpha 0.30 and
  beta 0.15 (:func:`~freqbench.nn.spectral_pool.frequency_dropout_lower`); in eval mode every pool is
  the deterministic crop, so eval outputs are deterministic. The draws come from torch's global
  generator (``torch.manual_seed`` makes a training run repeatable).
- **M = 6** (``cfg.extra['blocks']``): the first depth at which the filter count reaches its cap of
  288 (128, 160, 192, 224, 256, 288 filters), so the whole of the paper's width schedule is used; the
  maps shrink 32 -> 27 -> 22 -> 18 -> 15 -> 12 -> 10 on CIFAR-10 and 28 -> 23 -> 19 -> 16 -> 13 -> 11 -> 9
  on Fashion-MNIST, so the last pool still keeps a 10 x 10 (9 x 9) spectrum; M = 8 would end at 6 x 6
  (5 x 5). Builds whose last map would be smaller than :data:`MIN_FINAL_SIZE` are refused.

Init: PyTorch's ``Conv2d`` default (Kaiming-uniform, a = sqrt(5)), which ``SpectralConv2d`` draws in the
spatial domain and stores as its spectrum.

Parameters (``numel`` of the trainable tensors): a 3x3 slice's theta holds 3 x 2 complex numbers (12
reals) for its 9 weights, so the six blocks have ``12 * sum(C_in C_out) + sum(C_out)`` parameters; with
the 1x1 head (288 x 288 + 288 and 288 x 10 + 10) the total is **2,795,338** for 3 input channels and
**2,792,266** for 1 (of which ``9 / 12`` of each theta are spatial degrees of freedom).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from freqbench.errors import ConfigError
from freqbench.models.base import ModelConfig
from freqbench.models.family import extra_value, register_architectures
from freqbench.nn.spectral_conv import SpectralConv2d
from freqbench.nn.spectral_pool import DROPOUT_ALPHA, DROPOUT_BETA, SpectralPool2d, frequency_dropout_lower

ARCH = "spectral_cnn"
BLOCKS = 6
GAMMA = 0.85
BASE_FILTERS, FILTER_STEP, MAX_FILTERS = 96, 32, 288
MIN_FINAL_SIZE = 3
"""The smallest last-block map (per axis) a build accepts."""


def block_filters(m: int) -> int:
    """Filters of block m (1-based): ``min(96 + 32 m, 288)``."""
    return min(BASE_FILTERS + FILTER_STEP * m, MAX_FILTERS)


def pooled_sizes(size: int, *, blocks: int = BLOCKS, gamma: float = GAMMA) -> list[int]:
    """The map size after each block, ``H_{m+1} = max(1, floor(gamma H_m))``.

    >>> pooled_sizes(32)
    [27, 22, 18, 15, 12, 10]
    """
    sizes = []
    for _ in range(blocks):
        size = max(1, math.floor(gamma * size))
        sizes.append(size)
    return sizes


class SpectralBlock(nn.Module):
    """3x3 spectrally parameterised conv (padding 1) -> ReLU -> spectral pool by ``gamma``.

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, floor(gamma H), floor(gamma W)).
    """

    def __init__(self, in_channels: int, out_channels: int, *, gamma: float, dropout_lower: float) -> None:
        super().__init__()
        self.conv = SpectralConv2d(in_channels, out_channels, 3, padding=1)
        self.pool = SpectralPool2d(scale=gamma, dropout_lower=dropout_lower)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.conv(x)))


class SpectralCNN(nn.Module):
    """The Rippel et al. spectral-pooling network (module docstring).

    Args:
        in_channels: input channels.
        num_classes: logits.
        blocks: M.
        gamma: the pooling factor per block.
        alpha, beta: the frequency-dropout schedule bounds.

    Shape:
        x: (B, in_channels, H, W) normalised -> logits (B, num_classes).
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 10,
        blocks: int = BLOCKS,
        gamma: float = GAMMA,
        alpha: float = DROPOUT_ALPHA,
        beta: float = DROPOUT_BETA,
    ) -> None:
        super().__init__()
        if blocks < 1:
            raise ConfigError(f"the spectral CNN needs at least one block, got blocks={blocks}")
        layers: list[nn.Module] = []
        channels = in_channels
        for m in range(1, blocks + 1):
            lower = frequency_dropout_lower(m, blocks, alpha=alpha, beta=beta)
            layers.append(SpectralBlock(channels, block_filters(m), gamma=gamma, dropout_lower=lower))
            channels = block_filters(m)
        self.features = nn.Sequential(*layers)
        self.conv_head = nn.Conv2d(channels, channels, 1)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv_head(self.features(x)))
        return self.classifier(out).mean(dim=(-2, -1))


def build(cfg: ModelConfig) -> SpectralCNN:
    """The bare network of ``cfg`` (``extra``: blocks, gamma, alpha, beta).

    Raises:
        ConfigError: the last block's map would be smaller than :data:`MIN_FINAL_SIZE`.
    """
    blocks = extra_value(cfg, "blocks", int)
    gamma = float(extra_value(cfg, "gamma", (int, float)))
    _, h, w = cfg.input_size
    for size in (h, w):
        if size is not None and pooled_sizes(size, blocks=blocks, gamma=gamma)[-1] < MIN_FINAL_SIZE:
            raise ConfigError(
                f"{cfg.name}: {blocks} blocks with gamma={gamma} pool a {size}-pixel side down to "
                f"{pooled_sizes(size, blocks=blocks, gamma=gamma)[-1]} < {MIN_FINAL_SIZE} pixels; use fewer "
                "blocks or a larger gamma"
            )
    return SpectralCNN(
        in_channels=cfg.input_size[0],
        num_classes=cfg.num_classes,
        blocks=blocks,
        gamma=gamma,
        alpha=float(extra_value(cfg, "alpha", (int, float))),
        beta=float(extra_value(cfg, "beta", (int, float))),
    )


register_architectures(
    ARCH,
    build,
    extra={"blocks": BLOCKS, "gamma": GAMMA, "alpha": DROPOUT_ALPHA, "beta": DROPOUT_BETA},
    paper="Rippel, Snoek & Adams 2015, Spectral Representations for Convolutional Neural Networks, "
    "arXiv:1506.03767",
    notes=f"M={BLOCKS} blocks of spectrally parameterised 3x3 conv + spectral pooling (gamma {GAMMA}) "
    "with frequency dropout in training.",
)
