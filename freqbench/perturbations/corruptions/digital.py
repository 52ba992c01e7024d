"""Digital corruptions of CIFAR-10-C: brightness, contrast, saturate, pixelate, JPEG, elastic transform.

Reference: D. Hendrycks and T. Dietterich, ICLR 2019, and its generator
``ImageNet-C/create_c/make_cifar_c.py`` (hendrycks/robustness). The severity tables below are
REFERENCE.md section 1, rows 11-15 and 19, which copy the CIFAR values of that generator.

The reference works per image on uint8 H x W x C and ends with ``np.uint8`` (truncation). Here,
batched on (B, C, H, W) float in [0, 1], every corruption reads its input as 8-bit levels
(:func:`~freqbench.perturbations.corruptions.noise.read_uint8_levels`, exact for 8-bit images) and:

- brightness, contrast and saturate compute in float64 like the reference, with scikit-image's HSV
  formulas in the same order (see :func:`rgb_to_hsv` for why not kornia's), and quantise the output
  like the released files, ``floor(clip(y) * 255) / 255``;
- pixelate and JPEG are 8-bit operations in the reference (PIL): the input is rounded to 8 bits
  (exact for pixels ``k / 255``), processed with the same integer arithmetic (pixelate: PIL's BOX
  resampling, reproduced exactly; JPEG: libjpeg through torchvision's codec, which gives the same
  pixels as PIL's ``save(..., 'JPEG', quality=q)``) and returned as ``k / 255``;
- elastic transform follows OpenCV's ``warpAffine`` (bilinear, reflect-101 border) and SciPy's
  ``map_coordinates`` (order 1, mode ``reflect`` with the border rule of the SciPy < 1.6 that made
  the released data), both with exact float sampling positions, interpolates in float64 and stores
  float32 as they do, then truncates in float32 like the reference.

The output is cast back to the input dtype and stays on the input's device (JPEG runs on the CPU codec
on every device, so the result does not depend on the device). Per corruption, the meaning on
1-channel images and on sizes other than 32 x 32, and every deliberate difference from the reference,
is in its docstring.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.io import decode_jpeg, encode_jpeg

from freqbench.errors import IncompatibleError
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.base import check_images, require_generator
from freqbench.perturbations.corruptions.base import register_corruption
from freqbench.perturbations.corruptions.noise import (
    levels_as,
    read_uint8_levels,
    read_uint8_values,
    truncate_to_uint8_levels,
    truncate_to_uint8_levels_,
)

#: value added to the HSV value channel (REFERENCE.md section 1, row 11)
BRIGHTNESS_SHIFT: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.3)
#: contrast factor c in (x - channel mean) * c + mean (row 12)
CONTRAST_FACTOR: tuple[float, ...] = (0.75, 0.5, 0.4, 0.3, 0.15)
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
#: side factor c: BOX down to int(side * c), BOX back (row 14)
PIXELATE_FACTOR: tuple[float, ...] = (0.95, 0.9, 0.85, 0.75, 0.65)
#: JPEG quality (row 15)
JPEG_QUALITY: tuple[int, ...] = (80, 65, 58, 50, 40)
#: (scale, shift) of the HSV saturation channel: s * scale + shift (row 19)
SATURATE_PARAMS: tuple[tuple[float, float], ...] = (
    (0.3, 0.0),
    (0.1, 0.0),
    (1.5, 0.0),
    (2.0, 0.1),
    (2.5, 0.2),
)
#: ITU-R BT.601 luma weights in Pillow's 16-bit fixed point (``Convert.c``: L = (19595 R + 38470 G +
#: 7471 B + 0x8000) >> 16), used to bring saturate back to one channel
LUMA_WEIGHTS_16: tuple[int, int, int] = (19595, 38470, 7471)

_F64 = torch.float64


def _param(table: tuple, severity: int, name: str):  # type: ignore[no-untyped-def]
    if int(severity) not in range(1, len(table) + 1):
        raise ValueError(f"{name}: severity must be one of 1..{len(table)}, got {severity!r}")
    return table[int(severity) - 1]


def _check_channels(x: torch.Tensor, name: str, allowed: tuple[int, ...]) -> None:
    if x.shape[1] not in allowed:
        raise IncompatibleError(
            f"{name} works on images with {' or '.join(map(str, allowed))} channels, got {x.shape[1]}; "
            "convert the images to RGB or greyscale first"
        )


# brightness, contrast, saturate --------------------------------------------------------------------
#
# HSV in scikit-image's float operation order (hue in turns, [0, 1)), which is what the reference uses.
# kornia.color's pair has the same conventions (checked) but keeps hue in radians; the extra
# 2 pi round trip changes the last bits, and the reference's truncation turns that into one-level
# differences on 1-8% of the pixels (e.g. an unchanged channel 145 coming back as 144). With the
# order below the round trip is exact wherever scikit-image's is.


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """``skimage.color.rgb2hsv`` on channel-first batches: hue in [0, 1), grey pixels hue 0, s 0.

    Shape:
        rgb: (B, 3, H, W) -> (B, 3, H, W) as (h, s, v).
    """
    r, g, b = rgb.unbind(dim=1)
    v = rgb.amax(dim=1)
    delta = v - rgb.amin(dim=1)
    grey = delta == 0
    safe = torch.where(grey, torch.ones_like(delta), delta)
    s = torch.where(grey, torch.zeros_like(v), delta / torch.where(grey, torch.ones_like(v), v))
    # scikit-image assigns red, then green, then blue where each is the maximum: later ones win ties
    h = torch.where(b == v, 4.0 + (r - g) / safe, torch.where(g == v, 2.0 + (b - r) / safe, (g - b) / safe))
    h = torch.where(grey, torch.zeros_like(h), torch.remainder(h / 6.0, 1.0))
    return torch.stack([h, s, v], dim=1)


#: per hue sector, which of (v, t, p, q) is red, green and blue (scikit-image's ``np.choose`` table)
_HSV_SECTOR_PICK = torch.tensor([[0, 1, 2], [3, 0, 2], [2, 0, 1], [2, 3, 0], [1, 2, 0], [0, 2, 3]])


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """``skimage.color.hsv2rgb`` on channel-first batches (hue in turns).

    Shape:
        hsv: (B, 3, H, W) -> (B, 3, H, W).
    """
    h, s, v = hsv.unbind(dim=1)
    hi = torch.floor(h * 6.0)
    f = h * 6.0 - hi
    p = v * (1.0 - s)
    q = v * (1.0 - f * s)
    t = v * (1.0 - (1.0 - f) * s)
    sector = torch.remainder(hi, 6.0).long()
    candidates = torch.stack([v, t, p, q], dim=1)  # (B, 4, H, W)
    pick = _HSV_SECTOR_PICK.to(hsv.device)[sector].permute(0, 3, 1, 2)  # (B, 3, H, W)
    return torch.gather(candidates, 1, pick)


@register_corruption("brightness", random=False)
def brightness(x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None) -> torch.Tensor:
    """Raise the HSV value channel by ``c`` and clip, as ``skimage.color.rgb2hsv`` / ``hsv2rgb`` do.

    On 1-channel images a pixel is the grey RGB pixel (g, g, g), whose HSV is (0, 0, g), so the
    corruption is ``min(g + c, 1)``: exactly what the reference gives on a grey RGB image. Size does
    not matter (per pixel).

    Args:
        x: images in [0, 1], 1 or 3 channels.
        severity: 1..5, ``c`` from :data:`BRIGHTNESS_SHIFT`.
        generator: ignored (deterministic).

    Shape:
        x: (B, C, H, W) -> (B, C, H, W), C in {1, 3}.
    """
    check_images(x, "brightness")
    _check_channels(x, "brightness", (1, 3))
    c = _param(BRIGHTNESS_SHIFT, severity, "brightness")
    y = read_uint8_levels(x)
    if x.shape[1] == 1:
        return truncate_to_uint8_levels(y + c).to(x.dtype)
    hsv = rgb_to_hsv(y)
    hsv[:, 2].add_(c).clamp_(0.0, 1.0)
    return truncate_to_uint8_levels_(hsv_to_rgb(hsv), x.dtype)


@register_corruption("contrast", random=False)
def contrast(x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None) -> torch.Tensor:
    """Pull every channel towards its spatial mean: ``(x - mean) * c + mean``, clipped.

    Per channel and per image, so any channel count and size work with the same meaning.

    Args:
        x: images in [0, 1].
        severity: 1..5, ``c`` from :data:`CONTRAST_FACTOR`.
        generator: ignored (deterministic).

    Shape:
        x: (B, C, H, W) -> (B, C, H, W).
    """
    check_images(x, "contrast")
    c = _param(CONTRAST_FACTOR, severity, "contrast")
    y = read_uint8_levels(x)
    mean = y.mean(dim=(-2, -1), keepdim=True)
    return truncate_to_uint8_levels_(y.sub_(mean).mul_(c).add_(mean), x.dtype)


@register_corruption("saturate", random=False)
def saturate(x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None) -> torch.Tensor:
    """Scale and shift the HSV saturation channel: ``clip(s * a + b)``, as with scikit-image's HSV.

    On 1-channel images a pixel is the grey RGB pixel (g, g, g) with HSV (0, 0, g): the reference
    turns it into (g, g (1 - b), g (1 - b)) (hue 0 is red), which a grey image cannot hold. The
    1-channel result is that 8-bit RGB result converted to grey exactly as PIL's ``convert('L')`` does
    (BT.601 luma in 16-bit fixed point, :data:`LUMA_WEIGHTS_16`): the grey picture of what the
    reference makes of a grey image. It is the identity for severities 1-3 (b = 0) and darkens by
    about 7% and 14% at severities 4 and 5. Size does not matter (per pixel).

    Args:
        x: images in [0, 1], 1 or 3 channels.
        severity: 1..5, ``(a, b)`` from :data:`SATURATE_PARAMS`.
        generator: ignored (deterministic).

    Shape:
        x: (B, C, H, W) -> (B, C, H, W), C in {1, 3}.
    """
    check_images(x, "saturate")
    _check_channels(x, "saturate", (1, 3))
    scale, shift = _param(SATURATE_PARAMS, severity, "saturate")
    y = read_uint8_levels(x)
    rgb = y.expand(-1, 3, -1, -1) if x.shape[1] == 1 else y
    hsv = rgb_to_hsv(rgb)
    hsv[:, 1].mul_(scale).add_(shift).clamp_(0.0, 1.0)
    out = truncate_to_uint8_levels_(hsv_to_rgb(hsv), _F64)
    if x.shape[1] == 1:
        luma = torch.tensor(LUMA_WEIGHTS_16, dtype=_F64, device=x.device).view(1, 3, 1, 1)
        fixed = (torch.round(out * 255.0) * luma).sum(dim=1, keepdim=True) + float(1 << 15)
        out = torch.floor(fixed / float(1 << 16)) / 255.0
    return out.to(x.dtype)


# pixelate ------------------------------------------------------------------------------------------

_PIL_PRECISION_BITS = 22  # Pillow's Resample.c: 32 - 8 - 2 bits for 8-bit images


@functools.lru_cache(maxsize=64)
def pil_box_weights(in_size: int, out_size: int) -> np.ndarray:
    """Pillow's fixed-point BOX resampling weights from ``in_size`` to ``out_size`` samples.

    Pillow (``libImaging/Resample.c``, ``precompute_coeffs`` and ``normalize_coeffs_8bpc``) gives
    output sample ``i`` the input samples whose centres fall in its box: centre
    ``c = (i + 0.5) * scale``, support ``s = 0.5 * max(scale, 1)``, candidates ``floor(c - s + 0.5)``
    to ``floor(c + s + 0.5) - 1``, weight 1 where ``-0.5 < (j - c + 0.5) / max(scale, 1) <= 0.5``;
    weights are normalised and stored as ``int(0.5 + w * 2**22)``. It is not fractional area
    coverage: at these ratios each input sample counts fully or not at all.

    Returns:
        (out_size, in_size) float64 array of integer weights.
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    weights = np.zeros((out_size, in_size), dtype=np.float64)
    for i in range(out_size):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        taps = np.arange(lo, hi)
        arg = (taps - center + 0.5) / filterscale
        w = ((arg > -0.5) & (arg <= 0.5)).astype(np.float64)
        if w.sum() != 0.0:
            w = w / w.sum()
        weights[i, lo:hi] = np.floor(0.5 + w * (1 << _PIL_PRECISION_BITS))
    return weights


