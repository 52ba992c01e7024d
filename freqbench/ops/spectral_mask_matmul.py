"""The ``matmul`` backend of :func:`~freqbench.ops.spectral_mask.apply_spectral_mask`: the spectral mask
as real matrix products, exact to float rounding for any real mask (:mod:`freqbench.ops.real_dft`).

Two ways, chosen by the mask's shape (the numbers are the same either way, to rounding):

- *operator* (a mask shared by every image, shape (H, W//2+1)): the W-direction real DFT ``u = x Q^T``,
  then for each of the W basis columns j one H x H matrix ``K_j = P^T diag(S[:, j]) P`` (plus
  ``L_j = P^T diag(D[:, j]) swap P`` acting on the partner column when the mask is not symmetric in
  ky), then the inverse ``y = v Q``. Three GEMMs per image (one batched), no elementwise pass:
  2 H^2 W + 4 H W^2 flops, 196 kflop at 32 x 32 against 262 kflop for transform, mask, inverse. The
  (W, H, H) operator is cached by the mask's content.
- *separable* (a shared mask whose basis coefficients are a product ``S = a b^T`` to within 8 units of
  rounding of the compute dtype, e.g. every Gaussian low-pass): ``y = A x B`` with ``A = P^T diag(a) P``
  (H x H) and ``B = Q^T diag(b) Q`` (W x W), two GEMMs with 2 H^2 W + 2 H W^2 flops per image. On a
  quiet 2-thread run of ``bench_spectral_mask.py --quick`` (1024 x 3 x 32 x 32 float32, Gaussian r = 8)
  it took about half the time of the operator way (2.95x faster than ``torch.fft``, 3.25x a copy).
- *elementwise* (per-channel (C, H, W//2+1) or per-sample (B, 1, H, W//2+1) masks): ``Z = P x Q^T``,
  ``Y = S * Z + D * swap(Z)``, ``y = P^T Y Q``.

On the CPU both run over chunks of about 4 MiB of images with buffers reused across chunks, so the
intermediate results stay in cache and fresh pages are not faulted in for every intermediate. The
operator also drops the basis columns where the mask is zero (17 of 32 for an ideal low-pass r = 8 at
32 x 32) and applies a mask whose complement has fewer such columns (a high-pass) as ``x - A_(1-M) x``.

Measured here (``reports/spectral-mask-cpu.md``: Intel Xeon with AVX-512/AMX, 2 vCPUs shared with
other jobs, torch 2.14 with MKL; 1024 x 3 x 32 x 32 float32, best of 5-15 interleaved repetitions;
speed-up over ``torch.fft`` in the same run):

=============================================  ==========  =================
path                                           1 thread    2 threads (load)
=============================================  ==========  =================
operator, Gaussian low-pass r = 8              2.45-2.59x  2.3-3.0x
operator, ideal low-pass r = 8 (17 columns)    3.0-4.2x    1.4-2.9x
elementwise, per-channel / per-sample random   1.1-1.2x    0.6x
dense (HW x HW) operator, one 6.4 GFLOP GEMM   0.5x        0.7x
=============================================  ==========  =================

With one thread ``torch.fft`` costs 10-12x a copy of the tensor and the operator 2.7-4.6x; over the
whole benchmark grid (B 256-4096, C 1 or 3, 28/32/64 pixels) the operator is 1.1-4.7x faster with one
thread. Two-thread timings swing 2-4x between runs on this shared machine (every GEMM call waits for
the busier core). What bounds the operator is arithmetic, not memory: 0.6 GFLOP for the Gaussian mask
in ~11 ms on one core is ~55 GFLOP/s, a third of the core's AVX-512 FMA peak for GEMMs with a 32-long
inner dimension, while it moves the bytes of one copy. The dense operator does 8x the arithmetic and
loses; the elementwise way is barely faster than ``torch.fft``, so ``auto`` leaves per-channel and
per-sample masks to ``torch``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from freqbench.ops.real_dft import basis_layout, mask_in_basis, partner_matrix, real_dft_matrix

#: bytes of images processed per chunk on the CPU (intermediates of this size stay in L2/L3)
CHUNK_BYTES = 4 << 20


@dataclass(frozen=True)
class _Operator:
    """The operator of one shared mask, restricted to the basis columns it acts on.

    Attributes:
        q: (J, W) rows of the W basis for the J active columns (where S or D is nonzero).
        q_t: its transpose, contiguous.
        k_t: (J, H, H) ``K_j^T``.
        l_t: (J, H, H) ``L_j^T``, or None for masks symmetric in ky.
        partner: (J,) position among the active columns of each column's partner (for ``L_j``).
        complement: the operator is that of ``1 - mask`` and the result is ``x - A x``.
    """

    q: torch.Tensor
    q_t: torch.Tensor
    k_t: torch.Tensor
    l_t: torch.Tensor | None
    partner: torch.Tensor | None
    complement: bool


@dataclass(frozen=True)
class _Separable:
    """The operator of a shared mask whose basis coefficients are a product ``S = a b^T``.

    Attributes:
        rows: (H, H) ``A = P^T diag(a) P``, applied along H.
        cols: (W, W) ``B = Q^T diag(b) Q``, applied along W.
    """

    rows: torch.Tensor
    cols: torch.Tensor


class _OperatorCache:
    """The operators of the last few masks, keyed by the masks' content.

    Keying by content (a few kB) rather than by tensor identity means a mask changed in place, even
    through ``.data`` (which does not bump ``_version``), is never served a stale operator.
    """

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[object, ...], _Operator | _Separable] = OrderedDict()

    def get(self, mask: torch.Tensor, width: int, dtype: torch.dtype) -> _Operator | _Separable:
        content = mask.detach().to("cpu", torch.float64).contiguous().numpy().tobytes()
        key = (width, dtype, mask.device, tuple(mask.shape), content)
        op = self._entries.get(key)
        if op is None:
            op = _build_operator(mask.detach(), width, dtype)
            self._entries[key] = op
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        self._entries.move_to_end(key)
        return op


def _active_columns(s: torch.Tensor, d: torch.Tensor | None) -> torch.Tensor:
    used = (s != 0).any(0)
    return used | (d != 0).any(0) if d is not None else used


def _separable(s: torch.Tensor, height: int, width: int, dtype: torch.dtype) -> _Separable | None:
    """``S = a b^T`` to within 8 units of rounding of ``dtype`` (relative to its norm), or None."""
    u, sv, vh = torch.linalg.svd(s)
    if sv[0] == 0 or sv[1:].amax() > 8 * torch.finfo(dtype).eps * sv[0]:
        return None
    a, b = u[:, 0] * sv[0].sqrt(), vh[0] * sv[0].sqrt()
    p = real_dft_matrix(height, torch.float64, s.device)
    q = real_dft_matrix(width, torch.float64, s.device)
    rows = (p.t() * a) @ p
    cols = (q.t() * b) @ q
    return _Separable(rows.to(dtype).contiguous(), cols.to(dtype).contiguous())


def _build_operator(mask: torch.Tensor, width: int, dtype: torch.dtype) -> _Operator | _Separable:
    height = mask.shape[-2]
    m = mask.reshape(height, -1).to(torch.float64)
    s, d = mask_in_basis(m, width)
    s, d = s.contiguous(), (d.contiguous() if d is not None else None)
    if d is None and min(height, width) > 1:
        product = _separable(s, height, width, dtype)
        if product is not None:
            return product
    # A mask acts only through the basis columns where it is nonzero (17 of 32 for an ideal low-pass
    # r = 8 at 32 x 32). A high-pass is better applied as x - A_(1 - M) x, whose columns are few.
    active = _active_columns(s, d)
    complement = bool(_active_columns(1.0 - s, d).sum() < active.sum())
    if complement:
        s, d = 1.0 - s, (-d if d is not None else None)
        active = _active_columns(s, d)
    cols = active.nonzero().flatten()
    p = real_dft_matrix(height, torch.float64, mask.device)
    q = real_dft_matrix(width, dtype, mask.device).index_select(0, cols)
    # K_j[h, k] = sum_i P[i, h] S[i, j] P[i, k]; symmetric, so K_j^T = K_j
    k_t = torch.einsum("ih,ij,ik->jhk", p, s[:, cols], p).to(dtype).contiguous()
    if d is None:
        return _Operator(q, q.t().contiguous(), k_t, None, None, complement)
    swapped = partner_matrix(height, torch.float64, mask.device)
    # L_j[h, k] = sum_i P[i, h] D[i, j] (swap P)[i, k]; bmm needs L_j^T
    l_t = torch.einsum("ik,ij,ih->jhk", p, d[:, cols], swapped).to(dtype).contiguous()
    # active columns come in partner pairs (S and D depend on the frequency, not the kind)
    position = torch.full((width,), -1, dtype=torch.long)
    position[cols.cpu()] = torch.arange(cols.numel())
    partner_of = np.maximum(basis_layout(width).partner, 0)
    partner = position[torch.from_numpy(partner_of)[cols.cpu()]].clamp_min(0).to(mask.device)
    return _Operator(q, q.t().contiguous(), k_t, l_t, partner, complement)


_CACHE = _OperatorCache()


def _chunk(n: int, plane_bytes: int, device: torch.device) -> int:
    if device.type != "cpu":
        return max(n, 1)
    return max(1, min(n, CHUNK_BYTES // plane_bytes))


def _apply_separable(x: torch.Tensor, op: _Separable) -> torch.Tensor:
    b, c, h, w = x.shape
    t = torch.mm(x.reshape(b * c * h, w), op.cols).view(b * c, h, w)
    return torch.matmul(op.rows, t).view(b, c, h, w)


def _apply_operator(x: torch.Tensor, op: _Operator | _Separable) -> torch.Tensor:
    if isinstance(op, _Separable):
        return _apply_separable(x, op)
    b, c, h, w = x.shape
    n, j = b * c, op.q.shape[0]
    flat = x.reshape(n * h, w)
    if j == 0:  # the mask is zero (or, as a complement, one) everywhere
        return (flat.clone() if op.complement else torch.zeros_like(flat)).view(b, c, h, w)
    out = torch.empty_like(flat)
    step = _chunk(n, h * w * x.element_size(), x.device)
    buf_u = torch.empty(j * step * h, dtype=x.dtype, device=x.device)
    buf_v = torch.empty_like(buf_u)
    for start in range(0, n, step):
        m = min(step, n - start)
        rows = slice(start * h, (start + m) * h)
        # u = Q_active x^T, written through its transpose: MKL is faster with the long side first
        u = buf_u[: j * m * h].view(j, m * h)
        torch.mm(flat[rows], op.q_t, out=u.t())
        v = torch.bmm(u.view(j, m, h), op.k_t, out=buf_v[: j * m * h].view(j, m, h))
        if op.l_t is not None and op.partner is not None:
            v.baddbmm_(u.view(j, m, h).index_select(0, op.partner), op.l_t)
        if op.complement:
            torch.addmm(flat[rows], v.view(j, m * h).t(), op.q, beta=1.0, alpha=-1.0, out=out[rows])
        else:
            torch.mm(v.view(j, m * h).t(), op.q, out=out[rows])
    return out.view(b, c, h, w)


def _apply_elementwise(
    x: torch.Tensor, s: torch.Tensor, d: torch.Tensor | None, p: torch.Tensor, q: torch.Tensor
) -> torch.Tensor:
    b, c, h, w = x.shape
    flat = x.reshape(b * c * h, w)
    out = torch.empty_like(flat)
    # the coefficients are kept transposed, (W, B, C, H): every transform is then one plain GEMM
    s_t = s.permute(3, 0, 1, 2).contiguous()
    d_t = d.permute(3, 0, 1, 2).contiguous() if d is not None else None
    cols_p = torch.from_numpy(np.maximum(basis_layout(w).partner, 0)).to(x.device)
    # contiguous transposes: MKL is several times slower with a strided small right operand
    p_t, swap_t = p.t().contiguous(), partner_matrix(h, x.dtype, x.device).t().contiguous()
    q_t = q.t().contiguous()
    step = _chunk(b, c * h * w * x.element_size(), x.device)
    buf_u = torch.empty(w * step * c * h, dtype=x.dtype, device=x.device)
    buf_z = torch.empty_like(buf_u)
    for start in range(0, b, step):
        mb = min(step, b - start)
        rows = slice(start * c * h, (start + mb) * c * h)
        size = w * mb * c * h
        u = buf_u[:size].view(w, mb * c * h)
        torch.mm(flat[rows], q_t, out=u.t())
        z = torch.mm(u.view(-1, h), p_t, out=buf_z[:size].view(-1, h)).view(w, mb, c, h)
        pick = slice(None) if s_t.shape[1] == 1 else slice(start, start + mb)
        if d_t is None:
            coef = z.mul_(s_t[:, pick])
        else:
            # swap(Z)[k, j] = Z[partner k, partner j]: the partner columns of u (whole blocks), then
            # the partner rows of P in the GEMM, instead of a fine-grained gather of the coefficients
            swapped = torch.mm(u.view(w, -1).index_select(0, cols_p).view(-1, h), swap_t).view(w, mb, c, h)
            coef = z.mul_(s_t[:, pick]).addcmul_(swapped, d_t[:, pick])
        v = torch.mm(coef.view(-1, h), p, out=buf_u[:size].view(-1, h))
        torch.mm(v.view(w, mb * c * h).t(), q, out=out[rows])
    return out.view(b, c, h, w)


def apply_matmul(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The masked transform by real matrix products.

    Args:
        x: real images in the compute dtype (float32 or float64), contiguous.
        mask: real, (H, W//2+1), (Cm, H, W//2+1) or (Bm, Cm, H, W//2+1) with Bm in {1, B} and Cm in
            {1, C}, in the compute dtype.

    Shape:
        x (B, C, H, W) -> (B, C, H, W).
    """
    h, w = x.shape[-2:]
    if x.numel() == 0:
        return torch.empty_like(x)
    mask4 = mask.reshape((1,) * (4 - mask.dim()) + tuple(mask.shape))
    if mask4.shape[0] == 1 and mask4.shape[1] == 1:
        return _apply_operator(x, _CACHE.get(mask, w, x.dtype))
    s, d = mask_in_basis(mask4.detach(), w)
    p, q = real_dft_matrix(h, x.dtype, x.device), real_dft_matrix(w, x.dtype, x.device)
    return _apply_elementwise(x, s, d, p, q)
