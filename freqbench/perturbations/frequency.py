"""Frequency perturbations: radial filters, the seed study's Gaussian blur and residual, phase scrambling.

Radial filters (``freqbench.ops.masks``): low-, high- and band-pass with ideal, Gaussian and
Butterworth profiles, cutoffs in cycles per image, applied per channel with ``rfft2``. Low-pass output
is an image and is clamped to [0, 1]; high- and band-pass outputs have no DC component, are signed by
design and are *not* clamped (clamping would zero half of the signal), as in Wang et al. 2020
("High-frequency component helps explain the generalization of CNNs"), who feed the filtered
components directly.

Seed study (REFERENCE.md section 4), done as intended: ``gaussian_filter`` is a per-channel spatial
Gaussian blur in float with exactly the semantics of ``scipy.ndimage.gaussian_filter(x, sigma)`` on
each H x W plane (mode ``reflect``, truncate 4.0); ``gaussian_residual`` is the signed high-pass
"original minus blur" x - blur(x).

Phase scrambling: each frequency's phase is shifted by phi ~ U(-w, w) degrees, with phi(-k) = -phi(k)
on conjugate-symmetric pairs so the image stays real, amplitude kept, the same phase field on every
channel (colours stay aligned); self-conjugate bins (DC, Nyquist) are left alone. w = 180 randomises
the phase completely. The result is clamped to [0, 1].
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch

from freqbench.ops.masks import Band, Profile, apply_rfft_mask, frequency_mask
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.base import PERTURBATIONS, Perturbation, check_images, require_generator


def _filter(
    x: torch.Tensor, band: Band, cutoffs: tuple[float, ...], profile: Profile | str, order: int
) -> torch.Tensor:
    check_images(x, f"{band}_pass")
    size = (x.shape[-2], x.shape[-1])
    mask = frequency_mask(band, cutoffs, size, profile=profile, order=order, device=x.device)
    return apply_rfft_mask(x, mask)


def low_pass(
    x: torch.Tensor, radius: float, *, profile: Profile | str = "ideal", order: int = 2
) -> torch.Tensor:
    """Keep frequencies up to ``radius`` cycles per image; output clamped to [0, 1].

    Shape:
        (B, C, H, W) -> (B, C, H, W).
    """
    return _filter(x, Band.LOW, (radius,), profile, order).clamp_(0.0, 1.0)


def high_pass(
    x: torch.Tensor, radius: float, *, profile: Profile | str = "ideal", order: int = 2
) -> torch.Tensor:
    """Remove frequencies up to ``radius`` cycles per image; signed output (no DC).

    Shape:
        (B, C, H, W) -> (B, C, H, W).
    """
    return _filter(x, Band.HIGH, (radius,), profile, order)


def band_pass(
    x: torch.Tensor, low: float, high: float, *, profile: Profile | str = "ideal", order: int = 2
) -> torch.Tensor:
    """Keep frequencies in (low, high] cycles per image (profile-weighted); signed output.

    Shape:
        (B, C, H, W) -> (B, C, H, W).
    """
    return _filter(x, Band.BAND, (low, high), profile, order)


@functools.lru_cache(maxsize=64)
def gaussian_matrix(n: int, sigma: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The n x n matrix of ``scipy.ndimage.gaussian_filter1d(sigma, mode='reflect', truncate=4.0)``.

    Building the operator as a matrix folds scipy's half-sample-symmetric border into the weights for
    any kernel radius, including radii larger than the image (sigma 20 on 32 pixels).

    Shape:
        (n, n).
    """
    radius = int(4.0 * sigma + 0.5)
    k = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * k**2 / sigma**2)
    w /= w.sum()
    rows = torch.arange(n)[:, None].expand(n, k.numel())
    src = rows + k.long()[None, :]
    period = torch.remainder(src, 2 * n)
    cols = torch.where(period >= n, 2 * n - 1 - period, period)
    mat = torch.zeros(n, n, dtype=torch.float64)
    mat.index_put_((rows.reshape(-1), cols.reshape(-1)), w.repeat(n), accumulate=True)
    return mat.to(device=device, dtype=dtype)


