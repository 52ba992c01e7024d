"""The radial statistic's two exact computations (quadratic form for small kernels, padded FFT for
large ones) against the seed's numpy procedure on both sides of the switch, and the padded spectra."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freqbench.ops.filter_stats import FORM_MAX_FACTOR, kernel_power_spectrum, radial_frequency_statistic


def numpy_power(kernel: np.ndarray, grid: int) -> np.ndarray:
    padded = np.zeros((grid, grid))
    padded[: kernel.shape[0], : kernel.shape[1]] = kernel
    p = np.fft.fftshift(np.abs(np.fft.fft2(padded)) ** 2)
    return p / p.sum()


def numpy_statistic(kernel: np.ndarray, grid: int) -> float:
    f = np.abs(np.arange(grid) - grid // 2)
    return float(np.mean(np.sqrt(f[:, None] ** 2 + f[None, :] ** 2) * numpy_power(kernel, grid)))


@pytest.mark.parametrize(
    ("size", "grid"),
    [((3, 3), 33), ((2, 5), 9), ((11, 11), 33), ((12, 12), 33), ((32, 32), 32), ((8, 6), 8)],
)
def test_both_paths_match_numpy(size: tuple[int, int], grid: int) -> None:
    rng = np.random.default_rng(size[0] * 100 + grid)
    kernels = rng.standard_normal((5, *size))
    uses_form = size[0] * size[1] <= FORM_MAX_FACTOR * grid
    assert uses_form == ((size, grid) in {((3, 3), 33), ((2, 5), 9), ((11, 11), 33)})
    got = radial_frequency_statistic(torch.from_numpy(kernels), grid=grid).numpy()
    np.testing.assert_allclose(got, [numpy_statistic(k, grid) for k in kernels], rtol=1e-11)


def test_power_spectrum_matches_numpy_and_zero_slice_is_nan() -> None:
    kernels = np.random.default_rng(3).standard_normal((2, 4, 3))
    got = kernel_power_spectrum(torch.from_numpy(kernels), grid=9).numpy()
    np.testing.assert_allclose(got, [numpy_power(k, 9) for k in kernels], atol=1e-14)
    assert torch.isnan(kernel_power_spectrum(torch.zeros(3, 3))).all()
    assert torch.isnan(radial_frequency_statistic(torch.zeros(2, 12, 12))).all()
