"""Pillow operations of the CIFAR-10-C generator, re-implemented in torch with Pillow's integer arithmetic.

The generator (``ImageNet-C/create_c/make_cifar_c.py``, hendrycks/robustness) pixelates with
``PIL.Image.resize(..., Image.BOX)`` on 8-bit images; the grey picture of a saturated grey image is
PIL's ``convert('L')``. Both work on 8-bit values in fixed point: :func:`pil_box_resize` and
:func:`pil_convert_l` reproduce them exactly on uint8 values held in float64 (the sums stay below
2**53, so float64 arithmetic is exact).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

#: ITU-R BT.601 luma weights in Pillow's 16-bit fixed point (``Convert.c``: L = (19595 R + 38470 G +
#: 7471 B + 0x8000) >> 16)
LUMA_WEIGHTS_16: tuple[int, int, int] = (19595, 38470, 7471)
_PIL_PRECISION_BITS = 22  # Pillow's Resample.c: 32 - 8 - 2 bits for 8-bit images


@functools.lru_cache(maxsize=64)
def pil_box_weights(in_size: int, out_size: int) -> np.ndarray:
    """Pillow's fixed-point BOX resampling weights from ``in_size`` to ``out_size`` samples.

    Pillow (``libImaging/Resample.c``, ``precompute_coeffs`` and ``normalize_coeffs_8bpc``) gives
    output sample ``i`` the input samples whose centres fall in its box: centre
    ``c = (i + 0.5) * scale``, support ``s = 0.5 * max(scale, 1)``, candidates ``floor(c - s + 0.5)``
    to ``floor(c + s + 0.5) - 1``, weight 1 where ``-0.5 < (j - c + 0.5) / max(scale, 1) <= 0.5``;
    weights are normalised and stored as ``int(0.5 + w * 2**22)``. It is not fractional area
    coverage: at these ratios each input sample counts fully or not at all.

    Returns:
        (out_size, in_size) float64 array of integer weights.
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    weights = np.zeros((out_size, in_size), dtype=np.float64)
    for i in range(out_size):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        taps = np.arange(lo, hi)
        arg = (taps - center + 0.5) / filterscale
        w = ((arg > -0.5) & (arg <= 0.5)).astype(np.float64)
        if w.sum() != 0.0:
            w = w / w.sum()
        weights[i, lo:hi] = np.floor(0.5 + w * (1 << _PIL_PRECISION_BITS))
    return weights


def _pil_resample_pass(q: torch.Tensor, weights: np.ndarray, dim: int) -> torch.Tensor:
    """One Pillow 8-bit resampling pass along ``dim`` (-1: horizontal, -2: vertical).

    ``q`` holds integers 0..255 in float64; sums of 8-bit values times 22-bit weights stay below
    2**53, so the float64 matrix product is exact, and ``(sum + 2**21) >> 22`` is the rounding.
    """
    w = torch.from_numpy(weights).to(q.device)
    s = torch.matmul(q, w.T) if dim == -1 else torch.matmul(w, q)
    half = float(1 << (_PIL_PRECISION_BITS - 1))
    # multiplying by 2**-22 is the exact division by 2**22
    return s.add_(half).mul_(1.0 / (1 << _PIL_PRECISION_BITS)).floor_().clamp_(0.0, 255.0)


def pil_box_resize(q: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``PIL.Image.resize(size[::-1], Image.BOX)`` on 8-bit images, exactly (horizontal pass first).

    Args:
        q: integer pixel values 0..255 in a float64 tensor.
        size: output (height, width).

    Shape:
        q: (B, C, H, W) -> (B, C, size[0], size[1]).
    """
    h, w = q.shape[-2:]
    if size[1] != w:
        q = _pil_resample_pass(q, pil_box_weights(w, size[1]), -1)
    if size[0] != h:
        q = _pil_resample_pass(q, pil_box_weights(h, size[0]), -2)
    return q


def pil_convert_l(levels: torch.Tensor) -> torch.Tensor:
    """``PIL.Image.convert('L')`` of RGB 8-bit levels: ``(19595 R + 38470 G + 7471 B + 0x8000) >> 16``.

    Shape:
        levels: (B, 3, H, W) levels ``k / 255`` in float64 -> (B, 1, H, W) levels in float64.
    """
    luma = torch.tensor(LUMA_WEIGHTS_16, dtype=torch.float64, device=levels.device).view(1, 3, 1, 1)
    fixed = (torch.round(levels * 255.0) * luma).sum(dim=1, keepdim=True) + float(1 << 15)
    return torch.floor(fixed / float(1 << 16)) / 255.0
