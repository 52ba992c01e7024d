"""Per-image reference implementations of the CIFAR-10-C blur and weather corruptions (tests only).

Written for the tests from REFERENCE.md section 1 and the procedure of the original generator
(hendrycks/robustness ``ImageNet-C/create_c/make_cifar_c.py``), with numpy, scipy and OpenCV, one
image at a time: uint8 HWC in, uint8 HWC out, ending with the generator's ``np.uint8`` truncation.
They are independent of ``freqbench`` (no import from it).

Substitutions, each exact:

* ``skimage.filters.gaussian(img, sigma, multichannel=True)`` is
  ``scipy.ndimage.gaussian_filter(img, (sigma, sigma, 0), mode='nearest', truncate=4)`` (what
  scikit-image calls).
* ImageMagick's ``MotionBlurImage`` (Wand) is re-implemented from its definition: a one-sided kernel
  of ``2 ceil(radius) + 1`` taps weighted ``exp(-i^2 / (2 sigma^2))`` and normalised, taps at whole-pixel
  offsets ``(ceil(i cos a - 0.5), ceil(i sin a - 0.5))``, edge virtual pixels, accumulation on the
  16-bit quantum scale (8-bit value * 257), ``ClampToQuantum`` (+0.5, truncate) and the Q16 -> 8-bit
  scaling ``((q + 128) - ((q + 128) >> 8)) >> 8`` (``ScaleQuantumToChar``, round to nearest) of the
  PNG writer of ImageMagick 6 as of 2018. The PNG round trips of the generator are lossless and are
  skipped. Checked against the real ImageMagick 6.9.11-60 through Wand: on 16 CIFAR-10 test images,
  severities 1-5 and 5 angles, this function's output equals ImageMagick's 16-bit result rounded to
  8 bits on every value (``freqbench``'s version is checked the same way in
  ``tests/perturbations/test_corruptions_imagemagick.py``); that release's own PNG writer truncates
  instead (``floor(q / 257)``), a change made after the data set was generated.
* The frost images are read from the installed PyPI package ``imagecorruptions`` without importing it:
  ``importlib.util.find_spec("imagecorruptions").submodule_search_locations[0] / "frost"``.
* Random draws come from a ``numpy.random.Generator`` (the generator used the global numpy state). The
  ``*_with`` functions take the draws explicitly so the tests can inject the torch version's draws.
* ``frost_blend`` and ``spatter_blend`` return the generator's last float array before its clip and
  ``np.uint8`` cast (the tests derive the documented one-channel results from them).

``REFERENCE`` maps each corruption name to ``fn(image, severity, rng) -> image``.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.ndimage import zoom as scizoom


def _gaussian(img: np.ndarray, sigma: float) -> np.ndarray:
    sigmas = (sigma, sigma, 0) if img.ndim == 3 else sigma
    return gaussian_filter(img, sigmas, mode="nearest", truncate=4.0)


def _clipped_zoom(img: np.ndarray, z: float) -> np.ndarray:
    h = img.shape[0]
    ch = int(np.ceil(h / z))
    top = (h - ch) // 2
    out = scizoom(img[top : top + ch, top : top + ch], (z, z, 1), order=1)
    t = (out.shape[0] - h) // 2
    return out[t : t + h, t : t + h]


def _disk(radius: float, alias_blur: float) -> np.ndarray:
    if radius <= 8:
        grid, ksize = np.arange(-8, 8 + 1), (3, 3)
    else:
        grid, ksize = np.arange(-radius, radius + 1), (5, 5)
    xx, yy = np.meshgrid(grid, grid)
    disk = np.array((xx**2 + yy**2) <= radius**2, dtype=np.float32)
    disk /= np.sum(disk)
    return cv2.GaussianBlur(disk, ksize=ksize, sigmaX=alias_blur)


def imagemagick_motion_blur(img: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick Q16 ``MotionBlurImage`` on a uint8 HWC image; returns uint8 HWC."""
    width = int(2.0 * math.ceil(radius) + 1.0)
    i = np.arange(width, dtype=np.float64)
    kernel = np.exp(-(i * i) / (2.0 * sigma * sigma)) / (math.sqrt(2 * math.pi) * sigma)
    kernel /= kernel.sum()
    a = math.radians(angle)
    px, py = width * math.sin(a), width * math.cos(a)
    hyp = math.hypot(px, py)
    h, w = img.shape[:2]
    q16 = img.astype(np.float64) * 257.0
    acc = np.zeros_like(q16)
    yy, xx = np.mgrid[0:h, 0:w]
    for k in range(width):
        ox = math.ceil(k * py / hyp - 0.5)
        oy = math.ceil(k * px / hyp - 0.5)
        acc += kernel[k] * q16[np.clip(yy + oy, 0, h - 1), np.clip(xx + ox, 0, w - 1)]
    q = np.clip(np.floor(acc + 0.5), 0, 65535).astype(np.int64)
    return (((q + 128) - ((q + 128) >> 8)) >> 8).astype(np.uint8)


