"""Weather corruptions of CIFAR-10-C: snow, frost and fog, and the extra spatter.

Reference: Hendrycks & Dietterich, ICLR 2019; the generator ``ImageNet-C/create_c/make_cifar_c.py`` of
hendrycks/robustness. The severity tables are that file's CIFAR tables (REFERENCE.md section 1, rows
8-10 and 18). All four corruptions are random; each public function draws from the per-sample
:class:`~freqbench.ops.random.SampleGenerator` and calls a private ``_name(x, ..., draws)`` that takes
the draws explicitly, so tests can feed the same draws to the numpy reference.

Steps the reference does with scikit-image, OpenCV or ImageMagick are done in torch: Gaussian filters
and the clipped zoom and motion blur of ``blur.py``; for spatter's water mode, OpenCV's Canny edge
detector (3x3 Sobel, L1 magnitude, its non-maximum suppression and 8-connected hysteresis), its 5x5
chamfer distance transform (weights 1, 1.4, 2.1969 summed in float32), box filters, ``filter2D`` and
``equalizeHist``; no library offers these with OpenCV's exact arithmetic (kornia's ``canny`` smooths
first and uses another suppression rule).

Per corruption, 1-channel images and sizes other than 32x32:

* ``snow``: the snow layer is H x W; the greyscale brightening uses the image itself on 1 channel and
  ``0.299 R + 0.587 G + 0.114 B`` (``cv2.COLOR_RGB2GRAY``) on 3 channels.
* ``frost``: the frost crop is converted to luma (same weights) for 1-channel images. Crops come from
  the five frost images resized by 0.2 (the smallest is 63 x 105 pixels), so H <= 62 and W <= 104.
* ``fog``: the plasma map has the next power of two >= max(H, W) as side and is cropped to H x W
  (the reference's map is 32 x 32 and cropped to 32 x 32).
* ``spatter``: size-agnostic; on 1 channel the water and mud colours are replaced by their luma.

Arithmetic follows the reference's precision whatever the input dtype (see ``blur.py`` for why):
snow blends the image in float32 and adds the float64 snow layer, frost blends on the 0..255 scale in
float64, fog works in float64, spatter in float32 (its liquid layer in float64). With the same draws,
the outputs equal the reference's bit for bit except rare ties (snow, spatter: one level on at most
0.1% of values); the tests state the tolerances. Inputs are read as 8-bit levels (``read_levels``).

Deliberate differences from the reference: draws come from the sample's own stream (the reference
uses numpy's global generator, unseeded); ImageMagick's motion blur rounds once and to 8 bits as
ImageMagick 6 did in 2018, not as 6.9.11-60 truncates (see ``blur.py``, which also records the check
against the real ImageMagick: the snow layer's blur equals its 16-bit result on every value);
spatter's water mode leaves an image unchanged when its liquid mask is empty (the reference divides
0 by 0 and writes a black image); frost images are read with Pillow (identical pixels to
``cv2.imread`` for the shipped files, checked in the tests).

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
import torch.nn.functional as F
from PIL import Image

from freqbench.errors import DependencyError, IncompatibleError
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.base import check_images, require_generator
from freqbench.perturbations.corruptions.base import register_corruption
from freqbench.perturbations.corruptions.blur import (
    clipped_zoom,
    imagemagick_motion_blur,
    read_levels,
    round_to_levels,
    scipy_gaussian_blur,
    severity_row,
    truncate_to_levels,
    truncate_to_levels_,
)
from freqbench.perturbations.corruptions.noise import levels_as, read_uint8_values

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
_LUMA = (0.299, 0.587, 0.114)  # cv2.COLOR_RGB2GRAY


def _luma(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) with OpenCV's RGB2GRAY weights; 1 channel is returned as is."""
    if x.shape[1] == 1:
        return x
    if x.shape[1] != 3:
        raise IncompatibleError(f"expected 1 or 3 channels, got {x.shape[1]}; pass RGB or greyscale images")
    return _LUMA[0] * x[:, 0:1] + _LUMA[1] * x[:, 1:2] + _LUMA[2] * x[:, 2:3]


def _colour(rgb: Sequence[int], channels: int, like: torch.Tensor) -> torch.Tensor:
    """A colour as (1, C, 1, 1) in [0, 1]; its luma for 1 channel."""
    c = torch.tensor([v / 255.0 for v in rgb], dtype=like.dtype, device=like.device)
    if channels == 1:
        c = (c * torch.tensor(_LUMA, dtype=like.dtype, device=like.device)).sum(0, keepdim=True)
    elif channels != 3:
        raise IncompatibleError(f"expected 1 or 3 channels, got {channels}; pass RGB or greyscale images")
    return c.view(1, -1, 1, 1)


