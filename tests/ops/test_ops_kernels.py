"""SciPy's Gaussian taps and reflect-border filter matrix (freqbench.ops.kernels) against SciPy itself."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as nd
import torch

from freqbench.ops.kernels import gaussian_reflect_matrix, gaussian_taps


@pytest.mark.parametrize("sigma", [0.05, 0.4, 0.96, 1, 1.28, 1.92, 2.5, 6.4, 20.0])
@pytest.mark.parametrize("truncate", [3.0, 4.0])
def test_taps_are_scipys_bit_for_bit(sigma: float, truncate: float) -> None:
    # scipy's own 1-D filter of a unit impulse returns its taps (reversed: correlation), exactly
    radius = int(truncate * sigma + 0.5)
    impulse = np.zeros(4 * radius + 1)
    impulse[2 * radius] = 1.0
    response = nd.gaussian_filter1d(impulse, sigma, truncate=truncate, mode="constant")
    expected = response[radius : 3 * radius + 1]
    assert np.array_equal(gaussian_taps(sigma, truncate), expected[::-1])


@pytest.mark.parametrize("n", [1, 2, 5, 28, 32])
@pytest.mark.parametrize("sigma", [0.5, 0.96, 2.0, 6.4, 20.0])
@pytest.mark.parametrize("truncate", [3.0, 4.0])
def test_matrix_is_scipys_reflect_filter(n: int, sigma: float, truncate: float) -> None:
    # radius up to 80 on 1..32 samples: taps fold back into the signal several times
    v = np.random.default_rng(n).random((n, 3))
    expected = nd.gaussian_filter1d(v, sigma, axis=0, mode="reflect", truncate=truncate)
    g = gaussian_reflect_matrix(n, sigma, truncate=truncate)
    assert g.shape == (n, n) and g.dtype == torch.float64
    np.testing.assert_allclose((g @ torch.from_numpy(v)).numpy(), expected, rtol=0, atol=1e-15)


def test_matrix_dtype_device_and_cache() -> None:
    a = gaussian_reflect_matrix(8, 1.5, dtype=torch.float32)
    assert a.dtype == torch.float32 and a.device.type == "cpu"
    assert torch.equal(a, gaussian_reflect_matrix(8, 1.5).to(torch.float32))
    assert gaussian_reflect_matrix(8, 1.5, dtype=torch.float32) is a
