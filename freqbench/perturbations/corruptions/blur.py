"""Blur corruptions of CIFAR-10-C: defocus, glass, motion and zoom blur, and the extra Gaussian blur.

Reference: Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019; the generator ``ImageNet-C/create_c/make_cifar_c.py`` of
hendrycks/robustness. Every severity table below is that file's CIFAR table, as restated in
REFERENCE.md section 1 (rows 4-7 and 17).

The generator works per image on uint8 HWC arrays, computes in float and casts with ``np.uint8``
(truncation). Here every corruption is a batched torch operation on (B, C, H, W) floats in [0, 1] that
ends with the same truncation to 8-bit levels (``truncate_to_levels``; the 8-bit helpers live in
:mod:`~freqbench.perturbations.corruptions.base`), so on uint8-valued inputs the outputs are the
released data's levels. Motion blur is the exception: ImageMagick rounds to the nearest level.

Arithmetic: truncation makes the last bit matter wherever the reference lands within rounding of a
level (flat regions land there all the time, e.g. a white area blurred in float64 gives
254.99999999999997 and truncates to 254). So each corruption computes in the reference's precision,
whatever the input dtype, and returns the input dtype: float64 for Gaussian, defocus, glass and motion
blur, float32 (with float64 interpolation, as scipy does) for zoom blur. The input is read as 8-bit
levels (``read_levels``, as in the noise family). The Gaussian filter follows scipy's tap weights
(:func:`~freqbench.ops.kernels.gaussian_taps`) and summation order, the defocus kernel OpenCV's float32
kernel (:mod:`~freqbench.perturbations.corruptions.opencv_ops`). With the same draws the outputs equal
the reference's bit for bit on the tests' images, for float32 and float64 inputs alike (tests state the
tolerances). Computing in float64 costs little for small images, but needs a device with float64
(not Apple's MPS). The shifted-copy filters accumulate in place into preallocated buffers (a fresh
batch-sized tensor per operation costs more than the arithmetic on 32 x 32 images), with the same
operations in the same order, so the values do not change.

The SciPy building blocks (Gaussian filter, clipped zoom) are in
:mod:`~freqbench.perturbations.corruptions.scipy_ops`, shared with the weather family; motion blur is
ImageMagick's (:mod:`~freqbench.perturbations.corruptions.imagemagick_ops`, which records the check
against the real ImageMagick and why it rounds as ImageMagick 6 did in 2018).

Per corruption, 1-channel images and sizes other than 32x32:

* ``gaussian_blur``, ``defocus_blur``: per-channel spatial filters; any C, any size (defocus needs
  H, W > 2 for its reflect-101 border).
* ``glass_blur``: the pixel sweep moves whole pixels (all channels together), as the reference's row
  views do; the sweep covers rows ``H-1 .. 2`` and columns ``W-1 .. 2`` (the reference's bounds with
  32 replaced by H or W).
* ``motion_blur``: per channel; any size. A 1-channel image is what ImageMagick does to a greyscale PNG.
* ``zoom_blur``: the centre crop is taken per axis (``ceil(H/z)`` rows, ``ceil(W/z)`` columns); for
  square images this is the reference's square crop.

Deliberate differences from the reference:

* ``defocus_blur`` applies the kernel cropped to its non-zero support (at most 5x5 for these radii);
  OpenCV filters with the full 17x17 array, whose zeros add nothing.
* ``motion_blur`` rounds once to the nearest 8-bit level, as ImageMagick 6 did in 2018 (details in
  :mod:`~freqbench.perturbations.corruptions.imagemagick_ops`).
* ``glass_blur`` draws its offsets from the sample's own stream instead of numpy's global generator;
  the offsets are drawn in the reference's order (rows from the bottom, columns from the right, ``dx``
  before ``dy``), so an injected draw reproduces the reference exactly.
"""

from __future__ import annotations

import numpy as np
import torch

from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.base import check_images, require_generator
from freqbench.perturbations.corruptions.base import (
    Corruption,
    read_levels,
    round_to_levels_,
    severity_row,
    truncate_to_levels_,
)
from freqbench.perturbations.corruptions.imagemagick_ops import imagemagick_motion_blur
from freqbench.perturbations.corruptions.opencv_ops import correlate_small, cv2_gaussian_taps
from freqbench.perturbations.corruptions.scipy_ops import clipped_zoom, scipy_gaussian_blur, symmetric_pass