# --- snow ----------------------------------------------------------------------------------------------
def _snow(x: torch.Tensor, params: Sequence[float], noise: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Snow from a given N(loc, scale) layer (B, H, W) and motion angles (B,) in degrees."""
    _, _, zoom, threshold, radius, sigma, blend = params
    layer = clipped_zoom(noise[:, None].to(torch.float64), zoom)
    layer = torch.where(layer < threshold, torch.zeros_like(layer), layer)
    layer = truncate_to_levels(layer)  # PIL 'L' image of the clipped layer
    flakes = round_to_levels(imagemagick_motion_blur(layer, radius, sigma, angle))
    x32 = read_levels(x).float()  # the reference blends in float32, then adds the float64 snow layer
    bright = torch.maximum(x32, (_luma(x32) * 1.5).add_(0.5)).mul_(1 - blend)
    y = x32.mul_(blend).add_(bright).double()
    return truncate_to_levels_(y.add_(flakes).add_(torch.flip(flakes, dims=(-2, -1))), x.dtype)


@register_corruption("snow", random=True)
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
        crop = _luma(crop)
    elif c != 3:
        raise IncompatibleError(f"frost expects 1 or 3 channels, got {c}")
    # the reference blends on the 0..255 scale in float64: clip(c0 * image_u8 + c1 * frost_u8, 0, 255),
    # here as (image_u8 * c0) + (frost_u8 * c1), the same roundings
    v = read_uint8_values(x).mul_(weights[0]).add_(crop.mul_(weights[1]))
    return levels_as(v.clamp_(0.0, 255.0).floor_(), x.dtype)


@register_corruption("frost", random=True)
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


@register_corruption("fog", random=True)
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


# --- OpenCV steps of spatter's water mode, on uint8-valued int64 tensors (B, H, W) -------------------
_TG22 = int(0.4142135623730950488016887242097 * (1 << 15) + 0.5)


def _correlate3x3(t: torch.Tensor, kernel: Sequence[Sequence[int]], *, mode: str) -> torch.Tensor:
    """Exact integer 3x3 correlation with the given padding mode ('replicate' or 'reflect' = reflect-101)."""
    padded = F.pad(t[:, None].to(torch.float64), (1, 1, 1, 1), mode=mode)[:, 0]
    h, w = t.shape[-2:]
    out = torch.zeros(t.shape, dtype=torch.float64, device=t.device)
    term = torch.empty_like(out)
    for i in range(3):
        for j in range(3):
            if kernel[i][j]:
                out.add_(torch.mul(padded[:, i : i + h, j : j + w], kernel[i][j], out=term))
    return out


def canny(img: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """``cv2.Canny(img, low, high)`` (aperture 3, L1 gradient) as a bool edge map.

    Shape:
        img: (B, H, W) integer levels 0..255; returns (B, H, W) bool.
    """
    dx = _correlate3x3(img, ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1)), mode="replicate").long()
    dy = _correlate3x3(img, ((-1, -2, -1), (0, 0, 0), (1, 2, 1)), mode="replicate").long()
    mag = dx.abs() + dy.abs()
    ax, ay = dx.abs(), dy.abs() << 15
    tg22x = ax * _TG22
    tg67x = tg22x + (ax << 16)
    horizontal = ay < tg22x
    vertical = ~horizontal & (ay > tg67x)
    diagonal = ~horizontal & ~vertical
    s = torch.where((dx ^ dy) < 0, -1, 1)
    padded = F.pad(mag, (1, 1, 1, 1), value=0)
    h, w = mag.shape[-2:]
    nb = {(i, j): padded[..., 1 + i : 1 + i + h, 1 + j : 1 + j + w] for i in (-1, 0, 1) for j in (-1, 0, 1)}
    diag_max = torch.where(
        s > 0, (mag > nb[-1, -1]) & (mag > nb[1, 1]), (mag > nb[-1, 1]) & (mag > nb[1, -1])
    )
    local_max = (
        (horizontal & (mag > nb[0, -1]) & (mag >= nb[0, 1]))
        | (vertical & (mag > nb[-1, 0]) & (mag >= nb[1, 0]))
        | (diagonal & diag_max)
    )
    candidate = local_max & (mag > math.floor(low))
    edges = candidate & (mag > math.floor(high))
    while True:  # hysteresis: grow strong edges into 8-connected candidates
        # 3x3 dilation as the OR of nine shifted views of one padded copy (cheaper than max_pool2d)
        ring = F.pad(edges, (1, 1, 1, 1), value=False)
        near = edges.clone()
        for i in range(3):
            for j in range(3):
                near |= ring[..., i : i + h, j : j + w]
        grown = candidate & near | edges
        if torch.equal(grown, edges):
            return edges
        edges = grown


#: cv2 DIST_L2 with a 5x5 mask: chamfer weights for a step, a diagonal and a knight move (float32)
_CHAMFER = (1.0, 1.4, 2.1969)


def chamfer_distance(zero: torch.Tensor, *, cap: float) -> torch.Tensor:
    """``min(cv2.distanceTransform(src, DIST_L2, 5), cap)``: distance to the nearest ``zero`` pixel.

    The chamfer distance is the shortest path over moves to the 8 neighbours and the 8 knight moves
    (OpenCV's two raster passes compute it, summing float32 weights along the path); relaxing all moves
    ``ceil(cap) + 1`` times finds every path shorter than ``cap`` (each move costs >= 1).

    Shape:
        zero: (B, H, W) bool; returns (B, H, W) float32.
    """
    hv, diag, knight = (torch.tensor(w, dtype=torch.float32).item() for w in _CHAMFER)
    big = 1e6
    d = torch.where(zero, 0.0, big).to(torch.float32)
    moves = [(0, 1, hv), (1, 0, hv), (0, -1, hv), (-1, 0, hv)]
    moves += [(i, j, diag) for i in (-1, 1) for j in (-1, 1)]
    moves += [
        (i, j, knight) for i, j in ((1, 2), (2, 1), (-1, 2), (-2, 1), (1, -2), (2, -1), (-1, -2), (-2, -1))
    ]
    h, w = d.shape[-2:]
    step = torch.empty_like(d)
    for _ in range(math.ceil(cap) + 1):
        # every move reads the previous iterate (Jacobi): one padded copy, views for the 16 shifts
        padded = F.pad(d, (2, 2, 2, 2), value=big)
        nxt = d.clone()
        for i, j, weight in moves:
            torch.add(padded[..., 2 + i : 2 + i + h, 2 + j : 2 + j + w], weight, out=step)
            torch.minimum(nxt, step, out=nxt)
        if torch.equal(nxt, d):
            break
        d = nxt
    return torch.clamp(d, max=cap)


def box3(t: torch.Tensor) -> torch.Tensor:
    """``cv2.blur(t, (3, 3))`` sum (reflect-101 border), in float64, before OpenCV's ``* (1/9)``.

    Shape:
        t: (B, H, W); returns (B, H, W) float64.
    """
    return _correlate3x3(t, ((1, 1, 1), (1, 1, 1), (1, 1, 1)), mode="reflect")


def equalize_hist(img: torch.Tensor) -> torch.Tensor:
    """``cv2.equalizeHist`` per sample.

    Shape:
        img: (B, H, W) int64 levels 0..255; returns the same.
    """
    b = img.shape[0]
    flat = img.reshape(b, -1)
    total = flat.shape[1]
    hist = torch.zeros(b, 256, dtype=torch.int64, device=img.device).scatter_add_(
        1, flat, torch.ones_like(flat)
    )
    first = (hist > 0).long().argmax(1, keepdim=True)
    h_first = hist.gather(1, first)
    cum = hist.cumsum(1)
    since = cum - cum.gather(1, first)
    scale = (
        torch.tensor(255.0, dtype=torch.float32, device=img.device) / (total - h_first).clamp(min=1).float()
    )
    lut = torch.round(since.float() * scale).clamp(0, 255).long()
    lut = torch.where(h_first == total, first.expand(b, 256), lut)  # a constant image maps to itself
    return lut.gather(1, flat).reshape(img.shape)


def _water_mask(liquid: torch.Tensor) -> torch.Tensor:
    """Spatter's water mask ``liquid_u8 * dist`` (B, H, W) float32 from the thresholded liquid layer."""
    # .astype(np.uint8) of values that can exceed 255 (severity 3): numpy on x86 wraps modulo 256
    liquid_u8 = torch.remainder(torch.floor(liquid * 255.0).long(), 256)
    edges = canny(liquid_u8, 50, 150)
    dist = chamfer_distance(edges, cap=20.0)
    dist = torch.floor((box3(dist.double()) * (1.0 / 9.0)).float()).long()  # blur, .astype(uint8)
    dist = equalize_hist(dist)
    ker = ((-2, -1, 0), (-1, 1, 1), (0, 1, 2))
    dist = _correlate3x3(dist, ker, mode="reflect").clamp(0, 255).long()  # filter2D to CV_8U
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


@register_corruption("spatter", random=True)
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
