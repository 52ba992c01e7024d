"""Frequency perturbations against scipy / numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.frequency import (
    band_pass,
    gaussian_filter,
    gaussian_residual,
    high_pass,
    low_pass,
    phase_scramble,
)


@pytest.mark.parametrize("sigma", [1, 2, 4, 12, 20])
@pytest.mark.parametrize("size", [(32, 32), (28, 28), (20, 30)])
def test_gaussian_filter_equals_scipy_per_channel(sigma, size) -> None:
    x = np.random.default_rng(1).random((2, 3, *size))
    expected = np.stack([[ndimage.gaussian_filter(x[b, c], sigma) for c in range(3)] for b in range(2)])
    np.testing.assert_allclose(gaussian_filter(torch.from_numpy(x), sigma).numpy(), expected, atol=1e-12)
    resid = gaussian_residual(torch.from_numpy(x), sigma).numpy()
    np.testing.assert_allclose(resid, x - expected, atol=1e-12)
    assert resid.min() < 0  # signed, not clipped or truncated


def test_blur_does_not_mix_colour_channels() -> None:
    x = torch.zeros(1, 3, 16, 16, dtype=torch.float64)
    x[0, 0, 8, 8] = 1.0
    y = gaussian_filter(x, 2)
    assert y[0, 1:].abs().max() == 0 and y[0, 0].sum().item() == pytest.approx(1.0)


def test_ideal_low_pass_equals_explicit_numpy_fft() -> None:
    x = np.random.default_rng(2).random((2, 3, 32, 32))
    k = np.fft.fftfreq(32) * 32
    keep = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2) <= 8
    expected = np.clip(np.fft.ifft2(np.fft.fft2(x) * keep).real, 0, 1)
    np.testing.assert_allclose(low_pass(torch.from_numpy(x), 8).numpy(), expected, atol=1e-12)


def test_high_and_band_pass_are_signed_complements() -> None:
    x = torch.rand(2, 1, 28, 28, dtype=torch.float64)
    hp = high_pass(x, 4)
    assert abs(hp.mean().item()) < 1e-12 and hp.min() < 0
    k = np.fft.fftfreq(28) * 28
    r = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)
    expected = np.fft.ifft2(np.fft.fft2(x.numpy()) * ((r > 4) & (r <= 10))).real
    np.testing.assert_allclose(band_pass(x, 4, 10).numpy(), expected, atol=1e-12)


def test_phase_scramble_keeps_amplitude_and_is_real() -> None:
    # low-contrast images so that the final clamp to [0, 1] never engages
    x = 0.5 + 0.05 * torch.rand(3, 3, 32, 32, dtype=torch.float64)
    y = phase_scramble(x, 90, generator=SampleGenerator.from_seed(0, 3))
    assert y.min() > 0 and y.max() < 1
    np.testing.assert_allclose(np.abs(np.fft.fft2(y.numpy())), np.abs(np.fft.fft2(x.numpy())), atol=1e-9)
    assert not torch.allclose(x, y)
    torch.testing.assert_close(
        phase_scramble(x, 0, generator=SampleGenerator.from_seed(0, 3)), x, atol=1e-12, rtol=0
    )


def test_phase_shift_is_the_same_field_on_every_channel_and_bounded() -> None:
    x = 0.5 + 0.05 * torch.rand(1, 3, 16, 16, dtype=torch.float64)
    y = phase_scramble(x, 30, generator=SampleGenerator.from_seed(5, 1))
    dphi = np.angle(np.fft.fft2(y.numpy()) / np.fft.fft2(x.numpy()))
    assert np.abs(dphi).max() <= np.radians(30) + 1e-9
    np.testing.assert_allclose(dphi[0, 0], dphi[0, 2], atol=1e-9)


def test_phase_scramble_needs_generator() -> None:
    with pytest.raises(ValueError, match="generator"):
        phase_scramble(torch.rand(1, 1, 8, 8), 30)
