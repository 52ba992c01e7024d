"""The extra weather corruption of CIFAR-10-C: spatter (water drops at severities 1-3, mud at 4-5).

Reference: Hendrycks & Dietterich, ICLR 2019; the generator ``ImageNet-C/create_c/make_cifar_c.py`` of
hendrycks/robustness. The severity table is that file's CIFAR table (REFERENCE.md section 1, row 18).
Like the rest of the weather family (``weather.py``), :func:`spatter` draws from the per-sample
:class:`~freqbench.ops.random.SampleGenerator` and calls :func:`_spatter`, which takes the draws
explicitly, so tests can feed the same draws to the numpy reference.

The liquid layer is a Gaussian layer blurred with SciPy's filter (``scipy_ops.py``) and thresholded.
The water mode runs the reference's OpenCV steps with OpenCV's arithmetic (``opencv_ops.py``: Canny
edges, chamfer distance, box filters, ``filter2D``, ``equalizeHist``); the mud mode blurs the mask
again. Arithmetic in float32 like the reference's images (the liquid layer in float64); with the same
draws, the output equals the reference's bit for bit except rare ties (one level on at most 0.1% of
values), as the tests state. Size-agnostic; on 1 channel the water and mud colours are replaced by
their luma (``cv2.COLOR_RGB2GRAY`` weights).

Deliberate differences from the reference: the draws come from the sample's own stream (the reference
uses numpy's global generator, unseeded), and the water mode leaves an image unchanged when its liquid
mask is empty (the reference divides 0 by 0 and writes a black image).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from freqbench.errors import IncompatibleError
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.base import check_images, require_generator
from freqbench.perturbations.corruptions.base import (
    Corruption,
    read_levels,
    severity_row,
    truncate_to_levels,
)
from freqbench.perturbations.corruptions.opencv_ops import (
    RGB2GRAY,
    box3,
    canny,
    chamfer_distance,
    equalize_hist,
    filter3x3_u8,
)
from freqbench.perturbations.corruptions.scipy_ops import scipy_gaussian_blur

#: spatter: (loc, scale, sigma, threshold, intensity, mode 0 = water, 1 = mud)
SPATTER: tuple[tuple[float, ...], ...] = (
    (0.62, 0.1, 0.7, 0.7, 0.5, 0),
    (0.65, 0.1, 0.8, 0.7, 0.5, 0),
    (0.65, 0.3, 1, 0.69, 0.5, 0),
    (0.65, 0.1, 0.7, 0.69, 0.6, 1),
    (0.65, 0.1, 0.5, 0.68, 0.6, 1),
)
WATER_RGB = (175, 238, 238)  # pale turquoise
MUD_RGB = (63, 42, 20)


def _colour(rgb: Sequence[int], channels: int, like: torch.Tensor) -> torch.Tensor:
    """A colour as (1, C, 1, 1) in [0, 1]; its luma for 1 channel."""
    c = torch.tensor([v / 255.0 for v in rgb], dtype=like.dtype, device=like.device)
    if channels == 1:
        c = (c * torch.tensor(RGB2GRAY, dtype=like.dtype, device=like.device)).sum(0, keepdim=True)
    elif channels != 3:
        raise IncompatibleError(f"expected 1 or 3 channels, got {channels}; pass RGB or greyscale images")
    return c.view(1, -1, 1, 1)


def _water_mask(liquid: torch.Tensor) -> torch.Tensor:
    """Spatter's water mask ``liquid_u8 * dist`` (B, H, W) float32 from the thresholded liquid layer."""
    # .astype(np.uint8) of values that can exceed 255 (severity 3): numpy on x86 wraps modulo 256
    liquid_u8 = torch.remainder(torch.floor(liquid * 255.0).long(), 256)
    edges = canny(liquid_u8, 50, 150)
    dist = chamfer_distance(edges, cap=20.0)
    dist = torch.floor((box3(dist.double()) * (1.0 / 9.0)).float()).long()  # blur, .astype(uint8)
    dist = equalize_hist(dist)
    ker = ((-2, -1, 0), (-1, 1, 1), (0, 1, 2))
    dist = filter3x3_u8(dist, ker)
    dist = torch.round(box3(dist) * (1.0 / 9.0)).float()  # blur on uint8 rounds
    return liquid_u8.float() * dist


def _spatter(x: torch.Tensor, params: Sequence[float], noise: torch.Tensor) -> torch.Tensor:
    """Spatter from a given N(loc, scale) layer (B, H, W)."""
    _, _, sigma, threshold, intensity, mode = params
    x32 = read_levels(x).float()  # the reference works on float32 images here
    liquid = scipy_gaussian_blur(noise[:, None].to(torch.float64), sigma)[:, 0]
    liquid = torch.where(liquid < threshold, torch.zeros_like(liquid), liquid)
    if mode == 0:
        m = _water_mask(liquid)
        peak = m.amax(dim=(1, 2), keepdim=True)
        m = torch.where(peak > 0, m / peak.clamp(min=1e-12), torch.zeros_like(m))
        colour = _colour(WATER_RGB, x.shape[1], x32)
        return truncate_to_levels(x32 + (m[:, None] * intensity) * colour).to(x.dtype)
    m = (liquid > threshold).to(torch.float32)[:, None]
    m = scipy_gaussian_blur(m.double(), intensity).float()  # scipy filters float32 in double, stores float32
    m = torch.where(m < 0.8, torch.zeros_like(m), m)
    colour = _colour(MUD_RGB, x.shape[1], x32)
    return truncate_to_levels(x32 * (1 - m) + colour * m).to(x.dtype)


def spatter(x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None) -> torch.Tensor:
    """Water drops (severities 1-3) or mud (4-5) from a blurred, thresholded Gaussian layer.

    Shape:
        x: (B, C, H, W) in [0, 1], C in {1, 3}; returns the same shape, dtype and device.
    """
    check_images(x, "spatter")
    params = severity_row(SPATTER, severity, "spatter")
    g = require_generator(generator, x, "spatter")
    noise = params[0] + params[1] * g.normal(x.shape[-2:], dtype=torch.float64)
    return _spatter(x, params, noise)


class Spatter(Corruption, name="spatter", fn=spatter, random=True):
    """:func:`spatter` at one severity."""
