"""The orthonormal real DFT basis, and a half-plane spectral mask written in it.

This is the arithmetic shared by the ``matmul`` and ``triton`` backends of
:func:`freqbench.ops.spectral_mask.apply_spectral_mask`; the ``torch`` backend does not use it.

Basis. For length n the rows of :func:`real_dft_matrix` are, in this order, the cosines
``cos(2 pi k t / n)`` for k = 0 .. n // 2 and the sines ``sin(2 pi k t / n)`` for k = 1 .. (n - 1) // 2,
each scaled to unit norm: n rows in all, an orthogonal n x n matrix ``P`` (``P @ P.T = I``). A real
image x (H x W) has the coefficients ``Z = P_H @ x @ P_W.T`` and ``x = P_H.T @ Z @ P_W``.

The mask in that basis. Let ``M`` be a real mask on the ``rfft2`` half plane (H, W//2+1). The operator
``x -> irfft2(rfft2(x) * M, s=(H, W))`` (with torch's convention on the self-conjugate columns, see
:mod:`freqbench.ops.spectral_mask`) acts on the coefficients of one frequency class (|ky|, kx) only. For
0 < kx < W/2 and 0 < ky < H/2 the class holds four coefficients, cos-cos (cc), sin-sin (ss), sin-cos
(sc) and cos-sin (cs), and with ``m1 = M[ky, kx]``, ``m2 = M[-ky, kx]`` (the two bins of the half plane
with these |ky|, kx; the bins (ky, -kx) and (-ky, -kx) of the full plane carry the same values by
Hermitian symmetry) the operator is::

    Y_cc = s Z_cc + d Z_ss      Y_sc = s Z_sc - d Z_cs      s = (m1 + m2) / 2
    Y_ss = d Z_cc + s Z_ss      Y_cs = -d Z_sc + s Z_cs     d = (m2 - m1) / 2

(from cos(a +- b) and sin(a +- b) being eigenfunctions with eigenvalues m1 and m2). Where ky = 0, ky =
H/2, kx = 0 or kx = W/2 a sine vanishes, the class has fewer coefficients and the operator is the
diagonal ``s``; on the self-conjugate columns s = (M[ky, 0] + M[-ky, 0]) / 2 is exactly the symmetric
part that acts. So with ``S`` and ``D`` laid out like ``Z`` (D signed: + on cc/ss, - on sc/cs) and
``swap(Z)[i, j] = Z[partner(i), partner(j)]`` (the other kind of the same frequency)::

    Y = S * Z + D * swap(Z)

Both 2 x 2 blocks are symmetric, so the operator is self-adjoint. ``D`` is zero for every mask that is
symmetric in ky (all radial masks); :func:`mask_in_basis` returns ``None`` for it then.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class BasisLayout:
    """Which frequency and kind each row of the length-n basis holds.

    Attributes:
        freq: frequency k of each row.
        sine: True for sine rows.
        partner: row of the same frequency and the other kind, -1 where there is none.
    """

    freq: np.ndarray
    sine: np.ndarray
    partner: np.ndarray


@functools.lru_cache(maxsize=64)
def basis_layout(n: int) -> BasisLayout:
    """Row layout of the length-``n`` real DFT basis (cosines 0..n//2, then sines 1..(n-1)//2).

    >>> basis_layout(4).freq.tolist(), basis_layout(4).partner.tolist()
    ([0, 1, 2, 1], [-1, 3, -1, 1])
    """
    n_cos, n_sin = n // 2 + 1, (n - 1) // 2
    freq = np.concatenate([np.arange(n_cos), np.arange(1, n_sin + 1)])
    sine = np.arange(n) >= n_cos
    partner = np.full(n, -1)
    partner[1 : 1 + n_sin] = np.arange(n_cos, n)
    partner[n_cos:] = np.arange(1, 1 + n_sin)
    return BasisLayout(freq, sine, partner)


@functools.lru_cache(maxsize=128)
def real_dft_matrix(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The orthogonal real DFT matrix of length ``n`` (built in float64, then cast).

    Shape:
        (n, n): row i is basis function i, ``P @ P.T = I``.
    """
    lay = basis_layout(n)
    t = torch.arange(n, dtype=torch.float64)
    k = torch.from_numpy(lay.freq).to(torch.float64)
    angle = 2.0 * math.pi * torch.remainder(k[:, None] * t[None, :], n) / n
    rows = torch.where(torch.from_numpy(lay.sine)[:, None], torch.sin(angle), torch.cos(angle))
    self_conj = (k == 0) | (2 * k == n)
    scale = torch.where(self_conj, 1.0, 2.0).to(torch.float64).div_(n).sqrt_()
    return (rows * scale[:, None]).to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=128)