def _pil_resample_pass(q: torch.Tensor, weights: np.ndarray, dim: int) -> torch.Tensor:
    """One Pillow 8-bit resampling pass along ``dim`` (-1: horizontal, -2: vertical).

    ``q`` holds integers 0..255 in float64; sums of 8-bit values times 22-bit weights stay below
    2**53, so the float64 matrix product is exact, and ``(sum + 2**21) >> 22`` is the rounding.
    """
    w = torch.from_numpy(weights).to(q.device)
    s = torch.matmul(q, w.T) if dim == -1 else torch.matmul(w, q)
    half = float(1 << (_PIL_PRECISION_BITS - 1))
    # multiplying by 2**-22 is the exact division by 2**22
    return s.add_(half).mul_(1.0 / (1 << _PIL_PRECISION_BITS)).floor_().clamp_(0.0, 255.0)


def pil_box_resize(q: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``PIL.Image.resize(size[::-1], Image.BOX)`` on 8-bit images, exactly (horizontal pass first).

    Args:
        q: integer pixel values 0..255 in a float64 tensor.
        size: output (height, width).

    Shape:
        q: (B, C, H, W) -> (B, C, size[0], size[1]).
    """
    h, w = q.shape[-2:]
    if size[1] != w:
        q = _pil_resample_pass(q, pil_box_weights(w, size[1]), -1)
    if size[0] != h:
        q = _pil_resample_pass(q, pil_box_weights(h, size[0]), -2)
    return q


def _to_uint8_values(x: torch.Tensor) -> torch.Tensor:
    """Round images in [0, 1] to the integers 0..255 (float64); exact for pixels ``k / 255``."""
    return read_uint8_values(x)


@register_corruption("pixelate", random=False)
def pixelate(x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None) -> torch.Tensor:
    """PIL BOX resize down to ``int(side * c)`` and back, on 8-bit values, exactly as Pillow does it.

    For an H x W image the intermediate size is ``max(1, int(H * c))`` x ``max(1, int(W * c))`` (the
    reference has ``int(32 * c)``; the floor of 1 only matters below 2 pixels). Per channel, so
    1-channel images behave like PIL's ``'L'`` mode. The input is rounded to 8 bits first (PIL works on
    uint8), and the output is ``k / 255`` with Pillow's own rounding, so no further truncation applies.

    Args:
        x: images in [0, 1].
        severity: 1..5, ``c`` from :data:`PIXELATE_FACTOR`.
        generator: ignored (deterministic).

    Shape:
        x: (B, C, H, W) -> (B, C, H, W).
    """
    check_images(x, "pixelate")
    c = _param(PIXELATE_FACTOR, severity, "pixelate")
    h, w = x.shape[-2:]
    small = (max(1, int(h * c)), max(1, int(w * c)))
    q = pil_box_resize(pil_box_resize(_to_uint8_values(x), small), (h, w))
    return levels_as(q, x.dtype)


# JPEG ----------------------------------------------------------------------------------------------


@register_corruption("jpeg_compression", random=False)
def jpeg_compression(
    x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None
) -> torch.Tensor:
    """JPEG encode and decode at quality ``q`` with libjpeg (torchvision's codec, as PIL uses it).

    The reference saves a PIL image with ``quality=q`` and PIL's defaults, i.e. baseline JPEG with
    4:2:0 chroma subsampling for RGB, and decodes with PIL; torchvision's ``encode_jpeg`` /
    ``decode_jpeg`` use the same libjpeg defaults and give the same pixels (checked in the tests).
    1-channel images are coded as greyscale JPEG (PIL's ``'L'`` mode). Size is free (JPEG pads partial
    8 x 8 / 16 x 16 blocks itself). The input is rounded to 8 bits first. Deliberate difference: on a
    GPU the images still go through the CPU codec (nvJPEG rounds differently), so results do not
    depend on the device; the codec is per image inside torchvision, the only per-image loop here.

    Args:
        x: images in [0, 1], 1 or 3 channels.
        severity: 1..5, quality from :data:`JPEG_QUALITY`.
        generator: ignored (deterministic).

    Shape:
        x: (B, C, H, W) -> (B, C, H, W), C in {1, 3}.
    """
    check_images(x, "jpeg_compression")
    _check_channels(x, "jpeg_compression", (1, 3))
    quality = _param(JPEG_QUALITY, severity, "jpeg_compression")
    q = _to_uint8_values(x).to(device="cpu", dtype=torch.uint8)
    if q.shape[0] == 0:
        return x.clone()
    decoded = decode_jpeg(encode_jpeg(list(q.unbind(0)), quality=quality))
    out = torch.stack(decoded).to(device=x.device, dtype=_F64) / 255.0
    return out.to(x.dtype)


# elastic transform ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _gaussian_reflect_matrix(n: int, sigma: float, truncate: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter1d(v, sigma, mode='reflect', truncate=truncate)`` as ``G @ v``.

    SciPy's kernel: ``exp(-t^2 / (2 sigma^2))`` on ``t = -r..r``, ``r = int(truncate * sigma + 0.5)``,
    normalised to sum 1; ``reflect`` is the half-sample symmetric extension ``d c b a | a b c d |
    d c b a``, repeated as needed when ``r`` exceeds the signal.
    """
    radius = int(truncate * sigma + 0.5)
    t = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 / (sigma * sigma) * t.astype(np.float64) ** 2)
    kernel /= kernel.sum()
    m = np.zeros((n, n), dtype=np.float64)
    rows = np.arange(n)[:, None]
    src = (rows + t[None, :]) % (2 * n)
    src = np.where(src >= n, 2 * n - 1 - src, src)
    np.add.at(m, (np.broadcast_to(rows, src.shape), src), np.broadcast_to(kernel, src.shape))
    return m


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


