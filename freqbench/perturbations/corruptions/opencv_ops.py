"""OpenCV operations of the CIFAR-10-C generator, re-implemented in torch with OpenCV's arithmetic.

The generator (``ImageNet-C/create_c/make_cifar_c.py``, hendrycks/robustness) calls OpenCV for the
defocus kernel (``cv2.getGaussianKernel`` through ``cv2.GaussianBlur``, then ``cv2.filter2D``), the
greyscale brightening of snow (``cv2.COLOR_RGB2GRAY``) and spatter's water mode: Canny edges, a
chamfer distance transform, box filters, ``filter2D`` and histogram equalisation. No library offers
these with OpenCV's exact arithmetic (kornia's ``canny`` smooths first and uses another suppression
rule), and the corruptions' final truncation to 8-bit levels needs it: here are Canny's 3x3 Sobel, L1
magnitude, non-maximum suppression and 8-connected hysteresis, the 5x5 chamfer distance (weights 1,
1.4, 2.1969 summed in float32), and the float32 Gaussian taps. Everything is batched; the image
operations of spatter work on uint8-valued int64 tensors (B, H, W), as OpenCV does on ``CV_8U``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from freqbench.errors import IncompatibleError

#: ``cv2.COLOR_RGB2GRAY``: ITU-R BT.601 luma weights
RGB2GRAY: tuple[float, float, float] = (0.299, 0.587, 0.114)


def cv2_gaussian_taps(ksize: int, sigma: float) -> np.ndarray:
    """``cv2.getGaussianKernel(ksize, sigma)`` for sigma > 0, as the float32 taps OpenCV uses on float32."""
    x = np.arange(ksize) - (ksize - 1) * 0.5
    t = np.exp(-0.5 / (sigma * sigma) * x * x)
    return (t * (1.0 / t.sum())).astype(np.float32)


def correlate_small(
    x: torch.Tensor, kernel: torch.Tensor | Sequence[Sequence[float]], *, mode: str = "reflect"
) -> torch.Tensor:
    """``cv2.filter2D`` with a small odd kernel as a sum of shifted copies, skipping the zero taps.

    ``mode`` is the border: ``'reflect'`` (reflect-101, OpenCV's default) or ``'replicate'``. For the
    few-tap kernels here this is several times faster on the CPU than ``conv2d`` (and kornia's
    ``filter2d``, which calls it); with integer kernels on uint8 values held in float64 it is exact.

    Shape:
        x: (B, C, H, W); kernel: (kh, kw), odd sizes; returns (B, C, H, W) in x's dtype.
    """
    kernel = torch.as_tensor(kernel, dtype=torch.float64)
    kh, kw = kernel.shape
    rh, rw = kh // 2, kw // 2
    h, w = x.shape[-2:]
    xp = F.pad(x, (rw, rw, rh, rh), mode=mode)
    out = torch.zeros_like(x)
    term = torch.empty_like(x)
    for i in range(kh):
        for j in range(kw):
            k = float(kernel[i, j])
            if k != 0.0:
                out.add_(torch.mul(xp[..., i : i + h, j : j + w], k, out=term))
    return out


def _correlate3x3(t: torch.Tensor, kernel: Sequence[Sequence[int]], *, mode: str) -> torch.Tensor:
    """Exact integer 3x3 correlation of (B, H, W) levels, in float64."""
    return correlate_small(t[:, None].to(torch.float64), kernel, mode=mode)[:, 0]


def rgb_to_gray(x: torch.Tensor) -> torch.Tensor:
    """``cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)`` without rounding: (B, 3, H, W) -> (B, 1, H, W); 1 channel
    is returned as is."""
    if x.shape[1] == 1:
        return x
    if x.shape[1] != 3:
        raise IncompatibleError(f"expected 1 or 3 channels, got {x.shape[1]}; pass RGB or greyscale images")
    return RGB2GRAY[0] * x[:, 0:1] + RGB2GRAY[1] * x[:, 1:2] + RGB2GRAY[2] * x[:, 2:3]


# --- spatter's water mode: Canny, distance transform, box filter, histogram equalisation ------------
#: tan(22.5 degrees) in 15-bit fixed point, as in OpenCV's ``canny.cpp``
_TG22 = int(0.4142135623730950488016887242097 * (1 << 15) + 0.5)


def canny(img: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """``cv2.Canny(img, low, high)`` (aperture 3, L1 gradient) as a bool edge map.

    Shape:
        img: (B, H, W) integer levels 0..255; returns (B, H, W) bool.
    """
    dx = _correlate3x3(img, ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1)), mode="replicate").long()
    dy = _correlate3x3(img, ((-1, -2, -1), (0, 0, 0), (1, 2, 1)), mode="replicate").long()
    mag = dx.abs() + dy.abs()
    ax, ay = dx.abs(), dy.abs() << 15
    tg22x = ax * _TG22
    tg67x = tg22x + (ax << 16)
    horizontal = ay < tg22x
    vertical = ~horizontal & (ay > tg67x)
    diagonal = ~horizontal & ~vertical
    s = torch.where((dx ^ dy) < 0, -1, 1)
    padded = F.pad(mag, (1, 1, 1, 1), value=0)
    h, w = mag.shape[-2:]
    nb = {(i, j): padded[..., 1 + i : 1 + i + h, 1 + j : 1 + j + w] for i in (-1, 0, 1) for j in (-1, 0, 1)}
    diag_max = torch.where(
        s > 0, (mag > nb[-1, -1]) & (mag > nb[1, 1]), (mag > nb[-1, 1]) & (mag > nb[1, -1])
    )
    local_max = (
        (horizontal & (mag > nb[0, -1]) & (mag >= nb[0, 1]))
        | (vertical & (mag > nb[-1, 0]) & (mag >= nb[1, 0]))
        | (diagonal & diag_max)
    )
    candidate = local_max & (mag > math.floor(low))
    edges = candidate & (mag > math.floor(high))
    while True:  # hysteresis: grow strong edges into 8-connected candidates
        # 3x3 dilation as the OR of nine shifted views of one padded copy (cheaper than max_pool2d)
        ring = F.pad(edges, (1, 1, 1, 1), value=False)
        near = edges.clone()
        for i in range(3):
            for j in range(3):
                near |= ring[..., i : i + h, j : j + w]
        grown = candidate & near | edges
        if torch.equal(grown, edges):
            return edges
        edges = grown


#: cv2 DIST_L2 with a 5x5 mask: chamfer weights for a step, a diagonal and a knight move (float32)
_CHAMFER = (1.0, 1.4, 2.1969)


def chamfer_distance(zero: torch.Tensor, *, cap: float) -> torch.Tensor:
    """``min(cv2.distanceTransform(src, DIST_L2, 5), cap)``: distance to the nearest ``zero`` pixel.

    The chamfer distance is the shortest path over moves to the 8 neighbours and the 8 knight moves
    (OpenCV's two raster passes compute it, summing float32 weights along the path); relaxing all moves
    ``ceil(cap) + 1`` times finds every path shorter than ``cap`` (each move costs >= 1).

    Shape:
        zero: (B, H, W) bool; returns (B, H, W) float32.
    """
    hv, diag, knight = (torch.tensor(w, dtype=torch.float32).item() for w in _CHAMFER)
    big = 1e6
    d = torch.where(zero, 0.0, big).to(torch.float32)
    moves = [(0, 1, hv), (1, 0, hv), (0, -1, hv), (-1, 0, hv)]
    moves += [(i, j, diag) for i in (-1, 1) for j in (-1, 1)]
    moves += [
        (i, j, knight) for i, j in ((1, 2), (2, 1), (-1, 2), (-2, 1), (1, -2), (2, -1), (-1, -2), (-2, -1))
    ]
    h, w = d.shape[-2:]
    step = torch.empty_like(d)
    for _ in range(math.ceil(cap) + 1):
        # every move reads the previous iterate (Jacobi): one padded copy, views for the 16 shifts
        padded = F.pad(d, (2, 2, 2, 2), value=big)
        nxt = d.clone()
        for i, j, weight in moves:
            torch.add(padded[..., 2 + i : 2 + i + h, 2 + j : 2 + j + w], weight, out=step)
            torch.minimum(nxt, step, out=nxt)
        if torch.equal(nxt, d):
            break
        d = nxt
    return torch.clamp(d, max=cap)


def box3(t: torch.Tensor) -> torch.Tensor:
    """``cv2.blur(t, (3, 3))`` sum (reflect-101 border), in float64, before OpenCV's ``* (1/9)``.

    Shape:
        t: (B, H, W); returns (B, H, W) float64.
    """
    return _correlate3x3(t, ((1, 1, 1), (1, 1, 1), (1, 1, 1)), mode="reflect")


def equalize_hist(img: torch.Tensor) -> torch.Tensor:
    """``cv2.equalizeHist`` per sample.

    Shape:
        img: (B, H, W) int64 levels 0..255; returns the same.
    """
    b = img.shape[0]
    flat = img.reshape(b, -1)
    total = flat.shape[1]
    hist = torch.zeros(b, 256, dtype=torch.int64, device=img.device).scatter_add_(
        1, flat, torch.ones_like(flat)
    )
    first = (hist > 0).long().argmax(1, keepdim=True)
    h_first = hist.gather(1, first)
    cum = hist.cumsum(1)
    since = cum - cum.gather(1, first)
    scale = (
        torch.tensor(255.0, dtype=torch.float32, device=img.device) / (total - h_first).clamp(min=1).float()
    )
    lut = torch.round(since.float() * scale).clamp(0, 255).long()
    lut = torch.where(h_first == total, first.expand(b, 256), lut)  # a constant image maps to itself
    return lut.gather(1, flat).reshape(img.shape)


def filter3x3_u8(t: torch.Tensor, kernel: Sequence[Sequence[int]]) -> torch.Tensor:
    """``cv2.filter2D(t, cv2.CV_8U, kernel)`` for an integer 3x3 kernel: exact sum, saturated to 0..255.

    Shape:
        t: (B, H, W) int64 levels; returns (B, H, W) int64.
    """
    return _correlate3x3(t, kernel, mode="reflect").clamp(0, 255).long()