# --- severity tables (make_cifar_c.py, REFERENCE.md section 1) ---------------------------------------
#: defocus_blur: (disk radius, alias-blur sigma)
DEFOCUS: tuple[tuple[float, float], ...] = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1))
#: glass_blur: (sigma, max_delta, iterations)
GLASS: tuple[tuple[float, int, int], ...] = (
    (0.05, 1, 1),
    (0.25, 1, 1),
    (0.4, 1, 1),
    (0.25, 1, 2),
    (0.4, 1, 2),
)
#: motion_blur: (ImageMagick radius, sigma); the angle is U(-45, 45) degrees per image
MOTION: tuple[tuple[float, float], ...] = ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))
MOTION_ANGLE: tuple[float, float] = (-45.0, 45.0)
#: zoom_blur: the zoom factors are ``np.arange(1, z, 0.01)`` (7, 12, 16, 21, 26 factors, 1.0 included)
ZOOM_MAX: tuple[float, ...] = (1.06, 1.11, 1.16, 1.21, 1.26)
#: gaussian_blur: sigma in pixels
GAUSSIAN: tuple[float, ...] = (0.4, 0.6, 0.7, 0.8, 1.0)


# --- building blocks -----------------------------------------------------------------------------------
def disk_kernel(radius: float, alias_blur: float) -> torch.Tensor:
    """The reference's anti-aliased disk: a normalised disk on a 17x17 grid (``-8..8``; ``-r..r`` with a
    5x5 alias blur when ``radius > 8``), then ``cv2.GaussianBlur`` with sigma ``alias_blur`` and a 3x3
    window, in float32 as OpenCV does it (symmetric row pass, then column pass, reflect-101 border),
    cropped to its non-zero support.

    Returns:
        (k, k) float64 kernel holding float32 values.
    """
    if radius <= 8:
        grid, ksize = torch.arange(-8, 9, dtype=torch.float64), 3
    else:
        grid, ksize = torch.arange(-radius, radius + 1, dtype=torch.float64), 5
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    disk = (xx**2 + yy**2 <= radius**2).to(torch.float32)
    disk = (disk / disk.sum())[None, None]
    taps = cv2_gaussian_taps(ksize, alias_blur)
    kernel = symmetric_pass(symmetric_pass(disk, taps, -1, mode="reflect"), taps, -2, mode="reflect")[0, 0]
    nz = torch.nonzero(kernel)
    r0, c0 = nz.min(0).values.tolist()
    r1, c1 = nz.max(0).values.tolist()
    return kernel[r0 : r1 + 1, c0 : c1 + 1].to(torch.float64)


def glass_offsets(
    generator: SampleGenerator, height: int, width: int, *, max_delta: int, iterations: int
) -> torch.Tensor:
    """Draw the glass-blur sweep offsets in the reference's order.

    Entry ``[b, it, i, j]`` is ``(dx, dy)`` for pixel ``(h, w) = (H - max_delta - i, W - max_delta - j)``
    of iteration ``it``, each uniform in ``[-max_delta, max_delta)`` like ``np.random.randint``.

    Shape:
        returns (B, iterations, H - 2 max_delta, W - 2 max_delta, 2) int64.
    """
    nh, nw = height - 2 * max_delta, width - 2 * max_delta
    return generator.integers(-max_delta, max_delta, (iterations, nh, nw, 2))


