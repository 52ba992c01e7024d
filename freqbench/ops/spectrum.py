"""Radially averaged power spectra and band energy fractions.

Used for the spectra of perturbations (delta = x' - x) stored with every condition, and by probes.
The radius of a bin is its exact distance from DC in cycles per image
(:func:`freqbench.ops.masks.radial_grid`, full ``fft2`` plane, the same radius the filter masks use).

Two uses, two binnings:

- **spectra** (:func:`radial_power_spectrum`, :func:`radial_energy`) are histograms for plots: a bin
  at radius r is counted at the integer radius ``round(r)``, from 0 to ``round(r_max)``.
- **band energy** (:func:`band_energy`, :func:`band_fractions`) compares the *exact* radius with the
  band edges, never a rounded one: with Nyquist radius ``N = min(H, W) / 2`` and edges
  ``(e1, e2) = (1/3, 2/3)`` the bands are low ``r <= e1 N``, mid ``e1 N < r <= e2 N``, high
  ``r > e2 N`` (the same ``<=`` convention as the ideal low-pass mask, which keeps ``r <= R``; a
  radius within a relative 1e-9 of an edge counts as on it, so float rounding cannot move a bin).
  A cosine at (5, 2) on 32x32 has r = sqrt(29) = 5.385 > 16/3 = 5.333: mid.

Fractions come in two kinds, and the engine stores both (``freqbench.engine.loop``):

- *energy-weighted over the dataset*: ``band_fractions(band_energy(delta).sum(0))``, the share of all
  the perturbation energy of the dataset that lies in each band; large perturbations weigh more.
- *per sample*: ``band_fractions(band_energy(delta))``, one row per image; their mean weighs every
  image equally.

Shape:
    ``radial_power_spectrum``: (B, C, H, W) -> (B, R) with R = number of integer radii;
    ``band_energy``: (B, C, H, W) -> (B, K) with K = len(edges) + 1.
"""

from __future__ import annotations

import functools

import torch

from freqbench.ops.masks import radial_grid

#: the default low / mid / high split, as fractions of the largest radius on the axes (Nyquist)
DEFAULT_BAND_EDGES = (1.0 / 3.0, 2.0 / 3.0)
#: relative tolerance within which a radius counts as equal to an edge
_EDGE_RTOL = 1e-9


@functools.lru_cache(maxsize=32)
def _radial_bins(height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    r = radial_grid(height, width, half=False, device=device).round().long().flatten()
    counts = torch.bincount(r).to(torch.float64)
    return r, counts


@functools.lru_cache(maxsize=32)
def _band_index(height: int, width: int, edges: tuple[float, ...], device: torch.device) -> torch.Tensor:
    """Band number of each full-plane bin from its exact radius (see the module docstring)."""
    if any(not 0.0 < e for e in edges) or any(a >= b for a, b in zip(edges[:-1], edges[1:])):
        raise ValueError(f"band edges must be increasing positive fractions of Nyquist, got {edges}")
    nyquist = min(height, width) / 2.0
    # a radius equal to an edge up to float rounding (e.g. 3 * 7/9 against 2/3 * 7/2) is on the edge
    bounds = torch.tensor([e * nyquist * (1 + _EDGE_RTOL) for e in edges], dtype=torch.float64, device=device)
    r = radial_grid(height, width, half=False, device=device).flatten()
    # right=False: index i with bounds[i-1] < r <= bounds[i], i.e. an edge radius belongs to the band below
    return torch.bucketize(r, bounds, right=False)


def _power(x: torch.Tensor) -> torch.Tensor:
    """|FFT|^2 per full-plane bin (orthonormal FFT), averaged over channels: (B, C, H, W) -> (B, H*W)."""
    if x.dim() != 4:
        raise ValueError(f"expected (B, C, H, W), got {tuple(x.shape)}")
    return torch.fft.fft2(x.double(), norm="ortho").abs().square().mean(dim=1).flatten(1)


def radial_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean of a full-plane (unshifted ``fft2`` layout) quantity per integer radius ``round(r)``,
    the binning of :func:`radial_power_spectrum` (e.g. the radial profile of a Fourier mask).

    Shape:
        (..., H, W) -> (..., R), float64, R = round(r_max) + 1.

    >>> radial_mean(torch.ones(2, 4, 4)).tolist()
    [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """
    h, w = values.shape[-2:]
    r, counts = _radial_bins(h, w, values.device)
    flat = values.reshape(-1, h * w).to(torch.float64)
    sums = torch.zeros(flat.shape[0], counts.numel(), dtype=torch.float64, device=values.device)
    sums.index_add_(1, r, flat)
    return (sums / counts).reshape(*values.shape[:-2], counts.numel())


def radial_power_spectrum(x: torch.Tensor) -> torch.Tensor:
    """Mean |FFT|^2 per integer radius, averaged over channels (orthonormal FFT, so the sum over
    all bins equals the image's squared L2 norm per channel).

    Shape:
        (B, C, H, W) -> (B, R), float64.
    """
    return radial_mean(_power(x).view(x.shape[0], x.shape[-2], x.shape[-1]))


def radial_energy(x: torch.Tensor) -> torch.Tensor:
    """Total |FFT|^2 per integer radius (sum, not mean), averaged over channels.

    Shape:
        (B, C, H, W) -> (B, R), float64.
    """
    _, counts = _radial_bins(x.shape[-2], x.shape[-1], x.device)
    return radial_power_spectrum(x) * counts


def band_energy(x: torch.Tensor, *, edges: tuple[float, ...] = DEFAULT_BAND_EDGES) -> torch.Tensor:
    """Energy (|FFT|^2 summed over the bins of each band, averaged over channels) per band.

    Bins are assigned by their exact radius (see the module docstring); the bands sum to the squared
    L2 norm per channel (Parseval, orthonormal FFT).

    Args:
        x: images or perturbations (B, C, H, W).
        edges: increasing fractions of the Nyquist radius ``min(H, W) / 2``.

    Shape:
        (B, C, H, W) -> (B, len(edges) + 1), float64.
    """
    power = _power(x)
    idx = _band_index(x.shape[-2], x.shape[-1], tuple(float(e) for e in edges), x.device)
    out = torch.zeros(x.shape[0], len(edges) + 1, dtype=torch.float64, device=x.device)
    out.index_add_(1, idx, power)
    return out


def band_fractions(energy: torch.Tensor) -> torch.Tensor:
    """Fractions of the energy in each band: ``energy / energy.sum(-1)``, NaN where the sum is 0.

    Pass per-sample energies (B, K) for per-sample fractions, or their sum over samples (K,) for the
    dataset-level energy-weighted fractions (module docstring). A zero perturbation has no fraction
    (NaN), rather than a made-up one.

    Shape:
        (..., K) -> (..., K), float64.

    >>> band_fractions(torch.tensor([1.0, 3.0, 0.0])).tolist()
    [0.25, 0.75, 0.0]
    """
    e = energy.double()
    total = e.sum(-1, keepdim=True)
    return torch.where(total > 0, e / total.clamp_min(torch.finfo(torch.float64).tiny), torch.nan)
