"""Weather corruptions of CIFAR-10-C: snow, frost and fog (the extra spatter is in ``spatter.py``).

Reference: Hendrycks & Dietterich, ICLR 2019; the generator ``ImageNet-C/create_c/make_cifar_c.py`` of
hendrycks/robustness. The severity tables are that file's CIFAR tables (REFERENCE.md section 1, rows
8-10). All three corruptions are random; each public function draws from the per-sample
:class:`~freqbench.ops.random.SampleGenerator` and calls a private ``_name(x, ..., draws)`` that takes
the draws explicitly, so tests can feed the same draws to the numpy reference.

Steps the reference does with scikit-image, OpenCV or ImageMagick are done in torch with those
libraries' arithmetic: the clipped zoom (``scipy_ops.py``), ImageMagick's motion blur
(``imagemagick_ops.py``) and OpenCV's RGB-to-grey conversion (``opencv_ops.py``).

Per corruption, 1-channel images and sizes other than 32x32:

* ``snow``: the snow layer is H x W; the greyscale brightening uses the image itself on 1 channel and
  ``0.299 R + 0.587 G + 0.114 B`` (``cv2.COLOR_RGB2GRAY``) on 3 channels.
* ``frost``: the frost crop is converted to luma (same weights) for 1-channel images. Crops come from
  the five frost images resized by 0.2 (the smallest is 63 x 105 pixels), so H <= 62 and W <= 104.
* ``fog``: the plasma map has the next power of two >= max(H, W) as side and is cropped to H x W
  (the reference's map is 32 x 32 and cropped to 32 x 32).

Arithmetic follows the reference's precision whatever the input dtype (see ``blur.py`` for why):
snow blends the image in float32 and adds the float64 snow layer, frost blends on the 0..255 scale in
float64, fog works in float64. With the same draws, the outputs equal the reference's bit for bit
except rare ties (snow: one level on at most 0.1% of values); the tests state the tolerances. Inputs
are read as 8-bit levels (``read_levels`` of :mod:`~freqbench.perturbations.corruptions.base`).

Deliberate differences from the reference: draws come from the sample's own stream (the reference
uses numpy's global generator, unseeded); ImageMagick's motion blur rounds once and to 8 bits as
ImageMagick 6 did in 2018, not as 6.9.11-60 truncates (see ``imagemagick_ops.py``, which also records
the check against the real ImageMagick: the snow layer's blur equals its 16-bit result on every
value); frost images are read with Pillow (identical pixels to ``cv2.imread`` for the shipped files,
checked in the tests).

The frost images are the ones in the PyPI package ``imagecorruptions``: they are located with
``importlib.util.find_spec("imagecorruptions").submodule_search_locations`` (which does not execute the
package) and read from its ``frost/`` folder.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from freqbench.errors import DependencyError, IncompatibleError
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.base import check_images, require_generator
from freqbench.perturbations.corruptions.base import (
    Corruption,
    levels_as,
    read_levels,
    read_uint8_values,
    round_to_levels,
    severity_row,
    truncate_to_levels,
    truncate_to_levels_,
)
from freqbench.perturbations.corruptions.imagemagick_ops import imagemagick_motion_blur
from freqbench.perturbations.corruptions.opencv_ops import rgb_to_gray
from freqbench.perturbations.corruptions.scipy_ops import clipped_zoom

# --- severity tables (make_cifar_c.py, REFERENCE.md section 1) ---------------------------------------
#: snow: (loc, scale, zoom, threshold, motion radius, motion sigma, blend)
SNOW: tuple[tuple[float, ...], ...] = (
    (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
    (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
    (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
    (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
    (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
)
SNOW_ANGLE: tuple[float, float] = (-135.0, -45.0)
#: frost: (image weight, frost weight)
FROST: tuple[tuple[float, float], ...] = ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))
#: frost1..frost5 (the reference lists frost6 too but draws ``randint(5)``), resized by this factor
FROST_FILES: tuple[str, ...] = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
FROST_SCALE = 0.2
#: fog: (strength, plasma wibble decay); the plasma starts at wibble 100
FOG: tuple[tuple[float, float], ...] = ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))
FOG_WIBBLE = 100.0


# --- snow ----------------------------------------------------------------------------------------------
def _snow(x: torch.Tensor, params: Sequence[float], noise: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Snow from a given N(loc, scale) layer (B, H, W) and motion angles (B,) in degrees."""
    _, _, zoom, threshold, radius, sigma, blend = params
    layer = clipped_zoom(noise[:, None].to(torch.float64), zoom)
    layer = torch.where(layer < threshold, torch.zeros_like(layer), layer)
    layer = truncate_to_levels(layer)  # PIL 'L' image of the clipped layer
    flakes = round_to_levels(imagemagick_motion_blur(layer, radius, sigma, angle))
    x32 = read_levels(x).float()  # the reference blends in float32, then adds the float64 snow layer
    bright = torch.maximum(x32, (rgb_to_gray(x32) * 1.5).add_(0.5)).mul_(1 - blend)
    y = x32.mul_(blend).add_(bright).double()
    return truncate_to_levels_(y.add_(flakes).add_(torch.flip(flakes, dims=(-2, -1))), x.dtype)