def legacy_scipy_reflect(c: torch.Tensor, n: int) -> torch.Tensor:
    """Where SciPy before 1.6 read ``map_coordinates(order=1, mode='reflect')`` at coordinate ``c`` of an
    axis of ``n`` samples, as a position in ``[0, n - 1]`` for plain linear interpolation.

    The generator ran on such a SciPy (CIFAR-10-C was released in January 2019; SciPy 1.6, December
    2020, rewrote the boundary handling, scipy/scipy#12767, reported in #8465). Its ``map_coordinate``
    folded a coordinate below 0 to ``-c - 1`` and left one in ``(n - 1, n)`` as it was, then
    interpolated with mirror (reflect-101) support points. So ``c`` in ``[-n, -1]`` or ``[n, 2n - 1]``
    is the half-sample reflection, but ``c`` in ``(-1, 0)`` reads the image at ``c + 1`` and ``c`` in
    ``(n - 1, n)`` at ``2 (n - 1) - c``, where current SciPy reads the edge sample ``0`` or ``n - 1``.
    The elastic displacements are at most ``alpha = 0.1 min(H, W) < n`` pixels, so ``c`` stays in
    ``(-n, 2n - 1)``, where these cases are complete.

    Shape:
        c: any -> same, float64.
    """
    low = torch.where(c > -1.0, c + 1.0, -c - 1.0)
    high = torch.where(c < n, 2.0 * (n - 1) - c, 2.0 * n - 1.0 - c)
    return torch.where(c < 0, low, torch.where(c > n - 1, high, c)).clamp_(0.0, n - 1.0)


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
        v * min(h, w) / ELASTIC_REFERENCE_SIZE for v in _param(ELASTIC_PARAMS, severity, "elastic")
    )
    dev = x.device
    image = read_uint8_levels(x).to(torch.float32)

    # 1. affine warp: solve for the map from the moved points back to the original ones, i.e. the
    # inverse of cv2.getAffineTransform(pts1, pts2), which warpAffine applies to output pixels
    a = min(h, w) // 3
    cx, cy = float(w // 2), float(h // 2)
    pts1 = torch.tensor([[cx + a, cy + a], [cx + a, cy - a], [cx - a, cy - a]], dtype=_F64, device=dev)
    # the reference adds the float32 jitter to the float32 points in float32
    pts2 = (pts1.to(torch.float32) + (shift * jitter.to(device=dev, dtype=_F64)).to(torch.float32)).to(_F64)
    lhs = torch.cat([pts2, torch.ones(b, 3, 1, dtype=_F64, device=dev)], dim=2)
    inverse = torch.linalg.solve(lhs, pts1.expand(b, 3, 2)).transpose(1, 2)  # (B, 2, 3)
    grid = _affine_source_grid(inverse, h, w)
    # interpolated in double and stored float32: a flat region keeps its float32 value exactly, as in
    # warpAffine (float32 interpolation weights would move it by an ulp, and the truncation below by
    # a level)
    image = F.grid_sample(
        image.to(_F64), grid, mode="bilinear", padding_mode="reflection", align_corners=True
    ).to(torch.float32)

    # 2. smooth displacement field, bilinear resampling with the legacy SciPy reflect border
    if alpha != 0.0:
        gh = torch.from_numpy(_gaussian_reflect_matrix(h, sigma, 3.0)).to(dev)
        gw = torch.from_numpy(_gaussian_reflect_matrix(w, sigma, 3.0)).to(dev)
        field = (alpha * (gh @ noise.to(device=dev, dtype=_F64) @ gw.T)).to(torch.float32).to(_F64)
        rows = torch.arange(h, dtype=_F64, device=dev).view(1, h, 1)
        cols = torch.arange(w, dtype=_F64, device=dev).view(1, 1, w)
        gx = 2.0 * legacy_scipy_reflect(cols + field[:, 0], w) / (w - 1) - 1.0
        gy = 2.0 * legacy_scipy_reflect(rows + field[:, 1], h) / (h - 1) - 1.0
        grid = torch.stack([gx, gy], dim=-1)
        # map_coordinates interpolates a float32 image in double and stores float32
        image = F.grid_sample(
            image.to(_F64), grid, mode="bilinear", padding_mode="border", align_corners=True
        ).to(torch.float32)
    # the reference's clip(image) * 255 runs in float32: float32(k / 255) * 255 rounds to k there,
    # while its exact float64 product can lie just below k and truncate to k - 1
    return levels_as(image.clamp_(0.0, 1.0).mul_(255.0).floor_().to(_F64), x.dtype)


# version 2: pre-1.6 SciPy reflect border, float32 truncation and float64-interpolated warps (version 1
# read the edge sample at the border and truncated in float64, one level low on flat regions)
@register_corruption("elastic_transform", random=True, version=2)
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
    _param(ELASTIC_PARAMS, severity, "elastic_transform")
    gen = require_generator(generator, x, "elastic_transform")
    h, w = x.shape[-2:]
    jitter = gen.uniform((3, 2), low=-1.0, high=1.0, dtype=_F64)
    noise = gen.uniform((2, h, w), low=-1.0, high=1.0, dtype=_F64)
    return elastic_transform_with_draws(x, severity, jitter=jitter, noise=noise)
