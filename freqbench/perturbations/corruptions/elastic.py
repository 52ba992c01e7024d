"""The elastic transform of CIFAR-10-C (a digital corruption): a random affine warp plus a smooth
random displacement field.

Reference: D. Hendrycks and T. Dietterich, ICLR 2019, and its generator
``ImageNet-C/create_c/make_cifar_c.py`` (hendrycks/robustness). The severity table below is
REFERENCE.md section 1, row 13, which copies the CIFAR values of that generator.

The reference warps with OpenCV's ``warpAffine`` (bilinear, reflect-101 border) and resamples with
SciPy's ``map_coordinates`` (order 1, mode ``reflect`` with the border rule of the SciPy < 1.6 that
made the released data, :func:`~freqbench.perturbations.corruptions.scipy_ops.legacy_scipy_reflect`);
here both are ``grid_sample`` with exact float sampling positions, interpolating in float64 and storing
float32 as those libraries do, then truncating in float32 like the reference. The displacement field
is smoothed with SciPy's reflect-border Gaussian filter as a matrix
(:func:`~freqbench.ops.kernels.gaussian_reflect_matrix`, truncate 3). The input is read as 8-bit
levels (``read_levels`` of :mod:`~freqbench.perturbations.corruptions.base`); the output is cast back
to the input dtype on the input's device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from freqbench.errors import IncompatibleError
from freqbench.ops.kernels import gaussian_reflect_matrix
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.base import check_images, require_generator
from freqbench.perturbations.corruptions.base import (
    Corruption,
    levels_as,
    read_levels,
    severity_row,
)
from freqbench.perturbations.corruptions.scipy_ops import legacy_scipy_reflect

_F64 = torch.float64

#: (alpha, sigma, affine max shift) in pixels of a 32 x 32 image, i.e. 32 x (0, 0, 0.08),
#: 32 x (0.05, 0.2, 0.07), ... in make_cifar_c.py (row 13)
ELASTIC_PARAMS: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 2.56),
    (1.6, 6.4, 2.24),
    (2.56, 1.92, 1.92),
    (3.2, 1.28, 1.6),
    (3.2, 0.96, 0.96),
)
#: the image side the elastic table is written for
ELASTIC_REFERENCE_SIZE = 32


def _affine_source_grid(matrix: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Sampling positions ``matrix @ (col, row, 1)`` of every output pixel as an ``align_corners=True``
    grid for :func:`torch.nn.functional.grid_sample`.

    Shape:
        matrix: (B, 2, 3) -> (B, H, W, 2).
    """
    rows = torch.arange(h, dtype=_F64, device=matrix.device)
    cols = torch.arange(w, dtype=_F64, device=matrix.device)
    yy, xx = torch.meshgrid(rows, cols, indexing="ij")
    pts = torch.stack([xx, yy, torch.ones_like(xx)], dim=-1).reshape(1, h * w, 3)
    src = (pts @ matrix.transpose(1, 2)).reshape(-1, h, w, 2)
    scale = torch.tensor([2.0 / (w - 1), 2.0 / (h - 1)], dtype=_F64, device=matrix.device)
    return src * scale - 1.0


