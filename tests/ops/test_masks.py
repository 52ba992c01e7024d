"""Frequency masks and radial spectra against explicit numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freqbench.ops.masks import apply_rfft_mask, frequency_mask, radial_grid, spectrum_dtype
from freqbench.ops.spectrum import band_energy, band_fractions, radial_energy, radial_power_spectrum


def _numpy_radius(h: int, w: int) -> np.ndarray:
    s = min(h, w)
    ky = np.fft.fftfreq(h) * s
    kx = np.fft.fftfreq(w) * s
    return np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)


@pytest.mark.parametrize("size", [(32, 32), (28, 28), (24, 32)])
@pytest.mark.parametrize("profile", ["ideal", "gaussian", "butterworth"])
@pytest.mark.parametrize("band,cut", [("low", 6.0), ("high", 4.0), ("band", (4.0, 9.0))])
def test_mask_matches_numpy_full_plane_filter(size, profile, band, cut) -> None:
    h, w = size
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, h, w))
    r = _numpy_radius(h, w)

    def low(c: float) -> np.ndarray:
        if profile == "ideal":
            return (r <= c).astype(float)
        if profile == "gaussian":
            return np.exp(-(r**2) / (2 * c**2))
        return 1 / (1 + (r / c) ** 4)

    m = {
        "low": lambda: low(cut),
        "high": lambda: 1 - low(cut),
        "band": lambda: low(cut[1]) * (1 - low(cut[0])),
    }[band]()
    expected = np.fft.ifft2(np.fft.fft2(x) * m).real
    mask = frequency_mask(band, cut, (h, w), profile=profile, dtype=torch.float64)
    got = apply_rfft_mask(torch.from_numpy(x), mask).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_radial_grid_square_is_index_distance() -> None:
    r = radial_grid(8, 8, half=False).numpy()
    assert r[0, 0] == 0 and r[0, 3] == 3 and r[5, 0] == 3 and np.isclose(r[1, 7], np.sqrt(2))


def test_mask_shape_mismatch_is_clear() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        apply_rfft_mask(torch.zeros(1, 1, 8, 8), torch.ones(8, 4))


def test_power_spectrum_parseval_and_single_frequency() -> None:
    x = torch.randn(3, 2, 16, 16, dtype=torch.float64)
    e = radial_energy(x)
    np.testing.assert_allclose(e.sum(1).numpy(), (x**2).sum((2, 3)).mean(1).numpy(), rtol=1e-10)
    # a cosine at frequency (0, 5) puts all its energy at radius 5
    yy, xx = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    cos = torch.from_numpy(np.cos(2 * np.pi * 5 * xx / 16))[None, None]
    spec = radial_power_spectrum(cos)[0].numpy()
    assert spec.argmax() == 5 and spec[np.arange(len(spec)) != 5].max() < 1e-20
    frac = band_fractions(band_energy(cos))[0].numpy()
    # Nyquist radius 8: bands (0, 8/3], (8/3, 16/3], beyond; radius 5 is mid
    np.testing.assert_allclose(frac, [0.0, 1.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("profile", ["gaussian", "butterworth"])
def test_masks_are_built_in_the_images_precision(profile) -> None:
    r = _numpy_radius(28, 28)[:, : 28 // 2 + 1]
    expected = np.exp(-(r**2) / (2 * 5.0**2)) if profile == "gaussian" else 1 / (1 + (r / 5.0) ** 4)
    assert spectrum_dtype(torch.float64) == torch.float64
    assert spectrum_dtype(torch.float32) == spectrum_dtype(torch.float16) == torch.float32
    m64 = frequency_mask("low", 5.0, (28, 28), profile=profile, dtype=spectrum_dtype(torch.float64))
    assert m64.dtype == torch.float64
    np.testing.assert_allclose(m64.numpy(), expected, rtol=1e-13, atol=0)
    m32 = frequency_mask("low", 5.0, (28, 28), profile=profile, dtype=spectrum_dtype(torch.float32))
    assert np.abs(m32.double().numpy() - expected).max() > 1e-10  # what float64 images used to get
