"""Fidelity and contract tests of the noise and digital corruptions (CIFAR-10-C).

Fidelity is checked against ``tests/reference/cifar10c_noise_digital.py``, per-image numpy / SciPy /
scikit-image / PIL / OpenCV implementations of the original generator's procedure:

* deterministic corruptions agree pixel-wise on 8-bit images (RGB 32 x 32, grey 28 x 28, RGB
  40 x 24), per corruption at most ``levels`` 8-bit levels apart on at most ``fraction`` of the
  values (``TOLERANCE``); the elastic transform agrees the same way when both sides get the same
  random draws (geometry checked against ``cv2.warpAffine`` and SciPy's pre-1.6
  ``map_coordinates(mode='reflect')``, which the reference emulates and the generator ran on);
* random corruptions with their own draws agree with the reference (numpy's generator) in
  distribution: mean shift of the residual ``out - clean`` (in 8-bit levels), and relative differences
  of its variance and of its mean power in four radial frequency bands (``DIST_TOL``); a companion
  test shows the same check rejects the neighbouring severity, so it can fail;
* contract: shape, dtype and device kept, [0, 1] and 8-bit levels, same seed same output, batch-size
  invariance, 1-channel and non-32 x 32 inputs, registry modules.

Tolerances were measured with
``OMP_NUM_THREADS=1 pytest tests/perturbations/test_corruptions_noise_digital.py`` (torch 2.14,
numpy 2.4, scikit-image 0.26, Pillow 13, OpenCV 5.0, SciPy 1.17).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from freqbench.errors import IncompatibleError
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations import PERTURBATIONS
from freqbench.perturbations.corruptions import digital, elastic, noise, pil_ops, scipy_ops

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
import cifar10c_noise_digital as ref

FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "gaussian_noise": noise.gaussian_noise,
    "shot_noise": noise.shot_noise,
    "impulse_noise": noise.impulse_noise,
    "speckle_noise": noise.speckle_noise,
    "brightness": digital.brightness,
    "contrast": digital.contrast,
    "saturate": digital.saturate,
    "pixelate": digital.pixelate,
    "jpeg_compression": digital.jpeg_compression,
    "elastic_transform": elastic.elastic_transform,
}
RANDOM = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "elastic_transform")
DETERMINISTIC = ("brightness", "contrast", "saturate", "pixelate", "jpeg_compression")
SEVERITIES = (1, 2, 3, 4, 5)
#: registered versions other than 1 (a version is bumped when a fix changes a corruption's output)
VERSIONS = {"elastic_transform": 2}
SHAPES = ((32, 32, 3), (28, 28, 1), (40, 24, 3))  # (H, W, C) of the reference's uint8 images

#: (max 8-bit levels apart, max fraction of values that differ). PIL-based corruptions use the same
#: integer arithmetic (Pillow's fixed-point BOX resampling; the same libjpeg), so they are exact. The
#: HSV ones follow scikit-image's float64 operation order and came out exact; one level on 0.1% is
#: allowed for last-bit differences of other library builds. Contrast differs by one level on up to
#: 0.6% of the values where the float64 channel mean (numpy's pairwise sum vs torch's reduction
#: order) lands a result on the other side of an integer. Elastic: both sides interpolate in double
#: and store float32; last-bit differences of the affine map move under 0.01% of the values by one
#: level.
TOLERANCE: dict[str, tuple[int, float]] = {
    "brightness": (1, 0.001),
    "saturate": (1, 0.001),
    "contrast": (1, 0.01),
    "pixelate": (0, 0.0),
    "jpeg_compression": (0, 0.0),
    "elastic_transform": (1, 0.001),
}

#: (max |mean shift difference| in 8-bit levels, max relative difference of the residual variance and
#: of each band power), for 128 RGB 32 x 32 images, fixed seeds on both sides. Measured between torch
#: and reference over the five severities: gaussian <= 0.003 levels and 1.0%, shot <= 0.03 and 4.1%,
#: speckle <= 0.04 and 1.6%, impulse <= 0.29 and 4.5%, elastic <= 0.24 and 3.3% (two reference runs
#: with different seeds differ as much). Neighbouring severities differ by >= 20% (noise) and >= 24%
#: (elastic) in at least one statistic, which test_distribution_check_rejects_neighbouring_severity
#: checks.
DIST_TOL: dict[str, tuple[float, float]] = {
    "gaussian_noise": (0.15, 0.05),
    "shot_noise": (0.15, 0.05),
    "speckle_noise": (0.15, 0.05),
    "impulse_noise": (0.4, 0.08),
    "elastic_transform": (0.5, 0.12),
}
#: radial frequency bands in cycles per pixel (0.71 is the corner of the spectrum)
BANDS = (0.0, 0.125, 0.25, 0.375, 0.75)


def make_images(n: int, h: int, w: int, c: int, *, seed: int) -> np.ndarray:
    """Synthetic 8-bit images: smooth colour fields (bicubic from 4 x 4), pixel noise, a grey block and
    a saturated corner, so clipping, grey pixels and HSV ties all occur. Shape (n, h, w, c)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, h, w, c), dtype=np.uint8)
    for i in range(n):
        base = (rng.random((4, 4, 3)) * 255).astype(np.uint8)
        smooth = np.asarray(Image.fromarray(base).resize((w, h), Image.BICUBIC)).astype(np.int64)
        img = np.clip(smooth + rng.integers(-25, 25, smooth.shape), 0, 255)
        img[: h // 4, : w // 4] = rng.integers(0, 256)
        img[-3:, -3:] = 255
        out[i] = img[:, :, :c]
    return out


def to_torch(images: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).to(dtype) / 255.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    levels = x.to(torch.float64).permute(0, 2, 3, 1).numpy() * 255.0
    assert np.abs(levels - np.round(levels)).max() < 1e-3, "output is not on 8-bit levels"
    return np.round(levels).astype(np.uint8)


def assert_close_levels(ours: np.ndarray, theirs: np.ndarray, levels: int, fraction: float) -> None:
    diff = np.abs(ours.astype(np.int64) - theirs.astype(np.int64))
    assert diff.max() <= levels, f"max difference {diff.max()} levels > {levels}"
    frac = float((diff > 0).mean())
    assert frac <= fraction, f"{frac:.4%} of values differ, allowed {fraction:.4%}"


# pixel-wise fidelity ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_matches_reference(name: str, shape: tuple[int, int, int]) -> None:
    images = make_images(16, *shape, seed=1)
    x = to_torch(images)
    for severity in SEVERITIES:
        ours = to_uint8(FUNCTIONS[name](x, severity))
        theirs = np.stack([ref.REFERENCE[name](im, severity, np.random.default_rng(0)) for im in images])
        assert_close_levels(ours, theirs, *TOLERANCE[name])


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_elastic_geometry_matches_opencv_scipy(shape: tuple[int, int, int]) -> None:
    h, w, _ = shape
    images = make_images(16, *shape, seed=2)
    rng = np.random.default_rng(3)
    for severity in SEVERITIES:
        jitter = rng.uniform(-1.0, 1.0, size=(16, 3, 2))
        fields = rng.uniform(-1.0, 1.0, size=(16, 2, h, w))
        out = elastic.elastic_transform_with_draws(
            to_torch(images), severity, jitter=torch.from_numpy(jitter), noise=torch.from_numpy(fields)
        )
        theirs = np.stack(
            [
                ref.elastic_transform_with_draws(im, severity, jitter[i], fields[i])
                for i, im in enumerate(images)
            ]
        )
        assert_close_levels(to_uint8(out), theirs, *TOLERANCE["elastic_transform"])


def test_elastic_border_rule_is_scipy_before_1_6() -> None:
    """Coordinates just outside an axis of 5 samples, read as SciPy < 1.6 did (``map_coordinate`` folds
    ``in < 0`` to ``-in - 1``, keeps ``len - 1 < in < len``, mirrors the support points): -0.3 reads
    position 0.7 and 4.4 reads 3.6, where SciPy >= 1.6 reads the edge samples 0 and 4; further out
    both are the half-sample reflection (-1.5 -> 0.5, 5.5 -> 3.5)."""
    c = torch.tensor([-1.5, -0.3, 0.0, 2.25, 4.0, 4.4, 5.5], dtype=torch.float64)
    expected = [0.5, 0.7, 0.0, 2.25, 4.0, 3.6, 3.5]
    np.testing.assert_allclose(scipy_ops.legacy_scipy_reflect(c, 5).numpy(), expected, rtol=0, atol=1e-12)
    ramp = np.arange(5, dtype=np.float32)[None, :, None].repeat(2, axis=0)  # (2, 5, 1): value = column
    rows = np.zeros((1, 7))
    got = ref.legacy_map_coordinates_linear_reflect(ramp, rows, c.numpy()[None, :])[0, :, 0]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("n_in", "n_out"), [(32, 30), (32, 27), (32, 20), (20, 32), (27, 32), (7, 3), (3, 7), (40, 26)]
)
def test_pil_box_resize_is_exact(n_in: int, n_out: int) -> None:
    images = make_images(4, n_in, n_in + 3, 3, seed=n_in * 100 + n_out)
    size = (n_out, max(1, n_out - 2))
    ours = pil_ops.pil_box_resize(torch.from_numpy(images).permute(0, 3, 1, 2).to(torch.float64), size)
    theirs = np.stack([np.asarray(Image.fromarray(im).resize(size[::-1], Image.BOX)) for im in images])
    np.testing.assert_array_equal(ours.permute(0, 2, 3, 1).numpy().astype(np.uint8), theirs)