# --- blur ------------------------------------------------------------------------------------------------
def gaussian_blur(img: np.ndarray, severity: int, rng: np.random.Generator | None = None) -> np.ndarray:
    c = [0.4, 0.6, 0.7, 0.8, 1][severity - 1]
    return np.uint8(np.clip(_gaussian(img / 255.0, c), 0, 1) * 255)


def defocus_blur(img: np.ndarray, severity: int, rng: np.random.Generator | None = None) -> np.ndarray:
    c = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][severity - 1]
    x = img / 255.0
    kernel = _disk(c[0], c[1])
    chans = [cv2.filter2D(x[:, :, d], -1, kernel) for d in range(x.shape[2])]
    return np.uint8(np.clip(np.stack(chans, axis=2), 0, 1) * 255)


GLASS = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)]


def glass_draws(shape: Sequence[int], severity: int, rng: np.random.Generator) -> np.ndarray:
    """(iterations, H - 2d, W - 2d, 2) offsets (dx, dy) in the sweep's visiting order."""
    _, d, iters = GLASS[severity - 1]
    h, w = shape[:2]
    return rng.integers(-d, d, size=(iters, h - 2 * d, w - 2 * d, 2))


def glass_blur_with(img: np.ndarray, severity: int, offsets: np.ndarray) -> np.ndarray:
    """The sequential sweep of the generator, with given offsets."""
    sigma, d, iters = GLASS[severity - 1]
    x = np.uint8(_gaussian(img / 255.0, sigma) * 255)
    h, w = x.shape[:2]
    for it in range(iters):
        for i, hh in enumerate(range(h - d, d, -1)):
            for j, ww in enumerate(range(w - d, d, -1)):
                dx, dy = offsets[it, i, j]
                hp, wp = hh + dy, ww + dx
                x[hh, ww], x[hp, wp] = x[hp, wp], x[hh, ww]  # row views: a copy, as in the generator
    return np.uint8(np.clip(_gaussian(x / 255.0, sigma), 0, 1) * 255)


def glass_blur(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return glass_blur_with(img, severity, glass_draws(img.shape, severity, rng))


MOTION = [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)]


def motion_blur_with(img: np.ndarray, severity: int, angle: float) -> np.ndarray:
    radius, sigma = MOTION[severity - 1]
    return imagemagick_motion_blur(img, radius, sigma, angle)


