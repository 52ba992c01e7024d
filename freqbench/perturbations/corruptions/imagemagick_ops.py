"""ImageMagick's motion blur (``MotionBlurImage``), re-implemented in torch: ``motion_blur`` and the
snow layer of ``snow`` use it.

The CIFAR-10-C generator (``ImageNet-C/create_c/make_cifar_c.py``, hendrycks/robustness) calls
ImageMagick through Wand: ``image.motion_blur(radius, sigma, angle)`` on a PNG, read back as 8 bits.
:func:`imagemagick_motion_blur` is the unrounded 16-bit result; the corruptions round it once to the
nearest 8-bit level (``round_to_levels`` in :mod:`~freqbench.perturbations.corruptions.base`).

Rounding, deliberately as ImageMagick 6 did when the data set was made (2018): its sources up to at
least 2019 round in both ``ScaleQuantumToChar`` and ``ScaleQuantumToAny``, which the PNG writer uses
to go from 16-bit quanta to an 8-bit file. Later releases of 6.9.11 (Debian 12's 6.9.11-60, built
2021) truncate in ``ScaleQuantumToAny`` and so write one level lower on about half the values; this
module does not follow that later change. ImageMagick (Q16) rounds to 16 bits first and then to 8
bits, which differs from the single rounding here only within 1/65535 of a half level.

Checked against the real ImageMagick (``tests/perturbations/test_corruptions_imagemagick.py``, through
Wand exactly as the generator calls it): with ImageMagick 6.9.11-60 Q16 and Wand 0.7.2, on 16 CIFAR-10
test images (the JPEG copy in ``shared/data``), severities 1-5 and angles -45, -30, 0, 17.3, 45 (and on
16 snow layers per severity of ``weather.py`` at -135, -90, -60, -45.5), :func:`imagemagick_motion_blur`
equals ImageMagick's 16-bit result on every value (0 of 1,556,480 differ) and the 8-bit output equals
that result rounded on every value; that version's own PNG output is one level lower on 48.8% of the
motion-blur values (12.4% of the snow layer's), and never further off.
"""

from __future__ import annotations

import math

import torch


def motion_kernel(radius: float, sigma: float) -> list[float]:
    """ImageMagick's one-sided motion-blur weights (``GetMotionBlurKernel``).

    Width ``2 ceil(radius) + 1`` taps, weight ``exp(-i^2 / (2 sigma^2))`` for tap ``i = 0..width-1``,
    normalised to sum 1.
    """
    width = int(2.0 * math.ceil(radius) + 1.0)
    raw = [math.exp(-(i * i) / (2.0 * sigma * sigma)) for i in range(width)]
    total = sum(raw)
    return [r / total for r in raw]


def motion_offsets(width: int, angle: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer pixel offsets of the motion-blur taps (ImageMagick ``MotionBlurImage``).

    Tap ``i`` reads pixel ``(y + dy_i, x + dx_i)`` with ``dx_i = ceil(i cos(a) - 0.5)`` and
    ``dy_i = ceil(i sin(a) - 0.5)``: ImageMagick rounds the tap positions to whole pixels (no
    interpolation), computed through ``width * sin/cos`` and ``hypot`` as it does.

    Shape:
        angle: (B,) degrees; returns dx, dy of shape (B, width), int64.
    """
    a = angle.to(torch.float64) * (math.pi / 180.0)
    px, py = width * torch.sin(a), width * torch.cos(a)
    norm = torch.hypot(px, py)[:, None]
    i = torch.arange(width, dtype=torch.float64, device=angle.device)[None, :]
    dx = torch.ceil(i * py[:, None] / norm - 0.5).long()
    dy = torch.ceil(i * px[:, None] / norm - 0.5).long()
    return dx, dy


def imagemagick_motion_blur(
    x: torch.Tensor, radius: float, sigma: float, angle: torch.Tensor
) -> torch.Tensor:
    """ImageMagick ``MotionBlurImage(radius, sigma, angle)`` with edge virtual pixels, unrounded.

    ``out(y, x) = sum_i k_i in(clamp(y + dy_i), clamp(x + dx_i))``: a one-sided Gaussian-weighted line
    of whole-pixel taps along ``angle`` (0 degrees points to +x, positive angles towards +y, i.e.
    downwards), reading outside the image as the nearest edge pixel (ImageMagick's default ``Edge``
    virtual-pixel method). One gather per tap, batched over samples with their own angles.

    Shape:
        x: (B, C, H, W); angle: (B,) degrees; returns (B, C, H, W).
    """
    b, c, h, w = x.shape
    weights = motion_kernel(radius, sigma)
    dx, dy = motion_offsets(len(weights), angle.to(x.device))
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    flat = x.reshape(b, c, h * w)
    out = torch.zeros_like(flat)
    for i, k in enumerate(weights):
        r = (rows[None, :] + dy[:, i : i + 1]).clamp(0, h - 1)
        q = (cols[None, :] + dx[:, i : i + 1]).clamp(0, w - 1)
        idx = (r[:, :, None] * w + q[:, None, :]).reshape(b, 1, h * w).expand(b, c, h * w)
        out.add_(torch.gather(flat, 2, idx).mul_(k))
    return out.reshape(b, c, h, w)
