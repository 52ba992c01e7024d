"""freqbench's frequency-modulated first layer: learnable radial gains and a low/high filter proportion.

This is **freqbench's own protocol**, not the method of Jia, Bao & Ma (arXiv 1911.12044): that paper
reports that controlling the proportion of low- and high-frequency first-layer filters, with a
learnable modulation and power-spectrum perturbation, changes corruption robustness, but it
publishes no method details or code (REFERENCE.md section 5). freqbench defines:

1. **Spectral parameterisation.** The first-layer filters are a
   :class:`~freqbench.nn.spectral_conv.SpectralConv2d` (Rippel et al. 2015, arXiv 1506.03767): each
   filter slice is a Hermitian half spectrum ``theta``.
2. **Learnable radial gain per filter.** Filter f has ``R = min(kh, kw) // 2 + 1`` positive gains
   ``g_f = softplus(a_f + log(e - 1))`` at the integer radii 0 .. R-1 (cycles per kernel, the radius of
   :func:`freqbench.ops.masks.radial_grid`); the gain of a bin at radius r is the linear interpolation
   of ``g_f`` at r, constant beyond R - 1 (the corner bins of the grid). The logits ``a_f`` start at
   0, i.e. unit gains.
3. **Proportion control** (:class:`BandSplit`): the first ``round(p * C_out)`` filters are fixed to the
   low band and the rest to the high band by a fixed radial mask
   (:func:`freqbench.ops.masks.frequency_mask`, low-pass and its complement 1 - low-pass at the same
   cutoff and profile; the default ideal profile is a 0/1 mask, so a "low" filter has no energy above
   the cutoff on the kernel's own DFT grid). The default cutoff is a quarter of the kernel size, half
   its Nyquist radius: on 3x3 kernels (cutoff 0.75) low filters are per-channel constants (DC only)
   and high filters have zero mean.

The effective filter spectrum is ``theta * g_f(r) * band_f(r)``; gain and mask depend on the radius
only, so they keep the spectrum Hermitian. :meth:`FrequencyModulation.filter_statistics` reports the
radial statistic of REFERENCE.md section 4 (kakshak07/Frequency-response-characterization-of-CNNs;
:func:`freqbench.ops.filter_stats.radial_frequency_statistic`) of every effective filter.

Shape:
    x: (B, C_in, H, W) -> (B, C_out, H_out, W_out), as ``nn.Conv2d``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from freqbench.errors import ConfigError
from freqbench.nn.spectral_conv import Norm, SpectralConv2d
from freqbench.ops.filter_stats import DEFAULT_GRID, radial_frequency_statistic
from freqbench.ops.masks import Band, Profile, frequency_mask, radial_grid

#: softplus(_UNIT_GAIN) == 1: zero logits are unit gains (exactly, in any dtype)
_UNIT_GAIN = math.log(math.e - 1.0)


@dataclass(frozen=True)
class BandSplit:
    """The proportion control: a fraction of the filters fixed to the low band, the rest to the high.

    Attributes:
        proportion: p in [0, 1]; the first ``round(p * C_out)`` filters are low, the others high.
        cutoff: the band edge in cycles per kernel; None means ``min(kh, kw) / 4``.
        profile: ``ideal`` (a 0/1 mask), ``gaussian`` or ``butterworth`` (:mod:`freqbench.ops.masks`).
    """

    proportion: float
    cutoff: float | None = None
    profile: Profile = Profile.IDEAL

    def __post_init__(self) -> None:
        if not 0.0 <= self.proportion <= 1.0:
            raise ConfigError(f"BandSplit proportion must be in [0, 1], got {self.proportion}")
        if self.cutoff is not None and not self.cutoff > 0:
            raise ConfigError(f"BandSplit cutoff must be positive (cycles per kernel), got {self.cutoff}")
        object.__setattr__(self, "profile", Profile(self.profile))

    def num_low(self, filters: int) -> int:
        """How many of ``filters`` filters are low (round half up)."""
        return math.floor(self.proportion * filters + 0.5)

    def edge(self, kernel_size: tuple[int, int]) -> float:
        """The cutoff used for kernels of ``kernel_size``."""
        return self.cutoff if self.cutoff is not None else min(kernel_size) / 4.0


def radial_interpolation(kernel_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where each half-spectrum bin falls between the integer radius bins.

    Returns:
        (lower bin, upper bin, weight of the upper bin), each ``(kh, kw//2+1)``; radii beyond the last
        bin ``min(kh, kw) // 2`` are clamped to it.
    """
    kh, kw = kernel_size
    last = min(kh, kw) // 2
    r = radial_grid(kh, kw, half=True).clamp(max=float(last))
    lo = r.floor().long()
    hi = (lo + 1).clamp(max=last)
    return lo, hi, r - lo.to(r.dtype)


