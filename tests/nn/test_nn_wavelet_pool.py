"""Wavelet pooling against PyWavelets' own ``dwt2`` (Lee et al., JOSS 2019)."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch

from freqbench.errors import ConfigError
from freqbench.nn.wavelet_pool import MODES, WaveletPool2d, output_length, wavelet_pool2d

WAVELETS = ["haar", "db2", "db3", "sym4", "coif1", "bior2.2"]
SIZES = [(8, 8), (7, 9), (16, 11), (3, 5), (2, 2)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("wavelet", WAVELETS)
def test_equals_pywt_dwt2_ll(wavelet: str, mode: str) -> None:
    rng = np.random.default_rng(0)
    for size in SIZES:
        x = rng.standard_normal((2, 3, *size))
        expected, _ = pywt.dwt2(x, wavelet, mode=mode)
        got = wavelet_pool2d(torch.from_numpy(x), wavelet, mode=mode)
        assert got.shape == expected.shape, (size, got.shape, expected.shape)
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-12)
        length = pywt.Wavelet(wavelet).dec_len
        assert [output_length(n, length, mode) for n in size] == [
            pywt.dwt_coeff_len(n, length, mode) for n in size
        ]


def test_filters_come_from_pywavelets_and_stay_out_of_the_state_dict() -> None:
    pool = WaveletPool2d("db2")
    np.testing.assert_array_equal(pool.lowpass.numpy(), np.asarray(pywt.Wavelet("db2").dec_lo))
    assert pool.state_dict() == {}


def test_periodization_halves_and_the_module_matches_pywt_in_float32() -> None:
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    pool = WaveletPool2d("db2")
    out = pool(x)
    assert out.shape == (4, 3, 16, 16) and out.dtype == torch.float32
    expected, _ = pywt.dwt2(x.double().numpy(), "db2", mode="periodization")
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("wavelet", ["haar", "db2", "bior2.2"])
def test_mean_preserving_convention(wavelet: str) -> None:
    const = torch.full((1, 2, 8, 6), 0.4, dtype=torch.float64)
    # the orthonormal DWT scales a constant by sum(dec_lo)^2 = 2
    torch.testing.assert_close(
        wavelet_pool2d(const, wavelet), torch.full((1, 2, 4, 3), 0.8, dtype=torch.float64)
    )
    pooled = WaveletPool2d(wavelet, mean_preserving=True)(const)
    torch.testing.assert_close(pooled, torch.full((1, 2, 4, 3), 0.4, dtype=torch.float64))
    x = np.random.default_rng(2).standard_normal((1, 1, 8, 8))
    expected = pywt.dwt2(x, wavelet, mode="periodization")[0] / np.sum(pywt.Wavelet(wavelet).dec_lo) ** 2
    got = WaveletPool2d(wavelet, mean_preserving=True)(torch.from_numpy(x))
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("mode", ["periodization", "symmetric", "zero"])
def test_gradcheck(mode: str) -> None:
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: wavelet_pool2d(t, "db2", mode=mode), (x,))


def test_errors_name_the_choices() -> None:
    with pytest.raises(ConfigError, match="closest PyWavelets names: .*db2"):
        WaveletPool2d("db2x")
    with pytest.raises(ConfigError, match="unknown discrete wavelet 'morl'"):
        WaveletPool2d("morl")  # continuous: no filter bank
    with pytest.raises(ConfigError, match="boundary mode 'smooth'"):
        WaveletPool2d("haar", mode="smooth")
    with pytest.raises(ConfigError, match=r"\(B, C, H, W\)"):
        WaveletPool2d("haar")(torch.rand(8, 8))
