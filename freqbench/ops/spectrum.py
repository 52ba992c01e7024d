"""Radially averaged power spectra and band energy fractions.

Used for the spectra of perturbations (delta = x' - x) stored with every condition, and by probes.
The radius of a bin is its distance from DC in cycles per image (``freqbench.ops.masks.radial_grid``,
full plane); bins are integer radii ``round(r)`` from 0 to ``round(r_max)``.

Shape:
    ``radial_power_spectrum``: (B, C, H, W) -> (B, R) with R = number of integer radii.
"""

from __future__ import annotations

import functools

import torch

from freqbench.ops.masks import radial_grid

#: the default low / mid / high split, as fractions of the largest radius on the axes (Nyquist)
DEFAULT_BAND_EDGES = (1.0 / 3.0, 2.0 / 3.0)


@functools.lru_cache(maxsize=32)
def _radial_bins(height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    r = radial_grid(height, width, half=False, device=device).round().long().flatten()
    counts = torch.bincount(r).to(torch.float64)
    return r, counts


def radial_power_spectrum(x: torch.Tensor) -> torch.Tensor:
    """Mean |FFT|^2 per integer radius, averaged over channels (orthonormal FFT, so the sum over
    all bins equals the image's squared L2 norm per channel).

    Shape:
        (B, C, H, W) -> (B, R), float64.
    """
    if x.dim() != 4:
        raise ValueError(f"expected (B, C, H, W), got {tuple(x.shape)}")
    b, c, h, w = x.shape
    power = torch.fft.fft2(x.double(), norm="ortho").abs().square().mean(dim=1).reshape(b, -1)
    r, counts = _radial_bins(h, w, x.device)
    sums = torch.zeros(b, counts.numel(), dtype=torch.float64, device=x.device)
    sums.index_add_(1, r, power)
    return sums / counts


def radial_energy(x: torch.Tensor) -> torch.Tensor:
    """Total |FFT|^2 per integer radius (sum, not mean), averaged over channels.

    Shape:
        (B, C, H, W) -> (B, R), float64.
    """
    b, c, h, w = x.shape
    _, counts = _radial_bins(h, w, x.device)
    return radial_power_spectrum(x) * counts


def band_fractions(
    energy: torch.Tensor, *, size: tuple[int, int], edges: tuple[float, ...] = DEFAULT_BAND_EDGES
) -> torch.Tensor:
    """Fraction of energy in each band, bands split at ``edges`` x Nyquist radius.

    Args:
        energy: per-radius energy from :func:`radial_energy` (..., R).
        size: (H, W) of the images the energy came from.
        edges: increasing fractions of the Nyquist radius min(H, W) / 2.

    Shape:
        (..., R) -> (..., len(edges) + 1).
    """
    nyquist = min(size) / 2.0
    radii = torch.arange(energy.shape[-1], dtype=torch.float64, device=energy.device)
    bounds = [-1.0, *[e * nyquist for e in edges], float("inf")]
    parts = [energy[..., (radii > lo) & (radii <= hi)].sum(-1) for lo, hi in zip(bounds[:-1], bounds[1:])]
    total = energy.sum(-1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)
    return torch.stack(parts, dim=-1) / total