def partner_matrix(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``real_dft_matrix`` with each row replaced by its partner's (zero where there is none).

    ``partner_matrix(H) @ x @ partner_matrix(W).T`` is ``swap`` of the coefficients, for the Triton
    kernel, which cannot gather rows of a tile.

    Shape:
        (n, n).
    """
    lay = basis_layout(n)
    p = real_dft_matrix(n, torch.float64, torch.device("cpu"))
    out = torch.where(torch.from_numpy(lay.partner >= 0)[:, None], p[np.maximum(lay.partner, 0)], 0.0)
    return out.to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=64)
def _maps(height: int, width: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The column gather, the row maps and the column signs that take a mask to S and D."""
    lh, lw = basis_layout(height), basis_layout(width)
    rows, mirror = lh.freq, (-lh.freq) % height
    gather = np.zeros((width // 2 + 1, width))
    gather[lw.freq, np.arange(width)] = 1.0
    a_s = np.zeros((height, height))
    a_d = np.zeros((height, height))
    np.add.at(a_s, (np.arange(height), rows), 0.5)
    np.add.at(a_s, (np.arange(height), mirror), 0.5)
    # D = (m2 - m1) / 2, signed + on cc/ss and - on sc/cs, zero where a row or column has no partner
    row_sign = np.where(lh.sine, -0.5, 0.5) * (lh.partner >= 0)
    np.add.at(a_d, (np.arange(height), mirror), row_sign)
    np.add.at(a_d, (np.arange(height), rows), -row_sign)
    col_sign = np.where(lw.sine, -1.0, 1.0) * (lw.partner >= 0)
    # contiguous: MKL multiplies by a transposed (strided) small right operand several times slower
    mats = (gather, a_s.T, a_d.T, col_sign)
    return tuple(torch.from_numpy(np.ascontiguousarray(a)).to(device=device, dtype=dtype) for a in mats)


def mask_in_basis(mask: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``S`` and ``D`` of a half-plane mask (module docstring); ``D`` is None where it is zero.

    Both are computed column-major, (W, ..., H), by small GEMMs with 0/1 and +-1/2 matrices (exact:
    each output sums at most two nonzero products), and returned as (..., H, W) views of that
    memory: ``S.movedim(-1, 0)`` is contiguous.

    Args:
        mask: real, (..., H, W//2+1).
        width: W of the images (W//2+1 alone does not tell odd from even W).

    Shape:
        (..., H, W//2+1) -> S (..., H, W), D (..., H, W) or None; dtype and device of ``mask``.
    """
    height, half = mask.shape[-2:]
    gather, a_s_t, a_d_t, col_sign = _maps(height, width, mask.dtype, mask.device)
    lead = tuple(mask.shape[:-2])
    flat = mask.reshape(-1, half)
    by_col = torch.empty(width, flat.shape[0], dtype=mask.dtype, device=mask.device)
    torch.mm(flat, gather, out=by_col.t())  # the column gather, written column-major
    by_col = by_col.view(width, -1, height)
    s_t = (by_col @ a_s_t).view(width, *lead, height)
    d_t = (by_col @ a_d_t).mul_(col_sign.view(-1, 1, 1)).view(width, *lead, height)
    low, high = torch.aminmax(d_t)
    d = d_t.movedim(0, -1) if bool(low != 0) or bool(high != 0) else None
    return s_t.movedim(0, -1), d
