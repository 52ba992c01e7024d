"""The radial frequency statistic of kernels (REFERENCE.md section 4) against its published unit values
and an independent numpy computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freqbench.ops.filter_stats import radial_frequency_statistic


def numpy_statistic(kernel: np.ndarray, grid: int = 33) -> float:
    """The reference recipe: centred zero-padding, fftshift(|fft2|^2) / sum, mean(r * P)."""
    kh, kw = kernel.shape
    padded = np.zeros((grid, grid))
    top, left = (grid - kh) // 2, (grid - kw) // 2
    padded[top : top + kh, left : left + kw] = kernel
    power = np.fft.fftshift(np.abs(np.fft.fft2(padded)) ** 2)
    power /= power.sum()
    folded = np.abs(np.arange(grid) - grid // 2)
    r = np.hypot(folded[:, None], folded[None, :])
    return float((r * power).mean())


UNIT_KERNELS = {
    "centred delta": ([[0, 0, 0], [0, 1, 0], [0, 0, 0]], 0.011590),
    "3x3 box": ([[1 / 9] * 3] * 3, 0.005552),
    "4-neighbour Laplacian": ([[0, 1, 0], [1, -4, 1], [0, 1, 0]], 0.014838),
    "3x3 checkerboard": ([[1, -1, 1], [-1, 1, -1], [1, -1, 1]], 0.016889),
}


@pytest.mark.parametrize("name", list(UNIT_KERNELS))
def test_reference_unit_values(name: str) -> None:
    kernel, expected = UNIT_KERNELS[name]
    got = radial_frequency_statistic(torch.tensor(kernel, dtype=torch.float64)).item()
    assert round(got, 6) == expected


@pytest.mark.parametrize("shape", [(4, 3, 3, 3), (2, 5, 5), (7, 7), (3, 2, 4), (1, 1, 1)])
def test_matches_numpy_on_random_kernels(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(shape))
    kernels = rng.standard_normal(shape)
    got = radial_frequency_statistic(torch.from_numpy(kernels))
    assert got.shape == shape[:-2]
    flat = kernels.reshape(-1, *shape[-2:])
    expected = np.array([numpy_statistic(k) for k in flat]).reshape(shape[:-2])
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_other_grid_and_dtype() -> None:
    kernel = torch.randn(2, 3, 3, generator=torch.Generator().manual_seed(1))
    got = radial_frequency_statistic(kernel, grid=17)
    assert got.dtype == torch.float32
    expected = [numpy_statistic(k.double().numpy(), grid=17) for k in kernel]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)


def test_zero_kernel_is_nan_and_bad_grid_raises() -> None:
    out = radial_frequency_statistic(torch.zeros(2, 3, 3))
    assert torch.isnan(out).all()
    with pytest.raises(ValueError, match="grid 3 is smaller"):
        radial_frequency_statistic(torch.ones(5, 5), grid=3)
