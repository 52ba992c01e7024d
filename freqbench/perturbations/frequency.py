"""Frequency perturbations: radial filters, the seed study's Gaussian blur and residual, phase scrambling.

Radial filters (``freqbench.ops.masks``): low-, high- and band-pass with ideal, Gaussian and
Butterworth profiles, cutoffs in cycles per image, applied per channel with ``rfft2``; the mask is built
in the precision of the images' spectrum (float64 for float64 images). A mask that keeps every bin
(ideal low-pass beyond the corner radius, sqrt(2) N / 2 on N x N images) returns the input itself, not
its FFT round trip. Low-pass output is an image and is clamped to [0, 1]: the filters' ringing
overshoots (the ideal and Butterworth profiles; the Gaussian one slightly too at r >= 8 on 28x28, its
mask being cut at Nyquist), so the clamp changes pixels and the output is then no longer exactly
band-limited. On the first 1000 Fashion-MNIST test images the clamp changes 20% of the pixels at
ideal r = 2 and 26% at r = 8, moving the image by 8.6% and 5.6% in relative L2 (many background
pixels are exactly 0 and ring slightly negative). The module measures this per sample
(:meth:`RadialFilter.diagnostics`: ``clamped_fraction``, ``clamp_error``). High- and band-pass
outputs have no DC component, are signed by design and are *not* clamped (clamping would zero half of
the signal), as in Wang et al. 2020 ("High-frequency component helps explain the generalization of
CNNs"), who feed the filtered components directly; their modules declare ``signed`` and reports mark
them.

Seed study (REFERENCE.md section 4), done as intended: ``gaussian_filter`` is a per-channel spatial
Gaussian blur in float with exactly the semantics of ``scipy.ndimage.gaussian_filter(x, sigma)`` on
each H x W plane (mode ``reflect``, truncate 4.0); ``gaussian_residual`` is the signed high-pass
"original minus blur" x - blur(x).

Phase scrambling: each frequency's phase is shifted by phi ~ U(-w, w) degrees, with phi(-k) = -phi(k)
on conjugate-symmetric pairs so the image stays real, amplitude kept, the same phase field on every
channel (colours stay aligned); self-conjugate bins (DC, Nyquist) are left alone. w = 180 randomises
the phase completely. The amplitude spectrum is kept exactly only *before* the final clamp to [0, 1]:
the scrambled image leaves [0, 1], so the model sees an image whose amplitude is not the original's.
On the first 2000 Fashion-MNIST test images the clamp changes 26%, 25% and 24% of the pixels at
w = 30, 90 and 180 degrees and the amplitude spectrum by 7.8%, 18.8% and 21.1% (relative L2, means
over images). :meth:`PhaseScramble.diagnostics` measures this per sample (``clamped_fraction``,
``clamp_error``, ``amplitude_error`` = ||(|F(out)| - |F(pre)|)||_2 / |||F(pre)|||_2 over channels,
with ``pre`` the unclamped result), and the ``clamping`` summary reports it.

Diagnostics: the modules of the clamped filters keep their last unclamped output (the functionals
return it with ``clamp=False``) so that ``diagnostics(x, out)``, called right after ``forward`` with
the tensor it returned, can measure what the clamp did (:mod:`freqbench.perturbations.clamping`); the
outputs themselves are unchanged.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch

from freqbench.errors import ConfigError
from freqbench.ops.kernels import gaussian_reflect_matrix
from freqbench.ops.masks import Band, Profile, apply_rfft_mask, frequency_mask, spectrum_dtype
from freqbench.ops.random import SampleGenerator
from freqbench.perturbations.base import PERTURBATIONS, Perturbation, check_images, require_generator
from freqbench.perturbations.clamping import ClampedOutput, amplitude_error, clamp_error, clamped_fraction
from freqbench.perturbations.params import number


@functools.lru_cache(maxsize=256)
def _keeps_every_bin(
    band: Band, cutoffs: tuple[float, ...], profile: Profile, order: int, size: tuple[int, int]
) -> bool:
    mask = frequency_mask(band, cutoffs, size, profile=profile, order=order, dtype=torch.float64)
    return bool((mask == 1.0).all())


def _filter(
    x: torch.Tensor, band: Band, cutoffs: tuple[float, ...], profile: Profile | str, order: int
) -> torch.Tensor:
    check_images(x, f"{band}_pass")
    size = (x.shape[-2], x.shape[-1])
    profile = Profile(profile)
    if _keeps_every_bin(band, tuple(float(c) for c in cutoffs), profile, int(order), size):
        return x.clone()  # irfft2(rfft2(x)) is x only up to rounding
    mask = frequency_mask(
        band, cutoffs, size, profile=profile, order=order, device=x.device, dtype=spectrum_dtype(x.dtype)
    )
    return apply_rfft_mask(x, mask)


def low_pass(
    x: torch.Tensor, radius: float, *, profile: Profile | str = "ideal", order: int = 2, clamp: bool = True
) -> torch.Tensor:
    """Keep frequencies up to ``radius`` cycles per image; output clamped to [0, 1].

    Args:
        x: images in [0, 1].
        radius: cutoff in cycles per image.
        profile: ``ideal``, ``gaussian`` or ``butterworth``.
        order: Butterworth order.
        clamp: False returns the filtered image before the clamp (for diagnostics).

    Shape:
        (B, C, H, W) -> (B, C, H, W).
    """
    out = _filter(x, Band.LOW, (radius,), profile, order)
    return out.clamp_(0.0, 1.0) if clamp else out


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


def gaussian_filter(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Per-channel spatial Gaussian blur, equal to scipy's ``gaussian_filter`` on each plane.

    The blur is ``G_H @ x @ G_W.T`` with SciPy's reflect-border filter matrices
    (:func:`~freqbench.ops.kernels.gaussian_reflect_matrix`), which fold scipy's half-sample-symmetric
    border into the weights for any kernel radius, including radii larger than the image (sigma 20 on
    32 pixels).

    Shape:
        (B, C, H, W) -> (B, C, H, W).
    """
    check_images(x, "gaussian_filter")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    h, w = x.shape[-2:]
    gh = gaussian_reflect_matrix(h, float(sigma), device=x.device, dtype=x.dtype)
    gw = gaussian_reflect_matrix(w, float(sigma), device=x.device, dtype=x.dtype)
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
    x: torch.Tensor, width: float, *, generator: SampleGenerator | None = None, clamp: bool = True
) -> torch.Tensor:
    """Shift every frequency's phase by U(-width, width) degrees, then clamp to [0, 1].

    The amplitude spectrum is exactly the input's before the clamp; the clamp changes it (see the
    module docstring and :func:`amplitude_error`).

    Args:
        x: images in [0, 1].
        width: maximal phase shift in degrees, 0..180.
        generator: per-sample random streams.
        clamp: False returns the scrambled image before the clamp (for diagnostics).

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
    out = torch.fft.ifft2(spec * torch.polar(torch.ones_like(phi), phi)).real.to(x.dtype)
    return out.clamp_(0.0, 1.0) if clamp else out


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
        self._clamp = ClampedOutput()

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
        if self.band is not Band.LOW:
            return out
        clamped = out.clamp(0.0, 1.0)
        self._clamp.keep(out, clamped)
        return clamped

    def diagnostics(self, x: torch.Tensor, out: torch.Tensor) -> dict[str, torch.Tensor]:
        """Low-pass: ``clamped_fraction`` and ``clamp_error`` per sample (high- and band-pass are not
        clamped and have none)."""
        if self.band is not Band.LOW:
            return {}
        pre = self._clamp.get(out, self.name)
        return {"clamped_fraction": clamped_fraction(pre), "clamp_error": clamp_error(pre, out)}


class GaussianFilter(Perturbation):
    """Per-channel spatial Gaussian blur (the seed study's low-pass)."""

    name = "gaussian_filter"

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = number(self.name, "sigma", sigma, gt=0)

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
        self.width = number(self.name, "width", width, ge=0, le=180)
        self._clamp = ClampedOutput()

    def params(self) -> dict[str, Any]:
        return {"width": self.width}

    def forward(self, x: torch.Tensor, generator: SampleGenerator | None = None) -> torch.Tensor:
        pre = phase_scramble(x, self.width, generator=generator, clamp=False)
        out = pre.clamp(0.0, 1.0)
        self._clamp.keep(pre, out)
        return out

    def diagnostics(self, x: torch.Tensor, out: torch.Tensor) -> dict[str, torch.Tensor]:
        """``clamped_fraction``, ``clamp_error`` and ``amplitude_error`` of the clamp, per sample."""
        pre = self._clamp.get(out, self.name)
        return {
            "clamped_fraction": clamped_fraction(pre),
            "clamp_error": clamp_error(pre, out),
            "amplitude_error": amplitude_error(pre, out),
        }


def _radial_factory(band: Band, profile: Profile) -> Any:
    name = f"{band}_pass_{profile}"

    def cutoffs(r: Any) -> tuple[float, ...]:
        # user-written filters (MODEL+FILTER) arrive here: refuse what the mask would misread
        if band is Band.BAND:
            if not (isinstance(r, (list, tuple)) and len(r) == 2):
                raise ConfigError(
                    f"{name}: r must be two cutoffs LOW-HIGH in cycles per image (r=4-8), got {r!r}"
                )
            low, high = number(name, "r", r[0], ge=0), number(name, "r", r[1], gt=0)
            if not low < high:
                raise ConfigError(f"{name}: r=LOW-HIGH needs LOW < HIGH, got {r!r}")
            return (low, high)
        if isinstance(r, (list, tuple)):
            raise ConfigError(f"{name}: r must be one cutoff in cycles per image (r=8), got {r!r}")
        return (number(name, "r", r, gt=0),)

    def make_butterworth(r: float | list[float], order: int = 2) -> RadialFilter:
        n = int(number(name, "order", order, integer=True, ge=1))
        return RadialFilter(band, cutoffs(r), profile=profile, order=n)

    def make(r: float | list[float]) -> RadialFilter:
        return RadialFilter(band, cutoffs(r), profile=profile)

    factory = make_butterworth if profile is Profile.BUTTERWORTH else make
    factory.__doc__ = f"{band}-pass filter with the {profile} profile (r in cycles per image)."
    return factory


for _band in Band:
    for _profile in Profile:
        PERTURBATIONS.register(f"{_band}_pass_{_profile}", _radial_factory(_band, _profile))
PERTURBATIONS.register("gaussian_filter", GaussianFilter)
PERTURBATIONS.register("gaussian_residual", GaussianResidual)
PERTURBATIONS.register("phase_scramble", PhaseScramble)