def motion_blur(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return motion_blur_with(img, severity, rng.uniform(-45, 45))


def zoom_blur(img: np.ndarray, severity: int, rng: np.random.Generator | None = None) -> np.ndarray:
    zmax = [1.06, 1.11, 1.16, 1.21, 1.26][severity - 1]
    factors = np.arange(1, zmax, 0.01)
    x = (img / 255.0).astype(np.float32)
    out = np.zeros_like(x)
    for z in factors:
        out += _clipped_zoom(x, z)
    return np.uint8(np.clip((x + out) / (len(factors) + 1), 0, 1) * 255)


# --- weather ---------------------------------------------------------------------------------------------
SNOW = [
    (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
    (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
    (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
    (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
    (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
]


def snow_with(img: np.ndarray, severity: int, noise: np.ndarray, angle: float) -> np.ndarray:
    """Snow with a given N(loc, scale) layer (H, W) and motion angle."""
    c = SNOW[severity - 1]
    x = np.array(img, dtype=np.float32) / 255.0
    layer = _clipped_zoom(noise[..., np.newaxis], c[2])
    layer[layer < c[3]] = 0
    layer_u8 = (np.clip(layer.squeeze(), 0, 1) * 255).astype(np.uint8)
    flakes = imagemagick_motion_blur(layer_u8[..., None], c[4], c[5], angle) / 255.0
    gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(x.shape[0], x.shape[1], 1)
    x = c[6] * x + (1 - c[6]) * np.maximum(x, gray * 1.5 + 0.5)
    return np.uint8(np.clip(x + flakes + np.rot90(flakes, k=2), 0, 1) * 255)


def snow(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = SNOW[severity - 1]
    noise = rng.normal(size=img.shape[:2], loc=c[0], scale=c[1])
    return snow_with(img, severity, noise, rng.uniform(-135, -45))


FROST = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)]
FROST_FILES = ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg"]


def frost_folder() -> Path:
    spec = importlib.util.find_spec("imagecorruptions")
    assert spec is not None and spec.submodule_search_locations, "imagecorruptions is not installed"
    return Path(list(spec.submodule_search_locations)[0]) / "frost"


_FROST: dict[int, np.ndarray] = {}


def frost_image(idx: int) -> np.ndarray:
    """Frost image ``idx`` read and resized as the generator does (BGR uint8)."""
    if idx not in _FROST:
        img = cv2.imread(str(frost_folder() / FROST_FILES[idx]))
        _FROST[idx] = cv2.resize(img, (0, 0), fx=0.2, fy=0.2)
    return _FROST[idx]


def frost_blend(img: np.ndarray, severity: int, idx: int, top: int, left: int) -> np.ndarray:
    """The blend ``c0 image + c1 frost`` on the 0..255 scale (float64), before the clip and cast."""
    c = FROST[severity - 1]
    h, w = img.shape[:2]
    fr = frost_image(idx)[top : top + h, left : left + w][..., [2, 1, 0]]
    return c[0] * np.array(img) + c[1] * fr


def frost_with(img: np.ndarray, severity: int, idx: int, top: int, left: int) -> np.ndarray:
    return np.uint8(np.clip(frost_blend(img, severity, idx, top, left), 0, 255))


def frost(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    idx = int(rng.integers(5))
    fr = frost_image(idx)
    top = int(rng.integers(0, fr.shape[0] - img.shape[0]))
    left = int(rng.integers(0, fr.shape[1] - img.shape[1]))
    return frost_with(img, severity, idx, top, left)


FOG = [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)]


def plasma_fractal(uniform: Callable[[float, float, tuple[int, ...]], np.ndarray], mapsize: int = 32,
                   wibbledecay: float = 3) -> np.ndarray:  # fmt: skip
    """Diamond-square heightmap in [0, 1]; ``uniform(low, high, shape)`` supplies the noise."""
    m = np.empty((mapsize, mapsize), dtype=np.float64)
    m[0, 0] = 0
    step = mapsize
    wibble = 100.0

    def wibbled(a: np.ndarray) -> np.ndarray:
        return a / 4 + wibble * uniform(-wibble, wibble, a.shape)

    while step >= 2:
        half = step // 2
        corners = m[0:mapsize:step, 0:mapsize:step]
        sq = corners + np.roll(corners, shift=-1, axis=0)
        sq += np.roll(sq, shift=-1, axis=1)
        m[half:mapsize:step, half:mapsize:step] = wibbled(sq)
        dr = m[half:mapsize:step, half:mapsize:step]
        ul = m[0:mapsize:step, 0:mapsize:step]
        lt = (dr + np.roll(dr, 1, axis=0)) + (ul + np.roll(ul, -1, axis=1))
        m[0:mapsize:step, half:mapsize:step] = wibbled(lt)
        tt = (dr + np.roll(dr, 1, axis=1)) + (ul + np.roll(ul, -1, axis=0))
        m[half:mapsize:step, 0:mapsize:step] = wibbled(tt)
        step //= 2
        wibble /= wibbledecay
    m -= m.min()
    return m / m.max()


def fog_with(img: np.ndarray, severity: int, plasma: np.ndarray) -> np.ndarray:
    c = FOG[severity - 1]
    h, w = img.shape[:2]
    x = np.array(img) / 255.0
    max_val = x.max()
    x += c[0] * plasma[:h, :w][..., np.newaxis]
    return np.uint8(np.clip(x * max_val / (max_val + c[0]), 0, 1) * 255)


def fog(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = FOG[severity - 1]
    plasma = plasma_fractal(lambda lo, hi, shape: rng.uniform(lo, hi, shape), 32, c[1])
    return fog_with(img, severity, plasma)


SPATTER = [
    (0.62, 0.1, 0.7, 0.7, 0.5, 0),
    (0.65, 0.1, 0.8, 0.7, 0.5, 0),
    (0.65, 0.3, 1, 0.69, 0.5, 0),
    (0.65, 0.1, 0.7, 0.69, 0.6, 1),
    (0.65, 0.1, 0.5, 0.68, 0.6, 1),
]


def spatter_blend(img: np.ndarray, severity: int, noise: np.ndarray) -> np.ndarray:
    """Spatter with a given N(loc, scale) layer (H, W), on the [0, 1] scale (float32), before the clip
    and cast."""
    c = SPATTER[severity - 1]
    x = np.array(img, dtype=np.float32) / 255.0
    liquid = _gaussian(noise, c[2])
    liquid[liquid < c[3]] = 0
    if c[5] == 0:
        liquid = (liquid * 255).astype(np.uint8)
        dist = 255 - cv2.Canny(liquid, 50, 150)
        dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.blur(dist, (3, 3)).astype(np.uint8)
        dist = cv2.equalizeHist(dist)
        ker = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float32)
        dist = cv2.filter2D(dist, cv2.CV_8U, ker)
        dist = cv2.blur(dist, (3, 3)).astype(np.float32)
        m = cv2.cvtColor(liquid * dist, cv2.COLOR_GRAY2BGRA)
        m /= np.max(m, axis=(0, 1))
        m *= c[4]
        colour = np.concatenate([v / 255.0 * np.ones_like(m[..., :1]) for v in (175, 238, 238)], axis=2)
        colour = cv2.cvtColor(colour, cv2.COLOR_BGR2BGRA)
        x = cv2.cvtColor(x, cv2.COLOR_BGR2BGRA)
        # the generator clips before dropping the alpha channel; dropping it first changes nothing
        return cv2.cvtColor(x + m * colour, cv2.COLOR_BGRA2BGR)
    m = np.where(liquid > c[3], 1, 0)
    m = _gaussian(m.astype(np.float32), c[4])
    m[m < 0.8] = 0
    colour = np.concatenate([v / 255.0 * np.ones_like(x[..., :1]) for v in (63, 42, 20)], axis=2)
    colour *= m[..., np.newaxis]
    x *= 1 - m[..., np.newaxis]
    return x + colour


def spatter_with(img: np.ndarray, severity: int, noise: np.ndarray) -> np.ndarray:
    """Spatter with a given N(loc, scale) layer (H, W)."""
    return np.uint8(np.clip(spatter_blend(img, severity, noise), 0, 1) * 255)


def spatter(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = SPATTER[severity - 1]
    return spatter_with(img, severity, rng.normal(size=img.shape[:2], loc=c[0], scale=c[1]))


REFERENCE: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "defocus_blur": defocus_blur,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur,
    "zoom_blur": zoom_blur,
    "gaussian_blur": gaussian_blur,
    "snow": snow,
    "frost": frost,
    "fog": fog,
    "spatter": spatter,
}
