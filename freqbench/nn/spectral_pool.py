"""Spectral pooling with frequency dropout (Rippel, Snoek & Adams, NeurIPS 2015, arXiv 1506.03767).

Spectral pooling downsamples an H x W map to h x w by keeping the centred h x w block of low
frequencies of its DFT and transforming back (REFERENCE.md section 3). Done naively the kept block is
not Hermitian when h or w is even, and zeroing the imaginary part of the four self-conjugate bins
(Rippel et al.'s "corner cases") does not fix it: the whole Nyquist row and column are affected.

**The Nyquist row and column.** Take one axis of length N pooled to n. For odd n the kept
frequencies are ``|k| <= (n-1)/2``, a set closed under k -> -k, so the kept spectrum stays Hermitian.
For even n < N the output has a single Nyquist bin ``n/2 == -n/2 (mod n)``, but the input has two
different bins there, ``X[+n/2]`` and ``X[-n/2] = conj(X[+n/2])`` (for a real row). Keeping only one of
them (as ``rfft2``, keep rows ``[0, h/2)`` and ``[H-h/2, H)``, ``irfft2`` does for the rows) gives an
output that is real but not symmetric: flipping the input horizontally does not flip the output
(the kept -h/2 row serves kx >= 0 and its conjugate +h/2 row kx < 0). freqbench
*unites the pair*: the output Nyquist bin is ``X[+n/2] + X[-n/2]`` (a real number in 1-D), which is
what band-limiting to ``|k| <= n/2`` and then sampling at n points gives, and what
``scipy.signal.resample`` does when it downsamples ("unite bin pair into one unpaired bin"). In 2-D
the rule is applied per axis, so the pool is separable: it equals ``scipy.signal.resample`` along H and
then along W, commutes with flips (and with transposition when square), and a map band-limited to
``|k| <= n/2`` is pooled by an integer factor s to exactly ``x[::s, ::s]``. Every bin the rule produces
is Hermitian-consistent, so ``irfft2`` receives a half spectrum it can represent exactly: the
``rfft2`` of the output is the united crop itself, nothing is silently projected away.

Implementation on the half plane: ``X = rfft2(x)``; rows ``[0, ceil(h/2))``, the united Nyquist row
``X[h/2] + X[H - h/2]`` (even h < H) and the last ``ceil(h/2) - 1`` rows; columns ``[0, w//2]``, where
for even w < W the Nyquist column becomes ``Z[ky, w/2] + conj(Z[-ky, w/2])`` (its partner ``-w/2`` is
not stored in the half plane); then ``irfft2(s=(h, w))``.

**Amplitude convention.** ``rfft2(norm="forward")`` and ``irfft2(norm="forward")``: the DC bin is the
mean, so the mean is preserved and a constant map pools to the same constant (the same scaling as
``scipy.signal.resample``, which multiplies by n/N).

**Frequency dropout** (Rippel et al., section 5): in training, each forward pass draws one resolution
``u * h`` with ``u ~ U[c_m, 1]`` (i.e. a cutoff from ``U[c_m H_m, H_m]``) and additionally zeroes the
output bins with ``|ky| > u h / 2`` or ``|kx| > u w / 2``; the bound follows the paper's schedule
``c_m = alpha + (m / M) (beta - alpha)`` with alpha 0.30, beta 0.15 (:func:`frequency_dropout_lower`).
In eval mode the deterministic crop is used. The draw comes from an explicit ``torch.Generator`` when
one is given (deterministic under its seed) and from torch's global generator otherwise.

Shape:
    (..., H, W) -> (..., h, w).
"""

from __future__ import annotations

import math
from typing import Final

import torch
from torch import nn

from freqbench.errors import ConfigError
from freqbench.ops.masks import spectrum_dtype

#: the frequency-dropout schedule of Rippel et al. (section 5.2): c_m goes from alpha to beta
DROPOUT_ALPHA: Final = 0.30
DROPOUT_BETA: Final = 0.15