def snow(x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None) -> torch.Tensor:
    """Zoomed, thresholded Gaussian snow layer, motion-blurred at U(-135, -45) degrees, added with its
    180-degree rotation onto a brightened image.

    Shape:
        x: (B, C, H, W) in [0, 1], C in {1, 3}; returns the same shape, dtype and device.
    """
    check_images(x, "snow")
    params = severity_row(SNOW, severity, "snow")
    g = require_generator(generator, x, "snow")
    noise = params[0] + params[1] * g.normal(x.shape[-2:], dtype=torch.float64)
    angle = g.uniform((), low=SNOW_ANGLE[0], high=SNOW_ANGLE[1], dtype=torch.float64)
    return _snow(x, params, noise, angle)


# --- frost ---------------------------------------------------------------------------------------------
def frost_dir() -> Path:
    """The ``frost/`` folder of the installed ``imagecorruptions`` package (not imported)."""
    spec = importlib.util.find_spec("imagecorruptions")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(
            "frost needs the frost images of the PyPI package 'imagecorruptions'; "
            "install it with: pip install imagecorruptions==1.1.2"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "frost"
    missing = [f for f in FROST_FILES if not (folder / f).is_file()]
    if missing:
        raise DependencyError(
            f"frost images {missing} not found in {folder}; reinstall imagecorruptions==1.1.2"
        )
    return folder


def load_frost_images() -> list[np.ndarray]:
    """The five frost images resized like ``cv2.resize(img, (0, 0), fx=0.2, fy=0.2)``, RGB uint8 HWC.

    At exactly 1/5, OpenCV's bilinear resize samples source pixel ``5 d + 2`` (half-pixel centres:
    ``(d + 0.5) * 5 - 0.5``) with weight 1, so the resize is a strided pick; the output size is
    ``round(size * 0.2)``.
    """
    out = []
    for name in FROST_FILES:
        with Image.open(frost_dir() / name) as im:
            rgb = np.asarray(im.convert("RGB"))
        h, w = round(rgb.shape[0] * FROST_SCALE), round(rgb.shape[1] * FROST_SCALE)
        out.append(np.ascontiguousarray(rgb[2::5, 2::5][:h, :w]))
    return out


_FROST_CACHE: dict[tuple[str, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}


def _frost_stack(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(5, 3, Hmax, Wmax) frost images as 0..255 levels (zero-padded) and their (5, 2) sizes, cached."""
    key = (str(device), dtype)
    if key not in _FROST_CACHE:
        images = load_frost_images()
        hmax, wmax = max(i.shape[0] for i in images), max(i.shape[1] for i in images)
        stack = torch.zeros(len(images), 3, hmax, wmax, dtype=dtype)
        for k, im in enumerate(images):
            stack[k, :, : im.shape[0], : im.shape[1]] = torch.from_numpy(im).permute(2, 0, 1).to(dtype)
        sizes = torch.tensor([i.shape[:2] for i in images], dtype=torch.int64)
        _FROST_CACHE[key] = (stack.to(device), sizes.to(device))
    return _FROST_CACHE[key]


def _frost(
    x: torch.Tensor, weights: tuple[float, float], index: torch.Tensor, top: torch.Tensor, left: torch.Tensor
) -> torch.Tensor:
    """Frost with given image indices (B,) and crop corners (B,), (B,)."""
    b, c, h, w = x.shape
    stack, _ = _frost_stack(x.device, torch.float64)
    # one slice per sample: much cheaper than a 4-D advanced index for a few hundred small crops
    crops = [
        stack[i, :, t : t + h, l : l + w] for i, t, l in zip(index.tolist(), top.tolist(), left.tolist())
    ]
    crop = torch.stack(crops) if crops else stack.new_zeros(0, 3, h, w)
    if c == 1:
        crop = rgb_to_gray(crop)
    elif c != 3:
        raise IncompatibleError(f"frost expects 1 or 3 channels, got {c}")
    # the reference blends on the 0..255 scale in float64: clip(c0 * image_u8 + c1 * frost_u8, 0, 255),
    # here as (image_u8 * c0) + (frost_u8 * c1), the same roundings
    v = read_uint8_values(x).mul_(weights[0]).add_(crop.mul_(weights[1]))
    return levels_as(v.clamp_(0.0, 255.0).floor_(), x.dtype)


def frost(x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None) -> torch.Tensor:
    """Blend with a random crop of one of five frost images: ``c0 x + c1 frost``.

    Shape:
        x: (B, C, H, W) in [0, 1], C in {1, 3}, H <= 62, W <= 104; returns the same shape, dtype and
        device.
    """
    check_images(x, "frost")
    weights = severity_row(FROST, severity, "frost")
    g = require_generator(generator, x, "frost")
    _, sizes = _frost_stack(x.device, torch.float64)
    h, w = x.shape[-2:]
    if h >= int(sizes[:, 0].min()) or w >= int(sizes[:, 1].min()):
        raise IncompatibleError(
            f"frost crops come from images of at least {tuple(sizes.min(0).values.tolist())} pixels, so it "
            f"needs H < {int(sizes[:, 0].min())} and W < {int(sizes[:, 1].min())}; got {h} x {w}. "
            "Resize the images first or leave frost out of the suite."
        )
    index = g.integers(0, len(FROST_FILES))
    u = g.uniform((2,), dtype=torch.float64)
    span = sizes[index] - torch.tensor([h, w], device=x.device)  # randint(0, size - 32): high excluded
    corner = torch.floor(u * span).long()
    return _frost(x, weights, index, corner[:, 0], corner[:, 1])


# --- fog -----------------------------------------------------------------------------------------------
def plasma_draw_shapes(mapsize: int) -> list[int]:
    """Side of each uniform draw of :func:`plasma_fractal`, in order (3 per level)."""
    sides = []
    step = mapsize
    while step >= 2:
        sides += [mapsize // step] * 3
        step //= 2
    return sides


def plasma_fractal(uniforms: Sequence[torch.Tensor], *, mapsize: int, decay: float) -> torch.Tensor:
    """Diamond-square plasma in [0, 1] from given U(0, 1) draws, batched over samples.

    Each level (step ``s = mapsize, mapsize/2, .., 2``) fills square centres, then the two diamond
    point sets, each as ``mean of 4 neighbours (wrapping) + wibble * U(-wibble, wibble)``; the wibble
    starts at 100 and is divided by ``decay`` after each level. ``uniforms[k]`` is the k-th draw, of
    shape (B, n, n) with ``n`` from :func:`plasma_draw_shapes`.

    Shape:
        returns (B, mapsize, mapsize) float64.
    """
    b = uniforms[0].shape[0]
    m = torch.zeros(b, mapsize, mapsize, dtype=torch.float64, device=uniforms[0].device)
    draws = iter(uniforms)
    step, wibble = mapsize, FOG_WIBBLE

    def wibbled_mean(total: torch.Tensor) -> torch.Tensor:
        u = next(draws).to(torch.float64)
        return total / 4 + wibble * (-wibble + (2 * wibble) * u)

    while step >= 2:
        half = step // 2
        corner = m[:, 0::step, 0::step]
        square = corner + torch.roll(corner, -1, dims=1)
        square = square + torch.roll(square, -1, dims=2)
        m[:, half::step, half::step] = wibbled_mean(square)
        dr = m[:, half::step, half::step]
        ul = m[:, 0::step, 0::step]
        m[:, 0::step, half::step] = wibbled_mean(
            (dr + torch.roll(dr, 1, dims=1)) + (ul + torch.roll(ul, -1, dims=2))
        )
        m[:, half::step, 0::step] = wibbled_mean(
            (dr + torch.roll(dr, 1, dims=2)) + (ul + torch.roll(ul, -1, dims=1))
        )
        step //= 2
        wibble /= decay
    m = m - m.amin(dim=(1, 2), keepdim=True)
    return m / m.amax(dim=(1, 2), keepdim=True)


def fog_mapsize(height: int, width: int) -> int:
    """Plasma side: the next power of two >= max(H, W) (32 for CIFAR)."""
    return 1 << max(1, math.ceil(math.log2(max(height, width))))


def _fog(x: torch.Tensor, strength: float, plasma: torch.Tensor) -> torch.Tensor:
    """Fog from a given plasma map (B, M, M), M >= H, W."""
    h, w = x.shape[-2:]
    x64 = read_levels(x)  # the reference works in float64
    peak = x64.amax(dim=(1, 2, 3), keepdim=True)
    y = x64.add_(strength * plasma[:, None, :h, :w].double())
    return truncate_to_levels_(y.mul_(peak).div_(peak + strength), x.dtype)


def fog(x: torch.Tensor, severity: int, *, generator: SampleGenerator | None = None) -> torch.Tensor:
    """Additive plasma fractal, then ``x * max / (max + strength)``.

    Shape:
        x: (B, C, H, W) in [0, 1]; returns the same shape, dtype and device.
    """
    check_images(x, "fog")
    strength, decay = severity_row(FOG, severity, "fog")
    g = require_generator(generator, x, "fog")
    size = fog_mapsize(*x.shape[-2:])
    uniforms = [g.uniform((n, n), dtype=torch.float64) for n in plasma_draw_shapes(size)]
    return _fog(x, strength, plasma_fractal(uniforms, mapsize=size, decay=decay))


# --- modules -------------------------------------------------------------------------------------------
class Snow(Corruption, name="snow", fn=snow, random=True):
    """:func:`snow` at one severity."""


class Frost(Corruption, name="frost", fn=frost, random=True):
    """:func:`frost` at one severity."""


class Fog(Corruption, name="fog", fn=fog, random=True):
    """:func:`fog` at one severity."""
