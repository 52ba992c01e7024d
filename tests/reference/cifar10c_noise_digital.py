"""Per-image reference implementations of the CIFAR-10-C noise and digital corruptions.

Written for the tests from REFERENCE.md section 1 and the procedure of the original generator
(Hendrycks & Dietterich 2019, hendrycks/robustness ``ImageNet-C/create_c/make_cifar_c.py``), with
numpy, SciPy, scikit-image, PIL and OpenCV doing each step the way the generator does: one uint8
H x W x C image in, computation in float, ``np.clip`` and the truncating ``np.uint8`` cast out. The
``imagecorruptions`` package is not used (it has ImageNet parameters). One step is emulated instead of
called: the elastic transform's ``map_coordinates(order=1, mode='reflect')`` behaves at the border as
in the SciPy < 1.6 that produced the released data (``legacy_map_coordinates_linear_reflect``), not as
today's SciPy.

Where the generator has no meaning (1-channel images, sizes other than 32 x 32), these functions
follow the meaning documented in ``freqbench.perturbations.corruptions`` (grey pixels as (g, g, g),
parameters of elastic scaled by min(H, W) / 32) so the tests can check it; each such place says so.

``REFERENCE`` maps a corruption name to ``fn(image, severity, rng) -> image``; ``rng`` is a
``numpy.random.Generator`` and is ignored by deterministic corruptions.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import cv2
import numpy as np
import skimage.color
from PIL import Image
from scipy.ndimage import gaussian_filter

Reference = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def _as_float(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(f"expected a uint8 H x W x C image, got {image.dtype} {image.shape}")
    return image / 255.0


def _out(y: np.ndarray) -> np.ndarray:
    return np.uint8(np.clip(y, 0, 1) * 255)


# noise ---------------------------------------------------------------------------------------------


def gaussian_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.04, 0.06, 0.08, 0.09, 0.10][severity - 1]
    x = _as_float(image)
    return _out(x + rng.normal(size=x.shape, scale=c))


def shot_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [500, 250, 100, 75, 50][severity - 1]
    x = _as_float(image)
    return _out(rng.poisson(x * c) / c)


def impulse_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """scikit-image 0.15 (2019) ``random_noise(mode='s&p', amount=c)``: a Bernoulli(amount) mask of
    replaced pixel-channels and an independent Bernoulli(1/2) salt mask; pepper is 0."""
    c = [0.01, 0.02, 0.03, 0.05, 0.07][severity - 1]
    x = _as_float(image).copy()
    flipped = rng.random(x.shape) < c
    salted = rng.random(x.shape) < 0.5
    x[flipped & salted] = 1.0
    x[flipped & ~salted] = 0.0
    return _out(x)


def speckle_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.06, 0.1, 0.12, 0.16, 0.2][severity - 1]
    x = _as_float(image)
    return _out(x + x * rng.normal(size=x.shape, scale=c))


# colour --------------------------------------------------------------------------------------------


def _rgb(image: np.ndarray) -> np.ndarray:
    """1-channel images as grey RGB (g, g, g), the documented meaning; RGB unchanged."""
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def brightness(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.05, 0.1, 0.15, 0.2, 0.3][severity - 1]
    x = skimage.color.rgb2hsv(_as_float(_rgb(image)))
    x[:, :, 2] = np.clip(x[:, :, 2] + c, 0, 1)
    out = _out(skimage.color.hsv2rgb(x))
    # a grey pixel stays grey: any channel is the 1-channel result
    return out[:, :, :1] if image.shape[2] == 1 else out


def contrast(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.75, 0.5, 0.4, 0.3, 0.15][severity - 1]
    x = _as_float(image)
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return _out((x - means) * c + means)


def saturate(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)][severity - 1]
    x = skimage.color.rgb2hsv(_as_float(_rgb(image)))
    x[:, :, 1] = np.clip(x[:, :, 1] * c[0] + c[1], 0, 1)
    out = _out(skimage.color.hsv2rgb(x))
    if image.shape[2] == 1:  # documented meaning: PIL's grey conversion of the RGB result
        return np.asarray(Image.fromarray(out, "RGB").convert("L"))[:, :, None]
    return out


# PIL-based -----------------------------------------------------------------------------------------


def _pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image[:, :, 0], "L") if image.shape[2] == 1 else Image.fromarray(image, "RGB")


def _array(img: Image.Image) -> np.ndarray:
    a = np.asarray(img)
    return a[:, :, None] if a.ndim == 2 else a


def pixelate(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.95, 0.9, 0.85, 0.75, 0.65][severity - 1]
    h, w = image.shape[:2]
    img = _pil(image).resize((max(1, int(w * c)), max(1, int(h * c))), Image.BOX)
    return _array(img.resize((w, h), Image.BOX))


def jpeg_compression(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [80, 65, 58, 50, 40][severity - 1]
    buf = io.BytesIO()
    _pil(image).save(buf, "JPEG", quality=c)
    return _array(Image.open(buf))


# elastic -------------------------------------------------------------------------------------------


def _legacy_map_coordinate_reflect(c: np.ndarray, n: int) -> np.ndarray:
    """``map_coordinate(in, len, NI_EXTEND_REFLECT)`` of SciPy before 1.6 (``ni_interpolation.c``; the
    generator ran on such a SciPy: CIFAR-10-C dates from 2019, the rewrite, scipy/scipy#12767, from
    2020): below 0 a coordinate folds to ``-in - 1`` (after wrapping by ``2 len``), above ``len - 1`` it
    wraps by ``2 len`` and folds to ``2 len - in - 1`` only from ``len`` on."""
    sz2 = 2 * n
    out = c.copy()
    lo = c < 0
    v = c[lo]
    v = np.where(v < -sz2, sz2 * np.trunc(-v / sz2) + v, v)
    out[lo] = np.where(v < -n, v + sz2, -v - 1)
    hi = c > n - 1
    v = c[hi] - sz2 * np.trunc(c[hi] / sz2)
    out[hi] = np.where(v >= n, sz2 - v - 1, v)
    return out


def _mirror_index(i: np.ndarray, n: int) -> np.ndarray:
    """Support points outside the axis, as old SciPy's spline code placed them: mirror (reflect-101)."""
    s2 = 2 * n - 2
    i = np.abs(i) % s2 if n > 1 else np.zeros_like(i)
    return np.where(i > n - 1, s2 - i, i)


