"""Blur corruptions of CIFAR-10-C: defocus, glass, motion and zoom blur, and the extra Gaussian blur.

Reference: Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019; the generator ``ImageNet-C/create_c/make_cifar_c.py`` of
hendrycks/robustness. Every severity table below is that file's CIFAR table, as restated in
REFERENCE.md section 1 (rows 4-7 and 17).

The generator works per image on uint8 HWC arrays, computes in float and casts with ``np.uint8``
(truncation). Here every corruption is a batched torch operation on (B, C, H, W) floats in [0, 1] that
ends with the same truncation to 8-bit levels (:func:`truncate_to_levels`), so on uint8-valued inputs
the outputs are the released data's levels. Motion blur is the exception: ImageMagick rounds to the
nearest level (:func:`round_to_levels`).

Arithmetic: truncation makes the last bit matter wherever the reference lands within rounding of a
level (flat regions land there all the time, e.g. a white area blurred in float64 gives
254.99999999999997 and truncates to 254). So each corruption computes in the reference's precision,
whatever the input dtype, and returns the input dtype: float64 for Gaussian, defocus, glass and motion
blur, float32 (with float64 interpolation, as scipy does) for zoom blur. The input is read as 8-bit
levels (:func:`read_levels`, as in the noise family). The Gaussian filter follows scipy's tap weights
and summation order, the defocus kernel OpenCV's float32 kernel. With the same draws the outputs equal
the reference's bit for bit on the tests' images, for float32 and float64 inputs alike (tests state the
tolerances). Computing in float64 costs little for small images, but needs a device with float64
(not Apple's MPS). The shifted-copy filters accumulate in place into preallocated buffers (a fresh
batch-sized tensor per operation costs more than the arithmetic on 32 x 32 images), with the same
operations in the same order, so the values do not change.

Building blocks shared with the weather family (``weather.py``): :func:`scipy_gaussian_blur`,
:func:`clipped_zoom`, :func:`imagemagick_motion_blur`.

Per corruption, 1-channel images and sizes other than 32x32:

* ``gaussian_blur``, ``defocus_blur``: per-channel spatial filters; any C, any size (defocus needs
  H, W > 2 for its reflect-101 border).
* ``glass_blur``: the pixel sweep moves whole pixels (all channels together), as the reference's row
  views do; the sweep covers rows ``H-1 .. 2`` and columns ``W-1 .. 2`` (the reference's bounds with
  32 replaced by H or W).
* ``motion_blur``: per channel; any size. A 1-channel image is what ImageMagick does to a greyscale PNG.
* ``zoom_blur``: the centre crop is taken per axis (``ceil(H/z)`` rows, ``ceil(W/z)`` columns); for
  square images this is the reference's square crop.

Deliberate differences from the reference :

* ``defocus_blur`` applies the kernel cropped to its non-zero support (at most 5x5 for these radii);
  OpenCV filters with the full 17x17 array, whose zeros add nothing.
* ``motion_blur`` rounds once to the nearest 8-bit level; ImageMagick (Q16) rounds to 16 bits first and
  then to 8 bits, which differs only within 1/65535 of a half level.
* ``motion_blur`` scales to 8 bits by rounding, as ImageMagick 6 did when the data set was made (2018):
  its sources up to at least 2019 round in both ``ScaleQuantumToChar`` and ``ScaleQuantumToAny``, which
  the PNG writer uses to go from 16-bit quanta to an 8-bit file. Later releases of 6.9.11 (Debian 12's
  6.9.11-60, built 2021) truncate in ``ScaleQuantumToAny`` and so write one level lower on about half
  the values; this module does not follow that later change.
* ``glass_blur`` draws its offsets from the sample's own stream instead of numpy's global generator;
  the offsets are drawn in the reference's order (rows from the bottom, columns from the right, ``dx``
  before ``dy``), so an injected draw reproduces the reference exactly.

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
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.base import check_images, require_generator
from freqbench.perturbations.corruptions.base import register_corruption
from freqbench.perturbations.corruptions.noise import levels_as, read_uint8_levels

T = TypeVar("T")

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


def read_levels(x: torch.Tensor) -> torch.Tensor:
    """The input as the reference reads it: 8-bit levels ``round(x * 255) / 255`` in float64.

    The reference starts from uint8 images; float32 cannot hold ``k / 255`` exactly, and the final
    truncation turns such last-bit differences into one-level differences. For inputs that are not
    8-bit this moves each value by at most half a level (the noise family reads inputs the same way).

    Shape:
        any; returns the same shape, float64.
    """
    return read_uint8_levels(x)


def truncate_to_levels(v: torch.Tensor) -> torch.Tensor:
    """The reference's ``np.uint8(np.clip(v, 0, 1) * 255)``, returned as levels / 255.

    Shape:
        any; returns the same shape and dtype.
    """
    return torch.floor(v.clamp(0.0, 1.0) * 255.0) / 255.0


def truncate_to_levels_(v: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """:func:`truncate_to_levels` computed in place in ``v`` and returned in ``dtype``: the same values
    as ``truncate_to_levels(v).to(dtype)`` (see :func:`~.noise.levels_as`).

    Shape:
        any; returns the same shape in ``dtype``.
    """
    return levels_as(v.clamp_(0.0, 1.0).mul_(255.0).floor_(), dtype)


def round_to_levels_(v: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """:func:`round_to_levels` computed in place in ``v`` and returned in ``dtype``.

    Shape:
        any; returns the same shape in ``dtype``.
    """
    return levels_as(v.clamp_(0.0, 1.0).mul_(255.0).add_(0.5).floor_(), dtype)


def round_to_levels(v: torch.Tensor) -> torch.Tensor:
    """Round to the nearest 8-bit level (ImageMagick 6's write of an 8-bit PNG, 2018), as levels / 255.

    Shape:
        any; returns the same shape and dtype.
    """
    return torch.floor(v.clamp(0.0, 1.0) * 255.0 + 0.5) / 255.0


def severity_row(table: Sequence[T], severity: int, name: str) -> T:
    """The parameters of ``severity`` (1..5) in a severity table."""
    if int(severity) not in range(1, len(table) + 1):
        raise ValueError(f"{name}: severity must be one of 1..{len(table)}, got {severity!r}")
    return table[int(severity) - 1]


# --- building blocks -----------------------------------------------------------------------------------
def gaussian_weights(sigma: float) -> np.ndarray:
    """scipy's Gaussian taps: radius ``int(4 sigma + 0.5)``, ``exp(-0.5 / sigma^2 * x^2)``, normalised.

    Computed with numpy in scipy's order of operations, so the weights are bit-identical to
    ``scipy.ndimage.gaussian_filter``'s.
    """
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x**2)
    return phi / phi.sum()


def _symmetric_pass(x: torch.Tensor, weights: np.ndarray, dim: int, *, mode: str) -> torch.Tensor:
    """1-D correlation with a symmetric odd kernel along ``dim`` (-1 or -2), summed in scipy's order:
    ``centre * w0``, then the pairs ``(x[-j] + x[+j]) * w_j`` from the outermost inwards."""
    r = len(weights) // 2
    if r == 0:
        return x * float(weights[0])
    pad = (r, r, 0, 0) if dim == -1 else (0, 0, r, r)
    xp = F.pad(x, pad, mode=mode)
    n = x.shape[dim]

    def tap(j: int) -> torch.Tensor:
        return xp.narrow(dim, r + j, n)

    out = tap(0) * float(weights[r])
    pair = torch.empty_like(out)
    for j in range(r, 0, -1):
        # in place into two buffers: fresh tensors of a whole batch cost page faults on every op
        out.add_(torch.add(tap(-j), tap(j), out=pair).mul_(float(weights[r - j])))
    return out


def scipy_gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Per-channel Gaussian blur as ``scipy.ndimage.gaussian_filter(mode='nearest', truncate=4)``.

    This is what ``skimage.filters.gaussian(..., multichannel=True)`` does in the reference: radius
    ``int(4 sigma + 0.5)`` (a sigma below 0.125 leaves the image unchanged), edge replication, rows
    first, then columns. The taps and the order of the sums follow scipy's ``correlate1d``, so in
    float64 the result is scipy's bit for bit. (kornia's ``gaussian_blur2d`` has the same weights but
    another summation order, which flips the reference's truncation on flat regions.)

    Shape:
        x: (B, C, H, W); returns the same.
    """
    w = gaussian_weights(sigma)
    if len(w) == 1:
        return x
    return _symmetric_pass(_symmetric_pass(x, w, -2, mode="replicate"), w, -1, mode="replicate")


def clipped_zoom(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Centre crop of ``ceil(size / factor)``, linear zoom by ``factor``, centre trim back to size.

    The zoom is ``scipy.ndimage.zoom(order=1)`` with its default ``grid_mode=False``: output pixel ``o``
    samples input coordinate ``o * (n_in - 1) / (n_out - 1)`` (corners aligned), which is exactly
    ``interpolate(mode='bilinear', align_corners=True)``; the output size is ``round(n_in * factor)``.

    Shape:
        x: (B, C, H, W); returns the same.
    """
    _, _, h, w = x.shape
    ch, cw = math.ceil(h / factor), math.ceil(w / factor)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = x[..., top : top + ch, left : left + cw]
    oh, ow = round(ch * factor), round(cw * factor)
    zoomed = F.interpolate(crop, size=(oh, ow), mode="bilinear", align_corners=True)
    t, l = (oh - h) // 2, (ow - w) // 2
    return zoomed[..., t : t + h, l : l + w]


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


def _cv2_gaussian_taps(ksize: int, sigma: float) -> np.ndarray:
    """``cv2.getGaussianKernel(ksize, sigma)`` for sigma > 0, as the float32 taps OpenCV uses on float32."""
    x = np.arange(ksize) - (ksize - 1) * 0.5
    t = np.exp(-0.5 / (sigma * sigma) * x * x)
    return (t * (1.0 / t.sum())).astype(np.float32)


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
    taps = _cv2_gaussian_taps(ksize, alias_blur)
    kernel = _symmetric_pass(_symmetric_pass(disk, taps, -1, mode="reflect"), taps, -2, mode="reflect")[0, 0]
    nz = torch.nonzero(kernel)
    r0, c0 = nz.min(0).values.tolist()
    r1, c1 = nz.max(0).values.tolist()
    return kernel[r0 : r1 + 1, c0 : c1 + 1].to(torch.float64)


def correlate_small(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """2-D correlation with a small odd kernel, reflect-101 border, as a sum of shifted copies.

    For the few-tap kernels here this is several times faster on the CPU than ``conv2d`` (and kornia's
    ``filter2d``, which calls it), and it skips the zero taps.

    Shape:
        x: (B, C, H, W); kernel: (kh, kw), odd sizes; returns (B, C, H, W) in x's dtype.
    """
    kh, kw = kernel.shape
    rh, rw = kh // 2, kw // 2
    h, w = x.shape[-2:]
    xp = F.pad(x, (rw, rw, rh, rh), mode="reflect")
    out = torch.zeros_like(x)
    term = torch.empty_like(x)
    for i in range(kh):
        for j in range(kw):
            k = float(kernel[i, j])
            if k != 0.0:
                out.add_(torch.mul(xp[..., i : i + h, j : j + w], k, out=term))
    return out


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
@register_corruption("gaussian_blur", random=False)
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


@register_corruption("defocus_blur", random=False)
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


@register_corruption("glass_blur", random=True)
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


@register_corruption("motion_blur", random=True)
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


@register_corruption("zoom_blur", random=False)
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