def frequency_dropout_lower(
    layer: int, num_layers: int, *, alpha: float = DROPOUT_ALPHA, beta: float = DROPOUT_BETA
) -> float:
    """The lower bound ``c_m = alpha + (m / M) (beta - alpha)`` of the dropout resolution fraction.

    Args:
        layer: m, in ``[0, M]``.
        num_layers: M, at least 1.
        alpha, beta: the bounds of the schedule (0.30 and 0.15 in the paper).

    >>> frequency_dropout_lower(0, 4), frequency_dropout_lower(4, 4)
    (0.3, 0.15)
    """
    if num_layers < 1 or not 0 <= layer <= num_layers:
        raise ConfigError(
            f"need 0 <= layer <= num_layers and num_layers >= 1, got layer={layer}, num_layers={num_layers}"
        )
    c = alpha + (layer / num_layers) * (beta - alpha)
    if not 0.0 < c <= 1.0:
        raise ConfigError(
            f"dropout lower fraction alpha + (m/M)(beta - alpha) = {c} is outside (0, 1]; "
            f"pick alpha and beta in (0, 1] (got {alpha}, {beta})"
        )
    return c


def _fold_axis(spec: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """Keep the centred n frequencies of a full (two-sided) axis, uniting the Nyquist pair for even n."""
    big = spec.shape[dim]
    if n == big:
        return spec
    n_pos, n_neg = (n + 1) // 2, (n - 1) // 2
    parts = [spec.narrow(dim, 0, n_pos)]
    if n % 2 == 0:
        parts.append(spec.narrow(dim, n // 2, 1) + spec.narrow(dim, big - n // 2, 1))
    if n_neg:
        parts.append(spec.narrow(dim, big - n_neg, n_neg))
    return torch.cat(parts, dim=dim)


def _fold_half_columns(spec: torch.Tensor, w: int, width: int) -> torch.Tensor:
    """Keep columns ``0..w//2`` of an ``rfft`` half plane, uniting the Nyquist column for even w."""
    kept = spec[..., : w // 2 + 1]
    if w == width or w % 2:
        return kept
    # the partner -w/2 of the stored column +w/2 is conj(Z[-ky, +w/2]), ky taken on the output rows
    h = spec.shape[-2]
    mirror = (-torch.arange(h, device=spec.device)) % h
    nyq = kept[..., w // 2]
    nyq = nyq + nyq.index_select(-1, mirror).conj()
    return torch.cat([kept[..., : w // 2], nyq.unsqueeze(-1)], dim=-1)


def _dropout_mask(h: int, w: int, keep: float, *, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    ky = torch.fft.fftfreq(h, d=1.0 / h, dtype=torch.float64, device=device).abs()
    kx = torch.fft.rfftfreq(w, d=1.0 / w, dtype=torch.float64, device=device)
    return ((ky[:, None] <= keep * h / 2) & (kx[None, :] <= keep * w / 2)).to(dtype)


def _check_size(name: str, size: tuple[int, int], shape: tuple[int, int]) -> None:
    if not all(1 <= s <= full for s, full in zip(size, shape)):
        raise ConfigError(
            f"{name} {size} must lie between (1, 1) and the input size {shape}; spectral "
            "pooling only downsamples"
        )


def spectral_pool2d(x: torch.Tensor, out_size: int | tuple[int, int], *, keep: float = 1.0) -> torch.Tensor:
    """Spectral pooling of the last two dimensions to ``out_size`` (module docstring: the Nyquist rule
    and the mean-preserving amplitude).

    Args:
        x: real maps (..., H, W); float16/bfloat16 are computed in float32 and cast back.
        out_size: (h, w) or one int for both, each at most the input size.
        keep: the frequency-dropout resolution fraction u in (0, 1]; bins with ``|ky| > u h / 2`` or
            ``|kx| > u w / 2`` are zeroed. 1 keeps the whole crop.

    Shape:
        (..., H, W) -> (..., h, w).

    >>> spectral_pool2d(torch.full((1, 1, 5, 6), 0.25), (3, 2)).flatten().tolist()
    [0.25, 0.25, 0.25, 0.25, 0.25, 0.25]
    """
    if x.dim() < 2 or x.is_complex() or not x.is_floating_point():
        raise ConfigError(
            f"spectral_pool2d needs real floating maps (..., H, W), got {tuple(x.shape)} {x.dtype}"
        )
    h, w = (out_size, out_size) if isinstance(out_size, int) else (int(out_size[0]), int(out_size[1]))
    height, width = x.shape[-2], x.shape[-1]
    _check_size("out_size", (h, w), (height, width))
    if not 0.0 < keep <= 1.0:
        raise ConfigError(f"keep must be a resolution fraction in (0, 1], got {keep}")
    work = spectrum_dtype(x.dtype)
    spec = torch.fft.rfft2(x.to(work), norm="forward")
    spec = _fold_half_columns(_fold_axis(spec, h, dim=-2), w, width)
    if keep < 1.0:
        spec = spec * _dropout_mask(h, w, keep, device=x.device, dtype=work)
    return torch.fft.irfft2(spec, s=(h, w), norm="forward").to(x.dtype)


class SpectralPool2d(nn.Module):
    """Spectral pooling to a fixed size or by a scale, with frequency dropout in training.

    Args:
        out_size: (h, w) or one int; or None with ``scale``.
        scale: output size ``max(1, floor(scale * H))`` per axis (Rippel et al.'s ``floor(gamma H_m)``);
            exactly one of ``out_size`` and ``scale`` is given.
        dropout_lower: c_m, the lower bound of the dropout fraction ``u ~ U[c_m, 1]``
            (:func:`frequency_dropout_lower`); None disables frequency dropout.
        generator: the source of the dropout draws (one scalar per training forward pass); None uses
            torch's global generator. Its state is not part of ``state_dict``.

    Shape:
        x: (..., H, W) -> (..., h, w).
    """

    def __init__(
        self,
        out_size: int | tuple[int, int] | None = None,
        *,
        scale: float | None = None,
        dropout_lower: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if (out_size is None) == (scale is None):
            raise ConfigError(
                f"give exactly one of out_size and scale, got out_size={out_size}, scale={scale}"
            )
        if scale is not None and not 0.0 < scale <= 1.0:
            raise ConfigError(f"scale must be in (0, 1], got {scale}")
        if dropout_lower is not None and not 0.0 < dropout_lower <= 1.0:
            raise ConfigError(
                f"dropout_lower (c_m) must be in (0, 1], got {dropout_lower}; see "
                "frequency_dropout_lower for the paper's schedule"
            )
        self.out_size = (out_size, out_size) if isinstance(out_size, int) else out_size
        self.scale = scale
        self.dropout_lower = dropout_lower
        self.generator = generator

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The pooled size of an H x W input."""
        if self.out_size is not None:
            return (int(self.out_size[0]), int(self.out_size[1]))
        assert self.scale is not None
        return (max(1, math.floor(self.scale * height)), max(1, math.floor(self.scale * width)))

    def draw_keep(self) -> float:
        """One dropout resolution fraction ``u ~ U[c_m, 1]`` from the layer's generator."""
        if self.dropout_lower is None:
            return 1.0
        device = self.generator.device if self.generator is not None else torch.device("cpu")
        u = torch.rand((), generator=self.generator, device=device, dtype=torch.float64).item()
        return self.dropout_lower + (1.0 - self.dropout_lower) * u

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = self.draw_keep() if self.training else 1.0
        return spectral_pool2d(x, self.output_size(x.shape[-2], x.shape[-1]), keep=keep)

    def extra_repr(self) -> str:
        size = f"out_size={self.out_size}" if self.out_size is not None else f"scale={self.scale}"
        return f"{size}, dropout_lower={self.dropout_lower}"
