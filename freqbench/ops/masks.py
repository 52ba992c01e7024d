"""Radial frequency grids and filter masks on the ``rfft2`` half plane.

Frequencies are measured in cycles per image. For an H x W image the frequency of bin (ky, kx) has
radius ``r = sqrt((ky * S / H)^2 + (kx * S / W)^2)`` with S = min(H, W), so on square images r is simply
the integer frequency index distance from DC and a cutoff ``R`` means the same on 28x28 and 32x32.

Profiles of a low-pass mask with cutoff R (Gonzalez & Woods, *Digital Image Processing*, ch. 4):

- ``ideal``: 1 where r <= R, else 0.
- ``gaussian``: exp(-r^2 / (2 R^2)) (R is the standard deviation in frequency).
- ``butterworth``: 1 / (1 + (r / R)^(2n)), order n (default 2).

High-pass is 1 - low-pass; band-pass (R1, R2) is low-pass(R2) * high-pass(R1), which for the ideal
profile keeps R1 < r <= R2.

Masks are computed in float64 and cached per (kind, parameters, size, device, dtype): building one
costs a few kernels, and sweeps reuse the same mask for every batch. Build a mask in the precision its
spectrum is computed in (:func:`spectrum_dtype` of the images: float64 for float64 images), otherwise
the Gaussian and Butterworth weights are rounded to float32 before they reach a float64 spectrum.

Shape:
    masks are (H, W // 2 + 1), real, matching ``torch.fft.rfft2`` of an H x W image.
"""

from __future__ import annotations

import functools
from enum import StrEnum

import torch

from freqbench.ops.spectral_mask import apply_spectral_mask


class Profile(StrEnum):
    IDEAL = "ideal"
    GAUSSIAN = "gaussian"
    BUTTERWORTH = "butterworth"


class Band(StrEnum):
    LOW = "low"
    HIGH = "high"
    BAND = "band"


def spectrum_dtype(dtype: torch.dtype) -> torch.dtype:
    """The real dtype ``torch.fft.rfft2`` computes in for images of ``dtype`` (half and bfloat16 are
    promoted to float32 by :func:`apply_rfft_mask`), i.e. the dtype to build their masks in.

    >>> spectrum_dtype(torch.float64), spectrum_dtype(torch.float16)
    (torch.float64, torch.float32)
    """
    return torch.float64 if dtype == torch.float64 else torch.float32


def radial_grid(
    height: int, width: int, *, half: bool = True, device: torch.device | str | None = None
) -> torch.Tensor:
    """Radius in cycles per image of each frequency bin.

    Args:
        height, width: image size.
        half: the ``rfft2`` half plane (H, W//2+1); otherwise the full ``fft2`` grid (H, W), unshifted.

    Shape:
        (H, W//2+1) or (H, W), float64.

    >>> radial_grid(4, 4)[1, 1].item() == 2 ** 0.5
    True
    """
    s = min(height, width)
    ky = torch.fft.fftfreq(height, d=1.0 / height, dtype=torch.float64, device=device) * (s / height)
    freq = torch.fft.rfftfreq if half else torch.fft.fftfreq
    kx = freq(width, d=1.0 / width, dtype=torch.float64, device=device) * (s / width)
    return torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)


def _low(r: torch.Tensor, cutoff: float, profile: Profile, order: int) -> torch.Tensor:
    if cutoff < 0:
        raise ValueError(f"cutoff must be >= 0, got {cutoff}")
    if profile is Profile.IDEAL:
        return (r <= cutoff).to(r.dtype)
    if cutoff == 0:
        return (r == 0).to(r.dtype)
    if profile is Profile.GAUSSIAN:
        return torch.exp(-(r**2) / (2.0 * cutoff**2))
    return 1.0 / (1.0 + (r / cutoff) ** (2 * order))


@functools.lru_cache(maxsize=256)
def _mask_cached(
    band: Band,
    cutoffs: tuple[float, ...],
    profile: Profile,
    order: int,
    height: int,
    width: int,
    half: bool,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    r = radial_grid(height, width, half=half, device=device)
    if band is Band.LOW:
        m = _low(r, cutoffs[0], profile, order)
    elif band is Band.HIGH:
        m = 1.0 - _low(r, cutoffs[0], profile, order)
    else:
        lo, hi = cutoffs
        if not lo < hi:
            raise ValueError(f"band-pass needs low < high cutoff, got {lo} and {hi}")
        m = _low(r, hi, profile, order) * (1.0 - _low(r, lo, profile, order))
    return m.to(dtype)


def frequency_mask(
    band: Band | str,
    cutoffs: float | tuple[float, ...],
    size: tuple[int, int],
    *,
    profile: Profile | str = Profile.IDEAL,
    order: int = 2,
    half: bool = True,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """A cached low-, high- or band-pass mask.

    Args:
        band: ``low``, ``high`` or ``band``.
        cutoffs: R for low/high, (R1, R2) for band, in cycles per image.
        size: (H, W) of the image.
        profile: ``ideal``, ``gaussian`` or ``butterworth``.
        order: Butterworth order.
        half: rfft2 half plane (default) or the full fft2 grid.
        dtype: the mask's dtype; pass ``spectrum_dtype(x.dtype)`` for images ``x`` (float64 images
            need a float64 mask: a float32 one rounds the Gaussian and Butterworth weights).

    Shape:
        (H, W//2+1) if ``half`` else (H, W).
    """
    band = Band(band)
    cut = (float(cutoffs),) if isinstance(cutoffs, (int, float)) else tuple(float(c) for c in cutoffs)
    if len(cut) != (2 if band is Band.BAND else 1):
        raise ValueError(f"{band} mask needs {2 if band is Band.BAND else 1} cutoff(s), got {cut}")
    dev = torch.device(device)
    return _mask_cached(band, cut, Profile(profile), int(order), int(size[0]), int(size[1]), half, dev, dtype)


def apply_rfft_mask(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``irfft2(rfft2(x) * mask, s=(H, W))`` over the last two dimensions, through the one operator
    :func:`freqbench.ops.spectral_mask.apply_spectral_mask` (backend ``auto``).

    The result is real by construction: a real mask on the half plane is Hermitian-consistent (on the
    self-conjugate columns only its part symmetric in ky acts, see :mod:`freqbench.ops.spectral_mask`).

    Shape:
        x (B, C, H, W) with any mask ``apply_spectral_mask`` takes, or x (..., H, W) with a mask
        (H, W//2+1) -> the shape of x.
    """
    if x.dim() == 4 or mask.dim() != 2:
        return apply_spectral_mask(x, mask)
    flat = x.reshape(-1, 1, *x.shape[-2:]) if x.dim() >= 2 else x
    return apply_spectral_mask(flat, mask).view(x.shape)
