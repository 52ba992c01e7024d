"""Spectral pooling (Rippel et al. 2015) against scipy and an independent full-``fft2`` construction;
the mean convention, autograd, and frequency dropout."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from freqbench.errors import ConfigError
from freqbench.nn.spectral_pool import SpectralPool2d, frequency_dropout_lower, spectral_pool2d

SIZES = [(8, 8), (9, 7), (8, 11), (16, 6)]


def alias_set(k: int, n: int, big: int) -> list[int]:
    """Input bins (indices mod ``big``) that output bin k (index mod n) of a length-n axis keeps."""
    if n == big:
        return [k]
    freq = k if k < (n + 1) // 2 else k - n  # signed frequency of output bin k
    if n % 2 == 0 and k == n // 2:
        return [n // 2, big - n // 2]  # the Nyquist pair +n/2 and -n/2, united
    return [freq % big]


def numpy_united_spectrum(x: np.ndarray, h: int, w: int, keep: float = 1.0) -> np.ndarray:
    """The pooled spectrum built bin by bin from the full ``fft2``, scaled so the mean is preserved."""
    big_h, big_w = x.shape[-2:]
    spec = np.fft.fft2(x) / (big_h * big_w)
    out = np.zeros((*x.shape[:-2], h, w), dtype=complex)
    for ky in range(h):
        for kx in range(w):
            for py in alias_set(ky, h, big_h):
                for px in alias_set(kx, w, big_w):
                    out[..., ky, kx] += spec[..., py, px]
            fy = ky if ky <= h // 2 else h - ky
            fx = kx if kx <= w // 2 else w - kx
            if fy > keep * h / 2 or fx > keep * w / 2:
                out[..., ky, kx] = 0.0
    return out


def numpy_pool(x: np.ndarray, h: int, w: int, keep: float = 1.0) -> np.ndarray:
    spec = numpy_united_spectrum(x, h, w, keep)
    # explicit Hermitian check: Y[k] == conj(Y[-k]) on the full output grid
    mirrored = np.conj(spec[..., (-np.arange(h)) % h, :][..., (-np.arange(w)) % w])
    np.testing.assert_allclose(spec, mirrored, atol=1e-13)
    pooled = np.fft.ifft2(spec) * (h * w)
    assert np.abs(pooled.imag).max() < 1e-12
    return pooled.real


def naive_centred_crop(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """fftshift, keep the centred h x w block (one bin of each Nyquist pair), inverse: complex in general."""
    big_h, big_w = x.shape[-2:]
    spec = np.fft.fftshift(np.fft.fft2(x) / (big_h * big_w), axes=(-2, -1))
    top, left = big_h // 2 - h // 2, big_w // 2 - w // 2
    crop = np.fft.ifftshift(spec[..., top : top + h, left : left + w], axes=(-2, -1))
    return np.fft.ifft2(crop) * (h * w)


@pytest.mark.parametrize("big", SIZES)
def test_matches_full_fft_construction_for_all_output_sizes(big: tuple[int, int]) -> None:
    rng = np.random.default_rng(big[0] * 100 + big[1])
    x = rng.standard_normal((2, 3, *big))
    for h in range(1, big[0] + 1):
        for w in range(1, big[1] + 1):
            got = spectral_pool2d(torch.from_numpy(x), (h, w))
            np.testing.assert_allclose(got.numpy(), numpy_pool(x, h, w), atol=1e-12)


@pytest.mark.parametrize("big", SIZES)
def test_matches_scipy_resample_along_both_axes(big: tuple[int, int]) -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, *big))
    for h, w in [(big[0] // 2, big[1] // 2), (big[0] - 1, big[1] - 3), (5, 4), (4, 5)]:
        expected = scipy.signal.resample(scipy.signal.resample(x, h, axis=-2), w, axis=-1)
        got = spectral_pool2d(torch.from_numpy(x), (h, w))
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-12)


def test_even_output_needs_the_nyquist_pair_not_only_the_corners() -> None:
    """The naive centred crop is not real for even outputs, and the rfft2-row recipe (keep rows
    [0, h/2) and [H-h/2, H)) does not commute with a horizontal flip; the united Nyquist bins make the
    output real *and* equivariant to flips of either axis and to transposition."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 1, 12, 12))
    assert np.abs(naive_centred_crop(x, 6, 6).imag).max() > 1e-3

    def flip(t: torch.Tensor, dim: int) -> torch.Tensor:  # t[..., -j mod n] along dim
        return torch.roll(torch.flip(t, dims=(dim,)), shifts=1, dims=dim)

    def rfft_recipe(t: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.rfft2(t, norm="forward")
        return torch.fft.irfft2(
            torch.cat([spec[..., :3, :4], spec[..., -3:, :4]], dim=-2), s=(6, 6), norm="forward"
        )

    xt = torch.from_numpy(x)
    pooled = spectral_pool2d(xt, (6, 6))
    for dim in (-2, -1):
        torch.testing.assert_close(spectral_pool2d(flip(xt, dim), (6, 6)), flip(pooled, dim))
    torch.testing.assert_close(spectral_pool2d(xt.transpose(-1, -2), (6, 6)), pooled.transpose(-1, -2))
    assert (rfft_recipe(flip(xt, -1)) - flip(rfft_recipe(xt), -1)).abs().max() > 1e-3


def test_output_spectrum_is_the_united_crop() -> None:
    """irfft2 receives a Hermitian half spectrum: the rfft2 of the output gives it back exactly."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 10, 9))
    got = spectral_pool2d(torch.from_numpy(x), (6, 4))
    expected = numpy_united_spectrum(x, 6, 4)[..., : 4 // 2 + 1]
    np.testing.assert_allclose(torch.fft.rfft2(got, norm="forward").numpy(), expected, atol=1e-13)


def test_band_limited_input_decimates_exactly() -> None:
    """A map with |k| <= n/2 (including a cosine at the output Nyquist) pools by 2 to x[::2, ::2]."""
    t = np.arange(16)
    rng = np.random.default_rng(5)
    x = np.zeros((16, 16))
    for ky in range(-4, 5):
        for kx in range(-4, 5):
            a, p = rng.standard_normal(), rng.uniform(0, 2 * np.pi)
            x += a * np.cos(2 * np.pi * (ky * t[:, None] + kx * t[None, :]) / 16 + p)
    x += np.cos(2 * np.pi * 4 * t / 16)[:, None]  # the output's Nyquist row, full amplitude
    got = spectral_pool2d(torch.from_numpy(x), (8, 8))
    np.testing.assert_allclose(got.numpy(), x[::2, ::2], atol=1e-12)


@pytest.mark.parametrize(("big", "small"), [((8, 8), (4, 4)), ((9, 7), (4, 5)), ((7, 8), (3, 3))])
def test_mean_is_preserved(big: tuple[int, int], small: tuple[int, int]) -> None:
    const = torch.full((1, 2, *big), 0.37, dtype=torch.float64)
    torch.testing.assert_close(
        spectral_pool2d(const, small), torch.full((1, 2, *small), 0.37, dtype=torch.float64)
    )
    x = torch.rand(3, 2, *big, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(spectral_pool2d(x, small).mean(dim=(-2, -1)), x.mean(dim=(-2, -1)))


@pytest.mark.parametrize(
    ("big", "small", "keep"), [((6, 6), (4, 4), 1.0), ((7, 6), (3, 4), 1.0), ((8, 7), (6, 5), 0.6)]
)
def test_gradcheck(big: tuple[int, int], small: tuple[int, int], keep: float) -> None:
    x = torch.randn(
        1, 2, *big, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(1)
    )
    assert torch.autograd.gradcheck(lambda t: spectral_pool2d(t, small, keep=keep), (x,))


def test_dtype_device_shape_and_errors() -> None:
    x = torch.rand(2, 3, 8, 8)
    assert spectral_pool2d(x, 5).dtype == torch.float32
    half = spectral_pool2d(x.half(), (4, 3))
    assert half.dtype == torch.float16 and half.shape == (2, 3, 4, 3)
    assert spectral_pool2d(torch.rand(8, 8), 4).shape == (4, 4)
    with pytest.raises(ConfigError, match="only downsamples"):
        spectral_pool2d(x, (9, 4))
    with pytest.raises(ConfigError, match="keep"):
        spectral_pool2d(x, 4, keep=0.0)
    with pytest.raises(ConfigError, match="exactly one"):
        SpectralPool2d()
    assert SpectralPool2d(scale=0.85).output_size(32, 28) == (27, 23)  # floor(gamma H), Rippel's rule


def test_dropout_schedule() -> None:
    assert frequency_dropout_lower(0, 6) == pytest.approx(0.30)
    assert frequency_dropout_lower(3, 6) == pytest.approx(0.225)
    assert frequency_dropout_lower(6, 6) == pytest.approx(0.15)
    with pytest.raises(ConfigError):
        frequency_dropout_lower(7, 6)


def test_frequency_dropout_is_off_in_eval() -> None:
    gen = torch.Generator().manual_seed(0)
    pool = SpectralPool2d(4, dropout_lower=0.3, generator=gen).eval()
    x = torch.rand(2, 3, 9, 9, dtype=torch.float64)
    state = gen.get_state()
    outs = [pool(x) for _ in range(3)]
    for out in outs:
        torch.testing.assert_close(out, torch.from_numpy(numpy_pool(x.numpy(), 4, 4)))
    assert torch.equal(gen.get_state(), state)  # no draw in eval


def test_frequency_dropout_in_training_is_seeded_and_matches_numpy() -> None:
    c = frequency_dropout_lower(1, 4)
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    first = SpectralPool2d(8, dropout_lower=c, generator=torch.Generator().manual_seed(11)).train()
    second = SpectralPool2d(8, dropout_lower=c, generator=torch.Generator().manual_seed(11)).train()
    reference_draws = torch.rand(5, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    outs = []
    for u in reference_draws.tolist():
        keep = c + (1 - c) * u
        out = first(x)
        torch.testing.assert_close(out, second(x))
        np.testing.assert_allclose(out.numpy(), numpy_pool(x.numpy(), 8, 8, keep), atol=1e-12)
        outs.append(out)
    assert any((a - b).abs().max() > 1e-6 for a, b in zip(outs, outs[1:]))
    assert not torch.allclose(outs[0], spectral_pool2d(x, 8))


def test_dropout_fraction_is_uniform_between_bound_and_one() -> None:
    pool = SpectralPool2d(8, dropout_lower=0.3, generator=torch.Generator().manual_seed(0))
    draws = np.array([pool.draw_keep() for _ in range(4000)])
    assert draws.min() >= 0.3 and draws.max() < 1.0
    # U[0.3, 1]: mean 0.65, sd 0.7 / sqrt(12); 4000 draws give a standard error of 0.0032
    assert abs(draws.mean() - 0.65) < 0.015
    assert abs(draws.std() - 0.7 / np.sqrt(12)) < 0.01
