"""Noise corruptions of CIFAR-10-C: Gaussian, shot, impulse and speckle noise.

Reference: D. Hendrycks and T. Dietterich, "Benchmarking Neural Network Robustness to Common
Corruptions and Perturbations", ICLR 2019, and its generator ``ImageNet-C/create_c/make_cifar_c.py``
(hendrycks/robustness). The severity tables below are REFERENCE.md section 1, rows 1-3 and 16, which
copy the CIFAR values of that generator.

The reference works per image on uint8 H x W x C: ``x / 255`` in float64, add the noise, clip to
[0, 1], multiply by 255 and cast with ``np.uint8`` (truncation). Here, batched on (B, C, H, W):

- the arithmetic runs in float64 like the reference's and the result is cast back to the input dtype;
- the output is quantised the way the released files are, ``floor(clip(y) * 255) / 255``, so a model
  sees the same 256 levels as on CIFAR-10-C (the truncation lowers the mean by half a level);
- the input is read as 8-bit levels, ``round(x * 255) / 255`` in float64 (``read_levels`` of
  :mod:`~freqbench.perturbations.corruptions.base`, the 8-bit helpers of every family): exactly the
  reference's input for 8-bit images, at most half a level away for other inputs.

Speed (batches of a few hundred small images on the CPU are memory-bound): the float64 steps run in
place on the batch instead of allocating a fresh tensor per operation, the final ``level / 255``
is divided in float32 where the output is not float64 (``levels_as``: the same values), and impulse
noise tests its uniforms on their 24-bit integers. The outputs are those of the plain
float64 formulas, bit for bit.

Every noise acts on each pixel-channel independently, so 1-channel images and every image size work
unchanged, with the same per-pixel meaning as on 32 x 32 RGB. Randomness comes only from the
per-sample :class:`~freqbench.ops.random.SampleGenerator`; the reference calls numpy's global
generator without a seed, so only the distribution of the noise can be matched, not its values.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch

from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.base import check_images, require_generator
from freqbench.perturbations.corruptions.base import (
    Corruption,
    levels_as,
    read_levels,
    read_uint8_values,
    severity_row,
    truncate_to_levels_,
)

#: standard deviation of the additive noise on [0, 1] (REFERENCE.md section 1, row 1)
GAUSSIAN_SIGMA: tuple[float, ...] = (0.04, 0.06, 0.08, 0.09, 0.10)
#: photon count scale lambda: Poisson(x * lambda) / lambda (row 2)
SHOT_LAMBDA: tuple[float, ...] = (500.0, 250.0, 100.0, 75.0, 50.0)
#: fraction of pixel-channels replaced by salt or pepper (row 3)
IMPULSE_AMOUNT: tuple[float, ...] = (0.01, 0.02, 0.03, 0.05, 0.07)
#: standard deviation of the multiplicative noise: x + x * N(0, sigma) (row 16)
SPECKLE_SIGMA: tuple[float, ...] = (0.06, 0.10, 0.12, 0.16, 0.20)


def _count_below(p: float) -> int:
    """How many of the uniforms ``(k + 1/2) / 2**24`` lie below ``p``: ``u < p`` is ``k < count``.

    Exact: ``k + 1/2 < p 2**24`` in rational arithmetic.
    """
    return max(0, min(1 << 24, math.ceil(Fraction(p) * (1 << 24) - Fraction(1, 2))))


def gaussian_noise(
    x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None
) -> torch.Tensor:
    """Additive Gaussian noise ``x + N(0, sigma)``, clipped and truncated to 8-bit levels.

    Args:
        x: images in [0, 1].
        severity: 1..5, ``sigma`` from :data:`GAUSSIAN_SIGMA`.
        generator: one stream per sample (required).

    Shape:
        x: (B, C, H, W) -> (B, C, H, W).
    """
    check_images(x, "gaussian_noise")
    sigma = severity_row(GAUSSIAN_SIGMA, severity, "gaussian_noise")
    gen = require_generator(generator, x, "gaussian_noise")
    noise = gen.normal(tuple(x.shape[1:]), dtype=torch.float64)
    # (sigma * noise) + levels is the reference's levels + sigma * noise, in place
    y = noise.mul_(sigma).add_(read_levels(x))
    return truncate_to_levels_(y, x.dtype)


def shot_noise(x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None) -> torch.Tensor:
    """Poisson (photon) noise ``Poisson(x * lambda) / lambda``, clipped and truncated to 8-bit levels.

    The Poisson draws are exact (inversion of the Poisson CDF, one uniform per pixel-channel). As the
    input is read as 8-bit levels, the rates come from a set of 256, which lets
    :meth:`~freqbench.ops.random.SampleGenerator.poisson_levels` read the CDF from a table instead of
    evaluating the incomplete gamma function per pixel.

    Args:
        x: images in [0, 1].
        severity: 1..5, ``lambda`` from :data:`SHOT_LAMBDA`.
        generator: one stream per sample (required).

    Shape:
        x: (B, C, H, W) -> (B, C, H, W).
    """
    check_images(x, "shot_noise")
    lam = severity_row(SHOT_LAMBDA, severity, "shot_noise")
    gen = require_generator(generator, x, "shot_noise")
    levels = read_uint8_values(x).long()
    rates = torch.arange(256, dtype=torch.float64, device=x.device) / 255.0 * lam
    counts = gen.poisson_levels(levels, rates)
    return truncate_to_levels_(counts.div_(lam), x.dtype)


def impulse_noise(
    x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None
) -> torch.Tensor:
    """Salt-and-pepper noise as scikit-image's ``random_noise(mode='s&p')`` did it in 2019.

    Each pixel-channel is replaced independently with probability ``amount``; a replaced value is
    salt (1) or pepper (0) with probability 1/2 each. One uniform ``u`` per pixel-channel decides
    both: ``u < amount / 2`` gives pepper, ``amount / 2 <= u < amount`` salt (the reference draws two
    Bernoulli masks from numpy's global generator; the joint distribution is the same).

    Args:
        x: images in [0, 1].
        severity: 1..5, ``amount`` from :data:`IMPULSE_AMOUNT`.
        generator: one stream per sample (required).

    Shape:
        x: (B, C, H, W) -> (B, C, H, W).
    """
    check_images(x, "impulse_noise")
    amount = severity_row(IMPULSE_AMOUNT, severity, "impulse_noise")
    gen = require_generator(generator, x, "impulse_noise")
    # u < p tested on the integers behind u; kept levels k / 255 truncate to themselves (checked for
    # all 256), so the output is the input's levels with the salt and pepper written over them
    k = gen.bits24(tuple(x.shape[1:]))
    y = levels_as(read_uint8_values(x), x.dtype)
    y.masked_fill_(k < _count_below(amount), 1.0)
    return y.masked_fill_(k < _count_below(0.5 * amount), 0.0)


def speckle_noise(
    x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None
) -> torch.Tensor:
    """Multiplicative noise ``x + x * N(0, sigma)``, clipped and truncated to 8-bit levels.

    Args:
        x: images in [0, 1].
        severity: 1..5, ``sigma`` from :data:`SPECKLE_SIGMA`.
        generator: one stream per sample (required).

    Shape:
        x: (B, C, H, W) -> (B, C, H, W).
    """
    check_images(x, "speckle_noise")
    sigma = severity_row(SPECKLE_SIGMA, severity, "speckle_noise")
    gen = require_generator(generator, x, "speckle_noise")
    noise = gen.normal(tuple(x.shape[1:]), dtype=torch.float64)
    y = read_levels(x)
    # y * (sigma * noise) + y, the reference's y + y * (sigma * noise), in place
    return truncate_to_levels_(noise.mul_(sigma).mul_(y).add_(y), x.dtype)


# --- modules -------------------------------------------------------------------------------------------
class GaussianNoise(Corruption, name="gaussian_noise", fn=gaussian_noise, random=True):
    """:func:`gaussian_noise` at one severity."""


class ShotNoise(Corruption, name="shot_noise", fn=shot_noise, random=True):
    """:func:`shot_noise` at one severity."""


class ImpulseNoise(Corruption, name="impulse_noise", fn=impulse_noise, random=True):
    """:func:`impulse_noise` at one severity."""


class SpeckleNoise(Corruption, name="speckle_noise", fn=speckle_noise, random=True):
    """:func:`speckle_noise` at one severity."""
