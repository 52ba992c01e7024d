"""SciPy operations of the CIFAR-10-C generator, re-implemented in torch with SciPy's arithmetic.

The generator (``ImageNet-C/create_c/make_cifar_c.py``, hendrycks/robustness) blurs with
``skimage.filters.gaussian`` (that is ``scipy.ndimage.gaussian_filter``), zooms with
``scipy.ndimage.zoom`` and resamples the elastic transform with ``scipy.ndimage.map_coordinates``.
Its final truncation to 8-bit levels turns last-bit differences into level differences, so the
filters here follow SciPy's taps (:func:`~freqbench.ops.kernels.gaussian_taps`) and its order of
summation (``correlate1d``: the centre tap, then the symmetric pairs from the outermost inwards), the
zoom its sampling positions, and :func:`legacy_scipy_reflect` the ``reflect`` border of the SciPy
before 1.6 that made the released data.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from freqbench.ops.kernels import gaussian_taps


def symmetric_pass(x: torch.Tensor, weights: np.ndarray, dim: int, *, mode: str) -> torch.Tensor:
    """1-D correlation with a symmetric odd kernel along ``dim`` (-1 or -2), summed in scipy's order:
    ``centre * w0``, then the pairs ``(x[-j] + x[+j]) * w_j`` from the outermost inwards."""
    r = len(weights) // 2
    if r == 0:
        return x * float(weights[0])
    pad = (r, r, 0, 0) if dim == -1 else (0, 0, r, r)
    xp = F.pad(x, pad, mode=mode)
    n = x.shape[dim]

    def tap(j: int) -> torch.Tensor:
        return xp.narrow(dim, r + j, n)

    out = tap(0) * float(weights[r])
    pair = torch.empty_like(out)
    for j in range(r, 0, -1):
        # in place into two buffers: fresh tensors of a whole batch cost page faults on every op
        out.add_(torch.add(tap(-j), tap(j), out=pair).mul_(float(weights[r - j])))
    return out


def scipy_gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Per-channel Gaussian blur as ``scipy.ndimage.gaussian_filter(mode='nearest', truncate=4)``.

    This is what ``skimage.filters.gaussian(..., multichannel=True)`` does in the reference: radius
    ``int(4 sigma + 0.5)`` (a sigma below 0.125 leaves the image unchanged), edge replication, rows
    first, then columns. The taps and the order of the sums follow scipy's ``correlate1d``, so in
    float64 the result is scipy's bit for bit. (kornia's ``gaussian_blur2d`` has the same weights but
    another summation order, which flips the reference's truncation on flat regions.)

    Shape:
        x: (B, C, H, W); returns the same.
    """
    w = gaussian_taps(sigma)
    if len(w) == 1:
        return x
    return symmetric_pass(symmetric_pass(x, w, -2, mode="replicate"), w, -1, mode="replicate")


def clipped_zoom(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Centre crop of ``ceil(size / factor)``, linear zoom by ``factor``, centre trim back to size.

    The zoom is ``scipy.ndimage.zoom(order=1)`` with its default ``grid_mode=False``: output pixel ``o``
    samples input coordinate ``o * (n_in - 1) / (n_out - 1)`` (corners aligned), which is exactly
    ``interpolate(mode='bilinear', align_corners=True)``; the output size is ``round(n_in * factor)``.

    Shape:
        x: (B, C, H, W); returns the same.
    """
    _, _, h, w = x.shape
    ch, cw = math.ceil(h / factor), math.ceil(w / factor)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = x[..., top : top + ch, left : left + cw]
    oh, ow = round(ch * factor), round(cw * factor)
    zoomed = F.interpolate(crop, size=(oh, ow), mode="bilinear", align_corners=True)
    t, l = (oh - h) // 2, (ow - w) // 2
    return zoomed[..., t : t + h, l : l + w]


def legacy_scipy_reflect(c: torch.Tensor, n: int) -> torch.Tensor:
    """Where SciPy before 1.6 read ``map_coordinates(order=1, mode='reflect')`` at coordinate ``c`` of an
    axis of ``n`` samples, as a position in ``[0, n - 1]`` for plain linear interpolation.

    The generator ran on such a SciPy (CIFAR-10-C was released in January 2019; SciPy 1.6, December
    2020, rewrote the boundary handling, scipy/scipy#12767, reported in #8465). Its ``map_coordinate``
    folded a coordinate below 0 to ``-c - 1`` and left one in ``(n - 1, n)`` as it was, then
    interpolated with mirror (reflect-101) support points. So ``c`` in ``[-n, -1]`` or ``[n, 2n - 1]``
    is the half-sample reflection, but ``c`` in ``(-1, 0)`` reads the image at ``c + 1`` and ``c`` in
    ``(n - 1, n)`` at ``2 (n - 1) - c``, where current SciPy reads the edge sample ``0`` or ``n - 1``.
    The elastic displacements are at most ``alpha = 0.1 min(H, W) < n`` pixels, so ``c`` stays in
    ``(-n, 2n - 1)``, where these cases are complete.

    Shape:
        c: any -> same, float64.
    """
    low = torch.where(c > -1.0, c + 1.0, -c - 1.0)
    high = torch.where(c < n, 2.0 * (n - 1) - c, 2.0 * n - 1.0 - c)
    return torch.where(c < 0, low, torch.where(c > n - 1, high, c)).clamp_(0.0, n - 1.0)
