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

The statistic of a small kernel is computed exactly without the padded FFT, as a quadratic form of
the kernel (:func:`_radius_form`, ``(kh kw)^2`` multiply-adds per slice); from ``kh kw > 4 grid`` on
(11 x 11 kernels stay below it on the 33-grid, 32 x 32 images on their own 32-grid do not) the padded
FFT is cheaper and is used. Both are exact up to rounding. :func:`kernel_power_spectrum` gives the
padded spectra themselves.

An all-zero slice has no power spectrum to normalise; its statistic is NaN (undefined), not 0.

Shape:
    kernels (..., kh, kw) -> (...).
"""

from __future__ import annotations

import functools

import torch

#: the padded grid size of the reference implementation
DEFAULT_GRID = 33
#: kernels with kh * kw <= this times the grid use the quadratic form, larger ones (images) the FFT
FORM_MAX_FACTOR = 4


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


def _check(kernels: torch.Tensor, grid: int) -> tuple[int, int]:
    """(kh, kw) of real kernels that fit the grid."""
    if kernels.dim() < 2 or kernels.is_complex():
        raise ValueError(
            f"expected real kernels (..., kh, kw), got shape {tuple(kernels.shape)} {kernels.dtype}"
        )
    kh, kw = kernels.shape[-2:]
    if grid < max(kh, kw):
        raise ValueError(f"grid {grid} is smaller than the kernel ({kh}x{kw}); pass grid >= {max(kh, kw)}")
    return int(kh), int(kw)


def _shifted_power(kernels: torch.Tensor, grid: int) -> torch.Tensor:
    """``fftshift(|fft2|^2)`` of each slice zero-padded to ``grid x grid``, in float64."""
    _check(kernels, grid)
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
    kh, kw = _check(kernels, grid)
    out_dtype = kernels.dtype if kernels.is_floating_point() else torch.float64
    if kh * kw <= FORM_MAX_FACTOR * grid:
        k = kernels.to(torch.float64).reshape(*kernels.shape[:-2], kh * kw)
        centroid = ((k @ _radius_form(kh, kw, grid, k.device)) * k).sum(dim=-1)
        # Parseval: sum |fft2|^2 over the grid = grid^2 * sum k^2
        total = k.square().sum(dim=-1) * (grid * grid)
    else:
        power = _shifted_power(kernels, grid)
        centroid = (power * folded_radius(grid, power.device)).sum(dim=(-2, -1))
        total = power.sum(dim=(-2, -1))
    # an all-zero slice gives 0/0 = NaN: the statistic is undefined there, and NaN says so
    return (centroid / total / (grid * grid)).to(out_dtype)


@functools.lru_cache(maxsize=32)
def _radius_form(kh: int, kw: int, grid: int, device: torch.device) -> torch.Tensor:
    """The matrix Q with ``sum(r * |fft2(k, s=(grid, grid))|^2) = vec(k)^T Q vec(k)``.

    ``Q[(a, b), (c, d)] = sum_{u, v} r[u, v] cos(2 pi (u (c - a) + v (d - b)) / grid) = T[c - a, d - b]``
    with ``T = Re(fft2(r))`` (r in the unshifted layout), so the statistic of a slice costs
    ``(kh kw)^2`` multiply-adds instead of a padded ``grid x grid`` FFT: exact, and about a hundred
    times faster on 3x3 kernels (a ResNet-18 has 1.2 million slices).

    Shape:
        (kh * kw, kh * kw), float64.
    """
    r = torch.fft.ifftshift(folded_radius(grid, device))
    t = torch.fft.fft2(r).real
    a = torch.arange(kh, device=device)
    b = torch.arange(kw, device=device)
    dy = torch.remainder(a[None, :] - a[:, None], grid)  # [a, c] -> c - a
    dx = torch.remainder(b[None, :] - b[:, None], grid)  # [b, d] -> d - b
    form = t[dy[:, None, :, None], dx[None, :, None, :]]  # [a, b, c, d]
    return form.reshape(kh * kw, kh * kw)