def legacy_map_coordinates_linear_reflect(
    image: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """``scipy.ndimage.map_coordinates(image, (rows, cols, channel), order=1, mode='reflect')`` as SciPy
    computed it before 1.6: the coordinate is mapped by :func:`_legacy_map_coordinate_reflect`, then
    linear interpolation between ``floor`` and ``floor + 1`` with mirrored support points, in double,
    stored in the image's dtype. ``rows`` and ``cols`` are (H, W); every channel is sampled alike."""
    h, w = image.shape[:2]
    acc = np.zeros(rows.shape + image.shape[2:], dtype=np.float64)
    r = _legacy_map_coordinate_reflect(rows, h)
    c = _legacy_map_coordinate_reflect(cols, w)
    r0, c0 = np.floor(r), np.floor(c)
    tr, tc = r - r0, c - c0
    for dr, wr in ((0, 1.0 - tr), (1, tr)):
        ri = _mirror_index(r0.astype(np.int64) + dr, h)
        for dc, wc in ((0, 1.0 - tc), (1, tc)):
            ci = _mirror_index(c0.astype(np.int64) + dc, w)
            acc += (wr * wc)[..., None] * image[ri, ci].astype(np.float64)
    return acc.astype(image.dtype)


def elastic_transform_with_draws(
    image: np.ndarray, severity: int, jitter: np.ndarray, noise: np.ndarray
) -> np.ndarray:
    """The generator's elastic transform with its random numbers given: ``jitter`` U(-1, 1) (3, 2)
    scaled by the affine shift, ``noise`` U(-1, 1) (2, H, W) for the column and row fields.

    Sizes other than 32: the table (written as fractions of 32) is scaled by min(H, W) and the centre
    is (W // 2, H // 2) as (x, y) (documented meaning; the same as the generator for 32 x 32).
    """
    h, w, ch = image.shape
    size = min(h, w)
    alpha, sigma, shift = [
        (size * 0, size * 0, size * 0.08),
        (size * 0.05, size * 0.2, size * 0.07),
        (size * 0.08, size * 0.06, size * 0.06),
        (size * 0.1, size * 0.04, size * 0.05),
        (size * 0.1, size * 0.03, size * 0.03),
    ][severity - 1]
    x = np.array(image, dtype=np.float32) / 255.0

    center = np.float32([w // 2, h // 2])
    a = size // 3
    pts1 = np.float32([center + a, [center[0] + a, center[1] - a], center - a])
    pts2 = pts1 + (shift * jitter).astype(np.float32)
    m = cv2.getAffineTransform(pts1, pts2)
    x = cv2.warpAffine(x, m, (w, h), borderMode=cv2.BORDER_REFLECT_101).reshape(h, w, ch)

    dx = (gaussian_filter(noise[0], sigma, mode="reflect", truncate=3) * alpha).astype(np.float32)
    dy = (gaussian_filter(noise[1], sigma, mode="reflect", truncate=3) * alpha).astype(np.float32)
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    # the generator's map_coordinates(x, (y + dy, x + dx, z), order=1, mode='reflect') on its SciPy
    out = legacy_map_coordinates_linear_reflect(x, yy + dy, xx + dx)
    return _out(out)


def elastic_transform(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    jitter = rng.uniform(-1.0, 1.0, size=(3, 2))
    noise = rng.uniform(-1.0, 1.0, size=(2, *image.shape[:2]))
    return elastic_transform_with_draws(image, severity, jitter, noise)


REFERENCE: dict[str, Reference] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "speckle_noise": speckle_noise,
    "brightness": brightness,
    "contrast": contrast,
    "saturate": saturate,
    "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
    "elastic_transform": elastic_transform,
}
