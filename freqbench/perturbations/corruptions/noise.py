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
- the input is read as 8-bit levels, ``round(x * 255) / 255`` in float64 (:func:`read_uint8_levels`):
  exactly the reference's input for 8-bit images, at most half a level away for other inputs.

Speed (batches of a few hundred small images on the CPU are memory-bound): the float64 steps run in
place on the batch instead of allocating a fresh tensor per operation, the final ``level / 255``
is divided in float32 where the output is not float64 (:func:`levels_as`: the same values), and
impulse noise tests its uniforms on their 24-bit integers. The outputs are those of the plain
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
from freqbench.perturbations.corruptions.base import register_corruption

#: standard deviation of the additive noise on [0, 1] (REFERENCE.md section 1, row 1)
GAUSSIAN_SIGMA: tuple[float, ...] = (0.04, 0.06, 0.08, 0.09, 0.10)
#: photon count scale lambda: Poisson(x * lambda) / lambda (row 2)
SHOT_LAMBDA: tuple[float, ...] = (500.0, 250.0, 100.0, 75.0, 50.0)
#: fraction of pixel-channels replaced by salt or pepper (row 3)
IMPULSE_AMOUNT: tuple[float, ...] = (0.01, 0.02, 0.03, 0.05, 0.07)
#: standard deviation of the multiplicative noise: x + x * N(0, sigma) (row 16)
SPECKLE_SIGMA: tuple[float, ...] = (0.06, 0.10, 0.12, 0.16, 0.20)


def read_uint8_levels(x: torch.Tensor) -> torch.Tensor:
    """The input as the reference reads it: 8-bit values ``round(x * 255) / 255`` in float64.

    The reference starts from uint8 images. float32 cannot hold ``k / 255`` exactly, and the
    reference's final truncation turns such last-bit differences into one-level differences, so every
    corruption here starts from the exact float64 levels. For inputs that are not 8-bit this moves
    each value by at most half a level (1/510).

    Shape:
        any -> same, float64.
    """
    y = x.to(torch.float64, copy=True)
    return y.clamp_(0.0, 1.0).mul_(255.0).round_().div_(255.0)


def truncate_to_uint8_levels(y: torch.Tensor) -> torch.Tensor:
    """``np.uint8(clip(y, 0, 1) * 255) / 255``: the reference's final clip and truncating cast.

    Shape:
        any -> same.
    """
    return y.clamp(0.0, 1.0).mul_(255.0).floor_().div_(255.0)


def levels_as(k: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Integer levels ``k`` in 0..255 (a float tensor) as ``(k / 255).to(dtype)``, the division done
    in ``k``'s dtype.

    Only a float64 ``k`` with a float64 ``dtype`` is divided in float64: for the 256 levels, float32
    division by 255 rounds every quotient exactly as float64 division cast to float32 does, and so do
    their float16 and bfloat16 casts (checked exhaustively), so other outputs need no float64 work.
    ``k`` may be overwritten.

    Shape:
        any -> same, ``dtype``.
    """
    if k.dtype == torch.float64 and dtype == torch.float64:
        return k.div_(255.0)
    return k.to(torch.float32).div_(255.0).to(dtype)


def truncate_to_uint8_levels_(y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """:func:`truncate_to_uint8_levels` computed in place in ``y`` and returned in ``dtype``.

    Shape:
        any -> same, ``dtype``.
    """
    return levels_as(y.clamp_(0.0, 1.0).mul_(255.0).floor_(), dtype)


def read_uint8_values(x: torch.Tensor) -> torch.Tensor:
    """The integer levels ``round(x * 255)`` (float64) of :func:`read_uint8_levels`.

    Shape:
        any -> same, float64.
    """
    return x.to(torch.float64, copy=True).clamp_(0.0, 1.0).mul_(255.0).round_()


def _count_below(p: float) -> int:
    """How many of the uniforms ``(k + 1/2) / 2**24`` lie below ``p``: ``u < p`` is ``k < count``.

    Exact: ``k + 1/2 < p 2**24`` in rational arithmetic.
    """
    return max(0, min(1 << 24, math.ceil(Fraction(p) * (1 << 24) - Fraction(1, 2))))


def _param(table: tuple[float, ...], severity: int, name: str) -> float:
    if int(severity) not in range(1, len(table) + 1):
        raise ValueError(f"{name}: severity must be one of 1..{len(table)}, got {severity!r}")
    return table[int(severity) - 1]


@register_corruption("gaussian_noise", random=True)
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
    sigma = _param(GAUSSIAN_SIGMA, severity, "gaussian_noise")
    gen = require_generator(generator, x, "gaussian_noise")
    noise = gen.normal(tuple(x.shape[1:]), dtype=torch.float64)
    # (sigma * noise) + levels is the reference's levels + sigma * noise, in place
    y = noise.mul_(sigma).add_(read_uint8_levels(x))
    return truncate_to_uint8_levels_(y, x.dtype)


@register_corruption("shot_noise", random=True)
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
    lam = _param(SHOT_LAMBDA, severity, "shot_noise")
    gen = require_generator(generator, x, "shot_noise")
    levels = read_uint8_values(x).long()
    rates = torch.arange(256, dtype=torch.float64, device=x.device) / 255.0 * lam
    counts = gen.poisson_levels(levels, rates)
    return truncate_to_uint8_levels_(counts.div_(lam), x.dtype)


@register_corruption("impulse_noise", random=True)
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
    amount = _param(IMPULSE_AMOUNT, severity, "impulse_noise")
    gen = require_generator(generator, x, "impulse_noise")
    # u < p tested on the integers behind u; kept levels k / 255 truncate to themselves (checked for
    # all 256), so the output is the input's levels with the salt and pepper written over them
    k = gen.bits24(tuple(x.shape[1:]))
    y = levels_as(read_uint8_values(x), x.dtype)
    y.masked_fill_(k < _count_below(amount), 1.0)
    return y.masked_fill_(k < _count_below(0.5 * amount), 0.0)


@register_corruption("speckle_noise", random=True)
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
    sigma = _param(SPECKLE_SIGMA, severity, "speckle_noise")
    gen = require_generator(generator, x, "speckle_noise")
    noise = gen.normal(tuple(x.shape[1:]), dtype=torch.float64)
    y = read_uint8_levels(x)
    # y * (sigma * noise) + y, the reference's y + y * (sigma * noise), in place
    return truncate_to_uint8_levels_(noise.mul_(sigma).mul_(y).add_(y), x.dtype)