class FrequencyModulation(nn.Module):
    """A spectrally parameterised first layer with learnable per-filter radial gains and an optional
    low/high proportion (module docstring: freqbench's protocol).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode:
            as ``nn.Conv2d``.
        band_split: the proportion control; None leaves every filter's band free.
        norm: the DFT normalisation of the spectral parameterisation (``SpectralConv2d``).

    Attributes:
        conv: the :class:`SpectralConv2d` holding theta and the bias.
        gain_logits: ``(C_out, R)``; the gains are ``softplus(gain_logits + log(e - 1))`` (1 at 0).
        is_low: ``(C_out,)`` bool, the filters fixed to the low band (all False without a split).
        band_mask: ``(C_out, 1, kh, kw//2+1)``, the fixed band of each filter (ones without a split).

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, H_out, W_out).
    """

    is_low: torch.Tensor
    band_mask: torch.Tensor
    _lo: torch.Tensor
    _hi: torch.Tensor
    _frac: torch.Tensor

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        band_split: BandSplit | None = None,
        norm: Norm = "ortho",
    ) -> None:
        super().__init__()
        self.conv = SpectralConv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            norm=norm,
        )
        self.band_split = band_split
        size = self.conv.kernel_size
        lo, hi, frac = radial_interpolation(size)
        self.register_buffer("_lo", lo, persistent=False)
        self.register_buffer("_hi", hi, persistent=False)
        # float64 buffers, cast where used: a later .double() then sees the exact weights
        self.register_buffer("_frac", frac, persistent=False)
        bins = min(size) // 2 + 1
        self.gain_logits = nn.Parameter(torch.zeros(out_channels, bins))
        is_low, mask = self._bands(out_channels, size, band_split)
        self.register_buffer("is_low", is_low, persistent=False)
        self.register_buffer("band_mask", mask, persistent=False)

    @staticmethod
    def _bands(
        filters: int, size: tuple[int, int], split: BandSplit | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        half = (filters, 1, size[0], size[1] // 2 + 1)
        if split is None:
            return torch.zeros(filters, dtype=torch.bool), torch.ones(half, dtype=torch.float64)
        edge = split.edge(size)
        low = frequency_mask(Band.LOW, edge, size, profile=split.profile, dtype=torch.float64)
        high = 1.0 - low
        n_low = split.num_low(filters)
        for name, band, count in (("low", low, n_low), ("high", high, filters - n_low)):
            if count and not bool((band > 0).any()):
                raise ConfigError(
                    f"the {name} band at cutoff {edge} is empty on the {size[0]}x{size[1]} kernel "
                    f"grid but {count} filter(s) are assigned to it; pick a cutoff below "
                    f"{float(radial_grid(*size).max()):.3f} and above 0"
                )
        is_low = torch.arange(filters) < n_low
        mask = torch.where(is_low[:, None, None], low, high).unsqueeze(1)
        return is_low, mask.expand(half).clone()

    def gains(self) -> torch.Tensor:
        """The radial gain of every filter on the half-spectrum grid, ``(C_out, 1, kh, kw//2+1)``."""
        g = F.softplus(self.gain_logits + _UNIT_GAIN)
        frac = self._frac.to(g.dtype)
        per_bin = g[:, self._lo] * (1 - frac) + g[:, self._hi] * frac
        return per_bin.unsqueeze(1)

    def spectrum(self) -> torch.Tensor:
        """The effective half spectra ``theta * gain * band``, ``(C_out, C_in / groups, kh, kw//2+1)``."""
        gains = self.gains()
        return self.conv.spectrum() * (gains * self.band_mask.to(gains.dtype))

    @property
    def weight(self) -> torch.Tensor:
        """The effective spatial filters ``(C_out, C_in / groups, kh, kw)``."""
        return self.conv.spectrum_to_weight(self.spectrum())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv.conv(x, self.weight)

    @torch.no_grad()
    def filter_statistics(self, *, per_slice: bool = False, grid: int = DEFAULT_GRID) -> torch.Tensor:
        """The radial frequency statistic (REFERENCE.md section 4) of the effective filters.

        Args:
            per_slice: return the statistic of every 2-D slice ``(C_out, C_in / groups)``; by default
                the mean over each filter's slices, ``(C_out,)``.
            grid: the zero-padded grid (33 in the reference).
        """
        stats = radial_frequency_statistic(self.weight, grid=grid)
        return stats if per_slice else stats.mean(dim=1)

    @classmethod
    def from_conv(
        cls, conv: nn.Conv2d, *, band_split: BandSplit | None = None, norm: Norm = "ortho"
    ) -> FrequencyModulation:
        """A layer with ``conv``'s options and its filters as theta (unit gains; the band split, if any,
        then masks them)."""
        spectral = SpectralConv2d.from_conv(conv, norm=norm)
        layer = cls(
            conv.in_channels,
            conv.out_channels,
            spectral.kernel_size,
            spectral.stride,
            spectral.padding,
            spectral.dilation,
            conv.groups,
            conv.bias is not None,
            conv.padding_mode,
            band_split=band_split,
            norm=norm,
        ).to(device=conv.weight.device, dtype=conv.weight.dtype)
        layer.conv.load_state_dict(spectral.state_dict())
        return layer

    def extra_repr(self) -> str:
        return f"band_split={self.band_split}, low_filters={int(self.is_low.sum())}"
