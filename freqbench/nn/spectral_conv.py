"""Convolution with spectrally parameterised filters (Rippel, Snoek & Adams, NeurIPS 2015,
arXiv 1506.03767, section 4).

Each kh x kw filter slice is stored as its Hermitian half spectrum ``theta`` (kh x (kw//2+1) complex,
held as a real parameter with a trailing dimension of 2) and the spatial filter is
``w = irfft2(theta, s=(kh, kw))``; the convolution itself is the ordinary one. The parameterisation
changes the geometry of gradient descent, not the function class: a :class:`SpectralConv2d` built
with :meth:`SpectralConv2d.from_conv` (``theta = rfft2(w)``) computes exactly what the ``nn.Conv2d``
does. Rippel et al. report 2.2-5.1x faster convergence with it (REFERENCE.md section 3).

**Normalisation.** ``norm="ortho"`` (default) uses the unitary DFT, so ``theta`` and its gradient live
on the scale of the spatial weights and an SGD step moves ``w`` about as far as it would move a plain
``Conv2d`` (a half-plane bin off the self-conjugate columns stands for two conjugate bins, so its
frequency moves twice as far per step). ``norm="backward"`` is numpy's/torch's default pair (``theta =
rfft2(w)`` unscaled, ``irfft2`` divides by kh kw), under which theta is sqrt(kh kw) times larger and
SGD steps on w shrink by kh kw.

**Redundant parameters.** The half spectrum has ``2 kh (kw//2+1)`` real numbers for ``kh kw`` weights.
Only its Hermitian part acts: on the self-conjugate columns (kx = 0 and, for even kw, kx = kw/2) the
entries ky and -ky must be conjugates. :func:`spectrum_to_weight` makes those columns Hermitian
explicitly (``(c[ky] + conj(c[-ky])) / 2``) before ``irfft2``, so the result does not depend on how an
FFT backend treats a non-Hermitian input (cuFFT leaves it undefined), and the gradient reaching the
redundant parts is zero.

Init: the spatial weights and the bias are drawn exactly as ``nn.Conv2d.reset_parameters`` draws
them (Kaiming-uniform, a = sqrt(5)) and then transformed, so a new layer starts with the same
distribution of filters as a ``Conv2d``.

Shape:
    x: (B, C_in, H, W) -> (B, C_out, H_out, W_out), as ``nn.Conv2d``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from freqbench.errors import ConfigError

Norm = Literal["ortho", "backward"]
_NORMS = ("ortho", "backward")
_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _pair(v: int | tuple[int, ...], name: str) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    if len(v) != 2:
        raise ConfigError(f"{name} must be an int or a pair, got {v}")
    return (int(v[0]), int(v[1]))


def hermitian_columns(spectrum: torch.Tensor, width: int) -> torch.Tensor:
    """Make the self-conjugate columns of an ``rfft2`` half spectrum Hermitian in ky.

    Columns kx = 0 and, for even ``width``, kx = width/2 become ``(c[ky] + conj(c[-ky])) / 2``: the
    Hermitian part, which is all that a real inverse transform can represent.

    Shape:
        (..., kh, width//2+1) complex -> the same.
    """
    kh = spectrum.shape[-2]
    mirror = (-torch.arange(kh, device=spectrum.device)) % kh
    cols = [0] + ([width // 2] if width % 2 == 0 and width > 1 else [])
    out = spectrum
    for c in cols:
        col = spectrum[..., c]
        sym = (col + col.index_select(-1, mirror).conj()) / 2
        out = torch.cat([out[..., :c], sym.unsqueeze(-1), out[..., c + 1 :]], dim=-1)
    return out


def weight_to_spectrum(weight: torch.Tensor, *, norm: Norm = "ortho") -> torch.Tensor:
    """``rfft2`` of spatial filters: the half spectrum that :func:`spectrum_to_weight` inverts.

    Shape:
        (..., kh, kw) real -> (..., kh, kw//2+1) complex.
    """
    return torch.fft.rfft2(weight, norm=norm)


def spectrum_to_weight(
    spectrum: torch.Tensor, kernel_size: tuple[int, int], *, norm: Norm = "ortho"
) -> torch.Tensor:
    """Spatial filters ``irfft2(theta, s=kernel_size)`` of half spectra, self-conjugate columns made
    Hermitian first (module docstring).

    Shape:
        (..., kh, kw//2+1) complex -> (..., kh, kw) real.
    """
    return torch.fft.irfft2(hermitian_columns(spectrum, kernel_size[1]), s=kernel_size, norm=norm)


class SpectralConv2d(nn.Module):
    """``nn.Conv2d`` whose filters are stored as Hermitian half spectra.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
        padding_mode: as ``nn.Conv2d`` (padding an int, a pair, ``"valid"`` or ``"same"``).
        norm: ``"ortho"`` (default) or ``"backward"``, the DFT normalisation of the parameterisation.

    Attributes:
        theta: the parameter, ``(C_out, C_in / groups, kh, kw//2+1, 2)`` real (real and imaginary parts);
            :meth:`spectrum` views it as complex.
        bias: ``(C_out,)`` or None.

    Shape:
        x: (B, C_in, H, W) -> (B, C_out, H_out, W_out).
    """

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
        norm: Norm = "ortho",
    ) -> None:
        super().__init__()
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ConfigError(
                f"in_channels {in_channels} and out_channels {out_channels} must be divisible "
                f"by groups {groups}"
            )
        if norm not in _NORMS:
            raise ConfigError(f"norm must be one of {_NORMS}, got {norm!r}")
        if padding_mode not in _PADDING_MODES:
            raise ConfigError(f"padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.dilation = _pair(dilation, "dilation")
        self.padding_mode, self.norm = padding_mode, norm
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ConfigError(f"padding string must be 'valid' or 'same', got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ConfigError(f"padding='same' needs stride 1 (as nn.Conv2d), got stride {self.stride}")
            self.padding: tuple[int, int] | str = padding
        else:
            self.padding = _pair(padding, "padding")
        self._pad = self._explicit_padding()
        kh, kw = self.kernel_size
        self.theta = nn.Parameter(torch.empty(out_channels, in_channels // groups, kh, kw // 2 + 1, 2))
        self.bias: nn.Parameter | None
        self.register_parameter("bias", nn.Parameter(torch.empty(out_channels)) if bias else None)
        self.reset_parameters()

    def _explicit_padding(self) -> tuple[int, int, int, int]:
        """``F.pad`` amounts (left, right, top, bottom), as ``nn.Conv2d`` computes them."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            pads: list[int] = []
            for d, k in zip(reversed(self.dilation), reversed(self.kernel_size)):
                total = d * (k - 1)
                pads += [total // 2, total - total // 2]
            return (pads[0], pads[1], pads[2], pads[3])
        assert not isinstance(self.padding, str)
        ph, pw = self.padding
        return (pw, pw, ph, ph)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draw spatial weights and bias as ``nn.Conv2d`` does, then store the weights' spectrum."""
        kh, kw = self.kernel_size
        w = torch.empty(
            self.out_channels,
            self.in_channels // self.groups,
            kh,
            kw,
            dtype=self.theta.dtype,
            device=self.theta.device,
        )
        nn.init.kaiming_uniform_(w, a=math.sqrt(5))
        self.set_weight(w)
        if self.bias is not None:
            fan_in = (self.in_channels // self.groups) * kh * kw
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(self.bias, -bound, bound)

    @torch.no_grad()
    def set_weight(self, weight: torch.Tensor) -> None:
        """Store spatial filters (``theta = rfft2(weight)``); they must have this layer's weight shape."""
        expected = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        if tuple(weight.shape) != expected:
            raise ConfigError(f"weight shape {tuple(weight.shape)} does not match the layer's {expected}")
        spec = weight_to_spectrum(weight.to(self.theta.dtype), norm=self.norm)
        self.theta.copy_(torch.view_as_real(spec))

    def spectrum(self) -> torch.Tensor:
        """theta as a complex tensor ``(C_out, C_in / groups, kh, kw//2+1)`` (shares storage)."""
        return torch.view_as_complex(self.theta)

    def spectrum_to_weight(self, spectrum: torch.Tensor) -> torch.Tensor:
        """Spatial filters of a half spectrum with this layer's kernel size and normalisation."""
        return spectrum_to_weight(spectrum, self.kernel_size, norm=self.norm)

    @property
    def weight(self) -> torch.Tensor:
        """The spatial filters ``(C_out, C_in / groups, kh, kw)``, differentiable in theta."""
        return self.spectrum_to_weight(self.spectrum())

    def conv(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The layer's convolution (its stride, padding, dilation, groups, bias) with given filters."""
        if self.padding_mode != "zeros":
            x = F.pad(x, self._pad, mode=self.padding_mode)
            return F.conv2d(x, weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x, self.weight)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, *, norm: Norm = "ortho") -> SpectralConv2d:
        """A layer with ``conv``'s options and ``theta = rfft2(conv.weight)``: the same function."""
        padding = conv.padding if isinstance(conv.padding, str) else _pair(conv.padding, "padding")
        layer = cls(
            conv.in_channels,
            conv.out_channels,
            _pair(conv.kernel_size, "kernel_size"),
            stride=_pair(conv.stride, "stride"),
            padding=padding,
            dilation=_pair(conv.dilation, "dilation"),
            groups=conv.groups,
            bias=conv.bias is not None,
            padding_mode=conv.padding_mode,
            norm=norm,
        ).to(device=conv.weight.device, dtype=conv.weight.dtype)
        layer.set_weight(conv.weight.detach())
        if conv.bias is not None and layer.bias is not None:
            with torch.no_grad():
                layer.bias.copy_(conv.bias)
        return layer

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
            f"bias={self.bias is not None}, padding_mode={self.padding_mode!r}, norm={self.norm!r}"
        )
