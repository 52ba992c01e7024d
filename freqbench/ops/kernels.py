"""Gaussian kernels with SciPy's arithmetic: the 1-D taps and the reflect-border filter matrix.

``scipy.ndimage.gaussian_filter1d(v, sigma, truncate=t)`` correlates ``v`` with the taps
``exp(-0.5 / sigma^2 * k^2)``, ``k = -r..r``, ``r = int(t * sigma + 0.5)``, normalised to sum 1.
:func:`gaussian_taps` computes them with numpy in SciPy's order of operations (``gaussian_kernel1d``
in ``scipy/ndimage/_filters.py``), so they equal SciPy's bit for bit; the CIFAR-10-C corruptions need
that, because their final truncation to 8-bit levels turns last-bit differences into level differences.

:func:`gaussian_reflect_matrix` folds those taps and SciPy's ``reflect`` border (the half-sample
symmetric extension ``d c b a | a b c d | d c b a``, repeated when the kernel is wider than the
signal) into an n x n matrix ``G`` with ``gaussian_filter1d(v, sigma, mode='reflect') = G @ v``. A
separable 2-D blur of (..., H, W) planes is then ``G_H @ x @ G_W.T``, for any radius (sigma 20 on 32
pixels included). Both the seed study's ``gaussian_filter`` perturbation and the displacement field of
the elastic transform use it.
"""

from __future__ import annotations

import functools

import numpy as np
import torch


def gaussian_taps(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """SciPy's normalised Gaussian taps for ``sigma`` and ``truncate``, bit for bit.

    Args:
        sigma: standard deviation in samples, > 0.
        truncate: the radius in standard deviations, ``r = int(truncate * sigma + 0.5)``.

    Shape:
        returns (2 r + 1,) float64.

    >>> gaussian_taps(1.0, 1.0).round(4).tolist()
    [0.2741, 0.4519, 0.2741]
    """
    radius = int(truncate * sigma + 0.5)
    k = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * k**2)
    return phi / phi.sum()


@functools.lru_cache(maxsize=64)
def _reflect_matrix(n: int, sigma: float, truncate: float) -> np.ndarray:
    taps = gaussian_taps(sigma, truncate)
    radius = len(taps) // 2
    rows = np.arange(n)[:, None]
    src = (rows + np.arange(-radius, radius + 1)[None, :]) % (2 * n)
    src = np.where(src >= n, 2 * n - 1 - src, src)
    m = np.zeros((n, n), dtype=np.float64)
    # taps that fold onto the same column add up in tap order, left to right
    np.add.at(m, (np.broadcast_to(rows, src.shape), src), np.broadcast_to(taps, src.shape))
    m.setflags(write=False)
    return m


@functools.lru_cache(maxsize=128)
def gaussian_reflect_matrix(
    n: int,
    sigma: float,
    *,
    truncate: float = 4.0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """The matrix of ``scipy.ndimage.gaussian_filter1d(sigma, mode='reflect', truncate=truncate)``.

    Built in float64 from :func:`gaussian_taps` and then cast to ``dtype``; cached per arguments, so
    treat the result as read-only.

    Args:
        n: signal length.
        sigma: standard deviation in samples, > 0.
        truncate: the radius in standard deviations.
        device, dtype: where and in which precision to return it.

    Shape:
        returns (n, n).

    >>> g = gaussian_reflect_matrix(4, 20.0)  # radius 80 on 4 samples: every tap folds back inside
    >>> g.shape, bool(torch.allclose(g.sum(1), torch.ones(4, dtype=torch.float64)))
    (torch.Size([4, 4]), True)
    """
    return torch.from_numpy(_reflect_matrix(int(n), float(sigma), float(truncate)).copy()).to(
        device=device, dtype=dtype
    )


__all__ = ["gaussian_reflect_matrix", "gaussian_taps"]
