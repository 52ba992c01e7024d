"""The radial frequency statistic of learned convolution kernels.

The statistic of kakshak07/Frequency-response-characterization-of-CNNs (REFERENCE.md section 4): a 2-D
kernel slice (one input channel of one filter) is zero-padded to ``grid x grid`` (33 x 33 by default: a
3x3 kernel padded by 15), its power spectrum ``P = fftshift(|fft2|^2)`` is normalised to sum 1, and
the statistic is ``mean(r * P)`` over the grid, where ``r = sqrt(X^2 + Y^2)`` is the radius on the
folded integer frequency grid (16..1, 0, 1..16 for 33). Equivalently it is the spectral-centroid
radius ``sum(r * P)`` divided by ``grid^2``: larger values mean the kernel's energy sits at higher
spatial frequencies. Where the kernel sits inside the padded grid does not matter (a circular shift
changes only the phase), so the kernel is padded at the end.

Reference values for 3x3 kernels on the 33-grid (checked in ``tests/ops/test_ops_filter_stats.py``
against a numpy computation): centred delta 0.011590, 3x3 box 0.005552, 4-neighbour Laplacian
0.014838, 3x3 checkerboard 0.016889.

An all-zero slice has no power spectrum to normalise; its statistic is NaN (undefined), not 0.

Shape:
    kernels (..., kh, kw) -> (...).
"""

from __future__ import annotations

import functools

import torch

#: the padded grid size of the reference implementation
DEFAULT_GRID = 33


@functools.lru_cache(maxsize=16)
def folded_radius(grid: int, device: torch.device) -> torch.Tensor:
    """Radius of each bin of the ``fftshift``-ed ``grid x grid`` spectrum on the folded integer grid.

    Shape:
        (grid, grid), float64.

    >>> folded_radius(3, torch.device("cpu"))[0].square().round().tolist()
    [2.0, 1.0, 2.0]
    """
    f = (torch.arange(grid, dtype=torch.float64, device=device) - grid // 2).abs()
    return torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)


def _shifted_power(kernels: torch.Tensor, grid: int) -> torch.Tensor:
    """``fftshift(|fft2|^2)`` of each slice zero-padded to ``grid x grid``, in float64."""
    if kernels.dim() < 2 or kernels.is_complex():
        raise ValueError(
            f"expected real kernels (..., kh, kw), got shape {tuple(kernels.shape)} {kernels.dtype}"
        )
    kh, kw = kernels.shape[-2:]
    if grid < max(kh, kw):
        raise ValueError(f"grid {grid} is smaller than the kernel ({kh}x{kw}); pass grid >= {max(kh, kw)}")
    k = kernels.to(torch.float64)
    return torch.fft.fftshift(torch.fft.fft2(k, s=(grid, grid)).abs() ** 2, dim=(-2, -1))


def kernel_power_spectrum(kernels: torch.Tensor, *, grid: int = DEFAULT_GRID) -> torch.Tensor:
    """The normalised power spectrum ``P`` of each 2-D slice, the one the statistic weighs by radius.

    ``fftshift(|fft2|^2)`` of the slice zero-padded to ``grid x grid`` (low frequencies at the centre),
    divided by its sum; NaN for an all-zero slice.

    Shape:
        (..., kh, kw) -> (..., grid, grid), float64.

    >>> p = kernel_power_spectrum(torch.ones(3, 3))
    >>> tuple(p.shape), round(p.sum().item(), 12), p.argmax().item() == 16 * 33 + 16
    ((33, 33), 1.0, True)
    """
    power = _shifted_power(kernels, grid)
    return power / power.sum(dim=(-2, -1), keepdim=True)


def radial_frequency_statistic(kernels: torch.Tensor, *, grid: int = DEFAULT_GRID) -> torch.Tensor:
    """``mean(r * P)`` of each 2-D kernel slice, P its normalised power spectrum on a ``grid`` grid.

    Args:
        kernels: real kernels, the last two dimensions spatial (a conv weight ``(O, I, kh, kw)``).
        grid: the zero-padded size (33 in the reference); at least the kernel size.

    Returns:
        The statistic of each slice, in the kernels' floating dtype (computed in float64); NaN for an
        all-zero slice.

    Shape:
        (..., kh, kw) -> (...).

    >>> delta = torch.zeros(3, 3, dtype=torch.float64); delta[1, 1] = 1.0
    >>> round(radial_frequency_statistic(delta).item(), 6)
    0.01159
    """
    out_dtype = kernels.dtype if kernels.is_floating_point() else torch.float64
    power = _shifted_power(kernels, grid)
    total = power.sum(dim=(-2, -1))
    centroid = (power * folded_radius(grid, power.device)).sum(dim=(-2, -1))
    # an all-zero slice gives 0/0 = NaN: the statistic is undefined there, and NaN says so
    return (centroid / total / (grid * grid)).to(out_dtype)