def test_hsv_round_trip_matches_scikit_image() -> None:
    import skimage.color

    images = make_images(8, 32, 32, 3, seed=4)
    rgb = to_torch(images, torch.float64)
    hsv = digital.rgb_to_hsv(rgb)
    expected = np.stack([skimage.color.rgb2hsv(im / 255.0) for im in images])
    np.testing.assert_allclose(hsv.permute(0, 2, 3, 1).numpy(), expected, rtol=0, atol=1e-12)
    back = digital.hsv_to_rgb(torch.from_numpy(expected).permute(0, 3, 1, 2))
    expected_back = np.stack([skimage.color.hsv2rgb(h) for h in expected])
    np.testing.assert_allclose(back.permute(0, 2, 3, 1).numpy(), expected_back, rtol=0, atol=1e-12)


# distribution fidelity ----------------------------------------------------------------------------


def residual_stats(out: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """[mean shift in levels, residual variance, mean residual power in each radial band]."""
    r = (out.astype(np.float64) - clean.astype(np.float64)) / 255.0
    h, w = r.shape[1:3]
    power = np.abs(np.fft.fft2(r, axes=(1, 2))) ** 2 / (h * w)
    radius = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    bands = [power[:, (radius >= lo) & (radius < hi)].mean() for lo, hi in zip(BANDS[:-1], BANDS[1:])]
    return np.array([r.mean() * 255.0, r.var(), *bands])


def distribution_gap(name: str, severity: int, reference_severity: int) -> tuple[float, float]:
    """(|mean shift difference| in levels, max relative difference of the other statistics)."""
    images = make_images(128, 32, 32, 3, seed=5)
    x = to_torch(images)
    ours = to_uint8(FUNCTIONS[name](x, severity, generator=SampleGenerator.from_seed(0, len(images))))
    rng = np.random.default_rng(1)
    theirs = np.stack([ref.REFERENCE[name](im, reference_severity, rng) for im in images])
    a, b = residual_stats(ours, images), residual_stats(theirs, images)
    return abs(a[0] - b[0]), float(np.max(np.abs(a[1:] - b[1:]) / np.abs(b[1:])))


@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("name", RANDOM)
def test_random_matches_reference_in_distribution(name: str, severity: int) -> None:
    mean_gap, rel_gap = distribution_gap(name, severity, severity)
    mean_tol, rel_tol = DIST_TOL[name]
    assert mean_gap <= mean_tol, f"mean shift differs by {mean_gap:.3f} levels > {mean_tol}"
    assert rel_gap <= rel_tol, f"variance / band power differ by {rel_gap:.1%} > {rel_tol:.0%}"


@pytest.mark.parametrize("name", RANDOM)
def test_distribution_check_rejects_neighbouring_severity(name: str) -> None:
    for severity in (2, 4):
        mean_gap, rel_gap = distribution_gap(name, severity, severity + 1)
        mean_tol, rel_tol = DIST_TOL[name]
        assert mean_gap > mean_tol or rel_gap > rel_tol, f"severity {severity} passes as {severity + 1}"


def test_impulse_noise_fractions() -> None:
    x = torch.full((4, 3, 64, 64), 128 / 255)
    out = noise.impulse_noise(x, 5, generator=SampleGenerator.from_seed(0, 4))
    n = out.numel()
    salt, pepper = float((out == 1).sum()) / n, float((out == 0).sum()) / n
    # amount 0.07 split evenly; binomial standard error on 49152 values is about 0.0008
    assert abs(salt - 0.035) < 0.004 and abs(pepper - 0.035) < 0.004
    assert bool(((out == 1) | (out == 0) | (out == x)).all())


def test_noise_output_is_truncated_not_rounded() -> None:
    # speckle keeps zeros at zero and gaussian with a tiny image of ones clips at 1; the truncating
    # cast lowers the mean of N(0, sigma) noise on mid-grey by half a level, rounding would not
    x = torch.full((8, 3, 32, 32), 128 / 255)
    out = noise.gaussian_noise(x, 1, generator=SampleGenerator.from_seed(0, 8))
    shift = float((out - x).mean()) * 255
    assert -0.6 < shift < -0.4
    zeros = noise.speckle_noise(torch.zeros(2, 1, 8, 8), 5, generator=SampleGenerator.from_seed(0, 2))
    assert bool((zeros == 0).all())


# contract -----------------------------------------------------------------------------------------


def run(name: str, x: torch.Tensor, severity: int = 3, *, seed: int = 0, indices=None) -> torch.Tensor:
    gen = SampleGenerator.from_seed(seed, x.shape[0] if indices is None else indices)
    return FUNCTIONS[name](x, severity, generator=gen)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_shape_dtype_range_and_levels(name: str, dtype: torch.dtype) -> None:
    x = to_torch(make_images(3, 32, 32, 3, seed=6), dtype)
    out = run(name, x)
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert bool(torch.isfinite(out).all()) and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    if dtype != torch.bfloat16:
        levels = out.double() * 255
        assert float((levels - levels.round()).abs().max()) < 1e-3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", FUNCTIONS)
def test_cuda_matches_cpu(name: str) -> None:
    x = to_torch(make_images(4, 32, 32, 3, seed=7))
    cpu = run(name, x)
    gpu = run(name, x.cuda())
    assert gpu.device.type == "cuda"
    diff = (gpu.cpu() - cpu).abs() * 255
    assert float(diff.max()) <= 1.0 + 1e-6 and float((diff > 0.5).double().mean()) < 0.01


@pytest.mark.parametrize("name", FUNCTIONS)
def test_same_seed_same_output(name: str) -> None:
    x = to_torch(make_images(4, 32, 32, 3, seed=8))
    a, b = run(name, x, seed=11), run(name, x, seed=11)
    assert torch.equal(a, b)
    if name in RANDOM:
        assert not torch.equal(a, run(name, x, seed=12))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_batch_size_invariance(name: str) -> None:
    x = to_torch(make_images(5, 32, 32, 3, seed=9))
    whole = run(name, x, seed=3)
    gen = SampleGenerator.from_seed(3, 5)
    for i in range(5):
        alone = run(name, x[i : i + 1], seed=3, indices=[i])
        sliced = FUNCTIONS[name](x[i : i + 1], 3, generator=SampleGenerator(gen.keys[i : i + 1]))
        assert torch.equal(alone[0], whole[i]) and torch.equal(sliced[0], whole[i])
    pair = FUNCTIONS[name](x[1:3], 3, generator=SampleGenerator.from_seed(3, [1, 2]))
    assert torch.equal(pair, whole[1:3])


@pytest.mark.parametrize("shape", [(2, 1, 32, 32), (2, 1, 28, 28), (2, 3, 40, 24), (1, 3, 17, 64)])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_other_channels_and_sizes(name: str, shape: tuple[int, int, int, int]) -> None:
    b, c, h, w = shape
    x = to_torch(make_images(b, h, w, 3, seed=10)[..., :c])
    out = run(name, x, severity=5)
    assert out.shape == x.shape and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert not torch.equal(out, x)


def test_one_channel_colour_meanings() -> None:
    grey = torch.tensor([0.0, 60.0, 128.0, 255.0]).view(1, 1, 1, 4) / 255
    # brightness of a grey pixel adds c to the value channel: min(g + 0.3, 1), truncated
    np.testing.assert_allclose(
        digital.brightness(grey, 5).numpy().ravel() * 255,
        np.floor(np.minimum(grey.numpy().ravel() + 0.3, 1) * 255),
    )
    # saturate 1-3 leaves grey unchanged; 4-5 is PIL's luma of (g, g (1 - b), g (1 - b))
    assert torch.equal(digital.saturate(grey, 3), grey)
    g = np.array([0, 60, 128, 255], dtype=np.uint8)
    rgb = np.stack([g, np.floor(g * 0.8).astype(np.uint8), np.floor(g * 0.8).astype(np.uint8)], axis=-1)
    expected = np.asarray(Image.fromarray(rgb[None], "RGB").convert("L")).ravel()
    np.testing.assert_array_equal(np.round(digital.saturate(grey, 5).numpy().ravel() * 255), expected)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_registry_module(name: str) -> None:
    cls = PERTURBATIONS.get(name)
    module = cls(severity=2)
    assert module.random == (name in RANDOM)
    version = VERSIONS.get(name, 1)
    assert module.spec() == {"kind": "perturbation", "name": name, "version": version, "severity": 2}
    x = to_torch(make_images(2, 32, 32, 3, seed=11))
    gen = SampleGenerator.from_seed(0, 2) if name in RANDOM else None
    expected = run(name, x, severity=2) if name in RANDOM else FUNCTIONS[name](x, 2)
    assert torch.equal(module(x, gen), expected)


@pytest.mark.parametrize("name", RANDOM)
def test_random_needs_generator(name: str) -> None:
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match="generator"):
        FUNCTIONS[name](x, 1)
    with pytest.raises(ValueError, match="streams"):
        FUNCTIONS[name](x, 1, generator=SampleGenerator.from_seed(0, 3))


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_ignores_generator(name: str) -> None:
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(
        FUNCTIONS[name](x, 4), FUNCTIONS[name](x, 4, generator=SampleGenerator.from_seed(5, 2))
    )


@pytest.mark.parametrize("name", FUNCTIONS)
def test_bad_severity(name: str) -> None:
    with pytest.raises(ValueError, match="severity"):
        FUNCTIONS[name](torch.rand(1, 3, 8, 8), 6, generator=SampleGenerator.from_seed(0, 1))


@pytest.mark.parametrize("name", ["brightness", "saturate", "jpeg_compression"])
def test_colour_corruptions_reject_other_channel_counts(name: str) -> None:
    with pytest.raises(IncompatibleError, match="channels"):
        FUNCTIONS[name](torch.rand(1, 2, 8, 8), 1)


def test_elastic_rejects_tiny_images() -> None:
    with pytest.raises(IncompatibleError, match="3 x 3"):
        elastic.elastic_transform(torch.rand(1, 1, 2, 8), 2, generator=SampleGenerator.from_seed(0, 1))