def _affine_warp(image: torch.Tensor, jitter: torch.Tensor, shift: float) -> torch.Tensor:
    """Step 1 of :func:`elastic_transform_with_draws`: ``cv2.warpAffine`` by the map that moves the three
    points by ``shift * jitter``, bilinear, reflect-101 border.

    Shape:
        image: (B, C, H, W) float32; jitter: (B, 3, 2); returns (B, C, H, W) float32.
    """
    b, _, h, w = image.shape
    dev = image.device
    # solve for the map from the moved points back to the original ones, i.e. the inverse of
    # cv2.getAffineTransform(pts1, pts2), which warpAffine applies to output pixels
    a = min(h, w) // 3
    cx, cy = float(w // 2), float(h // 2)
    pts1 = torch.tensor([[cx + a, cy + a], [cx + a, cy - a], [cx - a, cy - a]], dtype=_F64, device=dev)
    # the reference adds the float32 jitter to the float32 points in float32
    pts2 = (pts1.to(torch.float32) + (shift * jitter.to(device=dev, dtype=_F64)).to(torch.float32)).to(_F64)
    lhs = torch.cat([pts2, torch.ones(b, 3, 1, dtype=_F64, device=dev)], dim=2)
    inverse = torch.linalg.solve(lhs, pts1.expand(b, 3, 2)).transpose(1, 2)  # (B, 2, 3)
    grid = _affine_source_grid(inverse, h, w)
    # interpolated in double and stored float32: a flat region keeps its float32 value exactly, as in
    # warpAffine (float32 interpolation weights would move it by an ulp, and the truncation by a level)
    out = F.grid_sample(image.to(_F64), grid, mode="bilinear", padding_mode="reflection", align_corners=True)
    return out.to(torch.float32)


def _displace(image: torch.Tensor, noise: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
    """Step 2 of :func:`elastic_transform_with_draws`: resample at ``(i + d_row, j + d_col)`` with
    ``d = alpha * gaussian_filter(noise, sigma, mode='reflect', truncate=3)``, bilinear, with the
    legacy SciPy reflect border.

    Shape:
        image: (B, C, H, W) float32; noise: (B, 2, H, W); returns (B, C, H, W) float32.
    """
    h, w = image.shape[-2:]
    dev = image.device
    gh = gaussian_reflect_matrix(h, sigma, truncate=3.0, device=dev)
    gw = gaussian_reflect_matrix(w, sigma, truncate=3.0, device=dev)
    field = (alpha * (gh @ noise.to(device=dev, dtype=_F64) @ gw.T)).to(torch.float32).to(_F64)
    rows = torch.arange(h, dtype=_F64, device=dev).view(1, h, 1)
    cols = torch.arange(w, dtype=_F64, device=dev).view(1, 1, w)
    gx = 2.0 * legacy_scipy_reflect(cols + field[:, 0], w) / (w - 1) - 1.0
    gy = 2.0 * legacy_scipy_reflect(rows + field[:, 1], h) / (h - 1) - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    # map_coordinates interpolates a float32 image in double and stores float32
    out = F.grid_sample(image.to(_F64), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.to(torch.float32)


def elastic_transform_with_draws(
    x: torch.Tensor, severity: int, *, jitter: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """Elastic transform with its random numbers given, so the geometry can be checked exactly.

    Procedure (make_cifar_c.py): with ``alpha, sigma, shift`` from :data:`ELASTIC_PARAMS`,

    1. a random affine map: the points ``(cx + a, cy + a)``, ``(cx + a, cy - a)``, ``(cx - a, cy - a)``
       (``a = min(H, W) // 3``, ``(cx, cy) = (W // 2, H // 2)``) move by ``shift * jitter`` (rounded to
       float32 like the reference's ``astype``); the image is warped by the affine map taking the old
       points to the new ones, bilinear, reflect-101 border (``cv2.warpAffine``);
    2. a displacement field ``d = alpha * gaussian_filter(noise, sigma, mode='reflect', truncate=3)``,
       ``noise[:, 0]`` for columns, ``noise[:, 1]`` for rows; output pixel (i, j) samples the warped
       image at ``(i + d_row, j + d_col)``, bilinear, with the ``reflect`` border of the SciPy the
       generator ran on (``scipy.ndimage.map_coordinates(order=1, mode='reflect')`` before SciPy 1.6,
       :func:`legacy_scipy_reflect`: it differs from today's on border pixels displaced outwards);
    3. clip and truncate to 8-bit levels in float32, as the reference's float32 ``clip(x) * 255``.

    Sizes other than 32 x 32 scale ``alpha``, ``sigma`` and ``shift`` by ``min(H, W) / 32`` (the
    reference writes them as fractions of the image side, 32 x 0.05 and so on); the centre is
    ``(W // 2, H // 2)`` (the reference takes ``(H // 2, W // 2)`` as (x, y), the same for square
    images). Channels share one geometry, so 1-channel images work unchanged. Deliberate difference:
    OpenCV before 4.11 rounded ``warpAffine``'s sampling positions to 1/32 pixel; current OpenCV and
    this function use exact positions (a change of at most 1/64 pixel).

    Args:
        x: images in [0, 1].
        severity: 1..5.
        jitter: U(-1, 1) draws for the three points, (B, 3, 2) as (x, y) per point.
        noise: U(-1, 1) draws of the two displacement fields, (B, 2, H, W).

    Shape:
        x: (B, C, H, W) -> (B, C, H, W).
    """
    check_images(x, "elastic_transform")
    b, _, h, w = x.shape
    if min(h, w) < 3:
        raise IncompatibleError(
            f"elastic_transform needs images of at least 3 x 3 pixels (its three affine points are "
            f"min(H, W) // 3 apart), got {h} x {w}"
        )
    if jitter.shape != (b, 3, 2) or noise.shape != (b, 2, h, w):
        raise ValueError(
            f"elastic_transform: expected jitter {(b, 3, 2)} and noise {(b, 2, h, w)}, "
            f"got {tuple(jitter.shape)} and {tuple(noise.shape)}"
        )
    alpha, sigma, shift = (
        v * min(h, w) / ELASTIC_REFERENCE_SIZE
        for v in severity_row(ELASTIC_PARAMS, severity, "elastic_transform")
    )
    image = _affine_warp(read_levels(x).to(torch.float32), jitter, shift)
    if alpha != 0.0:
        image = _displace(image, noise, alpha, sigma)
    # the reference's clip(image) * 255 runs in float32: float32(k / 255) * 255 rounds to k there,
    # while its exact float64 product can lie just below k and truncate to k - 1
    return levels_as(image.clamp_(0.0, 1.0).mul_(255.0).floor_().to(_F64), x.dtype)


def elastic_transform(
    x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None
) -> torch.Tensor:
    """Random affine warp plus a smooth random displacement field (make_cifar_c.py's elastic transform).

    Draws, per sample and in the reference's order: the affine jitter U(-1, 1) (3 x 2), then the two
    displacement fields U(-1, 1) (2 x H x W); see :func:`elastic_transform_with_draws` for the
    procedure, the meaning on other sizes and the deliberate differences.

    Args:
        x: images in [0, 1].
        severity: 1..5, ``(alpha, sigma, shift)`` from :data:`ELASTIC_PARAMS`.
        generator: one stream per sample (required).

    Shape:
        x: (B, C, H, W) -> (B, C, H, W).
    """
    check_images(x, "elastic_transform")
    severity_row(ELASTIC_PARAMS, severity, "elastic_transform")
    gen = require_generator(generator, x, "elastic_transform")
    h, w = x.shape[-2:]
    jitter = gen.uniform((3, 2), low=-1.0, high=1.0, dtype=_F64)
    noise = gen.uniform((2, h, w), low=-1.0, high=1.0, dtype=_F64)
    return elastic_transform_with_draws(x, severity, jitter=jitter, noise=noise)


# version 2: pre-1.6 SciPy reflect border, float32 truncation and float64-interpolated warps (version 1
# read the edge sample at the border and truncated in float64, one level low on flat regions)
class ElasticTransform(Corruption, name="elastic_transform", fn=elastic_transform, random=True, version=2):
    """:func:`elastic_transform` at one severity."""
