"""Band energy fractions from the exact radius, against numpy computations written here.

The bands (``freqbench.ops.spectrum``): with Nyquist N = min(H, W) / 2, low r <= N/3,
mid N/3 < r <= 2N/3, high r > 2N/3, r the exact radius in cycles per image.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from freqbench.ops.spectrum import band_energy, band_fractions


def numpy_bands(h: int, w: int) -> list[np.ndarray]:
    """Band masks in exact rational arithmetic: r^2 = (ky s/h)^2 + (kx s/w)^2 against (s/6)^2, (s/3)^2."""
    s = min(h, w)
    ky = np.rint(np.fft.fftfreq(h) * h).astype(int)
    kx = np.rint(np.fft.fftfreq(w) * w).astype(int)
    r2 = np.array([[Fraction(a * a * s * s, h * h) + Fraction(b * b * s * s, w * w) for b in kx] for a in ky])
    low, high = r2 <= Fraction(s * s, 36), r2 > Fraction(s * s, 9)
    return [low, ~low & ~high, high]


def numpy_band_energy(x: np.ndarray) -> np.ndarray:
    power = (np.abs(np.fft.fft2(x, norm="ortho")) ** 2).mean(1)
    return np.stack([power[:, m].sum(1) for m in numpy_bands(*x.shape[-2:])], axis=1)


def cosine(h: int, w: int, ky: int, kx: int) -> torch.Tensor:
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return torch.from_numpy(np.cos(2 * np.pi * (ky * yy / h + kx * xx / w)))[None, None]


def test_cosine_at_5_2_on_32x32_is_mid() -> None:
    # exact radius sqrt(29) = 5.385 > 16/3 = 5.333: mid; rounding it to 5 would have called it low
    assert np.sqrt(5**2 + 2**2) > 16 / 3 >= round(np.sqrt(5**2 + 2**2))
    frac = band_fractions(band_energy(cosine(32, 32, 5, 2)))[0].numpy()
    np.testing.assert_allclose(frac, [0.0, 1.0, 0.0], atol=1e-12)


@pytest.mark.parametrize(("k", "band"), [((0, 4), 0), ((0, 5), 1), ((0, 8), 1), ((0, 9), 2), ((3, 3), 1)])
def test_edge_radius_belongs_to_the_band_below(k: tuple[int, int], band: int) -> None:
    # 24x24: Nyquist 12, edges exactly 4 and 8; r = 4 is low and r = 8 is mid, like the ideal mask's r <= R
    frac = band_fractions(band_energy(cosine(24, 24, *k)))[0].numpy()
    np.testing.assert_allclose(frac, np.eye(3)[band], atol=1e-12)


@pytest.mark.parametrize("size", [(28, 28), (32, 32), (24, 32), (9, 7)])
def test_impulse_has_the_exact_bin_count_fractions(size: tuple[int, int]) -> None:
    """A unit impulse has a flat spectrum: its fractions are the bin counts of the bands."""
    h, w = size
    x = torch.zeros(1, 1, h, w, dtype=torch.float64)
    x[0, 0, 0, 0] = 1.0
    counts = np.array([m.sum() for m in numpy_bands(h, w)]) / (h * w)
    np.testing.assert_allclose(band_fractions(band_energy(x))[0].numpy(), counts, atol=1e-12)


def test_white_noise_on_28x28_has_the_analytic_mid_fraction() -> None:
    mid = numpy_bands(28, 28)[1].sum() / 28**2  # 208 of 784 bins
    assert mid == pytest.approx(0.2653, abs=1e-4)
    x = torch.randn(400, 1, 28, 28, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    weighted = band_fractions(band_energy(x).sum(0)).numpy()  # energy-weighted over the 400 images
    # the mid share of 400 * 784 i.i.d. chi-square(1)-like bin powers: std ~ 0.001
    assert weighted[1] == pytest.approx(mid, abs=0.005)
    assert weighted[1] < 0.275  # the rounded radius gave 28.6%


@pytest.mark.parametrize("size", [(32, 32), (28, 28), (24, 32)])
def test_band_energy_matches_numpy_and_parseval(size: tuple[int, int]) -> None:
    h, w = size
    x = np.random.default_rng(1).normal(size=(3, 2, h, w))
    got = band_energy(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, numpy_band_energy(x), rtol=1e-12)
    np.testing.assert_allclose(got.sum(1), (x**2).sum((2, 3)).mean(1), rtol=1e-12)
    # float32 input: computed in float64 all the same
    got32 = band_energy(torch.from_numpy(x).float())
    assert got32.dtype == torch.float64
    np.testing.assert_allclose(got32.numpy(), got, rtol=1e-5)


def test_per_sample_mean_and_energy_weighted_differ() -> None:
    low = cosine(32, 32, 0, 1) * 10.0  # energy 100x that of the second image, all low
    high = cosine(32, 32, 0, 16)  # all high
    energy = band_energy(torch.cat([low, high]))
    per_sample = band_fractions(energy).numpy()
    np.testing.assert_allclose(per_sample, [[1, 0, 0], [0, 0, 1]], atol=1e-12)
    e_low, e_high = float((low**2).sum()), float((high**2).sum())
    weighted = band_fractions(energy.sum(0)).numpy()
    expected = [e_low / (e_low + e_high), 0, e_high / (e_low + e_high)]
    np.testing.assert_allclose(weighted, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(per_sample.mean(0), [0.5, 0, 0.5], atol=1e-12)


def test_zero_energy_has_no_fraction_and_bad_edges_are_refused() -> None:
    frac = band_fractions(band_energy(torch.zeros(2, 1, 8, 8)))
    assert torch.isnan(frac).all()
    with pytest.raises(ValueError, match="increasing"):
        band_energy(torch.zeros(1, 1, 8, 8), edges=(0.6, 0.3))
