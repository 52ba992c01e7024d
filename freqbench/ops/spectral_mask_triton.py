"""The ``triton`` backend of :func:`~freqbench.ops.spectral_mask.apply_spectral_mask`: one fused kernel.

Each program takes a tile of ``IMGS`` images (planes of (B, C, H, W), one after the other) and, for each,
loads it once, computes its real DFT coefficients ``Z = P x Q^T`` with two ``tl.dot``, applies the mask
``Y = S * Z (+ D * swap(Z))`` (:mod:`freqbench.ops.real_dft`; ``swap(Z) = P' x Q'^T`` with the partner
matrices, two more dots, only for masks that are not symmetric in ky), transforms back ``y = P^T Y Q``
and stores it once: one read and one write of global memory per image, the physical floor. The basis
matrices (and a shared mask) are loaded once per program and stay on chip.

Sizes: H, W <= 64, odd or even, square or not. ``tl.dot`` needs dimensions >= 16 and powers of two, so
the tiles are padded to ``max(16, next_power_of_2(n))`` with zero basis rows and columns and masked
loads and stores: the padding contributes exact zeros.

Precision: images are loaded in their dtype (float32, float16 or bfloat16) and converted to float32;
every product accumulates in float32 and the result is rounded to the input dtype once at the store,
as the ``torch`` backend does. On the GPU the float32 dots use ``input_precision="tf32x3"`` (three TF32
tensor-core products, float32-level accuracy, checked to 1e-5 by the ``gpu`` tests); plain ``"tf32"``
would cost about 1e-3 and is not used. Under ``TRITON_INTERPRET=1`` the kernel runs in Triton's numpy
interpreter (``np.matmul`` in float32), which is how CI tests it without a GPU.

On CUDA the tile size and warp count are autotuned per (size, mask kind, batch bucket); in the
interpreter one fixed configuration runs. What the GPU timings are remains to be measured
(``python benchmarks/bench_spectral_mask.py --device cuda``).
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

from freqbench.ops.real_dft import mask_in_basis, partner_matrix, real_dft_matrix

#: whether the kernel below was defined under TRITON_INTERPRET=1 (Triton reads it at decoration)
INTERPRETED: bool = bool(triton.knobs.runtime.interpret)
DOT_PRECISION = "ieee" if INTERPRETED else "tf32x3"


@triton.jit
def _spectral_mask_kernel(
    x_ptr,
    y_ptr,
    p_ptr,
    q_ptr,
    pp_ptr,
    qp_ptr,
    s_ptr,
    d_ptr,
    n_img,
    n_chan,
    s_stride_b,
    s_stride_c,
    n_bucket,
    H: tl.constexpr,
    W: tl.constexpr,
    HP: tl.constexpr,
    WP: tl.constexpr,
    HAS_D: tl.constexpr,
    SHARED: tl.constexpr,
    PRECISION: tl.constexpr,
    IMGS: tl.constexpr,
):
    pid = tl.program_id(0)
    rh = tl.arange(0, HP)
    rw = tl.arange(0, WP)
    p = tl.load(p_ptr + rh[:, None] * HP + rh[None, :])
    p_t = tl.load(p_ptr + rh[None, :] * HP + rh[:, None])
    q = tl.load(q_ptr + rw[:, None] * WP + rw[None, :])
    q_t = tl.load(q_ptr + rw[None, :] * WP + rw[:, None])
    inside = (rh[:, None] < H) & (rw[None, :] < W)
    offs = rh[:, None] * W + rw[None, :]
    if HAS_D:
        pp = tl.load(pp_ptr + rh[:, None] * HP + rh[None, :])
        qp_t = tl.load(qp_ptr + rw[None, :] * WP + rw[:, None])
    if SHARED:
        s = tl.load(s_ptr + offs, mask=inside, other=0.0)
        if HAS_D:
            d = tl.load(d_ptr + offs, mask=inside, other=0.0)
    for i in range(IMGS):
        img = (pid * IMGS + i).to(tl.int64)
        ok = inside & (img < n_img)
        x = tl.load(x_ptr + img * (H * W) + offs, mask=ok, other=0.0).to(tl.float32)
        z = tl.dot(tl.dot(p, x, input_precision=PRECISION), q_t, input_precision=PRECISION)
        if not SHARED:
            moff = (img // n_chan) * s_stride_b + (img % n_chan) * s_stride_c
            s = tl.load(s_ptr + moff + offs, mask=ok, other=0.0)
            if HAS_D:
                d = tl.load(d_ptr + moff + offs, mask=ok, other=0.0)
        coef = s * z
        if HAS_D:
            swapped = tl.dot(tl.dot(pp, x, input_precision=PRECISION), qp_t, input_precision=PRECISION)
            coef += d * swapped
        y = tl.dot(tl.dot(p_t, coef, input_precision=PRECISION), q, input_precision=PRECISION)
        tl.store(y_ptr + img * (H * W) + offs, y.to(y_ptr.dtype.element_ty), mask=ok)


if INTERPRETED:
    _IMGS_INTERPRETED = 2
    _launch = _spectral_mask_kernel
else:
    _launch = triton.autotune(
        configs=[
            triton.Config({"IMGS": imgs}, num_warps=warps, num_stages=1)
            for imgs in (1, 2, 4, 8)
            for warps in (2, 4, 8)
        ],
        key=["n_bucket", "H", "W", "HAS_D", "SHARED"],
    )(_spectral_mask_kernel)


def _padded(n: int) -> int:
    return max(16, triton.next_power_of_2(n))


@functools.lru_cache(maxsize=64)
def _matrices(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The basis and partner matrices of length n, zero-padded to the tile size, float32."""
    size = _padded(n)
    out = []
    for build in (real_dft_matrix, partner_matrix):
        m = torch.zeros(size, size, dtype=torch.float32, device=device)
        m[:n, :n] = build(n, torch.float32, device)
        out.append(m)
    return out[0], out[1]


def apply_triton(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The masked transform in one kernel launch.

    Args:
        x: contiguous real images, float32/float16/bfloat16, H, W <= 64.
        mask: float32 half-plane mask broadcastable as in ``apply_spectral_mask``.

    Shape:
        x (B, C, H, W) -> (B, C, H, W).
    """
    b, c, h, w = x.shape
    y = torch.empty_like(x)
    n = b * c
    if n == 0:
        return y
    mask4 = mask.reshape((1,) * (4 - mask.dim()) + tuple(mask.shape))
    s, d = mask_in_basis(mask4.detach().to(torch.float32), w)
    s = s.contiguous()
    d = d.contiguous() if d is not None else None
    bm, cm = s.shape[:2]
    p, pp = _matrices(h, x.device)
    q, qp = _matrices(w, x.device)
    args = (x, y, p, q, pp, qp, s, d if d is not None else s)
    runtime = (n, c, cm * h * w if bm > 1 else 0, h * w if cm > 1 else 0, triton.next_power_of_2(n))
    consts = dict(
        H=h,
        W=w,
        HP=_padded(h),
        WP=_padded(w),
        HAS_D=d is not None,
        SHARED=bm == 1 and cm == 1,
        PRECISION=DOT_PRECISION,
    )
    if INTERPRETED:
        grid = (triton.cdiv(n, _IMGS_INTERPRETED),)
        _launch[grid](*args, *runtime, **consts, IMGS=_IMGS_INTERPRETED)
    else:
        _launch[lambda meta: (triton.cdiv(n, meta["IMGS"]),)](*args, *runtime, **consts)
    return y
