"""The spectral mask operator on the ``torch`` and ``matmul`` backends against an independent numpy FFT.

The numpy side builds the full-plane mask from the half plane itself (Hermitian extension, symmetric
part on the self-conjugate columns, as documented) and filters with ``np.fft.fft2`` / ``ifft2``; it
shares no code with the package. Gradients are checked by finite differences (``gradcheck``) and
against torch's own autograd through ``torch.fft``. The Triton kernel has its own file
(``test_spectral_mask_triton.py``), since it must run under ``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from freqbench.errors import BackendError, ConfigError, IncompatibleError
from freqbench.ops.masks import apply_rfft_mask, frequency_mask
from freqbench.ops.spectral_mask import (
    apply_spectral_mask,
    auto_backend,
    spectral_mask_backend,
    triton_interpreting,
)

BACKENDS = ("torch", "matmul")
SIZES = ((28, 28), (31, 31), (32, 32), (64, 64), (24, 40))
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def numpy_reference(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``irfft2(rfft2(x) * mask)`` by the full-plane FFT, with the documented mask semantics."""
    h, w = x.shape[-2:]
    wr = w // 2 + 1
    ky = np.arange(h)
    full = np.empty((*mask.shape[:-2], h, w))
    full[..., :wr] = mask
    for col in {0, w // 2} if w % 2 == 0 else {0}:
        full[..., col] = 0.5 * (mask[..., col] + mask[..., (-ky) % h, col])
    kx = np.arange(wr, w)
    # M(-k) = M(k): bin (ky, kx) of the right half is bin (-ky, W - kx) of the half plane
    full[..., wr:] = mask[..., (-ky) % h, :][..., w - kx]
    y = np.fft.ifft2(np.fft.fft2(x) * full)
    assert np.abs(y.imag).max() < 1e-9 * max(1.0, np.abs(y.real).max())
    return y.real


def _mask(kind: str, b: int, c: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    half = (h, w // 2 + 1)
    if kind == "random":
        return rng.random(half)
    if kind == "random-channel":
        return rng.random((c, *half))
    if kind == "random-sample":
        return rng.random((b, 1, *half))
    profile, band = kind.split("-")
    cut = (4.0, 9.0) if band == "band" else (6.0 if band == "low" else 4.0)
    return frequency_mask(band, cut, (h, w), profile=profile, dtype=torch.float64).numpy()


MASK_KINDS = ("ideal-low", "gaussian-high", "butterworth-band", "random", "random-channel", "random-sample")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_matches_numpy(backend, size, kind, dtype) -> None:
    h, w = size
    rng = np.random.default_rng(zlib.crc32(f"{h}x{w}-{kind}".encode()))
    x = rng.random((2, 3, h, w))
    mask = _mask(kind, 2, 3, h, w, rng)
    xt, mt = torch.from_numpy(x).to(dtype), torch.from_numpy(mask).to(dtype)
    got = apply_spectral_mask(xt, mt, backend=backend)
    assert got.dtype == dtype and got.shape == x.shape
    np.testing.assert_allclose(got.double().numpy(), numpy_reference(x, mask), atol=TOL[dtype], rtol=0)


@pytest.mark.parametrize("profile", ["ideal", "gaussian", "butterworth"])
@pytest.mark.parametrize("band,cut", [("low", 8.0), ("high", 8.0), ("band", (4.0, 12.0))])
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_frequency_mask_kind(backend, band, cut, profile) -> None:
    x = np.random.default_rng(3).random((4, 3, 32, 32))
    mask = frequency_mask(band, cut, (32, 32), profile=profile)
    got = apply_spectral_mask(torch.from_numpy(x).float(), mask, backend=backend)
    np.testing.assert_allclose(got.numpy(), numpy_reference(x, mask.double().numpy()), atol=1e-5, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("backend", BACKENDS)
def test_half_precision_is_computed_in_float32(backend, dtype) -> None:
    rng = np.random.default_rng(4)
    x = torch.from_numpy(rng.random((2, 3, 28, 28))).to(dtype)
    mask = rng.random((28, 15))
    got = apply_spectral_mask(x, torch.from_numpy(mask).float(), backend=backend)
    assert got.dtype == dtype
    expected = numpy_reference(x.double().numpy(), mask)
    eps = torch.finfo(dtype).eps
    # one rounding of the result to the half dtype
    np.testing.assert_allclose(got.double().numpy(), expected, rtol=eps, atol=eps)


@pytest.mark.parametrize("size", [(8, 8), (7, 8), (8, 7), (6, 10)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_self_conjugate_columns_act_by_their_symmetric_part(backend, size) -> None:
    """A mask that is not symmetric in ky, also on the self-conjugate columns, gives exactly what
    torch.fft.irfft2 gives with the raw mask (on the CPU) and what the symmetrised mask gives."""
    h, w = size
    g = torch.Generator().manual_seed(5)
    x = torch.rand(3, 2, h, w, generator=g, dtype=torch.float64)
    mask = torch.rand(h, w // 2 + 1, generator=g, dtype=torch.float64)
    raw = torch.fft.irfft2(torch.fft.rfft2(x) * mask, s=(h, w))
    sym = mask.clone()
    for col in [0, w // 2] if w % 2 == 0 else [0]:
        sym[:, col] = 0.5 * (mask[:, col] + mask[(-torch.arange(h)) % h, col])
    assert not torch.equal(sym, mask)
    got = apply_spectral_mask(x, mask, backend=backend)
    torch.testing.assert_close(got, raw, atol=1e-13, rtol=0)
    torch.testing.assert_close(apply_spectral_mask(x, sym, backend=backend), raw, atol=1e-13, rtol=0)
    np.testing.assert_allclose(got.numpy(), numpy_reference(x.numpy(), mask.numpy()), atol=1e-13)


@pytest.mark.parametrize("size", [(6, 8), (7, 5)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_operator_is_self_adjoint_for_asymmetric_masks(backend, size) -> None:
    h, w = size
    mask = torch.rand(h, w // 2 + 1, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    basis = torch.eye(h * w, dtype=torch.float64).view(h * w, 1, h, w)
    a = apply_spectral_mask(basis, mask, backend=backend).view(h * w, h * w)
    torch.testing.assert_close(a, a.T, atol=1e-14, rtol=0)
    expected = numpy_reference(basis.numpy(), mask.numpy()).reshape(h * w, h * w)
    np.testing.assert_allclose(a.numpy(), expected, atol=1e-13)


@pytest.mark.parametrize("mask_shape", ["hw", "chw", "b1hw"])
@pytest.mark.parametrize("size", [(6, 8), (5, 7)])
def test_gradcheck_reference_path(size, mask_shape) -> None:
    h, w = size
    lead = {"hw": (), "chw": (3,), "b1hw": (2, 1)}[mask_shape]
    g = torch.Generator().manual_seed(7)
    x = torch.rand(2, 3, h, w, generator=g, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(*lead, h, w // 2 + 1, generator=g, dtype=torch.float64, requires_grad=True)
    op = lambda a, m: apply_spectral_mask(a, m, backend="torch")  # noqa: E731
    assert torch.autograd.gradcheck(op, (x, mask))
    small_mask = {"hw": mask, "chw": mask[:2], "b1hw": mask[:1]}[mask_shape]
    small = tuple(t.detach().requires_grad_(True) for t in (x[:1, :2], small_mask))
    assert torch.autograd.gradgradcheck(op, small, fast_mode=True)


@pytest.mark.parametrize("mask_shape", ["hw", "chw", "b1hw"])
@pytest.mark.parametrize("size", [(6, 8), (5, 7), (32, 32)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_equal_torch_autograd_through_fft(backend, size, mask_shape) -> None:
    """Independent: torch's own autograd of irfft2(rfft2(x) * mask), raw (asymmetric) mask."""
    h, w = size
    lead = {"hw": (), "chw": (3,), "b1hw": (2, 1)}[mask_shape]
    g = torch.Generator().manual_seed(8)
    x = torch.rand(2, 3, h, w, generator=g, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(*lead, h, w // 2 + 1, generator=g, dtype=torch.float64, requires_grad=True)
    out_grad = torch.randn(2, 3, h, w, generator=g, dtype=torch.float64)
    ref = torch.fft.irfft2(torch.fft.rfft2(x) * mask, s=(h, w))
    ref_gx, ref_gm = torch.autograd.grad(ref, (x, mask), out_grad)
    gx, gm = torch.autograd.grad(apply_spectral_mask(x, mask, backend=backend), (x, mask), out_grad)
    torch.testing.assert_close(gx, ref_gx, atol=1e-12, rtol=0)
    torch.testing.assert_close(gm, ref_gm, atol=1e-12, rtol=0)


def test_matmul_gradients_in_float32_match_the_reference() -> None:
    g = torch.Generator().manual_seed(9)
    x = torch.rand(4, 3, 28, 28, generator=g, requires_grad=True)
    mask = frequency_mask("low", 6, (28, 28), profile="gaussian").clone().requires_grad_(True)
    out_grad = torch.randn(4, 3, 28, 28, generator=g)
    grads = [
        torch.autograd.grad(apply_spectral_mask(x, mask, backend=b), (x, mask), out_grad) for b in BACKENDS
    ]
    torch.testing.assert_close(grads[1][0], grads[0][0], atol=1e-5, rtol=0)
    torch.testing.assert_close(grads[1][1], grads[0][1], atol=1e-4, rtol=1e-5)


def test_matmul_operator_cache_sees_in_place_changes() -> None:
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    mask = torch.ones(8, 5, dtype=torch.float64)
    torch.testing.assert_close(apply_spectral_mask(x, mask, backend="matmul"), x)
    mask.data.zero_()  # .data does not bump _version
    assert apply_spectral_mask(x, mask, backend="matmul").abs().max() < 1e-14
    mask.fill_(0.5)
    torch.testing.assert_close(apply_spectral_mask(x, mask, backend="matmul"), 0.5 * x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batch_and_non_contiguous_input(backend) -> None:
    mask = frequency_mask("low", 4, (16, 16), dtype=torch.float64)
    empty = apply_spectral_mask(torch.zeros(0, 3, 16, 16), mask.float(), backend=backend)
    assert empty.shape == (0, 3, 16, 16)
    x = torch.rand(3, 2, 16, 16, dtype=torch.float64).transpose(2, 3)
    np.testing.assert_allclose(
        apply_spectral_mask(x, mask, backend=backend).numpy(),
        numpy_reference(x.numpy(), mask.numpy()),
        atol=1e-12,
    )


def test_apply_rfft_mask_goes_through_the_operator_for_any_leading_shape() -> None:
    rng = np.random.default_rng(10)
    mask = rng.random((12, 6))
    for shape in [(12, 10), (3, 12, 10), (2, 3, 12, 10), (2, 2, 3, 12, 10)]:
        x = rng.random(shape)
        got = apply_rfft_mask(torch.from_numpy(x), torch.from_numpy(mask))
        assert got.shape == shape
        np.testing.assert_allclose(got.numpy(), numpy_reference(x, mask), atol=1e-12)


def test_auto_rule_and_context() -> None:
    m32 = torch.ones(32, 17)
    x = torch.zeros(2, 3, 32, 32)
    assert auto_backend(x, m32) == "matmul"
    assert auto_backend(torch.zeros(1, 1, 65, 65), torch.ones(65, 33)) == "torch"
    assert auto_backend(x, torch.ones(1, 1, 32, 17)) == "matmul"
    assert auto_backend(x, torch.ones(3, 32, 17)) == "torch"  # per-channel and per-sample: measured no faster
    assert auto_backend(x, torch.ones(2, 1, 32, 17)) == "torch"
    with spectral_mask_backend("torch"):
        assert auto_backend(x, m32) == "torch"
    assert auto_backend(x, m32) == "matmul"
    x = torch.rand(8, 3, 32, 32)
    mask = frequency_mask("band", (4, 12), (32, 32), profile="butterworth")
    with spectral_mask_backend("torch"):
        ref = apply_spectral_mask(x, mask)
    torch.testing.assert_close(apply_spectral_mask(x, mask), ref, atol=1e-5, rtol=0)


# errors ---------------------------------------------------------------------------------------------
def test_complex_and_integer_inputs_are_refused() -> None:
    mask = torch.ones(8, 5)
    with pytest.raises(IncompatibleError, match="complex64.*real floating"):
        apply_spectral_mask(torch.zeros(1, 1, 8, 8, dtype=torch.complex64), mask)
    with pytest.raises(IncompatibleError, match="uint8.*x.float"):
        apply_spectral_mask(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), mask)
    with pytest.raises(IncompatibleError, match="mask has dtype torch.int64"):
        apply_spectral_mask(torch.zeros(1, 1, 8, 8), torch.ones(8, 5, dtype=torch.long))
    with pytest.raises(IncompatibleError, match="mask has dtype torch.complex64"):
        apply_spectral_mask(torch.zeros(1, 1, 8, 8), torch.ones(8, 5, dtype=torch.complex64))
    with pytest.raises(IncompatibleError, match="mask has dtype torch.bool"):
        apply_spectral_mask(torch.zeros(1, 1, 8, 8), torch.ones(8, 5, dtype=torch.bool))


@pytest.mark.parametrize(
    "mask_shape",
    [(8, 4), (8, 8), (7, 5), (3, 8, 5), (2, 2, 8, 5), (1, 3, 2, 8, 5), (5,)],
)
def test_wrong_mask_shape_is_refused(mask_shape) -> None:
    x = torch.zeros(3, 2, 8, 8)
    with pytest.raises(IncompatibleError, match=r"does not fit images \(3, 2, 8, 8\): expected \(8, 5\)"):
        apply_spectral_mask(x, torch.ones(mask_shape))


def test_wrong_image_rank_and_device_are_refused() -> None:
    with pytest.raises(IncompatibleError, match=r"expected \(B, C, H, W\)"):
        apply_spectral_mask(torch.zeros(8, 8), torch.ones(8, 5))
    with pytest.raises(IncompatibleError, match="mask is on meta but x on cpu"):
        apply_spectral_mask(torch.zeros(1, 1, 8, 8), torch.ones(8, 5, device="meta"))


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown spectral-mask backend 'fft'.*'matmul'"):
        apply_spectral_mask(torch.zeros(1, 1, 8, 8), torch.ones(8, 5), backend="fft")
    with pytest.raises(ConfigError, match="unknown spectral-mask backend"), spectral_mask_backend("cufft"):
        pass


@pytest.mark.skipif(triton_interpreting(), reason="under TRITON_INTERPRET=1 the kernel serves CPU tensors")
def test_backends_that_cannot_serve_raise() -> None:
    pytest.importorskip("triton")
    with pytest.raises(BackendError, match="'triton' cannot serve a cpu tensor.*TRITON_INTERPRET"):
        apply_spectral_mask(torch.zeros(1, 1, 32, 32), torch.ones(32, 17), backend="triton")
    with pytest.raises(BackendError, match=r"'triton' cannot serve images 65x64 \(.*H, W <= 64"):
        apply_spectral_mask(torch.zeros(1, 1, 65, 64), torch.ones(65, 33), backend="triton")
    with pytest.raises(BackendError, match="'triton' cannot serve dtype torch.float64"):
        apply_spectral_mask(torch.zeros(1, 1, 8, 8, dtype=torch.float64), torch.ones(8, 5), backend="triton")
    with pytest.raises(BackendError, match=r"'matmul' cannot serve images 8x257.*backend='auto' or 'torch'"):
        apply_spectral_mask(torch.zeros(1, 1, 8, 257), torch.ones(8, 129), backend="matmul")
    with spectral_mask_backend("triton"), pytest.raises(BackendError, match="'triton' cannot serve"):
        apply_spectral_mask(torch.zeros(1, 1, 8, 8), torch.ones(8, 5))


@pytest.mark.parametrize("size", [(32, 32), (28, 28), (31, 31), (24, 40)])
def test_matmul_takes_the_separable_way_exactly_for_product_masks(size) -> None:
    from freqbench.ops import spectral_mask_matmul as mm

    h, w = size
    gauss = frequency_mask("low", 5, (h, w), profile="gaussian", dtype=torch.float64)
    ideal = frequency_mask("low", 5, (h, w), dtype=torch.float64)
    assert isinstance(mm._build_operator(gauss, w, torch.float64), mm._Separable)
    assert not isinstance(mm._build_operator(ideal, w, torch.float64), mm._Separable)
    x = np.random.default_rng(1).random((2, 3, h, w))
    got = apply_spectral_mask(torch.from_numpy(x), gauss, backend="matmul").numpy()
    np.testing.assert_allclose(got, numpy_reference(x, gauss.numpy()), atol=1e-12, rtol=0)