def gaussian_filter(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Per-channel spatial Gaussian blur, equal to scipy's ``gaussian_filter`` on each plane.

    Shape:
        (B, C, H, W) -> (B, C, H, W).
    """
    check_images(x, "gaussian_filter")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    h, w = x.shape[-2:]
    gh = gaussian_matrix(h, float(sigma), x.device, x.dtype)
    gw = gaussian_matrix(w, float(sigma), x.device, x.dtype)
    return gh @ x @ gw.T


def gaussian_residual(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Signed high-pass residual ``x - gaussian_filter(x, sigma)``.

    Shape:
        (B, C, H, W) -> (B, C, H, W).
    """
    return x - gaussian_filter(x, sigma)


@functools.lru_cache(maxsize=32)
def _mirror_index(h: int, w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    ky, kx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    flat = (ky * w + kx).flatten()
    mirror = (((-ky) % h) * w + (-kx) % w).flatten()
    sign = torch.sign(mirror - flat).to(torch.float32)  # +1 canonical, -1 mirrored, 0 self-conjugate
    canonical = torch.minimum(flat, mirror)
    return canonical.to(device), sign.to(device)


def phase_scramble(
    x: torch.Tensor, width: float, *, generator: SampleGenerator | None = None
) -> torch.Tensor:
    """Shift every frequency's phase by U(-width, width) degrees, keeping the amplitude.

    Args:
        x: images in [0, 1].
        width: maximal phase shift in degrees, 0..180.
        generator: per-sample random streams.

    Shape:
        (B, C, H, W) -> (B, C, H, W).
    """
    check_images(x, "phase_scramble")
    if not 0 <= width <= 180:
        raise ValueError(f"phase width must be within 0..180 degrees, got {width}")
    g = require_generator(generator, x, "phase_scramble")
    b, c, h, w = x.shape
    canonical, sign = _mirror_index(h, w, x.device)
    draw = g.uniform((h * w,), low=-1.0, high=1.0).to(x.device) * math.radians(width)
    phi = (draw[:, canonical] * sign).reshape(b, 1, h, w)
    spec = torch.fft.fft2(x.double() if x.dtype == torch.float64 else x.float())
    out = torch.fft.ifft2(spec * torch.polar(torch.ones_like(phi), phi)).real
    return out.to(x.dtype).clamp_(0.0, 1.0)


# modules -------------------------------------------------------------------------------------------
class RadialFilter(Perturbation):
    """Low-, high- or band-pass filter with a fixed profile."""

    def __init__(self, band: Band | str, cutoffs: tuple[float, ...], *, profile: str, order: int = 2) -> None:
        super().__init__()
        self.band, self.cutoffs, self.profile, self.order = (
            Band(band),
            tuple(cutoffs),
            Profile(profile),
            order,
        )

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.band}_pass_{self.profile}"

    @property
    def signed(self) -> bool:  # type: ignore[override]
        return self.band is not Band.LOW

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {"r": list(self.cutoffs) if self.band is Band.BAND else self.cutoffs[0]}
        if self.profile is Profile.BUTTERWORTH:
            p["order"] = self.order
        return p

    def forward(self, x: torch.Tensor, generator: SampleGenerator | None = None) -> torch.Tensor:
        out = _filter(x, self.band, self.cutoffs, self.profile, self.order)
        return out.clamp_(0.0, 1.0) if self.band is Band.LOW else out


class GaussianFilter(Perturbation):
    """Per-channel spatial Gaussian blur (the seed study's low-pass)."""

    name = "gaussian_filter"

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = float(sigma)

    def params(self) -> dict[str, Any]:
        return {"sigma": self.sigma}

    def forward(self, x: torch.Tensor, generator: SampleGenerator | None = None) -> torch.Tensor:
        return gaussian_filter(x, self.sigma)


class GaussianResidual(GaussianFilter):
    """Signed "original minus blur" high-pass (the seed study's high-pass, as intended)."""

    name = "gaussian_residual"
    signed = True

    def forward(self, x: torch.Tensor, generator: SampleGenerator | None = None) -> torch.Tensor:
        return gaussian_residual(x, self.sigma)


class PhaseScramble(Perturbation):
    """Random phase shifts of width ``width`` degrees, amplitude kept."""

    name = "phase_scramble"
    random = True

    def __init__(self, width: float) -> None:
        super().__init__()
        self.width = float(width)

    def params(self) -> dict[str, Any]:
        return {"width": self.width}

    def forward(self, x: torch.Tensor, generator: SampleGenerator | None = None) -> torch.Tensor:
        return phase_scramble(x, self.width, generator=generator)


def _radial_factory(band: Band, profile: Profile) -> Any:
    def make(r: float | list[float], order: int = 2) -> RadialFilter:
        cut = tuple(float(v) for v in r) if isinstance(r, (list, tuple)) else (float(r),)
        return RadialFilter(band, cut, profile=profile, order=order)

    make.__doc__ = f"{band}-pass filter with the {profile} profile (r in cycles per image)."
    return make


for _band in Band:
    for _profile in Profile:
        PERTURBATIONS.register(f"{_band}_pass_{_profile}", _radial_factory(_band, _profile))
PERTURBATIONS.register("gaussian_filter", GaussianFilter)
PERTURBATIONS.register("gaussian_residual", GaussianResidual)
PERTURBATIONS.register("phase_scramble", PhaseScramble)
