"""Fourier heat maps (Yin et al., NeurIPS 2019, arXiv 1906.08988; REFERENCE.md section 2).

For each frequency (ky, kx) of the centred spectrum, every image is perturbed by a unit-norm Fourier
basis image ``U`` scaled by ``eps``, ``x' = clip(x + eps * r * U, 0, 1)``, with the same basis on every
channel and a random sign ``r`` per image and per channel; the cell's value is the model's error rate on
the perturbed images, with a Wilson interval (:func:`freqbench.store.aggregate.wilson_interval`).

**Basis** (google-research ``frequency_analysis/freq_heatmap.py``, ``_get_fourier_basis``). In the
official code position (i, j) of the ``fftshift``-ed H x W spectrum is frequency
``(ky, kx) = (i - H//2, j - W//2)``; its mirror is ``(-ky, -kx)`` taken modulo (H, W). The basis is the
real image whose spectrum is ``0.5 + 0.5j`` at the first of the pair in raster order (smaller i, then
smaller j) and ``0.5 - 0.5j`` at its mirror, times ``sqrt(H W)``: in closed form

    U[m, n] = (cos t - sin t) / sqrt(H W),   t = 2 pi (ky m / H + kx n / W),

with (ky, kx) the raster-first frequency of the pair (phase pi/4), unit L2 norm. A self-conjugate
position (its own mirror: DC, and the Nyquist corners when kept) has coefficient 1, ``U = cos t /
sqrt(H W)``. The *cosine* variant (``basis="cosine"``) uses ``cos t`` scaled to unit norm. ``U`` of a
position and of its mirror are the same image, so the map is point-symmetric and only one position of
each pair is evaluated: (H'W' + 1) / 2 positions for an odd-sized H' x W' map (481 for 31 x 31, instead
of the 1024 positions the official code evaluates for 32 x 32).

**Map layout.** Low frequencies at the centre: cell (a, b) is frequency ``(a - H'//2, b - W'//2)``. For
an even side the official map's first row (or column) is the Nyquist frequency -N/2, which has no
partner on the other side of the centre; it is dropped, so a 32 x 32 input gives the 31 x 31 map of the
paper (``include_nyquist=True`` keeps the official H x W layout, rows and columns in the official
order). The map is ``official[1:, 1:]`` for 32 x 32.

**Randomness.** The sign of image i and channel c for the pair whose raster-first frequency is
(ky, kx) is ``2 b - 1`` with ``b`` the lowest bit of
``SampleGenerator(sample_keys(seed, f"fourier_heatmap@{ky},{kx}", [i])).bits24(C)[0, c]``
(:func:`heatmap_signs`), a function of (seed, frequency, sample index) only: the map does not depend
on the batch size or on how images and positions are grouped into forward passes. The official code
draws ``np.random.binomial`` per call, so its signs cannot be matched, only their distribution; the
spread of the signs is part of what a cell's interval covers.

**Speed.** The model runs under ``torch.inference_mode`` on large batches that mix images and bases:
a block of B images is perturbed by K bases at once, ``B * K`` images per forward pass (``batch_size``),
built with one fused broadcast multiply-add and an in-place clip; when memory runs out the number of
bases per pass, then the number of images per block, is halved
(:func:`freqbench.ops.device.map_batches`). With ``channels_last=True`` (the default) the perturbed
images are built directly in NHWC layout and the model's parameters are converted to it for the run
(and converted back), which oneDNN's CPU convolutions prefer. Evaluating one position per mirror pair
does 481 / 1024 = 0.47 of the official code's forward passes for 32 x 32 inputs. Measured with
``benchmarks/bench_heatmap.py`` (ResNet-20, 2 CPU threads, shared machine): the probe forwards
perturbed images at 0.9-1.2x the rate of a bare ``model(x)`` loop on a fixed batch (NHWC helps by
5-15%), so the full 31 x 31 map costs about 0.39-0.45 of a plain forward loop over the 1024 x N inputs
the official code evaluates.

Shape:
    map (H', W') with H' = H - 1 for even H without Nyquist, else H (the same for W).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import torch
from torch import nn

from freqbench.data.base import ArrayDataset
from freqbench.errors import ConfigError, NonFiniteError
from freqbench.ops.device import map_batches
from freqbench.ops.random import SampleGenerator, sample_keys
from freqbench.probes.base import (
    PROBES,
    Measure,
    Probe,
    ProbeInputs,
    Progress,
    centred_radius,
    check_image_size,
    evaluating,
    model_device,
)
from freqbench.store.aggregate import mean, proportion, wilson_interval

#: eps of the paper for CIFAR-10 (32 x 32); it uses 15.7 for ImageNet
DEFAULT_EPS = 4.0


class Basis(StrEnum):
    """The phase of the basis images."""

    PI4 = "pi4"  # the official code's: coefficients 0.5 +- 0.5j
    COSINE = "cosine"  # a common variant: a pure cosine


@dataclass(frozen=True)
class HeatmapOptions:
    """Options of ``fourier_heatmap``.

    Attributes:
        eps: L2 norm of the perturbation (4.0 for 32 x 32 CIFAR images in the paper).
        basis: ``pi4`` (official) or ``cosine``.
        clip: clip perturbed images to [0, 1] (on by default, as in the paper's CIFAR setting).
        include_nyquist: keep the official H x W layout with the Nyquist row/column of even sizes.
        batch_size: perturbed images per forward pass (memory; results do not depend on it).
        channels_last: run the model in NHWC memory layout (speed only; on by default: 5-15% faster
            for ResNet-20 on the CPU, ``benchmarks/bench_heatmap.py``).
    """

    eps: float = DEFAULT_EPS
    basis: Basis = Basis.PI4
    clip: bool = True
    include_nyquist: bool = False
    batch_size: int = 1024
    channels_last: bool = True

    def __post_init__(self) -> None:
        if not self.eps > 0:
            raise ConfigError(f"fourier_heatmap: eps must be positive, got {self.eps}")
        if self.batch_size < 1:
            raise ConfigError(f"fourier_heatmap: batch_size must be >= 1, got {self.batch_size}")
        try:
            object.__setattr__(self, "basis", Basis(self.basis))
        except ValueError:
            raise ConfigError(
                f"fourier_heatmap: basis must be one of {', '.join(Basis)}, got {self.basis!r}"
            ) from None


@dataclass(frozen=True)
class HeatmapGrid:
    """The cells of a heat map and the positions evaluated.

    Attributes:
        size: (H, W) of the images.
        shape: (H', W') of the map.
        frequencies: (P, 2) int64, the raster-first frequency (ky, kx) of each evaluated pair.
        cells: (P, 2) int64, its map cell (a, b).
        mirrors: (P, 2) int64, the map cell of its mirror (== ``cells`` for a self-conjugate position).
    """

    size: tuple[int, int]
    shape: tuple[int, int]
    frequencies: np.ndarray
    cells: np.ndarray
    mirrors: np.ndarray

    @property
    def self_conjugate(self) -> np.ndarray:
        """(P,) bool: positions that are their own mirror."""
        return np.asarray((self.cells == self.mirrors).all(axis=1))


def _axis(n: int, include_nyquist: bool) -> tuple[int, np.ndarray]:
    """Map length along one axis and the frequency of each map index."""
    length = n if (n % 2 == 1 or include_nyquist) else n - 1
    if include_nyquist:
        return length, np.arange(n) - n // 2
    return length, np.arange(length) - length // 2


def heatmap_grid(height: int, width: int, *, include_nyquist: bool = False) -> HeatmapGrid:
    """The map layout and the one position evaluated per mirror pair (module docstring).

    >>> g = heatmap_grid(32, 32)
    >>> g.shape, len(g.frequencies)
    ((31, 31), 481)
    >>> full = heatmap_grid(32, 32, include_nyquist=True)
    >>> full.shape, len(full.frequencies)
    ((32, 32), 514)
    """
    if height < 1 or width < 1:
        raise ConfigError(f"fourier_heatmap needs images of at least 1 x 1, got {height} x {width}")
    hh, fy = _axis(height, include_nyquist)
    ww, fx = _axis(width, include_nyquist)
    ky, kx = np.meshgrid(fy, fx, indexing="ij")
    # the mirror frequency, wrapped into the official range [-n//2, n - 1 - n//2]
    my = np.mod(-ky + height // 2, height) - height // 2
    mx = np.mod(-kx + width // 2, width) - width // 2
    index_y = {int(f): a for a, f in enumerate(fy)}
    index_x = {int(f): b for b, f in enumerate(fx)}
    ma = np.vectorize(index_y.__getitem__)(my)
    mb = np.vectorize(index_x.__getitem__)(mx)
    a, b = np.meshgrid(np.arange(hh), np.arange(ww), indexing="ij")
    first = (a < ma) | ((a == ma) & (b <= mb))  # raster-first of its pair (or its own mirror)
    return HeatmapGrid(
        size=(height, width),
        shape=(hh, ww),
        frequencies=np.stack([ky[first], kx[first]], axis=1).astype(np.int64),
        cells=np.stack([a[first], b[first]], axis=1).astype(np.int64),
        mirrors=np.stack([ma[first], mb[first]], axis=1).astype(np.int64),
    )


def fourier_basis(
    frequencies: np.ndarray,
    size: tuple[int, int],
    *,
    basis: Basis | str = Basis.PI4,
    self_conjugate: np.ndarray | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Unit-norm basis images of the raster-first frequencies ``(ky, kx)`` (module docstring).

    Args:
        frequencies: (P, 2) integer frequencies, each the raster-first of its mirror pair.
        size: (H, W).
        basis: ``pi4`` or ``cosine``.
        self_conjugate: (P,) bool, positions that are their own mirror (computed when None).
        dtype, device: of the result (computed in float64).

    Shape:
        (P, 2) -> (P, H, W).
    """
    height, width = size
    f = torch.as_tensor(np.asarray(frequencies), dtype=torch.int64)
    ky, kx = f[:, 0, None, None], f[:, 1, None, None]
    m = torch.arange(height, dtype=torch.int64)[None, :, None]
    n = torch.arange(width, dtype=torch.int64)[None, None, :]
    # the phase as an exact integer fraction of a turn, so t is exact where it is a multiple of pi
    turns = torch.remainder(ky * m * width + kx * n * height, height * width).to(torch.float64)
    t = turns * (2.0 * np.pi / (height * width))
    if self_conjugate is None:
        mirror_y = torch.remainder(-f[:, 0] + height // 2, height) - height // 2
        mirror_x = torch.remainder(-f[:, 1] + width // 2, width) - width // 2
        selfc = (mirror_y == f[:, 0]) & (mirror_x == f[:, 1])
    else:
        selfc = torch.as_tensor(np.asarray(self_conjugate), dtype=torch.bool)
    u = torch.cos(t)
    if Basis(basis) is Basis.PI4:
        u = torch.where(selfc[:, None, None], u, u - torch.sin(t))
    u = u / torch.linalg.vector_norm(u, dim=(-2, -1), keepdim=True)
    return u.to(device=device, dtype=dtype)


def sign_stream(ky: int, kx: int) -> str:
    """The RNG stream name of the mirror pair whose raster-first frequency is (ky, kx)."""
    return f"fourier_heatmap@{int(ky)},{int(kx)}"


def heatmap_signs(
    seed: int, frequencies: np.ndarray, indices: np.ndarray | torch.Tensor, channels: int
) -> torch.Tensor:
    """The random sign of every (image, position, channel) (module docstring: Randomness).

    Shape:
        frequencies (P, 2), indices (B,) -> (B, P, C) float32 +-1.
    """
    idx = torch.as_tensor(np.asarray(indices), dtype=torch.int64)
    out = torch.empty(len(idx), len(frequencies), channels)
    for p, (ky, kx) in enumerate(np.asarray(frequencies).tolist()):
        bits = SampleGenerator(sample_keys(seed, sign_stream(ky, kx), idx)).bits24(channels)
        out[:, p] = bits.bitwise_and_(1).mul_(2).sub_(1)
    return out


@dataclass(frozen=True)
class FourierHeatmap:
    """Result of ``fourier_heatmap``.

    Attributes:
        error: error rate per cell, (H', W') float64, low frequencies at the centre.
        errors: misclassified images per cell, (H', W') int64.
        n: images per cell.
        ci_low, ci_high: Wilson 95% interval per cell, (H', W').
        grid: the layout and the positions evaluated.
        correct: per image and evaluated position, (N, P) bool.
        clean_correct: per image without perturbation, (N,) bool.
        indices: stable sample indices, (N,) int64.
        info: options and summary numbers.
    """

    error: np.ndarray
    errors: np.ndarray
    n: int
    ci_low: np.ndarray
    ci_high: np.ndarray
    grid: HeatmapGrid
    correct: np.ndarray
    clean_correct: np.ndarray
    indices: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def clean_error(self) -> float:
        return float(1.0 - self.clean_correct.mean())

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "error": self.error,
            "errors": self.errors,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "frequencies": self.grid.frequencies,
            "cells": self.grid.cells,
            "mirrors": self.grid.mirrors,
            "correct": self.correct,
            "clean_correct": self.clean_correct,
            "indices": self.indices,
        }

    @property
    def high_radius(self) -> float:
        """Where the high-frequency ring starts: a quarter of the smaller image side, in cycles per image."""
        return min(self.grid.size) / 4

    def per_image_error(self, cells: np.ndarray | None = None) -> np.ndarray:
        """Each image's error rate over the map's cells (all, or the cells where ``cells`` is True),
        counting a mirror pair's two cells: (N,) float64."""
        radius = np.ones(self.grid.shape, dtype=bool) if cells is None else cells
        at = radius[self.grid.cells[:, 0], self.grid.cells[:, 1]]
        weight = np.where(self.grid.self_conjugate, 1.0, 2.0) * at
        return (~self.correct).astype(np.float64) @ weight / weight.sum()

    def measures(self) -> list[Measure]:
        """Condition ``map``: ``clean_error`` (Wilson interval), ``mean_error`` over all cells and
        ``high_frequency_error`` over the cells at radius >= :attr:`high_radius` (means over images of
        each image's error rate, normal intervals); n = images."""
        ring = centred_radius(self.grid.shape) >= self.high_radius
        clean = proportion("clean_error", ~self.clean_correct)
        tags = {"high_radius": self.high_radius, "eps": self.info.get("eps"), "basis": self.info.get("basis")}
        return [
            Measure("map", clean, tags),
            Measure("map", mean("mean_error", self.per_image_error(), domain=(0.0, 1.0)), tags),
            Measure("map", mean("high_frequency_error", self.per_image_error(ring), domain=(0.0, 1.0)), tags),
        ]

    def meta(self) -> dict[str, Any]:
        lo, hi = wilson_interval(int((~self.clean_correct).sum()), self.n)
        return {
            "n": self.n,
            "size": list(self.grid.size),
            "shape": list(self.grid.shape),
            "positions": len(self.grid.frequencies),
            "clean_error": self.clean_error,
            "clean_error_ci": [lo, hi],
            **self.info,
        }


def _predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    logits = model(x)
    if not bool(torch.isfinite(logits).all()):
        raise NonFiniteError(
            "fourier_heatmap: the model returned NaN or infinite logits; check its weights and inputs"
        )
    return logits.argmax(dim=1)


def fourier_heatmap(
    model: nn.Module,
    data: ArrayDataset,
    options: HeatmapOptions | None = None,
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> FourierHeatmap:
    """The Fourier heat map of ``model`` on ``data`` (module docstring).

    Args:
        model: float images in [0, 1] -> logits; run in eval mode (restored afterwards).
        data: the evaluation images and labels.
        options: eps, basis, clipping, layout, batch size.
        seed: keys the random signs.
        progress: ``progress(perturbed images done, total)``.

    Raises:
        NonFiniteError: the model returned NaN or infinite logits.
    """
    opts = options or HeatmapOptions()
    channels, height, width = check_image_size(data, "fourier_heatmap")
    grid = heatmap_grid(height, width, include_nyquist=opts.include_nyquist)
    device = model_device(model)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    bases = fourier_basis(
        grid.frequencies,
        (height, width),
        basis=opts.basis,
        self_conjugate=grid.self_conjugate,
        dtype=dtype,
        device=device,
    )
    n, positions = len(data), len(grid.frequencies)
    total = n * positions
    correct = np.zeros((n, positions), dtype=bool)
    clean = np.zeros(n, dtype=bool)
    done = 0

    def block(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = data.batch(rows)
        x, y = x.to(device=device, dtype=dtype), y.to(device)
        b = len(rows)
        signs = heatmap_signs(seed, grid.frequencies, data.indices[rows], channels)
        scaled = signs.to(device=device, dtype=dtype).mul_(opts.eps)  # (B, P, C)
        clean_ok = (_predict(model, _layout(x, opts.channels_last)) == y).cpu().numpy()
        out = np.zeros((b, positions), dtype=bool)

        def chunk(cols: np.ndarray) -> np.ndarray:
            nonlocal done
            sl = slice(int(cols[0]), int(cols[-1]) + 1)
            k = sl.stop - sl.start
            inp = perturb(x, scaled[:, sl], bases[sl], clip=opts.clip, channels_last=opts.channels_last)
            pred = _predict(model, inp).view(b, k)
            done += b * k
            if progress is not None:
                progress(done, total)
            return (pred == y[:, None]).cpu().numpy()

        per_forward = max(1, opts.batch_size // b)
        for sl, ok in map_batches(positions, chunk, batch_size=per_forward, device=device):
            out[:, sl] = ok
        return clean_ok, out

    # NHWC conversion outside inference mode: parameters converted inside it would stay inference
    # tensors, and a later autograd use of the model (a Fourier mask, training) would fail
    with evaluating(model, channels_last=opts.channels_last), torch.inference_mode():
        images_per_block = min(n, opts.batch_size)
        for sl, (clean_ok, ok) in map_batches(n, block, batch_size=images_per_block, device=device):
            clean[sl], correct[sl] = clean_ok, ok

    wrong = (~correct).sum(axis=0)
    errors = np.zeros(grid.shape, dtype=np.int64)
    errors[grid.cells[:, 0], grid.cells[:, 1]] = wrong
    errors[grid.mirrors[:, 0], grid.mirrors[:, 1]] = wrong
    intervals = np.array([wilson_interval(int(e), n) for e in errors.reshape(-1)]).reshape(*grid.shape, 2)
    return FourierHeatmap(
        error=errors / n,
        errors=errors,
        n=n,
        ci_low=intervals[..., 0],
        ci_high=intervals[..., 1],
        grid=grid,
        correct=correct,
        clean_correct=clean,
        indices=np.asarray(data.indices, dtype=np.int64),
        info={
            "eps": opts.eps,
            "basis": str(opts.basis),
            "clip": opts.clip,
            "include_nyquist": opts.include_nyquist,
            "seed": seed,
        },
    )


def perturb(
    x: torch.Tensor,
    scaled_signs: torch.Tensor,
    bases: torch.Tensor,
    *,
    clip: bool,
    channels_last: bool = False,
) -> torch.Tensor:
    """Every image perturbed by every basis: ``x[b] + s[b, k, c] * U[k]`` (clipped), batched.

    One multiply-add into a preallocated tensor in the layout the model will read (NCHW, or NHWC
    for ``channels_last``), then an in-place clip; row ``b * K + k`` is image b with basis k.

    Args:
        x: images (B, C, H, W).
        scaled_signs: ``eps * sign`` per image, basis and channel, (B, K, C).
        bases: unit-norm basis images (K, H, W).
        clip: clip to [0, 1].
        channels_last: return a channels-last (NHWC-strided) tensor.

    Shape:
        (B, C, H, W), (B, K, C), (K, H, W) -> (B * K, C, H, W).
    """
    b, c, h, w = x.shape
    k = bases.shape[0]
    if channels_last:
        out = torch.empty((b, k, h, w, c), dtype=x.dtype, device=x.device)
        torch.addcmul(
            x.permute(0, 2, 3, 1)[:, None],
            scaled_signs[:, :, None, None, :],
            bases[None, :, :, :, None],
            out=out,
        )
    else:
        out = torch.empty((b, k, c, h, w), dtype=x.dtype, device=x.device)
        torch.addcmul(x[:, None], scaled_signs[..., None, None], bases[None, :, None], out=out)
    if clip:
        out.clamp_(0.0, 1.0)
    if channels_last:
        return out.view(b * k, h, w, c).permute(0, 3, 1, 2)
    return out.view(b * k, c, h, w)


def _layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _run(inputs: ProbeInputs, options: HeatmapOptions) -> FourierHeatmap:
    assert inputs.model is not None and inputs.data is not None  # Probe.__call__ checked them
    return fourier_heatmap(inputs.model, inputs.data, options, seed=inputs.seed, progress=inputs.progress)


PROBES.register(
    "fourier_heatmap",
    Probe(
        name="fourier_heatmap",
        summary="Yin et al. Fourier heat map: error under eps * (+-) Fourier basis per frequency",
        needs=frozenset({"model", "data"}),
        options=HeatmapOptions,
        run=_run,
    ),
)