def glass_sweep(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """One sweep of the reference's local pixel shuffle, as a single gather.

    The reference visits ``(h, w)`` from the bottom-right and copies pixel ``(h + dy, w + dx)`` into
    ``(h, w)`` (its "swap" assigns through numpy row views, so the neighbour is left unchanged). With
    offsets in ``{-1, 0}`` every pixel read lies above or left of the one written, i.e. is not yet
    written in that sweep, so the whole sweep reads the pre-sweep image: one gather.

    Shape:
        x: (B, C, H, W); offsets: (B, H - 2, W - 2, 2) as from :func:`glass_offsets` (one iteration);
        returns (B, C, H, W).
    """
    b, c, h, w = x.shape
    if offsets.numel() and (offsets.min() < -1 or offsets.max() > 0):
        raise ValueError("glass_sweep is a single gather only for offsets in {-1, 0} (max_delta = 1)")
    nh, nw = offsets.shape[1], offsets.shape[2]
    hs = torch.arange(h - 1, h - 1 - nh, -1, device=x.device)  # h = H-1 .. 2
    ws = torch.arange(w - 1, w - 1 - nw, -1, device=x.device)
    dx, dy = offsets[..., 0].to(x.device), offsets[..., 1].to(x.device)
    src = (hs[None, :, None] + dy) * w + (ws[None, None, :] + dx)  # (B, nh, nw)
    dst = (hs[:, None] * w + ws[None, :]).reshape(-1)
    index = torch.arange(h * w, device=x.device).repeat(b, 1)
    index[:, dst] = src.reshape(b, -1)
    flat = x.reshape(b, c, h * w)
    return torch.gather(flat, 2, index[:, None, :].expand(b, c, h * w)).reshape(b, c, h, w)


# --- corruptions ---------------------------------------------------------------------------------------
def gaussian_blur(
    x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None
) -> torch.Tensor:
    """Per-channel Gaussian blur, sigma 0.4 / 0.6 / 0.7 / 0.8 / 1 (``skimage.filters.gaussian``).

    Shape:
        x: (B, C, H, W) in [0, 1]; returns the same shape, dtype and device.
    """
    check_images(x, "gaussian_blur")
    sigma = float(severity_row(GAUSSIAN, severity, "gaussian_blur"))
    return truncate_to_levels_(scipy_gaussian_blur(read_levels(x), sigma), x.dtype)


def defocus_blur(x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None) -> torch.Tensor:
    """Anti-aliased disk filter per channel (``cv2.filter2D``, reflect-101 border).

    Shape:
        x: (B, C, H, W) in [0, 1]; returns the same shape, dtype and device.
    """
    check_images(x, "defocus_blur")
    radius, alias = severity_row(DEFOCUS, severity, "defocus_blur")
    return truncate_to_levels_(correlate_small(read_levels(x), disk_kernel(radius, alias)), x.dtype)


def _glass_blur(x: torch.Tensor, sigma: float, offsets: torch.Tensor) -> torch.Tensor:
    """Glass blur with given sweep offsets (B, iterations, H-2, W-2, 2); see :func:`glass_blur`."""
    y = (
        scipy_gaussian_blur(read_levels(x), sigma).mul_(255.0).floor_().div_(255.0)
    )  # np.uint8(gaussian(x) * 255)
    for it in range(offsets.shape[1]):
        y = glass_sweep(y, offsets[:, it])
    return truncate_to_levels_(scipy_gaussian_blur(y, sigma), x.dtype)


def glass_blur(x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None) -> torch.Tensor:
    """Gaussian blur, truncation to 8 bits, 1 or 2 local pixel sweeps, Gaussian blur.

    Shape:
        x: (B, C, H, W) in [0, 1], H, W >= 3; returns the same shape, dtype and device.
    """
    check_images(x, "glass_blur")
    sigma, max_delta, iterations = severity_row(GLASS, severity, "glass_blur")
    g = require_generator(generator, x, "glass_blur")
    offsets = glass_offsets(g, x.shape[2], x.shape[3], max_delta=max_delta, iterations=iterations)
    return _glass_blur(x, sigma, offsets)


def _motion_blur(x: torch.Tensor, radius: float, sigma: float, angle: torch.Tensor) -> torch.Tensor:
    """Motion blur at given angles (B,) in degrees, rounded like ImageMagick's 8-bit output."""
    return round_to_levels_(imagemagick_motion_blur(read_levels(x), radius, sigma, angle), x.dtype)


def motion_blur(x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None) -> torch.Tensor:
    """ImageMagick motion blur at an angle ~ U(-45, 45) degrees per image.

    Shape:
        x: (B, C, H, W) in [0, 1]; returns the same shape, dtype and device.
    """
    check_images(x, "motion_blur")
    radius, sigma = severity_row(MOTION, severity, "motion_blur")
    g = require_generator(generator, x, "motion_blur")
    angle = g.uniform((), low=MOTION_ANGLE[0], high=MOTION_ANGLE[1], dtype=torch.float64)
    return _motion_blur(x, radius, sigma, angle)


def zoom_factors(severity: int) -> np.ndarray:
    """The reference's zoom factors, ``np.arange(1, z, 0.01)`` with its float rounding (it includes z's
    neighbourhood: 7, 12, 16, 21, 26 factors)."""
    return np.arange(1, float(severity_row(ZOOM_MAX, severity, "zoom_blur")), 0.01)


def zoom_blur(x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None) -> torch.Tensor:
    """Mean of the image and its clipped zooms by ``np.arange(1, z, 0.01)``.

    Shape:
        x: (B, C, H, W) in [0, 1]; returns the same shape, dtype and device.
    """
    check_images(x, "zoom_blur")
    factors = zoom_factors(severity)
    x32 = read_levels(x).float()  # the reference's (x / 255.).astype(np.float32)
    x64 = x32.double()
    out = torch.zeros_like(x32)
    for z in factors:
        out = out + clipped_zoom(x64, float(z)).float()
    return truncate_to_levels_(out.add_(x32).div_(len(factors) + 1), x.dtype)


# --- modules -------------------------------------------------------------------------------------------
class GaussianBlur(Corruption, name="gaussian_blur", fn=gaussian_blur, random=False):
    """:func:`gaussian_blur` at one severity."""


class DefocusBlur(Corruption, name="defocus_blur", fn=defocus_blur, random=False):
    """:func:`defocus_blur` at one severity."""


class GlassBlur(Corruption, name="glass_blur", fn=glass_blur, random=True):
    """:func:`glass_blur` at one severity."""


class MotionBlur(Corruption, name="motion_blur", fn=motion_blur, random=True):
    """:func:`motion_blur` at one severity."""


class ZoomBlur(Corruption, name="zoom_blur", fn=zoom_blur, random=False):
    """:func:`zoom_blur` at one severity."""
