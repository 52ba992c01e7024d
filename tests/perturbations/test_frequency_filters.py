"""Frequency perturbations against scipy / numpy computations."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from scipy import ndimage

from freqbench.ops.masks import Band
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations import PERTURBATIONS
from freqbench.perturbations.frequency import (
    RadialFilter,
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


# float64 masks, the all-pass identity --------------------------------------------------------------
def _numpy_low_mask(h: int, w: int, r: float, profile: str) -> np.ndarray:
    k = np.sqrt((np.fft.fftfreq(h) * min(h, w))[:, None] ** 2 + (np.fft.fftfreq(w) * min(h, w))[None, :] ** 2)
    if profile == "gaussian":
        return np.exp(-(k**2) / (2 * r**2))
    return 1 / (1 + (k / r) ** 4)  # Butterworth, order 2


@pytest.mark.parametrize("profile", ["gaussian", "butterworth"])
def test_float64_smooth_low_pass_is_float64_exact(profile) -> None:
    # the mask used to be built in float32 whatever the input: errors of ~1e-8, not ~1e-16
    x = np.random.default_rng(3).random((2, 3, 28, 28))
    expected = np.clip(np.fft.ifft2(np.fft.fft2(x) * _numpy_low_mask(28, 28, 5.0, profile)).real, 0, 1)
    got = low_pass(torch.from_numpy(x), 5.0, profile=profile).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-14, rtol=0)
    hp = np.fft.ifft2(np.fft.fft2(x) * (1 - _numpy_low_mask(28, 28, 5.0, profile))).real
    np.testing.assert_allclose(high_pass(torch.from_numpy(x), 5.0, profile=profile).numpy(), hp, atol=1e-14)


@pytest.mark.parametrize("size", [32, 28])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ideal_low_pass_beyond_the_corner_is_exactly_the_identity(size, dtype) -> None:
    x = (torch.randint(0, 256, (2, 3, size, size), generator=torch.Generator().manual_seed(0)) / 255).to(
        dtype
    )
    corner = np.hypot(size / 2, size / 2)  # the largest radius of any bin
    assert 16 < corner < 23
    y = low_pass(x, 23)
    assert torch.equal(y, x) and y is not x
    # the Nyquist radius on the axes still removes the corners
    k = np.fft.fftfreq(size) * size
    corners = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2) > 16
    assert corners.any() and not torch.equal(low_pass(x, 16), x)


# clamp diagnostics -----------------------------------------------------------------------------------
def _fmnist_like(b: int = 4, size: int = 28) -> torch.Tensor:
    """A bright shape on an exactly-zero background, 8-bit levels: the filters ring below 0 and above 1."""
    rng = np.random.default_rng(4)
    x = np.zeros((b, 1, size, size))
    x[:, :, 8:20, 6:22] = rng.integers(150, 256, (b, 1, 12, 16)) / 255
    return torch.from_numpy(x)


def test_phase_scramble_diagnostics_against_numpy() -> None:
    x = _fmnist_like()
    module = PERTURBATIONS.get("phase_scramble")(width=90)
    out = module(x, SampleGenerator.from_seed(0, 4))
    diag = module.diagnostics(x, out)
    pre = phase_scramble(x, 90, generator=SampleGenerator.from_seed(0, 4), clamp=False).numpy()
    xn, outn = x.numpy(), out.numpy()
    # the unclamped result has the input's amplitude; the output is that result clamped, unchanged
    np.testing.assert_allclose(np.abs(np.fft.fft2(pre)), np.abs(np.fft.fft2(xn)), atol=1e-9)
    np.testing.assert_array_equal(outn, np.clip(pre, 0, 1))
    torch.testing.assert_close(out, phase_scramble(x, 90, generator=SampleGenerator.from_seed(0, 4)))
    frac = ((pre < 0) | (pre > 1)).reshape(4, -1).mean(1)
    a_pre, a_out = np.abs(np.fft.fft2(pre)).reshape(4, -1), np.abs(np.fft.fft2(outn)).reshape(4, -1)
    amp = np.linalg.norm(a_out - a_pre, axis=1) / np.linalg.norm(a_pre, axis=1)
    change = np.linalg.norm((outn - pre).reshape(4, -1), axis=1) / np.linalg.norm(pre.reshape(4, -1), axis=1)
    assert frac.min() > 0.05 and amp.min() > 0.01  # the clamp engages on such images
    np.testing.assert_allclose(diag["clamped_fraction"].numpy(), frac, rtol=1e-6)
    np.testing.assert_allclose(diag["amplitude_error"].numpy(), amp, rtol=1e-5)
    np.testing.assert_allclose(diag["clamp_error"].numpy(), change, rtol=1e-5)


def test_low_pass_diagnostics_against_numpy_fft() -> None:
    x = _fmnist_like()
    k = np.fft.fftfreq(28) * 28
    keep = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2) <= 2
    pre = np.fft.ifft2(np.fft.fft2(x.numpy()) * keep).real
    module = PERTURBATIONS.get("low_pass_ideal")(r=2)
    out = module(x)
    np.testing.assert_allclose(out.numpy(), np.clip(pre, 0, 1), atol=1e-12)
    diag = module.diagnostics(x, out)
    assert np.minimum(np.abs(pre), np.abs(pre - 1)).min() > 1e-9  # no value that rounding could flip
    frac = ((pre < 0) | (pre > 1)).reshape(4, -1).mean(1)
    assert frac.min() > 0.05
    np.testing.assert_allclose(diag["clamped_fraction"].numpy(), frac, rtol=1e-6)
    change = np.linalg.norm((np.clip(pre, 0, 1) - pre).reshape(4, -1), axis=1)
    np.testing.assert_allclose(
        diag["clamp_error"].numpy(), change / np.linalg.norm(pre.reshape(4, -1), axis=1), rtol=1e-5
    )
    identity = PERTURBATIONS.get("low_pass_ideal")(r=23)
    y = identity(x)
    assert set(identity.diagnostics(x, y)) == {"clamped_fraction", "clamp_error"}
    assert PERTURBATIONS.get("high_pass_ideal")(r=2).diagnostics(x, x) == {}  # signed, never clamped


def test_diagnostics_belong_to_the_last_forward() -> None:
    x = _fmnist_like()
    module = PERTURBATIONS.get("low_pass_butterworth")(r=4)
    out = module(x)
    with pytest.raises(RuntimeError, match="right after forward"):
        module.diagnostics(x, out.clone())
    module.diagnostics(x, out)
    with pytest.raises(RuntimeError, match="call it once"):
        module.diagnostics(x, out)
    # copies and pickles of a module that ran carry no pending output
    module(x)
    copied = copy.deepcopy(module)
    pickle.loads(pickle.dumps(module))
    with pytest.raises(RuntimeError):
        copied.diagnostics(x, out)


def test_filter_kept_for_diagnostics_holds_no_autograd_graph() -> None:
    x = _fmnist_like().requires_grad_(True)
    module = RadialFilter(Band.LOW, (4.0,), profile="ideal")
    module(x).sum().backward()
    pre = module._clamp._pre
    assert x.grad is not None and pre is not None and not pre.requires_grad
