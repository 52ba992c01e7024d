"""Motion blur and snow against the real ImageMagick, through Wand as the original generator calls it.

The generator (hendrycks/robustness ``ImageNet-C/create_c/make_cifar_c.py``) saves the uint8 image as a
PNG (RGB, or mode ``L`` for snow's layer), reads it into a Wand image, calls ``MagickMotionBlurImage``
(``Image.motion_blur(radius, sigma, angle)``) and decodes ``make_blob()`` with OpenCV. The tests do
the same with the ImageMagick installed here and check, for every severity and several angles:

* the unrounded blur: ``imagemagick_motion_blur`` times 65535, rounded, equals ImageMagick's 16-bit
  result (read from a 16-bit clone of the blurred image): tap positions, weights and edge pixels;
* the 8-bit output: ``motion_blur`` (and snow's flake layer) equals ImageMagick's 16-bit result
  scaled to 8 bits by rounding (``ScaleQuantumToChar``), as ImageMagick 6's PNG writer did when the
  data set was made (2018; its 2019 sources still round);
* the PNG round trip of the installed ImageMagick: it is either that rounding or the truncation
  ``floor(q / 257)`` of later 6.9.11 releases (6.9.11-60 truncates); the tests assert that one of the
  two holds exactly and that ours differs from it exactly where they differ;
* snow end to end: ``weather._snow`` against the numpy reference with ImageMagick doing the blur.

Measured with these checks, ImageMagick 6.9.11-60 Q16 (Debian 12 ``libmagickwand-6.q16-6``) and Wand
0.7.2 on 16 CIFAR-10 test images (JPEG copy in ``shared/data``), 5 severities x 5 angles (motion) and
5 x 4 angles on 16 snow layers: the 16-bit values agree on all 1,556,480 values; the 8-bit outputs
agree with the rounding on all of them; the installed PNG writer truncates, so its output is one level
below ours on 48.8% (motion) and 12.4% (snow layer) of the values, never more.

Needs the PyPI package ``Wand`` and ImageMagick 6 with 16-bit quanta (Debian:
``apt-get install libmagickwand-6.q16-6``); skips with the reason otherwise.
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from freqbench.perturbations.corruptions import base, blur, imagemagick_ops, weather

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
import cifar10c_blur_weather as ref

if TYPE_CHECKING:
    from conftest import RealData  # tests/conftest.py

_REASON = (
    "needs the PyPI package Wand and ImageMagick's MagickWand library "
    "(Debian: apt-get install libmagickwand-6.q16-6; pip install Wand==0.7.2)"
)
# ImportError, not only ModuleNotFoundError: Wand raises it when the MagickWand library is missing
wand_image = pytest.importorskip("wand.image", reason=_REASON, exc_type=ImportError)
wand_version = pytest.importorskip("wand.version", reason=_REASON, exc_type=ImportError)
if not 0x600 <= wand_version.MAGICK_VERSION_NUMBER < 0x700:
    pytest.skip(
        f"the generator used ImageMagick 6; found {wand_version.MAGICK_VERSION}", allow_module_level=True
    )
if wand_version.QUANTUM_DEPTH != 16:
    pytest.skip(
        f"ImageMagick with 16-bit quanta (Q16) needed; found Q{wand_version.QUANTUM_DEPTH}",
        allow_module_level=True,
    )

MOTION_ANGLES = (-45.0, -30.0, 0.0, 17.3, 45.0)
SNOW_ANGLES = (-135.0, -90.0, -60.0, -45.5)


def wand_motion_blur(
    img: np.ndarray, radius: float, sigma: float, angle: float
) -> tuple[np.ndarray, np.ndarray]:
    """The generator's motion-blur step on a uint8 HWC (3 channels) or HW image.

    Returns:
        ImageMagick's 16-bit result (same shape, int64) and the decoded 8-bit PNG it writes (int64).
    """
    grey = img.ndim == 2
    buf = io.BytesIO()
    Image.fromarray(img, mode="L" if grey else "RGB").save(buf, format="PNG")
    with wand_image.Image(blob=buf.getvalue()) as w:
        w.motion_blur(radius=radius, sigma=sigma, angle=angle)
        with w.clone() as c:  # read before make_blob: the PNG writer reduces the pixels to 8 bits in place
            c.depth = 16
            q = np.array(c.export_pixels(channel_map="R" if grey else "RGB", storage="short"), np.int64)
        blob = w.make_blob()
    png = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
    if not grey:  # ImageMagick writes a grey-looking image as a 1-channel PNG; the generator replicates it
        png = png[..., ::-1] if png.ndim == 3 else np.repeat(png[..., None], 3, axis=2)
    return q.reshape(img.shape), png.astype(np.int64)


def rounded_8bit(q: np.ndarray) -> np.ndarray:
    """ImageMagick's Q16 -> 8-bit ``ScaleQuantumToChar`` (round to nearest)."""
    return ((q + 128) - ((q + 128) >> 8)) >> 8


