"""Digital corruptions of CIFAR-10-C: brightness, contrast, saturate, pixelate, JPEG (the elastic
transform is in ``elastic.py``).

Reference: D. Hendrycks and T. Dietterich, ICLR 2019, and its generator
``ImageNet-C/create_c/make_cifar_c.py`` (hendrycks/robustness). The severity tables below are
REFERENCE.md section 1, rows 11, 12, 14, 15 and 19, which copy the CIFAR values of that generator.

The reference works per image on uint8 H x W x C and ends with ``np.uint8`` (truncation). Here,
batched on (B, C, H, W) float in [0, 1], every corruption reads its input as 8-bit levels
(``read_levels`` of :mod:`~freqbench.perturbations.corruptions.base`, exact for 8-bit images) and:

- brightness, contrast and saturate compute in float64 like the reference, with scikit-image's HSV
  formulas in the same order (see :func:`rgb_to_hsv` for why not kornia's), and quantise the output
  like the released files, ``floor(clip(y) * 255) / 255``;
- pixelate and JPEG are 8-bit operations in the reference (PIL): the input is rounded to 8 bits
  (exact for pixels ``k / 255``), processed with the same integer arithmetic (pixelate: PIL's BOX
  resampling, reproduced exactly in ``pil_ops.py``; JPEG: libjpeg through torchvision's codec, which
  gives the same pixels as PIL's ``save(..., 'JPEG', quality=q)``) and returned as ``k / 255``.

The output is cast back to the input dtype and stays on the input's device (JPEG runs on the CPU codec
on every device, so the result does not depend on the device). Per corruption, the meaning on
1-channel images and on sizes other than 32 x 32, and every deliberate difference from the reference,
is in its docstring.
"""

from __future__ import annotations

import torch
from torchvision.io import decode_jpeg, encode_jpeg

from freqbench.errors import IncompatibleError
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.base import check_images
from freqbench.perturbations.corruptions.base import (
    Corruption,
    levels_as,
    read_levels,
    read_uint8_values,
    severity_row,
    truncate_to_levels,
    truncate_to_levels_,
)
from freqbench.perturbations.corruptions.pil_ops import pil_box_resize, pil_convert_l

#: value added to the HSV value channel (REFERENCE.md section 1, row 11)
BRIGHTNESS_SHIFT: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.3)
#: contrast factor c in (x - channel mean) * c + mean (row 12)
CONTRAST_FACTOR: tuple[float, ...] = (0.75, 0.5, 0.4, 0.3, 0.15)
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
_F64 = torch.float64


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
    c = severity_row(BRIGHTNESS_SHIFT, severity, "brightness")
    y = read_levels(x)
    if x.shape[1] == 1:
        return truncate_to_levels(y + c).to(x.dtype)
    hsv = rgb_to_hsv(y)
    hsv[:, 2].add_(c).clamp_(0.0, 1.0)
    return truncate_to_levels_(hsv_to_rgb(hsv), x.dtype)


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
    c = severity_row(CONTRAST_FACTOR, severity, "contrast")
    y = read_levels(x)
    mean = y.mean(dim=(-2, -1), keepdim=True)
    return truncate_to_levels_(y.sub_(mean).mul_(c).add_(mean), x.dtype)


def saturate(x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None) -> torch.Tensor:
    """Scale and shift the HSV saturation channel: ``clip(s * a + b)``, as with scikit-image's HSV.

    On 1-channel images a pixel is the grey RGB pixel (g, g, g) with HSV (0, 0, g): the reference
    turns it into (g, g (1 - b), g (1 - b)) (hue 0 is red), which a grey image cannot hold. The
    1-channel result is that 8-bit RGB result converted to grey exactly as PIL's ``convert('L')`` does
    (BT.601 luma in 16-bit fixed point, :func:`~.pil_ops.pil_convert_l`): the grey picture of what the
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
    scale, shift = severity_row(SATURATE_PARAMS, severity, "saturate")
    y = read_levels(x)
    rgb = y.expand(-1, 3, -1, -1) if x.shape[1] == 1 else y
    hsv = rgb_to_hsv(rgb)
    hsv[:, 1].mul_(scale).add_(shift).clamp_(0.0, 1.0)
    out = truncate_to_levels_(hsv_to_rgb(hsv), _F64)
    if x.shape[1] == 1:
        out = pil_convert_l(out)
    return out.to(x.dtype)


# pixelate ------------------------------------------------------------------------------------------


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
    c = severity_row(PIXELATE_FACTOR, severity, "pixelate")
    h, w = x.shape[-2:]
    small = (max(1, int(h * c)), max(1, int(w * c)))
    q = pil_box_resize(pil_box_resize(read_uint8_values(x), small), (h, w))
    return levels_as(q, x.dtype)


# JPEG ----------------------------------------------------------------------------------------------


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
    quality = severity_row(JPEG_QUALITY, severity, "jpeg_compression")
    q = read_uint8_values(x).to(device="cpu", dtype=torch.uint8)
    if q.shape[0] == 0:
        return x.clone()
    decoded = decode_jpeg(encode_jpeg(list(q.unbind(0)), quality=quality))
    out = torch.stack(decoded).to(device=x.device, dtype=_F64) / 255.0
    return out.to(x.dtype)


# --- modules -------------------------------------------------------------------------------------------
class Brightness(Corruption, name="brightness", fn=brightness, random=False):
    """:func:`brightness` at one severity."""


class Contrast(Corruption, name="contrast", fn=contrast, random=False):
    """:func:`contrast` at one severity."""


class Saturate(Corruption, name="saturate", fn=saturate, random=False):
    """:func:`saturate` at one severity."""


class Pixelate(Corruption, name="pixelate", fn=pixelate, random=False):
    """:func:`pixelate` at one severity."""


class JpegCompression(Corruption, name="jpeg_compression", fn=jpeg_compression, random=False):
    """:func:`jpeg_compression` at one severity."""