def make_images(n: int, h: int = 32, w: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 NHWC images: a coloured sinusoid with noise and a flat white or black block."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = []
    for i in range(n):
        wave = 0.5 + 0.5 * np.sin(2 * np.pi * (rng.uniform(0.5, 3) * xx + rng.uniform(0.5, 3) * yy))
        img = rng.uniform(0, 255, (1, 1, 3)) * wave[..., None] + rng.normal(0, 30, (h, w, 3))
        img[: h // 4, : w // 3] = 255 if i % 2 else 0
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


def snow_layers(n: int, severity: int, seed: int) -> np.ndarray:
    """Snow layers as the generator hands them to ImageMagick: zoomed, thresholded, uint8 (N, H, W)."""
    loc, scale, zoom, threshold = weather.SNOW[severity - 1][:4]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        layer = ref._clipped_zoom(rng.normal(loc, scale, (32, 32, 1)), zoom)[..., 0]
        layer[layer < threshold] = 0
        out.append((np.clip(layer, 0, 1) * 255).astype(np.uint8))
    return np.stack(out)


def check_against_imagemagick(imgs: np.ndarray, radius: float, sigma: float, angle: float) -> None:
    """All four checks of the module docstring for one parameter set; imgs (N, H, W, 3) or (N, H, W)."""
    grey = imgs.ndim == 3
    x = torch.from_numpy(imgs[:, None] if grey else imgs.transpose(0, 3, 1, 2)).double() / 255.0
    angles = torch.full((len(imgs),), angle, dtype=torch.float64)
    unrounded = imagemagick_ops.imagemagick_motion_blur(x, radius, sigma, angles)
    ours = base.round_to_levels(unrounded) if grey else blur._motion_blur(x, radius, sigma, angles)
    ours, unrounded = (
        (t[:, 0] if grey else t.permute(0, 2, 3, 1)).numpy() for t in (ours * 255.0, unrounded * 65535.0)
    )
    ours = np.rint(ours).astype(np.int64)
    q, png = map(np.stack, zip(*(wand_motion_blur(img, radius, sigma, angle) for img in imgs)))
    where = f"radius {radius}, sigma {sigma}, angle {angle}"

    np.testing.assert_array_equal(np.floor(unrounded + 0.5).astype(np.int64), q, err_msg=f"16-bit, {where}")
    np.testing.assert_array_equal(ours, rounded_8bit(q), err_msg=f"8-bit, {where}")
    truncated = q // 257
    if not np.array_equal(png, rounded_8bit(q)):
        np.testing.assert_array_equal(png, truncated, err_msg=f"PNG neither rounds nor truncates, {where}")
        np.testing.assert_array_equal(ours - png, rounded_8bit(q) - truncated)


IMAGES = make_images(6)


@pytest.mark.parametrize("angle", MOTION_ANGLES)
@pytest.mark.parametrize("severity", (1, 2, 3, 4, 5))
def test_motion_blur_matches_imagemagick(severity: int, angle: float) -> None:
    check_against_imagemagick(IMAGES, *blur.MOTION[severity - 1], angle)


@pytest.mark.parametrize("angle", SNOW_ANGLES)
@pytest.mark.parametrize("severity", (1, 2, 3, 4, 5))
def test_snow_layer_blur_matches_imagemagick(severity: int, angle: float) -> None:
    radius, sigma = weather.SNOW[severity - 1][4:6]
    check_against_imagemagick(snow_layers(6, severity, seed=severity), radius, sigma, angle)


@pytest.mark.parametrize("angle", (-37.0, 90.0, 200.0))
def test_non_square_images_keep_imagemagicks_axes(angle: float) -> None:
    """x runs along columns and positive angles point down, on a 24 x 40 image and beyond +-45 degrees."""
    check_against_imagemagick(make_images(3, h=24, w=40, seed=3), 9, 2.5, angle)


@pytest.mark.parametrize("severity", (1, 3, 5))
def test_snow_end_to_end_with_imagemagick(severity: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``weather._snow`` against the numpy reference whose motion blur is ImageMagick's (16-bit result,
    rounded to 8 bits); same tolerance as the reference test: the float32 blend flips rare ties."""

    def imagemagick_blur(layer: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
        q, _ = wand_motion_blur(layer[..., 0], radius, sigma, angle)
        return rounded_8bit(q).astype(np.uint8)[..., None]

    monkeypatch.setattr(ref, "imagemagick_motion_blur", imagemagick_blur)
    p = weather.SNOW[severity - 1]
    rng = np.random.default_rng(severity)
    noise = p[0] + p[1] * rng.standard_normal((len(IMAGES), 32, 32))
    angles = rng.uniform(-135, -45, len(IMAGES))
    x = torch.from_numpy(IMAGES.transpose(0, 3, 1, 2)).double() / 255.0
    got = weather._snow(x, p, torch.from_numpy(noise), torch.from_numpy(angles))
    got = np.rint(got.permute(0, 2, 3, 1).numpy() * 255.0).astype(np.int64)
    want = np.stack(
        [ref.snow_with(img, severity, noise[i].copy(), float(angles[i])) for i, img in enumerate(IMAGES)]
    )
    diff = np.abs(got - want)
    assert diff.max() <= 1 and np.mean(diff > 0) <= 0.002, (diff.max(), np.mean(diff > 0))


@pytest.mark.real
def test_motion_blur_matches_imagemagick_on_cifar10(real_data: RealData) -> None:
    imgs = []
    with tarfile.open(real_data.shared("cifar10-jpeg/test.tar.gz")) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".jpg"):
                with Image.open(io.BytesIO(tar.extractfile(member).read())) as im:  # type: ignore[union-attr]
                    imgs.append(np.asarray(im.convert("RGB")))
            if len(imgs) == 8:
                break
    for severity in (1, 3, 5):
        for angle in (-45.0, 12.5, 45.0):
            check_against_imagemagick(np.stack(imgs), *blur.MOTION[severity - 1], angle)
